package checkpoint

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"

	"github.com/gotune/gotune/safetensors"
)

// PyTorch state dicts (torch.save's zip format: "archive/data.pkl", a
// pickle, and one raw little-endian file per storage, "archive/data/<key>")
// are read with gopickle's unpickler (github.com/nlpodyssey/gopickle), a Go
// interpreter of the pickle opcodes that runs no Python: a GLOBAL opcode
// only yields what FindClass returns. FindClass here allows exactly what a
// state dict needs — torch._utils._rebuild_tensor_v2 and the typed storages
// (collections.OrderedDict is built in) — and refuses every other name, so a
// hostile pickle (GLOBAL os.system, builtins.eval, ... then REDUCE) is an
// error naming the global, never a call. Storages must fit their zip record.

// torchStorages are the storage classes a state dict may name, with the
// size of one element on disk.
func torchStorages() map[string]struct {
	class pytorch.StorageClassInterface
	size  int
	dtype safetensors.DType
} {
	type st = struct {
		class pytorch.StorageClassInterface
		size  int
		dtype safetensors.DType
	}
	return map[string]st{
		"FloatStorage":    {&pytorch.FloatStorageClass{}, 4, safetensors.F32},
		"HalfStorage":     {&pytorch.HalfStorageClass{}, 2, safetensors.F16},
		"BFloat16Storage": {&pytorch.BFloat16StorageClass{}, 2, safetensors.BF16},
		"DoubleStorage":   {&pytorch.DoubleStorageClass{}, 8, safetensors.F64},
		"LongStorage":     {&pytorch.LongStorageClass{}, 8, safetensors.I64},
		"IntStorage":      {&pytorch.IntStorageClass{}, 4, safetensors.I32},
		"ShortStorage":    {&pytorch.ShortStorageClass{}, 2, safetensors.I16},
		"CharStorage":     {&pytorch.CharStorageClass{}, 1, safetensors.I8},
		"ByteStorage":     {&pytorch.ByteStorageClass{}, 1, safetensors.U8},
		"BoolStorage":     {&pytorch.BoolStorageClass{}, 1, safetensors.Bool},
	}
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, requires_grad, backward_hooks[, metadata]).
type rebuildTensor struct{}

// Call builds the tensor view (gopickle's, which takes the first six
// arguments).
func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) == 7 {
		args = args[:6] // metadata (torch >= 2.0, when not empty): not needed for the values
	}
	return (&pytorch.RebuildTensorV2{}).Call(args...)
}

// ReadTorchFile reads the tensors of a PyTorch state dict saved with
// torch.save (pytorch_model.bin, AdapterHub's pytorch_adapter.bin, PEFT's
// adapter_model.bin). Float tensors come back in F32, integer ones in I64,
// with their file dtype in DType. The legacy format of torch < 1.6 and
// anything but a flat dict of tensors are errors.
func ReadTorchFile(file string) ([]*safetensors.Tensor, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, []byte("PK\x03\x04")) {
		if len(magic) > 0 && magic[0] == 0x80 {
			return nil, fmt.Errorf("%s: a PyTorch file in the legacy format of torch < 1.6, which gotune does not read; re-save it with a newer torch (torch.save) or as safetensors", file)
		}
		return nil, fmt.Errorf("%s: not a PyTorch state dict (torch.save writes a zip archive)", file)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	ts, err := readTorchZip(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return ts, nil
}

func readTorchZip(zr *zip.Reader) ([]*safetensors.Tensor, error) {
	records := map[string]*zip.File{}
	var dataPkl *zip.File
	for _, zf := range zr.File {
		records[zf.Name] = zf
		if path.Base(zf.Name) == "data.pkl" && strings.Count(zf.Name, "/") == 1 {
			dataPkl = zf
		}
		if path.Base(zf.Name) == "constants.pkl" {
			return nil, fmt.Errorf("a TorchScript archive, not a state dict")
		}
	}
	if dataPkl == nil {
		return nil, fmt.Errorf("no <archive>/data.pkl: not a torch.save zip archive")
	}
	prefix := path.Dir(dataPkl.Name) + "/data/"
	r, err := dataPkl.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	storages := torchStorages()
	loaded := map[string]pytorch.StorageInterface{}
	u := pickle.NewUnpickler(r)
	u.FindClass = func(module, name string) (any, error) {
		if module == "torch" {
			if s, ok := storages[name]; ok {
				return s.class, nil
			}
		}
		if module == "torch._utils" && name == "_rebuild_tensor_v2" {
			return rebuildTensor{}, nil
		}
		return nil, fmt.Errorf("refusing the pickle global %s.%s: a state dict holds only tensors (torch._utils._rebuild_tensor_v2, torch.*Storage, collections.OrderedDict), and unpickling this one in Python would run other code", module, name)
	}
	u.PersistentLoad = func(id any) (any, error) {
		tup, ok := id.(*types.Tuple)
		if !ok || tup.Len() < 5 {
			return nil, fmt.Errorf("persistent id %v: want (\"storage\", class, key, location, size)", id)
		}
		kind, _ := tup.Get(0).(string)
		class, okClass := tup.Get(1).(pytorch.StorageClassInterface)
		key, okKey := tup.Get(2).(string)
		location, _ := tup.Get(3).(string)
		size, okSize := tup.Get(4).(int)
		if kind != "storage" || !okClass || !okKey || !okSize || size < 0 {
			return nil, fmt.Errorf("persistent id %v: want (\"storage\", class, key, location, size)", id)
		}
		if s, ok := loaded[key]; ok {
			return s, nil
		}
		zf := records[prefix+key]
		if zf == nil || strings.Contains(key, "/") {
			return nil, fmt.Errorf("storage %q has no record %s%s", key, prefix, key)
		}
		elem := 0
		for _, s := range storages {
			if s.class == class {
				elem = s.size
			}
		}
		if uint64(size)*uint64(elem) > zf.UncompressedSize64 {
			return nil, fmt.Errorf("storage %q: %d elements of %d bytes do not fit its %d-byte record", key, size, elem, zf.UncompressedSize64)
		}
		rf, err := zf.Open()
		if err != nil {
			return nil, err
		}
		defer rf.Close()
		s := class.New(size, location)
		if err := s.SetFromFileWithSize(rf, size); err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		loaded[key] = s
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("unpickling data.pkl: %w", err)
	}
	var names []string
	values := map[string]any{}
	add := func(k, v any) error {
		name, ok := k.(string)
		if !ok {
			return fmt.Errorf("state dict key %v is not a string", k)
		}
		names = append(names, name)
		values[name] = v
		return nil
	}
	switch d := obj.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			if err := add(entry.Key, entry.Value); err != nil {
				return nil, err
			}
		}
	case *types.Dict:
		for _, entry := range *d {
			if err := add(entry.Key, entry.Value); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("data.pkl holds %T, not a state dict (a dict of tensors)", obj)
	}
	out := make([]*safetensors.Tensor, 0, len(names))
	for _, n := range names {
		t, ok := values[n].(*pytorch.Tensor)
		if !ok {
			return nil, fmt.Errorf("state dict entry %s is %T, not a tensor", n, values[n])
		}
		ct, err := torchTensor(n, t, storages)
		if err != nil {
			return nil, err
		}
		out = append(out, ct)
	}
	return out, nil
}

