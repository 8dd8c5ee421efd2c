package llama

import (
	"reflect"
	"testing"
)

func TestModulesOf(t *testing.T) {
	cfg := &Config{ModelType: "llama", VocabSize: 10, HiddenSize: 8, IntermediateSize: 16, NumHiddenLayers: 3, NumAttentionHeads: 2, NumKeyValueHeads: 1}
	var names []string
	for n := range ParamShapes(cfg, HeadCausalLM, 0) {
		names = append(names, n)
	}
	m, err := ModulesOf(names)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumLayers() != 3 || !reflect.DeepEqual(m.Groups(), []string{"embed_tokens", "layers", "norm", "lm_head"}) {
		t.Fatalf("layers %d groups %v", m.NumLayers(), m.Groups())
	}
	for name, want := range map[string][]string{
		"model.layers.2.self_attn.q_proj.weight":         {"self_attn"},
		"model.layers.0.mlp.down_proj.weight":            {"mlp"},
		"model.layers.1.post_attention_layernorm.weight": {"post_attention_layernorm", "layernorm"},
		"model.layers.1.input_layernorm.weight":          {"input_layernorm", "layernorm"},
	} {
		if g, l, k := m.Locate(name); g != GroupLayers || l < 0 || !reflect.DeepEqual(k, want) {
			t.Errorf("%s: %s %d %v, want layers %v", name, g, l, k, want)
		}
	}
	if _, err := ModulesOf([]string{"bert.embeddings.word_embeddings.weight"}); err == nil {
		t.Error("a BERT model taken for LLaMA")
	}
}
