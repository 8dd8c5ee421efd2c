package compare

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/runlog"
)

// RunResult is one run (one method, one seed), as read back from its run
// folder.
type RunResult struct {
	Seed int64 `json:"seed"`
	// Dir is the run folder; Log the run's output; Command reproduces it.
	Dir     string `json:"dir"`
	Log     string `json:"log,omitempty"`
	Command string `json:"command,omitempty"`
	// Error is why the run failed ("" if it did not).
	Error string `json:"error,omitempty"`
	// Eval are the kept model's evaluation metrics (eval.json's eval_*:
	// accuracy, macro_f1 and loss for classify; loss, perplexity and tokens
	// for causal-lm).
	Eval map[string]float64 `json:"eval,omitempty"`
	// BestStep and Steps are eval.json's best_step and steps.
	BestStep int `json:"best_step"`
	Steps    int `json:"steps"`
	// TrainExamples and EvalExamples are eval.json's train_examples
	// (after augmentation) and eval_examples.
	TrainExamples int `json:"train_examples"`
	EvalExamples  int `json:"eval_examples"`
	// TrainableParams and TotalParams are eval.json's parameter counts.
	TrainableParams int64 `json:"trainable_params"`
	TotalParams     int64 `json:"total_params"`
	// TrainSeconds is eval.json's train_seconds (training and evaluation);
	// StepSeconds is the time of the training steps alone (metrics.jsonl's
	// epoch records) per step; WallSeconds is the whole run, process start
	// to exit.
	TrainSeconds float64 `json:"train_seconds"`
	StepSeconds  float64 `json:"step_seconds"`
	WallSeconds  float64 `json:"wall_seconds"`
	// PeakRSS is the run's peak resident memory in bytes: the larger of
	// what the runner measured and eval.json's peak_rss_bytes.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// ArtifactBytes is the size of the saved model folder.
	ArtifactBytes int64 `json:"artifact_bytes"`
	// Tokens estimates the non-pad training tokens the steps processed;
	// TokensPerSecond divides them by the training steps' time.
	Tokens          int64   `json:"tokens"`
	TokensPerSecond float64 `json:"tokens_per_second"`
	// Curve is the evaluation metric per evaluation, Loss the logged
	// training loss (both against epochs), from metrics.jsonl.
	Curve []Point `json:"curve,omitempty"`
	Loss  []Point `json:"loss,omitempty"`
}

// Point is one point of a learning curve.
type Point struct {
	Step  int     `json:"step"`
	Epoch float64 `json:"epoch"`
	Value float64 `json:"value"`
}

// evalSummary is the part of eval.json compare reads.
type evalSummary struct {
	BestStep        int     `json:"best_step"`
	Steps           int     `json:"steps"`
	TrainExamples   int     `json:"train_examples"`
	EvalExamples    int     `json:"eval_examples"`
	TrainableParams int64   `json:"trainable_params"`
	TotalParams     int64   `json:"total_params"`
	TrainSeconds    float64 `json:"train_seconds"`
	PeakRSS         int64   `json:"peak_rss_bytes"`
	Task            string  `json:"task"`
}

