package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/gotune/gotune/models/llama"
)

// The GPT-2 small shape has the peer's parameter counts: GPT2LMHeadModel
// (tied head) 124,439,808; PEFT LoRA r=8 on c_attn 294,912 trainable.
func TestGPT2ParamCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("initialises 124M weights")
	}
	for _, c := range []struct {
		method    string
		trainable int64
	}{{"full", 124439808}, {"lora", 294912}} {
		o := Options{Model: "gpt2", Method: c.method, Dropout: 0.1}
		s, total, err := prepare(&o)
		if err != nil {
			t.Fatal(err)
		}
		_, trainable := s.m.Params().Count()
		if total != 124439808 || trainable != c.trainable {
			t.Errorf("%s: params_total %d, trainable %d; want 124439808, %d", c.method, total, trainable, c.trainable)
		}
		if o.Batch != 4 || o.Seq != 256 {
			t.Errorf("%s: batch × seq %d × %d; want 4 × 256", c.method, o.Batch, o.Seq)
		}
		if len(s.in) != 3 || s.in[2].Shape().Dimensions[1] != 256 {
			t.Errorf("%s: inputs %v", c.method, s.in)
		}
	}
}

// Every GPT-2 method runs end to end on a tiny shape; BERT-only methods
// are refused.
func TestGPT2TinyRuns(t *testing.T) {
	for _, m := range []string{"full", "lora", "infer"} {
		r, err := Run(Options{Model: "gpt2-tiny", Method: m, Warmup: 1, Steps: 1, Dropout: 0.1})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if len(r.StepMS) != 1 || r.MedianMS <= 0 || r.Batch != 2 || r.Seq != 32 {
			t.Errorf("%s: %+v", m, r)
		}
		if m == "lora" && (r.ParamsTrainable != 2*(8*64+3*64*8) || r.ParamsTotal == r.ParamsTrainable) {
			t.Errorf("lora: total %d trainable %d", r.ParamsTotal, r.ParamsTrainable)
		}
	}
	for _, m := range []string{"head", "freeze8"} {
		if _, err := Run(Options{Model: "gpt2-tiny", Method: m, Steps: 1}); err == nil {
			t.Errorf("%s on gpt2: no error", m)
		}
	}
}

// The BERT shapes still run, and params_total is the model's before the
// method's own weights (as the peer counts it).
func TestBERTTinyLoRA(t *testing.T) {
	r, err := Run(Options{Model: "tiny", Method: "lora", Warmup: 1, Steps: 1, Dropout: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	full, err := Run(Options{Model: "tiny", Method: "head", Warmup: 0, Steps: 1, Dropout: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if r.ParamsTotal != full.ParamsTotal {
		t.Errorf("lora params_total %d, model has %d", r.ParamsTotal, full.ParamsTotal)
	}
}

// The llama-1b shape has Llama-3.2-1B's parameter count (1,235,814,400,
// tied embeddings), counted from the shapes without initialising them; the
// tiny shape trains with LoRA r 16 on all seven linear layers of each block.
func TestLlamaShapes(t *testing.T) {
	cfg, b, s, err := LlamaConfig("llama-1b")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sh := range llama.ParamShapes(cfg, llama.HeadCausalLM, 0) {
		k := int64(1)
		for _, d := range sh {
			k *= int64(d)
		}
		n += k
	}
	if n != 1235814400 || b != 4 || s != 1024 {
		t.Errorf("llama-1b: %d parameters, batch × seq %d × %d; want 1235814400, 4 × 1024", n, b, s)
	}
	r, err := Run(Options{Model: "llama-tiny", Method: "lora", Warmup: 1, Steps: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Per block, r·(in+out) for q, k, v, o (64→64, 64→32, 64→32, 64→64)
	// and gate, up, down (64→128, 64→128, 128→64).
	perLayer := int64(16 * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64) + 3*(64+128)))
	if r.ParamsTrainable != 2*perLayer || r.TokensPerS <= 0 || r.Device == "" {
		t.Errorf("llama-tiny lora: trainable %d (want %d), tokens/s %v, device %q", r.ParamsTrainable, 2*perLayer, r.TokensPerS, r.Device)
	}
}

// TestQuantizeBaseDecoders runs LoRA steps on NF4 and int8 bases of the
// tiny GPT-2 (Conv1D, [in, out] weights) and LLaMA shapes: the losses are
// finite and within 0.05 of the float32 base's first loss (same seed and
// batch, LoRA B = 0 at the start) but not equal to it, and full fine-tuning
// (nothing frozen to quantise) is refused.
func TestQuantizeBaseDecoders(t *testing.T) {
	for _, model := range []string{"gpt2-tiny", "llama-tiny"} {
		ref, err := Run(Options{Model: model, Method: "lora", Steps: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"nf4", "int8"} {
			r, err := Run(Options{Model: model, Method: "lora", Steps: 2, QuantizeBase: q})
			if err != nil {
				t.Fatalf("%s %s: %v", model, q, err)
			}
			if r.QuantizedBytes == 0 {
				t.Errorf("%s %s: nothing quantised", model, q)
			}
			if d := math.Abs(r.Losses[0] - ref.Losses[0]); !(d < 0.05) || d == 0 {
				t.Errorf("%s %s: first loss %v, float32 base %v", model, q, r.Losses[0], ref.Losses[0])
			}
			for _, l := range r.Losses {
				if math.IsNaN(l) || math.IsInf(l, 0) {
					t.Errorf("%s %s: loss %v", model, q, l)
				}
			}
		}
	}
	if _, err := Run(Options{Model: "llama-tiny", Method: "full", Steps: 1, QuantizeBase: "nf4"}); err == nil || !strings.Contains(err.Error(), "no frozen linear layer") {
		t.Errorf("full fine-tuning with --quantize-base: error %v", err)
	}
}
