package gotune

import (
	"fmt"
	"io"
	"math"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/instruct"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/runlog"
)

// Tasks (Config.Task).
const (
	TaskClassify = "classify"
	TaskCausalLM = "causal-lm"
)

// taskModel is what a run trains: a method.Model with a loss over batches
// (classify.Classifier, causallm.Model).
type taskModel interface {
	method.Model
	Loss(g *Graph, in []*Node, training bool) (loss, out *Node)
}

// ChooseTask returns the task of a run and why: Config.Task when set;
// otherwise causal-lm when the training data's first record is
// instruction-shaped (instruction/output, prompt/completion, messages or
// conversations), or when the model is a decoder (LLaMA family, GPT-2,
// .gguf) and the record has no label field; classify otherwise.
func ChooseTask(cfg *Config) (task, why string) {
	if cfg.Task != "" {
		return cfg.Task, "--task"
	}
	rec := instruct.FirstRecord(cfg.Train)
	if k := instruct.Shape(rec); k != "" {
		return TaskCausalLM, fmt.Sprintf("the training data is %s records", k)
	}
	label := cfg.LabelField
	if label == "" {
		label = "label"
	}
	if causallm.IsDecoder(cfg.Model) {
		if _, ok := rec[label]; rec != nil && !ok {
			return TaskCausalLM, fmt.Sprintf("the model is a decoder and the data has no %q field", label)
		}
		return TaskClassify, fmt.Sprintf("the data has a %q field", label)
	}
	return TaskClassify, "the model is an encoder"
}

func (j *job) chooseTask() error {
	cfg := &j.cfg
	task, why := ChooseTask(cfg)
	if task == TaskCausalLM {
		if !causallm.IsDecoder(cfg.Model) {
			return fmt.Errorf("task causal-lm (%s) needs a decoder model (LLaMA family, Mistral, Qwen2, GPT-2 or a .gguf file); %s is not one", why, cfg.Model)
		}
		switch cfg.MetricForBest {
		case "accuracy": // the classification default
			cfg.MetricForBest = "loss"
		case "macro_f1":
			return fmt.Errorf("metric_for_best macro_f1 does not apply to causal-lm; use loss or perplexity")
		}
	} else if cfg.Template != "" || cfg.TrainOnPrompt || cfg.Packing {
		return fmt.Errorf("--template, --train-on-prompt and --packing apply to --task causal-lm only (task is classify: %s)", why)
	}
	if cfg.MetricForBest == "perplexity" && task != TaskCausalLM {
		return fmt.Errorf("metric_for_best perplexity applies to causal-lm only")
	}
	cfg.Task = task
	j.printf("task %s (%s)\n", task, why)
	return nil
}

// loadDecoder loads the run's decoder for a task and applies --dropout.
func (j *job) loadDecoder(task causallm.Task, labels []string) error {
	cfg := &j.cfg
	path := cfg.Model
	if !strings.HasSuffix(strings.ToLower(path), ".gguf") {
		var err error
		if path, err = checkpoint.Resolve(path); err != nil {
			return err
		}
	}
	m, err := causallm.Load(path, task, labels, uint64(cfg.Seed))
	if err != nil {
		return err
	}
	m.Opts = cfg.graphOptions()
	if cfg.Dropout >= 0 {
		m.SetDropout(cfg.Dropout)
	}
	j.model, j.dec, j.pad = m, m, int32(m.Pad)
	if err := cfg.fitMaxLen(m.MaxPositions()); err != nil {
		return err
	}
	j.buckets = data.DefaultBuckets(cfg.MaxLen)
	return nil
}

