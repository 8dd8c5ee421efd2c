package safetensors

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gotune/gotune/internal/memcheck"
)

// TestHostileSizes: files whose header claims sizes far beyond the file
// fail with an error naming the problem, before anything of that size is
// allocated: reading a file allocates at most about its own size.
func TestHostileSizes(t *testing.T) {
	tenGB := header(`{}`, 0)
	binary.LittleEndian.PutUint64(tenGB, 10<<30)
	tests := []struct {
		name, want string
		file       []byte
	}{
		{"10 GB header length", "exceeds the limit", tenGB},
		{"2^40-element tensor", "needs more bytes than the 4 bytes", header(`{"x":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4]}}`, 4)},
		{"element count overflowing int64", "needs more bytes", header(`{"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}`, 0)},
		{"offsets past the file", "run past the end", header(`{"x":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}`, 8)},
		{"negative offset", "invalid data_offsets", header(`{"x":{"dtype":"U8","shape":[1],"data_offsets":[-9223372036854775808,1]}}`, 8)},
		{"deep JSON nesting", "not a JSON object", header(`{"x":`+strings.Repeat("[", 200000)+strings.Repeat("]", 200000)+"}", 0)},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "hostile.safetensors")
			if err := os.WriteFile(p, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			alloc := memcheck.Allocated(func() { _, err = ReadFile(p) })
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "hostile.safetensors") {
				t.Fatalf("error %v, want one naming the file and saying %q", err, tc.want)
			}
			// Bound: the header bytes, JSON decoding of them, and 1 MiB slack.
			if limit := uint64(4*len(tc.file)) + 1<<20; alloc > limit {
				t.Errorf("allocated %d bytes for a %d-byte file (bound %d)", alloc, len(tc.file), limit)
			}
		})
	}
}

// fullWriter accepts n bytes, then fails as a full disk does.
type fullWriter struct{ n int }

func (w *fullWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, syscall.ENOSPC
	}
	w.n -= len(p)
	return len(p), nil
}

// TestWriteDiskFull: a writer that runs out of space at any byte makes
// Write fail with the underlying ENOSPC (the root package's TestDiskFull
// checks the same on a real full file system, as root).
func TestWriteDiskFull(t *testing.T) {
	ts := []*Tensor{{Name: "w", Shape: []int{100000}, F32: make([]float32, 100000)}}
	for _, n := range []int{0, 7, 8, 100, 1 << 16, 300000} {
		err := Write(&fullWriter{n}, ts, map[string]string{"format": "pt"})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("space for %d bytes: error %v, want ENOSPC", n, err)
		}
	}
}
