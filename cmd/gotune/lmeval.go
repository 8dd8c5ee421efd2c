package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gotune/gotune"
)

// flagValue returns the value of --name in args ("" when absent).
func flagValue(args []string, name string) string {
	for i, a := range args {
		n, v, hasV := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || n != name {
			continue
		}
		if hasV {
			return v
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// isLMEval reports whether `gotune eval` args name a causal LM (--model,
// or --adapter on it).
func isLMEval(args []string) bool {
	if a := flagValue(args, "adapter"); a != "" {
		return gotune.IsCausalLM(a)
	}
	m := flagValue(args, "model")
	return m != "" && gotune.IsCausalLM(m)
}

// runLMEval is `gotune eval` on a causal LM: loss and perplexity on the
// tokens that carry loss.
func runLMEval(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(errOut)
	modelPath := fs.String("model", "", "causal LM: model folder, .gguf file, or a causal-lm run's model folder")
	path := fs.String("data", "", "data file (instruction records, prompt/completion, chat, text or input_ids)")
	var o gotune.LMEvalOptions
	fs.StringVar(&o.Adapter, "adapter", "", "adapter folder on --model (PEFT LoRA/prefix/prompt or AdapterHub bottleneck adapters)")
	fs.StringVar(&o.Template, "template", "", "prompt template, as in training (auto, alpaca, chat, chatml, none)")
	fs.BoolVar(&o.TrainOnPrompt, "train-on-prompt", false, "score prompt tokens too")
	fs.StringVar(&o.TextField, "text-field", "text", "field holding plain text")
	fs.IntVar(&o.MaxLen, "max-len", 512, "maximum tokens per example")
	fs.IntVar(&o.BatchSize, "batch-size", 8, "examples per batch")
	fs.StringVar(&o.Backend, "backend", "", "compute backend")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*modelPath == "" && o.Adapter == "") || *path == "" {
		return fmt.Errorf("need --model and --data")
	}
	o.Progress = errOut
	met, err := gotune.EvaluateCausalLM(*modelPath, *path, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "loss %.4f perplexity %.4f over %.0f tokens of %.0f examples\n", met["loss"], met["perplexity"], met["tokens"], met["examples"])
	b, _ := json.Marshal(met)
	fmt.Fprintln(out, string(b))
	return nil
}
