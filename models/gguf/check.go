package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	hf "github.com/gomlx/go-huggingface/models/gguf"
)

// Limits on what a GGUF header may claim. Every length and count is also
// checked against the bytes left in the file before the container parser
// (go-huggingface's) allocates for it, so parsing a file allocates at most
// a small multiple of its size.
const (
	// MaxStringLen is the longest metadata string or tensor name (1 MiB, as
	// go-huggingface's reader).
	MaxStringLen = 1 << 20
	maxDims      = 8
)

// valueSize is the encoded size of a fixed-size metadata value type (0 for
// strings and arrays, -1 for unknown types).
func valueSize(t uint32) int64 {
	switch t {
	case 0, 1, 7: // uint8, int8, bool
		return 1
	case 2, 3: // uint16, int16
		return 2
	case 4, 5, 6: // uint32, int32, float32
		return 4
	case 10, 11, 12: // uint64, int64, float64
		return 8
	case 8, 9: // string, array
		return 0
	}
	return -1
}

// headerReader reads a GGUF header, tracking the bytes left in the file.
type headerReader struct {
	r    *bufio.Reader
	left int64 // bytes of the file not yet read
	path string
}

func (h *headerReader) errf(format string, args ...any) error {
	return fmt.Errorf("%s: GGUF header: %s", h.path, fmt.Sprintf(format, args...))
}

