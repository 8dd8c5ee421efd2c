// Package gotune fine-tunes Hugging Face transformer checkpoints from Go.
//
// Train runs a whole fine-tuning job from a Config, the same way the
// `gotune train` command does; Evaluate and Predict use what a run saved.
//
//	cfg := gotune.DefaultConfig()
//	cfg.Model, cfg.Train, cfg.Eval, cfg.Out = "bert-dir", "train.jsonl", "dev.jsonl", "runs/x"
//	res, err := gotune.Train(ctx, cfg, os.Stderr)
package gotune

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/augment"
	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/instruct"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/methods"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/tokenizer"
	"github.com/gotune/gotune/train"
)

// ErrInterrupted is returned when a run stops on its context (Ctrl-C) after
// writing a resumable checkpoint.
var ErrInterrupted = errors.New("interrupted; resume with --resume")

// Result summarises a finished run.
type Result struct {
	// Best are the metrics of the kept (best) evaluation.
	Best map[string]float64
	// BestStep is the optimizer step of the kept model.
	BestStep int
	// Steps is the number of optimizer steps done.
	Steps int
	// TrainExamples and EvalExamples count the data used.
	TrainExamples, EvalExamples int
	// Params are the total and trainable parameter counts.
	TotalParams, TrainableParams int64
	// Compilations counts the distinct graph shapes compiled.
	Compilations int
	// TrainTime is the wall time spent in training steps and evaluation.
	TrainTime time.Duration
	// PeakRSS is the process's peak resident memory in bytes.
	PeakRSS int64
	// ModelDir is where the kept model was saved.
	ModelDir string
	// BackboneRuns counts backbone executions spent computing features
	// (feature-based runs; 0 when every feature came from the cache).
	BackboneRuns int
}

// progressRecord is what a checkpoint remembers about the loop.
type progressRecord struct {
	Epoch     int                `json:"epoch"`
	Batch     int                `json:"batch"`
	Best      float64            `json:"best"`
	BestStep  int                `json:"best_step"`
	BestEval  map[string]float64 `json:"best_eval"`
	BadEvals  int                `json:"bad_evals"`
	Elapsed   float64            `json:"elapsed_seconds"`
	HasBest   bool               `json:"has_best"`
	LossSum   float64            `json:"-"`
	LossCount int                `json:"-"`

	// Skipped counts the non-finite batches skipped (--skip-nonfinite).
	Skipped int `json:"skipped_nonfinite,omitempty"`
}

// Run folder layout.
const (
	ModelDirName      = "model"
	CheckpointDirName = "checkpoints/last"
	MetricsFile       = "metrics.jsonl"
	PlotFile          = "loss.png"
	EvalFile          = "eval.json"
	ConfigFile        = "config.yaml"
	CommandFile       = "command.txt"
)

// job is a prepared run.
type job struct {
	cfg   Config
	w     io.Writer
	be    compute.Backend
	model taskModel
	meth  method.Method
	tok   *tokenizer.Tokenizer
	train []data.Encoded
	eval  []data.Encoded
	// cls is the encoder classifier and dec the decoder (one is set);
	// pad pads token batches.
	cls *classify.Classifier
	dec *causallm.Model
	pad int32
	// lmTrain and lmEval are the causal-LM examples (task causal-lm).
	lmTrain, lmEval []instruct.Example
	trainer         *train.Trainer
	buckets         []int
	log             *runlog.MetricsLog
	stepsEpoch      int
	total           int
	// feature-based runs train the head on cached features.
	feat      method.Featurizer
	trainFeat *featureSet
	evalFeat  *featureSet
	// extractTime is the time spent computing features (first epoch).
	extractTime time.Duration
	// featureExecs counts backbone executions for features.
	featureExecs int
}

// Train runs a fine-tuning job and reports progress to w.
func Train(ctx context.Context, cfg Config, w io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.absPaths()
	lock, err := prepareRunDir(&cfg)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	if lock.stale > 0 {
		fmt.Fprintf(w, "taking over the lock of process %d, which is no longer running\n", lock.stale)
	}
	j := &job{cfg: cfg, w: w}
	if err := j.setup(); err != nil {
		return nil, err
	}
	return j.run(ctx)
}

