package bert_test

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive

	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
)

const fixtureDir = "../../testdata/fixtures/bert-seqcls"

func loadFixture(t *testing.T) (*bert.Config, *nn.Params, *fixture.EncoderInputs, *safetensors.File) {
	t.Helper()
	cfg, p := fixture.Model(t, fixtureDir, bert.ParseConfig)
	return cfg, p, fixture.Encoder(t, fixtureDir), fixture.Expected(t, fixtureDir)
}

func TestParityEval(t *testing.T) {
	cfg, p, in, exp := loadFixture(t)
	names := []string{"logits", "pooler_output"}
	for i := 0; i <= cfg.NumHiddenLayers; i++ {
		names = append(names, "hidden_states."+string(rune('0'+i)))
	}
	exec, err := nn.NewModelExec(fixture.Backend(t), p, func(_ *Graph, xs []*Node) []*Node {
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
		fixture.Compare(t, n, fixture.Flat(outs[i]), exp.Get(n), 1e-5)
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
	exec, err := nn.NewModelExec(fixture.Backend(t), p, func(_ *Graph, xs []*Node) []*Node {
		c := &nn.Ctx{G: xs[0].Graph(), P: p, Training: true}
		cfg2 := *cfg
		cfg2.HiddenDropoutProb, cfg2.AttentionProbsDropoutProb = 0, 0
		logits := bert.Classify(c, &cfg2, bert.Inputs{IDs: xs[0], TypeIDs: xs[1], Mask: xs[2]})
		loss, _ := nn.CrossEntropy(logits, xs[3])
		return append([]*Node{loss, logits}, fixture.Gradients(c, loss, gradNames)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(in.InputIDs, in.TokenTypeIDs, in.AttentionMask, in.Labels)
	if err != nil {
		t.Fatal(err)
	}
	fixture.Compare(t, "train.loss", fixture.Flat(outs[0]), exp.Get("train.loss"), 1e-5)
	fixture.Compare(t, "train.logits", fixture.Flat(outs[1]), exp.Get("train.logits"), 1e-5)
	for i, n := range gradNames {
		fixture.Compare(t, "grad."+n, fixture.Flat(outs[2+i]), exp.Get("grad."+n), 1e-5)
	}
}
