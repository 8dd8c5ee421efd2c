package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/compare"
	"github.com/gotune/gotune/methods"
)

// compareSets collects repeated --set flags.
type compareSets []string

func (s *compareSets) String() string     { return strings.Join(*s, " ") }
func (s *compareSets) Set(v string) error { *s = append(*s, v); return nil }

// compareSize is a size flag (2GB, 50MB, 512MiB).
type compareSize struct{ p *int64 }

func (f compareSize) String() string {
	if f.p == nil || *f.p == 0 {
		return ""
	}
	return fmt.Sprint(*f.p)
}

func (f compareSize) Set(s string) error {
	n, err := compare.ParseSize(s)
	if err != nil {
		return err
	}
	*f.p = n
	return nil
}

const compareUsage = `gotune compare fine-tunes one base model with several methods on your data,
the same seeds for each, and writes report.md, report.html (tables and plots)
and results.json into --out, with a recommendation for your constraints.

  gotune compare --model DIR --train train.jsonl --eval dev.jsonl --out runs/cmp \
      [--methods all|full,lora,...] [--seeds 3] [--budget 30m] \
      [--max-memory 2GB] [--max-artifact-size 50MB] [--tasks-per-base N]

Each run is an ordinary run folder, OUT/METHOD/seed-N, trained by a child
'gotune train --config OUT/METHOD/seed-N.yaml' process (its own memory peak;
a crash or out-of-memory kill fails only that run). Methods take their own
learning rate and epochs (see the report's Settings table); --epochs, --lr and
--max-steps, when given, apply to all. --set changes any config.yaml key for
one method or all, e.g. --set lora:lora.r=16 --set all:max_len=64.

The task is chosen as gotune train chooses it (--task, or the data and model).
Classification ranks by accuracy or macro-F1 (higher is better). Causal-LM (a
decoder with instruction, prompt/completion, chat or text data) ranks by the
eval loss over the response tokens (lower is better) with perplexity beside it;
methods that do not apply to it (feature, METHOD+AUG) are skipped.

Flags:
`

// compareFlags are the flags of gotune compare besides the options.
type compareFlags struct {
	config, methods string
	sets            compareSets
	inProcess       bool
}