// prepareRunDir checks the run folder against --resume and --overwrite,
// clears it for --overwrite, and returns its lock (see lockRunDir).
func prepareRunDir(cfg *Config) (*runLock, error) {
	entries, err := runDirEntries(cfg.Out)
	if cfg.Resume && (err != nil || len(entries) == 0) {
		return nil, fmt.Errorf("--resume: run folder %s does not exist or is empty", cfg.Out)
	}
	lock, err := lockRunDir(cfg.Out)
	if err != nil {
		return nil, err
	}
	if err := prepareLocked(cfg); err != nil {
		lock.unlock()
		return nil, err
	}
	return lock, nil
}

// runDirEntries lists the run folder, without its lock file.
func runDirEntries(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	out := entries[:0]
	for _, e := range entries {
		if e.Name() != LockFile {
			out = append(out, e)
		}
	}
	return out, err
}

func prepareLocked(cfg *Config) error {
	entries, err := runDirEntries(cfg.Out)
	if err != nil {
		return fmt.Errorf("run folder %s: %w", cfg.Out, err)
	}
	switch {
	case len(entries) > 0 && !cfg.Resume && !cfg.Overwrite:
		return fmt.Errorf("run folder %s exists and is not empty: pass --resume to continue it or --overwrite to replace it", cfg.Out)
	case cfg.Overwrite && !cfg.Resume:
		if _, err := os.Stat(filepath.Join(cfg.Out, ConfigFile)); err != nil && len(entries) > 0 {
			return fmt.Errorf("refusing to --overwrite %s: it does not look like a gotune run folder (no %s)", cfg.Out, ConfigFile)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(cfg.Out, e.Name())); err != nil {
				return fmt.Errorf("clearing %s: %w", cfg.Out, err)
			}
		}
	}
	if cfg.Resume {
		for _, d := range []string{CheckpointDirName, ModelDirName} {
			if _, err := checkpoint.RecoverDir(filepath.Join(cfg.Out, d)); err != nil {
				return err
			}
		}
		if _, err := os.Stat(filepath.Join(cfg.Out, CheckpointDirName, train.MetaFile)); err != nil {
			return fmt.Errorf("--resume: %s has no checkpoint (%s)", cfg.Out, CheckpointDirName)
		}
	}
	return nil
}

func (j *job) printf(format string, args ...any) { fmt.Fprintf(j.w, format, args...) }

func (j *job) setup() error {
	if err := j.chooseTask(); err != nil {
		return err
	}
	var err error
	switch {
	case j.cfg.Task == TaskCausalLM:
		err = j.setupCausalLM()
	case causallm.IsDecoder(j.cfg.Model):
		err = j.setupDecoderClassify()
	default:
		err = j.setupClassify()
	}
	if err != nil {
		return err
	}
	return j.setupTraining()
}

// classifyData reads the labelled classification data: the training file
// and the evaluation file or, without one, a split of the training data.
// prepare (nil for none) may change the training examples after the split,
// before the label set is built from them; the evaluation labels must be
// in that set.
func (j *job) classifyData(prepare func([]data.Example) ([]data.Example, error)) (trainEx, evalEx []data.Example, labels *data.LabelSet, err error) {
	cfg := &j.cfg
	opts := data.Options{TextField: cfg.TextField, TextPairField: cfg.TextPairField, LabelField: cfg.LabelField}
	if trainEx, err = data.ReadFile(cfg.Train, opts, true); err != nil {
		return nil, nil, nil, err
	}
	if cfg.Eval != "" {
		if evalEx, err = data.ReadFile(cfg.Eval, opts, true); err != nil {
			return nil, nil, nil, err
		}
	} else {
		trainEx, evalEx = data.Split(trainEx, cfg.EvalSplit, cfg.Seed)
	}
	if prepare != nil {
		if trainEx, err = prepare(trainEx); err != nil {
			return nil, nil, nil, err
		}
	}
	if labels, err = data.NewLabelSet(trainEx); err != nil {
		return nil, nil, nil, err
	}
	if err := data.CheckLabels(evalEx, labels, cfg.Eval); err != nil {
		return nil, nil, nil, err
	}
	return trainEx, evalEx, labels, nil
}

