package safetensors

import (
	"bytes"
	"math"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read: it must return a File or an
// error, never panic, never allocate more than the input's size allows, and
// a File it accepts must survive a Write/Read round trip unchanged.
func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	if err := Write(&buf, []*Tensor{
		{Name: "w", Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "h", Shape: []int{2}, DType: F16, F32: []float32{0.5, -1}},
		{Name: "b", Shape: []int{3}, DType: BF16, F32: []float32{1, 2, 3}},
		{Name: "i", Shape: []int{2}, DType: I64, I64: []int64{7, -7}},
		{Name: "s", Shape: []int{}, DType: I8, I64: []int64{-1}},
	}, map[string]string{"format": "pt"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(header(`{"x":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4]}}`, 4))
	f.Add(header(`{"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}`, 0))
	f.Add(header(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := Read(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, st.Tensors, st.Metadata); err != nil {
			t.Fatalf("a file Read accepts does not Write: %v", err)
		}
		st2, err := Read(bytes.NewReader(out.Bytes()), int64(out.Len()), "rewritten")
		if err != nil {
			t.Fatalf("rewritten file does not Read: %v", err)
		}
		if len(st2.Tensors) != len(st.Tensors) {
			t.Fatalf("%d tensors after the round trip, want %d", len(st2.Tensors), len(st.Tensors))
		}
		for _, a := range st.Tensors {
			c := st2.Get(a.Name)
			if c == nil || c.DType != a.DType || c.NumElements() != a.NumElements() || len(c.F32) != len(a.F32) || len(c.I64) != len(a.I64) {
				t.Fatalf("tensor %q changed in the round trip", a.Name)
			}
			for i := range a.F32 {
				x, y := a.F32[i], c.F32[i]
				if x != y && !(math.IsNaN(float64(x)) && math.IsNaN(float64(y))) {
					t.Fatalf("tensor %q value %d: %v became %v", a.Name, i, x, y)
				}
			}
			for i := range a.I64 {
				if a.I64[i] != c.I64[i] {
					t.Fatalf("tensor %q value %d: %v became %v", a.Name, i, a.I64[i], c.I64[i])
				}
			}
		}
	})
}
