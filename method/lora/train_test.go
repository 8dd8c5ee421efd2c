package lora_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotune/gotune/bench"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/train"
)

var testLabels = []string{"neg", "neu", "pos"}

// trained prepares LoRA on the fixture base and trains a few steps.
func trained(t *testing.T, cfg lora.Config, steps int) (*classify.Classifier, *lora.Method) {
	t.Helper()
	m, err := classify.Load(baseDir, testLabels, 1)
	if err != nil {
		t.Fatal(err)
	}
	meth, err := lora.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := meth.Prepare(m); err != nil {
		t.Fatal(err)
	}
	if err := m.P.SeedRNG(3); err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(fixture.Backend(t), m, train.Options{LR: 1e-2, Schedule: train.Constant, LRScale: meth.LRScale})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tr.TrainableNames() {
		if !strings.HasPrefix(n, "lora.") && (cfg.Bias == "" || !strings.HasSuffix(n, ".bias")) {
			t.Fatalf("base weight %s trains", n)
		}
	}
	for i := 0; i < steps; i++ {
		if _, err := tr.TrainStep(fixture.Encoder(t, fixtures).Tensors()); err != nil {
			t.Fatal(err)
		}
	}
	return m, meth
}

func readJSONMap(t *testing.T, path string) map[string]any {
	t.Helper()
	var v map[string]any
	fixture.ReadJSON(t, path, &v)
	return v
}

