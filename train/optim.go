// Package train is gotune's optimisation core: AdamW with Hugging Face's
// defaults (no decay on biases and normalisation weights), linear and cosine
// schedules with warmup, global-norm gradient clipping and gradient
// accumulation, all inside the compiled step graph; plus the state needed to
// resume (moments, step, random state). It knows nothing of fine-tuning
// methods: a method decides which weights are trainable, and frozen weights
// get neither gradients nor optimizer state.
package train

import (
	"fmt"
	"math"
	"strings"
)

// Schedule names a learning-rate schedule.
type Schedule string

// The learning-rate schedules, as in transformers' get_scheduler.
const (
	Linear   Schedule = "linear"
	Cosine   Schedule = "cosine"
	Constant Schedule = "constant"
	// ConstantWithWarmup is constant after a linear warmup.
	ConstantWithWarmup Schedule = "constant_with_warmup"
)

// ParseSchedule checks a schedule name.
func ParseSchedule(s string) (Schedule, error) {
	switch Schedule(s) {
	case Linear, Cosine, Constant, ConstantWithWarmup:
		return Schedule(s), nil
	case "":
		return Linear, nil
	}
	return "", fmt.Errorf("unknown learning-rate schedule %q (valid: linear, cosine, constant, constant_with_warmup)", s)
}

// Options configure the optimizer.
type Options struct {
	// LR is the peak learning rate.
	LR float64
	// WeightDecay is AdamW's decoupled weight decay (0.0 like the Trainer's default).
	WeightDecay float64
	// Beta1, Beta2 and Eps are Adam's constants (0.9, 0.999, 1e-8 when zero).
	Beta1, Beta2, Eps float64
	// MaxGradNorm clips the global gradient norm (0 disables).
	MaxGradNorm float64
	// Schedule, WarmupSteps and TotalSteps shape the learning rate
	// (TotalSteps 0: no decay).
	Schedule    Schedule
	WarmupSteps int
	TotalSteps  int
	// GradAccum is the number of micro-batches per optimizer step (≥ 1).
	GradAccum int
	// SkipNonFinite makes a step whose loss or gradient norm is NaN or
	// infinite leave the weights and moments unchanged (Stats.Skipped)
	// instead of writing NaNs into them; the step still counts.
	SkipNonFinite bool
	// NoDecay reports weights exempt from weight decay; nil means
	// DefaultNoDecay.
	NoDecay func(name string) bool
	// LRScale, when not nil, scales the learning rate of a weight (for
	// example LoRA+'s larger rate for B matrices).
	LRScale func(name string) float64
	// Devices is the number of devices to train on (0 or 1: one; with
	// Sharding set, 0 means every device of the backend). Sharding is
	// DataParallel ("dp") or FullySharded ("fsdp"); with either, the
	// graphs run on a one-axis device mesh through XLA's automatic
	// sharding (one device of a backend without meshes runs as usual).
	Devices  int
	Sharding string
}

// DefaultNoDecay exempts biases and normalisation weights from weight
// decay, as the Hugging Face Trainer does.
func DefaultNoDecay(name string) bool {
	l := strings.ToLower(name)
	return strings.HasSuffix(l, ".bias") || strings.Contains(l, "layernorm") || strings.Contains(l, "layer_norm") ||
		strings.Contains(l, "norm.weight") || strings.HasSuffix(l, "ln_1.weight") || strings.HasSuffix(l, "ln_2.weight") || strings.HasSuffix(l, "ln_f.weight")
}

func (o *Options) defaults() {
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.999
	}
	if o.Eps == 0 {
		o.Eps = 1e-8
	}
	if o.GradAccum < 1 {
		o.GradAccum = 1
	}
	if o.Schedule == "" {
		o.Schedule = Linear
	}
	if o.NoDecay == nil {
		o.NoDecay = DefaultNoDecay
	}
}

// LRAt returns the learning rate used for optimizer step `step` (0-based),
// matching transformers' get_scheduler: "constant" ignores warmup; the
// others warm up linearly over WarmupSteps.
func (o *Options) LRAt(step int) float64 {
	if o.Schedule == Constant {
		return o.LR
	}
	if o.TotalSteps <= 0 { // length unknown: warmup, then constant
		if o.WarmupSteps > 0 && step < o.WarmupSteps {
			return o.LR * float64(step) / float64(o.WarmupSteps)
		}
		return o.LR
	}
	if o.WarmupSteps > 0 && step < o.WarmupSteps {
		return o.LR * float64(step) / float64(max(1, o.WarmupSteps))
	}
	span := float64(max(1, o.TotalSteps-o.WarmupSteps))
	switch o.Schedule {
	case ConstantWithWarmup:
		return o.LR
	case Cosine:
		progress := float64(step-o.WarmupSteps) / span
		return o.LR * math.Max(0, 0.5*(1+math.Cos(math.Pi*progress)))
	default:
		return o.LR * math.Max(0, float64(o.TotalSteps-step)/span)
	}
}
