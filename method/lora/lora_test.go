package lora_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
)

const (
	fixtures = "../../testdata/fixtures/bert-lora"
	baseDir  = "../../testdata/fixtures/bert-seqcls"
)

var variants = []string{"lora", "lora-rslora", "lora-regex"}

// logits runs the classifier's evaluation graph (built afresh).
func logits(t *testing.T, m *classify.Classifier, in []*tensors.Tensor) []float32 {
	t.Helper()
	v, _ := fixture.Evaluate(t, m.NewRunner, in)
	return v
}

// TestPEFTAdapters loads the adapters PEFT wrote and reproduces PEFT's
// logits, merged logits, and (after unmerge) the logits again.
func TestPEFTAdapters(t *testing.T) {
	exp := fixture.Expected(t, fixtures)
	in := fixture.Encoder(t, fixtures).Tensors()
	for _, v := range variants {
		m, h, err := lora.LoadModel("", []string{filepath.Join(fixtures, v)}, func(w string) { t.Log(w) })
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if len(m.NewHead) != 0 {
			t.Fatalf("%s: head not loaded", v)
		}
		fixture.Compare(t, v+".logits", logits(t, m, in), exp.Get(v+".logits"), 1e-5)
		if err := h.Merge(m.P, h.Active()); err != nil {
			t.Fatal(err)
		}
		fixture.Compare(t, v+".merged_logits", logits(t, m, in), exp.Get(v+".merged_logits"), 1e-5)
		if v == "lora" {
			ref, err := safetensors.ReadFile(filepath.Join(fixtures, "lora-merged", "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for _, rt := range ref.Tensors {
				got, err := m.P.Value(rt.Name)
				if err != nil {
					t.Fatalf("merged model lacks %s", rt.Name)
				}
				worst = max(worst, fixture.MaxDiff(got, rt.F32))
			}
			t.Logf("lora-merged/model.safetensors: max|diff| over every weight %.3g", worst)
			if worst > 1e-6 {
				t.Errorf("merged weights differ from PEFT's merge_and_unload by %g", worst)
			}
		}
		if err := h.Unmerge(m.P); err != nil {
			t.Fatal(err)
		}
		fixture.Compare(t, v+".logits after unmerge", logits(t, m, in), exp.Get(v+".logits"), 1e-5)
	}
}

// TestPEFTTrainGradients checks the train-mode loss and the gradients of
// every trainable weight against PEFT's (base dropouts off).
func TestPEFTTrainGradients(t *testing.T) {
	exp := fixture.Expected(t, fixtures)
	in := fixture.Encoder(t, fixtures).Tensors()
	m, h, err := lora.LoadModel("", []string{filepath.Join(fixtures, "lora")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Cfg.HiddenDropoutProb, m.Cfg.AttentionProbsDropoutProb = 0, 0
	a := h.Adapter(h.Active())
	var keys, params []string
	for _, tt := range exp.Tensors {
		key, ok := strings.CutPrefix(tt.Name, "lora.grad.")
		if !ok {
			continue
		}
		keys = append(keys, key)
		mod := strings.TrimPrefix(key, "base_model.model.")
		switch {
		case strings.HasSuffix(mod, ".lora_A.weight"):
			params = append(params, lora.ParamA(a.Name, strings.TrimSuffix(mod, ".lora_A.weight")))
		case strings.HasSuffix(mod, ".lora_B.weight"):
			params = append(params, lora.ParamB(a.Name, strings.TrimSuffix(mod, ".lora_B.weight")))
		default:
			params = append(params, a.SavedParams[mod])
		}
	}
	if len(keys) != 10 {
		t.Fatalf("fixture has %d gradients, want 10", len(keys))
	}
	exec, err := nn.NewModelExec(fixture.Backend(t), m.P, func(_ *Graph, xs []*Node) []*Node {
		loss, lg := m.Loss(xs[0].Graph(), xs, true)
		c := &nn.Ctx{G: xs[0].Graph(), P: m.P}
		ws := make([]*Node, len(params))
		for i, n := range params {
			ws[i] = c.Weight(n)
		}
		return append([]*Node{loss, lg}, Gradient(loss, ws...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(in[0], in[1], in[2], in[3])
	if err != nil {
		t.Fatal(err)
	}
	fixture.Compare(t, "lora.train.loss", fixture.Flat(outs[0]), exp.Get("lora.train.loss"), 1e-5)
	fixture.Compare(t, "lora.train.logits", fixture.Flat(outs[1]), exp.Get("lora.train.logits"), 1e-5)
	for i, k := range keys {
		fixture.Compare(t, "lora.grad."+k, fixture.Flat(outs[2+i]), exp.Get("lora.grad."+k), 1e-5)
	}
	// Base weights are frozen: nothing but the adapter trains.
	for _, n := range m.P.Names() {
		if m.P.Trainable(n) && !strings.HasPrefix(n, "lora.") {
			t.Errorf("base weight %s is trainable", n)
		}
	}
}

// copyAdapter copies a fixture adapter into a temp folder, letting edit
// change its config object.
func copyAdapter(t *testing.T, variant string, edit func(map[string]any)) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), variant)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(fixtures, variant, lora.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, lora.WeightsFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	b, _ = os.ReadFile(filepath.Join(fixtures, variant, lora.ConfigFile))
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(baseDir)
	c["base_model_name_or_path"] = abs
	edit(c)
	b, _ = json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dst, lora.ConfigFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestAdapterFileErrors(t *testing.T) {
	dir := copyAdapter(t, "lora", func(c map[string]any) { c["use_qalora"] = false })
	var warnings []string
	if _, _, err := lora.LoadModel("", []string{dir}, func(w string) { warnings = append(warnings, w) }); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"use_qalora"`) {
		t.Errorf("unknown key: warnings %v", warnings)
	}
	for _, tc := range []struct {
		edit func(map[string]any)
		want string
	}{
		{func(c map[string]any) { delete(c, "r") }, `required key "r" is missing`},
		{func(c map[string]any) { c["r"] = 8 }, "lora_A.weight has shape [4 32], the model and adapter_config.json imply [8 32]"},
		{func(c map[string]any) { c["target_modules"] = []string{"query"} }, "value.lora_A.weight belongs to a module that adapter_config.json does not target"},
		{func(c map[string]any) { c["target_modules"] = []string{"query", "value", "key"} }, "key.lora_A.weight is missing"},
		{func(c map[string]any) { c["peft_type"] = "IA3" }, "not LORA"},
	} {
		dir := copyAdapter(t, "lora", tc.edit)
		_, _, err := lora.LoadModel("", []string{dir}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error containing %q, got %v", tc.want, err)
		}
	}
}
