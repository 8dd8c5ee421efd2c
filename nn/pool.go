package nn

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
)

// PoolLast returns hidden [batch, T', dim] at each row's last non-pad token
// of ids [batch, T], as transformers 4.43's *ForSequenceClassification
// decoders pool: the index of the first padID minus one, modulo T (the last
// token when a row has no pad, and always when padID is nil). When hidden
// is longer than ids (a hook prepended tokens) the real tokens are its last
// T positions.
func PoolLast(padID *int, ids, hidden *Node) *Node {
	g := hidden.Graph()
	b, t := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	if hT := hidden.Shape().Dimensions[1]; hT != t {
		hidden = Slice(hidden, AxisRange(), AxisRange(hT-t, hT), AxisRange())
	}
	idx := Iota(g, shapes.Make(dtypes.Int32, b, t), 1)
	last := Scalar(g, dtypes.Int32, t-1)
	if padID != nil {
		isPad := Equal(ids, Scalar(g, ids.DType(), *padID))
		first := ReduceMin(Where(isPad, idx, BroadcastToDims(Scalar(g, dtypes.Int32, t), b, t)), 1)
		last = Where(Equal(first, ScalarZero(g, dtypes.Int32)), BroadcastToDims(Scalar(g, dtypes.Int32, t-1), b), AddScalar(first, -1))
		last = ExpandAxes(last, -1)
	}
	sel := ConvertDType(Equal(idx, last), hidden.DType())
	return Einsum("bt,bth->bh", sel, hidden)
}
