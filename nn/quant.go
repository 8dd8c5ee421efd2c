package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Quantisation schemes for frozen base weights (QLoRA, --quantize-base).
const (
	// QuantNF4 is bitsandbytes' 4-bit NormalFloat: the weight is flattened
	// (row-major, in its stored layout), cut into blocks of NF4BlockSize
	// consecutive values (the last block may be shorter), each block scaled
	// by its absolute maximum and every value stored as the index of the
	// nearest of the 16 NF4 values; two indices per byte, the first value of
	// a pair in the high nibble. The block scales are float32 (no double
	// quantisation).
	QuantNF4 = "nf4"
	// QuantInt8 is symmetric absmax int8 per output channel (bitsandbytes'
	// LLM.int8 weight layout without outliers): q = round(127·w/absmax) of
	// the channel, w ≈ q·absmax/127.
	QuantInt8 = "int8"
)

// NF4BlockSize is the number of consecutive values that share one NF4
// absmax scale (bitsandbytes' default blocksize for 4-bit weights).
const NF4BlockSize = 64

// NF4Table holds the 16 NF4 code values, ordered by code (the QLoRA paper's
// NormalFloat4, as bitsandbytes' get_4bit_type("nf4")); GoMLX's compute
// package carries the same table.
var NF4Table = compute.NF4LookupTable

// CheckQuantScheme returns an error unless s is "", "nf4" or "int8".
func CheckQuantScheme(s string) error {
	switch s {
	case "", QuantNF4, QuantInt8:
		return nil
	}
	return fmt.Errorf("unknown quantisation %q (valid: nf4, int8)", s)
}

// nf4Code returns the index of the NF4 value nearest to v (v in [-1, 1]);
// a value exactly between two codes takes the lower one, as bitsandbytes'
// comparison tree (x > midpoint picks the upper code).
func nf4Code(v float32) byte {
	lo := 0
	for lo < 15 && v > (NF4Table[lo]+NF4Table[lo+1])/2 {
		lo++
	}
	return byte(lo)
}

// QuantizeNF4 quantises w to NF4: packed codes, ceil(len(w)/2) bytes, and
// one absmax per block of NF4BlockSize values. A block of zeros has absmax
// 0 and codes 7 (the value 0).
func QuantizeNF4(w []float32) (codes []byte, absmax []float32) {
	n := len(w)
	nb := (n + NF4BlockSize - 1) / NF4BlockSize
	absmax = make([]float32, nb)
	codes = make([]byte, (n+1)/2)
	for b := range nb {
		blk := w[b*NF4BlockSize : min(n, (b+1)*NF4BlockSize)]
		var m float32
		for _, v := range blk {
			m = max(m, float32(math.Abs(float64(v))))
		}
		absmax[b] = m
		for i, v := range blk {
			c := byte(7)
			if m > 0 {
				c = nf4Code(v / m)
			}
			k := b*NF4BlockSize + i
			if k%2 == 0 {
				codes[k/2] |= c << 4
			} else {
				codes[k/2] |= c
			}
		}
	}
	return codes, absmax
}

// DequantizeNF4 returns the n values that codes and absmax (QuantizeNF4's
// output) stand for.
func DequantizeNF4(codes []byte, absmax []float32, n int) []float32 {
	out := make([]float32, n)
	for k := range out {
		c := codes[k/2] >> 4
		if k%2 == 1 {
			c = codes[k/2] & 0xf
		}
		out[k] = NF4Table[c] * absmax[k/NF4BlockSize]
	}
	return out
}

