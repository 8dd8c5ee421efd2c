package adapter_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/bench"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/method/adapter"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/train"
)

var labels = []string{"neg", "neu", "pos"}

func arch(names []string) (adapter.Modules, error) {
	m, err := bert.ModulesOf(names)
	if err != nil {
		return nil, err
	}
	return m, nil
}

var baseDir string

// base writes the tiny BERT (dropout on, to check it is off in
// evaluation) once per test binary.
func base(t *testing.T) string {
	t.Helper()
	if baseDir == "" {
		dir, err := os.MkdirTemp("", "gotune-adapter-test")
		if err != nil {
			t.Fatal(err)
		}
		baseDir = filepath.Join(dir, "tiny-bert")
		o := testmodel.Default()
		o.Labels = labels
		if err := testmodel.Write(baseDir, o); err != nil {
			t.Fatal(err)
		}
	}
	return baseDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if baseDir != "" {
		os.RemoveAll(filepath.Dir(baseDir))
	}
	os.Exit(code)
}

// inputs is a seeded batch of 4 sequences of 6 tokens (the last one
// padded) with labels.
func inputs() []*tensors.Tensor {
	rng := rand.New(rand.NewPCG(5, 6))
	n, l := 4, 6
	ids, types, mask := make([]int32, n*l), make([]int32, n*l), make([]int32, n*l)
	for i := range ids {
		ids[i] = int32(5 + rng.IntN(100))
		mask[i] = 1
	}
	mask[n*l-1], mask[n*l-2] = 0, 0
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(ids, n, l),
		tensors.FromFlatDataAndDimensions(types, n, l),
		tensors.FromFlatDataAndDimensions(mask, n, l),
		tensors.FromFlatDataAndDimensions([]int32{0, 1, 2, 1}, n),
	}
}

func logits(t *testing.T, m *classify.Classifier) []float32 {
	t.Helper()
	v, _ := fixture.Evaluate(t, m.NewRunner, inputs())
	return v
}

