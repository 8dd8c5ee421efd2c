package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoRACommands trains a LoRA run, then evaluates and predicts from its
// model folder without restating the method, merges it, combines it, and
// predicts with two adapters on one base.
func TestLoRACommands(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	code, out, errOut := gotuneCmd(t, "train", "--model", tinyModel, "--train", trainPath, "--eval", evalPath, "--out", run,
		"--epochs", "2", "--batch-size", "16", "--lr", "1e-2", "--max-len", "16", "--method", "lora",
		"--lora-r", "4", "--lora-alpha", "8", "--lora-targets", "query,value", "--loraplus-lr-ratio", "4")
	if code != 0 {
		t.Fatalf("train: %s\n%s", errOut, out)
	}
	if !strings.Contains(out, "lora: r=4 alpha=8") {
		t.Errorf("the run log does not describe the adapter:\n%s", out)
	}
	model := filepath.Join(run, "model")
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "gotune.json"} {
		if _, err := os.Stat(filepath.Join(model, f)); err != nil {
			t.Errorf("run model folder lacks %s", f)
		}
	}
	eval := func(args ...string) map[string]float64 {
		t.Helper()
		code, out, errOut := gotuneCmd(t, append([]string{"eval", "--data", evalPath, "--max-len", "16"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v: %s", args, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var met map[string]float64
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &met); err != nil {
			t.Fatal(err)
		}
		return met
	}
	adapterMet := eval("--model", model)
	if m := eval("--model", model, "--base", tinyModel); m["loss"] != adapterMet["loss"] {
		t.Errorf("--base: loss %g vs %g", m["loss"], adapterMet["loss"])
	}

	merged := filepath.Join(dir, "merged")
	if code, _, errOut := gotuneCmd(t, "merge", "--model", tinyModel, "--adapter", model, "--out", merged); code != 0 {
		t.Fatalf("merge: %s", errOut)
	}
	mergedMet := eval("--model", merged)
	if d := mergedMet["loss"] - adapterMet["loss"]; d > 1e-5 || d < -1e-5 || mergedMet["accuracy"] != adapterMet["accuracy"] {
		t.Errorf("merged model: %v, adapter: %v", mergedMet, adapterMet)
	}

	comb := filepath.Join(dir, "comb")
	if code, _, errOut := gotuneCmd(t, "lora", "combine", "--adapter", model+":0.5", "--adapter", model+":0.5", "--method", "cat", "--out", comb); code != 0 {
		t.Fatalf("combine: %s", errOut)
	}
	// cat of the same adapter at 0.5 + 0.5 is the adapter itself.
	if m := eval("--model", tinyModel, "--adapter", "comb="+comb); abs(m["loss"]-adapterMet["loss"]) > 1e-5 {
		t.Errorf("combined: loss %g, adapter %g", m["loss"], adapterMet["loss"])
	}

	in := filepath.Join(dir, "in.jsonl")
	writeFile(t, in, "{\"text\": \"a b c\"}\n")
	for _, use := range []string{"a", "b"} {
		outPath := filepath.Join(dir, "pred-"+use+".jsonl")
		code, _, errOut := gotuneCmd(t, "predict", "--model", tinyModel, "--adapter", "a="+model, "--adapter", "b="+comb, "--use", use,
			"--input", in, "--output", outPath)
		if code != 0 {
			t.Fatalf("predict --use %s: %s", use, errOut)
		}
	}

	code, _, errOut = gotuneCmd(t, "lora", "targets", "--model", tinyModel, "--lora-targets", "nope")
	if code == 0 || !strings.Contains(errOut, "matches no linear layer") || !strings.Contains(errOut, "query (e.g.") {
		t.Errorf("lora targets with a bad spec: code %d, %s", code, errOut)
	}
	code, out, _ = gotuneCmd(t, "lora", "targets", "--model", tinyModel, "--lora-targets", "all-linear")
	if code != 0 || !strings.Contains(out, "attention.output.dense") || strings.Contains(out, "classifier") {
		t.Errorf("lora targets all-linear: %s", out)
	}
	// GPT-2's default target c_attn is a Conv1D stored [in, out]: 32 in, 96 out.
	code, out, _ = gotuneCmd(t, "lora", "targets", "--model", "../../testdata/fixtures/gpt2-causal")
	if code != 0 || !strings.Contains(out, "transformer.h.0.attn.c_attn  [32→96]") || !strings.Contains(out, "2 modules; trainable parameters 2048 (adapter; a causal LM's head stays frozen)") {
		t.Errorf("lora targets on GPT-2: %s", out)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
