// Package generate produces text from a causal language model (LLaMA,
// GPT-2, or anything with the Model interface): greedy decoding or
// sampling with temperature, top-k and top-p, a token budget and stop
// tokens, using a fixed-size key/value cache (nn.KVCache) so that each new
// token costs one single-position forward pass and a single compiled graph
// serves every step.
//
// Prompts of different lengths are left-padded; positions follow Hugging
// Face's generate (cumsum(mask)-1, padding at 1), so greedy results match
// transformers' model.generate(do_sample=False).
package generate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/nn"
)

// Model is a causal LM as the generator needs it; llama.LM and gpt2.LM
// implement it.
type Model interface {
	// CacheShape returns the number of layers, key/value heads and head
	// size of the KV cache.
	CacheShape() (layers, kvHeads, headDim int)
	// Logits returns next-token logits [batch, T, vocab] for ids [batch,
	// T] at positions [batch, T]; mask [batch, T] marks real tokens; with
	// cache, the step's keys/values are written at slots cache.Pos...
	Logits(c *nn.Ctx, ids, positions, mask *Node, cache *nn.KVCache) *Node
}

// Options control decoding.
type Options struct {
	// MaxNewTokens is the number of tokens to generate (at most).
	MaxNewTokens int
	// Temperature divides the logits before sampling; 0 means greedy.
	Temperature float64
	// TopK keeps only the K most likely tokens when sampling (0: all).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches P when sampling (0 or 1: all).
	TopP float64
	// Seed seeds the sampler.
	Seed uint64
	// StopTokens end a row when generated (EOS); later positions get PadID.
	StopTokens []int
	// PadID pads prompts on the left and finished rows.
	PadID int
	// NoCache recomputes the whole sequence at every step instead of using
	// the KV cache (slow; for checking the cache).
	NoCache bool
	// KeepLogits stores each step's logits in Result.Logits.
	KeepLogits bool
}

// Result is what Generate returns.
type Result struct {
	// Sequences are the left-padded prompts followed by the new tokens,
	// [rows][promptLen+steps], as transformers' generate returns them.
	Sequences [][]int
	// New are each row's generated tokens, up to and including a stop
	// token.
	New [][]int
	// Logits are each step's raw logits [step][row][vocab] (KeepLogits).
	Logits [][][]float32
}

// Generator runs a Model with fixed weights and hooks.
type Generator struct {
	backend     compute.Backend
	model       Model
	params      *nn.Params
	hooks       []any
	cached, all *model.Exec
}

// New returns a generator for m with weights p and method hooks (nil for
// none).
func New(backend compute.Backend, m Model, p *nn.Params, hooks []any) *Generator {
	return &Generator{backend: backend, model: m, params: p, hooks: hooks}
}

func (g *Generator) ctx(gr *Graph) *nn.Ctx { return &nn.Ctx{G: gr, P: g.params, Hooks: g.hooks} }

// lastLogits slices the last position: [b, T, V] → [b, V].
func lastLogits(l *Node) *Node {
	t := l.Shape().Dimensions[1]
	return Squeeze(Slice(l, AxisRange(), AxisElem(t-1), AxisRange()), 1)
}

func (g *Generator) build() error {
	layers, _, _ := g.model.CacheShape()
	var err error
	if g.cached == nil {
		// Inputs: ids, positions, cache mask, pos, then K and V per layer.
		g.cached, err = nn.NewModelExec(g.backend, g.params, func(gr *Graph, xs []*Node) []*Node {
			c := g.ctx(gr)
			cache := &nn.KVCache{Mask: xs[2], Pos: xs[3], K: append([]*Node(nil), xs[4:4+layers]...), V: append([]*Node(nil), xs[4+layers:]...)}
			logits := lastLogits(g.model.Logits(c, xs[0], xs[1], nil, cache))
			return append(append([]*Node{logits}, cache.K...), cache.V...)
		})
		if err != nil {
			return err
		}
	}
	if g.all == nil {
		g.all, err = nn.NewModelExec(g.backend, g.params, func(gr *Graph, xs []*Node) []*Node {
			return []*Node{lastLogits(g.model.Logits(g.ctx(gr), xs[0], xs[1], xs[2], nil))}
		})
	}
	return err
}