// QuantizeInt8 quantises a 2-D weight w (row-major dims[0] × dims[1]) per
// output channel along outAxis (0 for a PyTorch Linear's [out, in], 1 for a
// Conv1D's [in, out]): absmax has one entry per channel.
func QuantizeInt8(w []float32, dims []int, outAxis int) (q []int8, absmax []float32) {
	rows, cols := dims[0], dims[1]
	absmax = make([]float32, dims[outAxis])
	ch := func(i, j int) int {
		if outAxis == 0 {
			return i
		}
		return j
	}
	for i := range rows {
		for j := range cols {
			c := ch(i, j)
			absmax[c] = max(absmax[c], float32(math.Abs(float64(w[i*cols+j]))))
		}
	}
	q = make([]int8, len(w))
	for i := range rows {
		for j := range cols {
			if m := absmax[ch(i, j)]; m > 0 {
				q[i*cols+j] = int8(math.RoundToEven(float64(w[i*cols+j] * 127 / m)))
			}
		}
	}
	return q, absmax
}

// DequantizeInt8 returns the values QuantizeInt8's output stands for.
func DequantizeInt8(q []int8, absmax []float32, dims []int, outAxis int) []float32 {
	cols := dims[1]
	out := make([]float32, len(q))
	for k, v := range q {
		c := k / cols
		if outAxis == 1 {
			c = k % cols
		}
		out[k] = float32(v) * absmax[c] / 127
	}
	return out
}

// quantized is a frozen weight held in quantised form: codes (uint8 packed
// NF4 codes, or int8 values) and float32 absmax scales, as two frozen
// variables of the store.
type quantized struct {
	scheme  string
	shape   []int
	outAxis int
	codes   *model.Variable
	absmax  *model.Variable
}

// quantPath is the store path of a quantised weight's part.
func quantPath(name, part string) string { return "/#quant/" + name + "/" + part }

// Quantize replaces the named frozen weight by its quantised form (scheme
// QuantNF4 or QuantInt8; outAxis is the output-channel axis of a 2-D
// weight, used by int8). Its float32 value is dropped; Value, Shape and
// the graph (Ctx.Weight, Ctx.Linear) see the dequantised weight. A
// trainable weight is an error.
func (p *Params) Quantize(name, scheme string, outAxis int) error {
	v := p.vars[name]
	if v == nil {
		return fmt.Errorf("quantise %s: no such weight", name)
	}
	if v.Trainable {
		return fmt.Errorf("quantise %s: the weight trains; only frozen weights can be quantised", name)
	}
	if err := CheckQuantScheme(scheme); err != nil || scheme == "" {
		return fmt.Errorf("quantise %s: unknown quantisation %q (valid: nf4, int8)", name, scheme)
	}
	shape := append([]int(nil), v.Shape().Dimensions...)
	if scheme == QuantInt8 && (len(shape) != 2 || outAxis < 0 || outAxis > 1) {
		return fmt.Errorf("quantise %s: int8 needs a 2-D weight and an output axis 0 or 1, got shape %v axis %d", name, shape, outAxis)
	}
	t, err := v.Value()
	if err != nil {
		return fmt.Errorf("quantise %s: %w", name, err)
	}
	var codes, scales *tensors.Tensor
	// Read the float32 values in place (no host copy) and quantise them.
	err = t.ConstFlatData(func(flat any) {
		w, ok := flat.([]float32)
		if !ok {
			err = fmt.Errorf("quantise %s: dtype %s, want float32", name, t.DType())
			return
		}
		switch scheme {
		case QuantNF4:
			c, a := QuantizeNF4(w)
			codes, scales = tensors.FromFlatDataAndDimensions(c, len(c)), tensors.FromFlatDataAndDimensions(a, len(a))
		case QuantInt8:
			c, a := QuantizeInt8(w, shape, outAxis)
			codes, scales = tensors.FromFlatDataAndDimensions(c, shape...), tensors.FromFlatDataAndDimensions(a, len(a))
		}
	})
	if err != nil || codes == nil {
		return fmt.Errorf("quantise %s: %w", name, err)
	}
	if err := p.Delete(name); err != nil {
		return err
	}
	// Free the float32 value now (host and backend copies), not at the next
	// garbage collection.
	if err := t.FinalizeAll(); err != nil {
		return fmt.Errorf("quantise %s: %w", name, err)
	}
	q := &quantized{scheme: scheme, shape: shape, outAxis: outAxis}
	if q.codes, err = p.store.CreateVariable(quantPath(name, "codes"), codes); err != nil {
		return fmt.Errorf("quantise %s: %w", name, err)
	}
	if q.absmax, err = p.store.CreateVariable(quantPath(name, "absmax"), scales); err != nil {
		return fmt.Errorf("quantise %s: %w", name, err)
	}
	q.codes.SetTrainable(false)
	q.absmax.SetTrainable(false)
	if p.quant == nil {
		p.quant = map[string]*quantized{}
	}
	p.quant[name] = q
	return nil
}

