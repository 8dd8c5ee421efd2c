package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/gotune/gotune/bench"
)

func runBench(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var o bench.Options
	fs.StringVar(&o.Model, "model", "minilm", "model shape: bert-base, minilm, gpt2 (GPT-2 small, causal LM), llama-1b (Llama-3.2-1B shape, causal LM), tiny, gpt2-tiny, llama-tiny")
	fs.StringVar(&o.Method, "method", "full", "full, lora, head, freeze8, infer (gpt2, llama: full, lora, infer; llama lora: r 16, all-linear)")
	fs.IntVar(&o.Batch, "batch", 0, "batch size (default: the shape's standard batch, e.g. 16 bert-base, 32 minilm, 4 gpt2)")
	fs.IntVar(&o.Seq, "seq", 0, "sequence length (default: the shape's standard length, e.g. 128, gpt2 256)")
	fs.IntVar(&o.Warmup, "warmup", 2, "untimed warmup steps")
	fs.IntVar(&o.Steps, "steps", 5, "timed steps")
	fs.Float64Var(&o.Dropout, "dropout", 0.1, "dropout probability")
	fs.StringVar(&o.Backend, "backend", "", "compute backend (xla:cuda in a build with -tags xla, see docs/scale.md)")
	fs.IntVar(&o.Devices, "devices", 0, "run the training steps on N devices (with --sharding; 0 = all of the backend's)")
	fs.StringVar(&o.Sharding, "sharding", "", "dp or fsdp: run the training steps on a device mesh (XLA backend)")
	fs.BoolVar(&o.Opts.GradientCheckpointing, "gradient-checkpointing", false, "recompute each layer's activations in the backward pass")
	fs.BoolVar(&o.Opts.BF16, "bf16", false, "bfloat16 matrix products (float32 weights and optimizer state)")
	fs.StringVar(&o.QuantizeBase, "quantize-base", "", "nf4 or int8: store the frozen base's linear weights quantised (QLoRA)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Profile = func(start bool) {
			if start {
				pprof.StartCPUProfile(f)
			} else {
				pprof.StopCPUProfile()
			}
		}
	}
	r, err := bench.Run(o)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(r)
	fmt.Fprintln(out, string(b))
	return nil
}
