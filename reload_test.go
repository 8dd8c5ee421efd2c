package gotune_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/safetensors"
)

// TestReloadReproducesEval: for every method, the saved model of a run on a
// base without a pooler (a masked-LM checkpoint: gotune initialises the
// pooler with the run's seed) evaluates exactly as the run's eval.json
// says. The artefact must carry every weight the model depends on that the
// base lacks; loading must not initialise it anew. A LoRA run on an NF4
// base (--quantize-base) reloads on the float32 base: its loss within 0.05.
func TestReloadReproducesEval(t *testing.T) {
	o := testmodel.Default()
	o.NoPooler, o.InitRange = true, 0.2
	model := testmodel.New(t, o)
	trainPath, evalPath := testmodel.Data(t, 64, 32)
	for _, tc := range []struct {
		name string
		set  func(c *gotune.Config)
	}{
		{"full", func(c *gotune.Config) { c.Method = "full" }},
		{"freeze", func(c *gotune.Config) { c.Method = "freeze" }},
		{"feature-pooler", func(c *gotune.Config) { c.Method, c.Feature.Pooling = "feature", "pooler" }},
		{"lora", func(c *gotune.Config) { c.Method = "lora" }},
		{"lora-all-linear", func(c *gotune.Config) { c.Method, c.LoRA.Targets = "lora", []string{"all-linear"} }},
		{"lora-save-pooler", func(c *gotune.Config) { c.Method, c.LoRA.ModulesToSave = "lora", []string{"pooler"} }},
		{"adapter", func(c *gotune.Config) { c.Method = "adapter" }},
		{"ptuning", func(c *gotune.Config) { c.Method, c.PTuning.NumVirtualTokens = "ptuning", 4 }},
		{"prompt", func(c *gotune.Config) { c.Method, c.PTuning.NumVirtualTokens = "prompt", 4 }},
		// Trained on an NF4 base, reloaded on the float32 one: close, not equal.
		{"lora-nf4", func(c *gotune.Config) {
			c.Method, c.LoRA.Targets, c.QuantizeBase = "lora", []string{"all-linear"}, "nf4"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(t, model, trainPath, evalPath)
			cfg.Epochs, cfg.Seed = 2, 7
			tc.set(&cfg)
			res, err := gotune.Train(context.Background(), cfg, output())
			if err != nil {
				t.Fatal(err)
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
			tol := 1e-6
			if cfg.QuantizeBase != "" {
				tol = 0.05
				t.Logf("eval loss on the %s base %.5f, on the float32 base %.5f", cfg.QuantizeBase, summary["eval_loss"], met["loss"])
			} else if met["accuracy"] != summary["eval_accuracy"] {
				t.Errorf("reloaded: accuracy %v; eval.json: accuracy %v", met["accuracy"], summary["eval_accuracy"])
			}
			if math.Abs(met["loss"]-summary["eval_loss"].(float64)) > tol {
				t.Errorf("reloaded: accuracy %v loss %v; eval.json: accuracy %v loss %v", met["accuracy"], met["loss"], summary["eval_accuracy"], summary["eval_loss"])
			}
		})
	}
	t.Run("lora-pooler-names", func(t *testing.T) {
		// PEFT's names: the pooler is in modules_to_save and saved as
		// base_model.model.bert.pooler.dense.*.
		cfg := tinyConfig(t, model, trainPath, evalPath)
		cfg.Method, cfg.MaxSteps = "lora", 1
		res, err := gotune.Train(context.Background(), cfg, output())
		if err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.ReadFile(filepath.Join(res.ModelDir, "adapter_model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"base_model.model.bert.pooler.dense.weight", "base_model.model.bert.pooler.dense.bias", "base_model.model.classifier.weight"} {
			if f.Get(n) == nil {
				t.Errorf("adapter_model.safetensors lacks %s", n)
			}
		}
		var conf struct {
			ModulesToSave []string `json:"modules_to_save"`
		}
		readJSON(t, filepath.Join(res.ModelDir, "adapter_config.json"), &conf)
		found := false
		for _, m := range conf.ModulesToSave {
			found = found || m == "bert.pooler.dense"
		}
		if !found {
			t.Errorf("modules_to_save %v lacks the pooler", conf.ModulesToSave)
		}
	})
}
