package llama_test

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive

	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/models/llama"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
)

// prefixHook serves PEFT prefix-tuning keys/values from prompt_embeddings
// [nvt, 2*layers*kvHeads*headDim] (layer l: key 2l, value 2l+1).
type prefixHook struct {
	emb         []float32
	nvt, layers int
}

func (h prefixHook) PrefixLen() int { return h.nvt }

func (h prefixHook) PrefixKV(c *nn.Ctx, layer, batch, kvHeads, headDim int) (k, v *Node) {
	all := Reshape(Const(c.G, h.emb), h.nvt, 2*h.layers, kvHeads, headDim)
	pick := func(i int) *Node {
		x := Squeeze(Slice(all, AxisRange(), AxisElem(i), AxisRange(), AxisRange()), 1)
		return BroadcastToDims(ExpandAxes(x, 0), batch, h.nvt, kvHeads, headDim)
	}
	return pick(2 * layer), pick(2*layer + 1)
}

// TestPrefixParity checks nn.Ctx.CausalSelfAttention's prefix handling (keys
// not rotated, real positions starting at the prefix length) against the
// shared llama-prefix fixture.
func TestPrefixParity(t *testing.T) {
	dir := "../../../shared/fixtures/llama-prefix"
	a, err := safetensors.ReadFile(filepath.Join(dir, "prefix", "adapter_model.safetensors"))
	if err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			t.Skipf("shared fixtures absent: %v", serr)
		}
		t.Fatal(err)
	}
	exp, err := safetensors.ReadFile(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, p := fixture.Model(t, fixtureDir, llama.ParseConfig)
	in := fixture.Decoder(t, fixtureDir)
	pe := a.Get("prompt_embeddings")
	hook := prefixHook{emb: pe.F32, nvt: pe.Shape[0], layers: cfg.NumHiddenLayers}
	exec, err := nn.NewModelExec(fixture.Backend(t), p, func(_ *Graph, xs []*Node) []*Node {
		c := &nn.Ctx{G: xs[0].Graph(), P: p, Hooks: []any{hook}}
		logits := llama.CausalLM(c, cfg, llama.Inputs{IDs: xs[0], Mask: xs[1]})
		return []*Node{nn.CausalLMLoss(logits, xs[2]), logits}
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(in.InputIDs, in.AttentionMask, in.Labels)
	if err != nil {
		t.Fatal(err)
	}
	fixture.Compare(t, "prefix loss", fixture.Flat(outs[0]), exp.Get("loss"), 1e-5)
	fixture.Compare(t, "prefix logits", fixture.Flat(outs[1]), exp.Get("logits"), 1e-5)
}
