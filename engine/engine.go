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
	"fmt"
	"os"
	"runtime"
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

// New creates the backend named by spec (see ResolveSpec).
func New(spec string) (compute.Backend, error) {
	s := ResolveSpec(spec)
	b, err := compute.NewWithConfig(s)
	if err != nil {
		return nil, fmt.Errorf("creating backend %q (registered backends: %s): %w", s, strings.Join(compute.List(), ", "), err)
	}
	return b, nil
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
