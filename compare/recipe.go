package compare

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/method/adapter"
	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/methods"
)

// Recipe is the learning rate and epochs a method gets in a comparison
// when the user sets none, and where they come from.
type Recipe struct {
	LR     float64
	Epochs int
	// Source says where the numbers come from, for the report.
	Source string
}

// RecipeFor returns the method's recipe for a task (gotune.TaskClassify,
// or "" for it, or gotune.TaskCausalLM). A method's own defaults
// (methods.DefaultsFor, when they differ from the generic Trainer
// defaults) always win; compare adds recipes only for methods that have
// none of their own but train from a very different starting point:
//
//   - lora, classify: lr 5e-4 and 10 epochs. The LoRA paper trains
//     RoBERTa-base on GLUE at 4e-4 to 5e-4 (Hu et al. 2021, table 9) and
//     PEFT's sequence classification examples train for tens of epochs; at
//     full fine-tuning's 2e-5 the zero-initialised B matrices hardly move.
//   - lora, causal-lm: lr 3e-4 and 3 epochs, alpaca-lora's instruction
//     tuning of LLaMA (tloen/alpaca-lora finetune.py defaults), the
//     reference LoRA recipe for instruction data; the classification
//     recipe's 10 epochs would overfit instruction data for three times
//     the steps.
//   - feature: lr 1e-3 and 10 epochs: a linear probe trains a new head from
//     scratch on frozen, cached features, so it takes a head's rate and
//     its epochs are cheap (classification only).
//
// Full fine-tuning's Trainer defaults, lr 2e-5 and 3 epochs, are also
// Stanford Alpaca's full instruction-tuning recipe. Rank, alpha, reduction
// factor and prompt length are the method packages' own reference
// defaults (PEFT: r 8, alpha 8, query and value or the decoder's q_proj
// and v_proj; AdapterHub: pfeiffer, reduction 16; P-Tuning v2: 20 virtual
// tokens), which compare leaves alone.
func RecipeFor(task, method string) Recipe {
	d, generic := methods.DefaultsFor(method), methods.DefaultsFor("full")
	if d != generic {
		src := "methods.DefaultsFor"
		switch method {
		case ptuning.Prefix:
			src = "P-Tuning v2 scripts (methods.DefaultsFor)"
		case ptuning.Prompt:
			src = "prompt tuning practice (methods.DefaultsFor)"
		case "adapter":
			src = fmt.Sprintf("AdapterHub, lr %g (methods.DefaultsFor)", adapter.DefaultLR)
		}
		return Recipe{LR: d.LR, Epochs: d.Epochs, Source: src}
	}
	causal := task == gotune.TaskCausalLM
	switch {
	case method == "lora" && causal:
		return Recipe{LR: 3e-4, Epochs: 3, Source: "alpaca-lora (LLaMA instruction tuning: lr 3e-4, 3 epochs)"}
	case method == "lora":
		return Recipe{LR: 5e-4, Epochs: 10, Source: "LoRA paper (RoBERTa-base GLUE, 4e-4–5e-4) and PEFT's classification examples"}
	case method == "feature":
		return Recipe{LR: 1e-3, Epochs: 10, Source: "linear probe on cached features: a new head's rate"}
	case causal && method == "full":
		return Recipe{LR: d.LR, Epochs: d.Epochs, Source: "Hugging Face Trainer defaults, also Stanford Alpaca's full fine-tuning recipe (methods.DefaultsFor)"}
	case causal:
		return Recipe{LR: d.LR, Epochs: d.Epochs, Source: "Hugging Face Trainer defaults (methods.DefaultsFor)"}
	}
	return Recipe{LR: d.LR, Epochs: d.Epochs, Source: "Hugging Face Trainer / BERT paper (methods.DefaultsFor)"}
}

// settingsOf is a one-line summary of the method-specific settings of cfg.
func settingsOf(c gotune.Config) string {
	var s string
	switch c.Method {
	case "lora":
		r, a := c.LoRA.R, c.LoRA.Alpha
		if r == 0 {
			r = 8
		}
		if a == 0 {
			a = 8
		}
		t := "query,value"
		if c.Task == gotune.TaskCausalLM {
			t = "PEFT's default for the model (q_proj,v_proj; GPT-2 c_attn)"
		}
		if len(c.LoRA.Targets) > 0 {
			t = strings.Join(c.LoRA.Targets, ",")
		} else if c.LoRA.TargetRegex != "" {
			t = c.LoRA.TargetRegex
		}
		s = fmt.Sprintf("r %d, alpha %g, targets %s", r, a, t)
	case "adapter":
		p, rf := c.Adapter.Placement, c.Adapter.ReductionFactor
		if p == "" {
			p = adapter.Pfeiffer
		}
		if rf == 0 {
			rf = 16
			if p == adapter.Parallel {
				rf = 2
			}
		}
		s = fmt.Sprintf("%s, reduction %g", p, rf)
	case ptuning.Prefix, ptuning.Prompt:
		s = fmt.Sprintf("%d virtual tokens", c.PTuning.VirtualTokens())
		if c.PTuning.PrefixProjection {
			s += ", projection"
		}
	case "feature":
		s = fmt.Sprintf("%s pooling, %s head", c.Feature.Pooling, c.Feature.Head)
	case "freeze":
		switch {
		case c.TrainModules != "":
			s = "train " + c.TrainModules
		case c.Freeze != "":
			s = "freeze " + c.Freeze
		case c.TrainLast > 0:
			s = fmt.Sprintf("last %d layers", c.TrainLast)
		default:
			s = "last 2 layers"
		}
	case "full":
		s = "all weights"
	}
	if c.Augment != "" {
		s += "; augment " + c.Augment
	}
	return s
}

// setting is one --set METHOD:KEY=VALUE.
type setting struct {
	method, key, value, raw string
}

// parseSets parses --set values against the compared methods.
func parseSets(raw, compared []string) ([]setting, error) {
	var out []setting
	for _, r := range raw {
		m, kv, ok := strings.Cut(r, ":")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || m == "" || k == "" {
			return nil, fmt.Errorf("--set %q: want METHOD:KEY=VALUE, e.g. lora:lora.r=16 or all:max_len=64", r)
		}
		if m != "all" && !slices.Contains(compared, m) {
			return nil, fmt.Errorf("--set %q: %s is not one of the compared methods (all, %s)", r, m, strings.Join(compared, ", "))
		}
		s := setting{method: m, key: k, value: v, raw: r}
		var probe gotune.Config
		if err := s.apply(&probe); err != nil { // check the key now, not after hours of runs
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// apply sets the key path of c (YAML keys of config.yaml) to the value.
func (s setting) apply(c *gotune.Config) error {
	var v any
	if err := yaml.Unmarshal([]byte(s.value), &v); err != nil {
		return fmt.Errorf("--set %q: value: %w", s.raw, err)
	}
	parts := strings.Split(s.key, ".")
	doc := map[string]any{parts[len(parts)-1]: v}
	for i := len(parts) - 2; i >= 0; i-- {
		doc = map[string]any{parts[i]: doc}
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		msg := err.Error()
		if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		return fmt.Errorf("--set %q: %s (keys are those of a run's config.yaml, e.g. lr, epochs, max_len, lora.r, adapter.reduction_factor, ptuning.num_virtual_tokens)", s.raw, strings.TrimPrefix(msg, "yaml: "))
	}
	return nil
}
