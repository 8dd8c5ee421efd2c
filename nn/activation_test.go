package nn_test

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/nn"
)

// TestActivationGradients checks each activation's value and derivative
// against closed forms over [-6, 6], on enough points that the backend's
// vectorised kernels and their scalar tails both run.
func TestActivationGradients(t *testing.T) {
	gelu := func(x float64) (float64, float64) {
		cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
		return x * cdf, cdf + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
	}
	geluTanh := func(x float64) (float64, float64) {
		k := math.Sqrt(2 / math.Pi)
		u := k * (x + 0.044715*x*x*x)
		th := math.Tanh(u)
		return 0.5 * x * (1 + th), 0.5*(1+th) + 0.5*x*(1-th*th)*k*(1+3*0.044715*x*x)
	}
	silu := func(x float64) (float64, float64) {
		s := 1 / (1 + math.Exp(-x))
		return x * s, s * (1 + x*(1-s))
	}
	relu := func(x float64) (float64, float64) {
		if x > 0 {
			return x, 1
		}
		return 0, 0
	}
	tanh := func(x float64) (float64, float64) { th := math.Tanh(x); return th, 1 - th*th }
	cases := []struct {
		name string
		f    func(float64) (float64, float64)
	}{
		{"gelu", gelu}, {"gelu_new", geluTanh}, {"gelu_pytorch_tanh", geluTanh}, {"silu", silu}, {"relu", relu}, {"tanh", tanh},
	}
	const n = 203
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(-6 + 12*float64(i)/float64(n-1))
		if xs[i] == 0 {
			xs[i] = 1e-3
		}
	}
	be := fixture.Backend(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewExec(be, func(x *Node) (*Node, *Node) {
				y, err := nn.Activation(tc.name, x)
				if err != nil {
					panic(err)
				}
				return y, Gradient(ReduceAllSum(y), x)[0]
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.Exec(tensors.FromFlatDataAndDimensions(xs, n))
			if err != nil {
				t.Fatal(err)
			}
			y, dy := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
			var worstY, worstD float64
			for i, x := range xs {
				wantY, wantD := tc.f(float64(x))
				worstY = math.Max(worstY, math.Abs(float64(y[i])-wantY))
				worstD = math.Max(worstD, math.Abs(float64(dy[i])-wantD))
			}
			if worstY > 1e-5 || worstD > 1e-5 {
				t.Errorf("max |value diff| %.3g, max |gradient diff| %.3g; want ≤ 1e-5", worstY, worstD)
			}
		})
	}
}