func load(t *testing.T) *classify.Classifier {
	t.Helper()
	m, err := classify.Load(base(t), labels, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// prepared returns the base model with a new adapter, trained steps steps.
func prepared(t *testing.T, cfg adapter.Config, seed uint64, steps int) (*classify.Classifier, *adapter.Method) {
	t.Helper()
	m := load(t)
	meth, err := adapter.New(cfg, seed, arch)
	if err != nil {
		t.Fatal(err)
	}
	if err := meth.Prepare(m); err != nil {
		t.Fatal(err)
	}
	if steps > 0 {
		if err := m.P.SeedRNG(int64(seed)); err != nil {
			t.Fatal(err)
		}
		tr, err := train.New(fixture.Backend(t), m, train.Options{LR: 3e-2, Schedule: train.Constant})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tr.TrainableNames() {
			if !strings.Contains(n, ".adapters.default.") && !strings.HasPrefix(n, "adapter_heads.default.") {
				t.Fatalf("weight %s trains", n)
			}
		}
		for i := 0; i < steps; i++ {
			if _, err := tr.TrainStep(inputs()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m, meth
}

// TestIdentityInit: a fresh adapter (mam_adapter init: up-projection zero)
// leaves every placement's outputs equal to the base model's; bert init
// (AdapterHub's default, up-projection normal 0.02) changes them slightly.
func TestIdentityInit(t *testing.T) {
	want := logits(t, load(t))
	for _, p := range []string{adapter.Pfeiffer, adapter.Houlsby, adapter.Parallel} {
		m, _ := prepared(t, adapter.Config{Placement: p, ReductionFactor: 4}, 1, 0)
		if d := fixture.MaxDiff(logits(t, m), want); d > 1e-6 {
			t.Errorf("%s: fresh adapter changes the logits by %g", p, d)
		}
		m, _ = prepared(t, adapter.Config{Placement: p, ReductionFactor: 4, Init: "bert"}, 1, 0)
		if d := fixture.MaxDiff(logits(t, m), want); d == 0 || d > 0.1 {
			t.Errorf("%s, init bert: logits differ by %g, want a small nonzero change", p, d)
		}
	}
}

// TestParamCount: trainable weights = the formula per placement, for the
// tiny model (counted on the model) and BERT-base (from shapes).
func TestParamCount(t *testing.T) {
	perLayer := func(h, rf int) int64 {
		b := int64(h / rf)
		return int64(h)*b + b + b*int64(h) + int64(h)
	}
	for _, c := range []struct {
		p     string
		sites int64
	}{{adapter.Pfeiffer, 1}, {adapter.Houlsby, 2}, {adapter.Parallel, 1}} {
		rf := 16
		if c.p == adapter.Parallel {
			rf = 2
		}
		// Tiny model: hidden 16, 2 layers, reduction 4 (bottleneck 4).
		m, _ := prepared(t, adapter.Config{Placement: c.p, ReductionFactor: 4}, 1, 0)
		_, trainable := m.P.Count()
		head := int64(3*16 + 3)
		if want := 2*c.sites*perLayer(16, 4) + head; trainable != want {
			t.Errorf("tiny %s: %d trainable, want %d", c.p, trainable, want)
		}
		// BERT-base from shapes, default reduction.
		cfg, _, _, err := bench.Config("bert-base", 0)
		if err != nil {
			t.Fatal(err)
		}
		shapes := bert.ParamShapes(cfg, bert.HeadSeqCls, 2)
		var names []string
		for n := range shapes {
			names = append(names, n)
		}
		mods, _ := arch(names)
		sites, err := adapter.Config{Placement: c.p}.Plan(mods, shapes)
		if err != nil {
			t.Fatal(err)
		}
		if n, want := adapter.ParamCount(sites), 12*c.sites*perLayer(768, rf); n != want {
			t.Errorf("bert-base %s: %d adapter weights, want %d", c.p, n, want)
		}
	}
	// AdapterHub's well-known figure: seq_bn on bert-base, 894,528.
	if perLayer(768, 16)*12 != 894528 {
		t.Errorf("formula: %d", perLayer(768, 16)*12)
	}
	// Per-layer reduction and leave_out.
	m, meth := prepared(t, adapter.Config{Placement: adapter.Houlsby, ReductionFactor: 4, ReductionPerLayer: map[int]float64{1: 8}}, 1, 0)
	_, trainable := m.P.Count()
	if want := 2*perLayer(16, 4) + 2*perLayer(16, 8) + 51; trainable != want {
		t.Errorf("per-layer reduction: %d trainable, want %d", trainable, want)
	}
	if s := meth.Adapter().Site(1, adapter.KindAttention); s == nil || s.Bottleneck != 2 || s.Module != "bert.encoder.layer.1.attention.output" {
		t.Errorf("layer 1 attention site: %+v", s)
	}
	m, _ = prepared(t, adapter.Config{LeaveOut: []int{0}, ReductionFactor: 4}, 1, 0)
	if _, trainable := m.P.Count(); trainable != perLayer(16, 4)+51 {
		t.Errorf("leave_out 0: %d trainable", trainable)
	}
	if _, err := adapter.New(adapter.Config{Placement: "middle"}, 0, arch); err == nil || !strings.Contains(err.Error(), "pfeiffer, houlsby, parallel") {
		t.Errorf("bad placement: %v", err)
	}
	meth, _ = adapter.New(adapter.Config{LeaveOut: []int{7}}, 0, arch)
	if err := meth.Prepare(load(t)); err == nil || !strings.Contains(err.Error(), "layer 7 does not exist") {
		t.Errorf("leave_out 7: %v", err)
	}
}

// TestSaveLoad: a trained adapter saves in AdapterHub's layout and reloads
// on the base to identical logits.
func TestSaveLoad(t *testing.T) {
	for _, p := range []string{adapter.Houlsby, adapter.Pfeiffer, adapter.Parallel} {
		m, meth := prepared(t, adapter.Config{Placement: p, ReductionFactor: 4}, 2, 4)
		want := logits(t, m)
		if d := fixture.MaxDiff(want, logits(t, load(t))); d < 1e-4 {
			t.Fatalf("%s: training did not change the logits (%g)", p, d)
		}
		dir := filepath.Join(t.TempDir(), "a")
		if err := meth.Save(m, dir); err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.ReadFile(filepath.Join(dir, adapter.WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		wantN := 2 * 4
		if p == adapter.Houlsby {
			wantN *= 2
			if x := f.Get("bert.encoder.layer.1.attention.output.adapters.default.adapter_down.0.weight"); x == nil || !slices.Equal(x.Shape, []int{4, 16}) {
				t.Errorf("attention adapter weight missing or misshapen")
			}
		}
		if len(f.Tensors) != wantN || f.Get("bert.encoder.layer.0.output.adapters.default.adapter_up.weight") == nil {
			t.Errorf("%s: %d tensors, want %d with AdapterHub names", p, len(f.Tensors), wantN)
		}
		var conf struct {
			Config    map[string]any `json:"config"`
			Name      string         `json:"name"`
			ModelName string         `json:"model_name"`
			Class     string         `json:"model_class"`
		}
		b, _ := os.ReadFile(filepath.Join(dir, adapter.ConfigFile))
		if err := json.Unmarshal(b, &conf); err != nil {
			t.Fatal(err)
		}
		wantScaling := `"scaling": 1.0,`
		if p == adapter.Parallel {
			wantScaling = `"scaling": 4.0,`
		}
		if !strings.Contains(string(b), wantScaling) { // AdapterHub refuses an integer scaling
			t.Errorf("%s: adapter_config.json lacks %s: %s", p, wantScaling, b)
		}
		if conf.Name != "default" || conf.Class != "BertForSequenceClassification" || !filepath.IsAbs(conf.ModelName) ||
			conf.Config["mh_adapter"] != (p == adapter.Houlsby) || conf.Config["is_parallel"] != (p == adapter.Parallel) ||
			conf.Config["original_ln_before"] != (p == adapter.Pfeiffer) {
			t.Errorf("%s: adapter_config.json: %s", p, b)
		}
		for _, f := range []string{adapter.HeadConfigFile, adapter.HeadWeightsFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("no %s", f)
			}
		}
		if !adapter.IsFolder(dir) || adapter.IsFolder(base(t)) {
			t.Errorf("IsFolder")
		}
		m2, h, err := adapter.LoadModel("", []string{dir}, arch, func(w string) { t.Errorf("warning: %s", w) })
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m2.Labels(), labels) || !slices.Equal(h.Active(), []string{"a"}) {
			t.Errorf("reloaded: labels %v, active %v", m2.Labels(), h.Active())
		}
		if d := fixture.MaxDiff(logits(t, m2), want); d != 0 {
			t.Errorf("%s: reloaded adapter: logits differ by %g", p, d)
		}
		// AdapterHub's default save: pytorch_adapter.bin and
		// pytorch_model_head.bin (torch.save state dicts).
		for safe, bin := range map[string]string{adapter.WeightsFile: "pytorch_adapter.bin", adapter.HeadWeightsFile: "pytorch_model_head.bin"} {
			if err := fixture.SafetensorsToTorch(filepath.Join(dir, safe), filepath.Join(dir, bin)); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(dir, safe))
		}
		m3, _, err := adapter.LoadModel("", []string{dir}, arch, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := fixture.MaxDiff(logits(t, m3), want); d != 0 {
			t.Errorf("%s: the adapter as .bin files: logits differ by %g", p, d)
		}
	}
}

// TestSeveralAdapters: two adapters on one base each give their own
// logits; none gives the base's; a stack and deletion work; averaging an
// adapter with itself gives it back, and two adapters give the weighted
// parameter mean.
func TestSeveralAdapters(t *testing.T) {
	dir := t.TempDir()
	ma, metha := prepared(t, adapter.Config{Placement: adapter.Pfeiffer, ReductionFactor: 4}, 3, 3)
	mb, methb := prepared(t, adapter.Config{Placement: adapter.Houlsby, ReductionFactor: 8}, 4, 3)
	wantA, wantB, wantBase := logits(t, ma), logits(t, mb), logits(t, load(t))
	da, db := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := metha.Save(ma, da); err != nil {
		t.Fatal(err)
	}
	if err := methb.Save(mb, db); err != nil {
		t.Fatal(err)
	}
	m, h, err := adapter.LoadModel(base(t), []string{"sst2=" + da, "nsmc=" + db}, arch, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(setup string, want []float32) {
		t.Helper()
		if err := h.Use(setup); err != nil {
			t.Fatal(err)
		}
		if d := fixture.MaxDiff(logits(t, m), want); d != 0 {
			t.Errorf("--use %q: logits differ by %g", setup, d)
		}
	}
	check("nsmc", wantB)
	check("sst2", wantA)
	check("nsmc", wantB)
	if err := h.Use("sst2+nsmc"); err != nil {
		t.Fatal(err)
	}
	stacked := logits(t, m)
	if fixture.MaxDiff(stacked, wantA) < 1e-5 || fixture.MaxDiff(stacked, wantB) < 1e-5 {
		t.Errorf("the stack gives one adapter's logits")
	}
	if err := h.Use("sst2+zzz"); err == nil || !strings.Contains(err.Error(), "loaded: sst2, nsmc") {
		t.Errorf("unknown adapter: %v", err)
	}

	// Average: a with itself is a; a and a' = 3·a's weights, weights 1, 2 -> a.
	la, err := adapter.Read(da)
	if err != nil {
		t.Fatal(err)
	}
	avg, err := adapter.Average([]*adapter.Loaded{la, la}, []float64{1, 3}, "avg", true)
	if err != nil {
		t.Fatal(err)
	}
	if d := fixture.MaxDiff(avg.Weights[0].Data, la.Weights[0].Data); d > 1e-7 {
		t.Errorf("average of an adapter with itself differs by %g", d)
	}
	dAvg := filepath.Join(dir, "avg")
	if err := avg.Save(dAvg); err != nil {
		t.Fatal(err)
	}
	lb, _ := adapter.Read(db)
	if _, err := adapter.Average([]*adapter.Loaded{la, lb}, []float64{1, 1}, "x", true); err == nil || !strings.Contains(err.Error(), "different configurations") {
		t.Errorf("averaging pfeiffer with houlsby: %v", err)
	}
	la2, _ := adapter.Read(da)
	for i := range la2.Weights {
		for j := range la2.Weights[i].Data {
			la2.Weights[i].Data[j] *= 3
		}
	}
	avg2, err := adapter.Average([]*adapter.Loaded{la, la2}, []float64{0.5, 0.5}, "x", true)
	if err != nil {
		t.Fatal(err)
	}
	w0 := la.Weights[2].Data
	if d := math.Abs(float64(avg2.Weights[2].Data[1] - 2*w0[1])); d > 1e-6 {
		t.Errorf("weighted mean off by %g", d)
	}

	// On the loaded model: attach the saved average, average in memory.
	if _, err := adapter.Attach(m, h, avg, "avg", arch); err != nil {
		t.Fatal(err)
	}
	check("avg", wantA)
	if _, err := h.Average(m, arch, "avg2", []string{"sst2", "avg"}, []float64{1, 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.Use("avg2"); err != nil {
		t.Fatal(err)
	}
	if d := fixture.MaxDiff(logits(t, m), wantA); d > 1e-5 {
		t.Errorf("in-memory average of equal adapters differs by %g", d)
	}

	h.Deactivate()
	if d := fixture.MaxDiff(logits(t, m), wantBase); d != 0 {
		t.Errorf("no adapter active: logits differ from the base by %g", d)
	}
	if err := h.Delete(m.P, "sst2"); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(h.Names(), "sst2") || m.P.Has("bert.encoder.layer.0.output.adapters.sst2.adapter_up.weight") {
		t.Errorf("delete left the adapter")
	}
	check("nsmc", wantB)
}
