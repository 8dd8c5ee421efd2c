package gotune_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/generate"
	"github.com/gotune/gotune/internal/testmodel"
)

// tinyDecoder writes the tiny random LLaMA of testmodel.WriteDecoder (2
// layers, hidden 32, byte-level SentencePiece tokenizer) into a temporary
// folder.
func tinyDecoder(t *testing.T) string { return testmodel.NewDecoder(t) }

// tinyRun is the configuration of a small run on the tiny decoder: the
// data file evaluates itself, batch 8, seed 3; LoRA r 8, alpha 16 on every
// linear layer; houlsby adapters with reduction 2.
func tinyRun(t *testing.T, model, train, method string, lr float64, epochs, maxLen int) gotune.Config {
	cfg := gotune.DefaultConfig()
	cfg.Model, cfg.Train, cfg.Eval, cfg.Out = model, train, train, filepath.Join(t.TempDir(), "run")
	cfg.Method, cfg.LR, cfg.Epochs, cfg.BatchSize, cfg.MaxLen, cfg.Seed = method, lr, epochs, 8, maxLen, 3
	switch method {
	case "lora":
		cfg.LoRA.R, cfg.LoRA.Alpha, cfg.LoRA.Targets = 8, 16, []string{"all-linear"}
	case "adapter":
		cfg.Adapter.Placement, cfg.Adapter.ReductionFactor = "houlsby", 2
	}
	return cfg
}