func bindCompareFlags(fs *flag.FlagSet, o *compare.Options, f *compareFlags) {
	b := &o.Base
	fs.StringVar(&f.config, "config", "", "YAML file with the shared training settings (a run's config.yaml works); its method, lr, epochs, max_steps and augment are ignored, flags override the rest")
	fs.StringVar(&b.Model, "model", b.Model, "Hugging Face model folder or Hub id")
	fs.StringVar(&b.Train, "train", b.Train, "training data (.jsonl, .json, .csv, .tsv)")
	fs.StringVar(&b.Eval, "eval", b.Eval, "evaluation data (default: hold out --eval-split of --train)")
	fs.Float64Var(&b.EvalSplit, "eval-split", b.EvalSplit, "fraction of --train held out when --eval is not given")
	fs.StringVar(&b.Out, "out", b.Out, "comparison folder")
	fs.StringVar(&f.methods, "methods", "all", "methods to compare, comma-separated: all, "+strings.Join(methods.Names(), ", ")+"; METHOD+eda trains on EDA-augmented data")
	fs.IntVar(&o.Seeds, "seeds", o.Seeds, "seeds per method (--seed, --seed+1, ...)")
	fs.Int64Var(&b.Seed, "seed", b.Seed, "first seed")
	fs.DurationVar(&o.Budget, "budget", 0, "wall time for the whole comparison, e.g. 30m; cuts steps per run, then seeds, from a short timed probe of each method (0: no budget)")
	fs.IntVar(&b.Epochs, "epochs", b.Epochs, "epochs for every method (default: each method's own)")
	fs.Float64Var(&b.LR, "lr", b.LR, "learning rate for every method (default: each method's own)")
	fs.IntVar(&b.MaxSteps, "max-steps", b.MaxSteps, "optimizer steps per run for every method (overrides epochs)")
	fs.IntVar(&b.BatchSize, "batch-size", b.BatchSize, "examples per batch")
	fs.IntVar(&b.MaxLen, "max-len", b.MaxLen, "maximum tokens per example")
	fs.StringVar(&b.MetricForBest, "metric", b.MetricForBest, "metric that keeps each run's best model and ranks the methods: accuracy or macro_f1 (classify); causal-lm keeps and ranks by the eval loss (loss or perplexity keep the same model)")
	fs.StringVar(&b.Task, "task", b.Task, "task: classify or causal-lm (default: as gotune train chooses it from the data and model)")
	fs.StringVar(&b.Template, "template", b.Template, "causal-lm: prompt template: auto, alpaca, chat, chatml, none")
	fs.BoolVar(&b.TrainOnPrompt, "train-on-prompt", b.TrainOnPrompt, "causal-lm: take the loss on prompt tokens too (default: response tokens only)")
	fs.BoolVar(&b.Packing, "packing", b.Packing, "causal-lm: pack short examples into sequences of up to --max-len tokens")
	fs.StringVar(&b.TextField, "text-field", b.TextField, "field holding the text")
	fs.StringVar(&b.TextPairField, "text-pair-field", b.TextPairField, "field holding the second text of a pair")
	fs.StringVar(&b.LabelField, "label-field", b.LabelField, "field holding the label")
	fs.StringVar(&b.Backend, "backend", b.Backend, "compute backend (default $GOMLX_BACKEND or go)")
	fs.Var(&f.sets, "set", "METHOD:KEY=VALUE: change a config.yaml key for one method or all (repeatable), e.g. lora:lora.r=16, adapter:adapter.reduction_factor=8, all:warmup_ratio=0.1")
	fs.Var(compareSize{&o.Constraints.MaxMemory}, "max-memory", "peak memory a run may use, e.g. 2GB or 1.5GiB (recommendation constraint)")
	fs.Var(compareSize{&o.Constraints.MaxArtifact}, "max-artifact-size", "largest saved model folder per task, e.g. 50MB (recommendation constraint)")
	fs.IntVar(&o.Constraints.TasksPerBase, "tasks-per-base", 0, "number of tasks served from one base model; above 1 only methods that keep the base frozen qualify (adapters, LoRA, prompts, feature heads)")
	fs.BoolVar(&o.Overwrite, "overwrite", false, "replace an earlier comparison in --out")
	fs.BoolVar(&f.inProcess, "in-process", false, "train every run in this process instead of child processes (peak memory then includes this process's own; a crash ends the comparison)")
}

// parseCompareFlags applies the defaults, then --config's YAML, then the
// flags.
func parseCompareFlags(args []string, errOut io.Writer) (compare.Options, compareFlags, error) {
	o, f := compare.DefaultOptions(), compareFlags{}
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprint(errOut, compareUsage)
		fs.PrintDefaults()
	}
	bindCompareFlags(fs, &o, &f)
	if err := fs.Parse(args); err != nil {
		return o, f, err
	}
	if fs.NArg() > 0 {
		return o, f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.config == "" {
		return o, f, nil
	}
	path := f.config
	o, f = compare.DefaultOptions(), compareFlags{}
	cfg, err := gotune.LoadConfigFile(path, o.Base)
	if err != nil {
		return o, f, err
	}
	cfg.Method, cfg.LR, cfg.Epochs, cfg.MaxSteps, cfg.Augment = "", 0, 0, 0, ""
	if cfg.Out == "" {
		cfg.Out = o.Base.Out
	}
	o.Base = cfg
	fs2 := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs2.SetOutput(io.Discard)
	bindCompareFlags(fs2, &o, &f)
	return o, f, fs2.Parse(args)
}

func runCompare(ctx context.Context, args []string, out, errOut io.Writer) error {
	o, f, err := parseCompareFlags(args, errOut)
	if err != nil {
		return err
	}
	o.Methods, o.Set = []string{f.methods}, f.sets
	if !f.inProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the gotune executable for child runs (or pass --in-process): %w", err)
		}
		o.Runner = compare.Child{Exe: exe}
	}
	rep, err := compare.Run(ctx, o, out)
	if err != nil && rep != nil && rep.Interrupted {
		return fmt.Errorf("interrupted; %s covers the runs that finished", filepath.Join(rep.Out, compare.MarkdownFile))
	}
	return err
}
