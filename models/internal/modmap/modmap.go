// Package modmap is the machinery the model packages share to map their
// parameters (Hugging Face names) to module groups, repeated layers and
// module kinds. Each model package keeps its own facts (its group names,
// name prefixes and kinds) in its Locate function; this package only scans
// the names and parses the layer number.
package modmap

import (
	"strconv"
	"strings"
)

// LocateFunc returns the group of the named parameter, its layer (-1
// outside the repeated layers) and its module kinds; group is "" for a
// parameter outside every group.
type LocateFunc func(name string) (group string, layer int, kinds []string)

// Map holds what a scan of the parameter names found: the number of
// layers and the groups present. Model packages embed it in their Modules.
type Map struct {
	layers int
	groups []string
}

// Scan runs locate over names and returns the layer count and the groups
// present, in the order given, and the set of groups seen.
func Scan(names, order []string, locate LocateFunc) (Map, map[string]bool) {
	var m Map
	present := map[string]bool{}
	for _, n := range names {
		g, l, _ := locate(n)
		if g != "" {
			present[g] = true
		}
		if l+1 > m.layers {
			m.layers = l + 1
		}
	}
	for _, g := range order {
		if present[g] {
			m.groups = append(m.groups, g)
		}
	}
	return m, present
}

// NumLayers returns the number of repeated layers (encoder layers,
// decoder layers or blocks).
func (m Map) NumLayers() int { return m.layers }

// Groups returns the module groups present in the model, bottom to top.
func (m Map) Groups() []string { return m.groups }

// Layer splits a parameter name "<prefix><i>.<rest>" into the layer
// number i and rest; ok is false when name is not in a layer.
func Layer(name, prefix string) (layer int, rest string, ok bool) {
	after, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return -1, "", false
	}
	num, sub, ok := strings.Cut(after, ".")
	i, err := strconv.Atoi(num)
	if !ok || err != nil || i < 0 {
		return -1, "", false
	}
	return i, sub, true
}

// DecoderAdapterSite names where AdapterHub's decoder mixins (LLaMA, GPT-2)
// keep a layer's bottleneck adapters: "<prefix><layer>.attention_adapters"
// after the attention block (kind "attention"), whose width is that of the
// norm attnNorm before it, and "<prefix><layer>.output_adapters" after the
// MLP ("ffn"), with the width of ffnNorm. Other kinds give "".
func DecoderAdapterSite(prefix string, layer int, kind, attnNorm, ffnNorm string) (module, widthWeight string) {
	p := prefix + strconv.Itoa(layer) + "."
	switch kind {
	case "attention":
		return p + "attention_adapters", p + attnNorm + ".weight"
	case "ffn":
		return p + "output_adapters", p + ffnNorm + ".weight"
	}
	return "", ""
}