func (h *headerReader) u32() (uint32, error) {
	var b [4]byte
	if err := h.read(b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func (h *headerReader) u64() (uint64, error) {
	var b [8]byte
	if err := h.read(b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (h *headerReader) read(b []byte) error {
	if int64(len(b)) > h.left {
		return h.errf("truncated (needs %d more bytes, the file has %d)", len(b), h.left)
	}
	if _, err := io.ReadFull(h.r, b); err != nil {
		return h.errf("%v", err)
	}
	h.left -= int64(len(b))
	return nil
}

func (h *headerReader) skip(n int64) error {
	if n > h.left {
		return h.errf("truncated (needs %d more bytes, the file has %d)", n, h.left)
	}
	if _, err := h.r.Discard(int(n)); err != nil {
		return h.errf("%v", err)
	}
	h.left -= n
	return nil
}

// str reads a string, returning it only when keep (else skipping it).
func (h *headerReader) str(what string, keep bool) (string, error) {
	n, err := h.u64()
	if err != nil {
		return "", err
	}
	if n > MaxStringLen {
		return "", h.errf("%s: string length %d exceeds the limit of %d bytes", what, n, MaxStringLen)
	}
	if int64(n) > h.left {
		return "", h.errf("%s: string length %d runs past the end of the file (%d bytes left)", what, n, h.left)
	}
	if !keep {
		return "", h.skip(int64(n))
	}
	b := make([]byte, n)
	if err := h.read(b); err != nil {
		return "", err
	}
	return string(b), nil
}

func (h *headerReader) value(key string, t uint32, nested bool) (uint64, error) {
	size := valueSize(t)
	switch {
	case size < 0:
		return 0, h.errf("key %q: unknown value type %d", key, t)
	case size > 0:
		var b [8]byte
		if err := h.read(b[:size]); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(b[:]), nil
	case t == 8:
		_, err := h.str("key "+key, false)
		return 0, err
	}
	if nested {
		return 0, h.errf("key %q: arrays of arrays are not supported", key)
	}
	et, err := h.u32()
	if err != nil {
		return 0, err
	}
	n, err := h.u64()
	if err != nil {
		return 0, err
	}
	es := valueSize(et)
	switch {
	case es < 0:
		return 0, h.errf("key %q: unknown array element type %d", key, et)
	case et == 9:
		return 0, h.errf("key %q: arrays of arrays are not supported", key)
	case es == 0:
		es = 8 // a string is at least its 8-byte length
	}
	if n > uint64(h.left/es) {
		return 0, h.errf("key %q: array of %d elements runs past the end of the file (%d bytes left)", key, n, h.left)
	}
	if et != 8 {
		return 0, h.skip(int64(n) * es)
	}
	for i := uint64(0); i < n; i++ {
		if _, err := h.str(fmt.Sprintf("key %q element %d", key, i), false); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// checkFile walks the header of the GGUF file at path and checks every
// length, count and tensor extent against the file's size, so that a file
// claiming more than it holds fails here, with an error naming the field,
// before the container parser allocates for it.
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	h := &headerReader{r: bufio.NewReader(f), left: size, path: path}
	var magic [4]byte
	if err := h.read(magic[:]); err != nil {
		return err
	}
	if string(magic[:]) != "GGUF" {
		return fmt.Errorf("%s: not a GGUF file (magic %q)", path, magic[:])
	}
	version, err := h.u32()
	if err != nil {
		return err
	}
	if version < 2 || version > 3 {
		return h.errf("version %d is not supported (2 or 3)", version)
	}
	nTensors, err := h.u64()
	if err != nil {
		return err
	}
	nKV, err := h.u64()
	if err != nil {
		return err
	}
	// A key-value pair takes at least 13 bytes (key length, type, one
	// byte of value); a tensor info at least 24 (name length, dimension
	// count, type, offset).
	if nKV > uint64(h.left/13) {
		return h.errf("%d metadata pairs cannot fit in the %d bytes left in the file", nKV, h.left)
	}
	if nTensors > uint64(h.left/24) {
		return h.errf("tensor count %d cannot fit in the %d bytes left in the file", nTensors, h.left)
	}
	alignment := uint64(32)
	for i := uint64(0); i < nKV; i++ {
		key, err := h.str(fmt.Sprintf("metadata pair %d key", i), true)
		if err != nil {
			return err
		}
		t, err := h.u32()
		if err != nil {
			return err
		}
		v, err := h.value(key, t, false)
		if err != nil {
			return err
		}
		if key == hf.KeyGeneralAlignment && v > 0 {
			if valueSize(t) == 0 {
				return h.errf("%s must be an integer", key)
			}
			alignment = v
		}
	}
	if alignment > 1<<20 {
		return h.errf("%s %d exceeds the limit of %d", hf.KeyGeneralAlignment, alignment, 1<<20)
	}
	type extent struct {
		name        string
		off, nbytes uint64
	}
	var tensors []extent
	for i := uint64(0); i < nTensors; i++ {
		name, err := h.str(fmt.Sprintf("tensor info %d name", i), true)
		if err != nil {
			return err
		}
		nd, err := h.u32()
		if err != nil {
			return err
		}
		if nd == 0 || nd > maxDims {
			return h.errf("tensor %q has %d dimensions (want 1 to %d)", name, nd, maxDims)
		}
		n := uint64(1)
		for d := uint32(0); d < nd; d++ {
			dim, err := h.u64()
			if err != nil {
				return err
			}
			if dim != 0 && n > uint64(size)/dim {
				return h.errf("tensor %q: shape claims more elements than the %d-byte file holds", name, size)
			}
			n *= dim
		}
		typ, err := h.u32()
		if err != nil {
			return err
		}
		off, err := h.u64()
		if err != nil {
			return err
		}
		tt := hf.TensorType(typ)
		bs, ts := tt.BlockSize(), tt.TypeSize()
		if bs == 0 || ts == 0 {
			return h.errf("tensor %q has unknown type %d", name, typ)
		}
		if n%uint64(bs) != 0 {
			return h.errf("tensor %q: %d elements are not a whole number of %s blocks of %d", name, n, tt, bs)
		}
		tensors = append(tensors, extent{name, off, n / uint64(bs) * uint64(ts)})
	}
	pos := uint64(size - h.left)
	dataStart := pos + (alignment-pos%alignment)%alignment
	if dataStart > uint64(size) {
		return h.errf("tensor data would start at byte %d, past the end of the %d-byte file", dataStart, size)
	}
	dataSize := uint64(size) - dataStart
	for _, t := range tensors {
		if t.off > dataSize || t.nbytes > dataSize-t.off {
			return h.errf("tensor %q: data [%d, +%d) runs past the end of the %d bytes of tensor data", t.name, t.off, t.nbytes, dataSize)
		}
	}
	return nil
}