// Generate continues each prompt (token ids; BOS included by the caller
// when the model wants it). onToken, when not nil, is called with each
// row's new token as soon as it is chosen (not after a row has stopped).
func (g *Generator) Generate(prompts [][]int, opt Options, onToken func(row, token int)) (*Result, error) {
	if len(prompts) == 0 {
		return &Result{}, nil
	}
	if err := g.build(); err != nil {
		return nil, err
	}
	b := len(prompts)
	t0 := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("prompt %d is empty (give at least a BOS token)", i)
		}
		t0 = max(t0, len(p))
	}
	slots := t0 + opt.MaxNewTokens
	ids := make([][]int32, b)
	mask := make([][]int32, b)
	res := &Result{Sequences: make([][]int, b), New: make([][]int, b)}
	for i, p := range prompts {
		ids[i] = make([]int32, slots)
		mask[i] = make([]int32, slots)
		pad := t0 - len(p)
		for j := 0; j < pad; j++ {
			ids[i][j] = int32(opt.PadID)
		}
		for j, tok := range p {
			ids[i][pad+j] = int32(tok)
			mask[i][pad+j] = 1
		}
	}
	positions := func(upto int) [][]int32 {
		out := make([][]int32, b)
		for i := range out {
			out[i] = make([]int32, upto)
			n := int32(0)
			for j := 0; j < upto; j++ {
				n += mask[i][j]
				out[i][j] = n - 1
				if mask[i][j] == 0 {
					out[i][j] = 1
				}
			}
		}
		return out
	}
	cols := func(m [][]int32, from, to int) [][]int32 {
		out := make([][]int32, len(m))
		for i := range m {
			out[i] = m[i][from:to]
		}
		return out
	}
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	done := make([]bool, b)
	var kv []any
	if !opt.NoCache {
		layers, kvHeads, hd := g.model.CacheShape()
		for i := 0; i < 2*layers; i++ {
			kv = append(kv, tensors.FromShape(shapes.Make(dtypes.Float32, b, slots, kvHeads, hd)))
		}
	}
	cur := t0
	for step := 0; step < opt.MaxNewTokens; step++ {
		var outs []*tensors.Tensor
		var err error
		switch {
		case opt.NoCache:
			outs, err = g.all.Exec(cols(ids, 0, cur), positions(cur), cols(mask, 0, cur))
		case step == 0:
			pos := positions(cur)
			outs, err = g.cached.Exec(append([]any{cols(ids, 0, cur), pos, mask, int32(0)}, kv...)...)
		default:
			pos := positions(cur)
			outs, err = g.cached.Exec(append([]any{cols(ids, cur-1, cur), cols(pos, cur-1, cur), mask, int32(cur - 1)}, kv...)...)
		}
		if err != nil {
			return nil, err
		}
		if !opt.NoCache {
			for i := range kv {
				kv[i] = outs[1+i]
			}
		}
		logits := toRows(outs[0], b)
		if opt.KeepLogits {
			res.Logits = append(res.Logits, logits)
		}
		for i := 0; i < b; i++ {
			tok := opt.PadID
			if !done[i] {
				tok = pick(logits[i], opt, rng)
				res.New[i] = append(res.New[i], tok)
				if onToken != nil {
					onToken(i, tok)
				}
				for _, s := range opt.StopTokens {
					done[i] = done[i] || tok == s
				}
			}
			ids[i][cur] = int32(tok)
			mask[i][cur] = 1
		}
		cur++
		all := true
		for _, d := range done {
			all = all && d
		}
		if all {
			break
		}
	}
	for i := range ids {
		res.Sequences[i] = make([]int, cur)
		for j := 0; j < cur; j++ {
			res.Sequences[i][j] = int(ids[i][j])
		}
	}
	return res, nil
}

func toRows(t *tensors.Tensor, b int) [][]float32 {
	var flat []float32
	t.ConstFlatData(func(f any) { flat = append([]float32(nil), f.([]float32)...) })
	v := len(flat) / b
	out := make([][]float32, b)
	for i := range out {
		out[i] = flat[i*v : (i+1)*v]
	}
	return out
}

// pick chooses the next token from one row's logits.
func pick(logits []float32, opt Options, rng *rand.Rand) int {
	if opt.Temperature <= 0 {
		best := 0
		for i, l := range logits {
			if l > logits[best] {
				best = i
			}
		}
		return best
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if opt.TopK > 0 && opt.TopK < len(idx) {
		idx = idx[:opt.TopK]
	}
	probs := make([]float64, len(idx))
	maxL := float64(logits[idx[0]]) / opt.Temperature
	var sum float64
	for i, id := range idx {
		probs[i] = math.Exp(float64(logits[id])/opt.Temperature - maxL)
		sum += probs[i]
	}
	for i := range probs {
		probs[i] /= sum
	}
	if opt.TopP > 0 && opt.TopP < 1 {
		cum := 0.0
		for i, p := range probs {
			cum += p
			if cum >= opt.TopP {
				idx, probs = idx[:i+1], probs[:i+1]
				break
			}
		}
		sum = 0
		for _, p := range probs {
			sum += p
		}
		for i := range probs {
			probs[i] /= sum
		}
	}
	r := rng.Float64()
	for i, p := range probs {
		if r < p {
			return idx[i]
		}
		r -= p
	}
	return idx[len(idx)-1]
}
