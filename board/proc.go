package board

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// proc is a training the board started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	// code is the exit status once done (-1: killed by a signal).
	code int
}

// procs are the board's child processes by run name.
type procs struct {
	mu sync.Mutex
	m  map[string]*proc
}

// get returns the board's process for run name, or nil.
func (p *procs) get(name string) *proc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[name]
}

// alive reports whether the process has not ended.
func (c *proc) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// running reports whether the board's training of run name is alive.
func (p *procs) running(name string) bool {
	c := p.get(name)
	return c != nil && c.alive()
}

// status is the board's knowledge of run name: "" when it did not start
// it, else running, interrupted (exit status 130, gotune's Ctrl-C), failed
// (any other error) or finished.
func (p *procs) status(name string) string {
	c := p.get(name)
	switch {
	case c == nil:
		return ""
	case c.alive():
		return StatusRunning
	case c.code == 0:
		return StatusFinished
	case c.code == 130:
		return StatusInterrupted
	}
	return StatusFailed
}

// pid is the process id of the board's running training of run name, or 0.
func (p *procs) pid(name string) int {
	if c := p.get(name); c != nil && c.alive() {
		return c.cmd.Process.Pid
	}
	return 0
}

// peakRSS reads a process's peak resident memory (VmHWM) from /proc; 0
// where it cannot.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// names lists the runs the board started.
func (p *procs) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for n := range p.m {
		out = append(out, n)
	}
	return out
}

// start runs exe with args (no shell) in folder dir, its output going to
// logPath (a new file, or appended to when resuming), in its own process
// group so that a Ctrl-C meant for the board does not reach it directly.
func (p *procs) start(name, exe, dir string, args []string, logPath string, appendLog bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.m[name]; c != nil && c.alive() {
		return fmt.Errorf("%s is already running", name)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(logPath), err)
	}
	mode := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendLog {
		mode = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	log, err := os.OpenFile(logPath, mode, 0o644)
	if err != nil {
		return fmt.Errorf("creating the run's log: %w", err)
	}
	fmt.Fprintf(log, "board: %s %s\n", filepath.Base(exe), strings.Join(args, " "))
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting %s: %w", exe, err)
	}
	c := &proc{cmd: cmd, done: make(chan struct{})}
	if p.m == nil {
		p.m = map[string]*proc{}
	}
	p.m[name] = c
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			c.code = ee.ExitCode()
			if c.code < 0 {
				fmt.Fprintf(log, "board: exit: %v\n", err)
			}
		default:
			c.code = -1
			fmt.Fprintf(log, "board: exit: %v\n", err)
		}
		log.Close()
		close(c.done)
	}()
	return nil
}

// interrupt sends SIGINT to the board's training of run name, as Ctrl-C
// in a terminal would: gotune train then saves a resumable checkpoint and
// exits.
func (p *procs) interrupt(name string) error {
	c := p.get(name)
	if c == nil || !c.alive() {
		return errNotRunning
	}
	return c.cmd.Process.Signal(os.Interrupt)
}

var errNotRunning = errors.New("not running")

// wait waits for run name's process to end, or for ctx.
func (p *procs) wait(ctx context.Context, name string) error {
	c := p.get(name)
	if c == nil {
		return errNotRunning
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopAll interrupts every running training and waits for them to save
// their checkpoints and end, or for ctx; then it kills what is left.
func (p *procs) stopAll(ctx context.Context) {
	names := p.names()
	for _, n := range names {
		_ = p.interrupt(n)
	}
	for _, n := range names {
		if p.wait(ctx, n) != nil {
			c := p.get(n)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}
