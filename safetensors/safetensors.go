// Package safetensors reads and writes the safetensors file format used by
// Hugging Face checkpoints and PEFT adapters.
//
// Reading validates the header before any tensor is touched: the header must
// fit in the file and in a size limit, every tensor's byte range must lie
// inside the data section, ranges must not overlap, and each range's length
// must equal the tensor's element count times its dtype size. Errors name the
// file and the tensor.
//
// Tensors are handed out as float32 (F32, F16 and BF16 are converted) or as
// int64 for the integer types; writing produces files byte-compatible with the
// reference implementation (8-byte little-endian header length, compact JSON
// header with __metadata__ first, header padded with spaces to a multiple of 8,
// data in header order).
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// MaxHeaderSize is the largest header accepted (100 MB, as the reference
// implementation).
const MaxHeaderSize = 100 << 20

// DType names a safetensors element type ("F32", "BF16", ...).
type DType string

// The element types this package understands.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	F64  DType = "F64"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size returns the size in bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// Tensor is one named tensor. Float tensors keep their values in F32 (any
// stored float dtype is converted on read); integer and bool tensors in I64.
type Tensor struct {
	Name  string
	Shape []int
	// DType is the dtype in the file (on read) or the dtype to write.
	DType DType
	F32   []float32
	I64   []int64
}

// NumElements returns the product of the shape's dimensions.
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is a parsed safetensors file.
type File struct {
	Path     string
	Metadata map[string]string
	// Tensors in the order they appear in the data section.
	Tensors []*Tensor
	byName  map[string]*Tensor
}

// Get returns the named tensor or nil.
func (f *File) Get(name string) *Tensor { return f.byName[name] }

// NewFile returns a File holding tensors (read from another format, such
// as a PyTorch state dict), for code that takes a *File; path names it in
// messages. Names must be unique.
func NewFile(path string, tensors []*Tensor) (*File, error) {
	f := &File{Path: path, Metadata: map[string]string{}, Tensors: tensors, byName: make(map[string]*Tensor, len(tensors))}
	for _, t := range tensors {
		if _, dup := f.byName[t.Name]; dup {
			return nil, fmt.Errorf("%s: tensor %s appears twice", path, t.Name)
		}
		f.byName[t.Name] = t
	}
	return f, nil
}

