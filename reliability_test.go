package gotune_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gofrs/flock"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/internal/memcheck"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/train"
)

// mountTmpfs mounts a tmpfs of size bytes (options opts added) on a new
// folder and unmounts it at the end of the test; it skips the test when
// mounting is not allowed (not root, no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size int, opts string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := fmt.Sprintf("size=%d", size)
	if opts != "" {
		data += "," + opts
	}
	var flags uintptr
	if strings.Contains(opts, "ro") {
		flags = syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, data); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): run the tests as root for the disk-full checks", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full, then shrinks it
// so that leave bytes are free; it returns the filler's path.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(max(0, n-leave)); err != nil {
		t.Fatal(err)
	}
	return p
}

// noTempFiles fails the test when a temporary file or folder (the names
// writers use before their final rename) is left under dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.Contains(d.Name(), ".tmp") || strings.HasSuffix(d.Name(), ".old")) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// TestDiskFull fills the file system of a run folder (a small tmpfs) while
// a resumed run writes its metrics, checkpoint and model, leaving 0 to 96
// KiB free: every attempt fails with an error saying the disk is full, no
// temporary file is left, the last checkpoint still loads, and once space
// is freed the run resumes to the same final model, bit for bit, as an
// uninterrupted run.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("trains several times")
	}
	model := testmodel.New(t, testmodel.Default())
	trainPath, evalPath := testmodel.Data(t, 96, 32)
	mnt := mountTmpfs(t, 4<<20, "")
	cfg := tinyConfig(t, model, trainPath, evalPath)
	cfg.Epochs = 3
	ref := cfg
	cfg.Out = filepath.Join(mnt, "run")
	if _, err := gotune.Train(context.Background(), ref, output()); err != nil {
		t.Fatal(err)
	}
	if _, err := gotune.Train(&stopAfter{Context: context.Background(), n: 5}, cfg, output()); !errors.Is(err, gotune.ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	cfg.Resume = true
	ckpt := filepath.Join(cfg.Out, gotune.CheckpointDirName)
	for _, leave := range []int64{0, 8 << 10, 32 << 10, 64 << 10, 96 << 10} {
		filler := fill(t, mnt, leave)
		_, err := gotune.Train(context.Background(), cfg, output())
		if err == nil {
			t.Fatalf("%d bytes free: the run finished", leave)
		}
		if !strings.Contains(err.Error(), "no space left on device") || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%d bytes free: error %q, want one line saying the disk is full", leave, err)
		}
		t.Logf("%d KiB free: %v", leave>>10, err)
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		noTempFiles(t, cfg.Out)
		if _, err := safetensors.ReadFile(filepath.Join(ckpt, train.StateFile)); err != nil {
			t.Fatalf("%d bytes free: the checkpoint no longer loads: %v", leave, err)
		}
	}
	if _, err := gotune.Train(context.Background(), cfg, output()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model/model.safetensors", gotune.CheckpointDirName + "/" + train.StateFile} {
		if bitwise, d := weightDiff(t, filepath.Join(ref.Out, f), filepath.Join(cfg.Out, f)); !bitwise {
			t.Errorf("%s: the run resumed after the disk-full errors differs from the uninterrupted one: max |diff| %g", f, d)
		}
	}

	// Predictions: a full disk fails the write and keeps the previous file.
	p, err := gotune.LoadPredictor(filepath.Join(ref.Out, gotune.ModelDirName), "")
	if err != nil {
		t.Fatal(err)
	}
	preds := filepath.Join(mnt, "predictions.jsonl")
	if err := p.PredictFile(evalPath, preds, data.DefaultOptions(), nil); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(preds)
	if err != nil {
		t.Fatal(err)
	}
	filler := fill(t, mnt, 0)
	err = p.PredictFile(evalPath, preds, data.DefaultOptions(), nil)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "predictions.jsonl") {
		t.Errorf("predictions on a full disk: error %v, want one naming the file and saying the disk is full", err)
	}
	if after, err := os.ReadFile(preds); err != nil || !bytes.Equal(after, before) {
		t.Errorf("the previous predictions file changed (%v)", err)
	}
	os.Remove(filler)
	noTempFiles(t, mnt)
}

// TestReadOnlyOut: a run folder that cannot be written fails before the
// model is loaded, naming the folder.
// As root (whom permissions do not stop) the folder is a read-only tmpfs;
// otherwise a folder without write permission.
func TestReadOnlyOut(t *testing.T) {
	ro, want := "", "permission denied"
	if os.Geteuid() == 0 {
		ro, want = mountTmpfs(t, 1<<20, "ro"), "read-only file system"
	} else {
		ro = t.TempDir()
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(ro, 0o755) })
	}
	for _, out := range []string{ro, filepath.Join(ro, "run")} {
		cfg := tinyConfig(t, "no-such-model", "no-such-train.jsonl", "")
		cfg.Out = out
		_, err := gotune.Train(context.Background(), cfg, output())
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), out) {
			t.Errorf("--out %s: error %v, want one naming the folder and saying %q", out, err, want)
		}
	}
}

