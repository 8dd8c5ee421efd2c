package gotune_test

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/safetensors"
)

// TestQuantizeBaseRun trains LoRA on an NF4 base through gotune.Train: the
// adapter file has the same tensors as a float32 run's (nothing of the
// quantisation), and the adapter on the float32 base evaluates close to the
// run's own evaluation on the quantised base (loss within 0.05).
func TestQuantizeBaseRun(t *testing.T) {
	o := testmodel.Default()
	o.NoPooler, o.InitRange = true, 0.2
	model := testmodel.New(t, o)
	trainPath, evalPath := testmodel.Data(t, 64, 32)
	names := map[string][]string{}
	for _, q := range []string{"", "nf4"} {
		cfg := tinyConfig(t, model, trainPath, evalPath)
		cfg.Method, cfg.Epochs, cfg.Seed, cfg.QuantizeBase = "lora", 2, 7, q
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
		if q == "" {
			continue
		}
		var summary map[string]any
		readJSON(t, filepath.Join(cfg.Out, gotune.EvalFile), &summary)
		p, err := gotune.LoadPredictor(res.ModelDir, "")
		if err != nil {
			t.Fatal(err)
		}
		p.MaxLen, p.BatchSize = cfg.MaxLen, cfg.BatchSize
		met, err := p.Evaluate(evalPath, data.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		d := math.Abs(met["loss"] - summary["eval_loss"].(float64))
		t.Logf("eval loss on the NF4 base %.5f, on the float32 base %.5f", summary["eval_loss"], met["loss"])
		if d > 0.05 {
			t.Errorf("adapter on the float32 base: loss %v, on the NF4 base %v", met["loss"], summary["eval_loss"])
		}
	}
	if !slices.Equal(names[""], names["nf4"]) {
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