func writeLines(t *testing.T, name string, recs []map[string]any) string {
	t.Helper()
	var sb strings.Builder
	for _, r := range recs {
		b, _ := json.Marshal(r)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// greedy returns the model's greedy continuation of prompt.
func greedy(t *testing.T, m *causallm.Model, prompt string, n int) string {
	t.Helper()
	be, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	gen, noCache := m.Generator(be)
	ids, err := m.EncodePrompt(prompt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gen.Generate([][]int{ids}, generate.Options{MaxNewTokens: n, StopTokens: m.EOS, NoCache: noCache}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.Continuation(ids, res.New[0])
}

// TestCausalLMTrainGenerate instruction-tunes a tiny random decoder on one
// prompt/completion mapping with full fine-tuning, LoRA and bottleneck
// adapters: the task is chosen from the data, the eval loss falls, and the
// saved model (full) or adapter (LoRA, AdapterHub bottleneck adapters)
// generates the completion and evaluates to the run's loss.
func TestCausalLMTrainGenerate(t *testing.T) {
	model := tinyDecoder(t)
	var recs []map[string]any
	for i := 0; i < 16; i++ {
		recs = append(recs, map[string]any{"prompt": fmt.Sprintf("Q%d", i%4), "completion": "hi!"})
	}
	train := writeLines(t, "train.jsonl", recs)
	for _, tc := range []struct {
		method string
		lr     float64
	}{{"full", 1e-2}, {"lora", 3e-2}, {"adapter", 3e-2}} {
		t.Run(tc.method, func(t *testing.T) {
			cfg := tinyRun(t, model, train, tc.method, tc.lr, 30, 32)
			base, err := gotune.EvaluateCausalLM(model, train, gotune.LMEvalOptions{BatchSize: 8, MaxLen: 32})
			if err != nil {
				t.Fatal(err)
			}
			res, err := gotune.Train(context.Background(), cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Best["loss"] > base["loss"]/3 {
				t.Fatalf("eval loss %.3f after training, %.3f before: did not learn", res.Best["loss"], base["loss"])
			}
			if p := res.Best["perplexity"]; math.Abs(p-math.Exp(res.Best["loss"])) > 1e-9 {
				t.Errorf("perplexity %.6f, want exp(loss) = %.6f", p, math.Exp(res.Best["loss"]))
			}
			if !gotune.IsCausalLM(res.ModelDir) {
				t.Errorf("%s is not recognised as a causal LM", res.ModelDir)
			}
			m, err := causallm.LoadTrained(res.ModelDir, "", causallm.CausalLM, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(greedy(t, m, "Q1", 8)); got != "hi!" {
				t.Errorf("generated %q, want %q", got, "hi!")
			}
			met, err := gotune.EvaluateCausalLM(res.ModelDir, train, gotune.LMEvalOptions{BatchSize: 8, MaxLen: 32})
			if err != nil {
				t.Fatal(err)
			}
			if d := met["loss"] - res.Best["loss"]; d > 1e-4 || d < -1e-4 {
				t.Errorf("reloaded eval loss %.6f, run's %.6f", met["loss"], res.Best["loss"])
			}
		})
	}
}

// TestChooseTask checks the task-selection rule.
func TestChooseTask(t *testing.T) {
	model := tinyDecoder(t)
	enc := "testdata/fixtures/bert-seqcls"
	cases := []struct {
		model string
		rec   map[string]any
		task  string
		want  string
	}{
		{model, map[string]any{"instruction": "x", "output": "y"}, "", gotune.TaskCausalLM},
		{model, map[string]any{"text": "x"}, "", gotune.TaskCausalLM},
		{model, map[string]any{"text": "x", "label": "a"}, "", gotune.TaskClassify},
		{enc, map[string]any{"text": "x", "label": "a"}, "", gotune.TaskClassify},
		{enc, map[string]any{"messages": []any{}}, "", gotune.TaskCausalLM},
		{model, map[string]any{"text": "x"}, gotune.TaskClassify, gotune.TaskClassify},
	}
	for i, c := range cases {
		cfg := gotune.DefaultConfig()
		cfg.Model, cfg.Train, cfg.Task = c.model, writeLines(t, "d.jsonl", []map[string]any{c.rec}), c.task
		if got, why := gotune.ChooseTask(&cfg); got != c.want {
			t.Errorf("case %d: task %s (%s), want %s", i, got, why, c.want)
		}
	}
}

// TestDecoderClassify fine-tunes the tiny decoder as a sequence classifier
// (a new score head) and checks the saved LlamaForSequenceClassification
// folder.
func TestDecoderClassify(t *testing.T) {
	model := tinyDecoder(t)
	var recs []map[string]any
	for i := 0; i < 24; i++ {
		recs = append(recs, map[string]any{"text": strings.Repeat("ab", 1+i%3), "label": []string{"short", "mid", "long"}[i%3]})
	}
	train := writeLines(t, "train.jsonl", recs)
	for _, tc := range []struct {
		method string
		lr     float64
	}{{"full", 1e-2}, {"lora", 3e-2}, {"adapter", 3e-2}} {
		t.Run(tc.method, func(t *testing.T) {
			cfg := tinyRun(t, model, train, tc.method, tc.lr, 10, 16)
			res, err := gotune.Train(context.Background(), cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Best["accuracy"] < 0.99 {
				t.Errorf("accuracy %.3f on the training data", res.Best["accuracy"])
			}
			if gotune.IsCausalLM(res.ModelDir) || !gotune.IsDecoderClassifier(res.ModelDir) {
				t.Errorf("%s: causal LM %v, decoder classifier %v", res.ModelDir, gotune.IsCausalLM(res.ModelDir), gotune.IsDecoderClassifier(res.ModelDir))
			}
			// The saved model evaluates to the run's best evaluation and
			// predicts every label right.
			d, err := gotune.LoadDecoderClassifier(res.ModelDir, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(d.Model.Labels(), ","); got != "long,mid,short" {
				t.Errorf("reloaded labels %s", got)
			}
			d.MaxLen = 16
			met, err := d.Evaluate(train, data.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(met["loss"]-res.Best["loss"]) > 1e-5 || met["accuracy"] != res.Best["accuracy"] {
				t.Errorf("reloaded: loss %.6f accuracy %.3f; the run's best: loss %.6f accuracy %.3f", met["loss"], met["accuracy"], res.Best["loss"], res.Best["accuracy"])
			}
			out := filepath.Join(t.TempDir(), "pred.jsonl")
			if err := d.PredictFile(train, out, data.Options{}, nil); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(out)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != len(recs) {
				t.Fatalf("%d predictions for %d records", len(lines), len(recs))
			}
			for i, l := range lines {
				var p struct{ Label string }
				if err := json.Unmarshal([]byte(l), &p); err != nil || p.Label != recs[i]["label"] {
					t.Errorf("prediction %d: %s, want label %v", i, l, recs[i]["label"])
				}
			}
		})
	}
}
