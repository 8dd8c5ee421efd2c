package gotune_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/tokenizer"
	"github.com/gotune/gotune/train"
)

// tinyConfig is a run of the tiny model that learns its data in about a
// second: 8 steps per epoch.
func tinyConfig(t *testing.T, model, trainPath, evalPath string) gotune.Config {
	cfg := gotune.DefaultConfig()
	cfg.Model, cfg.Train, cfg.Eval, cfg.Out = model, trainPath, evalPath, filepath.Join(t.TempDir(), "run")
	cfg.Epochs, cfg.BatchSize, cfg.LR, cfg.MaxLen, cfg.WarmupRatio = 8, 16, 1e-2, 16, 0.1
	cfg.LoggingSteps, cfg.SaveSteps = 4, 5
	return cfg
}

// output is where runs report progress: the test log with -v, else nowhere.
func output() io.Writer {
	if testing.Verbose() {
		return os.Stderr
	}
	return io.Discard
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
	return out
}

// TestTrainEndToEnd runs a whole job through the library API and checks the
// run folder, then loads the kept model for evaluation and prediction.
func TestTrainEndToEnd(t *testing.T) {
	model := testmodel.New(t, testmodel.Default())
	trainPath, evalPath := testmodel.Data(t, 128, 32)
	cfg := tinyConfig(t, model, trainPath, evalPath)
	res, err := gotune.Train(context.Background(), cfg, output())
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 64 || res.TrainExamples != 128 || res.EvalExamples != 32 {
		t.Errorf("result: %d steps, %d/%d examples; want 64, 128/32", res.Steps, res.TrainExamples, res.EvalExamples)
	}
	if acc := res.Best["accuracy"]; acc < 0.8 {
		t.Errorf("best accuracy %.3f: the tiny task was not learnt", acc)
	}

	run := cfg.Out
	for _, f := range []string{gotune.ConfigFile, gotune.CommandFile, gotune.MetricsFile, gotune.PlotFile, gotune.EvalFile,
		"model/config.json", "model/model.safetensors", "model/vocab.txt", "model/tokenizer.json",
		"model/tokenizer_config.json", "model/special_tokens_map.json", "model/" + gotune.MethodInfoFile,
		gotune.CheckpointDirName + "/" + train.MetaFile, gotune.CheckpointDirName + "/" + train.StateFile} {
		if st, err := os.Stat(filepath.Join(run, f)); err != nil || st.Size() == 0 {
			t.Errorf("run folder: %s missing or empty (%v)", f, err)
		}
	}
	checkModes(t, run)
	cmd, _ := os.ReadFile(filepath.Join(run, gotune.CommandFile))
	if !strings.HasPrefix(string(cmd), "gotune train --model ") || !strings.Contains(string(cmd), "--epochs 8") ||
		!strings.HasSuffix(string(cmd), " --overwrite\n") { // the folder exists: the command must replace it
		t.Errorf("command.txt = %q", cmd)
	}
	recorded, err := gotune.LoadConfigFile(filepath.Join(run, gotune.ConfigFile), gotune.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if recorded.Epochs != 8 || recorded.LR != 1e-2 || recorded.Train != trainPath {
		t.Errorf("config.yaml: epochs %d lr %g train %s", recorded.Epochs, recorded.LR, recorded.Train)
	}

	kinds := map[string]int{}
	for _, r := range readLines(t, filepath.Join(run, gotune.MetricsFile)) {
		k, _ := r["kind"].(string)
		kinds[k]++
		if _, ok := r["step"].(float64); !ok {
			t.Errorf("metrics record without step: %v", r)
		}
		if k == "train" && r["loss"] == nil {
			t.Errorf("train record without loss: %v", r)
		}
		if k == "eval" && r["eval_accuracy"] == nil {
			t.Errorf("eval record without eval_accuracy: %v", r)
		}
	}
	if kinds["train"] != 16 || kinds["eval"] != 8 {
		t.Errorf("metrics.jsonl: %d train and %d eval records, want 16 and 8", kinds["train"], kinds["eval"])
	}
	if f, err := os.Open(filepath.Join(run, gotune.PlotFile)); err == nil {
		if _, err := png.Decode(f); err != nil {
			t.Errorf("loss.png: %v", err)
		}
		f.Close()
	}

	var summary map[string]any
	readJSON(t, filepath.Join(run, gotune.EvalFile), &summary)
	evalAcc, _ := summary["eval_accuracy"].(float64)
	if evalAcc != res.Best["accuracy"] {
		t.Errorf("eval.json eval_accuracy %v, Result %v", summary["eval_accuracy"], res.Best["accuracy"])
	}
	var mcfg struct {
		ID2Label      map[string]string `json:"id2label"`
		Architectures []string          `json:"architectures"`
	}
	readJSON(t, filepath.Join(run, "model/config.json"), &mcfg)
	if mcfg.ID2Label["0"] != "neg" || mcfg.ID2Label["1"] != "pos" || !slices.Equal(mcfg.Architectures, []string{"BertForSequenceClassification"}) {
		t.Errorf("model/config.json: id2label %v architectures %v", mcfg.ID2Label, mcfg.Architectures)
	}

	p, err := gotune.LoadPredictor(res.ModelDir, "")
	if err != nil {
		t.Fatal(err)
	}
	p.MaxLen, p.BatchSize = cfg.MaxLen, cfg.BatchSize // the run's evaluation batches
	met, err := p.Evaluate(evalPath, data.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if met["accuracy"] != evalAcc {
		t.Errorf("Evaluate accuracy %v, eval.json %v", met["accuracy"], evalAcc)
	}
	if d := math.Abs(met["loss"] - summary["eval_loss"].(float64)); d > 1e-6 {
		t.Errorf("Evaluate loss %v, eval.json %v", met["loss"], summary["eval_loss"])
	}

	t.Run("predict", func(t *testing.T) { testPredict(t, p, model, evalPath) })
}

// checkModes fails unless every file under dir has mode 0644 and every
// folder 0755 (less what the umask removes), as other users and tools
// expect of a run folder.
func checkModes(t *testing.T, dir string) {
	t.Helper()
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = fs.FileMode(0o755) &^ fs.FileMode(umask)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testPredict checks PredictFile on text records and on the same records
// pre-tokenised.
func testPredict(t *testing.T, p *gotune.Predictor, model, evalPath string) {
	dir := t.TempDir()
	out := filepath.Join(dir, "pred.jsonl")
	if err := p.PredictFile(evalPath, out, data.DefaultOptions(), nil); err != nil {
		t.Fatal(err)
	}
	checkModes(t, out)
	in := readLines(t, evalPath)
	got := readLines(t, out)
	if len(got) != len(in) {
		t.Fatalf("%d predictions for %d records", len(got), len(in))
	}
	tok, err := tokenizer.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	var ids []map[string]any
	for i, r := range got {
		if r["id"] != in[i]["id"] || r["text"] != in[i]["text"] {
			t.Errorf("record %d: input fields not echoed: %v", i, r)
		}
		probs, _ := r["probs"].(map[string]any)
		logits, _ := r["logits"].([]any)
		if len(probs) != 2 || len(logits) != 2 {
			t.Fatalf("record %d: probs %v logits %v", i, r["probs"], r["logits"])
		}
		want := "neg"
		if logits[1].(float64) > logits[0].(float64) {
			want = "pos"
		}
		if r["label"] != want || math.Abs(probs["neg"].(float64)+probs["pos"].(float64)-1) > 1e-9 {
			t.Errorf("record %d: label %v probs %v logits %v", i, r["label"], probs, logits)
		}
		enc := tok.Encode(in[i]["text"].(string), "", p.MaxLen)
		ids = append(ids, map[string]any{"id": in[i]["id"], "input_ids": enc.IDs})
	}

	// The same records as input_ids give the same logits.
	idsPath, idsOut := filepath.Join(dir, "ids.jsonl"), filepath.Join(dir, "ids-pred.jsonl")
	if err := testmodel.WriteJSONL(idsPath, ids); err != nil {
		t.Fatal(err)
	}
	if err := p.PredictFile(idsPath, idsOut, data.DefaultOptions(), nil); err != nil {
		t.Fatal(err)
	}
	got2 := readLines(t, idsOut)
	if len(got2) != len(got) {
		t.Fatalf("%d predictions from input_ids, want %d", len(got2), len(got))
	}
	for i := range got2 {
		if got2[i]["label"] != got[i]["label"] || got2[i]["id"] != got[i]["id"] || got2[i]["input_ids"] == nil {
			t.Errorf("record %d: from input_ids %v, from text %v", i, got2[i], got[i])
		}
		a, b := got[i]["logits"].([]any), got2[i]["logits"].([]any)
		for c := range a {
			if d := math.Abs(a[c].(float64) - b[c].(float64)); d > 1e-5 {
				t.Errorf("record %d: logit %d differs by %g between text and input_ids", i, c, d)
			}
		}
	}
}

// stopAfter is a context that reports Canceled from the nth call of Err on:
// Train checks ctx.Err once after every optimizer step, so this interrupts
// a run after exactly n steps, as Ctrl-C would.
type stopAfter struct {
	context.Context
	n, calls int
}

func (c *stopAfter) Err() error {
	c.calls++
	if c.calls >= c.n {
		return context.Canceled
	}
	return nil
}

// weightDiff compares two model.safetensors files: whether they are equal
// byte for byte, and the largest absolute difference of any weight.
func weightDiff(t *testing.T, a, b string) (bitwise bool, maxDiff float64) {
	t.Helper()
	ab, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	fa, err := safetensors.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := safetensors.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(fa.Tensors) != len(fb.Tensors) {
		t.Fatalf("%s has %d tensors, %s %d", a, len(fa.Tensors), b, len(fb.Tensors))
	}
	for _, ta := range fa.Tensors {
		tb := fb.Get(ta.Name)
		if tb == nil || len(tb.F32) != len(ta.F32) {
			t.Fatalf("tensor %s missing or reshaped in %s", ta.Name, b)
		}
		for i := range ta.F32 {
			maxDiff = math.Max(maxDiff, math.Abs(float64(ta.F32[i]-tb.F32[i])))
		}
	}
	return bytes.Equal(ab, bb), maxDiff
}

// TestResumeInProcess interrupts runs after a number of optimizer steps,
// resumes them, and compares the kept model with an uninterrupted run of
// the same seed (dropout on, so the saved random state matters).
func TestResumeInProcess(t *testing.T) {
	model := testmodel.New(t, testmodel.Default())
	trainPath, evalPath := testmodel.Data(t, 96, 32) // 6 batches of 16
	for _, tc := range []struct {
		name      string
		gradAccum int
		epochs    int
		stop      int // interrupt after this many optimizer steps
	}{
		{"mid-epoch", 1, 4, 9},
		{"epoch-end", 1, 4, 12},
		{"between-saves", 1, 4, 3},
		{"grad-accum", 2, 8, 5},
		{"last-step", 1, 4, 24}, // checkpointed after the last step, before the last epoch's evaluation
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(t, model, trainPath, evalPath)
			cfg.Epochs, cfg.GradAccum = tc.epochs, tc.gradAccum
			ref := cfg
			ref.Out = filepath.Join(t.TempDir(), "ref")
			want, err := gotune.Train(context.Background(), ref, output())
			if err != nil {
				t.Fatal(err)
			}

			_, err = gotune.Train(&stopAfter{Context: context.Background(), n: tc.stop}, cfg, output())
			if !errors.Is(err, gotune.ErrInterrupted) {
				t.Fatalf("interrupted run: err = %v, want ErrInterrupted", err)
			}
			var st struct {
				Step int `json:"global_step"`
			}
			readJSON(t, filepath.Join(cfg.Out, gotune.CheckpointDirName, train.MetaFile), &st)
			if st.Step != tc.stop {
				t.Errorf("checkpoint at step %d, want %d", st.Step, tc.stop)
			}
			if _, err := gotune.Train(context.Background(), cfg, output()); err == nil || !strings.Contains(err.Error(), "--resume") {
				t.Errorf("rerun without Resume: err = %v, want a hint to --resume", err)
			}
			cfg.Resume = true
			got, err := gotune.Train(context.Background(), cfg, output())
			if err != nil {
				t.Fatal(err)
			}
			if got.Steps != want.Steps || got.BestStep != want.BestStep || fmt.Sprint(got.Best) != fmt.Sprint(want.Best) {
				t.Errorf("resumed: %d steps, best %v at %d; uninterrupted: %d steps, best %v at %d",
					got.Steps, got.Best, got.BestStep, want.Steps, want.Best, want.BestStep)
			}
			// The kept (best) model, and the last checkpoint: final weights,
			// AdamW moments and random state.
			for _, f := range []string{"model/model.safetensors", gotune.CheckpointDirName + "/" + train.StateFile} {
				bitwise, d := weightDiff(t, filepath.Join(ref.Out, f), filepath.Join(cfg.Out, f))
				if !bitwise {
					t.Errorf("%s: resumed run differs from the uninterrupted one: max |diff| %g", f, d)
				}
			}
			// metrics.jsonl logs each record once, as the uninterrupted run's.
			seen := map[string]bool{}
			for _, r := range readLines(t, filepath.Join(cfg.Out, gotune.MetricsFile)) {
				k := fmt.Sprint(r["kind"], r["step"])
				if seen[k] {
					t.Errorf("metrics.jsonl logs %s twice", k)
				}
				seen[k] = true
			}
		})
	}
}

// TestLoadConfigFile checks that a YAML file sets values over the base and
// that an unknown key is a one-line error naming file and line.
func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		check      func(gotune.Config) bool
		wantErr    string
	}{
		{"values", "epochs: 5\nlr: 0.001\nschedule: cosine\n", func(c gotune.Config) bool {
			return c.Epochs == 5 && c.LR == 0.001 && c.Schedule == "cosine" && c.BatchSize == 32
		}, ""},
		{"empty", "", func(c gotune.Config) bool { return reflect.DeepEqual(c, gotune.DefaultConfig()) }, ""},
		{"unknown-key", "epochs: 5\n\nlearning_rate: 0.1\n", nil, `unknown-key.yaml:3: unknown key "learning_rate"`},
		{"bad-type", "epochs: many\n", nil, "bad-type.yaml:1: cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := gotune.LoadConfigFile(path, gotune.DefaultConfig())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %q, want one line containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

// TestMaxStepsStopsEpochs checks that reaching max_steps ends the run: no
// further (empty) epochs and no repeated evaluations of the same model.
func TestMaxStepsStopsEpochs(t *testing.T) {
	model := testmodel.New(t, testmodel.Default())
	trainPath, evalPath := testmodel.Data(t, 32, 16)
	cfg := tinyConfig(t, model, trainPath, evalPath)
	cfg.Epochs, cfg.MaxSteps = 10, 3
	res, err := gotune.Train(context.Background(), cfg, output())
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 3 {
		t.Fatalf("%d steps, want max_steps 3", res.Steps)
	}
	evals := 0
	for _, r := range readLines(t, filepath.Join(cfg.Out, gotune.MetricsFile)) {
		if r["kind"] == "eval" {
			evals++
		}
	}
	// 32 examples in batches of 16: 2 steps per epoch, so the 3 steps touch
	// 2 epochs, each evaluated once; the 8 epochs left are not run.
	if evals != 2 {
		t.Fatalf("%d evaluations for max_steps 3 over 2 epochs, want 2", evals)
	}
}
