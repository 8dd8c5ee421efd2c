package nn

import (
	"math"

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
	scores := DotGeneral(qf, []int{2}, []int{0}, kf, []int{2}, []int{0}) // [b*h, ql, kl]
	scores = MulScalar(scores, 1/math.Sqrt(float64(d)))
	if maskBias != nil {
		scores = Reshape(Add(Reshape(scores, b, h, ql, kl), maskBias), b*h, ql, kl)
	}
	probs := c.Dropout(Softmax(scores, -1), p)
	out := DotGeneral(probs, []int{2}, []int{0}, vf, []int{1}, []int{0}) // [b*h, ql, d]
	return Reshape(TransposeAllAxes(Reshape(out, b, h, ql, d), 0, 2, 1, 3), b, ql, h*d)
}
