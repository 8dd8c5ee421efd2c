package board

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/runlog"
)

// Run statuses.
const (
	StatusRunning     = "running"
	StatusFinished    = "finished"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
	StatusStarting    = "starting"
)

// lockFiles are the files in a run folder that may hold the pid of the
// process training it (the first integer in the file): gotune train's
// .gotune.lock first (emptied when the run ends), then other usual names.
var lockFiles = []string{".gotune.lock", "lock", "run.lock", ".lock", "pid", "train.pid"}

// activeWindow is how recently a run folder without a lock file must have
// changed to count as running.
const activeWindow = 2 * time.Minute

// maxDepth is how deep under the runs folder run folders are looked for
// (gotune compare puts its runs at OUT/METHOD/seed-N).
const maxDepth = 4

// runConfig is the part of a run's config.yaml the board shows.
type runConfig struct {
	Model         string `yaml:"model"`
	Train         string `yaml:"train"`
	Eval          string `yaml:"eval"`
	Task          string `yaml:"task"`
	Method        string `yaml:"method"`
	MetricForBest string `yaml:"metric_for_best"`
	MaxSteps      int    `yaml:"max_steps"`
	Epochs        int    `yaml:"epochs"`
}

// Run is what the runs table shows of one run folder.
type Run struct {
	// Name is the folder's path relative to the runs folder, with '/'.
	Name string
	// Dir is the folder's absolute path.
	Dir                 string
	Status              string
	Method, Model, Task string
	// Metric names the metric of Best (metric_for_best); HasBest tells
	// whether an evaluation has happened.
	Metric  string
	Best    float64
	HasBest bool
	// Trainable is the trainable share of parameters in percent (-1:
	// unknown); Total and TrainableParams are the counts.
	Trainable              float64
	Total, TrainableParams int64
	Steps                  int
	Seconds                float64
	PeakRSS                int64
	Started                time.Time
}

// BestText formats the best metric for a table cell.
func (r Run) BestText() string {
	if !r.HasBest {
		return "–"
	}
	return r.Metric + " " + strconv.FormatFloat(r.Best, 'f', 4, 64)
}

// TrainableText formats the trainable share.
func (r Run) TrainableText() string {
	if r.Trainable < 0 {
		return "–"
	}
	return strconv.FormatFloat(r.Trainable, 'f', 4, 64)
}

// TimeText formats the training time.
func (r Run) TimeText() string {
	if r.Seconds <= 0 {
		return "–"
	}
	return runlog.FormatDuration(time.Duration(r.Seconds * float64(time.Second)))
}

// MemoryText formats the peak memory.
func (r Run) MemoryText() string {
	if r.PeakRSS <= 0 {
		return "–"
	}
	return runlog.FormatBytes(r.PeakRSS)
}

// StartedText formats the start time.
func (r Run) StartedText() string {
	if r.Started.IsZero() {
		return "–"
	}
	return r.Started.Local().Format("2006-01-02 15:04")
}

// ParamReport is PEFT's one-line parameter summary, or "" when unknown.
func (r Run) ParamReport() string {
	if r.Total <= 0 {
		return ""
	}
	return runlog.FormatParamReport(r.Total, r.TrainableParams)
}

// isRunDir reports whether dir looks like a gotune run folder.
func isRunDir(dir string) bool {
	for _, f := range []string{gotune.ConfigFile, gotune.MetricsFile, gotune.CommandFile, gotune.EvalFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// findRuns returns the run folders under root (relative names with '/'),
// not looking inside a run folder, hidden folders or deeper than maxDepth.
func findRuns(root string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			return nil // an unreadable sub-folder is skipped
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || strings.Count(rel, string(filepath.Separator)) >= maxDepth {
			return filepath.SkipDir
		}
		if isRunDir(path) {
			names = append(names, filepath.ToSlash(rel))
			return filepath.SkipDir
		}
		return nil
	})
	return names, err
}

