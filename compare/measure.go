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
	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/methods"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/tokenizer"
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
	// Eval are the kept model's evaluation metrics (eval.json's eval_*).
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
}

// readRunFolder fills rr from the run folder cfg.Out.
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
	metric := "eval_" + rankMetric(cfg.MetricForBest)
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

// baseModelBytes is the size of the base model's weight files (0 if it is
// not a local folder).
func baseModelBytes(model string) int64 {
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

// tokenCounter computes, once, the mean number of non-pad tokens of a
// training example as gotune encodes it (special tokens included, after
// truncation to the run's effective max_len). Augmented runs are counted
// with the mean of the original data.
type tokenCounter struct {
	cfg  gotune.Config
	done bool
	avg  float64
	err  error
}

func newTokenCounter(cfg gotune.Config) *tokenCounter { return &tokenCounter{cfg: cfg} }

func (t *tokenCounter) average() (float64, error) {
	if !t.done {
		t.done = true
		t.avg, t.err = t.count()
	}
	return t.avg, t.err
}

func (t *tokenCounter) count() (float64, error) {
	c := t.cfg
	dir, err := checkpoint.Resolve(c.Model)
	if err != nil {
		return 0, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return 0, err
	}
	maxLen := c.MaxLen
	var mc struct {
		MaxPositions int `json:"max_position_embeddings"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil && json.Unmarshal(b, &mc) == nil && mc.MaxPositions > 0 {
		limit := mc.MaxPositions - methods.ReservedPositions(c.Method, methods.Options{PTuning: c.PTuning})
		maxLen = max(min(maxLen, limit), 1)
	}
	ex, err := data.ReadFile(c.Train, data.Options{TextField: c.TextField, TextPairField: c.TextPairField, LabelField: c.LabelField}, false)
	if err != nil {
		return 0, err
	}
	if len(ex) == 0 {
		return 0, fmt.Errorf("%s: no examples", c.Train)
	}
	var sum int
	for _, e := range ex {
		if e.InputIDs != nil {
			sum += min(len(e.InputIDs), maxLen)
		} else {
			sum += len(tok.Encode(e.Text, e.TextPair, maxLen).IDs)
		}
	}
	return float64(sum) / float64(len(ex)), nil
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
	// Status is ok, partial, failed or pending; Error the first failure.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Runs are the seeds' runs, in seed order.
	Runs []*RunResult `json:"runs"`

	// The rest summarises the successful runs. Metric is the ranking
	// metric (Report.Metric).
	Metric   Stat `json:"metric"`
	Accuracy Stat `json:"accuracy"`
	MacroF1  Stat `json:"macro_f1"`
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

// summarise recomputes the summary from the runs.
func (m *MethodResult) summarise(metric string, seeds int) {
	var met, acc, f1, wall []float64
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
		acc = append(acc, r.Eval["accuracy"])
		f1 = append(f1, r.Eval["macro_f1"])
		wall = append(wall, r.WallSeconds)
		step += r.StepSeconds
		tps += r.TokensPerSecond
		steps += float64(r.Steps)
		m.TrainableParams, m.TotalParams = r.TrainableParams, r.TotalParams
		m.ArtifactBytes = max(m.ArtifactBytes, r.ArtifactBytes)
		m.PeakRSS = max(m.PeakRSS, r.PeakRSS)
	}
	m.Metric, m.Accuracy, m.MacroF1, m.WallSeconds = NewStat(met), NewStat(acc), NewStat(f1), NewStat(wall)
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
