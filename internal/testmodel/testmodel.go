// Package testmodel builds tiny, seeded BERT checkpoints and small labelled
// data sets for gotune's tests: a Hugging Face model folder (config.json,
// model.safetensors, vocab.txt, tokenizer.json, tokenizer_config.json,
// special_tokens_map.json) small enough that a training step takes
// milliseconds on the pure-Go backend, and JSON Lines data whose label is
// decided by which sentiment words a sentence holds, so a few epochs learn
// it. WriteDecoder builds a tiny random LLaMA with a byte-level tokenizer
// for the causal-LM tests.
package testmodel

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/tokenizer"
)

// Options shape the tiny model; zero fields take the defaults in Default.
type Options struct {
	Hidden, Layers, Heads, Intermediate, MaxPositions int
	// Dropout is the hidden and attention dropout (config.json); a negative
	// value means 0.
	Dropout float64
	// Labels, when not nil, adds a classification head and id2label;
	// without it the folder is a bare BertModel (encoder and pooler), as a
	// pretrained checkpoint that fine-tuning gives a new head.
	Labels []string
	// Seed seeds the random weights.
	Seed uint64
	// NoPooler leaves the pooler out of the checkpoint, as a masked-LM
	// checkpoint (BertForMaskedLM) has none: loading it for classification
	// initialises a new pooler.
	NoPooler bool
	// InitRange is the weights' standard deviation (initializer_range;
	// default 0.02, BERT's). A larger one (0.2) gives the random encoder
	// features that vary with the input, as a pretrained one's do, for
	// methods that train on a frozen encoder.
	InitRange float64
}

// Default is the model most tests use: hidden 16, 2 layers, 2 heads,
// intermediate 32, 32 positions, dropout 0.1 (BERT's default).
func Default() Options {
	return Options{Hidden: 16, Layers: 2, Heads: 2, Intermediate: 32, MaxPositions: 32, Dropout: 0.1, Seed: 1}
}

// Positive and Negative are the words that decide a sentence's label in
// Examples; Filler words carry no signal.
var (
	Positive = []string{"good", "great", "happy", "lovely", "excellent", "bright", "warm", "kind", "fun", "nice"}
	Negative = []string{"bad", "awful", "sad", "ugly", "terrible", "dark", "cold", "cruel", "dull", "nasty"}
)

// Filler returns the neutral words of the vocabulary.
func Filler() []string {
	syll := []string{"ka", "lo", "mi", "nu", "pe", "ro", "su", "ti", "va", "ze", "bo", "di", "fa", "gu"}
	var out []string
	for _, a := range syll {
		for _, b := range syll {
			out = append(out, a+b)
		}
	}
	return out // 196 words
}

// Vocab returns the vocabulary: the five BERT special tokens ([PAD] first,
// id 0), the sentiment words, the filler words and "." — 222 tokens.
func Vocab() []string {
	v := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."}
	v = append(v, Positive...)
	v = append(v, Negative...)
	return append(v, Filler()...)
}

// Write writes the model folder into dir (created if needed).
func Write(dir string, o Options) error {
	d := Default()
	if o.Hidden == 0 {
		o.Hidden = d.Hidden
	}
	if o.Layers == 0 {
		o.Layers = d.Layers
	}
	if o.Heads == 0 {
		o.Heads = d.Heads
	}
	if o.Intermediate == 0 {
		o.Intermediate = d.Intermediate
	}
	if o.MaxPositions == 0 {
		o.MaxPositions = d.MaxPositions
	}
	if o.Dropout < 0 {
		o.Dropout = 0
	}
	if o.InitRange == 0 {
		o.InitRange = 0.02
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	vocab := Vocab()
	raw := map[string]any{
		"architectures":                []string{"BertModel"},
		"model_type":                   "bert",
		"vocab_size":                   len(vocab),
		"hidden_size":                  o.Hidden,
		"num_hidden_layers":            o.Layers,
		"num_attention_heads":          o.Heads,
		"intermediate_size":            o.Intermediate,
		"hidden_act":                   "gelu",
		"hidden_dropout_prob":          o.Dropout,
		"attention_probs_dropout_prob": o.Dropout,
		"max_position_embeddings":      o.MaxPositions,
		"type_vocab_size":              2,
		"initializer_range":            o.InitRange,
		"layer_norm_eps":               1e-12,
		"pad_token_id":                 0,
		"position_embedding_type":      "absolute",
	}
	head := bert.HeadNone
	if o.Labels != nil {
		head = bert.HeadSeqCls
		raw["architectures"] = []string{"BertForSequenceClassification"}
		id2, l2 := map[string]string{}, map[string]int{}
		for i, l := range o.Labels {
			id2[fmt.Sprint(i)], l2[l] = l, i
		}
		raw["id2label"], raw["label2id"] = id2, l2
	}
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		return err
	}
	cfg, err := bert.ParseConfig(b, "config.json")
	if err != nil {
		return err
	}
	shapes := bert.ParamShapes(cfg, head, len(o.Labels))
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		if o.NoPooler && strings.Contains(n, "pooler.") {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(o.Seed, 7))
	ts := make([]*safetensors.Tensor, 0, len(names))
	for _, n := range names {
		ts = append(ts, &safetensors.Tensor{Name: n, Shape: shapes[n], DType: safetensors.F32, F32: bert.InitValue(cfg, n, shapes[n], rng)})
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return tokenizer.NewWordPiece(vocab, true).WriteVocab(dir)
}

// New writes a model with options o into a new temporary folder of t and
// returns its path.
func New(t testing.TB, o Options) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-bert")
	if err := Write(dir, o); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Example is one labelled sentence.
type Example struct {
	ID    int    `json:"id"`
	Text  string `json:"text"`
	Label string `json:"label"`
}

// Examples returns n seeded sentences of 3 to 8 words: "pos" ones hold a
// positive word, "neg" ones a negative word, amid filler words; labels
// alternate so both classes are balanced.
func Examples(n int, seed uint64) []Example {
	rng := rand.New(rand.NewPCG(seed, 11))
	fill := Filler()
	out := make([]Example, n)
	for i := range out {
		words := make([]string, 2+rng.IntN(6))
		for j := range words {
			words[j] = fill[rng.IntN(len(fill))]
		}
		label, pool := "pos", Positive
		if i%2 == 1 {
			label, pool = "neg", Negative
		}
		words[rng.IntN(len(words))] = pool[rng.IntN(len(pool))]
		out[i] = Example{ID: i, Text: strings.Join(words, " ") + " .", Label: label}
	}
	return out
}

// WriteJSONL writes records, one JSON object per line, to path.
func WriteJSONL(path string, records any) error {
	b, err := json.Marshal(records)
	if err != nil {
		return err
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	var sb strings.Builder
	for _, r := range list {
		sb.Write(r)
		sb.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// Data writes nTrain and nEval examples (different seeds) as train.jsonl
// and eval.jsonl into a new temporary folder and returns their paths.
func Data(t testing.TB, nTrain, nEval int) (train, eval string) {
	t.Helper()
	dir := t.TempDir()
	train, eval = filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "eval.jsonl")
	if err := WriteJSONL(train, Examples(nTrain, 1)); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSONL(eval, Examples(nEval, 2)); err != nil {
		t.Fatal(err)
	}
	return train, eval
}
