package testmodel

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gotune/gotune/models/llama"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/tokenizer/spm"
)

// DecoderPieces returns the vocabulary of the tiny decoder's byte-level
// SentencePiece tokenizer: <unk>, <s> (BOS, id 1), </s> (EOS, id 2), "▁",
// then one <0xXX> piece per byte — 260 pieces.
func DecoderPieces() (pieces []string, types []int32) {
	pieces = []string{"<unk>", "<s>", "</s>", "▁"}
	types = []int32{spm.Unknown, spm.Control, spm.Control, spm.Normal}
	for b := 0; b < 256; b++ {
		pieces = append(pieces, fmt.Sprintf("<0x%02X>", b))
		types = append(types, spm.Byte)
	}
	return pieces, types
}

// WriteDecoder writes a randomly initialised LLaMA (LlamaForCausalLM: 2
// layers, hidden 32, 4 heads over 2 key/value heads, 128 positions) with
// the byte-level tokenizer of DecoderPieces (tokenizer.model) into dir
// (created if needed); seed seeds the weights. initializer_range 0.2 lets a
// frozen lm_head still give peaked distributions, so parameter-efficient
// methods can learn a mapping.
func WriteDecoder(dir string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pieces, types := DecoderPieces()
	tok, err := spm.New(pieces, make([]float32, len(pieces)), types, 1, 2, 0)
	if err != nil {
		return fmt.Errorf("tiny decoder tokenizer: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), tok.MarshalModel(), 0o644); err != nil {
		return err
	}
	one := 1
	cfg := &llama.Config{ModelType: "llama", VocabSize: len(pieces), HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HiddenAct: "silu", MaxPositionEmbeddings: 128, RMSNormEps: 1e-5,
		RopeTheta: 10000, InitializerRange: 0.2, BOSTokenID: &one, EOSTokenID: json.RawMessage("2"),
		Raw: map[string]any{"architectures": []string{"LlamaForCausalLM"}}}
	b, err := cfg.Marshal()
	if err != nil {
		return fmt.Errorf("tiny decoder config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		return err
	}
	shapes := llama.ParamShapes(cfg, llama.HeadCausalLM, 0)
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(seed, 2))
	ts := make([]*safetensors.Tensor, 0, len(names))
	for _, n := range names {
		ts = append(ts, &safetensors.Tensor{Name: n, Shape: shapes[n], DType: safetensors.F32, F32: llama.InitValue(cfg, n, shapes[n], rng)})
	}
	return safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"})
}

// NewDecoder writes the tiny decoder of WriteDecoder (seed 1) into a new
// temporary folder of t and returns its path.
func NewDecoder(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-llama")
	if err := WriteDecoder(dir, 1); err != nil {
		t.Fatal(err)
	}
	return dir
}
