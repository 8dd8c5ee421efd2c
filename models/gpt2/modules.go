package gpt2

import (
	"fmt"
	"strconv"
	"strings"
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

// Module kinds inside a block: attn (c_attn, c_proj), mlp (c_fc, c_proj),
// ln_1, ln_2, and layernorm (both).
var blockKinds = []string{"attn", "mlp", "ln_1", "ln_2", "layernorm"}

// Modules maps GPT-2 parameters (Hugging Face names) to group, block and
// module kinds, for method/freeze.
type Modules struct {
	layers int
	groups []string
}

// ModulesOf builds the module map from parameter names.
func ModulesOf(names []string) (*Modules, error) {
	m := &Modules{}
	present := map[string]bool{}
	for _, n := range names {
		g, l, _ := m.Locate(n)
		if g != "" {
			present[g] = true
		}
		if l+1 > m.layers {
			m.layers = l + 1
		}
	}
	if !present[GroupLayers] {
		return nil, fmt.Errorf("not a GPT-2 model: no transformer.h.* parameters")
	}
	for _, g := range []string{GroupWTE, GroupWPE, GroupLayers, GroupLnF, GroupLMHead, GroupScore} {
		if present[g] {
			m.groups = append(m.groups, g)
		}
	}
	return m, nil
}

// NumLayers returns the number of blocks.
func (m *Modules) NumLayers() int { return m.layers }

// Groups returns the module groups present, bottom to top.
func (m *Modules) Groups() []string { return m.groups }

// Kinds returns the module kinds inside a block.
func (m *Modules) Kinds() []string { return blockKinds }

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
	rest, ok := strings.CutPrefix(name, "transformer.h.")
	if !ok {
		return "", -1, nil
	}
	num, sub, ok := strings.Cut(rest, ".")
	i, err := strconv.Atoi(num)
	if !ok || err != nil || i < 0 {
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
