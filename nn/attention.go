package nn

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
)

// Attention computes scaled dot-product attention for q [batch, qLen,
// heads, dim] over k, v [batch, kLen, heads, dim], with an additive mask
// bias broadcastable to [batch, heads, qLen, kLen] (nil for none) and
// dropout p on the probabilities while training. It returns [batch, qLen,
// heads*dim].
//
// Heads are folded into one leading batch axis ([batch*heads, len, dim]) so
// every matrix product has the single leading batch axis and trailing
// contracting axis that the Go backend's matmul kernels take directly,
// instead of the operand re-layouts a two-batch-axis einsum costs.
func (c *Ctx) Attention(q, k, v, maskBias *Node, p float64) *Node {
	b, ql, h, d := q.Shape().Dimensions[0], q.Shape().Dimensions[1], q.Shape().Dimensions[2], q.Shape().Dimensions[3]
	kl := k.Shape().Dimensions[1]
	fold := func(t *Node, l int) *Node { return Reshape(TransposeAllAxes(t, 0, 2, 1, 3), b*h, l, d) }
	qf, kf, vf := fold(q, ql), fold(k, kl), fold(v, kl)
	scores := c.MatMul(qf, []int{2}, []int{0}, kf, []int{2}, []int{0}) // [b*h, ql, kl]
	scores = MulScalar(scores, 1/math.Sqrt(float64(d)))
	if maskBias != nil {
		scores = Reshape(Add(Reshape(scores, b, h, ql, kl), maskBias), b*h, ql, kl)
	}
	probs := c.Dropout(Softmax(scores, -1), p)
	out := c.MatMul(probs, []int{2}, []int{0}, vf, []int{1}, []int{0}) // [b*h, ql, d]
	return Reshape(TransposeAllAxes(Reshape(out, b, h, ql, d), 0, 2, 1, 3), b, ql, h*d)
}

// KVCache is a fixed-size key/value cache for incremental decoding. Slots
// never move: the tokens of a step are written at slots Pos, Pos+1, ...
// (one-hot scatter, so one compiled graph serves every step), and queries
// attend to every slot that Mask marks and causality allows.
type KVCache struct {
	// K and V hold one [batch, slots, kvHeads, headDim] node per layer;
	// CausalSelfAttention replaces layer l's entries by the updated cache.
	K, V []*Node
	// Pos is an int32 scalar: the slot of the step's first token.
	Pos *Node
	// Mask is int32 [batch, slots]: 1 for slots holding a real token
	// (including this step's tokens), 0 for padding and empty slots.
	Mask *Node
}

// CausalSelfAttention is the masked self-attention shared by the decoder
// architectures (LLaMA, GPT-2). q is [batch, T, heads, dim]; k and v are
// [batch, T, kvHeads, dim] for the current tokens, positions already
// encoded; mask [batch, T] is 1 for real tokens. It
//
//   - with cache != nil, writes k and v into the cache at slots Pos.. and
//     attends to the whole cache (cache.Mask replaces mask);
//   - puts the PrefixHook's keys/values for layer (not position-encoded) in
//     front of the keys; every query sees all of them;
//   - shares each key/value head among heads/kvHeads consecutive query heads
//     (grouped-query attention, Hugging Face's repeat_kv);
//   - lets query i see key j iff j is not after i and j is not padding
//     (masked scores get float32's lowest value added, as Hugging Face's
//     eager attention).
//
// It returns [batch, T, heads*dim].
func (c *Ctx) CausalSelfAttention(layer int, q, k, v, mask *Node, cache *KVCache, p float64) *Node {
	g := q.Graph()
	b, t, heads, d := q.Shape().Dimensions[0], q.Shape().Dimensions[1], q.Shape().Dimensions[2], q.Shape().Dimensions[3]
	kvHeads := k.Shape().Dimensions[2]
	// Absolute slot of each query, before the prefix.
	qSlot := Iota(g, shapes.Make(dtypes.Int32, t), 0)
	if cache != nil {
		slots := cache.K[layer].Shape().Dimensions[1]
		// scatter[t, s] = 1 where slot s receives token t.
		target := Add(qSlot, cache.Pos)
		scatter := ConvertDType(Equal(ExpandAxes(target, -1), Iota(g, shapes.Make(dtypes.Int32, t, slots), 1)), k.DType())
		keep := OneMinus(ReduceSum(scatter, 0)) // [slots]
		write := func(old, x *Node) *Node {
			upd := Einsum("ts,bthd->bshd", scatter, x)
			return Add(Mul(old, Reshape(keep, 1, slots, 1, 1)), upd)
		}
		cache.K[layer] = write(cache.K[layer], k)
		cache.V[layer] = write(cache.V[layer], v)
		k, v, mask = cache.K[layer], cache.V[layer], cache.Mask
		qSlot = target
	}
	kl := k.Shape().Dimensions[1]
	keyMask := ConvertDType(mask, dtypes.Int32)
	if pk, pv := c.PrefixKV(layer, b, kvHeads, d); pk != nil {
		np := pk.Shape().Dimensions[1]
		k = Concatenate([]*Node{pk, k}, 1)
		v = Concatenate([]*Node{pv, v}, 1)
		keyMask = Concatenate([]*Node{Ones(g, shapes.Make(dtypes.Int32, b, np)), keyMask}, 1)
		qSlot = AddScalar(qSlot, float64(np))
		kl += np
	}
	if rep := heads / kvHeads; rep > 1 {
		repeat := func(x *Node) *Node {
			x = BroadcastToDims(ExpandAxes(x, 3), b, kl, kvHeads, rep, d)
			return Reshape(x, b, kl, heads, d)
		}
		k, v = repeat(k), repeat(v)
	}
	kSlot := Iota(g, shapes.Make(dtypes.Int32, t, kl), 1)
	causal := LessOrEqual(kSlot, ExpandAxes(qSlot, -1))                                                     // [t, kl]
	visible := And(ExpandAxes(causal, 0), ExpandAxes(GreaterThan(keyMask, ScalarZero(g, dtypes.Int32)), 1)) // [b, t, kl]
	bias := Where(visible, Zeros(g, shapes.Make(q.DType(), b, t, kl)), BroadcastToDims(Scalar(g, q.DType(), -math.MaxFloat32), b, t, kl))
	return c.Attention(q, k, v, Reshape(bias, b, 1, t, kl), p)
}
