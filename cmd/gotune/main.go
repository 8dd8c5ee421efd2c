// Command gotune fine-tunes Hugging Face transformer checkpoints.
//
//	gotune train   --model DIR|hub-id --train train.jsonl --eval dev.jsonl --out runs/x [--method full]
//	gotune eval    --model runs/x/model --data dev.jsonl
//	gotune predict --model runs/x/model --input in.jsonl --output out.jsonl
//	gotune inspect --model DIR
//	gotune merge   --model BASE --adapter ADAPTER --out DIR
//	gotune lora    targets|combine ...
//	gotune adapter plan|average ...
//	gotune demo
//	gotune pretrain --text corpus.txt --out DIR
//	gotune compare --model DIR --train train.jsonl --eval dev.jsonl --out runs/cmp [--methods all]
//	gotune board   [--runs DIR] [--addr 127.0.0.1:7860] [--lang ko|en]
//
// Run `gotune COMMAND -h` for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/engine"
)

const usage = `gotune fine-tunes Hugging Face transformer checkpoints, in Go.

Commands:
  train     fine-tune a model on labelled data
  compare   fine-tune with every method on your data, several seeds; report and recommendation
  eval      evaluate a saved model on labelled data, or a causal LM's loss/perplexity (last stdout line: JSON metrics)
  generate  generate text with a causal LM (LLaMA family, GPT-2, .gguf; --adapter for PEFT or AdapterHub adapters)
  predict   classify a file of texts into JSONL
  augment   write EDA / AEDA / contextual augmentations of a data file
  inspect   show a model's architecture and parameter counts
  demo      the built-in offline demo: pretrain a tiny BERT, then fine-tune it
  pretrain  train a small BERT from scratch (masked LM) on your text, as a base for any method
  merge     merge a LoRA adapter into its base model (Hugging Face layout)
  lora      LoRA tools: targets (dry-run a target spec), combine (weighted adapters)
  adapter   bottleneck adapter tools: plan (dry run), average (parameter average)
  bench     time training steps on standard model shapes (one JSON line; see docs/benchmarks.md)
  board     a local web board: runs, live curves, comparison, new runs from a form

Run 'gotune COMMAND -h' for the flags of a command.
`

func main() {
	if err := engine.Reexec(); err != nil {
		fmt.Fprintln(os.Stderr, "gotune: warning:", err)
	}
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	// Only long-running commands catch Ctrl-C/SIGTERM (to save a resumable
	// checkpoint); after the first signal the default behaviour returns, so
	// a second one ends the process at once.
	ctx := context.Background()
	if cmd := os.Args[1]; cmd == "train" || cmd == "demo" || cmd == "compare" || cmd == "pretrain" {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			stop()
		}()
	}
	var err error
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "train":
		err = runTrain(ctx, args, os.Stdout, os.Stderr)
	case "compare":
		err = runCompare(ctx, args, os.Stdout, os.Stderr)
	case "eval":
		if isLMEval(args) {
			err = runLMEval(args, os.Stdout, os.Stderr)
		} else {
			err = runEval(args, os.Stdout, os.Stderr)
		}
	case "predict":
		err = runPredict(args, os.Stdout, os.Stderr)
	case "merge":
		err = runMerge(args, os.Stdout, os.Stderr)
	case "lora":
		err = runLoRA(args, os.Stdout, os.Stderr)
	case "inspect":
		err = runInspect(args, os.Stdout)
	case "demo":
		err = runDemo(ctx, args, os.Stdout)
	case "pretrain":
		err = runPretrain(ctx, args, os.Stdout, os.Stderr)
	case "adapter":
		err = runAdapter(args, os.Stdout, os.Stderr)
	case "augment":
		err = runAugment(args, os.Stdout, os.Stderr)
	case "bench":
		err = runBench(args, os.Stdout, os.Stderr)
	case "generate":
		err = runGenerate(args, os.Stdout, os.Stderr)
	case "board":
		err = runBoard(args, os.Stdout, os.Stderr)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "gotune: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "gotune "+cmd+": "+err.Error())
		if errors.Is(err, gotune.ErrInterrupted) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// bindTrainFlags binds every training flag to cfg.
