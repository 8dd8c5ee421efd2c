package gotune_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/safetensors"
)

// TestQuantizeBaseAdapter: a LoRA run on an NF4 base saves exactly the
// tensors a float32 run saves (nothing of the quantisation; reloading it is
// in TestReloadReproducesEval).
func TestQuantizeBaseAdapter(t *testing.T) {
	model := testmodel.New(t, testmodel.Default())
	trainPath, evalPath := testmodel.Data(t, 32, 16)
	names := map[string][]string{}
	for _, q := range []string{"", "nf4"} {
		cfg := tinyConfig(t, model, trainPath, evalPath)
		cfg.Method, cfg.MaxSteps, cfg.QuantizeBase = "lora", 1, q
		cfg.LoRA.Targets = []string{"all-linear"}
		res, err := gotune.Train(context.Background(), cfg, output())
		if err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.ReadFile(filepath.Join(res.ModelDir, "adapter_model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range f.Tensors {
			names[q] = append(names[q], ts.Name)
		}
		slices.Sort(names[q])
	}
	if len(names[""]) == 0 || !slices.Equal(names[""], names["nf4"]) {
		t.Errorf("adapter tensors differ:\nfloat32 %s\nnf4     %s", strings.Join(names[""], " "), strings.Join(names["nf4"], " "))
	}
}

// TestQuantizeBaseErrors: a bad scheme, and a method that saves the whole
// model, are refused before anything runs.
func TestQuantizeBaseErrors(t *testing.T) {
	for _, tc := range []struct{ method, q, want string }{
		{"lora", "nf3", `quantize_base "nf3" is not one of nf4, int8`},
		{"full", "nf4", "quantize_base nf4 is for methods that save only what they add"},
		{"freeze", "int8", "not freeze, which saves the whole model"},
	} {
		cfg := gotune.DefaultConfig()
		cfg.Model, cfg.Train, cfg.Out, cfg.Method, cfg.QuantizeBase = "m", "t.jsonl", "o", tc.method, tc.q
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s --quantize-base %s: error %v, want %q", tc.method, tc.q, err, tc.want)
		}
	}
}