// loadRun reads what a run folder says about the run. A missing file
// leaves its fields unknown; a malformed one is an error naming it.
func loadRun(root, name string) (Run, error) {
	dir := filepath.Join(root, filepath.FromSlash(name))
	r := Run{Name: name, Dir: dir, Trainable: -1}
	var cfg runConfig
	if b, err := os.ReadFile(filepath.Join(dir, gotune.ConfigFile)); err == nil {
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			return r, &fileError{filepath.Join(dir, gotune.ConfigFile), err}
		}
	}
	r.Method, r.Task, r.Metric = cfg.Method, cfg.Task, cfg.MetricForBest
	if cfg.Model != "" {
		r.Model = filepath.Base(cfg.Model)
	}
	for _, f := range []string{gotune.CommandFile, gotune.ConfigFile, gotune.MetricsFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil {
			r.Started = st.ModTime()
			break
		}
	}
	recs, err := readMetrics(dir)
	if err != nil {
		return r, err
	}
	for _, rec := range recs {
		if s, ok := num(rec, "step"); ok {
			r.Steps = max(r.Steps, int(s))
		}
		if e, ok := num(rec, "elapsed"); ok {
			r.Seconds = max(r.Seconds, e)
		}
	}
	if r.Metric == "" {
		r.Metric = "accuracy"
		if r.Task == gotune.TaskCausalLM {
			r.Metric = "loss"
		}
	}
	lower := r.Metric == "loss" || r.Metric == "perplexity"
	for _, rec := range recs {
		if kind, _ := rec["kind"].(string); kind != "eval" {
			continue
		}
		if v, ok := num(rec, "eval_"+r.Metric); ok && (!r.HasBest || (lower && v < r.Best) || (!lower && v > r.Best)) {
			r.Best, r.HasBest = v, true
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, gotune.EvalFile)); err == nil {
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			return r, &fileError{filepath.Join(dir, gotune.EvalFile), err}
		}
		if m, ok := ev["metric_for_best"].(string); ok && m != "" {
			r.Metric = m
		}
		if v, ok := num(ev, "eval_"+r.Metric); ok {
			r.Best, r.HasBest = v, true
		}
		if s, ok := num(ev, "steps"); ok {
			r.Steps = int(s)
		}
		if s, ok := num(ev, "train_seconds"); ok {
			r.Seconds = s
		}
		if s, ok := num(ev, "peak_rss_bytes"); ok {
			r.PeakRSS = int64(s)
		}
		if m, ok := ev["method"].(string); ok && r.Method == "" {
			r.Method = m
		}
		if m, ok := ev["task"].(string); ok && r.Task == "" {
			r.Task = m
		}
		tot, ok1 := num(ev, "total_params")
		tr, ok2 := num(ev, "trainable_params")
		if ok1 && ok2 && tot > 0 {
			r.Total, r.TrainableParams = int64(tot), int64(tr)
			r.Trainable = 100 * tr / tot
		}
	}
	if r.Total == 0 {
		r.Total, r.TrainableParams = logParams(dir + ".log")
		if r.Total > 0 {
			r.Trainable = 100 * float64(r.TrainableParams) / float64(r.Total)
		}
	}
	r.Status = folderStatus(dir)
	return r, nil
}

// fileError is a file the board could not read, named in its message.
type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string { return e.path + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// readMetrics reads a run's metrics.jsonl; a missing file has no records.
func readMetrics(dir string) ([]map[string]any, error) {
	path := filepath.Join(dir, gotune.MetricsFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return runlog.ReadMetrics(path)
}

// num returns rec[key] as a finite number.
func num(rec map[string]any, key string) (float64, bool) {
	v, ok := rec[key].(float64)
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// logParams reads "trainable params: X || all params: Y" from a run's log.
func logParams(path string) (total, trainable int64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "trainable params: ") {
			continue
		}
		parts := strings.Split(line, "||")
		if len(parts) < 2 {
			continue
		}
		trainable = parseCount(strings.TrimPrefix(parts[0], "trainable params: "))
		total = parseCount(strings.TrimPrefix(strings.TrimSpace(parts[1]), "all params: "))
		return total, trainable
	}
	return 0, 0
}

func parseCount(s string) int64 {
	n, _ := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 10, 64)
	return n
}

