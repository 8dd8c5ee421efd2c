package bench

import (
	"testing"
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
