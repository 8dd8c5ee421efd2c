package gpt2_test

import (
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive

	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/models/gpt2"
	"github.com/gotune/gotune/nn"
)

const fixtureDir = "../../testdata/fixtures/gpt2-causal"

func TestParityCausalLM(t *testing.T) {
	cfg, p := fixture.Model(t, fixtureDir, gpt2.ParseConfig)
	in, exp := fixture.Decoder(t, fixtureDir), fixture.Expected(t, fixtureDir)
	backend := fixture.Backend(t)
	var gradNames []string
	for _, tt := range exp.Tensors {
		if strings.HasPrefix(tt.Name, "grad.") {
			gradNames = append(gradNames, tt.Name[5:])
		}
	}
	for _, training := range []bool{false, true} {
		exec, err := nn.NewModelExec(backend, p, func(_ *Graph, xs []*Node) []*Node {
			c := &nn.Ctx{G: xs[0].Graph(), P: p, Training: training}
			cfg := *cfg
			cfg.EmbdPdrop, cfg.ResidPdrop, cfg.AttnPdrop = 0, 0, 0
			logits := gpt2.CausalLM(c, &cfg, gpt2.Inputs{IDs: xs[0], Mask: xs[1]})
			loss := nn.CausalLMLoss(logits, xs[2])
			out := []*Node{loss, logits}
			if training {
				out = append(out, fixture.Gradients(c, loss, gradNames)...)
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
				fixture.Compare(t, "grad."+n, fixture.Flat(outs[2+i]), exp.Get("grad."+n), 1e-5)
			}
		}
		fixture.Compare(t, prefix+"loss", fixture.Flat(outs[0]), exp.Get(prefix+"loss"), 1e-5)
		fixture.Compare(t, prefix+"logits", fixture.Flat(outs[1]), exp.Get(prefix+"logits"), 1e-5)
	}
}

func TestParamShapesMatchCheckpoint(t *testing.T) {
	cfg, p := fixture.Model(t, fixtureDir, gpt2.ParseConfig)
	shapes := gpt2.ParamShapes(cfg)
	if len(shapes) != len(p.Names()) {
		t.Errorf("ParamShapes has %d weights, checkpoint %d", len(shapes), len(p.Names()))
	}
	for _, n := range p.Names() {
		if s, ok := shapes[n]; !ok || !slices.Equal(s, p.Shape(n)) {
			t.Errorf("%s: ParamShapes %v, checkpoint %v", n, s, p.Shape(n))
		}
	}
}