// augmentTrain augments the training examples as --augment asks (training
// data only, after the split: evaluation data is never augmented) and
// writes augment.json.
func (j *job) augmentTrain(trainEx []data.Example) ([]data.Example, error) {
	cfg := &j.cfg
	if cfg.Augment == "" {
		return trainEx, nil
	}
	n := len(trainEx)
	trainEx, desc, err := augment.Train(trainEx, cfg.Augment, cfg.TextField, cfg.Model, cfg.Backend, cfg.Seed)
	if err != nil {
		return nil, err
	}
	j.printf("%s\n", desc)
	if err := augment.WriteReport(filepath.Join(cfg.Out, "augment.json"), cfg.Augment, desc, n, len(trainEx)); err != nil {
		return nil, err
	}
	return trainEx, nil
}

// setupClassify reads classification data and loads an encoder classifier.
func (j *job) setupClassify() error {
	cfg := &j.cfg
	trainEx, evalEx, labels, err := j.classifyData(j.augmentTrain)
	if err != nil {
		return err
	}
	modelDir, err := checkpoint.Resolve(cfg.Model)
	if err != nil {
		return err
	}
	m, err := classify.Load(modelDir, labels.Names, uint64(cfg.Seed))
	if err != nil {
		return err
	}
	if cfg.Dropout >= 0 {
		m.Cfg.HiddenDropoutProb, m.Cfg.AttentionProbsDropoutProb = cfg.Dropout, cfg.Dropout
	}
	m.Opts = cfg.graphOptions()
	j.model, j.cls = m, m
	if j.tok, err = tokenizer.Load(modelDir); err != nil {
		return err
	}
	j.pad = j.tok.PadID()
	if err := cfg.fitMaxLen(m.Cfg.MaxPositionEmbeddings); err != nil {
		return err
	}
	if j.train, err = encode(j.tok, trainEx, labels, cfg.MaxLen); err != nil {
		return err
	}
	if j.eval, err = encode(j.tok, evalEx, labels, cfg.MaxLen); err != nil {
		return err
	}
	j.buckets = data.DefaultBuckets(cfg.MaxLen)
	return nil
}

// setupTraining prepares the method, the backend and the trainer for the
// loaded model and data.
func (j *job) setupTraining() error {
	cfg := &j.cfg
	m := j.model
	var err error
	if j.meth, err = methods.New(cfg.Method, cfg.methodOptions()); err != nil {
		return err
	}
	if err := j.meth.Prepare(m); err != nil {
		return fmt.Errorf("method %s: %w", j.meth.Name(), err)
	}
	if q, err := method.QuantizeBase(m, cfg.QuantizeBase); err != nil {
		return fmt.Errorf("--quantize-base %s: %w", cfg.QuantizeBase, err)
	} else if cfg.QuantizeBase != "" {
		if len(q) == 0 {
			return fmt.Errorf("--quantize-base %s: the model has no frozen linear layer to quantise", cfg.QuantizeBase)
		}
		stored, f32 := m.Params().QuantizedBytes()
		j.printf("quantize-base %s: %d frozen linear weights stored in %.1f MiB (float32: %.1f MiB)\n", cfg.QuantizeBase, len(q), float64(stored)/(1<<20), float64(f32)/(1<<20))
	}
	if err := m.Params().SeedRNG(cfg.Seed); err != nil {
		return err
	}
	if j.be, err = engine.New(cfg.Backend); err != nil {
		return err
	}
	batches := (j.numTrain() + cfg.BatchSize - 1) / cfg.BatchSize
	j.stepsEpoch = (batches + cfg.GradAccum - 1) / cfg.GradAccum
	j.total = j.stepsEpoch * cfg.Epochs
	if cfg.MaxSteps > 0 {
		j.total = cfg.MaxSteps
	}
	sched, err := train.ParseSchedule(cfg.Schedule)
	if err != nil {
		return err
	}
	warm := cfg.WarmupSteps
	if warm == 0 {
		warm = int(math.Ceil(cfg.WarmupRatio * float64(j.total)))
	}
	var tm train.Model = m
	if fz, ok := j.meth.(method.Featurizer); ok {
		j.feat = fz
		tm = &headModel{m: m, f: fz}
	}
	topts := train.Options{
		LR: cfg.LR, WeightDecay: cfg.WeightDecay, MaxGradNorm: cfg.MaxGradNorm, Schedule: sched,
		WarmupSteps: warm, TotalSteps: j.total, GradAccum: cfg.GradAccum,
		Devices: cfg.Devices, Sharding: cfg.Sharding, SkipNonFinite: cfg.SkipNonFinite,
	}
	if s, ok := j.meth.(interface{ LRScale(name string) float64 }); ok { // per-weight rates (LoRA+)
		topts.LRScale = s.LRScale
	}
	j.trainer, err = train.New(j.be, tm, topts)
	if err != nil {
		return err
	}
	if err := cfg.writeYAML(filepath.Join(cfg.Out, ConfigFile)); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(cfg.Out, CommandFile), []byte(commandLine(cfg)+"\n"))
}

