package nn_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/nn"
)

// refNF4 is the NF4 code table as printed in the QLoRA paper's appendix and
// bitsandbytes' create_normal_map / get_4bit_type("nf4"), typed in here
// independently of the package's table.
var refNF4 = []float64{
	-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
	-0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
	0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
	0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
}

// refQuantNF4 is a straightforward reference: blocks of 64 of the flat
// values, absmax per block, each normalised value to the code of minimum
// distance (the lower code on a tie), codes written as a nibble stream with
// the first of each pair in the high nibble.
func refQuantNF4(w []float32) ([]byte, []float32) {
	var absmax []float32
	nibbles := make([]byte, 0, len(w)+1)
	for start := 0; start < len(w); start += 64 {
		end := min(start+64, len(w))
		m := 0.0
		for _, v := range w[start:end] {
			m = math.Max(m, math.Abs(float64(v)))
		}
		absmax = append(absmax, float32(m))
		for _, v := range w[start:end] {
			best, bestD := 7, math.Inf(1)
			if m > 0 {
				x := float64(float32(float64(v) / m))
				for k, t := range refNF4 {
					// strict < keeps the lower code on an exact tie
					if d := math.Abs(x - t); d < bestD-1e-12 {
						best, bestD = k, d
					}
				}
			}
			nibbles = append(nibbles, byte(best))
		}
	}
	if len(nibbles)%2 == 1 {
		nibbles = append(nibbles, 0)
	}
	packed := make([]byte, len(nibbles)/2)
	for i := range packed {
		packed[i] = nibbles[2*i]<<4 | nibbles[2*i+1]
	}
	return packed, absmax
}

func randWeights(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.05)
	}
	return w
}

// TestNF4Reference checks quantisation codes, packing order and block
// scales against the reference, including a short tail block and an odd
// number of values, and dequantisation against table × absmax.
func TestNF4Reference(t *testing.T) {
	for i, v := range nn.NF4Table {
		if float64(v) != float64(float32(refNF4[i])) {
			t.Fatalf("NF4 table[%d] = %v, want %v", i, v, refNF4[i])
		}
	}
	for _, tc := range []struct {
		name string
		n    int
	}{{"one block", 64}, {"three blocks", 192}, {"tail of 2", 130}, {"odd tail of 3", 131}, {"one value", 1}, {"zeros block", 70}} {
		t.Run(tc.name, func(t *testing.T) {
			w := randWeights(tc.n, uint64(tc.n))
			if tc.name == "zeros block" {
				for i := 64; i < tc.n; i++ {
					w[i] = 0
				}
			}
			// Exact block maxima and a value exactly at 0 exercise the
			// codes 0, 15 and 7.
			w[0] = 0
			codes, absmax := nn.QuantizeNF4(w)
			wantC, wantA := refQuantNF4(w)
			if !slices.Equal(codes, wantC) {
				t.Fatalf("codes\n got %x\nwant %x", codes, wantC)
			}
			if !slices.Equal(absmax, wantA) {
				t.Fatalf("absmax got %v want %v", absmax, wantA)
			}
			got := nn.DequantizeNF4(codes, absmax, tc.n)
			for k := range got {
				nib := wantC[k/2] >> 4
				if k%2 == 1 {
					nib = wantC[k/2] & 0xf
				}
				want := float32(refNF4[nib]) * wantA[k/64]
				if got[k] != want {
					t.Fatalf("value %d: dequantised %v, want %v", k, got[k], want)
				}
				// NF4 error is at most half the widest gap (-1 to -0.6962) of
				// the block's absmax.
				if d := math.Abs(float64(got[k] - w[k])); d > 0.1520*float64(wantA[k/64])+1e-7 {
					t.Fatalf("value %d: |%v - %v| = %v exceeds half a code step", k, got[k], w[k], d)
				}
			}
		})
	}
}

