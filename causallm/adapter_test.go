package causallm_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/generate"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/method/adapter"
	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/methods"
	"github.com/gotune/gotune/safetensors"
)

// TestBottleneckAdapters puts every placement of bottleneck adapters on
// the LLaMA and GPT-2 fixtures: the weights have AdapterHub's names
// (attention_adapters / output_adapters of each decoder layer) and the
// count its formula gives; an untrained adapter (zero up-projection)
// leaves the logits as the base's; a trained one changes them and, saved
// and reloaded through LoadTrained, reproduces them exactly; generation
// with the KV cache equals generation without it.
func TestBottleneckAdapters(t *testing.T) {
	for _, tc := range []struct {
		fixture, prefix, modelType, class string
	}{
		{"llama-causal", "model.layers.", "llama", "LlamaForCausalLM"},
		{"gpt2-causal", "transformer.h.", "gpt2", "GPT2LMHeadModel"},
	} {
		for _, placement := range []string{adapter.Pfeiffer, adapter.Houlsby, adapter.Parallel} {
			t.Run(tc.fixture+"/"+placement, func(t *testing.T) {
				dir := filepath.Join(fixtures, tc.fixture)
				in := fixture.Decoder(t, dir)
				m, err := causallm.Load(dir, causallm.CausalLM, nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				m.SetDropout(0)
				base := fixture.Flat(lmOutputs(t, m, in, false, nil)[1])

				cfg := adapter.Config{Placement: placement, ReductionFactor: 4}
				meth, err := adapter.New(cfg, 1, methods.AdapterModules)
				if err != nil {
					t.Fatal(err)
				}
				if err := meth.Prepare(m); err != nil {
					t.Fatal(err)
				}
				a := meth.Adapter()
				sitesPerLayer := len(cfg.Kinds())
				if len(a.Sites) != m.NumLayers()*sitesPerLayer {
					t.Fatalf("%d sites, want %d layers × %d", len(a.Sites), m.NumLayers(), sitesPerLayer)
				}
				h := m.HiddenSize()
				b := adapter.Bottleneck(h, 4)
				var trainable []string
				var count int64
				for _, n := range m.P.Names() {
					if m.P.Trainable(n) {
						trainable = append(trainable, n)
						count += int64(m.P.Size(n))
					}
				}
				if want := int64(len(a.Sites)) * int64(2*h*b+b+h); count != want {
					t.Errorf("%d trainable weights, want %d sites × (2·%d·%d + %d + %d) = %d", count, len(a.Sites), h, b, b, h, want)
				}
				for _, n := range trainable {
					mod, _, ok := strings.Cut(n, ".adapters.default.")
					if !ok || !strings.HasPrefix(mod, tc.prefix) ||
						!(strings.HasSuffix(mod, ".output_adapters") || strings.HasSuffix(mod, ".attention_adapters")) {
						t.Errorf("trainable weight %s is not an AdapterHub adapter weight under %s", n, tc.prefix)
					}
				}
				if placement == adapter.Houlsby && !slices.Contains(trainable, tc.prefix+"0.attention_adapters.adapters.default.adapter_down.0.weight") {
					t.Errorf("houlsby: no attention adapter in layer 0: %v", trainable)
				}

				fresh := fixture.Flat(lmOutputs(t, m, in, false, nil)[1])
				if d := fixture.MaxDiff(fresh, base); d > 1e-6 {
					t.Errorf("untrained adapter changes the logits by %g", d)
				}

				// "Train": give every up-projection values, as training would.
				for _, s := range a.Sites {
					n := s.Param(a.Name, adapter.UpWeight)
					v := make([]float32, m.P.Size(n))
					for i := range v {
						v[i] = float32((i%7)-3) * 0.05
					}
					if err := m.P.Set(n, m.P.Shape(n), v); err != nil {
						t.Fatal(err)
					}
				}
				trained := fixture.Flat(lmOutputs(t, m, in, false, nil)[1])
				if d := fixture.MaxDiff(trained, base); d < 1e-3 {
					t.Fatalf("adapter with weights changes the logits by only %g", d)
				}

				out := filepath.Join(t.TempDir(), "adapter")
				if err := meth.Save(m, out); err != nil {
					t.Fatal(err)
				}
				var top struct {
					ModelType  string `json:"model_type"`
					ModelClass string `json:"model_class"`
				}
				b2, _ := os.ReadFile(filepath.Join(out, adapter.ConfigFile))
				if err := json.Unmarshal(b2, &top); err != nil || top.ModelType != tc.modelType || top.ModelClass != tc.class {
					t.Errorf("adapter_config.json model_type %q, model_class %q; want %q, %q", top.ModelType, top.ModelClass, tc.modelType, tc.class)
				}
				f, err := safetensors.ReadFile(filepath.Join(out, adapter.WeightsFile))
				if err != nil {
					t.Fatal(err)
				}
				if len(f.Tensors) != len(trainable) {
					t.Errorf("%s has %d tensors, want %d", adapter.WeightsFile, len(f.Tensors), len(trainable))
				}
				for _, ts := range f.Tensors {
					if !slices.Contains(trainable, ts.Name) {
						t.Errorf("saved tensor %s is not one of the adapter's weights", ts.Name)
					}
				}

				m2, err := causallm.LoadTrained("", out, causallm.CausalLM, nil)
				if err != nil {
					t.Fatal(err)
				}
				m2.SetDropout(0)
				if d := fixture.MaxDiff(fixture.Flat(lmOutputs(t, m2, in, false, nil)[1]), trained); d != 0 {
					t.Errorf("reloaded adapter's logits differ by %g", d)
				}

				gen, _ := m2.Generator(fixture.Backend(t))
				prompt := []int{int(in.InputIDs[0][0]), int(in.InputIDs[0][1]), int(in.InputIDs[0][2])}
				var got [2][]int
				for i, noCache := range []bool{false, true} {
					res, err := gen.Generate([][]int{prompt}, generate.Options{MaxNewTokens: 6, NoCache: noCache}, nil)
					if err != nil {
						t.Fatal(err)
					}
					got[i] = res.New[0]
				}
				if !slices.Equal(got[0], got[1]) {
					t.Errorf("greedy with KV cache %v, without %v", got[0], got[1])
				}
			})
		}
	}
}

// TestPromptAdapterFilesCausalLM saves prefix and prompt tuning on a causal
// LM: the adapter file holds the prompt only (a causal LM has no head to
// save), as PEFT's does, and reloads to the same logits.
func TestPromptAdapterFilesCausalLM(t *testing.T) {
	dir := filepath.Join(fixtures, "llama-causal")
	in := fixture.Decoder(t, dir)
	for _, kind := range []string{ptuning.Prefix, ptuning.Prompt} {
		t.Run(kind, func(t *testing.T) {
			m, err := causallm.Load(dir, causallm.CausalLM, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			m.SetDropout(0)
			meth, err := ptuning.New(kind, ptuning.Config{NumVirtualTokens: 4}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := meth.Prepare(m); err != nil {
				t.Fatal(err)
			}
			want := fixture.Flat(lmOutputs(t, m, in, false, nil)[1])
			out := filepath.Join(t.TempDir(), kind)
			if err := meth.Save(m, out); err != nil {
				t.Fatal(err)
			}
			f, err := safetensors.ReadFile(filepath.Join(out, ptuning.WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Tensors) != 1 || f.Tensors[0].Name != ptuning.KeyPrompt {
				var names []string
				for _, ts := range f.Tensors {
					names = append(names, ts.Name)
				}
				t.Fatalf("%s holds %d tensors (%v), want only %s", ptuning.WeightsFile, len(names), names, ptuning.KeyPrompt)
			}
			m2, err := causallm.LoadTrained("", out, causallm.CausalLM, nil)
			if err != nil {
				t.Fatal(err)
			}
			m2.SetDropout(0)
			if d := fixture.MaxDiff(fixture.Flat(lmOutputs(t, m2, in, false, nil)[1]), want); d > 1e-5 {
				t.Errorf("reloaded %s adapter's logits differ by %g", kind, d)
			}
		})
	}
}
