package gpt2

import (
	"fmt"
	"strings"

	"github.com/gotune/gotune/models/internal/modmap"
)

// Module groups of GPT-2, bottom to top; GroupLayers holds the blocks.
const (
	GroupWTE    = "wte"
	GroupWPE    = "wpe"
	GroupLayers = "layers"
	GroupLnF    = "ln_f"
	GroupLMHead = "lm_head"
	GroupScore  = "score"
)

// Modules maps GPT-2 parameters (Hugging Face names) to group, block and
// module kinds, for method/freeze.
type Modules struct {
	modmap.Map
}

// ModulesOf builds the module map from parameter names.
func ModulesOf(names []string) (*Modules, error) {
	m := &Modules{}
	var present map[string]bool
	m.Map, present = modmap.Scan(names, []string{GroupWTE, GroupWPE, GroupLayers, GroupLnF, GroupLMHead, GroupScore}, m.Locate)
	if !present[GroupLayers] {
		return nil, fmt.Errorf("not a GPT-2 model: no transformer.h.* parameters")
	}
	return m, nil
}

// Kinds returns the module kinds inside a block: attn (c_attn, c_proj),
// mlp (c_fc, c_proj), ln_1, ln_2, and layernorm (both).
func (m *Modules) Kinds() []string { return []string{"attn", "mlp", "ln_1", "ln_2", "layernorm"} }

// Locate returns the group, block (-1 outside) and kinds of a parameter.
func (m *Modules) Locate(name string) (group string, layer int, kinds []string) {
	switch {
	case strings.HasPrefix(name, "transformer.wte."):
		return GroupWTE, -1, nil
	case strings.HasPrefix(name, "transformer.wpe."):
		return GroupWPE, -1, nil
	case strings.HasPrefix(name, "transformer.ln_f."):
		return GroupLnF, -1, nil
	case strings.HasPrefix(name, "lm_head."):
		return GroupLMHead, -1, nil
	case strings.HasPrefix(name, "score."):
		return GroupScore, -1, nil
	}
	i, sub, ok := modmap.Layer(name, "transformer.h.")
	if !ok {
		return "", -1, nil
	}
	switch {
	case strings.HasPrefix(sub, "attn."):
		kinds = []string{"attn"}
	case strings.HasPrefix(sub, "mlp."):
		kinds = []string{"mlp"}
	case strings.HasPrefix(sub, "ln_1."):
		kinds = []string{"ln_1", "layernorm"}
	case strings.HasPrefix(sub, "ln_2."):
		kinds = []string{"ln_2", "layernorm"}
	}
	return GroupLayers, i, kinds
}

// AdapterSite names where AdapterHub's GPT-2 mixin keeps a block's
// bottleneck adapters: attention_adapters after the attention (kind
// "attention"), output_adapters after the MLP ("ffn"). The width weight is
// the block's layer norm before that sublayer. It satisfies
// adapter.SiteNamer.
func (m *Modules) AdapterSite(layer int, kind string) (module, widthWeight string) {
	return modmap.DecoderAdapterSite("transformer.h.", layer, kind, "ln_1", "ln_2")
}
