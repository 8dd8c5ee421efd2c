package gotune

import (
	"errors"
	"fmt"
	"github.com/gotune/gotune/nn"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gotune/gotune/augment"
	"github.com/gotune/gotune/instruct"
	"github.com/gotune/gotune/method/adapter"
	"github.com/gotune/gotune/method/feature"
	"github.com/gotune/gotune/method/freeze"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/methods"
)

// Config is everything a training run needs. Its YAML form is what
// `--config run.yaml` reads and what every run folder records as
// config.yaml.
type Config struct {
	// Model is a Hugging Face model folder or Hub id.
	Model string `yaml:"model"`
	// Train and Eval are data files (.jsonl, .json, .csv, .tsv); without Eval,
	// EvalSplit of the training data is held out (seeded).
	Train     string  `yaml:"train"`
	Eval      string  `yaml:"eval,omitempty"`
	EvalSplit float64 `yaml:"eval_split"`
	// Out is the run folder.
	Out string `yaml:"out"`
	// Task is classify (sequence classification) or causal-lm (language
	// modelling / instruction tuning on a decoder); "" chooses: causal-lm
	// when the training data is instruction-shaped (instruction/output,
	// prompt/completion, messages or conversations), or when the model is a
	// decoder (LLaMA family, GPT-2, .gguf) and the data has no label field;
	// classify otherwise. The run's config.yaml records the choice.
	Task string `yaml:"task,omitempty"`
	// Template renders instruction data for causal-lm: auto (default),
	// alpaca, chat, chatml or none (see package instruct). TrainOnPrompt
	// puts the loss on prompt tokens too (default: responses only);
	// Packing concatenates short examples up to max_len.
	Template      string `yaml:"template,omitempty"`
	TrainOnPrompt bool   `yaml:"train_on_prompt,omitempty"`
	Packing       bool   `yaml:"packing,omitempty"`
	// Method is the fine-tuning method ("full", "feature", ...).
	Method string `yaml:"method"`
	// Feature configures --method feature: pooling (pooler, cls, mean,
	// cls-concat), layers for cls-concat, head (linear, mlp), head_hidden,
	// dropout on the features, export_full.
	Feature feature.Config `yaml:"feature"`
	// Freeze, TrainModules, TrainRegex, FreezeRegex and TrainLast choose
	// what trains under --method freeze (see freeze.Config); with none set
	// the last 2 layers, the pooler and the classifier train.
	Freeze       string `yaml:"freeze,omitempty"`
	TrainModules string `yaml:"train_modules,omitempty"`
	TrainRegex   string `yaml:"train_regex,omitempty"`
	FreezeRegex  string `yaml:"freeze_regex,omitempty"`
	TrainLast    int    `yaml:"train_last,omitempty"`
	// LoRA configures --method lora: r, alpha, dropout, targets or
	// target_regex, exclude, layers_to_transform, rank_pattern,
	// alpha_pattern, bias, use_rslora, use_dora, init, modules_to_save,
	// loraplus_lr_ratio (see lora.Config).
	LoRA lora.Config `yaml:"lora,omitempty"`
	// PTuning configures --method ptuning (prefix tuning / P-Tuning v2) and
	// --method prompt (prompt tuning): num_virtual_tokens,
	// prefix_projection, encoder_hidden_size, dropout, init, init_text (see
	// ptuning.Config).
	PTuning ptuning.Config `yaml:"ptuning,omitempty"`
	// Adapter configures --method adapter (bottleneck adapters):
	// placement, reduction_factor, reduction_per_layer, non_linearity,
	// residual_before_ln, leave_out, init, scaling, dropout (see
	// adapter.Config).
	Adapter adapter.Config `yaml:"adapter,omitempty"`

	TextField     string `yaml:"text_field"`
	TextPairField string `yaml:"text_pair_field,omitempty"`
	LabelField    string `yaml:"label_field"`
	MaxLen        int    `yaml:"max_len"`
	// Augment augments the training data (never the evaluation data):
	// "eda", "eda:alpha=0.1,n=4", "aeda", "contextual:p=0.15,k=5" (see
	// augment.ParseSpec); "" means none.
	Augment string `yaml:"augment,omitempty"`

	// Epochs and LR left at 0 take the method's defaults
	// (methods.DefaultsFor: 3 and 2e-5 for full fine-tuning).
	Epochs      int     `yaml:"epochs"`
	MaxSteps    int     `yaml:"max_steps,omitempty"`
	LR          float64 `yaml:"lr"`
	BatchSize   int     `yaml:"batch_size"`
	GradAccum   int     `yaml:"grad_accum"`
	Schedule    string  `yaml:"schedule"`
	WarmupRatio float64 `yaml:"warmup_ratio"`
	WarmupSteps int     `yaml:"warmup_steps,omitempty"`
	WeightDecay float64 `yaml:"weight_decay"`
	MaxGradNorm float64 `yaml:"max_grad_norm"`
	Seed        int64   `yaml:"seed"`
	// Dropout, when ≥ 0, overrides the model's hidden and attention dropout.
	Dropout       float64 `yaml:"dropout"`
	GroupByLength bool    `yaml:"group_by_length"`
	// GradientCheckpointing recomputes each transformer layer's activations
	// in the backward pass instead of keeping them: less memory, more time.
	GradientCheckpointing bool `yaml:"gradient_checkpointing,omitempty"`
	// BF16 computes matrix products in bfloat16 (float32 weights, optimizer
	// state, norms and loss), as the Hugging Face Trainer's bf16.
	BF16 bool `yaml:"bf16,omitempty"`
	// SkipNonFinite skips (leaves the weights unchanged on) a step whose
	// loss or gradient norm is NaN or infinite, counting it in
	// metrics.jsonl's "skipped_nonfinite"; without it such a step stops
	// the run with an error naming the step.
	SkipNonFinite bool `yaml:"skip_nonfinite,omitempty"`
	// QuantizeBase stores the frozen base's linear-layer weights quantised
	// ("nf4" or "int8", QLoRA; docs/scale.md); "" keeps them float32.
	QuantizeBase string `yaml:"quantize_base,omitempty"`

	LoggingSteps int `yaml:"logging_steps"`
	// EvalSteps > 0 also evaluates every that many optimizer steps.
	EvalSteps int `yaml:"eval_steps,omitempty"`
	// SaveSteps is how often (optimizer steps) a resumable checkpoint is written.
	SaveSteps int `yaml:"save_steps"`
	// MetricForBest chooses the kept model: accuracy, macro_f1 or loss
	// (classify); loss or perplexity (causal-lm, where accuracy, the
	// default, means loss).
	MetricForBest string `yaml:"metric_for_best"`
	// Patience > 0 stops after that many evaluations without improvement.
	Patience int `yaml:"patience,omitempty"`

	Resume    bool   `yaml:"-"`
	Overwrite bool   `yaml:"-"`
	Backend   string `yaml:"backend,omitempty"`
	// Devices and Sharding train on a mesh of devices (train.Options):
	// Sharding "dp" (data parallel) or "fsdp" (weights and optimizer state
	// sharded); Devices 0 with a Sharding means all of the backend's.
	Devices  int    `yaml:"devices,omitempty"`
	Sharding string `yaml:"sharding,omitempty"`
	Verbose  bool   `yaml:"-"`
}

