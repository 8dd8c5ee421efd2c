// Package engine chooses and configures the GoMLX compute backend that runs
// gotune's graphs, and applies the two process-level settings that make the
// pure-Go backend fast and safe on x86-64:
//
//   - The Go backend's parallel op scheduling (compute v0.1.2) can deadlock its
//     worker pool on a transformer training step; gotune asks for
//     "ops_sequential" unless the user names a scheduling option.
//   - In GOEXPERIMENT=simd builds, math.Exp's FMA path can run ~100× slower
//     because it meets dirty upper vector state; GODEBUG=cpu.fma=off avoids
//     it. GODEBUG cpu options are read at process start, so [Reexec] restarts
//     the program once with the setting added.
//
// Nothing here assumes the Go backend: any backend registered with
// github.com/gomlx/compute can be named ("xla:cuda" in a build that links it).
package engine

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers the "go" backend
)

// DefaultSpec is the backend used when neither a flag nor $GOMLX_BACKEND
// names one.
const DefaultSpec = "go"

// ResolveSpec returns the backend spec to use: spec if non-empty, else
// $GOMLX_BACKEND, else DefaultSpec; for the Go backend ops_sequential is
// added unless a scheduling option is already present.
func ResolveSpec(spec string) string {
	if spec == "" {
		spec = os.Getenv(compute.ConfigEnvVar)
	}
	if spec == "" {
		spec = DefaultSpec
	}
	name, cfg, _ := strings.Cut(spec, ":")
	if name != "go" {
		return spec
	}
	for _, opt := range strings.Split(cfg, ",") {
		if opt == "ops_sequential" || opt == "ops_parallel" {
			return spec
		}
	}
	if cfg == "" {
		return "go:ops_sequential"
	}
	return spec + ",ops_sequential"
}

// New creates the backend named by spec (see ResolveSpec). An XLA spec
// ("xla:cuda", "xla:cpu", "xla:/path/to/plugin.so", with options after a
// comma) has its PJRT plugin found first (see PluginSearch.FindPlugin); in
// a build without the xla tag it is an error saying how to build with it.
func New(spec string) (compute.Backend, error) {
	s := ResolveSpec(spec)
	name, _, _ := strings.Cut(s, ":")
	var notes []string
	if IsXLA(s) {
		var err error
		if s, notes, err = prepareXLA(s); err != nil {
			return nil, err
		}
	} else if !slices.Contains(compute.List(), name) {
		return nil, fmt.Errorf("unknown backend %q in %q (this build has: %s)", name, s, strings.Join(backendNames(), ", "))
	}
	b, err := compute.NewWithConfig(s)
	if err != nil {
		if len(notes) > 0 {
			err = fmt.Errorf("%w (before it: %s)", err, strings.Join(notes, "; "))
		}
		return nil, fmt.Errorf("creating backend %q: %w", s, oneLine(err))
	}
	return b, nil
}

// backendNames lists the backends a user can name in this build.
func backendNames() []string {
	names := compute.List()
	if !xlaLinked {
		names = append(names, "xla (needs a build with -tags xla)")
	}
	sort.Strings(names)
	return names
}

// oneLine folds a multi-line error (PJRT plugins return some) into one
// line.
func oneLine(err error) error {
	msg := err.Error()
	if !strings.ContainsAny(msg, "\n\r") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(msg), " "))
}

// Describe returns a one-line description of a backend and its first
// device (for XLA on a GPU, the GPU's name).
func Describe(b compute.Backend) string {
	d := b.Description()
	if n := b.NumDevices(); n > 0 {
		d += "; device 0: " + strings.Join(strings.Fields(b.DeviceDescription(0)), " ")
		if n > 1 {
			d += fmt.Sprintf(" (of %d)", n)
		}
	}
	return d
}

// reexecEnv marks a process already restarted by Reexec.
const reexecEnv = "GOTUNE_REEXEC"

// NeedsFMAWorkaround reports whether the current process runs without
// GODEBUG=cpu.fma=off (or an explicit user choice of cpu.fma) in a simd build
// on amd64.
func NeedsFMAWorkaround() bool {
	if !simdBuild || runtime.GOARCH != "amd64" {
		return false
	}
	return !strings.Contains(os.Getenv("GODEBUG"), "cpu.fma=")
}

// Reexec restarts the current program with GODEBUG=cpu.fma=off added when
// NeedsFMAWorkaround reports true, and does nothing otherwise (or when
// GOTUNE_NO_REEXEC is set, or when the restart fails, in which case it
// returns the error and the caller continues on the slow path). Call it first
// in main.
func Reexec() error {
	if !NeedsFMAWorkaround() || os.Getenv(reexecEnv) != "" || os.Getenv("GOTUNE_NO_REEXEC") != "" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restarting with GODEBUG=cpu.fma=off: %w", err)
	}
	env := os.Environ()
	godebug := "cpu.fma=off"
	if old := os.Getenv("GODEBUG"); old != "" {
		godebug = old + "," + godebug
	}
	env = append(withoutVar(env, "GODEBUG"), "GODEBUG="+godebug, reexecEnv+"=1")
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("restarting %s with GODEBUG=cpu.fma=off: %w", exe, err)
	}
	return nil
}

func withoutVar(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
