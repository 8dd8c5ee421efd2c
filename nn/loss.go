package nn

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
)

// CrossEntropy returns the mean cross-entropy of logits [..., classes]
// against integer labels [...]; labels < 0 (Hugging Face's -100) are
// ignored. It also returns the number of labels counted.
func CrossEntropy(logits, labels *Node) (loss, count *Node) {
	g := logits.Graph()
	classes := logits.Shape().Dimensions[logits.Rank()-1]
	valid := GreaterOrEqual(labels, ScalarZero(g, labels.DType()))
	safe := Where(valid, labels, ZerosLike(labels))
	logp := LogSoftmax(logits, -1)
	onehot := OneHot(safe, classes, logits.DType())
	nll := Neg(ReduceSum(Mul(logp, onehot), -1))
	validF := ConvertDType(valid, logits.DType())
	nll = Mul(nll, validF)
	count = ReduceAllSum(validF)
	loss = Div(ReduceAllSum(nll), Max(count, ScalarOne(g, logits.DType())))
	return loss, count
}

// Int32 converts x to int32.
func Int32(x *Node) *Node { return ConvertDType(x, dtypes.Int32) }