// encode tokenizes examples; labels may be nil for unlabelled data.
func encode(tok *tokenizer.Tokenizer, ex []data.Example, labels *data.LabelSet, maxLen int) ([]data.Encoded, error) {
	out := make([]data.Encoded, len(ex))
	for i, e := range ex {
		var ids, types []int32
		if e.InputIDs != nil {
			ids, types = e.InputIDs, e.TokenTypeIDs
			if types == nil {
				types = make([]int32, len(ids))
			}
			if len(types) != len(ids) {
				return nil, fmt.Errorf("%s: token_type_ids has %d entries, input_ids %d", e.Source, len(types), len(ids))
			}
			if len(ids) > maxLen {
				ids, types = ids[:maxLen], types[:maxLen]
			}
			if tok != nil {
				for _, id := range ids {
					if id < 0 || int(id) >= tok.VocabSize() {
						return nil, fmt.Errorf("%s: input id %d is outside the vocabulary (size %d)", e.Source, id, tok.VocabSize())
					}
				}
			}
		} else {
			if tok == nil {
				return nil, fmt.Errorf("%s: text given but the model has no tokenizer; pass input_ids", e.Source)
			}
			enc := e.Tokens(tok, maxLen)
			ids, types = enc.IDs, enc.TypeIDs
		}
		label := int32(-1)
		if labels != nil && e.HasLabel {
			id, ok := labels.ID(e.Label)
			if !ok {
				return nil, fmt.Errorf("%s: label %q is not one of the model's labels (%s)", e.Source, e.Label, strings.Join(labels.Names, ", "))
			}
			label = int32(id)
		}
		out[i] = data.Encoded{IDs: ids, TypeIDs: types, Label: label, Index: i}
	}
	return out, nil
}

// batch is one batch of model inputs; index maps rows to examples (-1 for
// padding rows).
type batch struct {
	inputs []*tensors.Tensor
	index  []int
}

// trainBatches returns the shuffled batches of an epoch.
func (j *job) trainBatches(epoch int) ([]batch, error) {
	if j.feat != nil {
		return j.trainFeat.batches(j.cfg.BatchSize, true, j.cfg.Seed+int64(epoch)), nil
	}
	if j.lmTrain != nil {
		return lmBatches(j.lmTrain, j.cfg.BatchSize, j.buckets, j.pad, true, j.cfg.Seed+int64(epoch))
	}
	return tokenBatches(j.train, j.cfg.BatchSize, j.buckets, j.pad, true, j.cfg.Seed+int64(epoch), j.cfg.GroupByLength)
}

// evalBatches returns the evaluation batches.
func (j *job) evalBatches() ([]batch, error) {
	if j.feat != nil {
		return j.evalFeat.batches(j.cfg.BatchSize, false, 0), nil
	}
	if j.lmTrain != nil {
		return lmBatches(j.lmEval, j.cfg.BatchSize, j.buckets, j.pad, false, 0)
	}
	return tokenBatches(j.eval, j.cfg.BatchSize, j.buckets, j.pad, false, 0, true)
}

func tokenBatches(ex []data.Encoded, size int, buckets []int, pad int32, shuffle bool, seed int64, group bool) ([]batch, error) {
	bs, err := data.MakeBatches(ex, size, buckets, pad, shuffle, seed, group)
	if err != nil {
		return nil, err
	}
	out := make([]batch, len(bs))
	for i, b := range bs {
		out[i] = batch{inputs: batchTensors(b), index: b.Index}
	}
	return out, nil
}

