package checkpoint_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/safetensors"
)

// TestReadTorchFile: a torch.save state dict (zip + pickle) reads into
// row-major tensors: float32, float16, a transposed view sharing its
// storage with another tensor, an int64 buffer.
func TestReadTorchFile(t *testing.T) {
	ts := []fixture.TorchTensor{
		{Name: "a.weight", Storage: "FloatStorage", Key: "0", Data: []float64{1, 2, 3, 4, 5, 6}, Shape: []int{2, 3}},
		{Name: "a.weight_t", Storage: "FloatStorage", Key: "0", Data: []float64{1, 2, 3, 4, 5, 6}, Shape: []int{3, 2}, Stride: []int{1, 3}},
		{Name: "b.bias", Storage: "HalfStorage", Key: "1", Data: []float64{0.5, -2, 0, 7}, Offset: 1, Shape: []int{2}},
		{Name: "ids", Storage: "LongStorage", Key: "2", Data: []float64{0, 1, 2}, Shape: []int{1, 3}},
	}
	path := filepath.Join(t.TempDir(), "pytorch_model.bin")
	if err := fixture.WriteStateDict(path, ts); err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.ReadTorchFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []*safetensors.Tensor{
		{Name: "a.weight", Shape: []int{2, 3}, DType: safetensors.F32, F32: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "a.weight_t", Shape: []int{3, 2}, DType: safetensors.F32, F32: []float32{1, 4, 2, 5, 3, 6}},
		{Name: "b.bias", Shape: []int{2}, DType: safetensors.F16, F32: []float32{-2, 0}},
		{Name: "ids", Shape: []int{1, 3}, DType: safetensors.I64, I64: []int64{0, 1, 2}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d tensors, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !slices.Equal(g.F32, w.F32) || !slices.Equal(g.I64, w.I64) {
			t.Errorf("tensor %d: %+v, want %+v", i, g, w)
		}
	}
}

// TestReadWeightsTorch: a model folder with only pytorch_model.bin (or its
// shards) loads as the safetensors one does; the int64 position_ids buffer
// of older checkpoints is skipped.
func TestReadWeightsTorch(t *testing.T) {
	ts := []fixture.TorchTensor{
		{Name: "x.weight", Storage: "FloatStorage", Key: "0", Data: []float64{1, 2, 3, 4}, Shape: []int{2, 2}},
		{Name: "bert.embeddings.position_ids", Storage: "LongStorage", Key: "1", Data: []float64{0, 1}, Shape: []int{1, 2}},
	}
	dir := t.TempDir()
	copyFile(t, "config.json", dir)
	if err := fixture.WriteStateDict(filepath.Join(dir, "pytorch_model.bin"), ts); err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.ReadWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "x.weight" || !slices.Equal(got[0].F32, []float32{1, 2, 3, 4}) {
		t.Errorf("ReadWeights: %+v", got)
	}
	// Sharded: pytorch_model.bin.index.json.
	sharded := t.TempDir()
	copyFile(t, "config.json", sharded)
	if err := fixture.WriteStateDict(filepath.Join(sharded, "pytorch_model-00001-of-00001.bin"), ts[:1]); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(sharded, "pytorch_model.bin.index.json"), []byte(`{"weight_map": {"x.weight": "pytorch_model-00001-of-00001.bin"}}`))
	if got, err := checkpoint.ReadWeights(sharded); err != nil || len(got) != 1 {
		t.Errorf("sharded .bin: %v, %v", got, err)
	}
}

