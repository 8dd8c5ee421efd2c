package pretrain

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/tokenizer"
)

// ModelSize is the shape of the demo's BERT.
type ModelSize struct {
	// Layers is the number of encoder layers (num_hidden_layers).
	Layers int
	// Hidden is the hidden size; Heads the number of attention heads
	// (Hidden must be a multiple of Heads).
	Hidden, Heads int
	// Intermediate is the feed-forward size (intermediate_size).
	Intermediate int
	// MaxPositions is max_position_embeddings, the longest input in tokens.
	MaxPositions int
}

// NewConfig returns a BERT config (model_type "bert", GELU, dropout 0.1,
// initializer range 0.02, as bert-base) of the given size and vocabulary.
func NewConfig(s ModelSize, vocabSize int) *bert.Config {
	c := &bert.Config{
		ModelType: "bert", VocabSize: vocabSize, HiddenSize: s.Hidden, NumHiddenLayers: s.Layers,
		NumAttentionHeads: s.Heads, IntermediateSize: s.Intermediate, HiddenAct: "gelu",
		HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, MaxPositionEmbeddings: s.MaxPositions,
		TypeVocabSize: 2, LayerNormEps: 1e-12, InitializerRange: 0.02, PadTokenID: 0,
		PositionEmbeddingType: "absolute",
		Raw:                   map[string]any{"transformers_version": "4.46.0", "use_cache": true},
	}
	c.SetLabels([]string{"LABEL_0", "LABEL_1"})
	return c
}

// NewMLMParams returns freshly initialised weights (Hugging Face's init,
// from seed) of a BertForMaskedLM: the encoder (bert.*) and the masked-LM
// head (cls.predictions.*), whose decoder shares the word embeddings.
func NewMLMParams(cfg *bert.Config, seed uint64) (*nn.Params, error) {
	shapes := bert.ParamShapes(cfg, bert.HeadMLM, 0)
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(seed, 0xb3e7))
	p := nn.NewParams()
	for _, n := range names {
		if err := p.Set(n, shapes[n], bert.InitValue(cfg, n, shapes[n], rng)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// SaveMLM writes a Hugging Face BertForMaskedLM folder into dir (created if
// needed): config.json, model.safetensors with every weight of p, and the
// tokenizer files. classify.Load (and so gotune train) reads it as a base
// model, dropping the MLM head and adding a new classifier.
func SaveMLM(dir string, cfg *bert.Config, p *nn.Params, tok *tokenizer.Tokenizer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	c := *cfg
	c.Raw = map[string]any{}
	for k, v := range cfg.Raw {
		c.Raw[k] = v
	}
	c.Raw["architectures"] = []string{"BertForMaskedLM"}
	c.Raw["torch_dtype"] = "float32"
	b, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("saving %s: %w", filepath.Join(dir, "config.json"), err)
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(dir, "config.json"), b); err != nil {
		return err
	}
	ts, err := p.Tensors(p.Names(), nil)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return tok.WriteVocab(dir)
}
