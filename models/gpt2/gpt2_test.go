package gpt2_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/models/gpt2"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
)

const fixtureDir = "../../testdata/fixtures/gpt2-causal"

type inputs struct {
	InputIDs      [][]int32 `json:"input_ids"`
	AttentionMask [][]int32 `json:"attention_mask"`
	Labels        [][]int32 `json:"labels"`
}

func load(t *testing.T, dir string) (*gpt2.Config, *nn.Params) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := gpt2.ParseConfig(raw, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := safetensors.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	p := nn.NewParams()
	for _, tt := range w.Tensors {
		if err := p.Set(tt.Name, tt.Shape, tt.F32); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, p
}

func fixture(t *testing.T) (*inputs, *safetensors.File) {
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
	return &in, exp
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

func TestParityCausalLM(t *testing.T) {
	cfg, p := load(t, fixtureDir)
	in, exp := fixture(t)
	backend, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	var gradNames []string
	for _, tt := range exp.Tensors {
		if strings.HasPrefix(tt.Name, "grad.") {
			gradNames = append(gradNames, tt.Name[5:])
		}
	}
	for _, training := range []bool{false, true} {
		exec, err := model.NewExec(backend, p.Store(), func(s *model.Scope, xs []*Node) []*Node {
			c := &nn.Ctx{G: xs[0].Graph(), P: p, Training: training}
			cfg := *cfg
			cfg.EmbdPdrop, cfg.ResidPdrop, cfg.AttnPdrop = 0, 0, 0
			logits := gpt2.CausalLM(c, &cfg, gpt2.Inputs{IDs: xs[0], Mask: xs[1]})
			loss := nn.CausalLMLoss(logits, xs[2])
			out := []*Node{loss, logits}
			if training {
				ws := make([]*Node, len(gradNames))
				for i, n := range gradNames {
					ws[i] = c.Weight(n)
				}
				out = append(out, Gradient(loss, ws...)...)
			}
			return out
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec(in.InputIDs, in.AttentionMask, in.Labels)
		if err != nil {
			t.Fatal(err)
		}
		prefix := ""
		if training {
			prefix = "train."
			for i, n := range gradNames {
				compare(t, "grad."+n, flat(outs[2+i]), exp.Get("grad."+n), 1e-5)
			}
		}
		compare(t, prefix+"loss", flat(outs[0]), exp.Get(prefix+"loss"), 1e-5)
		compare(t, prefix+"logits", flat(outs[1]), exp.Get(prefix+"logits"), 1e-5)
	}
}

func TestParamShapesMatchCheckpoint(t *testing.T) {
	cfg, p := load(t, fixtureDir)
	shapes := gpt2.ParamShapes(cfg)
	if len(shapes) != len(p.Names()) {
		t.Errorf("ParamShapes has %d weights, checkpoint %d", len(shapes), len(p.Names()))
	}
	for _, n := range p.Names() {
		if s, ok := shapes[n]; !ok || !equal(s, p.Shape(n)) {
			t.Errorf("%s: ParamShapes %v, checkpoint %v", n, s, p.Shape(n))
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
