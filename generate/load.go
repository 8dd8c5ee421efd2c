package generate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/models/gguf"
	"github.com/gotune/gotune/models/gpt2"
	"github.com/gotune/gotune/models/llama"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/tokenizer/bpe"
	"github.com/gotune/gotune/tokenizer/spm"
)

// Tokenizer is what generation needs of a tokenizer (bpe.Tokenizer and
// spm.Tokenizer implement it).
type Tokenizer interface {
	Encode(text string) []int
	Decode(ids []int) string
}

// Loaded is a causal LM ready to generate.
type Loaded struct {
	Model  Model
	Params *nn.Params
	// Tokenizer is nil when the folder has none (prompts must then be ids).
	Tokenizer Tokenizer
	// BOS is prepended to encoded prompts when AddBOS is set.
	BOS    int
	AddBOS bool
	// EOS are the stop tokens; Pad pads batches.
	EOS []int
	Pad int
}

// Load opens a Hugging Face folder (config.json model_type llama, mistral,
// qwen2 or gpt2; model.safetensors; tokenizer.json, tokenizer.model or
// vocab.json+merges.txt when present) or a LLaMA-architecture .gguf file.
func Load(path string) (*Loaded, error) {
	if strings.HasSuffix(strings.ToLower(path), ".gguf") {
		m, err := gguf.Load(path)
		if err != nil {
			return nil, err
		}
		l := &Loaded{Model: llama.LM{Config: m.Config}, Params: m.Params, AddBOS: m.AddBOS, BOS: 1, EOS: m.Config.EOSTokenIDs()}
		if m.Tokenizer != nil {
			l.Tokenizer, l.BOS = m.Tokenizer, m.Tokenizer.BOS
		}
		return l, nil
	}
	raw, err := os.ReadFile(filepath.Join(path, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("%s: not a model folder or .gguf file: %w", path, err)
	}
	var head struct {
		ModelType string `json:"model_type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(path, "config.json"), err)
	}
	l := &Loaded{}
	cfgPath := filepath.Join(path, "config.json")
	switch head.ModelType {
	case "llama", "mistral", "qwen2":
		cfg, err := llama.ParseConfig(raw, cfgPath)
		if err != nil {
			return nil, err
		}
		l.Model, l.EOS = llama.LM{Config: cfg}, cfg.EOSTokenIDs()
		if cfg.BOSTokenID != nil {
			l.BOS, l.AddBOS = *cfg.BOSTokenID, true
		}
		if cfg.PadTokenID != nil {
			l.Pad = *cfg.PadTokenID
		}
	case "gpt2":
		cfg, err := gpt2.ParseConfig(raw, cfgPath)
		if err != nil {
			return nil, err
		}
		l.Model, l.EOS, l.BOS, l.Pad = gpt2.LM{Config: cfg}, []int{cfg.EOSTokenID}, cfg.BOSTokenID, cfg.EOSTokenID
	default:
		return nil, fmt.Errorf("%s: model_type %q cannot generate (supported: llama, mistral, qwen2, gpt2)", cfgPath, head.ModelType)
	}
	ws, err := checkpoint.ReadWeights(path) // model.safetensors, its shards, or pytorch_model.bin
	if err != nil {
		return nil, err
	}
	l.Params = nn.NewParams()
	for _, t := range ws {
		if err := l.Params.Set(t.Name, t.Shape, t.F32); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	switch {
	case exists(path, "tokenizer.json") && head.ModelType == "gpt2":
		l.Tokenizer, err = bpe.LoadTokenizerJSON(filepath.Join(path, "tokenizer.json"))
	case exists(path, "tokenizer.model"):
		var t *spm.Tokenizer
		if t, err = spm.LoadModelFile(filepath.Join(path, "tokenizer.model")); err == nil {
			l.Tokenizer = t
		}
	case exists(path, "vocab.json") && exists(path, "merges.txt"):
		l.Tokenizer, err = bpe.Load(filepath.Join(path, "vocab.json"), filepath.Join(path, "merges.txt"))
	case exists(path, "tokenizer.json"):
		l.Tokenizer, err = bpe.LoadTokenizerJSON(filepath.Join(path, "tokenizer.json"))
	}
	if err != nil {
		return nil, err
	}
	if l.Model != nil && head.ModelType == "gpt2" {
		l.AddBOS = false // GPT-2 prompts do not start with a BOS token
	}
	return l, nil
}

func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// EncodePrompt returns the prompt's ids, with BOS in front when the model
// wants it.
func (l *Loaded) EncodePrompt(text string) ([]int, error) {
	if l.Tokenizer == nil {
		return nil, fmt.Errorf("the model has no tokenizer (tokenizer.json, tokenizer.model or vocab.json+merges.txt); give input_ids instead")
	}
	ids := l.Tokenizer.Encode(text)
	if l.AddBOS {
		ids = append([]int{l.BOS}, ids...)
	}
	return ids, nil
}

// Continuation returns the text the new tokens add after the prompt ids
// (decoding them alone would drop a leading space a tokenizer treats as
// the start of text).
func (l *Loaded) Continuation(prompt, newIDs []int) string {
	if l.Tokenizer == nil {
		return ""
	}
	full := l.Tokenizer.Decode(append(append([]int(nil), prompt...), newIDs...))
	if head := l.Tokenizer.Decode(prompt); strings.HasPrefix(full, head) {
		return full[len(head):]
	}
	return l.Tokenizer.Decode(newIDs)
}