func batchTensors(b data.Batch) []*tensors.Tensor {
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(b.IDs, b.B, b.L),
		tensors.FromFlatDataAndDimensions(b.TypeIDs, b.B, b.L),
		tensors.FromFlatDataAndDimensions(b.Mask, b.B, b.L),
		tensors.FromFlatDataAndDimensions(b.Labels, b.B),
	}
}

func (j *job) run(ctx context.Context) (*Result, error) {
	cfg := &j.cfg
	tr := j.trainer
	rec := progressRecord{}
	ckpt := filepath.Join(cfg.Out, CheckpointDirName)
	if cfg.Resume {
		if err := tr.LoadState(ckpt, &rec); err != nil {
			return nil, err
		}
		// A checkpoint taken inside an epoch (Batch > 0) precedes that
		// epoch's end-of-epoch records at its step: the resumed run writes them.
		after := map[string]bool{}
		if rec.Batch > 0 {
			after["epoch"] = true
			after["eval"] = cfg.EvalSteps == 0 || tr.Step()%cfg.EvalSteps != 0
		}
		if err := truncateMetrics(filepath.Join(cfg.Out, MetricsFile), tr.Step(), after); err != nil {
			return nil, err
		}
		j.printf("resuming from %s at step %d (epoch %d, batch %d)\n", ckpt, tr.Step(), rec.Epoch+1, rec.Batch)
	}
	var err error
	if j.log, err = runlog.CreateMetricsLog(filepath.Join(cfg.Out, MetricsFile), cfg.Resume); err != nil {
		return nil, err
	}
	defer j.log.Close()
	total, trainable := j.model.Params().Count()
	j.printf("%s\n", j.describeModel())
	if nh := j.newHead(); len(nh) > 0 {
		j.printf("initialised new weights: %s\n", strings.Join(nh, ", "))
	}
	j.printf("%s\n", runlog.FormatParamReport(total, trainable))
	if s, ok := j.meth.(interface{ Summary() string }); ok {
		j.printf("%s\n", s.Summary())
	}
	if cfg.Verbose {
		j.printf("%s", runlog.FormatModuleReport(moduleCounts(j.model.Params())))
	}
	j.printf("data: %d training, %d evaluation examples; %d steps (%d per epoch), batch %d×%d accumulation\n",
		j.numTrain(), j.numEval(), j.total, j.stepsEpoch, cfg.BatchSize, cfg.GradAccum)

	start := time.Now().Add(-time.Duration(rec.Elapsed * float64(time.Second)))
	if j.feat != nil {
		if err := j.extractFeatures(); err != nil {
			return nil, err
		}
	}
	prog := runlog.NewProgress(j.w, "train", j.total)
	interrupted := false
	skipped := 0 // non-finite batches skipped since the last checkpoint
	save := func() error {
		rec.Elapsed = time.Since(start).Seconds()
		rec.Skipped += skipped
		skipped = 0
		if err := tr.SaveState(ckpt, rec); err != nil {
			return fmt.Errorf("saving the checkpoint of step %d (the previous one is kept): %w", tr.Step(), err)
		}
		return nil
	}
	var lossSum float64
	var lossN int
	stop := false
	for epoch := rec.Epoch; epoch < cfg.Epochs || (cfg.MaxSteps > 0 && tr.Step() < j.total); epoch++ {
		if tr.Step() >= j.total && !(epoch == rec.Epoch && rec.Batch > 0) {
			// max_steps reached: no empty epochs (and no repeated evaluations)
			// after it. A run resumed from a checkpoint taken after the last
			// step but before its epoch's end still ends that epoch (below).
			break
		}
		epochStart := time.Now()
		batches, err := j.trainBatches(epoch)
		if err != nil {
			return nil, err
		}
		first := 0
		if epoch == rec.Epoch {
			first = rec.Batch
		}
		for bi := first; bi < len(batches) && tr.Step() < j.total; bi++ {
			st, err := tr.TrainStep(batches[bi].inputs)
			if err != nil {
				return nil, err
			}
			stepNo := tr.Step() // the step this batch belongs to
			if !st.Applied {
				stepNo++
			}
			if st.Skipped {
				skipped++
				j.printf("step %d: skipped a batch with loss %v, gradient norm %v (--skip-nonfinite)\n", stepNo, st.Loss, st.GradNorm)
			} else if err := checkFinite(st, stepNo); err != nil {
				return nil, err
			} else {
				lossSum += st.Loss
				lossN++
			}
			if !st.Applied {
				continue
			}
			step := tr.Step()
			prog.Update(step, runlog.Field{Key: "loss", Value: fmt.Sprintf("%.4f", st.Loss)}, runlog.Field{Key: "lr", Value: fmt.Sprintf("%.2e", st.LR)})
			rec.Epoch, rec.Batch = epoch, bi+1
			if step%cfg.LoggingSteps == 0 || step == j.total {
				r := map[string]any{"kind": "train", "step": step, "epoch": float64(epoch) + float64(bi+1)/float64(len(batches)),
					"lr": st.LR, "grad_norm": st.GradNorm, "elapsed": time.Since(start).Seconds()}
				if lossN > 0 {
					r["loss"] = lossSum / float64(lossN)
				}
				if !finite(st.GradNorm) {
					delete(r, "grad_norm")
				}
				if cfg.SkipNonFinite {
					r["skipped_nonfinite"] = rec.Skipped + skipped
				}
				if err := j.log.Write(r); err != nil {
					return nil, err
				}
				lossSum, lossN = 0, 0
			}
			if cfg.EvalSteps > 0 && step%cfg.EvalSteps == 0 {
				if stop, err = j.evaluate(&rec, step, float64(epoch)+float64(bi+1)/float64(len(batches))); err != nil {
					return nil, err
				}
			}
			if ctx.Err() != nil {
				interrupted = true
				break
			}
			if step%cfg.SaveSteps == 0 {
				if err := save(); err != nil {
					return nil, err
				}
			}
			if stop {
				break
			}
		}
		if interrupted || stop {
			break
		}
		if err := tr.Flush(); err != nil {
			return nil, err
		}
		secs := time.Since(epochStart).Seconds()
		if epoch == 0 {
			secs += j.extractTime.Seconds()
		}
		if err := j.log.Write(map[string]any{"kind": "epoch", "epoch": epoch + 1, "step": tr.Step(), "seconds": secs}); err != nil {
			return nil, err
		}
		j.printf("epoch %d: %.1f s\n", epoch+1, secs)
		rec.Epoch, rec.Batch = epoch+1, 0
		if cfg.EvalSteps == 0 || tr.Step()%cfg.EvalSteps != 0 {
			var err error
			if stop, err = j.evaluate(&rec, tr.Step(), float64(epoch+1)); err != nil {
				return nil, err
			}
		}
		if err := save(); err != nil {
			return nil, err
		}
		if stop {
			j.printf("early stopping: no improvement in %s for %d evaluations\n", cfg.MetricForBest, cfg.Patience)
			break
		}
	}
	prog.Done()
	if interrupted {
		if err := save(); err != nil {
			return nil, err
		}
		j.printf("interrupted at step %d: checkpoint saved in %s\n", tr.Step(), ckpt)
		return nil, ErrInterrupted
	}
	if err := runlog.PlotMetrics(filepath.Join(cfg.Out, MetricsFile), filepath.Join(cfg.Out, PlotFile)); err != nil {
		j.printf("warning: plotting: %v\n", err)
	}
	res := &Result{Best: rec.BestEval, BestStep: rec.BestStep, Steps: tr.Step(), TrainExamples: j.numTrain(), EvalExamples: j.numEval(),
		TotalParams: total, TrainableParams: trainable, Compilations: tr.Compilations(), TrainTime: time.Since(start),
		PeakRSS: runlog.PeakRSS(), ModelDir: filepath.Join(cfg.Out, ModelDirName), BackboneRuns: j.featureExecs}
	summary := map[string]any{"best_step": rec.BestStep, "metric_for_best": cfg.MetricForBest, "steps": res.Steps,
		"train_examples": res.TrainExamples, "eval_examples": res.EvalExamples, "trainable_params": trainable, "total_params": total,
		"graph_compilations": res.Compilations, "train_seconds": res.TrainTime.Seconds(), "peak_rss_bytes": res.PeakRSS, "method": j.meth.Name(), "task": cfg.Task}
	for k, v := range rec.BestEval {
		summary["eval_"+k] = v
	}
	b, _ := json.MarshalIndent(summary, "", "  ")
	if err := writeAtomic(filepath.Join(cfg.Out, EvalFile), b); err != nil {
		return nil, err
	}
	j.printf("done: %d steps in %s; best %s %.4f at step %d; graph compilations: %d; peak RSS %s\n", res.Steps,
		runlog.FormatDuration(res.TrainTime), cfg.MetricForBest, rec.Best, rec.BestStep, res.Compilations, runlog.FormatBytes(res.PeakRSS))
	j.printf("model saved in %s\n", res.ModelDir)
	return res, nil
}

