package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune/internal/testmodel"
)

// TestPromptMethodCommands trains prefix tuning (with projection) and
// prompt tuning runs, checks they beat chance, and evaluates and predicts
// from their model folders without restating the method. The base is a
// tiny random BERT whose weights have std 0.2, not BERT's 0.02: a frozen
// encoder at 0.02 barely lets the input reach [CLS] (a classifier on it
// stays at chance), unlike a pretrained one.
func TestPromptMethodCommands(t *testing.T) {
	o := testmodel.Default()
	o.Hidden, o.Heads, o.Intermediate, o.Dropout, o.InitRange = 32, 4, 64, -1, 0.2
	base := testmodel.New(t, o)
	data := t.TempDir()
	trainData, evalData := filepath.Join(data, "train.jsonl"), filepath.Join(data, "eval.jsonl")
	if err := testmodel.WriteJSONL(trainData, testmodel.Examples(256, 1)); err != nil {
		t.Fatal(err)
	}
	if err := testmodel.WriteJSONL(evalData, testmodel.Examples(64, 2)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method string
		flags  []string
		log    string
		cmd    string
	}{
		{"ptuning", []string{"--num-virtual-tokens", "4", "--prefix-projection", "--encoder-hidden-size", "32", "--lr", "1e-2"},
			"ptuning: 4 virtual tokens of keys/values in 2 layers, from an MLP of width 32", "--lr 0.01"},
		{"prompt", []string{"--num-virtual-tokens", "4"}, "prompt: 4 virtual tokens at the input", ""},
	} {
		t.Run(tc.method, func(t *testing.T) {
			dir := t.TempDir()
			run := filepath.Join(dir, "run")
			args := append([]string{"train", "--model", base, "--train", trainData, "--eval", evalData, "--out", run,
				"--batch-size", "16", "--max-len", "16", "--method", tc.method, "--epochs", "8"}, tc.flags...)
			code, out, errOut := gotuneCmd(t, args...)
			if code != 0 {
				t.Fatalf("train: %s\n%s", errOut, out)
			}
			if !strings.Contains(out, tc.log) {
				t.Errorf("the run log does not describe the prompt:\n%s", out)
			}
			model := filepath.Join(run, "model")
			for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "gotune.json", "gotune_adapter.json"} {
				if _, err := os.Stat(filepath.Join(model, f)); err != nil {
					t.Errorf("run model folder lacks %s", f)
				}
			}
			cmd, _ := os.ReadFile(filepath.Join(run, "command.txt"))
			c := string(cmd)
			if !strings.Contains(c, "--num-virtual-tokens 4") || !strings.Contains(c, "--epochs 8") || !strings.Contains(c, tc.cmd) ||
				(tc.cmd == "" && strings.Contains(c, "--lr")) {
				t.Errorf("command.txt: %s (a method's default lr is not restated; its settings are)", cmd)
			}
			code, out, errOut = gotuneCmd(t, "eval", "--model", model, "--data", evalData, "--max-len", "16")
			if code != 0 {
				t.Fatalf("eval: %s", errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			var met map[string]float64
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &met); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: eval %v", tc.method, met)
			if met["accuracy"] < 0.625 { // 40 of 64: chance (0.5) gets there with p ≈ 0.03
				t.Errorf("%s: accuracy %g does not beat chance (0.5) clearly", tc.method, met["accuracy"])
			}
			var best map[string]any
			b, _ := os.ReadFile(filepath.Join(run, "eval.json"))
			if err := json.Unmarshal(b, &best); err != nil || abs(best["eval_loss"].(float64)-met["loss"]) > 1e-4 {
				t.Errorf("eval of the saved adapter %v differs from the run's best %v", met, best)
			}
			in := filepath.Join(dir, "in.jsonl")
			writeFile(t, in, "{\"text\": \"kalo good mimi .\"}\n")
			outPath := filepath.Join(dir, "pred.jsonl")
			if code, _, errOut := gotuneCmd(t, "predict", "--model", model, "--input", in, "--output", outPath); code != 0 {
				t.Fatalf("predict: %s", errOut)
			}
			pred, _ := os.ReadFile(outPath)
			if !strings.Contains(string(pred), `"label"`) {
				t.Errorf("predictions: %s", pred)
			}
			// The same adapter named on its base: its kind comes from
			// adapter_config.json's peft_type, not taken for LoRA.
			outNamed := filepath.Join(dir, "pred-named.jsonl")
			if code, _, errOut := gotuneCmd(t, "predict", "--model", base, "--adapter", "a="+model, "--input", in, "--output", outNamed); code != 0 {
				t.Fatalf("predict --adapter a=DIR: %s", errOut)
			}
			if named, _ := os.ReadFile(outNamed); string(named) != string(pred) {
				t.Errorf("predict --adapter a=DIR: %s, want %s", named, pred)
			}
			// A run folder instead of its model folder: say so.
			for _, args := range [][]string{{"predict", "--model", base, "--adapter", "a=" + run}, {"predict", "--model", run}} {
				code, _, errOut := gotuneCmd(t, append(args, "--input", in, "--output", outNamed)...)
				if code == 0 || !strings.Contains(errOut, run+" is a run folder: pass its model folder, "+model) {
					t.Errorf("%v: exit %d, %s", args, code, errOut)
				}
			}
		})
	}
}
