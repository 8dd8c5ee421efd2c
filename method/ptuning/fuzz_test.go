package ptuning

import (
	"testing"

	"github.com/gotune/gotune/internal/fixture"
)

// FuzzReadAdapter feeds arbitrary adapter_config.json bytes (PEFT's prefix
// and prompt tuning formats) to ReadAdapter, next to valid weights: it
// must return an adapter or an error, never panic.
func FuzzReadAdapter(f *testing.F) {
	fixture.FuzzConfig(f, "../../testdata/fixtures/bert-prefix/prefix", "adapter_model.safetensors",
		func(dir string) error { _, err := ReadAdapter(dir); return err },
		`{"peft_type":"PROMPT_TUNING","num_virtual_tokens":5,"token_dim":32,"num_layers":2,"num_attention_heads":4,"prompt_tuning_init":"TEXT","prompt_tuning_init_text":"hi","tokenizer_name_or_path":"x"}`,
		`{"peft_type":"P_TUNING","num_virtual_tokens":5,"token_dim":32,"num_layers":2,"num_attention_heads":4,"encoder_reparameterization_type":"MLP","encoder_hidden_size":8}`)
}