// setupCausalLM reads instruction / text data and loads the decoder as a
// causal LM.
func (j *job) setupCausalLM() error {
	cfg := &j.cfg
	if cfg.Augment != "" {
		return fmt.Errorf("--augment applies to classification data only")
	}
	trainRecs, err := instruct.ReadFile(cfg.Train, cfg.TextField)
	if err != nil {
		return err
	}
	var evalRecs []instruct.Record
	if cfg.Eval != "" {
		if evalRecs, err = instruct.ReadFile(cfg.Eval, cfg.TextField); err != nil {
			return err
		}
	} else {
		trainRecs, evalRecs = splitRecords(trainRecs, cfg.EvalSplit, cfg.Seed)
	}
	if err := j.loadDecoder(causallm.CausalLM, nil); err != nil {
		return err
	}
	tok := j.dec.InstructTokenizer()
	opts := instruct.Options{Template: cfg.Template, TrainOnPrompt: cfg.TrainOnPrompt, MaxLen: cfg.MaxLen}
	encode := func(recs []instruct.Record, what string) ([]instruct.Example, error) {
		ex, dropped, err := instruct.Encode(recs, tok, opts)
		if err != nil {
			return nil, err
		}
		for _, e := range ex {
			for _, id := range e.IDs {
				if id < 0 || int(id) >= j.dec.VocabSize() {
					return nil, fmt.Errorf("%s example %d: token id %d is outside the vocabulary (size %d)", what, e.Index+1, id, j.dec.VocabSize())
				}
			}
		}
		if dropped > 0 {
			j.printf("warning: %d %s examples have no response token within max_len %d and are skipped\n", dropped, what, cfg.MaxLen)
		}
		if len(ex) == 0 {
			return nil, fmt.Errorf("no %s example has a response token to train on within max_len %d", what, cfg.MaxLen)
		}
		if cfg.Packing {
			n := len(ex)
			ex = instruct.Pack(ex, cfg.MaxLen)
			j.printf("packing: %d %s examples into %d sequences of at most %d tokens\n", n, what, len(ex), cfg.MaxLen)
		}
		return ex, nil
	}
	if j.lmTrain, err = encode(trainRecs, "training"); err != nil {
		return err
	}
	if j.lmEval, err = encode(evalRecs, "evaluation"); err != nil {
		return err
	}
	j.printf("causal-lm data: %d training tokens with loss (%s)\n", instruct.Tokens(j.lmTrain),
		map[bool]string{true: "prompts and responses", false: "responses only"}[cfg.TrainOnPrompt])
	return nil
}

// splitRecords holds out a seeded fraction of records for evaluation (at
// least one of each side).
func splitRecords(recs []instruct.Record, frac float64, seed int64) (train, eval []instruct.Record) {
	ex := make([]data.Example, len(recs))
	for i := range ex {
		ex[i].Source = fmt.Sprint(i)
	}
	tr, ev := data.Split(ex, frac, seed)
	for _, e := range tr {
		var i int
		fmt.Sscan(e.Source, &i)
		train = append(train, recs[i])
	}
	for _, e := range ev {
		var i int
		fmt.Sscan(e.Source, &i)
		eval = append(eval, recs[i])
	}
	return train, eval
}

// setupDecoderClassify reads classification data and loads the decoder
// with a score head.
func (j *job) setupDecoderClassify() error {
	cfg := &j.cfg
	trainEx, evalEx, labels, err := j.classifyData(nil)
	if err != nil {
		return err
	}
	if err := j.loadDecoder(causallm.SeqCls, labels.Names); err != nil {
		return err
	}
	if cfg.Method == "feature" && cfg.Feature.Pooling == "cls" { // the default: a decoder pools at its last token
		cfg.Feature.Pooling = "last"
	}
	if j.train, err = encodeDecoder(j.dec, trainEx, labels, cfg.MaxLen); err != nil {
		return err
	}
	j.eval, err = encodeDecoder(j.dec, evalEx, labels, cfg.MaxLen)
	return err
}

