package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune/internal/memcheck"
)

// ggufKV is one metadata pair for buildGGUF: typ is the GGUF value type,
// val the encoded value.
type ggufKV struct {
	key string
	typ uint32
	val []byte
}

type ggufTensor struct {
	name  string
	shape []uint64 // GGUF order (innermost first)
	data  []float32
}

func ggufString(s string) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(s)))
	return append(b, s...)
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// buildGGUF encodes a GGUF v3 file with F32 tensors, 32-byte aligned.
func buildGGUF(kvs []ggufKV, ts []ggufTensor) []byte {
	var b bytes.Buffer
	b.WriteString("GGUF")
	b.Write(u32(3))
	binary.Write(&b, binary.LittleEndian, uint64(len(ts)))
	binary.Write(&b, binary.LittleEndian, uint64(len(kvs)))
	for _, kv := range kvs {
		b.Write(ggufString(kv.key))
		b.Write(u32(kv.typ))
		b.Write(kv.val)
	}
	off := uint64(0)
	for _, t := range ts {
		b.Write(ggufString(t.name))
		b.Write(u32(uint32(len(t.shape))))
		for _, d := range t.shape {
			binary.Write(&b, binary.LittleEndian, d)
		}
		b.Write(u32(0)) // F32
		binary.Write(&b, binary.LittleEndian, off)
		off += uint64(4*len(t.data)+31) / 32 * 32
	}
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	for _, t := range ts {
		for _, v := range t.data {
			binary.Write(&b, binary.LittleEndian, math.Float32bits(v))
		}
		for b.Len()%32 != 0 {
			b.WriteByte(0)
		}
	}
	return b.Bytes()
}

// tinyLlama is a 1-layer LLaMA GGUF file with a 4-piece vocabulary.
func tinyLlama() []byte {
	n := func(k string, v uint32) ggufKV { return ggufKV{k, 4, u32(v)} }
	strs := func(ss ...string) []byte {
		b := u32(8)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(ss)))
		for _, s := range ss {
			b = append(b, ggufString(s)...)
		}
		return b
	}
	kvs := []ggufKV{
		{"general.architecture", 8, ggufString("llama")},
		n("llama.embedding_length", 4), n("llama.feed_forward_length", 8), n("llama.block_count", 1),
		n("llama.attention.head_count", 2), n("llama.context_length", 16),
		{"tokenizer.ggml.model", 8, ggufString("llama")},
		{"tokenizer.ggml.tokens", 9, strs("<unk>", "<s>", "</s>", "▁a")},
	}
	w := func(name string, shape ...uint64) ggufTensor {
		size := uint64(1)
		for _, d := range shape {
			size *= d
		}
		data := make([]float32, size)
		for i := range data {
			data[i] = float32(i%7) / 7
		}
		return ggufTensor{name, shape, data}
	}
	return buildGGUF(kvs, []ggufTensor{
		w("token_embd.weight", 4, 4), w("output_norm.weight", 4),
		w("blk.0.attn_norm.weight", 4), w("blk.0.ffn_norm.weight", 4),
		w("blk.0.attn_q.weight", 4, 4), w("blk.0.attn_k.weight", 4, 4), w("blk.0.attn_v.weight", 4, 4), w("blk.0.attn_output.weight", 4, 4),
		w("blk.0.ffn_gate.weight", 4, 8), w("blk.0.ffn_up.weight", 4, 8), w("blk.0.ffn_down.weight", 8, 4),
	})
}

// FuzzLoad feeds arbitrary bytes to Load as a .gguf file: it must return
// a model or an error, never panic, and allocate at most a small multiple
// of the file's size.
func FuzzLoad(f *testing.F) {
	f.Add(tinyLlama())
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "fuzz.gguf")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(p)
		if err == nil && (m.Config == nil || m.Params == nil) {
			t.Fatal("Load returned neither a model nor an error")
		}
	})
}

func TestTinyLlamaLoads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := os.WriteFile(p, tinyLlama(), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.NumHiddenLayers != 1 || m.Tokenizer == nil || m.Tokenizer.VocabSize() != 4 {
		t.Fatalf("config %+v, tokenizer %v", m.Config, m.Tokenizer)
	}
}

// TestHostileSizes: a GGUF header claiming sizes beyond the file fails
// with an error naming the field before anything of that size is
// allocated.
func TestHostileSizes(t *testing.T) {
	base := tinyLlama()
	head := func(nTensors, nKV uint64) []byte {
		b := []byte("GGUF\x03\x00\x00\x00")
		b = binary.LittleEndian.AppendUint64(b, nTensors)
		return binary.LittleEndian.AppendUint64(b, nKV)
	}
	kv := func(key string, typ uint32, val ...byte) []byte {
		b := append(head(0, 1), ggufString(key)...)
		return append(append(b, u32(typ)...), val...)
	}
	arr := func(et uint32, n uint64) []byte {
		return binary.LittleEndian.AppendUint64(u32(et), n)
	}
	bigTensor := buildGGUF(nil, []ggufTensor{{"token_embd.weight", []uint64{1 << 20, 1 << 20}, []float32{1}}})
	pastEnd := buildGGUF(nil, []ggufTensor{{"token_embd.weight", []uint64{4, 4}, []float32{1}}})
	tests := []struct {
		name, want string
		file       []byte
	}{
		{"10 GB string length", "string length 10737418240 exceeds the limit", append(append(head(0, 1), binary.LittleEndian.AppendUint64(nil, 10<<30)...), make([]byte, 16)...)},
		{"string past the end", "runs past the end of the file", append(append(head(0, 1), binary.LittleEndian.AppendUint64(nil, 1000)...), make([]byte, 16)...)},
		{"tensor count 2^40", "tensor count 1099511627776 cannot fit", head(1<<40, 0)},
		{"kv count 2^40", "metadata pairs cannot fit", head(0, 1<<40)},
		{"array of 2^40 uint64", "array of 1099511627776 elements runs past the end", kv("a", 9, arr(10, 1<<40)...)},
		{"array of 2^24 strings", "array of 16777216 elements runs past the end", kv("a", 9, arr(8, 1<<24)...)},
		{"nested arrays", "arrays of arrays", kv("a", 9, arr(9, 1)...)},
		{"2^40-element tensor", `tensor "token_embd.weight": shape claims more elements than the 128-byte file holds`, bigTensor},
		{"tensor data past the end", `tensor "token_embd.weight": data [0, +64) runs past the end`, pastEnd},
		{"truncated", "runs past the end of the file", base[:len(base)/2]},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "hostile.gguf")
			if err := os.WriteFile(p, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			alloc := memcheck.Allocated(func() { _, err = Load(p) })
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "hostile.gguf") {
				t.Fatalf("error %v, want one naming the file and saying %q", err, tc.want)
			}
			// Bound: a 4 KiB buffered reader, the file's own bytes, 256 KiB slack.
			if limit := uint64(4*len(tc.file)) + 256<<10; alloc > limit {
				t.Errorf("allocated %d bytes for a %d-byte file (bound %d)", alloc, len(tc.file), limit)
			}
		})
	}
}