// checkFinite stops a run whose loss or gradient norm went NaN or
// infinite: the weights of this step are lost, the last checkpoint (written
// before it, with finite weights) is what --resume continues from.
func checkFinite(st train.Stats, step int) error {
	what, v := "loss", st.Loss
	if finite(v) && st.Applied {
		what, v = "gradient norm", st.GradNorm
	}
	if finite(v) {
		return nil
	}
	return fmt.Errorf("training diverged at step %d (%s %v): the last checkpoint is kept; try a lower --lr, or --skip-nonfinite to skip such batches", step, what, v)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// evaluate runs the eval set, logs it, keeps the model if it is the best so
// far, and reports whether early stopping triggers.
func (j *job) evaluate(rec *progressRecord, step int, epoch float64) (bool, error) {
	cfg := &j.cfg
	bs, err := j.evalBatches()
	if err != nil {
		return false, err
	}
	var met map[string]float64
	if j.lmTrain != nil {
		met, err = evaluateLMBatches(j.trainer, bs, j.w)
	} else {
		met, _, err = evaluateBatches(j.trainer, bs, encodedLabels(j.eval), len(j.model.Labels()), j.w)
	}
	if err != nil {
		return false, err
	}
	r := map[string]any{"kind": "eval", "step": step, "epoch": epoch}
	for k, v := range met {
		r["eval_"+k] = v
	}
	if err := j.log.Write(r); err != nil {
		return false, err
	}
	if j.lmTrain != nil {
		j.printf("eval step %d: loss %.4f perplexity %.4f\n", step, met["loss"], met["perplexity"])
	} else {
		j.printf("eval step %d: loss %.4f accuracy %.4f macro_f1 %.4f\n", step, met["loss"], met["accuracy"], met["macro_f1"])
	}
	v := met[cfg.MetricForBest]
	lower := cfg.MetricForBest == "loss" || cfg.MetricForBest == "perplexity"
	better := !rec.HasBest || (lower && v < rec.Best) || (!lower && v > rec.Best)
	if better {
		rec.Best, rec.BestStep, rec.BestEval, rec.HasBest, rec.BadEvals = v, step, met, true, 0
		dst := filepath.Join(cfg.Out, ModelDirName)
		tmp := dst + ".tmp"
		os.RemoveAll(tmp)
		if err := j.meth.Save(j.model, tmp); err != nil {
			os.RemoveAll(tmp)
			return false, fmt.Errorf("saving model: %w", err)
		}
		if err := writeMethodInfo(tmp, j.meth.Name(), j.cfg.Model, j.cfg.Task); err != nil {
			os.RemoveAll(tmp)
			return false, fmt.Errorf("saving model: %w", err)
		}
		if err := checkpoint.ReplaceDir(tmp, dst); err != nil {
			return false, err
		}
		return false, nil
	}
	rec.BadEvals++
	return cfg.Patience > 0 && rec.BadEvals >= cfg.Patience, nil
}

// truncateMetrics drops the records a killed run logged after its last
// checkpoint: those of later steps, and those at keepStep whose kind is
// in after (logged at the end of an epoch, after a checkpoint taken at its
// last step), so a resumed run does not log them twice.
func truncateMetrics(path string, keepStep int, after map[string]bool) error {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil
	}
	recs, err := runlog.ReadMetrics(path)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range recs {
		if s, ok := r["step"].(float64); ok && (int(s) > keepStep || int(s) == keepStep && after[fmt.Sprint(r["kind"])]) {
			continue
		}
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return writeAtomic(path, []byte(b.String()))
}