// TestReadTorchFileRefuses: a pickle that names anything but a state
// dict's tensors is refused before anything is called; so are the legacy
// format, storages larger than their record and values that are not
// tensors.
func TestReadTorchFileRefuses(t *testing.T) {
	tensor := []fixture.TorchTensor{{Name: "w", Storage: "FloatStorage", Key: "0", Data: []float64{1, 2}, Shape: []int{2}}}
	hostile := func(module, name string) []byte {
		p := fixture.NewPickle()
		p.Global(module, name)
		p.Tuple(func() { p.Str("touch /tmp/gotune-pwned") })
		p.Reduce()
		p.Op(".")
		return p.Bytes()
	}
	inDict := func(module, name string) []byte { // a hostile value inside an OrderedDict
		p := fixture.NewPickle()
		p.Global("collections", "OrderedDict")
		p.Op(")R(")
		p.Str("w")
		p.Global(module, name)
		p.Tuple(func() { p.Str("1+1") })
		p.Reduce()
		p.Op("u.")
		return p.Bytes()
	}
	bigStorage := fixture.NewPickle()
	bigStorage.Global("collections", "OrderedDict")
	bigStorage.Op(")R(")
	bigStorage.Str("w")
	bigStorage.Global("torch._utils", "_rebuild_tensor_v2")
	bigStorage.Tuple(func() {
		bigStorage.Tuple(func() { bigStorage.Str("storage") }, func() { bigStorage.Global("torch", "FloatStorage") },
			func() { bigStorage.Str("0") }, func() { bigStorage.Str("cpu") }, func() { bigStorage.Int(1 << 30) })
		bigStorage.Op("Q")
	}, func() { bigStorage.Int(0) }, func() { bigStorage.Op("(J\x00\x00\x00\x40t") }, func() { bigStorage.Op("(J\x01\x00\x00\x00t") },
		func() { bigStorage.Op("\x89") }, func() { bigStorage.Global("collections", "OrderedDict"); bigStorage.Op(")R") })
	bigStorage.Op("Ru.")
	notTensor := fixture.NewPickle()
	notTensor.Op("}(") // EMPTY_DICT MARK
	notTensor.Str("w")
	notTensor.Str("a string")
	notTensor.Op("u.")
	for _, tc := range []struct {
		name string
		file func(path string) error
		want string
	}{
		{"os.system", func(p string) error { return fixture.WriteTorchZip(p, hostile("os", "system"), tensor) }, "refusing the pickle global os.system"},
		{"builtins.eval", func(p string) error { return fixture.WriteTorchZip(p, hostile("builtins", "eval"), tensor) }, "refusing the pickle global builtins.eval"},
		{"eval in the dict", func(p string) error { return fixture.WriteTorchZip(p, inDict("builtins", "eval"), tensor) }, "refusing the pickle global builtins.eval"},
		{"subprocess in the dict", func(p string) error { return fixture.WriteTorchZip(p, inDict("subprocess", "check_output"), tensor) }, "refusing the pickle global subprocess.check_output"},
		{"numpy reconstruct", func(p string) error {
			return fixture.WriteTorchZip(p, inDict("numpy.core.multiarray", "_reconstruct"), tensor)
		}, "refusing the pickle global numpy.core.multiarray._reconstruct"},
		// gopickle resolves these Python 2 names itself, to Go values that run
		// nothing; what they build is no state dict.
		{"copy_reg._reconstructor", func(p string) error { return fixture.WriteTorchZip(p, hostile("copy_reg", "_reconstructor"), tensor) }, "data.pkl"},
		{"__builtin__.object in the dict", func(p string) error { return fixture.WriteTorchZip(p, inDict("__builtin__", "object"), tensor) }, "REDUCE requires a Callable"},
		{"storage larger than its record", func(p string) error { return fixture.WriteTorchZip(p, bigStorage.Bytes(), tensor) }, "do not fit"},
		{"not a tensor", func(p string) error { return fixture.WriteTorchZip(p, notTensor.Bytes(), tensor) }, "state dict entry w is string, not a tensor"},
		{"legacy format", func(p string) error { return os.WriteFile(p, hostile("os", "system"), 0o644) }, "legacy format of torch < 1.6"},
		{"not pytorch", func(p string) error { return os.WriteFile(p, []byte("hello"), 0o644) }, "not a PyTorch state dict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pytorch_model.bin")
			if err := tc.file(path); err != nil {
				t.Fatal(err)
			}
			_, err := checkpoint.ReadTorchFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want %q naming the file", err, tc.want)
			}
			if _, err := os.Stat("/tmp/gotune-pwned"); err == nil {
				t.Fatal("the pickle ran a command")
			}
		})
	}
}
