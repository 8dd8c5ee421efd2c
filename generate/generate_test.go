package generate_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gotune/gotune/generate"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/models/llama"
)

const llamaDir = "../testdata/fixtures/llama-causal"

// TestGreedyParity reproduces transformers' generate on the llama-causal
// fixture (left-padded prompts): sequences exactly and every step's logits
// to 1e-5, both with the KV cache and recomputing the full sequence.
func TestGreedyParity(t *testing.T) {
	cfg, p := fixture.Model(t, llamaDir, llama.ParseConfig)
	var in struct {
		Generate struct {
			InputIDs      [][]int `json:"input_ids"`
			AttentionMask [][]int `json:"attention_mask"`
			MaxNewTokens  int     `json:"max_new_tokens"`
			PadTokenID    int     `json:"pad_token_id"`
			EOSTokenID    int     `json:"eos_token_id"`
		} `json:"generate"`
	}
	fixture.ReadJSON(t, filepath.Join(llamaDir, fixture.InputsFile), &in)
	exp := fixture.Expected(t, llamaDir)
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
	gen := generate.New(fixture.Backend(t), llama.LM{Config: cfg}, p, nil)
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

// TestLoadPytorchBin: a decoder folder with only pytorch_model.bin loads
// the same weights as its safetensors (the one checkpoint reader).
func TestLoadPytorchBin(t *testing.T) {
	dir := testmodel.NewDecoder(t)
	want, err := generate.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := fixture.SafetensorsToTorch(filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "pytorch_model.bin")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "model.safetensors"))
	got, err := generate.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Params.Names(), want.Params.Names()) {
		t.Fatalf("weights %v, want %v", got.Params.Names(), want.Params.Names())
	}
	for _, n := range want.Params.Names() {
		a, _ := want.Params.Value(n)
		b, _ := got.Params.Value(n)
		if !slices.Equal(a, b) {
			t.Errorf("%s differs", n)
		}
	}
}