type headerEntry struct {
	DType       DType   `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// ReadFile reads and validates a safetensors file.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	return Read(f, st.Size(), path)
}

// Read reads and validates a safetensors stream of the given total size;
// name is used in error messages.
func Read(r io.Reader, size int64, name string) (*File, error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("safetensors %s: %s", name, fmt.Sprintf(format, args...))
	}
	if size < 8 {
		return nil, errf("file is %d bytes, too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, errf("reading header length: %v", err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > MaxHeaderSize {
		return nil, errf("header length %d exceeds the limit of %d bytes", hlen, MaxHeaderSize)
	}
	if int64(hlen) > size-8 {
		return nil, errf("header length %d is larger than the file (%d bytes after the length)", hlen, size-8)
	}
	hbuf := make([]byte, hlen)
	if _, err := io.ReadFull(r, hbuf); err != nil {
		return nil, errf("reading header: %v", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hbuf, &raw); err != nil {
		return nil, errf("header is not a JSON object: %v", err)
	}
	out := &File{Path: name, byName: map[string]*Tensor{}}
	type span struct {
		name       string
		begin, end int64
		entry      headerEntry
	}
	var spans []span
	dataSize := size - 8 - int64(hlen)
	for key, msg := range raw {
		if key == "__metadata__" {
			if err := json.Unmarshal(msg, &out.Metadata); err != nil {
				return nil, errf("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e headerEntry
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, errf("tensor %q: bad header entry: %v", key, err)
		}
		es := e.DType.Size()
		if es == 0 {
			return nil, errf("tensor %q: unsupported dtype %q", key, e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, errf("tensor %q: data_offsets must have 2 values, has %d", key, len(e.DataOffsets))
		}
		b, en := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || en < b {
			return nil, errf("tensor %q: invalid data_offsets [%d, %d]", key, b, en)
		}
		if en > dataSize {
			return nil, errf("tensor %q: data_offsets [%d, %d] run past the end of the data (%d bytes; file truncated?)", key, b, en, dataSize)
		}
		n, err := numElements(e.Shape, dataSize)
		if err != nil {
			return nil, errf("tensor %q: shape %v of %s: %v", key, e.Shape, e.DType, err)
		}
		if n*int64(es) != en-b {
			return nil, errf("tensor %q: shape %v of %s needs %d bytes but data_offsets span %d", key, e.Shape, e.DType, n*int64(es), en-b)
		}
		spans = append(spans, span{key, b, en, e})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	var pos int64
	for i, s := range spans {
		if s.begin < pos && s.end > s.begin {
			return nil, errf("tensor %q: data_offsets [%d, %d] overlap tensor %q", s.name, s.begin, s.end, spans[i-1].name)
		}
		if s.end > pos {
			pos = s.end
		}
	}
	data := make([]byte, pos)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, errf("reading tensor data (%d bytes): %v", pos, err)
	}
	for _, s := range spans {
		t := &Tensor{Name: s.name, Shape: s.entry.Shape, DType: s.entry.DType}
		if t.Shape == nil {
			t.Shape = []int{}
		}
		decode(t, data[s.begin:s.end])
		out.Tensors = append(out.Tensors, t)
		out.byName[t.Name] = t
	}
	return out, nil
}

// numElements returns the product of shape, refusing negative dimensions
// and products larger than limit (the data section's size in bytes, which
// bounds any element count) before they can overflow.
func numElements(shape []int, limit int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension")
		}
		if d == 0 {
			n = 0
		}
	}
	if n == 0 {
		return 0, nil
	}
	for _, d := range shape {
		if n > limit/int64(d) {
			return 0, fmt.Errorf("needs more bytes than the %d bytes of data in the file", limit)
		}
		n *= int64(d)
	}
	return n, nil
}

func decode(t *Tensor, b []byte) {
	n := t.NumElements()
	le := binary.LittleEndian
	switch t.DType {
	case F32:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case F64:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	case BF16:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16)
		}
	case F16:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = HalfToFloat32(le.Uint16(b[2*i:]))
		}
	default:
		t.I64 = make([]int64, n)
		for i := range t.I64 {
			switch t.DType {
			case I64:
				t.I64[i] = int64(le.Uint64(b[8*i:]))
			case I32:
				t.I64[i] = int64(int32(le.Uint32(b[4*i:])))
			case I16:
				t.I64[i] = int64(int16(le.Uint16(b[2*i:])))
			case I8:
				t.I64[i] = int64(int8(b[i]))
			case U8, Bool:
				t.I64[i] = int64(b[i])
			}
		}
	}
}

// HalfToFloat32 converts an IEEE 754 half-precision value to float32.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		for mant&0x400 == 0 {
			mant <<= 1
			exp--
		}
		exp++
		mant &= 0x3ff
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToHalf converts a float32 to IEEE 754 half precision (round to nearest even).
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	if b&0x7fffffff >= 0x7f800000 { // inf or nan
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	if exp >= 0x1f {
		return sign | 0x7c00
	}
	if exp <= 0 {
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		half := uint16(mant >> shift)
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | half
	}
	half := sign | uint16(exp)<<10 | uint16(mant>>13)
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++
	}
	return half
}

// Float32ToBF16 converts a float32 to bfloat16 (round to nearest even).
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// WriteFile writes tensors to path atomically (a temporary file in the same
// folder, then a rename). Tensors are written sorted as the reference
// implementation does (by dtype size descending, then name); a tensor's DType
// selects the stored type (empty means F32 for float data, I64 for integer data).
func WriteFile(path string, tensors []*Tensor, metadata map[string]string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := Write(tmp, tensors, metadata); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp makes it 0600
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Write writes tensors in safetensors format to w.
func Write(w io.Writer, tensors []*Tensor, metadata map[string]string) error {
	ts := make([]*Tensor, len(tensors))
	copy(ts, tensors)
	dt := func(t *Tensor) DType {
		if t.DType != "" {
			return t.DType
		}
		if t.I64 != nil {
			return I64
		}
		return F32
	}
	seen := map[string]bool{}
	for _, t := range ts {
		if seen[t.Name] {
			return fmt.Errorf("tensor %q appears twice", t.Name)
		}
		seen[t.Name] = true
		if t.Name == "__metadata__" {
			return fmt.Errorf("tensor name %q is reserved", t.Name)
		}
		n := t.NumElements()
		d := dt(t)
		if d.Size() == 0 {
			return fmt.Errorf("tensor %q: unsupported dtype %q", t.Name, d)
		}
		isFloat := d == F32 || d == F16 || d == BF16 || d == F64
		if isFloat && len(t.F32) != n || !isFloat && len(t.I64) != n {
			return fmt.Errorf("tensor %q: shape %v needs %d values of %s", t.Name, t.Shape, n, d)
		}
	}
	sort.SliceStable(ts, func(i, j int) bool {
		si, sj := dt(ts[i]).Size(), dt(ts[j]).Size()
		if si != sj {
			return si > sj
		}
		return ts[i].Name < ts[j].Name
	})
	// Header: compact JSON, __metadata__ first, then tensors in data order.
	var hb bytes.Buffer
	hb.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		mb, err := json.Marshal(metadata)
		if err != nil {
			return err
		}
		hb.WriteString(`"__metadata__":`)
		hb.Write(mb)
		first = false
	}
	var off int64
	for _, t := range ts {
		if !first {
			hb.WriteByte(',')
		}
		first = false
		nb, _ := json.Marshal(t.Name)
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		sb, _ := json.Marshal(shape)
		size := int64(t.NumElements() * dt(t).Size())
		fmt.Fprintf(&hb, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, nb, dt(t), sb, off, off+size)
		off += size
	}
	hb.WriteByte('}')
	for hb.Len()%8 != 0 {
		hb.WriteByte(' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(hb.Len()))
	bw := &errWriter{w: w}
	bw.write(lenBuf[:])
	bw.write(hb.Bytes())
	buf := make([]byte, 0, 1<<16)
	le := binary.LittleEndian
	for _, t := range ts {
		d := dt(t)
		n := t.NumElements()
		for i := 0; i < n; i++ {
			switch d {
			case F32:
				buf = le.AppendUint32(buf, math.Float32bits(t.F32[i]))
			case F64:
				buf = le.AppendUint64(buf, math.Float64bits(float64(t.F32[i])))
			case F16:
				buf = le.AppendUint16(buf, Float32ToHalf(t.F32[i]))
			case BF16:
				buf = le.AppendUint16(buf, Float32ToBF16(t.F32[i]))
			case I64:
				buf = le.AppendUint64(buf, uint64(t.I64[i]))
			case I32:
				buf = le.AppendUint32(buf, uint32(t.I64[i]))
			case I16:
				buf = le.AppendUint16(buf, uint16(t.I64[i]))
			default:
				buf = append(buf, byte(t.I64[i]))
			}
			if len(buf) >= 1<<16-8 {
				bw.write(buf)
				buf = buf[:0]
			}
		}
	}
	bw.write(buf)
	return bw.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) write(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}
