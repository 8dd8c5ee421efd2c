package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune/internal/testmodel"
)

// TestAdapterCommands trains bottleneck adapters, evaluates and predicts
// from the run folder without restating the method, switches between two
// adapters on one base, averages and plans.
//
// The tiny model's random backbone passes almost nothing from the words to
// the first token through its frozen attention (weights of std 0.02), so
// frozen-backbone methods cannot learn on it; as adapters are meant to be
// used, the base is first fine-tuned (a stand-in for pretraining) and the
// adapters then train with a new head on relabelled data.
func TestAdapterCommands(t *testing.T) {
	dir := t.TempDir()
	pre := filepath.Join(dir, "pre")
	if code, out, errOut := gotuneCmd(t, "train", "--model", tinyModel, "--train", trainPath, "--eval", evalPath, "--out", pre,
		"--epochs", "8", "--batch-size", "16", "--lr", "1e-2", "--warmup-ratio", "0.1", "--max-len", "16"); code != 0 {
		t.Fatalf("pretraining: %s\n%s", errOut, out)
	}
	base := filepath.Join(pre, "model")
	relabel := func(n int, seed uint64, name string) string {
		ex := testmodel.Examples(n, seed)
		for i := range ex {
			ex[i].Label = map[string]string{"pos": "positive", "neg": "negative"}[ex[i].Label]
		}
		p := filepath.Join(dir, name)
		if err := testmodel.WriteJSONL(p, ex); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tr, ev := relabel(64, 1, "train.jsonl"), relabel(16, 2, "eval.jsonl")

	trainRun := func(name string, flags ...string) string {
		t.Helper()
		run := filepath.Join(dir, name)
		args := append([]string{"train", "--model", base, "--train", tr, "--eval", ev, "--out", run,
			"--batch-size", "16", "--max-len", "16", "--method", "adapter"}, flags...)
		code, out, errOut := gotuneCmd(t, args...)
		if code != 0 {
			t.Fatalf("train %s: %s\n%s", name, errOut, out)
		}
		if !strings.Contains(out, "adapter: ") {
			t.Errorf("the run log does not describe the adapter:\n%s", out)
		}
		return run
	}
	eval := func(args ...string) map[string]float64 {
		t.Helper()
		code, out, errOut := gotuneCmd(t, append([]string{"eval", "--data", ev, "--max-len", "16"}, args...)...)
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

	// The method's default lr (1e-4) applies when --lr is not given.
	quick := trainRun("quick", "--max-steps", "1")
	if cfg, _ := os.ReadFile(filepath.Join(quick, "config.yaml")); !strings.Contains(string(cfg), "lr: 0.0001") {
		t.Errorf("config.yaml without --lr:\n%s", cfg)
	}

	runA := trainRun("a", "--adapter-placement", "houlsby", "--adapter-reduction", "4", "--epochs", "6", "--lr", "1e-2")
	modelA := filepath.Join(runA, "model")
	for _, f := range []string{"adapter_config.json", "adapter.safetensors", "head_config.json", "model_head.safetensors", "gotune.json"} {
		if _, err := os.Stat(filepath.Join(modelA, f)); err != nil {
			t.Errorf("run model folder lacks %s", f)
		}
	}
	if cmd, _ := os.ReadFile(filepath.Join(runA, "command.txt")); !strings.Contains(string(cmd), "--adapter-placement houlsby --adapter-reduction 4") {
		t.Errorf("command.txt: %s", cmd)
	}
	metA := eval("--model", modelA)
	t.Logf("houlsby adapter: %v", metA)
	if metA["accuracy"] < 0.75 {
		t.Errorf("adapter accuracy %g does not beat chance (0.5) clearly", metA["accuracy"])
	}

	runB := trainRun("b", "--adapter-reduction", "0:2,default:8", "--adapter-leave-out", "0", "--epochs", "2", "--lr", "1e-2", "--seed", "3")
	modelB := filepath.Join(runB, "model")

	in := filepath.Join(dir, "in.jsonl")
	writeFile(t, in, "{\"text\": \"kalo good mimi .\"}\n{\"text\": \"zeze awful .\"}\n")
	predict := func(name string, args ...string) string {
		t.Helper()
		outPath := filepath.Join(dir, name+".jsonl")
		code, _, errOut := gotuneCmd(t, append([]string{"predict", "--input", in, "--output", outPath}, args...)...)
		if code != 0 {
			t.Fatalf("predict %v: %s", args, errOut)
		}
		b, _ := os.ReadFile(outPath)
		return string(b)
	}
	alone := map[string]string{"a": predict("pa", "--model", modelA), "b": predict("pb", "--model", modelB)}
	for _, use := range []string{"b", "a", "b"} {
		got := predict("both-"+use, "--model", base, "--adapter", "a="+modelA, "--adapter", "b="+modelB, "--use", use)
		if got != alone[use] {
			t.Errorf("--use %s on a shared base:\n%s\nalone:\n%s", use, got, alone[use])
		}
	}
	if got := predict("stack", "--model", base, "--adapter", "a="+modelA, "--adapter", "b="+modelB, "--use", "a+b"); got == alone["a"] || got == alone["b"] {
		t.Errorf("a stack predicts as one adapter")
	}

	avg := filepath.Join(dir, "avg")
	if code, _, errOut := gotuneCmd(t, "adapter", "average", "--adapter", modelA+":0.5", "--adapter", modelA+":0.5", "--out", avg); code != 0 {
		t.Fatalf("average: %s", errOut)
	}
	if m := eval("--model", base, "--adapter", avg); abs(m["loss"]-metA["loss"]) > 1e-5 {
		t.Errorf("average of an adapter with itself: loss %g, adapter %g", m["loss"], metA["loss"])
	}
	code, _, errOut := gotuneCmd(t, "adapter", "average", "--adapter", modelA, "--adapter", modelB, "--out", filepath.Join(dir, "bad"))
	if code == 0 || !strings.Contains(errOut, "different configurations") {
		t.Errorf("averaging houlsby with pfeiffer: code %d, %s", code, errOut)
	}

	code, out, _ := gotuneCmd(t, "adapter", "plan", "--model", tinyModel, "--adapter-placement", "houlsby", "--adapter-reduction", "4")
	if code != 0 || !strings.Contains(out, "bert.encoder.layer.1.attention.output.adapters.NAME") || !strings.Contains(out, "4 sites; 592 adapter weights") {
		t.Errorf("adapter plan: %s", out)
	}
	// A decoder: AdapterHub's attention_adapters / output_adapters, no head; GPT-2 fixture: 2 blocks, hidden 32, bottleneck 8, 4 × (2·32·8 + 8 + 32) weights.
	code, out, _ = gotuneCmd(t, "adapter", "plan", "--model", "../../testdata/fixtures/gpt2-causal", "--adapter-placement", "houlsby", "--adapter-reduction", "4")
	if code != 0 || !strings.Contains(out, "transformer.h.1.attention_adapters.adapters.NAME") || !strings.Contains(out, "4 sites; 2208 adapter weights; trainable parameters 2208 (adapters; a causal LM's head stays frozen)") {
		t.Errorf("adapter plan on GPT-2: %s", out)
	}
	code, _, errOut = gotuneCmd(t, "train", "--model", base, "--train", tr, "--out", filepath.Join(dir, "x"), "--method", "lora", "--adapter-placement", "houlsby")
	if code == 0 || !strings.Contains(errOut, "only apply to --method adapter") {
		t.Errorf("adapter flag with --method lora: code %d, %s", code, errOut)
	}
}
