// Package spm is a SentencePiece BPE tokenizer (the LLaMA / llama2.c
// vocabulary kind): pieces with scores, "▁" for spaces, a dummy-prefix
// space, and byte fallback (<0xXX> pieces) for characters outside the
// vocabulary. It reads the vocabulary from a tokenizer.model protobuf
// (LoadModelFile) or from arrays such as a GGUF file's tokenizer.ggml.*
// metadata (New).
//
// Encoding follows SentencePiece's BPE: start from single characters, then
// repeatedly merge the adjacent pair whose concatenation is a piece with
// the highest score (leftmost on ties).
package spm

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Piece types, as in sentencepiece_model.proto (and GGUF token_type).
const (
	Normal      = 1
	Unknown     = 2
	Control     = 3
	UserDefined = 4
	Unused      = 5
	Byte        = 6
)

// Tokenizer encodes text to ids and decodes ids to text.
type Tokenizer struct {
	pieces []string
	scores []float32
	types  []int32
	index  map[string]int
	byteID [256]int // id of <0xXX>, or -1

	// BOS, EOS and UNK are the special ids (-1 when absent).
	BOS, EOS, UNK int
	// AddDummyPrefix prepends a space to the text before encoding
	// (SentencePiece's default; LLaMA's tokenizers use it).
	AddDummyPrefix bool
}

// New builds a tokenizer from pieces, scores and types (types may be nil:
// all Normal, except pieces that look like <0xXX>, taken as bytes).
func New(pieces []string, scores []float32, types []int32, bos, eos, unk int) (*Tokenizer, error) {
	if len(scores) != len(pieces) || (types != nil && len(types) != len(pieces)) {
		return nil, fmt.Errorf("spm: %d pieces but %d scores and %d types", len(pieces), len(scores), len(types))
	}
	if unk < 0 || unk >= len(pieces) {
		return nil, fmt.Errorf("spm: unknown-token id %d is not one of the %d pieces", unk, len(pieces))
	}
	for _, sp := range []struct {
		name string
		id   int
	}{{"BOS", bos}, {"EOS", eos}} {
		if sp.id < -1 || sp.id >= len(pieces) { // -1: none, as SentencePiece's bos_id/eos_id
			return nil, fmt.Errorf("spm: %s id %d is not one of the %d pieces", sp.name, sp.id, len(pieces))
		}
	}
	t := &Tokenizer{pieces: pieces, scores: scores, types: types, index: make(map[string]int, len(pieces)),
		BOS: bos, EOS: eos, UNK: unk, AddDummyPrefix: true}
	if t.types == nil {
		t.types = make([]int32, len(pieces))
		for i, p := range pieces {
			t.types[i] = Normal
			if isBytePiece(p) {
				t.types[i] = Byte
			}
		}
	}
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	for i, p := range pieces {
		if t.types[i] == Byte {
			if b, ok := parseByte(p); ok {
				t.byteID[b] = i
			}
			continue
		}
		if _, dup := t.index[p]; !dup {
			t.index[p] = i
		}
	}
	return t, nil
}

func isBytePiece(p string) bool { _, ok := parseByte(p); return ok }

func parseByte(p string) (byte, bool) {
	if len(p) != 6 || !strings.HasPrefix(p, "<0x") || p[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(p[3:5], 16, 8)
	return byte(v), err == nil
}

// VocabSize returns the number of pieces.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// Piece returns the piece of id ("" when out of range).
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// Encode returns the ids of text, without BOS/EOS.
func (t *Tokenizer) Encode(text string) []int {
	if text == "" {
		return nil
	}
	s := strings.ReplaceAll(text, " ", "▁")
	if t.AddDummyPrefix {
		s = "▁" + s
	}
	// Symbols: the characters, as substrings of s.
	type sym struct{ start, end int }
	var syms []sym
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		syms = append(syms, sym{i, i + n})
		i += n
	}
	for {
		best, bestScore := -1, float32(0)
		for i := 0; i+1 < len(syms); i++ {
			id, ok := t.index[s[syms[i].start:syms[i+1].end]]
			if !ok || !t.mergeable(id) {
				continue
			}
			if best < 0 || t.scores[id] > bestScore {
				best, bestScore = i, t.scores[id]
			}
		}
		if best < 0 {
			break
		}
		syms[best].end = syms[best+1].end
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	ids := make([]int, 0, len(syms))
	for _, y := range syms {
		p := s[y.start:y.end]
		if id, ok := t.index[p]; ok && t.mergeable(id) {
			ids = append(ids, id)
			continue
		}
		if t.hasBytes(p) {
			for i := 0; i < len(p); i++ {
				ids = append(ids, t.byteID[p[i]])
			}
			continue
		}
		ids = append(ids, t.UNK)
	}
	return ids
}

// hasBytes reports whether every byte of p has a byte piece (byte
// fallback); otherwise p becomes the unknown token, as in SentencePiece.
func (t *Tokenizer) hasBytes(p string) bool {
	for i := 0; i < len(p); i++ {
		if t.byteID[p[i]] < 0 {
			return false
		}
	}
	return true
}

// mergeable reports whether id may be produced from text (normal and
// user-defined pieces; not control, unknown, unused or byte pieces).
func (t *Tokenizer) mergeable(id int) bool {
	ty := t.types[id]
	return ty == Normal || ty == UserDefined
}

// Decode returns the text of ids: control pieces (BOS, EOS) are dropped,
// byte pieces are joined into UTF-8, "▁" becomes a space, and the leading
// space of the dummy prefix is removed.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(t.rawPiece(id))
	}
	out := b.String()
	if t.AddDummyPrefix {
		out = strings.TrimPrefix(out, " ")
	}
	return out
}

// DecodeStep returns the text one token adds after prev (the previous id,
// -1 at the start), as llama2.c prints while streaming: the dummy-prefix
// space is dropped after BOS or at the start. Byte pieces come back as
// single raw bytes; a terminal writer joins them into characters.
func (t *Tokenizer) DecodeStep(prev, id int) string {
	s := t.rawPiece(id)
	if (prev < 0 || prev == t.BOS) && t.AddDummyPrefix {
		s = strings.TrimPrefix(s, " ")
	}
	return s
}

func (t *Tokenizer) rawPiece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	switch t.types[id] {
	case Control, Unused:
		return ""
	case Byte:
		if b, ok := parseByte(t.pieces[id]); ok {
			return string([]byte{b})
		}
	case Unknown:
		return " \u2047 "
	}
	return strings.ReplaceAll(t.pieces[id], "▁", " ")
}
