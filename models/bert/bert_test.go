package bert_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
)

const fixtureDir = "../../testdata/fixtures/bert-seqcls"

type inputs struct {
	InputIDs      [][]int32 `json:"input_ids"`
	TokenTypeIDs  [][]int32 `json:"token_type_ids"`
	AttentionMask [][]int32 `json:"attention_mask"`
	Labels        []int32   `json:"labels"`
}

func loadFixture(t *testing.T) (*bert.Config, *nn.Params, *inputs, *safetensors.File) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := bert.ParseConfig(raw, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := safetensors.ReadFile(filepath.Join(fixtureDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	p := nn.NewParams()
	for _, tt := range w.Tensors {
		if err := p.Set(tt.Name, tt.Shape, tt.F32); err != nil {
			t.Fatal(err)
		}
	}
	var in inputs
	b, err := os.ReadFile(filepath.Join(fixtureDir, "inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	exp, err := safetensors.ReadFile(filepath.Join(fixtureDir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, p, &in, exp
}

func flat(t *tensors.Tensor) []float32 {
	out := make([]float32, t.Size())
	t.ConstFlatData(func(f any) { copy(out, f.([]float32)) })
	return out
}

func compare(t *testing.T, name string, got []float32, want *safetensors.Tensor, tol float64) {
	t.Helper()
	if want == nil {
		t.Fatalf("%s: no reference tensor", name)
	}
	if len(got) != len(want.F32) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want.F32))
	}
	var maxDiff float64
	for i := range got {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want.F32[i])))
	}
	if maxDiff > tol {
		t.Errorf("%s: max |diff| = %.3g > %.1g", name, maxDiff, tol)
	} else {
		t.Logf("%s: max |diff| = %.3g", name, maxDiff)
	}
}

func backend(t *testing.T) compute.Backend {
	b, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParityEval(t *testing.T) {
	cfg, p, in, exp := loadFixture(t)
	names := []string{"logits", "pooler_output"}
	for i := 0; i <= cfg.NumHiddenLayers; i++ {
		names = append(names, "hidden_states."+string(rune('0'+i)))
	}
	exec, err := model.NewExec(backend(t), p.Store(), func(s *model.Scope, xs []*Node) []*Node {
		c := &nn.Ctx{G: xs[0].Graph(), P: p, Capture: map[string]*Node{}}
		logits := bert.Classify(c, cfg, bert.Inputs{IDs: xs[0], TypeIDs: xs[1], Mask: xs[2]})
		c.Capture["logits"] = logits
		out := make([]*Node, len(names))
		for i, n := range names {
			out[i] = c.Capture[n]
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(in.InputIDs, in.TokenTypeIDs, in.AttentionMask)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		compare(t, n, flat(outs[i]), exp.Get(n), 1e-5)
	}
}

func TestParityTrainLossAndGradients(t *testing.T) {
	cfg, p, in, exp := loadFixture(t)
	var gradNames []string
	for _, tt := range exp.Tensors {
		if len(tt.Name) > 5 && tt.Name[:5] == "grad." {
			gradNames = append(gradNames, tt.Name[5:])
		}
	}
	exec, err := model.NewExec(backend(t), p.Store(), func(s *model.Scope, xs []*Node) []*Node {
		c := &nn.Ctx{G: xs[0].Graph(), P: p, Training: true}
		cfg2 := *cfg
		cfg2.HiddenDropoutProb, cfg2.AttentionProbsDropoutProb = 0, 0
		logits := bert.Classify(c, &cfg2, bert.Inputs{IDs: xs[0], TypeIDs: xs[1], Mask: xs[2]})
		loss, _ := nn.CrossEntropy(logits, xs[3])
		ws := make([]*Node, len(gradNames))
		for i, n := range gradNames {
			ws[i] = c.Weight(n)
		}
		return append([]*Node{loss, logits}, Gradient(loss, ws...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(in.InputIDs, in.TokenTypeIDs, in.AttentionMask, in.Labels)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "train.loss", flat(outs[0]), exp.Get("train.loss"), 1e-5)
	compare(t, "train.logits", flat(outs[1]), exp.Get("train.logits"), 1e-5)
	for i, n := range gradNames {
		compare(t, "grad."+n, flat(outs[2+i]), exp.Get("grad."+n), 1e-5)
	}
}
