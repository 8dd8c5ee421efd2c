package lora

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadAdapter feeds arbitrary adapter_config.json bytes (PEFT's LoRA
// format) to ReadAdapter, next to valid weights: it must return an adapter
// or an error, never panic.
func FuzzReadAdapter(f *testing.F) {
	const fixture = "../../testdata/fixtures/bert-lora/lora"
	cfg, err := os.ReadFile(filepath.Join(fixture, ConfigFile))
	if err != nil {
		f.Skipf("fixture absent: %v", err)
	}
	weights, err := os.ReadFile(filepath.Join(fixture, "adapter_model.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cfg)
	f.Add([]byte(`{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":"all-linear","rank_pattern":{"query":4},"alpha_pattern":{"value":2},"init_lora_weights":"gaussian","use_dora":true,"layers_to_transform":[0],"bias":"lora_only"}`))
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
