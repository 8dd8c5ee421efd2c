package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/train"
)

// Built once by TestMain: the gotune binary and a tiny model with data.
var (
	binary                     string
	tinyModel                  string
	trainPath, evalPath, fixes string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gotune-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "gotune")
		build := exec.Command("go", "build", "-o", binary, ".")
		build.Env = append(os.Environ(), "GOEXPERIMENT=simd")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building gotune: %v\n%s", err, out)
			return 1
		}
		tinyModel, fixes = filepath.Join(dir, "tiny-bert"), dir
		trainPath, evalPath = filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "eval.jsonl")
		if err := testmodel.Write(tinyModel, testmodel.Default()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := testmodel.WriteJSONL(trainPath, testmodel.Examples(64, 1)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := testmodel.WriteJSONL(evalPath, testmodel.Examples(16, 2)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// copyModel copies the tiny model into a new folder of t and returns it.
func copyModel(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "model")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(tinyModel)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(tinyModel, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// gotuneCmd runs the binary and returns its exit code, stdout and stderr.
func gotuneCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// TestBadInputs checks that each bad input ends the command with a one-line
// error naming the culprit, a non-zero exit code and no panic.
func TestBadInputs(t *testing.T) {
	base := func(model, out string) []string {
		return []string{"train", "--model", model, "--train", trainPath, "--eval", evalPath, "--out", out, "--epochs", "1"}
	}
	for _, tc := range []struct {
		name string
		// args returns the command line; dir is a new folder for the case.
		args func(t *testing.T, dir string) []string
		// want are substrings of the error line (after the "gotune train: " prefix).
		want []string
	}{
		{"missing model folder", func(t *testing.T, dir string) []string {
			return base(filepath.Join(dir, "no-such-model"), filepath.Join(dir, "run"))
		}, []string{"no-such-model", "does not exist"}},
		{"config without model_type", func(t *testing.T, dir string) []string {
			m := copyModel(t)
			var cfg map[string]any
			b, _ := os.ReadFile(filepath.Join(m, "config.json"))
			json.Unmarshal(b, &cfg)
			delete(cfg, "model_type")
			b, _ = json.Marshal(cfg)
			writeFile(t, filepath.Join(m, "config.json"), string(b))
			return base(m, filepath.Join(dir, "run"))
		}, []string{"config.json", `"model_type"`}},
		{"truncated safetensors", func(t *testing.T, dir string) []string {
			m := copyModel(t)
			p := filepath.Join(m, "model.safetensors")
			b, _ := os.ReadFile(p)
			writeFile(t, p, string(b[:len(b)/3]))
			return base(m, filepath.Join(dir, "run"))
		}, []string{"model.safetensors", "truncated"}},
		{"safetensors header longer than file", func(t *testing.T, dir string) []string {
			m := copyModel(t)
			p := filepath.Join(m, "model.safetensors")
			b, _ := os.ReadFile(p)
			n := uint64(len(b) * 4)
			for i := range 8 {
				b[i] = byte(n >> (8 * i))
			}
			writeFile(t, p, string(b))
			return base(m, filepath.Join(dir, "run"))
		}, []string{"model.safetensors", "header length", "larger than the file"}},
		{"jsonl line not JSON", func(t *testing.T, dir string) []string {
			p := writeFile(t, filepath.Join(dir, "bad.jsonl"), `{"text": "good kabo", "label": "pos"}`+"\n\nnot json at all\n")
			return []string{"train", "--model", tinyModel, "--train", p, "--eval", evalPath, "--out", filepath.Join(dir, "run")}
		}, []string{"bad.jsonl:3:", "not valid JSON"}},
		{"missing label field", func(t *testing.T, dir string) []string {
			p := writeFile(t, filepath.Join(dir, "nolabel.jsonl"), `{"text": "good kabo", "label": "pos"}`+"\n"+`{"text": "bad kabo"}`+"\n")
			return []string{"train", "--model", tinyModel, "--train", p, "--eval", evalPath, "--out", filepath.Join(dir, "run")}
		}, []string{"nolabel.jsonl:2:", `"label"`}},
		{"eval label unseen in train", func(t *testing.T, dir string) []string {
			p := writeFile(t, filepath.Join(dir, "dev.jsonl"), `{"text": "good kabo", "label": "pos"}`+"\n"+`{"text": "meh kabo", "label": "meh"}`+"\n")
			return []string{"train", "--model", tinyModel, "--train", trainPath, "--eval", p, "--out", filepath.Join(dir, "run")}
		}, []string{"dev.jsonl:2:", `"meh"`, "neg, pos"}},
		{"out is an existing run", func(t *testing.T, dir string) []string {
			out := filepath.Join(dir, "run")
			os.MkdirAll(out, 0o755)
			writeFile(t, filepath.Join(out, "config.yaml"), "epochs: 1\n")
			return base(tinyModel, out)
		}, []string{"run", "--resume", "--overwrite"}},
		{"unknown method", func(t *testing.T, dir string) []string {
			return append(base(tinyModel, filepath.Join(dir, "run")), "--method", "no-such-method")
		}, []string{`"no-such-method"`, "full"}},
		{"unknown config key", func(t *testing.T, dir string) []string {
			c := writeFile(t, filepath.Join(dir, "run.yaml"), "epochs: 2\n# comment\nlearning_rate: 0.1\n")
			return append([]string{"train", "--config", c}, base(tinyModel, filepath.Join(dir, "run"))[1:]...)
		}, []string{"run.yaml:3:", `"learning_rate"`}},
		{"resume without checkpoint", func(t *testing.T, dir string) []string {
			return append(base(tinyModel, filepath.Join(dir, "run")), "--resume")
		}, []string{"--resume", "run"}},
		{"eval of a model without head", func(t *testing.T, dir string) []string {
			return []string{"eval", "--model", tinyModel, "--data", evalPath}
		}, []string{"tiny-bert", "config.json", "id2label"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := gotuneCmd(t, tc.args(t, t.TempDir())...)
			if code == 0 {
				t.Fatalf("exit code 0, stderr %q", stderr)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 || strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Fatalf("stderr is not one error line:\n%s", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error %q does not mention %q", lines[0], w)
				}
			}
			t.Logf("exit %d: %s", code, lines[0])
		})
	}
}

// TestParseTrainFlags checks the precedence defaults < --config < flags.
func TestParseTrainFlags(t *testing.T) {
	dir := t.TempDir()
	yaml := writeFile(t, filepath.Join(dir, "run.yaml"), "model: yaml-model\nepochs: 7\nlr: 0.001\nbatch_size: 8\nschedule: cosine\n")
	for _, tc := range []struct {
		name  string
		args  []string
		check func(c gotune.Config) string
	}{
		{"defaults", []string{"--model", "m"}, func(c gotune.Config) string {
			d := gotune.DefaultConfig()
			d.Model = "m"
			if !reflect.DeepEqual(c, d) {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{"config file", []string{"--config", yaml}, func(c gotune.Config) string {
			if c.Model != "yaml-model" || c.Epochs != 7 || c.LR != 0.001 || c.BatchSize != 8 || c.Schedule != "cosine" || c.MaxLen != 128 {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{"flags override", []string{"--epochs", "2", "--config", yaml, "--lr", "0.5", "--resume"}, func(c gotune.Config) string {
			if c.Model != "yaml-model" || c.Epochs != 2 || c.LR != 0.5 || c.BatchSize != 8 || !c.Resume {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{"flag set to the default still overrides", []string{"--config", yaml, "--batch-size", "32"}, func(c gotune.Config) string {
			if c.BatchSize != 32 || c.Epochs != 7 {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseTrainFlags(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Errorf("config: %s", msg)
			}
		})
	}
	bad := writeFile(t, filepath.Join(dir, "bad.yaml"), "epochs: 1\nepoch: 2\n")
	_, err := parseTrainFlags([]string{"--config", bad}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:2:") || !strings.Contains(err.Error(), `"epoch"`) || strings.Contains(err.Error(), "\n") {
		t.Errorf("unknown key: err = %v, want one line naming bad.yaml:2 and the key", err)
	}
}

// TestResumeAfterKill starts a training run, kills it with SIGKILL once its
// first checkpoint exists, resumes it, and compares the result with an
// uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three times")
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "train.jsonl")
	if err := testmodel.WriteJSONL(big, testmodel.Examples(384, 3)); err != nil {
		t.Fatal(err)
	}
	args := func(out string) []string {
		return []string{"train", "--model", tinyModel, "--train", big, "--eval", evalPath, "--out", out,
			"--epochs", "4", "--batch-size", "16", "--lr", "0.01", "--max-len", "16", "--save-steps", "10", "--logging-steps", "5"}
	}
	ref, out := filepath.Join(dir, "ref"), filepath.Join(dir, "run")
	start := time.Now()
	if code, _, stderr := gotuneCmd(t, args(ref)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", code, stderr)
	}
	t.Logf("uninterrupted run: %v", time.Since(start))

	var log bytes.Buffer
	cmd := exec.Command(binary, args(out)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(out, gotune.CheckpointDirName, train.MetaFile)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(state); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no checkpoint after 15 s:\n%s", log.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the run finished before it could be killed; make it longer")
	}
	if _, err := os.Stat(filepath.Join(out, gotune.EvalFile)); err == nil {
		t.Fatalf("the run wrote %s before it was killed; make it longer", gotune.EvalFile)
	}
	var st struct {
		Step int `json:"global_step"`
	}
	if b, err := os.ReadFile(state); err == nil {
		json.Unmarshal(b, &st)
	}
	t.Logf("killed after the checkpoint of step %d", st.Step)

	code, stdout, stderr := gotuneCmd(t, append(args(out), "--resume")...)
	if code != 0 {
		t.Fatalf("resumed run: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "resuming from") {
		t.Errorf("resumed run did not say it resumed:\n%s", stdout)
	}
	for _, f := range []string{"model/model.safetensors", gotune.CheckpointDirName + "/" + train.StateFile, gotune.EvalFile} {
		a, err := os.ReadFile(filepath.Join(ref, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == gotune.EvalFile {
			a, b = dropTimes(t, a), dropTimes(t, b)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the resumed run differs from the uninterrupted one", f)
		}
	}
	// The records logged between the last checkpoint and the kill are not
	// repeated: training steps in metrics.jsonl strictly increase.
	recs, err := runlog.ReadMetrics(filepath.Join(out, gotune.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	last := -1.0
	for _, r := range recs {
		if r["kind"] != "train" {
			continue
		}
		if s := r["step"].(float64); s <= last {
			t.Fatalf("metrics.jsonl repeats training step %v after the resume", s)
		} else {
			last = s
		}
	}
}

// dropTimes removes the fields of eval.json that measure time or memory.
func dropTimes(t *testing.T, b []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "train_seconds")
	delete(m, "peak_rss_bytes")
	out, _ := json.Marshal(m)
	return out
}