// graphOptions returns the graph-building choices of the run.
func (c Config) graphOptions() nn.Options {
	return nn.Options{GradientCheckpointing: c.GradientCheckpointing, BF16: c.BF16}
}

// DefaultConfig returns the defaults, close to the Hugging Face Trainer's.
func DefaultConfig() Config {
	return Config{
		Method: "full", EvalSplit: 0.1, TextField: "text", LabelField: "label", MaxLen: 128,
		Epochs: 0, LR: 0, BatchSize: 32, GradAccum: 1, Schedule: "linear", WarmupRatio: 0,
		WeightDecay: 0, MaxGradNorm: 1.0, Seed: 42, Dropout: -1, LoggingSteps: 10, SaveSteps: 200,
		MetricForBest: "accuracy", Feature: feature.Config{Pooling: "cls", Head: "linear", Layers: 4, HeadHidden: 256, Dropout: 0.1},
	}
}

// LoadConfigFile reads a YAML config over base; unknown keys are errors
// naming the file and line.
func LoadConfigFile(path string, base Config) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("reading config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	cfg := base
	if err := dec.Decode(&cfg); err != nil && err.Error() != "EOF" {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			return base, configError(path, te.Errors)
		}
		return base, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// RunConfig returns the settings of the run a saved model folder belongs
// to: RUN/config.yaml for RUN/model (a spec "NAME=DIR" names DIR). ok is
// false when dir is not a run's model folder; a config.yaml that does not
// read is an error.
func RunConfig(dir string) (cfg Config, ok bool, err error) {
	if n, d, found := strings.Cut(dir, "="); found && !strings.ContainsAny(n, `/\`) {
		if _, err := os.Stat(d); err == nil {
			dir = d
		}
	}
	dir = filepath.Clean(dir)
	path := filepath.Join(filepath.Dir(dir), ConfigFile)
	if filepath.Base(dir) != ModelDirName {
		return cfg, false, nil
	}
	if _, err := os.Stat(path); err != nil {
		return cfg, false, nil
	}
	cfg, err = LoadConfigFile(path, DefaultConfig())
	if err != nil {
		return cfg, false, err
	}
	return cfg, true, nil
}

// configError turns yaml.v3's multi-line type errors ("line 3: field foo
// not found in type gotune.Config") into one line naming the file and line
// of the first problem.
func configError(path string, errs []string) error {
	msg := errs[0]
	line := ""
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			line, msg = ":"+n, tail
		}
	}
	if key, ok := strings.CutPrefix(msg, "field "); ok {
		if k, _, ok := strings.Cut(key, " not found in type"); ok {
			msg = fmt.Sprintf("unknown key %q (valid keys: %s)", k, strings.Join(configKeys(), ", "))
		}
	}
	if len(errs) > 1 {
		msg += fmt.Sprintf(" (and %d more problems)", len(errs)-1)
	}
	return fmt.Errorf("%s%s: %s", path, line, msg)
}

// configKeys lists the YAML keys of Config.
func configKeys() []string {
	var keys []string
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

// ApplyMethodDefaults sets lr and epochs left at 0 to the method's
// defaults (methods.DefaultsFor).
func (c *Config) ApplyMethodDefaults() {
	d := methods.DefaultsFor(c.Method)
	if c.LR == 0 {
		c.LR = d.LR
	}
	if c.Epochs == 0 {
		c.Epochs = d.Epochs
	}
}

// reservedPositions is the number of position ids the method takes from
// the model (prompt tuning's virtual tokens).
func (c *Config) reservedPositions() int {
	return methods.ReservedPositions(c.Method, c.methodOptions())
}

// fitMaxLen lowers MaxLen to what a model with maxPositions position ids
// leaves to the input once the method's virtual tokens take theirs.
func (c *Config) fitMaxLen(maxPositions int) error {
	if limit := maxPositions - c.reservedPositions(); c.MaxLen > limit {
		if limit < 4 {
			return fmt.Errorf("%d virtual tokens leave %d of the model's %d positions to the input; use fewer", c.reservedPositions(), limit, maxPositions)
		}
		c.MaxLen = limit
	}
	return nil
}

// Validate fills the method's defaults (ApplyMethodDefaults), then checks
// the config and names the first bad field.
func (c *Config) Validate() error {
	c.ApplyMethodDefaults()
	switch {
	case c.Model == "":
		return fmt.Errorf("no model: set --model (a Hugging Face folder or Hub id)")
	case c.Train == "":
		return fmt.Errorf("no training data: set --train")
	case c.Out == "":
		return fmt.Errorf("no run folder: set --out")
	case c.Epochs < 1 && c.MaxSteps < 1:
		return fmt.Errorf("epochs must be ≥ 1 (or set max_steps)")
	case c.LR <= 0:
		return fmt.Errorf("lr must be > 0, got %g", c.LR)
	case c.BatchSize < 1:
		return fmt.Errorf("batch_size must be ≥ 1, got %d", c.BatchSize)
	case c.GradAccum < 1:
		return fmt.Errorf("grad_accum must be ≥ 1, got %d", c.GradAccum)
	case c.Devices < 0:
		return fmt.Errorf("devices must be ≥ 0, got %d", c.Devices)
	case c.Sharding != "" && c.Sharding != "dp" && c.Sharding != "fsdp":
		return fmt.Errorf("sharding %q is not one of dp, fsdp", c.Sharding)
	case nn.CheckQuantScheme(c.QuantizeBase) != nil:
		return fmt.Errorf("quantize_base %q is not one of nf4, int8", c.QuantizeBase)
	case c.QuantizeBase != "" && !slices.Contains([]string{"lora", "adapter", "ptuning", "prompt"}, c.Method):
		return fmt.Errorf("quantize_base %s is for methods that save only what they add to a frozen base (lora, adapter, ptuning, prompt), not %s, which saves the whole model", c.QuantizeBase, c.Method)
	case c.MaxLen < 4:
		return fmt.Errorf("max_len must be ≥ 4, got %d", c.MaxLen)
	case c.Eval == "" && (c.EvalSplit <= 0 || c.EvalSplit >= 1):
		return fmt.Errorf("without --eval, eval_split must be in (0, 1), got %g", c.EvalSplit)
	case c.WarmupRatio < 0 || c.WarmupRatio >= 1:
		return fmt.Errorf("warmup_ratio must be in [0, 1), got %g", c.WarmupRatio)
	}
	switch c.MetricForBest {
	case "accuracy", "macro_f1", "loss", "perplexity":
	default:
		return fmt.Errorf("metric_for_best %q is not one of accuracy, macro_f1, loss, perplexity", c.MetricForBest)
	}
	switch c.Task {
	case "", TaskClassify, TaskCausalLM:
	default:
		return fmt.Errorf("task %q is not one of %s, %s", c.Task, TaskClassify, TaskCausalLM)
	}
	if err := instruct.CheckTemplate(c.Template); err != nil {
		return err
	}
	// The method's own settings (syntax only; names are checked against the model later).
	if _, err := methods.New(c.Method, c.methodOptions()); err != nil {
		return err
	}
	if c.Augment != "" {
		if _, err := augment.ParseSpec(c.Augment); err != nil {
			return err
		}
	}
	return nil
}

// writeYAML writes the config to path.
func (c *Config) writeYAML(path string) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

// absPaths makes file paths absolute so a recorded config works from any
// folder.
func (c *Config) absPaths() {
	for _, p := range []*string{&c.Train, &c.Eval, &c.Out} {
		if *p != "" {
			if a, err := filepath.Abs(*p); err == nil {
				*p = a
			}
		}
	}
	if st, err := os.Stat(c.Model); err == nil && st.IsDir() {
		if a, err := filepath.Abs(c.Model); err == nil {
			c.Model = a
		}
	}
}

// methodOptions collects the method settings of the config.
func (c *Config) methodOptions() methods.Options {
	return methods.Options{Seed: uint64(c.Seed), Feature: c.Feature, Freeze: freeze.Config{Freeze: c.Freeze,
		Train: c.TrainModules, TrainRegex: c.TrainRegex, FreezeRegex: c.FreezeRegex, TrainLast: c.TrainLast}, LoRA: c.LoRA, PTuning: c.PTuning, Adapter: c.Adapter}
}