func bindTrainFlags(fs *flag.FlagSet, c *gotune.Config, configPath *string) {
	fs.StringVar(configPath, "config", "", "YAML file with the run's settings (flags override it)")
	fs.StringVar(&c.Model, "model", c.Model, "Hugging Face model folder or Hub id, or a LLaMA-architecture .gguf file")
	fs.StringVar(&c.Train, "train", c.Train, "training data (.jsonl, .json, .csv, .tsv)")
	fs.StringVar(&c.Eval, "eval", c.Eval, "evaluation data (default: hold out --eval-split of --train)")
	fs.Float64Var(&c.EvalSplit, "eval-split", c.EvalSplit, "fraction of --train held out when --eval is not given")
	fs.StringVar(&c.Out, "out", c.Out, "run folder")
	fs.StringVar(&c.Task, "task", c.Task, "task: classify or causal-lm (default: causal-lm when the data is instruction-shaped — instruction/output, prompt/completion, messages, conversations — or the model is a decoder and the data has no label field; classify otherwise)")
	fs.StringVar(&c.Template, "template", c.Template, "causal-lm: prompt template: auto (alpaca for alpaca records, the model's ChatML or chat for conversations, none otherwise), alpaca, chat, chatml, none")
	fs.BoolVar(&c.TrainOnPrompt, "train-on-prompt", c.TrainOnPrompt, "causal-lm: take the loss on prompt tokens too (default: response tokens only)")
	fs.BoolVar(&c.Packing, "packing", c.Packing, "causal-lm: pack short examples into sequences of up to --max-len tokens")
	fs.StringVar(&c.Method, "method", c.Method, "fine-tuning method: full, feature, freeze, lora, ptuning (prefix tuning / P-Tuning v2), prompt (prompt tuning), adapter (bottleneck adapters)")
	fs.StringVar(&c.Freeze, "freeze", c.Freeze, "freeze: modules to freeze, the rest trains: embeddings, layers:N-M, pooler, attention, attention.self, attention.output, ffn, layernorm, layers:N-M.KIND (e.g. embeddings,layers:0-7); classifier always trains")
	fs.StringVar(&c.TrainModules, "train-modules", c.TrainModules, "freeze: modules that train, the rest is frozen; names as --freeze (e.g. layers:8-11,pooler); classifier always trains")
	fs.StringVar(&c.TrainRegex, "train-regex", c.TrainRegex, "freeze: train weights whose Hugging Face name matches this RE2 regexp anywhere; the rest is frozen")
	fs.StringVar(&c.FreezeRegex, "freeze-regex", c.FreezeRegex, "freeze: freeze weights whose Hugging Face name matches this RE2 regexp anywhere; the rest trains")
	fs.IntVar(&c.TrainLast, "train-last", c.TrainLast, "freeze: train the last N encoder layers, the pooler and the classifier (default 2 when no --freeze, --train-modules or --*-regex is given)")
	fs.StringVar(&c.Feature.Pooling, "pooling", c.Feature.Pooling, "feature: pooler, cls, mean or cls-concat")
	fs.IntVar(&c.Feature.Layers, "feature-layers", c.Feature.Layers, "feature: layers concatenated by --pooling cls-concat")
	fs.StringVar(&c.Feature.Head, "head", c.Feature.Head, "feature: head on the features, linear or mlp")
	fs.IntVar(&c.Feature.HeadHidden, "head-hidden", c.Feature.HeadHidden, "feature: hidden units of --head mlp")
	fs.Float64Var(&c.Feature.Dropout, "head-dropout", c.Feature.Dropout, "feature: dropout on the features while training")
	fs.BoolVar(&c.Feature.ExportFull, "export-full", c.Feature.ExportFull, "feature: also save a full Hugging Face model (linear head over the pooler)")
	bindLoRAFlags(fs, &c.LoRA)
	bindPTuningFlags(fs, &c.PTuning)
	bindAdapterFlags(fs, &c.Adapter)
	fs.StringVar(&c.TextField, "text-field", c.TextField, "field holding the text")
	fs.StringVar(&c.TextPairField, "text-pair-field", c.TextPairField, "field holding the second text of a pair")
	fs.StringVar(&c.LabelField, "label-field", c.LabelField, "field holding the label")
	fs.IntVar(&c.MaxLen, "max-len", c.MaxLen, "maximum tokens per example (longer ones are truncated)")
	fs.StringVar(&c.Augment, "augment", c.Augment, "augment the training data only: eda (EDA paper's settings for the data size), eda:alpha=0.1,n=4, aeda, contextual:p=0.15,k=5 (see gotune augment -h)")
	fs.IntVar(&c.Epochs, "epochs", c.Epochs, "training epochs ("+methodDefaults("epochs")+")")
	fs.IntVar(&c.MaxSteps, "max-steps", c.MaxSteps, "stop after this many optimizer steps (overrides --epochs)")
	fs.Float64Var(&c.LR, "lr", c.LR, "peak learning rate ("+methodDefaults("lr")+")")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "examples per batch")
	fs.IntVar(&c.GradAccum, "grad-accum", c.GradAccum, "batches per optimizer step (gradient accumulation)")
	fs.StringVar(&c.Schedule, "schedule", c.Schedule, "learning-rate schedule: linear, cosine, constant, constant_with_warmup")
	fs.Float64Var(&c.WarmupRatio, "warmup-ratio", c.WarmupRatio, "fraction of steps for linear warmup")
	fs.IntVar(&c.WarmupSteps, "warmup-steps", c.WarmupSteps, "warmup steps (overrides --warmup-ratio)")
	fs.Float64Var(&c.WeightDecay, "weight-decay", c.WeightDecay, "AdamW weight decay (not on biases and LayerNorm)")
	fs.Float64Var(&c.MaxGradNorm, "max-grad-norm", c.MaxGradNorm, "clip the global gradient norm (0 = off)")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "random seed (data order, new weights, dropout)")
	fs.Float64Var(&c.Dropout, "dropout", c.Dropout, "override the model's dropout (-1 keeps config.json's)")
	fs.BoolVar(&c.GroupByLength, "group-by-length", c.GroupByLength, "batch examples of similar length together")
	fs.BoolVar(&c.GradientCheckpointing, "gradient-checkpointing", c.GradientCheckpointing, "recompute each layer's activations in the backward pass: less memory, about one more forward pass of time")
	fs.BoolVar(&c.BF16, "bf16", c.BF16, "bfloat16 matrix products (float32 weights, optimizer state, norms and loss), as the Hugging Face Trainer's --bf16")
	fs.BoolVar(&c.SkipNonFinite, "skip-nonfinite", c.SkipNonFinite, "skip steps whose loss or gradient is NaN/Inf (counted in metrics.jsonl) instead of stopping")
	fs.StringVar(&c.QuantizeBase, "quantize-base", c.QuantizeBase, "QLoRA: store the frozen base's linear weights quantised, nf4 (bitsandbytes 4-bit NormalFloat) or int8 (per-channel absmax)")
	fs.IntVar(&c.LoggingSteps, "logging-steps", c.LoggingSteps, "log training loss every N steps")
	fs.IntVar(&c.EvalSteps, "eval-steps", c.EvalSteps, "also evaluate every N steps (0: each epoch only)")
	fs.IntVar(&c.SaveSteps, "save-steps", c.SaveSteps, "write a resumable checkpoint every N steps")
	fs.StringVar(&c.MetricForBest, "metric-for-best", c.MetricForBest, "metric choosing the kept model: accuracy, macro_f1, loss (classify); loss, perplexity (causal-lm, default loss)")
	fs.IntVar(&c.Patience, "patience", c.Patience, "early stopping after N evaluations without improvement (0 = off)")
	fs.BoolVar(&c.Resume, "resume", false, "continue the run in --out from its last checkpoint")
	fs.BoolVar(&c.Overwrite, "overwrite", false, "replace an existing run in --out")
	fs.StringVar(&c.Backend, "backend", c.Backend, "compute backend (default $GOMLX_BACKEND or go; xla:cuda in a build with -tags xla, see docs/scale.md)")
	fs.IntVar(&c.Devices, "devices", c.Devices, "train on N devices (with --sharding; 0 = all of the backend's)")
	fs.StringVar(&c.Sharding, "sharding", c.Sharding, "dp (data parallel: batch split, gradients all-reduced) or fsdp (weights and optimizer state sharded too); XLA backend")
	fs.BoolVar(&c.Verbose, "verbose", false, "print per-module parameter counts")
}

// parseTrainFlags applies defaults, then --config's YAML, then the flags.
func parseTrainFlags(args []string, errOut io.Writer) (gotune.Config, error) {
	var path string
	probe := gotune.DefaultConfig()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(errOut)
	bindTrainFlags(fs, &probe, &path)
	if err := fs.Parse(args); err != nil {
		return probe, err
	}
	if fs.NArg() > 0 {
		return probe, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := gotune.DefaultConfig()
	if path != "" {
		var err error
		if cfg, err = gotune.LoadConfigFile(path, cfg); err != nil {
			return cfg, err
		}
	}
	fs2 := flag.NewFlagSet("train", flag.ContinueOnError)
	fs2.SetOutput(io.Discard)
	bindTrainFlags(fs2, &cfg, &path)
	if err := fs2.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func runTrain(ctx context.Context, args []string, out, errOut io.Writer) error {
	cfg, err := parseTrainFlags(args, errOut)
	if err != nil {
		return err
	}
	_, err = gotune.Train(ctx, cfg, out)
	return err
}