// Quantization returns the scheme the named weight is stored in ("nf4",
// "int8"), or "" for a float32 weight.
func (p *Params) Quantization(name string) string {
	if q := p.quant[name]; q != nil {
		return q.scheme
	}
	return ""
}

// QuantizedBytes returns the bytes the quantised weights take (codes and
// scales) and the bytes they would take in float32.
func (p *Params) QuantizedBytes() (stored, f32 int64) {
	for _, q := range p.quant {
		stored += int64(q.codes.Shape().Memory()) + int64(q.absmax.Shape().Memory())
		f32 += 4 * int64(shapeSize(q.shape))
	}
	return stored, f32
}

func shapeSize(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// value dequantises a quantised weight on the host.
func (q *quantized) value() ([]float32, error) {
	ct, err := q.codes.Value()
	if err != nil {
		return nil, err
	}
	at, err := q.absmax.Value()
	if err != nil {
		return nil, err
	}
	var absmax []float32
	at.ConstFlatData(func(flat any) { absmax = append(absmax, flat.([]float32)...) })
	var out []float32
	ct.ConstFlatData(func(flat any) {
		switch c := flat.(type) {
		case []uint8:
			out = DequantizeNF4(c, absmax, shapeSize(q.shape))
		case []int8:
			out = DequantizeInt8(c, absmax, q.shape, q.outAxis)
		}
	})
	return out, nil
}

// node returns the dequantised weight in g: codes → table or int8 values
// → × scales, in the weight's shape. With remat, the codes enter through a
// checkpoint so the backward pass recomputes the float32 weight instead of
// keeping it from the forward pass (the point of keeping weights
// quantised); the caller then ends the block with StopCheckpoint unless an
// enclosing checkpointed layer does.
func (q *quantized) node(g *Graph, remat bool) *Node {
	codes, absmax := q.codes.NodeValue(g), q.absmax.NodeValue(g)
	if remat {
		codes = codes.Checkpoint()
	}
	n := shapeSize(q.shape)
	if q.scheme == QuantInt8 {
		w := ConvertDType(codes, dtypes.Float32)
		s := MulScalar(absmax, 1.0/127)
		if q.outAxis == 0 {
			return Mul(w, Reshape(s, q.shape[0], 1))
		}
		return Mul(w, Reshape(s, 1, q.shape[1]))
	}
	nbytes := codes.Shape().Size()
	hi := BitwiseShiftRightLogicalScalar(codes, uint8(4))
	lo := BitwiseAnd(codes, Scalar(g, dtypes.Uint8, uint8(0x0f)))
	idx := Reshape(Concatenate([]*Node{Reshape(hi, nbytes, 1), Reshape(lo, nbytes, 1)}, 1), 2*nbytes)
	idx = ConvertDType(idx, dtypes.Int32)
	vals := Gather(Const(g, NF4Table[:]), Reshape(idx, 2*nbytes, 1)) // [2·nbytes]
	nb := absmax.Shape().Size()
	if pad := nb*NF4BlockSize - 2*nbytes; pad > 0 {
		vals = Concatenate([]*Node{vals, Zeros(g, ShapeOf(pad))}, 0)
	}
	w := Mul(Reshape(vals, nb, NF4BlockSize), Reshape(absmax, nb, 1))
	w = Reshape(w, nb*NF4BlockSize)
	if nb*NF4BlockSize != n {
		w = Slice(w, AxisRange(0, n))
	}
	return Reshape(w, q.shape...)
}
