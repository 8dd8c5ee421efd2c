package ptuning_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
)

const (
	fixtures = "../../testdata/fixtures/bert-prefix"
	baseDir  = "../../testdata/fixtures/bert-seqcls"
)

// logits runs the classifier's evaluation graph (built afresh).
func logits(t *testing.T, m *classify.Classifier, in []*tensors.Tensor) []float32 {
	t.Helper()
	v, _ := fixture.Evaluate(t, m.NewRunner, in)
	return v
}

// TestPEFTPrefixAdapters loads the prefix adapters PEFT wrote (with and
// without projection) and reproduces PEFT's evaluation logits and the
// per-layer prefix keys and values PEFT feeds the model.
func TestPEFTPrefixAdapters(t *testing.T) {
	exp := fixture.Expected(t, fixtures)
	in := fixture.Encoder(t, fixtures).Tensors()
	for _, v := range []string{"prefix", "prefix-proj"} {
		m, l, err := ptuning.LoadModel("", filepath.Join(fixtures, v), func(w string) { t.Error(w) })
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if l.Kind != ptuning.Prefix || len(m.NewHead) != 0 {
			t.Fatalf("%s: kind %s, new head %v", v, l.Kind, m.NewHead)
		}
		if _, tr := m.P.Count(); tr != 0 {
			t.Errorf("%s: a loaded adapter has %d trainable weights", v, tr)
		}
		fixture.Compare(t, v+".logits", logits(t, m, in), exp.Get(v+".logits"), 1e-5)
		checkPastKV(t, m, v, exp)
	}
}

