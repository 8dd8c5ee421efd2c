package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune/internal/testmodel"
)

// TestEvalTakesRunSettings: eval and predict on a run's model folder read
// the data fields and max_len from the run's config.yaml, so a TSV with a
// "sentence" field (GLUE's) needs no flags restated, and eval reproduces
// the run's eval.json.
func TestEvalTakesRunSettings(t *testing.T) {
	dir := t.TempDir()
	tsv := func(name string, n int, seed uint64) string {
		var b strings.Builder
		b.WriteString("sentence\tgold\n")
		for _, e := range testmodel.Examples(n, seed) {
			fmt.Fprintf(&b, "%s\t%s\n", e.Text, e.Label)
		}
		path := filepath.Join(dir, name)
		writeFile(t, path, b.String())
		return path
	}
	train, dev := tsv("train.tsv", 64, 1), tsv("dev.tsv", 32, 2)
	run := filepath.Join(dir, "run")
	code, out, errOut := gotuneCmd(t, "train", "--model", tinyModel, "--train", train, "--eval", dev, "--out", run,
		"--text-field", "sentence", "--label-field", "gold", "--max-len", "12", "--epochs", "1", "--batch-size", "16")
	if code != 0 {
		t.Fatalf("train: %s\n%s", errOut, out)
	}
	model := filepath.Join(run, "model")
	code, out, errOut = gotuneCmd(t, "eval", "--model", model, "--data", dev, "--batch-size", "16")
	if code != 0 {
		t.Fatalf("eval without restating the fields: %s", errOut)
	}
	if !strings.Contains(errOut, "eval  [") || !strings.Contains(errOut, "it/s") || !strings.Contains(errOut, "ETA") {
		t.Errorf("eval shows no progress with rate and ETA:\n%s", errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var met, best map[string]float64
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &met); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(run, "eval.json"))
	var summary map[string]any
	if err := json.Unmarshal(b, &summary); err != nil {
		t.Fatal(err)
	}
	best = map[string]float64{"accuracy": summary["eval_accuracy"].(float64), "loss": summary["eval_loss"].(float64)}
	if met["accuracy"] != best["accuracy"] || abs(met["loss"]-best["loss"]) > 1e-6 {
		t.Errorf("eval %v, the run's eval.json %v", met, best)
	}
	outPath := filepath.Join(dir, "pred.jsonl")
	if code, _, errOut := gotuneCmd(t, "predict", "--model", model, "--input", dev, "--output", outPath); code != 0 {
		t.Fatalf("predict without restating the fields: %s", errOut)
	}
	// A field given on the command line still wins.
	if code, _, errOut := gotuneCmd(t, "eval", "--model", model, "--data", dev, "--text-field", "text"); code == 0 || !strings.Contains(errOut, `no "text" field`) {
		t.Errorf("--text-field text: exit %d, %s", code, errOut)
	}
}

// TestDemoRemovesItsTemporaryFolder: without --out the demo works in a
// temporary folder and removes it at the end.
func TestDemoRemovesItsTemporaryFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quick demo")
	}
	tmp := t.TempDir()
	cmd := exec.Command(binary, "demo", "--quick")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo --quick: %v\n%s", err, out)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "gotune-demo-*"))
	if len(left) > 0 || !strings.Contains(string(out), "removed the work folder") {
		t.Errorf("left behind %v\n%s", left, out)
	}
}
