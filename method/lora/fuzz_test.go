package lora

import (
	"testing"

	"github.com/gotune/gotune/internal/fixture"
)

// FuzzReadAdapter feeds arbitrary adapter_config.json bytes (PEFT's LoRA
// format) to ReadAdapter, next to valid weights: it must return an adapter
// or an error, never panic.
func FuzzReadAdapter(f *testing.F) {
	fixture.FuzzConfig(f, "../../testdata/fixtures/bert-lora/lora", "adapter_model.safetensors",
		func(dir string) error { _, err := ReadAdapter(dir); return err },
		`{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":"all-linear","rank_pattern":{"query":4},"alpha_pattern":{"value":2},"init_lora_weights":"gaussian","use_dora":true,"layers_to_transform":[0],"bias":"lora_only"}`)
}
