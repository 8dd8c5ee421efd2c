// Command crash kills `gotune train` with SIGKILL at random moments and
// checks that `--resume` always finishes with the same final model, bit
// for bit, as an uninterrupted run of the same seed. bench/crash.sh builds
// gotune and runs it; see docs/reliability.md.
//
// Each trial aims at one phase of a run, in turn: a training step, the
// write of a resumable checkpoint, an evaluation, and the computation of
// the feature cache (--method feature). The moment is random within that
// phase; the phase actually hit is read back from the run folder and the
// run's output at the kill. A run killed before its first checkpoint has
// nothing to resume: it is restarted with --overwrite, as a user would.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gotune/gotune/internal/testmodel"
)

// scenario is one training configuration and its uninterrupted reference.
type scenario struct {
	name string
	args []string
	ref  string        // run folder of the uninterrupted run
	dur  time.Duration // its wall time
}

// run is a started gotune process whose output lines are recorded.
type run struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan error
}

func start(bin string, args []string) (*run, error) {
	r := &run{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	pr, pw := io.Pipe()
	r.cmd.Stdout, r.cmd.Stderr = pw, pw
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	}()
	go func() {
		err := r.cmd.Wait()
		pw.Close()
		r.done <- err
	}()
	return r, nil
}

// count returns how many output lines start with prefix.
func (r *run) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func (r *run) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// waitFor polls cond every 100 µs until it holds, the process ends, or the
// deadline passes.
func waitFor(r *run, deadline time.Duration, cond func() bool) bool {
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		select {
		case err := <-r.done:
			r.done <- err
			return false
		default:
		}
		time.Sleep(100 * time.Microsecond)
	}
	return false
}

// trial kills one run of sc aimed at phase and resumes it; it returns the
// table row.
func trial(bin, work string, sc *scenario, phase string, i int, rng *rand.Rand) ([]string, error) {
	out := filepath.Join(work, fmt.Sprintf("trial-%02d", i))
	args := append(append([]string{}, sc.args...), "--out", out)
	r, err := start(bin, args)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	ckptTmp := filepath.Join(out, "checkpoints", "last.tmp")
	var hit bool
	switch phase {
	case "checkpoint write":
		// The k-th checkpoint write: kill as soon as its folder appears.
		k := 1 + rng.IntN(3)
		for n := 0; n < k; n++ {
			if hit = waitFor(r, time.Minute, func() bool { return exists(ckptTmp) }); !hit {
				break
			}
			if n < k-1 {
				waitFor(r, time.Minute, func() bool { return !exists(ckptTmp) })
			}
		}
	case "evaluation":
		// After the k-th "epoch N:" line the evaluation of that epoch runs.
		k := 1 + rng.IntN(3)
		if hit = waitFor(r, time.Minute, func() bool { return r.count("epoch ") >= k }); hit {
			time.Sleep(time.Duration(rng.Float64() * float64(sc.dur) / 40))
		}
	case "feature cache":
		// Features are computed right after the "data:" line.
		if hit = waitFor(r, time.Minute, func() bool { return r.count("data:") > 0 }); hit {
			time.Sleep(time.Duration(rng.Float64() * float64(sc.dur) / 4))
		}
	default: // training step: a random moment of the run
		if hit = waitFor(r, time.Minute, func() bool { return r.count("data:") > 0 }); hit {
			time.Sleep(time.Duration((0.1 + 0.8*rng.Float64()) * float64(sc.dur)))
		}
	}
	if !hit {
		return nil, fmt.Errorf("trial %d (%s): the run ended before the kill point:\n%s", i, phase, r.output())
	}
	// Read the phase back at the moment of the kill.
	inCkpt := exists(ckptTmp)
	inModel := exists(filepath.Join(out, "model.tmp"))
	evals, epochs := r.count("eval step"), r.count("epoch ")
	features := r.count("data:") > 0 && r.count("features:") == 0
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return nil, err
	}
	killAt := time.Since(t0)
	if err := <-r.done; err == nil {
		return nil, fmt.Errorf("trial %d (%s): the run finished before the kill", i, phase)
	}
	got := "training step"
	switch {
	case inCkpt:
		got = "checkpoint write"
	case inModel:
		got = "model save"
	case features && strings.Contains(sc.name, "feature"):
		got = "feature cache"
	case epochs > evals:
		got = "evaluation"
	}
	step := "none"
	var meta struct {
		Step int `json:"global_step"`
	}
	if b, err := os.ReadFile(filepath.Join(out, "checkpoints", "last", "trainer_state.json")); err == nil && json.Unmarshal(b, &meta) == nil {
		step = fmt.Sprint(meta.Step)
	}
	how := "--resume"
	code, log := runToEnd(bin, append(args, "--resume"))
	if code != 0 && (strings.Contains(log, "has no checkpoint") || strings.Contains(log, "does not exist or is empty")) {
		how = "--overwrite (no checkpoint yet)"
		code, log = runToEnd(bin, append(args, "--overwrite"))
	}
	finished := code == 0
	same := "no"
	if finished {
		ok, diff, err := identical(sc.ref, out)
		if err != nil {
			return nil, err
		}
		if ok {
			ok, diff = sameRecords(sc.ref, out)
		}
		if ok {
			same = "yes"
		} else {
			same = "no: " + diff
		}
	} else {
		fmt.Fprintf(os.Stderr, "trial %d: resumed run failed:\n%s\n", i, log)
	}
	os.RemoveAll(out)
	return []string{fmt.Sprint(i), sc.name, phase, got, fmt.Sprintf("%.2f s", killAt.Seconds()), step, how, yes(finished), same}, nil
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func runToEnd(bin string, args []string) (int, string) {
	cmd := exec.Command(bin, args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), b.String()
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, b.String()
}

