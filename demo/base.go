package demo

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"unicode"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/tokenizer"
)

// specialTokens open the vocabulary; [PAD] is id 0, as in BERT's
// pad_token_id.
var specialTokens = []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}

// characters are in the vocabulary alone and as "##" continuations, so any
// lower-case ASCII word can be spelled even if it was never seen.
const characters = "abcdefghijklmnopqrstuvwxyz0123456789.,:;!?'-\"()"

// words splits lower-case text as BERT's pre-tokenizer does for ASCII:
// runs of letters and digits, and each punctuation mark on its own.
func words(text string) []string {
	var out []string
	start := -1
	for i, r := range text {
		word := unicode.IsLetter(r) || unicode.IsDigit(r)
		if start >= 0 && !word {
			out = append(out, text[start:i])
			start = -1
		}
		switch {
		case word && start < 0:
			start = i
		case !word && !unicode.IsSpace(r):
			out = append(out, string(r))
		}
	}
	if start >= 0 {
		out = append(out, text[start:])
	}
	return out
}

// BuildVocab returns a WordPiece vocabulary for texts: the special tokens,
// the single characters and their "##" continuations, then every word of
// texts, most frequent first (ties alphabetically).
func BuildVocab(texts []string) []string {
	vocab := append([]string(nil), specialTokens...)
	seen := map[string]bool{}
	for _, t := range vocab {
		seen[t] = true
	}
	for _, c := range characters {
		vocab = append(vocab, string(c))
		seen[string(c)] = true
	}
	for _, c := range characters {
		vocab = append(vocab, "##"+string(c))
	}
	count := map[string]int{}
	for _, t := range texts {
		for _, w := range words(t) {
			if !seen[w] {
				count[w]++
			}
		}
	}
	ws := make([]string, 0, len(count))
	for w := range count {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool {
		if count[ws[i]] != count[ws[j]] {
			return count[ws[i]] > count[ws[j]]
		}
		return ws[i] < ws[j]
	})
	return append(vocab, ws...)
}

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
	ts, err := p.Tensors(nil, nil)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return tok.WriteVocab(dir)
}