// TestInt8Reference checks per-output-channel absmax int8 against a
// reference, for the PyTorch [out, in] layout and Conv1D's [in, out].
func TestInt8Reference(t *testing.T) {
	dims := []int{5, 7}
	w := randWeights(35, 3)
	for _, outAxis := range []int{0, 1} {
		q, absmax := nn.QuantizeInt8(w, dims, outAxis)
		if len(absmax) != dims[outAxis] {
			t.Fatalf("axis %d: %d scales, want %d", outAxis, len(absmax), dims[outAxis])
		}
		for c := range dims[outAxis] {
			m := 0.0
			for i := range dims[0] {
				for j := range dims[1] {
					if (outAxis == 0 && i == c) || (outAxis == 1 && j == c) {
						m = math.Max(m, math.Abs(float64(w[i*dims[1]+j])))
					}
				}
			}
			if float32(m) != absmax[c] {
				t.Fatalf("axis %d channel %d: absmax %v, want %v", outAxis, c, absmax[c], m)
			}
		}
		deq := nn.DequantizeInt8(q, absmax, dims, outAxis)
		for k, v := range w {
			c := k / dims[1]
			if outAxis == 1 {
				c = k % dims[1]
			}
			want := math.RoundToEven(float64(v * 127 / absmax[c]))
			if float64(q[k]) != want {
				t.Fatalf("axis %d value %d: q %d, want %v", outAxis, k, q[k], want)
			}
			if d := math.Abs(float64(deq[k] - v)); d > float64(absmax[c])/254+1e-7 {
				t.Fatalf("axis %d value %d: error %v above half a step", outAxis, k, d)
			}
		}
	}
}

// TestQuantizedParams checks that a quantised weight keeps its name, shape
// and (dequantised) value on the host and in the graph, and that float32
// storage is gone.
func TestQuantizedParams(t *testing.T) {
	be, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scheme  string
		shape   []int
		outAxis int
	}{{nn.QuantNF4, []int{3, 43}, 0}, {nn.QuantInt8, []int{6, 5}, 0}, {nn.QuantInt8, []int{6, 5}, 1}} {
		p := nn.NewParams()
		n := tc.shape[0] * tc.shape[1]
		w := randWeights(n, 11)
		if err := p.Set("l.weight", tc.shape, w); err != nil {
			t.Fatal(err)
		}
		p.SetTrainable("l.weight", false)
		if err := p.Quantize("l.weight", tc.scheme, tc.outAxis); err != nil {
			t.Fatal(err)
		}
		if p.Var("l.weight") != nil || !p.Has("l.weight") || !slices.Equal(p.Shape("l.weight"), tc.shape) || p.Quantization("l.weight") != tc.scheme {
			t.Fatalf("%s: quantised weight not seen as one (var %v, shape %v)", tc.scheme, p.Var("l.weight"), p.Shape("l.weight"))
		}
		host, err := p.Value("l.weight")
		if err != nil {
			t.Fatal(err)
		}
		var want []float32
		if tc.scheme == nn.QuantNF4 {
			c, a := nn.QuantizeNF4(w)
			want = nn.DequantizeNF4(c, a, n)
		} else {
			q, a := nn.QuantizeInt8(w, tc.shape, tc.outAxis)
			want = nn.DequantizeInt8(q, a, tc.shape, tc.outAxis)
		}
		if !slices.Equal(host, want) {
			t.Fatalf("%s: host value differs from the dequantised codes", tc.scheme)
		}
		stored, f32 := p.QuantizedBytes()
		if f32 != int64(4*n) || stored >= f32/2 {
			t.Fatalf("%s: stored %d bytes for %d float32 bytes", tc.scheme, stored, f32)
		}
		e, err := nn.NewModelExec(be, p, func(g *Graph, _ []*Node) []*Node {
			c := &nn.Ctx{G: g, P: p}
			return []*Node{c.Weight("l.weight")}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.Exec(float32(0))
		if err != nil {
			t.Fatal(err)
		}
		var graphW []float32
		out[0].ConstFlatData(func(flat any) { graphW = append(graphW, flat.([]float32)...) })
		for k := range want {
			if math.Abs(float64(graphW[k]-want[k])) > 1e-7 {
				t.Fatalf("%s: graph value %d = %v, host %v", tc.scheme, k, graphW[k], want[k])
			}
		}
		if !slices.Equal(out[0].Shape().Dimensions, tc.shape) {
			t.Fatalf("%s: graph shape %v", tc.scheme, out[0].Shape().Dimensions)
		}
	}
}
