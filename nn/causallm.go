package nn

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
)

// CausalLMLoss returns Hugging Face's causal-LM loss for logits [batch, T,
// vocab] and labels [batch, T]: the labels are shifted left by one inside
// (position t predicts label t+1), labels < 0 (-100) are ignored, and the
// loss is the mean cross-entropy over the rest.
func CausalLMLoss(logits, labels *Node) *Node {
	t := logits.Shape().Dimensions[1]
	if t < 2 {
		return ScalarZero(logits.Graph(), logits.DType())
	}
	shifted := Slice(logits, AxisRange(), AxisRange(0, t-1), AxisRange())
	next := Slice(labels, AxisRange(), AxisRange(1, t))
	loss, _ := CrossEntropy(shifted, next)
	return loss
}
