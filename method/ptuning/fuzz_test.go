package ptuning

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadAdapter feeds arbitrary adapter_config.json bytes (PEFT's prefix
// and prompt tuning formats) to ReadAdapter, next to valid weights: it
// must return an adapter or an error, never panic.
func FuzzReadAdapter(f *testing.F) {
	const fixture = "../../testdata/fixtures/bert-prefix/prefix"
	cfg, err := os.ReadFile(filepath.Join(fixture, ConfigFile))
	if err != nil {
		f.Skipf("fixture absent: %v", err)
	}
	weights, err := os.ReadFile(filepath.Join(fixture, "adapter_model.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cfg)
	f.Add([]byte(`{"peft_type":"PROMPT_TUNING","num_virtual_tokens":5,"token_dim":32,"num_layers":2,"num_attention_heads":4,"prompt_tuning_init":"TEXT","prompt_tuning_init_text":"hi","tokenizer_name_or_path":"x"}`))
	f.Add([]byte(`{"peft_type":"P_TUNING","num_virtual_tokens":5,"token_dim":32,"num_layers":2,"num_attention_heads":4,"encoder_reparameterization_type":"MLP","encoder_hidden_size":8}`))
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), weights, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := ReadAdapter(dir)
		if err == nil && l == nil {
			t.Fatal("neither an adapter nor an error")
		}
	})
}
