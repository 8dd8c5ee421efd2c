package spm

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// LoadModelFile reads a SentencePiece tokenizer.model (a ModelProto
// protobuf). Only BPE models are supported (LLaMA, Mistral); Unigram
// models (T5, ALBERT) are refused with an error saying so.
func LoadModelFile(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseModel(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseModel parses the bytes of a tokenizer.model.
func ParseModel(data []byte) (*Tokenizer, error) {
	var pieces []string
	var scores []float32
	var types []int32
	modelType := int64(1) // UNIGRAM is the proto default
	bos, eos, unk := 1, 2, 0
	addDummy := true
	err := walk(data, func(field int, wire int, v uint64, b []byte) error {
		switch field {
		case 1: // SentencePiece
			piece, score, typ := "", float32(0), int32(Normal)
			if err := walk(b, func(f, w int, v uint64, b []byte) error {
				switch {
				case f == 1 && w == 2:
					piece = string(b)
				case f == 2 && w == 5:
					score = math.Float32frombits(uint32(v))
				case f == 3 && w == 0:
					typ = int32(v)
				}
				return nil
			}); err != nil {
				return err
			}
			pieces, scores, types = append(pieces, piece), append(scores, score), append(types, typ)
		case 2: // TrainerSpec
			return walk(b, func(f, w int, v uint64, _ []byte) error {
				if w != 0 {
					return nil
				}
				switch f {
				case 3:
					modelType = int64(v)
				case 40:
					unk = int(int32(v))
				case 41:
					bos = int(int32(v))
				case 42:
					eos = int(int32(v))
				}
				return nil
			})
		case 3: // NormalizerSpec
			return walk(b, func(f, w int, v uint64, _ []byte) error {
				if f == 3 && w == 0 {
					addDummy = v != 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("not a SentencePiece model: %w", err)
	}
	if len(pieces) == 0 {
		return nil, fmt.Errorf("not a SentencePiece model: no pieces")
	}
	if modelType != 2 {
		return nil, fmt.Errorf("SentencePiece model type %d is not supported (only BPE, type 2; Unigram models are not implemented yet)", modelType)
	}
	t, err := New(pieces, scores, types, bos, eos, unk)
	if err != nil {
		return nil, err
	}
	t.AddDummyPrefix = addDummy
	return t, nil
}

// walk calls fn for every field of a protobuf message: varint and fixed
// values in v, length-delimited ones in b.
func walk(data []byte, fn func(field, wire int, v uint64, b []byte) error) error {
	for len(data) > 0 {
		key, n := binary.Uvarint(data)
		if n <= 0 {
			return fmt.Errorf("bad field key")
		}
		data = data[n:]
		field, wire := int(key>>3), int(key&7)
		var v uint64
		var b []byte
		switch wire {
		case 0:
			v, n = binary.Uvarint(data)
			if n <= 0 {
				return fmt.Errorf("bad varint in field %d", field)
			}
			data = data[n:]
		case 1:
			if len(data) < 8 {
				return fmt.Errorf("truncated field %d", field)
			}
			v, data = binary.LittleEndian.Uint64(data), data[8:]
		case 2:
			l, n := binary.Uvarint(data)
			if n <= 0 || uint64(len(data)-n) < l {
				return fmt.Errorf("truncated field %d", field)
			}
			b, data = data[n:n+int(l)], data[n+int(l):]
		case 5:
			if len(data) < 4 {
				return fmt.Errorf("truncated field %d", field)
			}
			v, data = uint64(binary.LittleEndian.Uint32(data)), data[4:]
		default:
			return fmt.Errorf("unsupported wire type %d in field %d", wire, field)
		}
		if err := fn(field, wire, v, b); err != nil {
			return err
		}
	}
	return nil
}