// folderStatus decides a run's status from its folder: a live process in a
// lock file means running; eval.json means finished; the log beside the
// folder (DIR.log, as the board and gotune compare write it) tells an
// interruption or a failure; a folder that changed within activeWindow is
// running; a resumable checkpoint without any of these means interrupted;
// anything else failed.
func folderStatus(dir string) string {
	for _, f := range lockFiles {
		if pid, ok := readPid(filepath.Join(dir, f)); ok && alive(pid) {
			return StatusRunning
		}
	}
	evalSt, evalErr := os.Stat(filepath.Join(dir, gotune.EvalFile))
	metricsSt, metricsErr := os.Stat(filepath.Join(dir, gotune.MetricsFile))
	if evalErr == nil && (metricsErr != nil || !metricsSt.ModTime().After(evalSt.ModTime().Add(time.Second))) {
		return StatusFinished
	}
	if s := logStatus(dir + ".log"); s != "" {
		return s
	}
	latest := time.Time{}
	for _, f := range []string{gotune.MetricsFile, gotune.ConfigFile, gotune.CheckpointDirName, gotune.ModelDirName} {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil && st.ModTime().After(latest) {
			latest = st.ModTime()
		}
	}
	if st, err := os.Stat(dir + ".log"); err == nil && st.ModTime().After(latest) {
		latest = st.ModTime()
	}
	if time.Since(latest) < activeWindow {
		return StatusRunning
	}
	if _, err := os.Stat(filepath.Join(dir, gotune.CheckpointDirName)); err == nil {
		return StatusInterrupted
	}
	return StatusFailed
}

// logStatus reads the end of a run's log: "" when it does not say how the
// run ended.
func logStatus(path string) string {
	last := lastLine(path)
	switch {
	case last == "":
		return ""
	case strings.Contains(last, gotune.ErrInterrupted.Error()):
		return StatusInterrupted
	case strings.HasPrefix(last, "gotune train: ") || strings.HasPrefix(last, "board: exit"):
		return StatusFailed
	}
	return ""
}

// lastLine returns the last non-empty line of the file's final 4 KiB.
func lastLine(path string) string {
	lines := strings.Split(strings.TrimRight(tail(path, 4096), "\n\r "), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// readPid reads the first integer in path.
func readPid(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, f := range strings.FieldsFunc(string(b), func(r rune) bool { return r < '0' || r > '9' }) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			return pid, true
		}
	}
	return 0, false
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// sortRuns orders runs by a column key; unknown keys sort by start time.
func sortRuns(runs []Run, key string, desc bool) {
	less := func(a, b Run) bool { return a.Started.Before(b.Started) }
	switch key {
	case "name":
		less = func(a, b Run) bool { return a.Name < b.Name }
	case "status":
		less = func(a, b Run) bool { return a.Status < b.Status }
	case "method":
		less = func(a, b Run) bool { return a.Method < b.Method }
	case "model":
		less = func(a, b Run) bool { return a.Model < b.Model }
	case "task":
		less = func(a, b Run) bool { return a.Task < b.Task }
	case "best":
		less = func(a, b Run) bool {
			if a.HasBest != b.HasBest {
				return !a.HasBest
			}
			return a.Best < b.Best
		}
	case "trainable":
		less = func(a, b Run) bool { return a.Trainable < b.Trainable }
	case "steps":
		less = func(a, b Run) bool { return a.Steps < b.Steps }
	case "time":
		less = func(a, b Run) bool { return a.Seconds < b.Seconds }
	case "memory":
		less = func(a, b Run) bool { return a.PeakRSS < b.PeakRSS }
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if desc {
			return less(runs[j], runs[i])
		}
		return less(runs[i], runs[j])
	})
}