// identical compares the kept model folder, the last checkpoint and
// eval.json of two run folders, byte for byte (JSON files without their
// time and memory fields); it returns the first file that differs.
func identical(a, b string) (bool, string, error) {
	var files []string
	for _, d := range []string{"model", "checkpoints/last"} {
		entries, err := os.ReadDir(filepath.Join(a, d))
		if err != nil {
			return false, "", err
		}
		for _, e := range entries {
			files = append(files, filepath.Join(d, e.Name()))
		}
	}
	files = append(files, "eval.json")
	for _, f := range files {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			return false, "", err
		}
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			return false, f, nil
		}
		if strings.HasSuffix(f, ".json") {
			x, y = dropTimes(x), dropTimes(y)
		}
		if !bytes.Equal(x, y) {
			return false, f, nil
		}
	}
	return true, "", nil
}

// sameRecords checks that metrics.jsonl of run b logs the same records
// (kind and step) as a's, each once.
func sameRecords(a, b string) (bool, string) {
	keys := func(dir string) []string {
		var out []string
		data, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var r map[string]any
			json.Unmarshal([]byte(line), &r)
			out = append(out, fmt.Sprint(r["kind"], " ", r["step"]))
		}
		return out
	}
	if x, y := keys(a), keys(b); fmt.Sprint(x) != fmt.Sprint(y) {
		return false, "metrics.jsonl records"
	}
	return true, ""
}

// dropTimes removes the fields of a JSON file that measure the process
// rather than the result (eval.json's train_seconds, peak_rss_bytes and
// graph_compilations, the checkpoint's run.elapsed_seconds).
func dropTimes(b []byte) []byte {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	delete(m, "train_seconds")
	delete(m, "peak_rss_bytes")
	delete(m, "graph_compilations") // counts this process's compilations
	if run, ok := m["run"].(map[string]any); ok {
		delete(run, "elapsed_seconds")
	}
	out, _ := json.Marshal(m)
	return out
}

func main() {
	bin := flag.String("gotune", "", "the gotune binary")
	work := flag.String("work", "", "work folder (model, data, runs)")
	trials := flag.Int("trials", 20, "number of kills")
	seed := flag.Uint64("seed", 1, "seed of the kill moments")
	flag.Parse()
	if *bin == "" || *work == "" {
		fmt.Fprintln(os.Stderr, "usage: crash --gotune BIN --work DIR [--trials N] [--seed N]")
		os.Exit(2)
	}
	if err := mainErr(*bin, *work, *trials, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "crash:", err)
		os.Exit(1)
	}
}

func mainErr(bin, work string, trials int, seed uint64) error {
	model := filepath.Join(work, "tiny-bert")
	o := testmodel.Default()
	o.InitRange = 0.2 // features that vary with the input, for --method feature
	if err := testmodel.Write(model, o); err != nil {
		return err
	}
	trainPath, evalPath, bigPath := filepath.Join(work, "train.jsonl"), filepath.Join(work, "eval.jsonl"), filepath.Join(work, "big.jsonl")
	for _, d := range []struct {
		path string
		n    int
		seed uint64
	}{{trainPath, 1024, 1}, {evalPath, 2048, 2}, {bigPath, 12000, 3}} {
		if err := testmodel.WriteJSONL(d.path, testmodel.Examples(d.n, d.seed)); err != nil {
			return err
		}
	}
	common := []string{"--model", model, "--eval", evalPath, "--batch-size", "16", "--max-len", "16", "--logging-steps", "5", "--seed", "7"}
	scs := []*scenario{
		{name: "full", args: append([]string{"train", "--train", trainPath, "--epochs", "4", "--lr", "0.01", "--save-steps", "4"}, common...)},
		{name: "feature", args: append([]string{"train", "--method", "feature", "--train", bigPath, "--epochs", "2", "--lr", "0.01", "--save-steps", "20"}, common...)},
	}
	for _, sc := range scs {
		sc.ref = filepath.Join(work, "ref-"+sc.name)
		t0 := time.Now()
		if code, log := runToEnd(bin, append(sc.args, "--out", sc.ref)); code != 0 {
			return fmt.Errorf("uninterrupted %s run failed:\n%s", sc.name, log)
		}
		sc.dur = time.Since(t0)
		fmt.Printf("uninterrupted %s run: %.1f s\n", sc.name, sc.dur.Seconds())
	}
	rng := rand.New(rand.NewPCG(seed, 0xc4a5))
	phases := []string{"training step", "checkpoint write", "evaluation", "feature cache"}
	rows := [][]string{{"#", "run", "aimed at", "killed during", "killed at", "checkpoint step", "restarted with", "finished", "bit-identical"}}
	ok := 0
	for i := 1; i <= trials; i++ {
		phase := phases[(i-1)%len(phases)]
		sc := scs[0]
		if phase == "feature cache" {
			sc = scs[1]
		}
		row, err := trial(bin, work, sc, phase, i, rng)
		if err != nil {
			return err
		}
		if row[7] == "yes" && row[8] == "yes" {
			ok++
		}
		rows = append(rows, row)
		fmt.Println(strings.Join(row, " | "))
	}
	fmt.Println()
	for i, r := range rows {
		fmt.Println("| " + strings.Join(r, " | ") + " |")
		if i == 0 {
			fmt.Println(strings.Repeat("|---", len(r)) + "|")
		}
	}
	fmt.Printf("\n%d/%d killed runs finished with a bit-identical final model\n", ok, trials)
	if ok != trials {
		return fmt.Errorf("%d of %d trials failed", trials-ok, trials)
	}
	return nil
}
