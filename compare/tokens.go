package compare

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/instruct"
	"github.com/gotune/gotune/methods"
	"github.com/gotune/gotune/tokenizer"
)

// tokenCounter computes, once, the mean number of non-pad tokens of a
// training example as gotune encodes it (special tokens included, after
// truncation to the run's effective max_len). Classification examples are
// the encoder's [CLS] text [SEP] (pair) sequences; causal-LM examples are
// instruction records rendered by the run's template, with BOS and EOS,
// prompt and response tokens both counted (the model reads both), packed
// when the run packs. Augmented runs are counted with the mean of the
// original data.
type tokenCounter struct {
	cfg  gotune.Config
	done bool
	avg  float64
	err  error
}

func newTokenCounter(cfg gotune.Config) *tokenCounter { return &tokenCounter{cfg: cfg} }

// counterKey is what a training example's token count depends on: runs
// with equal keys share one tokenCounter.
func counterKey(c gotune.Config) string {
	return strings.Join([]string{c.Model, c.Train, c.Task, fmt.Sprint(c.MaxLen, c.TextField, c.TextPairField, c.LabelField,
		c.Template, c.TrainOnPrompt, c.Packing, reservedPositions(c))}, "\x00")
}

// reservedPositions are the position ids the run's method takes (virtual
// tokens), which the input then cannot use.
func reservedPositions(c gotune.Config) int {
	return methods.ReservedPositions(c.Method, methods.Options{PTuning: c.PTuning})
}

func (t *tokenCounter) average() (float64, error) {
	if !t.done {
		t.done = true
		if t.cfg.Task == gotune.TaskCausalLM {
			t.avg, t.err = countCausalLM(t.cfg)
			debug.FreeOSMemory() // the decoder's weights, loaded for its tokenizer
		} else {
			t.avg, t.err = countClassify(t.cfg)
		}
	}
	return t.avg, t.err
}

// countClassify is the mean length of an encoder classification example.
func countClassify(c gotune.Config) (float64, error) {
	dir, err := checkpoint.Resolve(c.Model)
	if err != nil {
		return 0, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return 0, err
	}
	maxLen := c.MaxLen
	var mc struct {
		MaxPositions int `json:"max_position_embeddings"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil && json.Unmarshal(b, &mc) == nil && mc.MaxPositions > 0 {
		maxLen = max(min(maxLen, mc.MaxPositions-reservedPositions(c)), 1)
	}
	ex, err := data.ReadFile(c.Train, data.Options{TextField: c.TextField, TextPairField: c.TextPairField, LabelField: c.LabelField}, false)
	if err != nil {
		return 0, err
	}
	if len(ex) == 0 {
		return 0, fmt.Errorf("%s: no examples", c.Train)
	}
	var sum int
	for _, e := range ex {
		if e.InputIDs != nil {
			sum += min(len(e.InputIDs), maxLen)
		} else {
			sum += len(e.Tokens(tok, maxLen).IDs)
		}
	}
	return float64(sum) / float64(len(ex)), nil
}

// countCausalLM is the mean length of a causal-LM training example as
// gotune train encodes it: package instruct renders and tokenizes each
// record of the training file (template, BOS, EOS after each response),
// truncates it to the effective max_len (the model's positions less the
// method's virtual tokens), drops the examples left without a response
// token, and packs them when the run packs; the mean is over what remains,
// the examples eval.json's train_examples counts. The decoder is loaded
// whole (its tokenizer comes with its weights).
func countCausalLM(c gotune.Config) (float64, error) {
	path := c.Model
	if !strings.HasSuffix(strings.ToLower(path), ".gguf") {
		var err error
		if path, err = checkpoint.Resolve(path); err != nil {
			return 0, err
		}
	}
	m, err := causallm.Load(path, causallm.CausalLM, nil, 0)
	if err != nil {
		return 0, fmt.Errorf("loading the decoder's tokenizer: %w", err)
	}
	maxLen := max(min(c.MaxLen, m.MaxPositions()-reservedPositions(c)), 1)
	recs, err := instruct.ReadFile(c.Train, c.TextField)
	if err != nil {
		return 0, err
	}
	ex, _, err := instruct.Encode(recs, m.InstructTokenizer(), instruct.Options{Template: c.Template, TrainOnPrompt: c.TrainOnPrompt, MaxLen: maxLen})
	if err != nil {
		return 0, err
	}
	if c.Packing {
		ex = instruct.Pack(ex, maxLen)
	}
	if len(ex) == 0 {
		return 0, fmt.Errorf("%s: no example has a response token within max_len %d", c.Train, maxLen)
	}
	var sum int
	for _, e := range ex {
		sum += len(e.IDs)
	}
	return float64(sum) / float64(len(ex)), nil
}