// checkPastKV compares the hook's keys and values of every layer with
// PEFT's past_key_values (batch row 0, [heads, P, head_dim]).
func checkPastKV(t *testing.T, m *classify.Classifier, v string, exp *safetensors.File) {
	t.Helper()
	var hook nn.PrefixHook
	for _, h := range m.Hooks {
		if ph, ok := h.(nn.PrefixHook); ok {
			hook = ph
		}
	}
	layers, heads := m.Cfg.NumHiddenLayers, m.Cfg.NumAttentionHeads
	dh := m.Cfg.HiddenSize / heads
	exec, err := nn.NewModelExec(fixture.Backend(t), m.P, func(_ *Graph, xs []*Node) []*Node {
		c := &nn.Ctx{G: xs[0].Graph(), P: m.P, Hooks: m.Hooks}
		var out []*Node
		for l := 0; l < layers; l++ {
			k, val := hook.PrefixKV(c, l, 2, heads, dh)
			for _, x := range []*Node{k, val} { // row 0 as [heads, P, head_dim]
				out = append(out, TransposeAllAxes(Squeeze(Slice(x, AxisElem(0)), 0), 1, 0, 2))
			}
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(tensors.FromValue(int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	for l := 0; l < layers; l++ {
		for i, kv := range []string{"key", "value"} {
			name := v + ".past_key_values.layer" + string(rune('0'+l)) + "." + kv
			fixture.Compare(t, name, fixture.Flat(outs[2*l+i]), exp.Get(name), 1e-6)
		}
	}
}

// prepared returns the fixture base with the method prepared as PEFT's
// trainable model was (get_peft_model + the fixture's weights), dropouts
// off.
func prepared(t *testing.T, v string) (*classify.Classifier, *ptuning.Method) {
	t.Helper()
	m, err := classify.Load(baseDir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	m.Cfg.HiddenDropoutProb, m.Cfg.AttentionProbsDropoutProb = 0, 0
	cfg := ptuning.Config{NumVirtualTokens: 5}
	if v == "prefix-proj" {
		cfg.PrefixProjection, cfg.EncoderHiddenSize = true, 16
	}
	meth, err := ptuning.New(ptuning.Prefix, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := meth.Prepare(m); err != nil {
		t.Fatal(err)
	}
	ad, err := safetensors.ReadFile(filepath.Join(fixtures, v, ptuning.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	set := func(name string, src *safetensors.Tensor) {
		t.Helper()
		if src == nil {
			t.Fatalf("%s: no fixture tensor for %s", v, name)
		}
		if err := m.P.Set(name, src.Shape, src.F32); err != nil {
			t.Fatal(err)
		}
	}
	set("classifier.weight", ad.Get("base_model.classifier.weight"))
	set("classifier.bias", ad.Get("base_model.classifier.bias"))
	if v == "prefix" {
		set(ptuning.ParamEmbedding, ad.Get(ptuning.KeyPrompt))
	} else {
		exp := fixture.Expected(t, fixtures)
		for _, n := range []string{ptuning.ParamEmbedding, ptuning.ParamDown, ptuning.ParamDownBias, ptuning.ParamUp, ptuning.ParamUpBias} {
			set(n, exp.Get("prefix-proj.encoder."+strings.TrimPrefix(n, "prompt_encoder.")))
		}
	}
	return m, meth
}

// TestPEFTPrefixTrainGradients checks the train-mode loss, logits and the
// gradient of every trainable weight (prompt encoder, classifier) against
// PEFT's, with and without projection.
func TestPEFTPrefixTrainGradients(t *testing.T) {
	exp := fixture.Expected(t, fixtures)
	in := fixture.Encoder(t, fixtures).Tensors()
	for _, v := range []string{"prefix", "prefix-proj"} {
		m, _ := prepared(t, v)
		var keys, params []string
		for _, tt := range exp.Tensors {
			key, ok := strings.CutPrefix(tt.Name, v+".grad.")
			if !ok {
				continue
			}
			keys = append(keys, key)
			params = append(params, strings.TrimPrefix(key, "base_model."))
		}
		want := map[string]int{"prefix": 3, "prefix-proj": 7}[v]
		if len(keys) != want {
			t.Fatalf("%s: fixture has %d gradients, want %d", v, len(keys), want)
		}
		// Exactly PEFT's trainable weights train.
		var trainable []string
		for _, n := range m.P.Names() {
			if m.P.Trainable(n) {
				trainable = append(trainable, n)
			}
		}
		if !slices.Equal(trainable, slices.Sorted(slices.Values(params))) {
			t.Errorf("%s: trainable %v, PEFT trains %v", v, trainable, params)
		}
		exec, err := nn.NewModelExec(fixture.Backend(t), m.P, func(_ *Graph, xs []*Node) []*Node {
			loss, lg := m.Loss(xs[0].Graph(), xs, true)
			c := &nn.Ctx{G: xs[0].Graph(), P: m.P}
			ws := make([]*Node, len(params))
			for i, n := range params {
				ws[i] = c.Weight(n)
			}
			return append([]*Node{loss, lg}, Gradient(loss, ws...)...)
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec(in[0], in[1], in[2], in[3])
		if err != nil {
			t.Fatal(err)
		}
		fixture.Compare(t, v+".train.loss", fixture.Flat(outs[0]), exp.Get(v+".train.loss"), 1e-5)
		fixture.Compare(t, v+".train.logits", fixture.Flat(outs[1]), exp.Get(v+".train.logits"), 1e-5)
		for i, k := range keys {
			fixture.Compare(t, v+".grad."+k, fixture.Flat(outs[2+i]), exp.Get(v+".grad."+k), 1e-5)
		}
		checkPastKV(t, m, v, exp) // with projection: the MLP in the graph
	}
}

// TestTrainableCount checks the trainable weights against PEFT's
// print_trainable_parameters for the fixture's configurations.
func TestTrainableCount(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want int64
	}{
		// prompt table 5×(2·2·32) + classifier 3×32+3
		{"prefix", 5*128 + 99},
		// embedding 5×32 + Linear(32→16) + Linear(16→128) + classifier
		{"prefix-proj", 5*32 + (32*16 + 16) + (16*128 + 128) + 99},
	} {
		m, meth := prepared(t, tc.v)
		_, tr := m.P.Count()
		if tr != tc.want || meth.TrainableCount(m) != tc.want {
			t.Errorf("%s: %d trainable (method says %d), PEFT %d", tc.v, tr, meth.TrainableCount(m), tc.want)
		}
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	var v map[string]any
	fixture.ReadJSON(t, path, &v)
	return v
}

// TestSaveMatchesPEFT saves the prepared fixture models and compares with
// PEFT's folders: the same config keys and values (but the base path), the
// same tensor names and shapes, prompt_embeddings equal to PEFT's (with
// projection: the MLP's output); the saved folder reloads to PEFT's
// logits.
func TestSaveMatchesPEFT(t *testing.T) {
	exp := fixture.Expected(t, fixtures)
	in := fixture.Encoder(t, fixtures).Tensors()
	for _, v := range []string{"prefix", "prefix-proj"} {
		m, meth := prepared(t, v)
		dir := filepath.Join(t.TempDir(), v)
		if err := meth.Save(m, dir); err != nil {
			t.Fatal(err)
		}
		got, want := readJSON(t, filepath.Join(dir, ptuning.ConfigFile)), readJSON(t, filepath.Join(fixtures, v, ptuning.ConfigFile))
		abs, _ := filepath.Abs(baseDir)
		if got["base_model_name_or_path"] != abs {
			t.Errorf("%s: base_model_name_or_path %v, want %s", v, got["base_model_name_or_path"], abs)
		}
		got["base_model_name_or_path"] = want["base_model_name_or_path"]
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%s: adapter_config.json\n got %s\nwant %s", v, gb, wb)
		}
		gf, err := safetensors.ReadFile(filepath.Join(dir, ptuning.WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		wf, err := safetensors.ReadFile(filepath.Join(fixtures, v, ptuning.WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		if len(gf.Tensors) != len(wf.Tensors) {
			t.Errorf("%s: %d tensors, PEFT writes %d", v, len(gf.Tensors), len(wf.Tensors))
		}
		for _, w := range wf.Tensors {
			g := gf.Get(w.Name)
			if g == nil || !slices.Equal(g.Shape, w.Shape) {
				t.Errorf("%s: tensor %s missing or shaped differently", v, w.Name)
				continue
			}
			fixture.Compare(t, v+" saved "+w.Name, g.F32, w, 1e-6)
		}
		if v == "prefix-proj" {
			fixture.Compare(t, v+".prompt_embeddings (MLP output)", gf.Get(ptuning.KeyPrompt).F32, exp.Get("prefix-proj.prompt_embeddings"), 1e-6)
			if _, err := os.Stat(filepath.Join(dir, ptuning.EncoderFile)); err != nil {
				t.Errorf("the projection's weights are not kept: %v", err)
			}
		}
		// Reload: the same outputs as the trained model.
		before := logits(t, m, in)
		m2, _, err := ptuning.LoadModel("", dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		after := logits(t, m2, in)
		if d := fixture.MaxDiff(before, after); d > 1e-6 {
			t.Errorf("%s: reloaded logits differ by %g", v, d)
		}
		fixture.Compare(t, v+" reloaded logits", after, exp.Get(v+".logits"), 1e-5)
	}
}

// TestPrefixLayoutGQA checks the hook's key/value layout for a model with
// grouped-query attention against PEFT's past_key_values of the LLaMA
// fixture (2 layers, 2 key/value heads of 8 for 4 query heads: token_dim
// 16, the key/value width, not the hidden size).
func TestPrefixLayoutGQA(t *testing.T) {
	const dir = "../../testdata/fixtures/llama-prefix"
	l, err := ptuning.ReadAdapter(filepath.Join(dir, "prefix"))
	if err != nil {
		t.Fatal(err)
	}
	if l.TokenDim != 16 || l.Heads != 2 || l.Layers != 2 || len(l.Warnings) != 1 { // task_type CAUSAL_LM
		t.Fatalf("llama-prefix config: %+v", l)
	}
	exp, err := safetensors.ReadFile(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	p := nn.NewParams()
	pe := l.Tensors.Get(ptuning.KeyPrompt)
	if err := p.Set(ptuning.ParamEmbedding, pe.Shape, pe.F32); err != nil {
		t.Fatal(err)
	}
	h := &ptuning.PrefixHook{P: 4, Shape: ptuning.Shape{Layers: 2, Hidden: 32, KVHeads: 2, HeadDim: 8}}
	exec, err := nn.NewModelExec(fixture.Backend(t), p, func(_ *Graph, xs []*Node) []*Node {
		c := &nn.Ctx{G: xs[0].Graph(), P: p}
		var out []*Node
		for layer := 0; layer < 2; layer++ {
			k, v := h.PrefixKV(c, layer, 3, 2, 8)
			for _, x := range []*Node{k, v} {
				out = append(out, TransposeAllAxes(Squeeze(Slice(x, AxisElem(0)), 0), 1, 0, 2))
			}
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(tensors.FromValue(int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	for layer := 0; layer < 2; layer++ {
		for i, kv := range []string{"key", "value"} {
			name := "past_key_values.layer" + string(rune('0'+layer)) + "." + kv
			fixture.Compare(t, "llama-prefix."+name, fixture.Flat(outs[2*layer+i]), exp.Get(name), 0)
		}
	}
}