// readRunFolder fills rr from the run folder cfg.Out; a run whose
// eval.json records another task than cfg.Task is an error.
func (rr *RunResult) readRunFolder(cfg gotune.Config, tc *tokenCounter) error {
	evalPath := filepath.Join(cfg.Out, gotune.EvalFile)
	b, err := os.ReadFile(evalPath)
	if err != nil {
		return fmt.Errorf("run ended without %s: %w", gotune.EvalFile, err)
	}
	var s evalSummary
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s: %w", evalPath, err)
	}
	if cfg.Task != "" && s.Task != cfg.Task {
		return fmt.Errorf("%s: the run trained task %q, the comparison is of %s", evalPath, s.Task, cfg.Task)
	}
	var all map[string]any
	_ = json.Unmarshal(b, &all)
	rr.Eval = map[string]float64{}
	for k, v := range all {
		if name, ok := strings.CutPrefix(k, "eval_"); ok && name != "examples" {
			if f, ok := v.(float64); ok {
				rr.Eval[name] = f
			}
		}
	}
	rr.BestStep, rr.Steps, rr.TrainExamples, rr.EvalExamples = s.BestStep, s.Steps, s.TrainExamples, s.EvalExamples
	rr.TrainableParams, rr.TotalParams, rr.TrainSeconds = s.TrainableParams, s.TotalParams, s.TrainSeconds
	rr.PeakRSS = max(rr.PeakRSS, s.PeakRSS)
	if rr.ArtifactBytes, err = dirSize(filepath.Join(cfg.Out, gotune.ModelDirName)); err != nil {
		return err
	}
	recs, err := runlog.ReadMetrics(filepath.Join(cfg.Out, gotune.MetricsFile))
	if err != nil {
		return err
	}
	metric := "eval_" + rankMetric(cfg.Task, cfg.MetricForBest)
	var stepTime float64
	for _, r := range recs {
		step, _ := r["step"].(float64)
		epoch, _ := r["epoch"].(float64)
		switch r["kind"] {
		case "epoch":
			sec, _ := r["seconds"].(float64)
			stepTime += sec
		case "eval":
			if v, ok := r[metric].(float64); ok {
				rr.Curve = append(rr.Curve, Point{Step: int(step), Epoch: epoch, Value: v})
			}
		case "train":
			if v, ok := r["loss"].(float64); ok {
				rr.Loss = append(rr.Loss, Point{Step: int(step), Epoch: epoch, Value: v})
			}
		}
	}
	if rr.Steps > 0 {
		rr.StepSeconds = stepTime / float64(rr.Steps)
	}
	if avg, err := tc.average(); err == nil && rr.TrainExamples > 0 {
		rr.Tokens = int64(math.Round(avg * float64(examplesSeen(rr.Steps, rr.TrainExamples, cfg.BatchSize, cfg.GradAccum))))
		if stepTime > 0 {
			rr.TokensPerSecond = float64(rr.Tokens) / stepTime
		}
	}
	return nil
}

// examplesSeen is how many training examples steps optimizer steps cover
// with n examples, batches of batch and accum batches per step (every
// epoch sees every example once; a last partial epoch sees its batches).
func examplesSeen(steps, n, batch, accum int) int {
	if steps <= 0 || n <= 0 || batch <= 0 || accum <= 0 {
		return 0
	}
	perEpoch := ((n+batch-1)/batch + accum - 1) / accum
	full, rest := steps/perEpoch, steps%perEpoch
	return full*n + min(rest*batch*accum, n)
}

// dirSize is the total size of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("artefact size: %w", err)
	}
	return n, nil
}

// baseModelBytes is the size of the base model's weight files: a
// folder's safetensors and bin files, or a .gguf file (0 if it is neither).
func baseModelBytes(model string) int64 {
	if st, err := os.Stat(model); err == nil && st.Mode().IsRegular() {
		return st.Size()
	}
	var n int64
	for _, pat := range []string{"*.safetensors", "*.bin"} {
		files, _ := filepath.Glob(filepath.Join(model, pat))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				n += st.Size()
			}
		}
	}
	return n
}

// Stat summarises a measure over seeds.
type Stat struct {
	// Mean and SD (sample standard deviation, n−1; 0 for one value).
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	N    int     `json:"n"`
}

