package compare

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/runlog"
)

// A Runner trains one run of a comparison.
type Runner interface {
	// Train runs the configuration saved in configPath (cfg is the same
	// configuration; cfg.Out does not exist yet), writing the run's output
	// to log.
	Train(ctx context.Context, cfg gotune.Config, configPath string, log io.Writer) (RunStats, error)
	// Describe says how runs are isolated, for the report.
	Describe() string
}

// RunStats is what a Runner measures from outside the run.
type RunStats struct {
	// Wall is the run's wall time, from start to exit.
	Wall time.Duration
	// PeakRSS is the run's peak resident memory in bytes (0 if unknown).
	PeakRSS int64
	// Command reproduces the run.
	Command string
}

// Child runs each training run as a child process, `Exe train --config
// FILE`. Each run then has its own address space: the peak memory is the
// run's own (the child's maximum resident set size, from the kernel's
// rusage), and a crash, a panic or an out-of-memory kill ends only that
// run. This is what `gotune compare` uses.
type Child struct {
	// Exe is the gotune executable.
	Exe string
	// Env is added to the environment of the child.
	Env []string
}

// Describe implements Runner.
func (c Child) Describe() string { return "one child process per run" }

// Train implements Runner.
func (c Child) Train(ctx context.Context, cfg gotune.Config, configPath string, log io.Writer) (RunStats, error) {
	st := RunStats{Command: reproduceCommand(c.Exe, configPath)}
	cmd := exec.CommandContext(ctx, c.Exe, "train", "--config", configPath)
	cmd.Env = append(os.Environ(), c.Env...)
	var tail tailBuffer
	cmd.Stdout = log
	cmd.Stderr = io.MultiWriter(log, &tail)
	// On Ctrl-C the child gets an interrupt, saves its checkpoint and ends.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	start := time.Now()
	err := cmd.Run()
	st.Wall = time.Since(start)
	if cmd.ProcessState != nil {
		st.PeakRSS = maxRSS(cmd.ProcessState)
	}
	if err != nil {
		msg := tail.lastLine()
		if ws, ok := exitSignal(cmd.ProcessState); ok {
			msg = fmt.Sprintf("killed by signal %s (out of memory? peak %s)", ws, runlog.FormatBytes(st.PeakRSS))
		}
		if msg == "" {
			msg = err.Error()
		}
		return st, fmt.Errorf("%s", strings.TrimPrefix(msg, "gotune train: "))
	}
	return st, nil
}

// InProcess runs each training run in this process with gotune.Train. It
// needs no executable, but runs share one address space: the kernel's peak
// resident-set counter is reset before each run (writing 5 to
// /proc/self/clear_refs, Linux), so a run's peak includes what the process
// already held, and a crash ends the comparison.
type InProcess struct{}

// Describe implements Runner.
func (InProcess) Describe() string { return "in process, peak memory counter reset per run" }

// Train implements Runner.
func (InProcess) Train(ctx context.Context, cfg gotune.Config, configPath string, log io.Writer) (st RunStats, err error) {
	st.Command = reproduceCommand("gotune", configPath)
	resetPeakRSS()
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
		st.Wall = time.Since(start)
		st.PeakRSS = runlog.PeakRSS()
	}()
	_, err = gotune.Train(ctx, cfg, log)
	return st, err
}

// reproduceCommand is the command that runs a compared run again: exe
// train --config FILE --overwrite (the run folder exists by then, and
// gotune train refuses a non-empty folder without --resume or --overwrite).
func reproduceCommand(exe, configPath string) string {
	return shellQuote(exe) + " train --config " + shellQuote(configPath) + " --overwrite"
}

// resetPeakRSS restarts the kernel's peak-RSS counter (Linux; elsewhere it
// does nothing), after returning freed memory, so runlog.PeakRSS measures
// from now on.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// writeConfig writes the run's configuration as YAML, the form `gotune
// train --config` reads.
func writeConfig(path string, cfg gotune.Config) error {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return writeFile(path, b)
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = t.b[len(t.b)-(8<<10):]
	}
	return len(p), nil
}

func (t *tailBuffer) lastLine() string {
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(t.b, nil))), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "gotune: warning") {
			return l
		}
	}
	return ""
}

// shellQuote quotes s for a POSIX shell where needed.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t'\"$\\`!*?;&|<>()[]{}#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runPaths returns the paths of a run's configuration and log, beside its
// run folder out.
func runPaths(out string) (configPath, logPath string) {
	return out + ".yaml", out + ".log"
}

// runOne runs one configuration and reads back what it left.
// runOne trains one run with r, its output in a log beside the run folder;
// progress, when not nil, receives the run's progress lines as they come.
func runOne(ctx context.Context, r Runner, cfg gotune.Config, tc *tokenCounter, progress io.Writer) *RunResult {
	rr := &RunResult{Seed: cfg.Seed, Dir: cfg.Out}
	configPath, logPath := runPaths(cfg.Out)
	if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
		rr.Error = err.Error()
		return rr
	}
	if err := writeConfig(configPath, cfg); err != nil {
		rr.Error = err.Error()
		return rr
	}
	logf, err := os.Create(logPath)
	if err != nil {
		rr.Error = err.Error()
		return rr
	}
	defer logf.Close()
	rr.Log = logPath
	var log io.Writer = logf
	if progress != nil {
		log = io.MultiWriter(logf, runlog.ProgressLines(progress, "      "))
	}
	st, err := r.Train(ctx, cfg, configPath, log)
	rr.Command, rr.WallSeconds, rr.PeakRSS = st.Command, st.Wall.Seconds(), st.PeakRSS
	if err != nil {
		rr.Error = err.Error()
		return rr
	}
	if err := rr.readRunFolder(cfg, tc); err != nil {
		rr.Error = err.Error()
	}
	return rr
}
