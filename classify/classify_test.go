package classify_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/safetensors"
)

const fixtureDir = "../testdata/fixtures/bert-seqcls"

// TestSaveLoadRoundTrip loads the transformers fixture, saves it, loads
// the copy and checks that nothing changed.
func TestSaveLoadRoundTrip(t *testing.T) {
	m, err := classify.Load(fixtureDir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.NewHead) != 0 || len(m.Unused) != 0 {
		t.Fatalf("fixture: new head %v, unused %v; want none", m.NewHead, m.Unused)
	}
	want, wantLoss := fixture.Evaluate(t, m.NewRunner, fixture.Encoder(t, fixtureDir).Tensors())

	// The fixture's logits come from transformers.
	fixture.Compare(t, "logits", want, fixture.Expected(t, fixtureDir).Get("logits"), 1e-4)

	dir := filepath.Join(t.TempDir(), "saved")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	// Saving again replaces the folder.
	if err := m.Save(dir); err != nil {
		t.Fatalf("saving over an existing folder: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("Save left %d entries next to the model folder, want 1", len(entries))
	}

	st, err := safetensors.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatalf("saved model.safetensors fails validation: %v", err)
	}
	orig, err := safetensors.ReadFile(filepath.Join(fixtureDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tensors) != len(orig.Tensors) {
		t.Errorf("saved %d tensors, the fixture has %d", len(st.Tensors), len(orig.Tensors))
	}
	for _, o := range orig.Tensors {
		s := st.Get(o.Name)
		if s == nil || s.DType != safetensors.F32 || !slices.Equal(s.Shape, o.Shape) || !slices.Equal(s.F32, o.F32) {
			t.Errorf("tensor %s not saved unchanged", o.Name)
		}
	}

	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	id2label, _ := cfg["id2label"].(map[string]any)
	if id2label["0"] != "LABEL_0" || id2label["2"] != "LABEL_2" || len(id2label) != 3 {
		t.Errorf("config.json id2label = %v", cfg["id2label"])
	}
	if arch, _ := cfg["architectures"].([]any); len(arch) != 1 || arch[0] != "BertForSequenceClassification" {
		t.Errorf("config.json architectures = %v", cfg["architectures"])
	}
	for _, k := range []string{"model_type", "hidden_size", "vocab_size", "label2id", "transformers_version", "use_cache"} {
		if _, ok := cfg[k]; !ok {
			t.Errorf("config.json lost %q", k)
		}
	}
	for _, f := range []string{"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"} {
		a, err1 := os.ReadFile(filepath.Join(fixtureDir, f))
		c, err2 := os.ReadFile(filepath.Join(dir, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, c) {
			t.Errorf("tokenizer file %s not copied (%v, %v)", f, err1, err2)
		}
	}

	m2, err := classify.Load(dir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m2.Labels(), m.Labels()) || len(m2.NewHead) != 0 {
		t.Errorf("reloaded: labels %v new head %v", m2.Labels(), m2.NewHead)
	}
	got, gotLoss := fixture.Evaluate(t, m2.NewRunner, fixture.Encoder(t, fixtureDir).Tensors()) // new tensors: a tensor stays on its backend
	if !slices.Equal(got, want) || gotLoss != wantLoss {
		t.Errorf("reloaded logits differ:\n got %v\nwant %v", got, want)
	}
}

// TestLoadLabels checks when Load keeps the checkpoint's head and when it
// makes a new, seeded one.
func TestLoadLabels(t *testing.T) {
	bare := testmodel.New(t, testmodel.Default())
	for _, tc := range []struct {
		name    string
		dir     string
		labels  []string
		newHead bool
		want    []string
	}{
		{"checkpoint labels", fixtureDir, nil, false, []string{"LABEL_0", "LABEL_1", "LABEL_2"}},
		{"same labels", fixtureDir, []string{"LABEL_0", "LABEL_1", "LABEL_2"}, false, []string{"LABEL_0", "LABEL_1", "LABEL_2"}},
		{"other labels", fixtureDir, []string{"neg", "pos"}, true, []string{"neg", "pos"}},
		{"bare encoder", bare, []string{"neg", "pos"}, true, []string{"neg", "pos"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := classify.Load(tc.dir, tc.labels, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Labels(), tc.want) {
				t.Errorf("labels %v, want %v", m.Labels(), tc.want)
			}
			if got := slices.Contains(m.NewHead, "classifier.weight"); got != tc.newHead {
				t.Errorf("new head %v, want classifier initialised: %v", m.NewHead, tc.newHead)
			}
			if tc.newHead {
				// The same seed gives the same head.
				m2, err := classify.Load(tc.dir, tc.labels, 3)
				if err != nil {
					t.Fatal(err)
				}
				a, _ := m.P.Value("classifier.weight")
				b, _ := m2.P.Value("classifier.weight")
				if !slices.Equal(a, b) {
					t.Error("the same seed gave different heads")
				}
			}
		})
	}
	if _, err := classify.Load(bare, nil, 0); err == nil || !strings.Contains(err.Error(), "id2label") {
		t.Errorf("bare encoder without labels: err = %v", err)
	}
	if _, err := checkpoint.ReadWeights(bare); err != nil {
		t.Fatal(err)
	}
}

// TestLoadPytorchBin: a checkpoint that ships only pytorch_model.bin (as
// older Hub models do) loads with the same weights as its safetensors.
func TestLoadPytorchBin(t *testing.T) {
	o := testmodel.Default()
	o.Labels = []string{"neg", "pos"}
	dir := testmodel.New(t, o)
	want, err := classify.Load(dir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := fixture.SafetensorsToTorch(filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "pytorch_model.bin")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "model.safetensors"))
	got, err := classify.Load(dir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.NewHead) != 0 || !slices.Equal(got.P.Names(), want.P.Names()) {
		t.Fatalf("from .bin: weights %v (new %v), want %v", got.P.Names(), got.NewHead, want.P.Names())
	}
	for _, n := range want.P.Names() {
		a, _ := want.P.Value(n)
		b, _ := got.P.Value(n)
		if !slices.Equal(a, b) {
			t.Errorf("%s differs", n)
		}
	}
}
