package bert_test

import (
	"slices"
	"testing"

	"github.com/gotune/gotune/models/bert"
)

func TestModules(t *testing.T) {
	for _, prefix := range []string{"bert.", "roberta."} {
		cfg := &bert.Config{ModelType: "bert", VocabSize: 10, HiddenSize: 4, NumHiddenLayers: 3, IntermediateSize: 8,
			MaxPositionEmbeddings: 8, TypeVocabSize: 2}
		if prefix == "roberta." {
			cfg.ModelType = "roberta"
		}
		var names []string
		for n := range bert.ParamShapes(cfg, bert.HeadSeqCls, 2) {
			names = append(names, n)
		}
		slices.Sort(names)
		m, err := bert.ModulesOf(names)
		if err != nil {
			t.Fatal(err)
		}
		if m.NumLayers() != 3 {
			t.Errorf("%s: NumLayers %d, want 3", prefix, m.NumLayers())
		}
		groups := []string{"embeddings", "layers", "pooler", "classifier"}
		if prefix == "roberta." {
			groups = []string{"embeddings", "layers", "classifier"} // RoBERTa's head has no pooler
		}
		if !slices.Equal(m.Groups(), groups) {
			t.Errorf("%s: groups %q, want %q", prefix, m.Groups(), groups)
		}
		for _, tc := range []struct {
			name  string
			group string
			layer int
			kinds []string
		}{
			{prefix + "embeddings.LayerNorm.weight", "embeddings", -1, nil},
			{prefix + "encoder.layer.2.attention.self.key.bias", "layers", 2, []string{"attention", "attention.self"}},
			{prefix + "encoder.layer.0.attention.output.dense.weight", "layers", 0, []string{"attention", "attention.output"}},
			{prefix + "encoder.layer.1.attention.output.LayerNorm.bias", "layers", 1, []string{"attention", "attention.output", "layernorm"}},
			{prefix + "encoder.layer.1.intermediate.dense.weight", "layers", 1, []string{"ffn"}},
			{prefix + "encoder.layer.1.output.dense.weight", "layers", 1, []string{"ffn"}},
			{prefix + "encoder.layer.1.output.LayerNorm.weight", "layers", 1, []string{"layernorm"}},
			{prefix + "pooler.dense.weight", "pooler", -1, nil},
			{"classifier.out_proj.weight", "classifier", -1, nil},
			{"lora.something", "", -1, nil},
		} {
			g, l, k := m.Locate(tc.name)
			if g != tc.group || l != tc.layer || !slices.Equal(k, tc.kinds) {
				t.Errorf("Locate(%s) = %q, %d, %q; want %q, %d, %q", tc.name, g, l, k, tc.group, tc.layer, tc.kinds)
			}
		}
	}
	if _, err := bert.ModulesOf([]string{"transformer.h.0.attn.c_attn.weight"}); err == nil {
		t.Error("ModulesOf accepted GPT-2 names")
	}
}
