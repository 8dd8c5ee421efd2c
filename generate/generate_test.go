package generate_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/generate"
	"github.com/gotune/gotune/models/llama"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
)

const llamaDir = "../testdata/fixtures/llama-causal"

func loadLlama(t *testing.T) (*llama.Config, *nn.Params) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(llamaDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := llama.ParseConfig(raw, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := safetensors.ReadFile(filepath.Join(llamaDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	p := nn.NewParams()
	for _, tt := range w.Tensors {
		if err := p.Set(tt.Name, tt.Shape, tt.F32); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, p
}

// TestGreedyParity reproduces transformers' generate on the llama-causal
// fixture (left-padded prompts): sequences exactly and every step's logits
// to 1e-5, both with the KV cache and recomputing the full sequence.
func TestGreedyParity(t *testing.T) {
	cfg, p := loadLlama(t)
	var in struct {
		Generate struct {
			InputIDs      [][]int `json:"input_ids"`
			AttentionMask [][]int `json:"attention_mask"`
			MaxNewTokens  int     `json:"max_new_tokens"`
			PadTokenID    int     `json:"pad_token_id"`
			EOSTokenID    int     `json:"eos_token_id"`
		} `json:"generate"`
	}
	b, err := os.ReadFile(filepath.Join(llamaDir, "inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	exp, err := safetensors.ReadFile(filepath.Join(llamaDir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var prompts [][]int
	for i, row := range in.Generate.InputIDs {
		var pr []int
		for j, id := range row {
			if in.Generate.AttentionMask[i][j] == 1 {
				pr = append(pr, id)
			}
		}
		prompts = append(prompts, pr)
	}
	backend, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	gen := generate.New(backend, llama.LM{Config: cfg}, p, nil)
	want := exp.Get("generate.sequences")
	wantLogits := exp.Get("generate.logits")
	for _, noCache := range []bool{false, true} {
		res, err := gen.Generate(prompts, generate.Options{MaxNewTokens: in.Generate.MaxNewTokens, PadID: in.Generate.PadTokenID,
			StopTokens: []int{in.Generate.EOSTokenID}, NoCache: noCache, KeepLogits: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cols := want.Shape[1]
		for i, row := range res.Sequences {
			for j, id := range row {
				if int64(id) != want.I64[i*cols+j] {
					t.Fatalf("noCache=%v: sequence %d = %v, want %v", noCache, i, row, want.I64[i*cols:(i+1)*cols])
				}
			}
		}
		// generate.logits is [rows, steps, vocab].
		steps, vocab := wantLogits.Shape[1], wantLogits.Shape[2]
		var maxDiff float64
		for s, rows := range res.Logits {
			for i, l := range rows {
				for v := range l {
					maxDiff = math.Max(maxDiff, math.Abs(float64(l[v]-wantLogits.F32[(i*steps+s)*vocab+v])))
				}
			}
		}
		if maxDiff > 1e-5 {
			t.Errorf("noCache=%v: generate.logits max |diff| = %.3g > 1e-5", noCache, maxDiff)
		} else {
			t.Logf("noCache=%v: generate.sequences exact; generate.logits max |diff| = %.3g", noCache, maxDiff)
		}
	}
}
