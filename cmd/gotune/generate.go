package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/generate"
)

// runGenerate is `gotune generate`: text from a causal LM (LLaMA family,
// GPT-2, LLaMA-architecture GGUF), streamed to the terminal.
func runGenerate(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(errOut)
	modelPath := fs.String("model", "", "Hugging Face folder (llama, mistral, qwen2, gpt2), LLaMA-architecture .gguf file, or a run's model folder (full model or PEFT adapter)")
	adapterDir := fs.String("adapter", "", "adapter folder on --model: PEFT (LoRA, prefix or prompt tuning) or AdapterHub (bottleneck adapters), or such a run's model folder (default base: the one the adapter records)")
	prompt := fs.String("prompt", "", "prompt text (\"\" with no --input: start from BOS)")
	input := fs.String("input", "", "JSONL prompts: each line {\"prompt\": \"...\"} (or \"text\") or {\"input_ids\": [...]}")
	output := fs.String("output", "", "JSONL results (one line per prompt: prompt, output_ids, text); default: text to stdout")
	maxNew := fs.Int("max-new-tokens", 64, "tokens to generate per prompt")
	temp := fs.Float64("temperature", 0, "sampling temperature; 0 = greedy")
	topK := fs.Int("top-k", 0, "sample from the K most likely tokens (0 = all)")
	topP := fs.Float64("top-p", 1, "sample from the smallest set of tokens with probability >= P (1 = all)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	stop := fs.String("stop", "", "extra stop token ids, comma-separated (the model's EOS always stops)")
	noCache := fs.Bool("no-cache", false, "recompute the whole sequence each step (slow; checks the KV cache)")
	backendSpec := fs.String("backend", "", "compute backend (default $GOMLX_BACKEND or go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *modelPath == "" && *adapterDir == "" {
		return fmt.Errorf("--model is required (a model folder or a .gguf file)")
	}
	if *prompt != "" && *input != "" {
		return fmt.Errorf("give --prompt or --input, not both")
	}
	backend, err := engine.New(*backendSpec)
	if err != nil {
		return err
	}
	var lm *generate.Loaded
	var gen *generate.Generator
	forceNoCache := false
	if *adapterDir != "" || causallm.IsAdapter(*modelPath) {
		m, err := causallm.LoadTrained(*modelPath, *adapterDir, causallm.CausalLM, func(w string) { fmt.Fprintln(errOut, "warning:", w) })
		if err != nil {
			return err
		}
		lm = &generate.Loaded{Model: m.GenModel(), Params: m.P, Tokenizer: m.Tokenizer, BOS: m.BOS, AddBOS: m.AddBOS, EOS: m.EOS, Pad: m.Pad}
		gen, forceNoCache = m.Generator(backend)
	} else {
		if lm, err = generate.Load(*modelPath); err != nil {
			return err
		}
		gen = generate.New(backend, lm.Model, lm.Params, nil)
	}
	opt := generate.Options{MaxNewTokens: *maxNew, Temperature: *temp, TopK: *topK, TopP: *topP, Seed: *seed,
		StopTokens: append([]int(nil), lm.EOS...), PadID: lm.Pad, NoCache: *noCache || forceNoCache}
	if *stop != "" {
		for _, s := range strings.Split(*stop, ",") {
			var id int
			if _, err := fmt.Sscan(strings.TrimSpace(s), &id); err != nil {
				return fmt.Errorf("--stop: %q is not a token id", s)
			}
			opt.StopTokens = append(opt.StopTokens, id)
		}
	}
	type job struct {
		Prompt string `json:"prompt,omitempty"`
		Text   string `json:"text,omitempty"`
		IDs    []int  `json:"input_ids,omitempty"`
	}
	var jobs []job
	if *input != "" {
		f, err := os.Open(*input)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			var j job
			if err := json.Unmarshal([]byte(line), &j); err != nil {
				return fmt.Errorf("%s:%d: %w", *input, n, err)
			}
			if j.Prompt == "" {
				j.Prompt = j.Text
			}
			jobs = append(jobs, j)
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", *input, err)
		}
	} else {
		jobs = []job{{Prompt: *prompt}}
	}
	var enc *json.Encoder
	if *output != "" {
		f, err := os.Create(*output)
		if err != nil {
			return err
		}
		defer f.Close()
		enc = json.NewEncoder(f)
		enc.SetEscapeHTML(false)
	}
	for n, j := range jobs {
		ids := j.IDs
		if ids == nil {
			if j.Prompt == "" && lm.AddBOS {
				ids = []int{lm.BOS}
			} else if ids, err = lm.EncodePrompt(j.Prompt); err != nil {
				return err
			}
		}
		if len(ids) == 0 {
			return fmt.Errorf("prompt %d is empty and the model has no BOS token", n+1)
		}
		// Stream: print what the decoded text gained, once it is valid UTF-8.
		var newIDs []int
		printed := 0
		stream := enc == nil && lm.Tokenizer != nil
		if stream && j.Prompt != "" {
			fmt.Fprint(out, j.Prompt)
		}
		res, err := gen.Generate([][]int{ids}, opt, func(_, tok int) {
			if !stream {
				return
			}
			newIDs = append(newIDs, tok)
			text := lm.Continuation(ids, newIDs)
			if utf8.ValidString(text) && len(text) > printed {
				fmt.Fprint(out, text[printed:])
				printed = len(text)
			}
		})
		if err != nil {
			return err
		}
		newTok := res.New[0]
		text := lm.Continuation(ids, newTok)
		switch {
		case enc != nil:
			if err := enc.Encode(map[string]any{"prompt": j.Prompt, "input_ids": ids, "output_ids": newTok, "text": text}); err != nil {
				return err
			}
		case stream:
			fmt.Fprintln(out)
		default:
			b, _ := json.Marshal(map[string]any{"input_ids": ids, "output_ids": newTok})
			fmt.Fprintln(out, string(b))
		}
	}
	return nil
}
