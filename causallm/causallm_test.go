package causallm_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/nn"
)

const fixtures = "../testdata/fixtures"

// lmOutputs runs the causal-LM graph (hooks included): loss, logits and
// the gradients of the named weights when training.
func lmOutputs(t *testing.T, m *causallm.Model, in *fixture.DecoderInputs, training bool, grads []string) []*tensors.Tensor {
	t.Helper()
	be := fixture.Backend(t)
	exec, err := nn.NewModelExec(be, m.P, func(_ *Graph, xs []*Node) []*Node {
		c := &nn.Ctx{G: xs[0].Graph(), P: m.P, Hooks: m.Hooks, Training: training}
		logits := m.LMLogits(c, xs[0], xs[1])
		loss := nn.CausalLMLoss(logits, xs[2])
		out := []*Node{loss, logits}
		return append(out, fixture.Gradients(c, loss, grads)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(in.InputIDs, in.AttentionMask, in.Labels)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

// TestLoRAParity loads PEFT's CAUSAL_LM LoRA adapters (llama q_proj/v_proj
// and all-linear; GPT-2 c_attn, a Conv1D with fan_in_fan_out) and checks
// logits, loss, the LoRA gradients and the merged model's logits against
// PEFT's at 1e-5.
func TestLoRAParity(t *testing.T) {
	for _, tc := range []struct {
		name, fixture, adapter, key string
		grads                       bool
	}{
		{"llama", "llama-lora", "lora", "lora", true},
		{"llama-all-linear", "llama-lora", "lora-all-linear", "lora-all-linear", false},
		{"gpt2-conv1d", "gpt2-causal", "lora", "lora", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(fixtures, tc.fixture)
			in, exp := fixture.Decoder(t, dir), fixture.Expected(t, dir)
			if tc.fixture == "llama-lora" { // inputs live with the base model's fixture
				in = fixture.Decoder(t, filepath.Join(fixtures, "llama-causal"))
			}
			m, err := causallm.LoadTrained("", filepath.Join(dir, tc.adapter), causallm.CausalLM, nil)
			if err != nil {
				t.Fatal(err)
			}
			m.SetDropout(0) // the reference trains with every dropout at 0
			var grads, keys []string
			if tc.grads {
				for _, e := range exp.Tensors {
					if k, ok := strings.CutPrefix(e.Name, tc.key+".grad.base_model.model."); ok {
						mod, ab, _ := strings.Cut(k, ".lora_")
						part := "lora_" + ab
						if strings.HasPrefix(part, "lora_A") {
							grads = append(grads, lora.ParamA(lora.DefaultAdapter, mod))
						} else {
							grads = append(grads, lora.ParamB(lora.DefaultAdapter, mod))
						}
						keys = append(keys, e.Name)
					}
				}
				if len(grads) == 0 {
					t.Fatal("no gradient references")
				}
			}
			outs := lmOutputs(t, m, in, tc.grads, grads)
			fixture.Compare(t, "loss", fixture.Flat(outs[0]), exp.Get(tc.key+".loss"), 1e-5)
			fixture.Compare(t, "logits", fixture.Flat(outs[1]), exp.Get(tc.key+".logits"), 1e-5)
			for i, k := range keys {
				fixture.Compare(t, k, fixture.Flat(outs[2+i]), exp.Get(k), 1e-5)
			}
			h := m.Hooks[0].(*lora.Hook)
			if err := h.Merge(m.P, lora.DefaultAdapter); err != nil {
				t.Fatal(err)
			}
			outs = lmOutputs(t, m, in, false, nil)
			fixture.Compare(t, "merged logits", fixture.Flat(outs[1]), exp.Get(tc.key+".merged_logits"), 1e-5)
		})
	}
}

// TestSeqClsParity checks LlamaForSequenceClassification (score head on
// the token before the first pad) against transformers, and that a saved
// classifier reloads with its labels.
func TestSeqClsParity(t *testing.T) {
	dir := filepath.Join(fixtures, "llama-causal")
	in, exp := fixture.Decoder(t, dir), fixture.Expected(t, dir)
	m, err := causallm.Load(filepath.Join(dir, "seqcls"), causallm.SeqCls, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Labels(), ","); got != "LABEL_0,LABEL_1" || len(m.NewHead) != 0 {
		t.Fatalf("labels %s, new head %v", got, m.NewHead)
	}
	run := func(m *causallm.Model) []*tensors.Tensor {
		be := fixture.Backend(t)
		exec, err := nn.NewModelExec(be, m.P, func(_ *Graph, xs []*Node) []*Node {
			loss, logits := m.Loss(xs[0].Graph(), xs, false)
			return []*Node{loss, logits}
		})
		if err != nil {
			t.Fatal(err)
		}
		types := make([][]int32, len(in.InputIDs))
		for i, r := range in.InputIDs {
			types[i] = make([]int32, len(r))
		}
		outs, err := exec.Exec(in.InputIDs, types, in.AttentionMask, in.SeqClsLabels)
		if err != nil {
			t.Fatal(err)
		}
		return outs
	}
	outs := run(m)
	fixture.Compare(t, "seqcls.loss", fixture.Flat(outs[0]), exp.Get("seqcls.loss"), 1e-5)
	fixture.Compare(t, "seqcls.logits", fixture.Flat(outs[1]), exp.Get("seqcls.logits"), 1e-5)

	out := filepath.Join(t.TempDir(), "saved")
	if err := m.Save(out); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Architectures []string          `json:"architectures"`
		ID2Label      map[string]string `json:"id2label"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Architectures[0] != "LlamaForSequenceClassification" || cfg.ID2Label["1"] != "LABEL_1" {
		t.Fatalf("saved config: %s", b)
	}
	m2, err := causallm.Load(out, causallm.SeqCls, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	fixture.Compare(t, "reloaded logits", fixture.Flat(run(m2)[1]), exp.Get("seqcls.logits"), 1e-5)
	// A causal-LM checkpoint gets a new, seeded score head for new labels.
	m3, err := causallm.Load(dir, causallm.SeqCls, []string{"neg", "pos", "mixed"}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if s := m3.P.Shape("score.weight"); len(m3.NewHead) != 1 || s[0] != 3 || m3.P.Has("lm_head.weight") {
		t.Fatalf("new head %v, score %v", m3.NewHead, s)
	}
}