// TestTrainSaveReload: an adapter we train has PEFT's tensor names, shapes
// and config keys for the same config, and reloads to identical outputs.
func TestTrainSaveReload(t *testing.T) {
	m, meth := trained(t, lora.Config{R: 4, Alpha: 8}, 3)
	in := fixture.Encoder(t, fixtures).Tensors()
	want := logits(t, m, in)
	dir := filepath.Join(t.TempDir(), "adapter")
	if err := meth.Save(m, dir); err != nil {
		t.Fatal(err)
	}
	ours, err := safetensors.ReadFile(filepath.Join(dir, lora.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	peft, err := safetensors.ReadFile(filepath.Join(fixtures, "lora", lora.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(ours.Tensors) != len(peft.Tensors) {
		t.Errorf("we save %d tensors, PEFT %d", len(ours.Tensors), len(peft.Tensors))
	}
	for _, pt := range peft.Tensors {
		o := ours.Get(pt.Name)
		if o == nil {
			t.Errorf("tensor %s missing from our adapter", pt.Name)
		} else if !slices.Equal(o.Shape, pt.Shape) {
			t.Errorf("tensor %s: shape %v, PEFT %v", pt.Name, o.Shape, pt.Shape)
		}
	}
	oc, pc := readJSONMap(t, filepath.Join(dir, lora.ConfigFile)), readJSONMap(t, filepath.Join(fixtures, "lora", lora.ConfigFile))
	for k, pv := range pc {
		ov, ok := oc[k]
		if !ok {
			t.Errorf("adapter_config.json lacks %q", k)
			continue
		}
		if k == "base_model_name_or_path" {
			continue
		}
		pj, _ := json.Marshal(pv)
		oj, _ := json.Marshal(ov)
		if string(pj) != string(oj) {
			t.Errorf("adapter_config.json %q: %s, PEFT %s", k, oj, pj)
		}
	}
	for k := range oc {
		if _, ok := pc[k]; !ok {
			t.Errorf("adapter_config.json has key %q that PEFT does not write", k)
		}
	}
	if b, _ := oc["base_model_name_or_path"].(string); !filepath.IsAbs(b) {
		t.Errorf("base_model_name_or_path %q is not absolute", b)
	}

	m2, _, err := lora.LoadModel("", []string{dir}, func(w string) { t.Errorf("warning: %s", w) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m2.Labels(), testLabels) {
		t.Errorf("reloaded labels %v, want %v", m2.Labels(), testLabels)
	}
	got := logits(t, m2, in)
	if d := fixture.MaxDiff(got, want); d != 0 {
		t.Errorf("reloaded adapter: logits differ by %g", d)
	}
	// Older PEFT saved adapter_model.bin (a torch.save state dict).
	if err := fixture.SafetensorsToTorch(filepath.Join(dir, lora.WeightsFile), filepath.Join(dir, "adapter_model.bin")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, lora.WeightsFile))
	m3, _, err := lora.LoadModel("", []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := fixture.MaxDiff(logits(t, m3, in), want); d != 0 {
		t.Errorf("adapter_model.bin: logits differ by %g", d)
	}
}

// TestSeededInit: the same seed gives the same adapter.
func TestSeededInit(t *testing.T) {
	m1, _ := trained(t, lora.Config{R: 2}, 0)
	m2, _ := trained(t, lora.Config{R: 2}, 0)
	n := lora.ParamA(lora.DefaultAdapter, "bert.encoder.layer.1.attention.self.value")
	a, _ := m1.P.Value(n)
	b, _ := m2.P.Value(n)
	if fixture.MaxDiff(a, b) != 0 || len(a) != 2*32 {
		t.Errorf("adapter init is not reproducible (%d values)", len(a))
	}
	bz, _ := m1.P.Value(lora.ParamB(lora.DefaultAdapter, "bert.encoder.layer.1.attention.self.value"))
	for _, v := range bz {
		if v != 0 {
			t.Fatal("B does not start at zero")
		}
	}
	bound := 1 / math.Sqrt(32)
	for _, v := range a {
		if math.Abs(float64(v)) > bound {
			t.Fatalf("A value %g outside the Kaiming-uniform bound %g", v, bound)
		}
	}
}

// TestTrainableCount: BERT-base, r=8 on query,value = PEFT's 294,912 plus
// the head, from shapes alone.
func TestTrainableCount(t *testing.T) {
	cfg, _, _, err := bench.Config("bert-base", 0)
	if err != nil {
		t.Fatal(err)
	}
	shapes := bert.ParamShapes(cfg, bert.HeadSeqCls, 2)
	head := bert.HeadParams(cfg)
	lc := lora.Config{R: 8, Alpha: 16, Targets: []string{"query", "value"}}
	mods, err := lc.Plan("bert", shapes, head)
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 24 {
		t.Errorf("%d modules, want 24", len(mods))
	}
	if n := lc.TrainableCount(mods, shapes, head); n != 294912+768*2+2 {
		t.Errorf("trainable %d, want %d", n, 294912+768*2+2)
	}
	// PEFT's default targets for bert are query, value.
	if mods2, _ := (lora.Config{}).Plan("bert", shapes, head); len(mods2) != 24 {
		t.Errorf("default targets: %d modules", len(mods2))
	}
	all, err := lora.Config{Targets: []string{lora.AllLinear}}.Plan("bert", shapes, head)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 12*6+1 { // q, k, v, attention out, intermediate, output per layer; pooler
		t.Errorf("all-linear: %d modules, want 73", len(all))
	}
	for _, m := range all {
		if strings.HasPrefix(m.Name, "classifier") {
			t.Errorf("all-linear targets the head %s", m.Name)
		}
	}
}

func TestTargetSpecs(t *testing.T) {
	m, err := classify.Load(baseDir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int{}
	for _, n := range m.P.Names() {
		shapes[n] = m.P.Shape(n)
	}
	head := m.HeadParams()
	names := func(c lora.Config) []string {
		mods, err := c.Plan("bert", shapes, head)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range mods {
			out = append(out, m.Name)
		}
		return out
	}
	got := names(lora.Config{Targets: []string{"dense"}, LayersToTransform: []int{1}, Exclude: []string{"output.dense"}})
	if !slices.Equal(got, []string{"bert.encoder.layer.1.intermediate.dense"}) {
		t.Errorf("dense, layer 1, minus output.dense: %v", got)
	}
	got = names(lora.Config{TargetRegex: `.*\.0\..*(query|key)`})
	if !slices.Equal(got, []string{"bert.encoder.layer.0.attention.self.key", "bert.encoder.layer.0.attention.self.query"}) {
		t.Errorf("regex: %v", got)
	}
	mods, err := lora.Config{R: 4, RankPattern: map[string]int{`layer\.1\.attention\.self\.query`: 2}, AlphaPattern: map[string]float64{"value": 16}}.Plan("bert", shapes, head)
	if err != nil {
		t.Fatal(err)
	}
	for _, md := range mods {
		switch {
		case md.Name == "bert.encoder.layer.1.attention.self.query" && (md.R != 2 || md.Scale != 4):
			t.Errorf("rank pattern: %+v", md)
		case strings.HasSuffix(md.Name, "value") && (md.R != 4 || md.Scale != 4):
			t.Errorf("alpha pattern: %+v", md)
		}
	}
	_, err = lora.Config{Targets: []string{"qkv"}}.Plan("bert", shapes, head)
	if err == nil || !strings.Contains(err.Error(), "matches no linear layer") || !strings.Contains(err.Error(), "query (e.g. bert.encoder.layer.0.attention.self.query)") {
		t.Errorf("a spec matching nothing: %v", err)
	}
}

// TestDoRA: DoRA starts equal to LoRA (magnitude = ‖W‖), trains, merges to
// the same outputs and unmerges to the base weights; its magnitude vectors
// are saved under PEFT's name.
func TestDoRA(t *testing.T) {
	in := fixture.Encoder(t, fixtures).Tensors()
	plain, _ := trained(t, lora.Config{R: 4, Init: "none"}, 0)
	dora, _ := trained(t, lora.Config{R: 4, Init: "none", UseDoRA: true}, 0)
	if d := fixture.MaxDiff(logits(t, plain, in), logits(t, dora, in)); d > 1e-5 {
		t.Errorf("DoRA at init differs from LoRA by %g", d)
	}
	m, meth := trained(t, lora.Config{R: 4, UseDoRA: true, Targets: []string{lora.AllLinear}}, 3)
	q := "bert.encoder.layer.0.attention.self.query.weight"
	base, _ := m.P.Value(q)
	want := logits(t, m, in)
	h := meth.Hook()
	if err := h.Merge(m.P, lora.DefaultAdapter); err != nil {
		t.Fatal(err)
	}
	if d := fixture.MaxDiff(logits(t, m, in), want); d > 1e-5 {
		t.Errorf("DoRA merged logits differ by %g", d)
	}
	if err := h.Unmerge(m.P); err != nil {
		t.Fatal(err)
	}
	back, _ := m.P.Value(q)
	if d := fixture.MaxDiff(back, base); d > 1e-6 {
		t.Errorf("unmerge left the weights %g away", d)
	}
	dir := filepath.Join(t.TempDir(), "dora")
	if err := meth.Save(m, dir); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(filepath.Join(dir, lora.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if mv := f.Get("base_model.model.bert.encoder.layer.0.attention.self.query.lora_magnitude_vector"); mv == nil || !slices.Equal(mv.Shape, []int{32}) {
		t.Errorf("magnitude vector missing or misshapen")
	}
	m2, _, err := lora.LoadModel("", []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := fixture.MaxDiff(logits(t, m2, in), want); d != 0 {
		t.Errorf("reloaded DoRA adapter differs by %g", d)
	}
}

// TestLoRAPlusAndBias: LoRA+ scales B's rate only; bias=all trains and
// saves every bias under PEFT's names.
func TestLoRAPlusAndBias(t *testing.T) {
	m, meth := trained(t, lora.Config{R: 2, LoRAPlusLRRatio: 16, Bias: "all"}, 1)
	if s := meth.LRScale(lora.ParamB(lora.DefaultAdapter, "x")); s != 16 {
		t.Errorf("B scale %g", s)
	}
	if s := meth.LRScale(lora.ParamA(lora.DefaultAdapter, "x")); s != 1 {
		t.Errorf("A scale %g", s)
	}
	dir := filepath.Join(t.TempDir(), "bias")
	if err := meth.Save(m, dir); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(filepath.Join(dir, lora.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"base_model.model.bert.encoder.layer.0.attention.self.query.base_layer.bias",
		"base_model.model.bert.encoder.layer.0.attention.self.key.bias", "base_model.model.bert.embeddings.LayerNorm.bias"} {
		if f.Get(k) == nil {
			t.Errorf("bias=all: %s not saved", k)
		}
	}
	in := fixture.Encoder(t, fixtures).Tensors()
	want := logits(t, m, in)
	m2, _, err := lora.LoadModel("", []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := fixture.MaxDiff(logits(t, m2, in), want); d != 0 {
		t.Errorf("reloaded bias=all adapter differs by %g", d)
	}
}

// TestModulesToSave: a modules_to_save entry matches as in PEFT (the module
// name or its last dotted parts, a container such as "pooler" included):
// the matched linear layers train in full and are saved under PEFT's names,
// and the adapter reloads to the same logits; an entry that matches
// nothing is an error listing the candidates.
func TestModulesToSave(t *testing.T) {
	in := fixture.Encoder(t, fixtures).Tensors()
	for _, entry := range []string{"pooler", "pooler.dense", "bert.pooler.dense"} {
		m, meth := trained(t, lora.Config{R: 4, Alpha: 8, ModulesToSave: []string{entry}}, 2)
		a := meth.Adapter()
		if !slices.Contains(a.Saved, "bert.pooler.dense") {
			t.Errorf("%s: saved modules %v lack bert.pooler.dense", entry, a.Saved)
			continue
		}
		base, _ := m.P.Value("bert.pooler.dense.weight")
		copied, _ := m.P.Value(a.SavedParams["bert.pooler.dense.weight"])
		if fixture.MaxDiff(base, copied) == 0 {
			t.Errorf("%s: the pooler's copy did not train", entry)
		}
		dir := filepath.Join(t.TempDir(), "adapter")
		if err := meth.Save(m, dir); err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.ReadFile(filepath.Join(dir, lora.WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		if f.Get("base_model.model.bert.pooler.dense.weight") == nil || f.Get("base_model.model.bert.pooler.dense.bias") == nil {
			t.Errorf("%s: the pooler is not saved under PEFT's names", entry)
		}
		m2, _, err := lora.LoadModel("", []string{dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := fixture.MaxDiff(logits(t, m2, in), logits(t, m, in)); d != 0 {
			t.Errorf("%s: reloaded logits differ by %g", entry, d)
		}
	}
	for _, tc := range []struct{ entry, want string }{
		{"poolr", `modules_to_save "poolr" matches no module`},
		{"ooler", `modules_to_save "ooler" matches no module`},
		{"LayerNorm", "holds no linear layer"},
	} {
		m, err := classify.Load(baseDir, testLabels, 1)
		if err != nil {
			t.Fatal(err)
		}
		meth, err := lora.New(lora.Config{R: 4, Alpha: 8, ModulesToSave: []string{tc.entry}}, 7)
		if err != nil {
			t.Fatal(err)
		}
		err = meth.Prepare(m)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "dense (e.g.") {
			t.Errorf("%s: error %v, want %q and the candidates", tc.entry, err, tc.want)
		}
	}
}
