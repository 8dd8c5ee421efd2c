package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune/compare"
)

// TestCompareCommand runs `gotune compare` end to end with the real binary
// as the child of every run: one method fails (an injected bad setting),
// the others go on, and the constraint flags reach the recommendation.
func TestCompareCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cmp")
	code, stdout, stderr := gotuneCmd(t, "compare", "--model", tinyModel, "--train", trainPath, "--eval", evalPath, "--out", out,
		"--methods", "full,lora,adapter", "--seeds", "2", "--epochs", "1", "--max-len", "16", "--batch-size", "16",
		"--set", "adapter:adapter.leave_out=[0,1]", "--max-artifact-size", "20KB")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, compare.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var rep compare.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, m := range rep.Methods {
		status[m.Method] = m.Status
	}
	if status["full"] != compare.StatusOK || status["lora"] != compare.StatusOK || status["adapter"] != compare.StatusFailed {
		t.Errorf("statuses %v; want full and lora ok, adapter failed", status)
	}
	if rep.Runner != (compare.Child{}).Describe() || rep.Constraints.MaxArtifact != 20000 {
		t.Errorf("runner %q, constraints %+v", rep.Runner, rep.Constraints)
	}
	// Each run is reproducible with the recorded command, a gotune train.
	run := rep.Methods[1].Runs[0]
	if !strings.Contains(run.Command, " train --config ") || !strings.Contains(run.Command, "seed-42.yaml") {
		t.Errorf("run command %q", run.Command)
	}
	if out, err := exec.Command("sh", "-c", run.Command).CombinedOutput(); err != nil {
		t.Errorf("the report's command %s: %v\n%s", run.Command, err, out)
	}
	if rep.Recommendation.Method != "lora" {
		t.Errorf("recommended %q, want lora (full's folder is over 20KB)", rep.Recommendation.Method)
	}
	for _, want := range []string{"leaves no layer to adapt", "full is out: artefact", "Recommendation: lora", "report.html",
		"      train  [", "      eval  ["} { // each run's progress as it goes
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{compare.MarkdownFile, compare.HTMLFile, "full/seed-43/eval.json", "lora/seed-42.log", "lora/seed-42.yaml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// A second comparison into the same folder needs --overwrite.
	code, _, stderr = gotuneCmd(t, "compare", "--model", tinyModel, "--train", trainPath, "--out", out)
	if code == 0 || !strings.Contains(stderr, "--overwrite") {
		t.Errorf("rerun: exit %d, %s", code, stderr)
	}
}

func TestCompareBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--methods", "full,lorra"}, `unknown method "lorra" (available: all, full`},
		{[]string{"--max-memory", "2XB"}, `unknown unit "XB"`},
		{[]string{"--set", "lora:lora.rank=4"}, "lora.rank=4"},
		{[]string{"--metric", "loss", "--seeds", "0"}, "seeds must be ≥ 1"},
		{[]string{"--metric", "perplexity"}, `metric "perplexity" is not one of accuracy, macro_f1`},
		{[]string{"--task", "causal-lm"}, "task causal-lm (--task) needs a decoder model"},
	} {
		args := append([]string{"compare", "--model", tinyModel, "--train", trainPath, "--out", filepath.Join(t.TempDir(), "cmp")}, tc.args...)
		code, _, stderr := gotuneCmd(t, args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error with %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestCompareCausalLMFlags checks that the causal-LM settings reach every
// run's shared configuration.
func TestCompareCausalLMFlags(t *testing.T) {
	o, _, err := parseCompareFlags([]string{"--model", "m", "--train", "t.jsonl", "--task", "causal-lm", "--template", "alpaca",
		"--train-on-prompt", "--packing", "--metric", "perplexity"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if b := o.Base; b.Task != "causal-lm" || b.Template != "alpaca" || !b.TrainOnPrompt || !b.Packing || b.MetricForBest != "perplexity" {
		t.Errorf("shared config %+v", b)
	}
}
