package spm

import (
	"encoding/binary"
	"math"
	"reflect"
	"testing"
)

// model encodes a small BPE ModelProto by hand (pieces, trainer_spec
// model_type=BPE, normalizer add_dummy_prefix).
func model(pieces []string, scores []float32, types []int32) []byte {
	field := func(b []byte, f, wire int) []byte { return binary.AppendUvarint(b, uint64(f<<3|wire)) }
	bytesField := func(b []byte, f int, v []byte) []byte {
		b = field(b, f, 2)
		return append(binary.AppendUvarint(b, uint64(len(v))), v...)
	}
	var out []byte
	for i, p := range pieces {
		var m []byte
		m = bytesField(m, 1, []byte(p))
		m = field(m, 2, 5)
		m = binary.LittleEndian.AppendUint32(m, math.Float32bits(scores[i]))
		m = field(m, 3, 0)
		m = binary.AppendUvarint(m, uint64(types[i]))
		out = bytesField(out, 1, m)
	}
	trainer := binary.AppendUvarint(field(nil, 3, 0), 2)
	out = bytesField(out, 2, trainer)
	norm := binary.AppendUvarint(field(nil, 3, 0), 1)
	return bytesField(out, 3, norm)
}

func TestParseModelAndEncode(t *testing.T) {
	pieces := []string{"<unk>", "<s>", "</s>", "▁", "h", "i", "▁h", "▁hi", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"}
	scores := []float32{0, 0, 0, -1, -2, -3, -0.5, -0.1, 0, 0, 0, 0}
	types := []int32{Unknown, Control, Control, Normal, Normal, Normal, Normal, Normal, Byte, Byte, Byte, Byte}
	tk, err := ParseModel(model(pieces, scores, types))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tk.Encode("hi hi"), []int{7, 7}; !reflect.DeepEqual(got, want) {
		t.Errorf("Encode(hi hi) = %v, want %v", got, want)
	}
	if got, want := tk.Encode("hi😀"), []int{7, 8, 9, 10, 11}; !reflect.DeepEqual(got, want) {
		t.Errorf("Encode(hi😀) = %v, want %v (byte fallback)", got, want)
	}
	if got := tk.Decode([]int{1, 7, 8, 9, 10, 11, 7, 2}); got != "hi😀 hi" {
		t.Errorf("Decode = %q", got)
	}
	if _, err := ParseModel([]byte{0x0a, 0x05, 0x0a}); err == nil {
		t.Error("truncated model accepted")
	}
}
