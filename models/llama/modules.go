package llama

import (
	"fmt"
	"strings"

	"github.com/gotune/gotune/models/internal/modmap"
)

// Module groups of a LLaMA-family model, bottom to top; GroupLayers holds
// the decoder layers.
const (
	GroupEmbed  = "embed_tokens"
	GroupLayers = "layers"
	GroupNorm   = "norm"
	GroupLMHead = "lm_head"
	GroupScore  = "score"
)

// Modules maps the parameters of a LLaMA-family model (Hugging Face names)
// to module group, decoder layer and module kinds, for methods that choose
// weights by module (method/freeze).
type Modules struct {
	modmap.Map
}

// ModulesOf builds the module map from parameter names; it fails when the
// names are not a LLaMA-family model's.
func ModulesOf(names []string) (*Modules, error) {
	m := &Modules{}
	var present map[string]bool
	m.Map, present = modmap.Scan(names, []string{GroupEmbed, GroupLayers, GroupNorm, GroupLMHead, GroupScore}, m.Locate)
	if !present[GroupLayers] {
		return nil, fmt.Errorf("not a LLaMA-family model: no model.layers.* parameters")
	}
	return m, nil
}

// Kinds returns the module kinds inside a decoder layer:
//
//	self_attn                 self_attn.{q,k,v,o}_proj
//	mlp                       mlp.{gate,up,down}_proj
//	input_layernorm           the RMSNorm before attention
//	post_attention_layernorm  the RMSNorm before the MLP
//	layernorm                 both RMSNorms
func (m *Modules) Kinds() []string {
	return []string{"self_attn", "mlp", "input_layernorm", "post_attention_layernorm", "layernorm"}
}

// Locate returns the group, layer (-1 outside the layers) and kinds of a
// parameter; group is "" for a parameter outside every group.
func (m *Modules) Locate(name string) (group string, layer int, kinds []string) {
	switch {
	case strings.HasPrefix(name, "model.embed_tokens."):
		return GroupEmbed, -1, nil
	case strings.HasPrefix(name, "model.norm."):
		return GroupNorm, -1, nil
	case strings.HasPrefix(name, "lm_head."):
		return GroupLMHead, -1, nil
	case strings.HasPrefix(name, "score."):
		return GroupScore, -1, nil
	}
	i, sub, ok := modmap.Layer(name, "model.layers.")
	if !ok {
		return "", -1, nil
	}
	switch {
	case strings.HasPrefix(sub, "self_attn."):
		kinds = []string{"self_attn"}
	case strings.HasPrefix(sub, "mlp."):
		kinds = []string{"mlp"}
	case strings.HasPrefix(sub, "input_layernorm."):
		kinds = []string{"input_layernorm", "layernorm"}
	case strings.HasPrefix(sub, "post_attention_layernorm."):
		kinds = []string{"post_attention_layernorm", "layernorm"}
	}
	return GroupLayers, i, kinds
}

// AdapterSite names where AdapterHub's LLaMA mixin keeps a decoder layer's
// bottleneck adapters: attention_adapters after the attention block (kind
// "attention"), output_adapters after the MLP ("ffn"). The width weight is
// the layer's RMSNorm before that block. It satisfies adapter.SiteNamer.
func (m *Modules) AdapterSite(layer int, kind string) (module, widthWeight string) {
	return modmap.DecoderAdapterSite("model.layers.", layer, kind, "input_layernorm", "post_attention_layernorm")
}
