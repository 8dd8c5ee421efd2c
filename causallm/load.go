package causallm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

	"github.com/gotune/gotune/generate"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/nn"
)

// IsAdapter reports whether dir is a PEFT adapter folder (LoRA, prefix or
// prompt tuning).
func IsAdapter(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, lora.ConfigFile))
	return err == nil
}

// LoadTrained loads a decoder for a task with an optional PEFT adapter:
// model is a model folder, a .gguf file or an adapter folder (then the
// base is its base_model_name_or_path); adapter, when not "", is a LoRA,
// prefix-tuning or prompt-tuning adapter folder on model (model "" = the
// adapter's base). warn, when not nil, receives warnings.
func LoadTrained(model, adapter string, task Task, warn func(string)) (*Model, error) {
	if adapter == "" && model != "" && IsAdapter(model) {
		model, adapter = "", model
	}
	if adapter == "" {
		return Load(model, task, nil, 0)
	}
	base := model
	kind := ptuning.AdapterKind(adapter)
	if base == "" {
		var recorded string
		if kind != "" {
			l, err := ptuning.ReadAdapter(adapter)
			if err != nil {
				return nil, err
			}
			recorded = l.BaseModel
		} else {
			l, err := lora.ReadAdapter(adapter)
			if err != nil {
				return nil, err
			}
			recorded = l.BaseModel
		}
		var err error
		if base, err = resolveBase(adapter, recorded); err != nil {
			return nil, err
		}
	}
	m, err := Load(base, task, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("loading the base model of %s: %w", adapter, err)
	}
	if kind != "" {
		l, err := ptuning.ReadAdapter(adapter)
		if err != nil {
			return nil, err
		}
		if err := ptuning.Attach(m, l); err != nil {
			return nil, err
		}
		return m, nil
	}
	l, err := lora.ReadAdapter(adapter)
	if err != nil {
		return nil, err
	}
	if warn != nil {
		for _, w := range l.Warnings {
			warn(w)
		}
	}
	h := lora.NewHook()
	m.AddHook(h)
	if _, err := lora.Attach(m, h, l, lora.DefaultAdapter); err != nil {
		return nil, err
	}
	return m, nil
}

// resolveBase finds an adapter's base: a .gguf file as recorded (absolute,
// or relative to the adapter folder or a folder above it), else as LoRA
// adapters resolve theirs.
func resolveBase(adapter, base string) (string, error) {
	if strings.HasSuffix(strings.ToLower(base), ".gguf") {
		if filepath.IsAbs(base) {
			return base, nil
		}
		dir, _ := filepath.Abs(adapter)
		for {
			if cand := filepath.Join(dir, base); fileExists(cand) {
				return cand, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
		return base, nil
	}
	return lora.ResolveBase(adapter, base)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// genModel runs the model for generation with its method's hooks: a
// prefix's positions are counted as past positions, as in training.
type genModel struct{ inner generate.Model }

func (g genModel) CacheShape() (layers, kvHeads, headDim int) { return g.inner.CacheShape() }

func (g genModel) Logits(c *nn.Ctx, ids, positions, mask *Node, cache *nn.KVCache) *Node {
	if p := c.PrefixLen(); p > 0 && positions != nil {
		positions = AddScalar(positions, float64(p))
	}
	return g.inner.Logits(c, ids, positions, mask, cache)
}

// Generator returns a text generator for the model with its hooks (a
// loaded adapter). noCache is true when a hook changes the input
// embeddings (prompt tuning): such a model must recompute the whole
// sequence each step (generate.Options.NoCache).
func (m *Model) Generator(be compute.Backend) (gen *generate.Generator, noCache bool) {
	for _, h := range m.Hooks {
		if _, ok := h.(nn.EmbeddingHook); ok {
			noCache = true
		}
	}
	return generate.New(be, genModel{m.GenModel()}, m.P, m.Hooks), noCache
}

// EncodePrompt returns a prompt's ids, with BOS in front when the model
// adds it.
func (m *Model) EncodePrompt(text string) ([]int, error) {
	ids, err := m.EncodeText(text)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(ids)+1)
	if m.AddBOS {
		out = append(out, m.BOS)
	}
	for _, id := range ids {
		out = append(out, int(id))
	}
	return out, nil
}

// Continuation returns the text that new tokens add after the prompt ids.
func (m *Model) Continuation(prompt, newIDs []int) string {
	if m.Tokenizer == nil {
		return ""
	}
	full := m.Tokenizer.Decode(append(append([]int(nil), prompt...), newIDs...))
	if head := m.Tokenizer.Decode(prompt); strings.HasPrefix(full, head) {
		return full[len(head):]
	}
	return m.Tokenizer.Decode(newIDs)
}
