package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixture = "../../shared/fixtures/bert-seqcls/model.safetensors"

func TestRoundTripIsByteIdentical(t *testing.T) {
	orig, err := os.ReadFile(fixture)
	if err != nil {
		t.Skipf("../shared fixtures absent: %v", err)
	}
	f, err := ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Get("classifier.weight"); got == nil || len(got.Shape) != 2 || got.Shape[0] != 3 || got.Shape[1] != 32 {
		t.Fatalf("classifier.weight = %+v", got)
	}
	var buf bytes.Buffer
	if err := Write(&buf, f.Tensors, f.Metadata); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), orig) {
		t.Fatalf("rewritten file differs from the reference writer's bytes (%d vs %d bytes)", buf.Len(), len(orig))
	}
}

func TestHalfPrecisionRoundTrip(t *testing.T) {
	vals := []float32{0, 1, -2.5, 0.333251953125, 65504, 1e-7, -0.0001}
	for _, dt := range []DType{F16, BF16} {
		dir := t.TempDir()
		p := filepath.Join(dir, "x.safetensors")
		if err := WriteFile(p, []*Tensor{{Name: "x", Shape: []int{7}, DType: dt, F32: vals}}, nil); err != nil {
			t.Fatal(err)
		}
		f, err := ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got := f.Get("x").F32
		for i, v := range vals {
			tol := float32(1e-3)
			if dt == BF16 {
				tol = 1e-2
			}
			d := got[i] - v
			if d < 0 {
				d = -d
			}
			if d > tol*(1+abs(v)) {
				t.Errorf("%s: value %d: got %g want %g", dt, i, got[i], v)
			}
		}
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func header(json string, data int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(json)))
	b.WriteString(json)
	b.Write(make([]byte, data))
	return b.Bytes()
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name, want string
		file       []byte
	}{
		{"short", "too short", []byte{1, 2}},
		{"header larger than file", "larger than the file", func() []byte {
			b := header(`{}`, 0)
			binary.LittleEndian.PutUint64(b, 1000)
			return b
		}()},
		{"header over limit", "exceeds the limit", func() []byte {
			b := header(`{}`, 0)
			binary.LittleEndian.PutUint64(b, MaxHeaderSize+1)
			return b
		}()},
		{"not json", "not a JSON object", header(`{"a":`, 0)},
		{"truncated data", `tensor "a": data_offsets [0, 16] run past the end`, header(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8)},
		{"size mismatch", `tensor "a": shape [3] of F32 needs 12 bytes`, header(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`, 16)},
		{"overlap", `overlap`, header(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, 16)},
		{"bad dtype", `unsupported dtype "Q4"`, header(`{"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}}`, 16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.file), int64(len(tc.file)), "bad.safetensors")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.safetensors") {
				t.Fatalf("error %q does not say %q and name the file", err, tc.want)
			}
		})
	}
}
