package spm

import (
	"encoding/binary"
	"math"
)

// MarshalModel returns the tokenizer as a tokenizer.model protobuf
// (SentencePiece ModelProto: the pieces with scores and types, a BPE
// trainer spec with the unk/bos/eos ids, and the dummy-prefix setting),
// which ParseModel and SentencePiece read back.
func (t *Tokenizer) MarshalModel() []byte {
	tag := func(b []byte, f, wire int) []byte { return binary.AppendUvarint(b, uint64(f<<3|wire)) }
	bytesField := func(b []byte, f int, v []byte) []byte {
		b = tag(b, f, 2)
		return append(binary.AppendUvarint(b, uint64(len(v))), v...)
	}
	varint := func(b []byte, f int, v int64) []byte { return binary.AppendUvarint(tag(b, f, 0), uint64(v)) }
	var out []byte
	for i, p := range t.pieces {
		var m []byte
		m = bytesField(m, 1, []byte(p))
		m = tag(m, 2, 5)
		m = binary.LittleEndian.AppendUint32(m, math.Float32bits(t.scores[i]))
		m = varint(m, 3, int64(t.types[i]))
		out = bytesField(out, 1, m)
	}
	var trainer []byte
	trainer = varint(trainer, 3, 2) // model_type BPE
	trainer = varint(trainer, 40, int64(uint32(int32(t.UNK))))
	trainer = varint(trainer, 41, int64(uint32(int32(t.BOS))))
	trainer = varint(trainer, 42, int64(uint32(int32(t.EOS))))
	out = bytesField(out, 2, trainer)
	dummy := int64(0)
	if t.AddDummyPrefix {
		dummy = 1
	}
	return bytesField(out, 3, varint(nil, 3, dummy))
}
