package gotune

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/method/adapter"
	"github.com/gotune/gotune/methods"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/runlog"
)

// evaluator runs a model without dropout on a batch.
type evaluator interface {
	Evaluate(inputs []*tensors.Tensor) (loss float64, output *tensors.Tensor, err error)
}

// encodedLabels returns the label ids of examples (-1 for unlabelled).
func encodedLabels(ex []data.Encoded) []int32 {
	out := make([]int32, len(ex))
	for i, e := range ex {
		out[i] = e.Label
	}
	return out
}

// evaluateEncoded runs every example through ev and returns metrics
// (loss, accuracy, macro_f1) for labelled examples and the logits of every
// example, in input order.
func evaluateEncoded(ev evaluator, ex []data.Encoded, buckets []int, pad int32, batchSize, numLabels int, progress io.Writer) (map[string]float64, [][]float32, error) {
	bs, err := tokenBatches(ex, batchSize, buckets, pad, false, 0, true)
	if err != nil {
		return nil, nil, err
	}
	return evaluateBatches(ev, bs, encodedLabels(ex), numLabels, progress)
}

// evaluateBatches runs batches covering examples with the given labels;
// progress, when not nil, receives a progress bar.
func evaluateBatches(ev evaluator, batches []batch, labels []int32, numLabels int, progress io.Writer) (map[string]float64, [][]float32, error) {
	logits := make([][]float32, len(labels))
	var lossSum float64
	var lossN int
	prog := runlog.NewProgress(progress, "eval", len(batches))
	defer prog.Done()
	for i, b := range batches {
		loss, out, err := ev.Evaluate(b.inputs)
		if err != nil {
			return nil, nil, err
		}
		prog.Update(i + 1)
		flat := make([]float32, out.Size())
		out.ConstFlatData(func(f any) { copy(flat, f.([]float32)) })
		labelled := 0
		for r, idx := range b.index {
			if idx < 0 {
				continue
			}
			logits[idx] = flat[r*numLabels : (r+1)*numLabels]
			if labels[idx] >= 0 {
				labelled++
			}
		}
		if labelled > 0 {
			lossSum += loss * float64(labelled)
			lossN += labelled
		}
	}
	met := map[string]float64{}
	if lossN > 0 {
		met["loss"] = lossSum / float64(lossN)
	}
	var gold, pred []int
	for i, l := range labels {
		if l >= 0 {
			gold = append(gold, int(l))
			pred = append(pred, argmax(logits[i]))
		}
	}
	if len(gold) > 0 {
		acc, f1 := accuracyF1(gold, pred, numLabels)
		met["accuracy"], met["macro_f1"] = acc, f1
	}
	return met, logits, nil
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// accuracyF1 returns accuracy and macro-F1 over the classes that occur in
// gold or pred (as scikit-learn's f1_score(average="macro") with labels
// present).
func accuracyF1(gold, pred []int, n int) (float64, float64) {
	tp, fp, fn := make([]int, n), make([]int, n), make([]int, n)
	correct := 0
	for i := range gold {
		if gold[i] == pred[i] {
			correct++
			tp[gold[i]]++
		} else {
			fp[pred[i]]++
			fn[gold[i]]++
		}
	}
	var f1Sum float64
	classes := 0
	for c := 0; c < n; c++ {
		if tp[c]+fp[c]+fn[c] == 0 {
			continue
		}
		classes++
		f1Sum += 2 * float64(tp[c]) / float64(2*tp[c]+fp[c]+fn[c])
	}
	if classes == 0 {
		return 0, 0
	}
	return float64(correct) / float64(len(gold)), f1Sum / float64(classes)
}

// softmax returns probabilities for logits.
func softmax(l []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range l {
		mx = math.Max(mx, float64(v))
	}
	out := make([]float64, len(l))
	var sum float64
	for i, v := range l {
		out[i] = math.Exp(float64(v) - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// MethodInfoFile records, in a saved model folder, which method produced it
// and from which base, so eval and predict need not be told.
const MethodInfoFile = "gotune.json"

type methodInfo struct {
	Method    string `json:"method"`
	BaseModel string `json:"base_model"`
	// Task is the run's task (classify or causal-lm; "" in older runs:
	// classify).
	Task string `json:"task,omitempty"`
}

func writeMethodInfo(dir, method, base, task string) error {
	b, _ := json.MarshalIndent(methodInfo{Method: method, BaseModel: base, Task: task}, "", "  ")
	return checkpoint.WriteFileAtomic(filepath.Join(dir, MethodInfoFile), b)
}

func readMethodInfo(dir string) (methodInfo, error) {
	var mi methodInfo
	b, err := os.ReadFile(filepath.Join(dir, MethodInfoFile))
	if os.IsNotExist(err) {
		return methodInfo{Method: "full"}, nil
	}
	if err != nil {
		return mi, err
	}
	if err := json.Unmarshal(b, &mi); err != nil {
		return mi, fmt.Errorf("%s: %w", filepath.Join(dir, MethodInfoFile), err)
	}
	return mi, nil
}

func writeAtomic(path string, b []byte) error { return checkpoint.WriteFileAtomic(path, b) }

// moduleCounts groups parameters by module (the name up to the layer index,
// or the first two name parts) for the verbose report.
func moduleCounts(p *nn.Params) []runlog.ParamCount {
	groups := map[string]*runlog.ParamCount{}
	for _, n := range p.Names() {
		parts := strings.Split(n, ".")
		key := strings.Join(parts[:min(2, len(parts)-1)], ".")
		for i, s := range parts {
			if s == "layer" || s == "layers" || s == "h" {
				if i+1 < len(parts) {
					key = strings.Join(parts[:i+2], ".")
				}
				break
			}
		}
		g := groups[key]
		if g == nil {
			g = &runlog.ParamCount{Name: key}
			groups[key] = g
		}
		g.Total += p.Size(n)
		if p.Trainable(n) {
			g.Trainable += p.Size(n)
		}
	}
	out := make([]runlog.ParamCount, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// commandLine is the gotune command that reproduces a run (replacing its
// folder: --overwrite).
func commandLine(c *Config) string {
	d := DefaultConfig()
	args := []string{"gotune", "train", "--model", quote(c.Model), "--train", quote(c.Train)}
	if c.Eval != "" {
		args = append(args, "--eval", quote(c.Eval))
	}
	args = append(args, "--out", quote(c.Out), "--method", c.Method)
	if c.Task != "" {
		args = append(args, "--task", c.Task)
	}
	add := func(flag string, v, def any) {
		if fmt.Sprint(v) != fmt.Sprint(def) {
			args = append(args, "--"+flag, quote(fmt.Sprint(v)))
		}
	}
	add("template", c.Template, d.Template)
	add("train-on-prompt", c.TrainOnPrompt, d.TrainOnPrompt)
	add("packing", c.Packing, d.Packing)
	add("augment", c.Augment, d.Augment)
	add("freeze", c.Freeze, d.Freeze)
	add("train-modules", c.TrainModules, d.TrainModules)
	add("train-regex", c.TrainRegex, d.TrainRegex)
	add("freeze-regex", c.FreezeRegex, d.FreezeRegex)
	add("train-last", c.TrainLast, d.TrainLast)
	add("pooling", c.Feature.Pooling, d.Feature.Pooling)
	add("feature-layers", c.Feature.Layers, d.Feature.Layers)
	add("head", c.Feature.Head, d.Feature.Head)
	add("head-hidden", c.Feature.HeadHidden, d.Feature.HeadHidden)
	add("head-dropout", c.Feature.Dropout, d.Feature.Dropout)
	add("export-full", c.Feature.ExportFull, d.Feature.ExportFull)
	l := c.LoRA
	join := func(v []string) string { return strings.Join(v, ",") }
	ints := func(v []int) string { return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(v)), ","), "[]") }
	pattern := func(m any) string {
		var parts []string
		switch mm := m.(type) {
		case map[string]int:
			for k, v := range mm {
				parts = append(parts, fmt.Sprintf("%s=%d", k, v))
			}
		case map[string]float64:
			for k, v := range mm {
				parts = append(parts, fmt.Sprintf("%s=%g", k, v))
			}
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	}
	add("lora-r", l.R, 0)
	add("lora-alpha", l.Alpha, 0)
	add("lora-dropout", l.Dropout, 0)
	add("lora-targets", join(l.Targets), "")
	add("lora-target-regex", l.TargetRegex, "")
	add("lora-exclude", join(l.Exclude), "")
	add("lora-exclude-regex", l.ExcludeRegex, "")
	add("lora-layers", ints(l.LayersToTransform), "")
	add("lora-layers-pattern", l.LayersPattern, "")
	add("lora-rank-pattern", pattern(l.RankPattern), "")
	add("lora-alpha-pattern", pattern(l.AlphaPattern), "")
	add("lora-bias", l.Bias, "")
	add("lora-rslora", l.UseRSLoRA, false)
	add("lora-dora", l.UseDoRA, false)
	add("lora-init", l.Init, "")
	add("lora-modules-to-save", join(l.ModulesToSave), "")
	add("loraplus-lr-ratio", l.LoRAPlusLRRatio, 0)
	pt := c.PTuning
	add("num-virtual-tokens", pt.NumVirtualTokens, 0)
	add("prefix-projection", pt.PrefixProjection, false)
	add("encoder-hidden-size", pt.EncoderHiddenSize, 0)
	add("prefix-dropout", pt.Dropout, 0)
	add("prompt-init", pt.Init, "")
	add("prompt-init-text", pt.InitText, "")
	ad := c.Adapter
	add("adapter-placement", ad.Placement, "")
	add("adapter-reduction", adapter.FormatReduction(ad.ReductionFactor, ad.ReductionPerLayer), "0")
	add("adapter-non-linearity", ad.NonLinearity, "")
	add("adapter-residual-before-ln", ad.ResidualBeforeLN, "")
	add("adapter-leave-out", ints(ad.LeaveOut), "")
	add("adapter-init", ad.Init, "")
	add("adapter-scaling", ad.Scaling, 0)
	add("adapter-dropout", ad.Dropout, 0)
	md := methods.DefaultsFor(c.Method)
	add("eval-split", c.EvalSplit, d.EvalSplit)
	add("text-field", c.TextField, d.TextField)
	add("text-pair-field", c.TextPairField, d.TextPairField)
	add("label-field", c.LabelField, d.LabelField)
	add("max-len", c.MaxLen, d.MaxLen)
	add("epochs", c.Epochs, md.Epochs)
	add("max-steps", c.MaxSteps, d.MaxSteps)
	add("lr", c.LR, md.LR)
	add("batch-size", c.BatchSize, d.BatchSize)
	add("grad-accum", c.GradAccum, d.GradAccum)
	add("schedule", c.Schedule, d.Schedule)
	add("warmup-ratio", c.WarmupRatio, d.WarmupRatio)
	add("warmup-steps", c.WarmupSteps, d.WarmupSteps)
	add("weight-decay", c.WeightDecay, d.WeightDecay)
	add("max-grad-norm", c.MaxGradNorm, d.MaxGradNorm)
	add("seed", c.Seed, d.Seed)
	add("dropout", c.Dropout, d.Dropout)
	add("group-by-length", c.GroupByLength, d.GroupByLength)
	add("gradient-checkpointing", c.GradientCheckpointing, d.GradientCheckpointing)
	add("bf16", c.BF16, d.BF16)
	add("skip-nonfinite", c.SkipNonFinite, d.SkipNonFinite)
	add("quantize-base", c.QuantizeBase, d.QuantizeBase)
	add("logging-steps", c.LoggingSteps, d.LoggingSteps)
	add("eval-steps", c.EvalSteps, d.EvalSteps)
	add("save-steps", c.SaveSteps, d.SaveSteps)
	add("metric-for-best", c.MetricForBest, d.MetricForBest)
	add("patience", c.Patience, d.Patience)
	add("backend", c.Backend, d.Backend)
	args = append(args, "--overwrite") // the run folder exists once the run has run
	return strings.Join(args, " ")
}

func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t'\"$\\`!*?;&|<>()") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