// encodeDecoder tokenizes classification examples for a decoder: BOS (when
// the model adds one), the text and, for pairs, a space and the second
// text, truncated to maxLen; labels may be nil for unlabelled data.
func encodeDecoder(m *causallm.Model, ex []data.Example, labels *data.LabelSet, maxLen int) ([]data.Encoded, error) {
	out := make([]data.Encoded, len(ex))
	for i, e := range ex {
		ids := e.InputIDs
		if ids == nil {
			text := e.Text
			if e.TextPair != "" {
				text += " " + e.TextPair
			}
			t, err := m.EncodeText(text)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Source, err)
			}
			if m.AddBOS {
				t = append([]int32{int32(m.BOS)}, t...)
			}
			ids = t
		}
		if len(ids) > maxLen {
			ids = ids[:maxLen]
		}
		for _, id := range ids {
			if id < 0 || int(id) >= m.VocabSize() {
				return nil, fmt.Errorf("%s: token id %d is outside the vocabulary (size %d)", e.Source, id, m.VocabSize())
			}
		}
		label := int32(-1)
		if labels != nil && e.HasLabel {
			id, ok := labels.ID(e.Label)
			if !ok {
				return nil, fmt.Errorf("%s: label %q is not one of the model's labels (%s)", e.Source, e.Label, strings.Join(labels.Names, ", "))
			}
			label = int32(id)
		}
		out[i] = data.Encoded{IDs: ids, TypeIDs: make([]int32, len(ids)), Label: label, Index: i}
	}
	return out, nil
}

func (j *job) numTrain() int {
	if j.lmTrain != nil {
		return len(j.lmTrain)
	}
	return len(j.train)
}

func (j *job) numEval() int {
	if j.lmTrain != nil {
		return len(j.lmEval)
	}
	return len(j.eval)
}

// describeModel is the run log's model line.
func (j *job) describeModel() string {
	cfg := &j.cfg
	if j.dec != nil {
		s := fmt.Sprintf("model %s: %s; method %s", cfg.Model, j.dec.Describe(), j.meth.Name())
		if ls := j.dec.Labels(); len(ls) > 0 {
			s += fmt.Sprintf("; %d labels (%s)", len(ls), strings.Join(ls, ", "))
		}
		return s
	}
	return fmt.Sprintf("model %s: %s, %d labels (%s); method %s", cfg.Model, j.cls.Cfg.ModelType, len(j.cls.Labels()), strings.Join(j.cls.Labels(), ", "), j.meth.Name())
}

func (j *job) newHead() []string {
	if j.dec != nil {
		return j.dec.NewHead
	}
	return j.cls.NewHead
}

// modelID identifies the base model's files for the feature cache.
func (j *job) modelID() (modelType, dir string) {
	if j.dec != nil {
		return j.dec.ModelType(), j.dec.Source()
	}
	return j.cls.Cfg.ModelType, j.cls.Dir
}

// lmBatches pads causal-LM examples into (ids, mask, labels) batches.
func lmBatches(ex []instruct.Example, size int, buckets []int, pad int32, shuffle bool, seed int64) ([]batch, error) {
	bs, err := instruct.Batches(ex, size, buckets, pad, shuffle, seed)
	if err != nil {
		return nil, err
	}
	out := make([]batch, len(bs))
	for i, b := range bs {
		out[i] = batch{inputs: []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(b.IDs, b.B, b.L),
			tensors.FromFlatDataAndDimensions(b.Mask, b.B, b.L),
			tensors.FromFlatDataAndDimensions(b.Labels, b.B, b.L),
		}, index: b.Index}
	}
	return out, nil
}

// evaluateLMBatches returns the token-weighted mean loss over causal-LM
// batches and its perplexity (exp of the loss). The evaluator's output is
// each batch's number of labelled tokens. progress, when not nil, receives
// a progress bar.
func evaluateLMBatches(ev evaluator, bs []batch, progress io.Writer) (map[string]float64, error) {
	var sum, n float64
	prog := runlog.NewProgress(progress, "eval", len(bs))
	defer prog.Done()
	for i, b := range bs {
		loss, out, err := ev.Evaluate(b.inputs)
		if err != nil {
			return nil, err
		}
		prog.Update(i + 1)
		var count float64
		out.ConstFlatData(func(f any) { count = float64(f.([]float32)[0]) })
		sum += loss * count
		n += count
	}
	if n == 0 {
		return nil, fmt.Errorf("evaluation data has no labelled tokens")
	}
	return map[string]float64{"loss": sum / n, "perplexity": math.Exp(sum / n), "tokens": n}, nil
}
