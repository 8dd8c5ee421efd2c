// Package methods maps method names to implementations.
package methods

import (
	"fmt"
	"strings"

	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/method/adapter"
	"github.com/gotune/gotune/method/feature"
	"github.com/gotune/gotune/method/freeze"
	"github.com/gotune/gotune/method/full"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/models/gpt2"
	"github.com/gotune/gotune/models/llama"
)

// Names lists the available methods.
func Names() []string {
	return []string{"full", "feature", "freeze", "lora", "ptuning", "prompt", "adapter"}
}

// Options are the methods' settings; each method reads its own field.
type Options struct {
	// Seed seeds a method's new weights.
	Seed uint64
	// Feature configures "feature".
	Feature feature.Config
	// Freeze chooses what trains under "freeze".
	Freeze freeze.Config
	// LoRA configures "lora".
	LoRA lora.Config
	// PTuning configures "ptuning" (prefix tuning / P-Tuning v2) and
	// "prompt" (prompt tuning).
	PTuning ptuning.Config
	// Adapter configures "adapter" (bottleneck adapters).
	Adapter adapter.Config
}

// Defaults are a method's training settings, used where a run leaves them
// at 0.
type Defaults struct {
	// LR is the peak learning rate.
	LR float64
	// Epochs is the number of training epochs.
	Epochs int
}

// DefaultsFor returns the named method's defaults: the Hugging Face
// Trainer's lr 2e-5 and 3 epochs, unless the method needs others.
func DefaultsFor(name string) Defaults {
	switch name {
	case ptuning.Prefix:
		return Defaults{LR: ptuning.DefaultPrefixLR, Epochs: ptuning.DefaultEpochs}
	case ptuning.Prompt:
		return Defaults{LR: ptuning.DefaultPromptLR, Epochs: ptuning.DefaultEpochs}
	case "adapter": // AdapterHub advises 1e-4 for adapter training
		return Defaults{LR: adapter.DefaultLR, Epochs: 3}
	}
	return Defaults{LR: 2e-5, Epochs: 3}
}

// ReservedPositions is the number of position ids the named method takes
// from the model's position table (virtual tokens), which inputs then
// cannot use.
func ReservedPositions(name string, o Options) int {
	if name == ptuning.Prefix || name == ptuning.Prompt {
		return o.PTuning.VirtualTokens()
	}
	return 0
}

// New returns the named method configured by o.
func New(name string, o Options) (method.Method, error) {
	if name != "freeze" && !o.Freeze.IsZero() {
		// A misplaced selection flag is an error, not silently ignored.
		return nil, fmt.Errorf("%s: only --method freeze chooses what trains (method is %q)", strings.Join(o.Freeze.SetFlags(), ", "), name)
	}
	if name != ptuning.Prefix && name != ptuning.Prompt && !o.PTuning.IsZero() {
		return nil, fmt.Errorf("prompt settings (num_virtual_tokens, prefix_projection, ...) only apply to --method ptuning or prompt (method is %q)", name)
	}
	if name != "adapter" && !o.Adapter.IsZero() {
		return nil, fmt.Errorf("adapter settings (placement, reduction_factor, ...) only apply to --method adapter (method is %q)", name)
	}
	switch name {
	case "full", "":
		return full.New(), nil
	case "feature":
		return feature.New(o.Feature, o.Seed)
	case "freeze":
		return freeze.New(o.Freeze, modules)
	case "lora":
		return lora.New(o.LoRA, o.Seed)
	case ptuning.Prefix, ptuning.Prompt:
		return ptuning.New(name, o.PTuning, o.Seed)
	case "adapter":
		return adapter.New(o.Adapter, o.Seed, AdapterModules)
	}
	return nil, fmt.Errorf("unknown method %q (available: %s)", name, strings.Join(Names(), ", "))
}

// modules is the module map of a model, chosen by its parameter names:
// the LLaMA family (model.layers.*), GPT-2 (transformer.h.*) or the BERT
// family.
func modules(names []string) (freeze.Modules, error) {
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "model.layers."):
			return llama.ModulesOf(names)
		case strings.HasPrefix(n, "transformer.h."):
			return gpt2.ModulesOf(names)
		}
	}
	m, err := bert.ModulesOf(names)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// AdapterModules is the module map method/adapter places adapters by:
// the LLaMA family's or GPT-2's (adapters in each decoder layer's
// attention_adapters and output_adapters, as AdapterHub names them) or the
// BERT family's (beside each sublayer's layer norm).
func AdapterModules(names []string) (adapter.Modules, error) {
	m, err := modules(names)
	if err != nil {
		return nil, err
	}
	return m, nil
}
