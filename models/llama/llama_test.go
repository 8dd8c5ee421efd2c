package llama_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive

	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/models/llama"
	"github.com/gotune/gotune/nn"
)

const fixtureDir = "../../testdata/fixtures/llama-causal"

func TestParityCausalLM(t *testing.T) {
	cfg, p := fixture.Model(t, fixtureDir, llama.ParseConfig)
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
			logits := llama.CausalLM(c, cfg, llama.Inputs{IDs: xs[0], Mask: xs[1]})
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

func TestParitySeqCls(t *testing.T) {
	cfg, p := fixture.Model(t, filepath.Join(fixtureDir, "seqcls"), llama.ParseConfig)
	in, exp := fixture.Decoder(t, fixtureDir), fixture.Expected(t, fixtureDir)
	backend := fixture.Backend(t)
	exec, err := nn.NewModelExec(backend, p, func(_ *Graph, xs []*Node) []*Node {
		c := &nn.Ctx{G: xs[0].Graph(), P: p}
		logits := llama.Classify(c, cfg, llama.Inputs{IDs: xs[0], Mask: xs[1]})
		loss, _ := nn.CrossEntropy(logits, xs[2])
		return []*Node{logits, loss}
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(in.InputIDs, in.AttentionMask, in.SeqClsLabels)
	if err != nil {
		t.Fatal(err)
	}
	fixture.Compare(t, "seqcls.logits", fixture.Flat(outs[0]), exp.Get("seqcls.logits"), 1e-5)
	fixture.Compare(t, "seqcls.loss", fixture.Flat(outs[1]), exp.Get("seqcls.loss"), 1e-5)
}

func TestParamShapesMatchCheckpoint(t *testing.T) {
	cfg, p := fixture.Model(t, fixtureDir, llama.ParseConfig)
	shapes := llama.ParamShapes(cfg, llama.HeadCausalLM, 0)
	if len(shapes) != len(p.Names()) {
		t.Errorf("ParamShapes has %d weights, checkpoint %d", len(shapes), len(p.Names()))
	}
	for _, n := range p.Names() {
		if s, ok := shapes[n]; !ok || !slices.Equal(s, p.Shape(n)) {
			t.Errorf("%s: ParamShapes %v, checkpoint %v", n, s, p.Shape(n))
		}
	}
}
