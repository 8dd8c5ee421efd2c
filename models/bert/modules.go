package bert

import (
	"fmt"
	"strings"

	"github.com/gotune/gotune/models/internal/modmap"
)

// Module groups of a BERT-family model, bottom to top. GroupLayers holds the
// repeated encoder blocks; the others are single modules.
const (
	GroupEmbeddings = "embeddings"
	GroupLayers     = "layers"
	GroupPooler     = "pooler"
	GroupClassifier = "classifier"
	GroupMLMHead    = "cls"
)

// Modules maps the parameters of one BERT-family model to their module
// group, encoder layer and module kinds. Fine-tuning methods that choose
// weights by module (method/freeze) use it through a small interface, so
// they hold no BERT knowledge themselves.
type Modules struct {
	modmap.Map
	prefix string
}

// ModulesOf builds the module map of a model from its parameter names
// (Hugging Face names, as in nn.Params.Names): the prefix ("bert.",
// "roberta.") and the layer count are read from the names.
func ModulesOf(names []string) (*Modules, error) {
	prefix, ok := detectPrefix(names)
	if !ok {
		return nil, fmt.Errorf("not a BERT-family model: no embeddings.* or encoder.layer.* parameters")
	}
	m := &Modules{prefix: prefix}
	m.Map, _ = modmap.Scan(names, []string{GroupEmbeddings, GroupLayers, GroupPooler, GroupClassifier, GroupMLMHead}, m.Locate)
	return m, nil
}

// Kinds returns the module kinds inside an encoder block. A parameter can
// belong to several: attention.output.LayerNorm is in attention,
// attention.output and layernorm.
//
//	attention         attention.self.* and attention.output.* (Hugging Face's BertAttention)
//	attention.self    attention.self.{query,key,value}
//	attention.output  attention.output.{dense,LayerNorm}
//	ffn               intermediate.dense and output.dense (the feed-forward pair)
//	layernorm         attention.output.LayerNorm and output.LayerNorm
func (m *Modules) Kinds() []string {
	return []string{"attention", "attention.self", "attention.output", "ffn", "layernorm"}
}

// Locate returns the group of the named parameter, its encoder layer (-1
// outside the encoder blocks) and, inside a block, the kinds of module it
// belongs to. group is "" for a parameter outside every group.
func (m *Modules) Locate(name string) (group string, layer int, kinds []string) {
	p := m.prefix
	switch {
	case strings.HasPrefix(name, p+"embeddings."):
		return GroupEmbeddings, -1, nil
	case strings.HasPrefix(name, p+"pooler."):
		return GroupPooler, -1, nil
	case strings.HasPrefix(name, "classifier."):
		return GroupClassifier, -1, nil
	case strings.HasPrefix(name, "cls."):
		return GroupMLMHead, -1, nil
	}
	i, sub, ok := modmap.Layer(name, p+"encoder.layer.")
	if !ok {
		return "", -1, nil
	}
	switch {
	case strings.HasPrefix(sub, "attention.self."):
		kinds = []string{"attention", "attention.self"}
	case strings.HasPrefix(sub, "attention.output.LayerNorm."):
		kinds = []string{"attention", "attention.output", "layernorm"}
	case strings.HasPrefix(sub, "attention.output."):
		kinds = []string{"attention", "attention.output"}
	case strings.HasPrefix(sub, "intermediate."), strings.HasPrefix(sub, "output.dense."):
		kinds = []string{"ffn"}
	case strings.HasPrefix(sub, "output.LayerNorm."):
		kinds = []string{"layernorm"}
	}
	return GroupLayers, i, kinds
}

// detectPrefix finds the task-model prefix ("bert.", "roberta.", or none
// for a bare encoder) of the parameter names.
func detectPrefix(names []string) (string, bool) {
	for _, p := range []string{"bert.", "roberta.", ""} {
		for _, n := range names {
			if strings.HasPrefix(n, p+"embeddings.") || strings.HasPrefix(n, p+"encoder.layer.") {
				return p, true
			}
		}
	}
	return "", false
}