// torchTensor copies the (possibly strided) view t of its storage into a
// row-major tensor.
func torchTensor(name string, t *pytorch.Tensor, storages map[string]struct {
	class pytorch.StorageClassInterface
	size  int
	dtype safetensors.DType
}) (*safetensors.Tensor, error) {
	if len(t.Stride) != len(t.Size) {
		return nil, fmt.Errorf("tensor %s: %d sizes but %d strides", name, len(t.Size), len(t.Stride))
	}
	n := 1
	for _, d := range t.Size {
		if d < 0 {
			return nil, fmt.Errorf("tensor %s: negative size %v", name, t.Size)
		}
		n *= d
	}
	var f32 []float32
	var i64 []int64
	var length int
	var dtype safetensors.DType
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		f32, dtype = s.Data, safetensors.F32
	case *pytorch.HalfStorage:
		f32, dtype = s.Data, safetensors.F16
	case *pytorch.BFloat16Storage:
		f32, dtype = s.Data, safetensors.BF16
	case *pytorch.DoubleStorage:
		f32, dtype = make([]float32, len(s.Data)), safetensors.F64
		for i, v := range s.Data {
			f32[i] = float32(v)
		}
	case *pytorch.LongStorage:
		i64, dtype = s.Data, safetensors.I64
	case *pytorch.IntStorage:
		i64, dtype = widen(s.Data), safetensors.I32
	case *pytorch.ShortStorage:
		i64, dtype = widen(s.Data), safetensors.I16
	case *pytorch.CharStorage:
		i64, dtype = widen(s.Data), safetensors.I8
	case *pytorch.ByteStorage:
		i64, dtype = widen(s.Data), safetensors.U8
	case *pytorch.BoolStorage:
		i64, dtype = make([]int64, len(s.Data)), safetensors.Bool
		for i, v := range s.Data {
			if v {
				i64[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("tensor %s: unsupported storage %T", name, t.Source)
	}
	length = max(len(f32), len(i64))
	out := &safetensors.Tensor{Name: name, Shape: slices.Clone(t.Size), DType: dtype}
	if f32 != nil {
		out.F32 = make([]float32, n)
	} else {
		out.I64 = make([]int64, n)
	}
	idx := make([]int, len(t.Size))
	for k := 0; k < n; k++ {
		off := t.StorageOffset
		for d, i := range idx {
			off += i * t.Stride[d]
		}
		if off < 0 || off >= length {
			return nil, fmt.Errorf("tensor %s: its view (offset %d, size %v, stride %v) reaches outside its storage of %d elements", name, t.StorageOffset, t.Size, t.Stride, length)
		}
		if f32 != nil {
			out.F32[k] = f32[off]
		} else {
			out.I64[k] = i64[off]
		}
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

func widen[T int32 | int16 | int8 | uint8](v []T) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// ReadTensorFile reads the tensors of an artefact in dir: the safetensors
// file safeName when present, else the PyTorch file binName (what
// save_pretrained wrote without safe_serialization, or AdapterHub's
// default). Neither present is an error naming both.
func ReadTensorFile(dir, safeName, binName string) (*safetensors.File, error) {
	safe := filepath.Join(dir, safeName)
	if fileExists(safe) || binName == "" {
		return safetensors.ReadFile(safe)
	}
	bin := filepath.Join(dir, binName)
	if !fileExists(bin) {
		return nil, fmt.Errorf("%s has neither %s nor %s", dir, safeName, binName)
	}
	ts, err := ReadTorchFile(bin)
	if err != nil {
		return nil, err
	}
	return safetensors.NewFile(bin, ts)
}