// NewStat summarises xs.
func NewStat(xs []float64) Stat {
	s := Stat{N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	s.Min, s.Max = math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		s.Mean += x
		s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s
}

// MethodResult is one method over its seeds.
type MethodResult struct {
	Method string `json:"method"`
	// LR, Epochs and MaxSteps are what each run trained with; Recipe says
	// where LR and Epochs come from; Settings are the method's own.
	LR       float64 `json:"lr"`
	Epochs   int     `json:"epochs"`
	MaxSteps int     `json:"max_steps,omitempty"`
	Recipe   string  `json:"recipe"`
	Settings string  `json:"settings"`
	// Status is ok, partial, failed, pending or skipped; Error the first
	// failure; Skipped why the method does not apply to the task.
	Status  string `json:"status"`
	Error   string `json:"error,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	// Runs are the seeds' runs, in seed order.
	Runs []*RunResult `json:"runs"`

	// The rest summarises the successful runs. Metric is the ranking
	// metric (Report.Metric); Accuracy and MacroF1 (classify) or Loss and
	// Perplexity (causal-lm) are the task's metrics, each over the runs'
	// own values (eval.json).
	Metric     Stat `json:"metric"`
	Accuracy   Stat `json:"accuracy,omitzero"`
	MacroF1    Stat `json:"macro_f1,omitzero"`
	Loss       Stat `json:"loss,omitzero"`
	Perplexity Stat `json:"perplexity,omitzero"`
	// TrainableParams and TotalParams are the counts (the same every seed).
	TrainableParams  int64   `json:"trainable_params"`
	TotalParams      int64   `json:"total_params"`
	TrainablePercent float64 `json:"trainable_percent"`
	// ArtifactBytes is the saved model folder's size (largest seed).
	ArtifactBytes int64 `json:"artifact_bytes"`
	// PeakRSS is the largest peak memory of the seeds.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// WallSeconds is a run's wall time; StepSeconds, TokensPerSecond and
	// Steps are means over the seeds.
	WallSeconds     Stat    `json:"wall_seconds"`
	StepSeconds     float64 `json:"step_seconds"`
	TokensPerSecond float64 `json:"tokens_per_second"`
	Steps           float64 `json:"steps"`
}

// OK reports whether at least one run of the method succeeded.
func (m *MethodResult) OK() bool { return m.Metric.N > 0 }

// stat is the summary field of a task metric (a key of
// Report.metricColumns), nil for another key.
func (m *MethodResult) stat(key string) *Stat {
	switch key {
	case "accuracy":
		return &m.Accuracy
	case "macro_f1":
		return &m.MacroF1
	case "loss":
		return &m.Loss
	case "perplexity":
		return &m.Perplexity
	}
	return nil
}

// summarise recomputes the summary from the runs: metric is the ranking
// metric, keys the task's metrics.
func (m *MethodResult) summarise(metric string, keys []string, seeds int) {
	var met, wall []float64
	vals := map[string][]float64{}
	var step, tps, steps float64
	failed, ok := 0, 0
	m.Error = ""
	m.ArtifactBytes, m.PeakRSS = 0, 0
	for _, r := range m.Runs {
		if r.Error != "" {
			failed++
			if m.Error == "" {
				m.Error = fmt.Sprintf("seed %d: %s", r.Seed, r.Error)
			}
			continue
		}
		ok++
		met = append(met, r.Eval[metric])
		for _, k := range keys {
			vals[k] = append(vals[k], r.Eval[k])
		}
		wall = append(wall, r.WallSeconds)
		step += r.StepSeconds
		tps += r.TokensPerSecond
		steps += float64(r.Steps)
		m.TrainableParams, m.TotalParams = r.TrainableParams, r.TotalParams
		m.ArtifactBytes = max(m.ArtifactBytes, r.ArtifactBytes)
		m.PeakRSS = max(m.PeakRSS, r.PeakRSS)
	}
	m.Metric, m.WallSeconds = NewStat(met), NewStat(wall)
	for _, k := range keys {
		if st := m.stat(k); st != nil {
			*st = NewStat(vals[k])
		}
	}
	m.StepSeconds, m.TokensPerSecond, m.Steps = 0, 0, 0
	if ok > 0 {
		m.StepSeconds, m.TokensPerSecond, m.Steps = step/float64(ok), tps/float64(ok), steps/float64(ok)
	}
	if m.TotalParams > 0 {
		m.TrainablePercent = 100 * float64(m.TrainableParams) / float64(m.TotalParams)
	}
	switch {
	case ok == 0 && failed == 0:
		m.Status = StatusPending
	case ok == 0:
		m.Status = StatusFailed
	case failed > 0:
		m.Status = StatusPartial
	default:
		m.Status = StatusOK
	}
	if len(m.Runs) > 0 && m.Runs[0].Error != "" && len(m.Runs) < seeds && ok == 0 {
		m.Error += " (other seeds skipped)"
	}
}
