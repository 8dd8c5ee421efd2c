package causallm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

	"github.com/gotune/gotune/generate"
	"github.com/gotune/gotune/method/adapter"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/models/gpt2"
	"github.com/gotune/gotune/models/llama"
	"github.com/gotune/gotune/nn"
)

// IsAdapter reports whether dir is an adapter folder: PEFT's (LoRA, prefix
// or prompt tuning) or AdapterHub's (bottleneck adapters); both keep their
// settings in adapter_config.json.
func IsAdapter(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, lora.ConfigFile))
	return err == nil
}

// LoadTrained loads a decoder for a task with an optional adapter: model
// is a model folder, a .gguf file or an adapter folder (then the base is
// the one the adapter records); adapterDir, when not "", is a LoRA,
// prefix-tuning, prompt-tuning or bottleneck adapter folder on model
// (model "" = the adapter's base). For SeqCls the labels are the adapter's
// (its head is among its weights). warn, when not nil, receives warnings.
func LoadTrained(model, adapterDir string, task Task, warn func(string)) (*Model, error) {
	if adapterDir == "" && model != "" && IsAdapter(model) {
		model, adapterDir = "", model
	}
	if adapterDir == "" {
		return Load(model, task, nil, 0)
	}
	// attach adds the adapter to the base and reports whether it brought
	// its own trained copy of the task head.
	var attach func(*Model) (bool, error)
	var recorded string
	var warnings, labels []string
	switch {
	case ptuning.AdapterKind(adapterDir) != "":
		l, err := ptuning.ReadAdapter(adapterDir)
		if err != nil {
			return nil, err
		}
		recorded, labels = l.BaseModel, l.Labels()
		attach = func(m *Model) (bool, error) { return l.HeadRows() > 0, ptuning.Attach(m, l) }
	case adapter.IsFolder(adapterDir):
		l, err := adapter.Read(adapterDir)
		if err != nil {
			return nil, err
		}
		recorded, warnings, labels = l.BaseModel, l.Warnings, l.Labels
		attach = func(m *Model) (bool, error) {
			h := adapter.NewHook()
			m.AddHook(h)
			_, err := adapter.Attach(m, h, l, l.Name, m.adapterModules)
			return len(l.Head) > 0, err
		}
	default:
		l, err := lora.ReadAdapter(adapterDir)
		if err != nil {
			return nil, err
		}
		recorded, warnings, labels = l.BaseModel, l.Warnings, l.Labels()
		attach = func(m *Model) (bool, error) {
			h := lora.NewHook()
			m.AddHook(h)
			a, err := lora.Attach(m, h, l, lora.DefaultAdapter)
			return err == nil && len(a.Saved) > 0, err
		}
	}
	if warn != nil {
		for _, w := range warnings {
			warn(w)
		}
	}
	base := model
	if base == "" {
		var err error
		if base, err = resolveBase(adapterDir, recorded); err != nil {
			return nil, err
		}
	}
	if task != SeqCls {
		labels = nil
	}
	m, err := Load(base, task, labels, 0)
	if err != nil {
		return nil, fmt.Errorf("loading the base model of %s: %w", adapterDir, err)
	}
	head, err := attach(m)
	if err != nil {
		return nil, err
	}
	if head {
		m.NewHead = nil
	}
	return m, nil
}

// adapterModules is the module map bottleneck adapters are placed by
// (adapter.Architecture).
func (m *Model) adapterModules(names []string) (adapter.Modules, error) {
	if m.GPT2 != nil {
		mm, err := gpt2.ModulesOf(names)
		if err != nil {
			return nil, err
		}
		return mm, nil
	}
	mm, err := llama.ModulesOf(names)
	if err != nil {
		return nil, err
	}
	return mm, nil
}

// resolveBase finds an adapter's base: a .gguf file as recorded (absolute,
// or relative to the adapter folder or a folder above it), else as LoRA
// adapters resolve theirs.
func resolveBase(adapterDir, base string) (string, error) {
	if strings.HasSuffix(strings.ToLower(base), ".gguf") {
		if filepath.IsAbs(base) {
			return base, nil
		}
		dir, _ := filepath.Abs(adapterDir)
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
	return lora.ResolveBase(adapterDir, base)
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