// TestRunLock: a second run on a run folder in use is refused with the
// first one's pid; a lock left by a dead process is taken over.
func TestRunLock(t *testing.T) {
	model := testmodel.New(t, testmodel.Default())
	trainPath, evalPath := testmodel.Data(t, 32, 16)
	cfg := tinyConfig(t, model, trainPath, evalPath)
	cfg.Epochs = 1
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(cfg.Out, gotune.LockFile)
	other := flock.New(lockPath)
	if ok, err := other.TryLock(); !ok || err != nil {
		t.Fatalf("taking the lock: %v %v", ok, err)
	}
	if err := os.WriteFile(lockPath, []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := gotune.Train(context.Background(), cfg, output())
	if err == nil || !strings.Contains(err.Error(), "in use by another gotune process (pid 4242)") {
		t.Fatalf("second run: error %v, want it refused with the other pid", err)
	}
	other.Unlock() // the other process dies: its pid stays in the file, its OS lock goes.
	var log bytes.Buffer
	if _, err := gotune.Train(context.Background(), cfg, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "taking over the lock of process 4242") {
		t.Errorf("the run did not say it took over the stale lock:\n%s", log.String())
	}
	if b, err := os.ReadFile(lockPath); err != nil || len(b) != 0 {
		t.Errorf("after the run the lock file holds %q (%v), want it empty", b, err)
	}
}

// TestNonFinite: a learning rate that makes training diverge stops the run
// with an error naming the step, keeping the last checkpoint with finite
// weights (it resumes); with SkipNonFinite the run skips such steps,
// leaving the weights unchanged, and counts them in metrics.jsonl.
func TestNonFinite(t *testing.T) {
	model := testmodel.New(t, testmodel.Default())
	trainPath, evalPath := testmodel.Data(t, 96, 32)
	cfg := tinyConfig(t, model, trainPath, evalPath)
	cfg.Epochs, cfg.LR, cfg.SaveSteps, cfg.WarmupRatio, cfg.MaxGradNorm = 2, 1e30, 1, 0, 0
	_, err := gotune.Train(context.Background(), cfg, output())
	if err == nil || !strings.Contains(err.Error(), "diverged") || !strings.Contains(err.Error(), "step ") {
		t.Fatalf("error %v, want one saying training diverged at a step", err)
	}
	t.Log(err)
	st, err := safetensors.ReadFile(filepath.Join(cfg.Out, gotune.CheckpointDirName, train.StateFile))
	if err != nil {
		t.Fatalf("the last checkpoint does not load: %v", err)
	}
	for _, x := range st.Tensors {
		for _, v := range x.F32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("the kept checkpoint holds %v in %s", v, x.Name)
			}
		}
	}

	cfg.Out, cfg.SkipNonFinite = filepath.Join(t.TempDir(), "skip"), true
	var log bytes.Buffer
	res, err := gotune.Train(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("--skip-nonfinite run: %v\n%s", err, log.String())
	}
	recs := readLines(t, filepath.Join(cfg.Out, gotune.MetricsFile))
	last := -1.0
	for _, r := range recs {
		if n, ok := r["skipped_nonfinite"].(float64); ok {
			last = n
		}
	}
	if last <= 0 || !strings.Contains(log.String(), "skipped a batch") {
		t.Errorf("skipped_nonfinite in metrics.jsonl = %v, want > 0; log:\n%s", last, log.String())
	}
	t.Logf("%d steps, %v batches skipped", res.Steps, last)
}

// TestConfigFileHostile: a config.yaml nested a million levels deep or
// expanding aliases exponentially (a "billion laughs") fails with an error
// naming the file, within a bounded allocation (yaml.v3's depth and alias
// limits).
func TestConfigFileHostile(t *testing.T) {
	laughs := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, c := range "bcdefghi" {
		laughs += fmt.Sprintf("%c: &%c [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", c, c, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = string(c)
	}
	for name, content := range map[string]string{
		"deep nesting":  "model: " + strings.Repeat("[", 1<<20),
		"deep mappings": strings.Repeat("a:\n ", 100000),
		"alias bomb":    laughs + "model: *i\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			alloc := memcheck.Allocated(func() { _, err = gotune.LoadConfigFile(p, gotune.DefaultConfig()) })
			if err == nil || !strings.Contains(err.Error(), "config.yaml") {
				t.Fatalf("error %v, want one naming the file", err)
			}
			t.Logf("%v (%d MiB allocated)", err, alloc>>20)
			if alloc > 256<<20 {
				t.Errorf("allocated %d MiB for a %d KiB file", alloc>>20, len(content)>>10)
			}
		})
	}
}
