package freeze_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/method/freeze"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/train"
)

const fixtureDir = "../../testdata/fixtures/bert-seqcls"

// arch is the BERT module map, as package methods wires it.
func arch(names []string) (freeze.Modules, error) {
	m, err := bert.ModulesOf(names)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// layer expands module paths of encoder layer i into parameter names.
func layer(i int, modules ...string) []string {
	var out []string
	for _, m := range modules {
		for _, wb := range []string{"weight", "bias"} {
			out = append(out, fmt.Sprintf("bert.encoder.layer.%d.%s.%s", i, m, wb))
		}
	}
	return out
}

var (
	selfAttn   = []string{"attention.self.query", "attention.self.key", "attention.self.value"}
	attnOutput = []string{"attention.output.dense", "attention.output.LayerNorm"}
	ffn        = []string{"intermediate.dense", "output.dense"}
	norms      = []string{"attention.output.LayerNorm", "output.LayerNorm"}
	allModules = slices.Concat(selfAttn, attnOutput, ffn, []string{"output.LayerNorm"})
	pooler     = []string{"bert.pooler.dense.weight", "bert.pooler.dense.bias"}
	head       = []string{"classifier.weight", "classifier.bias"}
)

func names(parts ...[]string) []string {
	out := slices.Concat(parts...)
	slices.Sort(out)
	return out
}

// prepare loads the model in dir, applies cfg and returns the trainable
// weight names, sorted.
func prepare(t *testing.T, dir string, labels []string, cfg freeze.Config) (*classify.Classifier, *freeze.Method, []string, error) {
	t.Helper()
	m, err := classify.Load(dir, labels, 1)
	if err != nil {
		t.Fatal(err)
	}
	f, err := freeze.New(cfg, arch)
	if err != nil {
		return m, nil, nil, err
	}
	if err := f.Prepare(m); err != nil {
		return m, f, nil, err
	}
	var tr []string
	for _, n := range m.P.Names() {
		if m.P.Trainable(n) {
			tr = append(tr, n)
		}
	}
	return m, f, tr, nil
}

func TestTrainableSets(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  freeze.Config
		want []string
	}{
		{"--freeze embeddings,layers:0-0", freeze.Config{Freeze: "embeddings,layers:0-0"},
			names(layer(1, allModules...), pooler, head)},
		{"--train-modules layers:1-1,pooler", freeze.Config{Train: "layers:1-1,pooler"},
			names(layer(1, allModules...), pooler, head)},
		{"--train-modules attention", freeze.Config{Train: "attention"},
			names(layer(0, selfAttn...), layer(0, attnOutput...), layer(1, selfAttn...), layer(1, attnOutput...), head)},
		{"--train-modules attention.self", freeze.Config{Train: "attention.self"},
			names(layer(0, selfAttn...), layer(1, selfAttn...), head)},
		{"--train-modules layers:1-1.ffn", freeze.Config{Train: "layers:1-1.ffn"},
			names(layer(1, ffn...), head)},
		{"--train-modules layers:0.attention.output,layernorm", freeze.Config{Train: "layers:0.attention.output,layernorm"},
			names(layer(0, attnOutput...), layer(0, "output.LayerNorm"), layer(1, norms...), head)},
		{`--train-regex 'layer\.1\..*LayerNorm'`, freeze.Config{TrainRegex: `layer\.1\..*LayerNorm`},
			names(layer(1, norms...), head)},
		{"--train-last 1", freeze.Config{TrainLast: 1},
			names(layer(1, allModules...), pooler, head)},
		{"default (--train-last 2)", freeze.Config{},
			names(layer(0, allModules...), layer(1, allModules...), pooler, head)},
		{"--train-last 1 --train-modules embeddings", freeze.Config{TrainLast: 1, Train: "embeddings"},
			names(layer(1, allModules...), pooler, head, []string{
				"bert.embeddings.LayerNorm.bias", "bert.embeddings.LayerNorm.weight", "bert.embeddings.position_embeddings.weight",
				"bert.embeddings.token_type_embeddings.weight", "bert.embeddings.word_embeddings.weight"})},
		{"--freeze-regex 'embeddings|attention'", freeze.Config{FreezeRegex: "embeddings|attention"},
			names(layer(0, ffn...), layer(0, "output.LayerNorm"), layer(1, ffn...), layer(1, "output.LayerNorm"), pooler, head)},
		{"--freeze-regex . (the head still trains)", freeze.Config{FreezeRegex: "."}, names(head)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, got, err := prepare(t, fixtureDir, nil, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("trainable:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestMiddleLayers uses a 4-layer model and a new head (labels differ).
func TestMiddleLayers(t *testing.T) {
	o := testmodel.Default()
	o.Layers = 4
	dir := testmodel.New(t, o)
	labels := []string{"neg", "pos"}
	for _, tc := range []struct {
		name string
		cfg  freeze.Config
		want []string
	}{
		{"--train-modules layers:1-2", freeze.Config{Train: "layers:1-2"},
			names(layer(1, allModules...), layer(2, allModules...), head)},
		{"--train-modules layers:1-2.ffn,layers:3", freeze.Config{Train: "layers:1-2.ffn,layers:3"},
			names(layer(1, ffn...), layer(2, ffn...), layer(3, allModules...), head)},
		{"--freeze embeddings,layers:0,layers:3,pooler", freeze.Config{Freeze: "embeddings,layers:0,layers:3,pooler"},
			names(layer(1, allModules...), layer(2, allModules...), head)},
		{"--train-last 3", freeze.Config{TrainLast: 3},
			names(layer(1, allModules...), layer(2, allModules...), layer(3, allModules...), pooler, head)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, got, err := prepare(t, dir, labels, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("trainable:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	_, _, _, err := prepare(t, dir, labels, freeze.Config{Train: "layers:2-4"})
	if want := `layer 4 in "layers:2-4" (--train-modules) is out of range: the model has 4 layers (0-3)`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		cfg  freeze.Config
		want string // the whole error, or its start when it ends in "..."
	}{
		// Checked when the model is known (Prepare).
		{freeze.Config{Freeze: "atention"},
			`unknown module "atention" in --freeze; valid: embeddings, layers:N-M, pooler, classifier, attention, attention.self, attention.output, ffn, layernorm`},
		{freeze.Config{Train: "layers:1,encoder"},
			`unknown module "encoder" in --train-modules; valid: embeddings, layers:N-M, pooler, classifier, attention, attention.self, attention.output, ffn, layernorm`},
		{freeze.Config{Train: "layers:1.fnn"},
			`unknown module kind "fnn" in "layers:1.fnn" (--train-modules); valid kinds: attention, attention.self, attention.output, ffn, layernorm`},
		{freeze.Config{Train: "layers:0-2"},
			`layer 2 in "layers:0-2" (--train-modules) is out of range: the model has 2 layers (0-1)`},
		{freeze.Config{Freeze: "layers:12.ffn"},
			`layer 12 in "layers:12.ffn" (--freeze) is out of range: the model has 2 layers (0-1)`},
		{freeze.Config{TrainRegex: `layer\.7\.`},
			`--train-regex "layer\\.7\\." matches no parameter; names look like: bert.embeddings.LayerNorm.weight, ` +
				`bert.encoder.layer.0.attention.output.LayerNorm.weight, bert.encoder.layer.0.attention.output.dense.weight, ` +
				`bert.encoder.layer.0.attention.self.key.weight, bert.encoder.layer.0.intermediate.dense.weight, ` +
				`bert.encoder.layer.0.output.LayerNorm.weight, bert.pooler.dense.weight, classifier.weight, ... (41 parameters)`},
		{freeze.Config{FreezeRegex: "^roberta"}, `--freeze-regex "^roberta" matches no parameter; names look like: ...`},
		{freeze.Config{TrainLast: 3}, `--train-last 3: the model has 2 layers`},
		{freeze.Config{Freeze: "embeddings,classifier"},
			`"classifier" in --freeze names the classification head, which always trains (it is new)`},
		// Checked without the model (New).
		{freeze.Config{Freeze: "embeddings", TrainLast: 2},
			`--freeze/--freeze-regex cannot be combined with --train-modules/--train-regex/--train-last: choose what is frozen or what trains`},
		{freeze.Config{Train: "layers:3-1"},
			`bad layer range "layers:3-1" in --train-modules: want layers:N or layers:N-M with 0 ≤ N ≤ M, optionally followed by .KIND`},
		{freeze.Config{Freeze: "layers:x"},
			`bad layer range "layers:x" in --freeze: want layers:N or layers:N-M with 0 ≤ N ≤ M, optionally followed by .KIND`},
		{freeze.Config{Train: "layers:1."}, `"layers:1." in --train-modules: missing module kind after the dot`},
		{freeze.Config{Train: "pooler,,embeddings"}, `--train-modules "pooler,,embeddings": empty module name`},
		{freeze.Config{TrainRegex: "("}, "--train-regex \"(\": error parsing regexp: missing closing ): `(`"},
		{freeze.Config{TrainLast: -1}, `--train-last must be ≥ 1, got -1`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, _, _, err := prepare(t, fixtureDir, nil, tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if p, ok := strings.CutSuffix(tc.want, "..."); ok {
				if !strings.HasPrefix(err.Error(), p) {
					t.Errorf("error\n%s\nwant it to start with\n%s", err, p)
				}
			} else if err.Error() != tc.want {
				t.Errorf("error\n%s\nwant\n%s", err, tc.want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	_, f, _, err := prepare(t, fixtureDir, nil, freeze.Config{Train: "layers:1.ffn,pooler"})
	if err != nil {
		t.Fatal(err)
	}
	want := "freeze: trains pooler, classifier; frozen: embeddings, layer 0; partly trained: layer 1 (4 of 16 weights) (the classification head always trains)"
	if got := f.Summary(); got != want {
		t.Errorf("summary\n%s\nwant\n%s", got, want)
	}
}

func batch(t *testing.T) []*tensors.Tensor {
	return fixture.Encoder(t, fixtureDir).Tensors()
}

// TestTraining checks what the trainer does with a frozen selection: only
// the trainable weights are differentiated and get AdamW moments, and
// frozen weights do not move.
func TestTraining(t *testing.T) {
	m, f, trainable, err := prepare(t, fixtureDir, nil, freeze.Config{Freeze: "embeddings,layers:0-0"})
	if err != nil {
		t.Fatal(err)
	}
	be, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(be, m, train.Options{LR: 1e-2, TotalSteps: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The gradient graph is built for exactly these weights.
	if got := tr.TrainableNames(); !slices.Equal(got, trainable) {
		t.Fatalf("trainer differentiates %q, want %q", got, trainable)
	}
	before := map[string][]float32{}
	store := m.P.Store()
	for _, n := range m.P.Names() {
		if before[n], err = m.P.Value(n); err != nil {
			t.Fatal(err)
		}
		hasMoments := store.GetVariable("/#adam_m/"+n) != nil || store.GetVariable("/#adam_v/"+n) != nil
		if hasMoments != m.P.Trainable(n) {
			t.Errorf("%s: trainable %v but optimizer moments present %v", n, m.P.Trainable(n), hasMoments)
		}
	}
	in := batch(t)
	for range 2 {
		if _, err := tr.TrainStep(in); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range m.P.Names() {
		after, err := m.P.Value(n)
		if err != nil {
			t.Fatal(err)
		}
		same := slices.Equal(before[n], after)
		if m.P.Trainable(n) == same {
			t.Errorf("%s: trainable %v, unchanged after 2 steps %v", n, m.P.Trainable(n), same)
		}
	}

	// Save writes the whole model, frozen weights included.
	dir := filepath.Join(t.TempDir(), "model")
	if err := f.Save(m, dir); err != nil {
		t.Fatal(err)
	}
	sf, err := safetensors.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var saved []string
	for _, x := range sf.Tensors {
		saved = append(saved, x.Name)
	}
	slices.Sort(saved)
	if !slices.Equal(saved, m.P.Names()) {
		t.Errorf("saved %q, want every weight %q", saved, m.P.Names())
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Error(err)
	}
}
