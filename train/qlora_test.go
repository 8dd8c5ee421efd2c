package train_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/train"
)

// logits evaluates m on the fixed batch and returns its flat output.
func logits(t *testing.T, m *classify.Classifier) []float32 {
	t.Helper()
	m.P.SetAllTrainable(true) // a trainer needs something to train; Evaluate changes nothing
	tr, err := train.New(backend(t), m, train.Options{LR: 1e-3, Schedule: train.Constant})
	if err != nil {
		t.Fatal(err)
	}
	return evalOutput(t, tr)
}

// evalOutput evaluates the trainer's model on the fixed batch.
func evalOutput(t *testing.T, tr *train.Trainer) []float32 {
	t.Helper()
	_, out, err := tr.Evaluate(batch(allRows...))
	if err != nil {
		t.Fatal(err)
	}
	var v []float32
	out.ConstFlatData(func(flat any) { v = append(v, flat.([]float32)...) })
	return v
}

// TestQLoRA trains LoRA on a base quantised to NF4 or int8: the query/value
// and every other encoder linear weight are stored quantised (not the
// embeddings, norms, biases or head), the base's logits stay close to the
// float32 model's (tiny model, logits ≈ 0.1: NF4 within 0.005, int8 within
// 5e-4; measured 8e-4 and 7e-5), with gradient checkpointing too,
// the loss falls, and the adapter saved from the quantised run loads onto the
// float32 base with the trained LoRA weights.
func TestQLoRA(t *testing.T) {
	ref := logits(t, tiny(t, false))
	for _, tc := range []struct {
		scheme string
		ckpt   bool
		tol    float64 // on the base's logits
		tolT   float64 // on the trained adapter's logits, quantised vs float32 base
	}{{nn.QuantNF4, false, 0.005, 0.15}, {nn.QuantNF4, true, 0.005, 0.15}, {nn.QuantInt8, false, 5e-4, 0.01}} {
		name := tc.scheme
		if tc.ckpt {
			name += "+checkpointing"
		}
		t.Run(name, func(t *testing.T) {
			m := tiny(t, false)
			m.Opts.GradientCheckpointing = tc.ckpt
			meth, err := lora.New(lora.Config{R: 4, Alpha: 8, Targets: []string{"query", "value"}}, 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := meth.Prepare(m); err != nil {
				t.Fatal(err)
			}
			names, err := method.QuantizeBase(m, tc.scheme)
			if err != nil {
				t.Fatal(err)
			}
			want := 6 * m.Cfg.NumHiddenLayers // q, k, v, attention output, intermediate, output
			if m.HasPooler() {
				want++
			}
			if len(names) != want {
				t.Errorf("quantised %d weights, want %d: %v", len(names), want, names)
			}
			for _, n := range names {
				if strings.Contains(n, "embeddings") || strings.Contains(n, "LayerNorm") || strings.HasPrefix(n, "classifier") || strings.HasSuffix(n, ".bias") {
					t.Errorf("%s is quantised", n)
				}
			}
			stored, f32 := m.P.QuantizedBytes()
			t.Logf("%s: %d quantised weights, %d bytes (float32: %d)", tc.scheme, len(names), stored, f32)
			// Base logits: LoRA's B starts at zero, and the head is the same
			// seeded one, so the output is the quantised base's.
			tr, err := train.New(backend(t), m, train.Options{LR: 3e-2, Schedule: train.Constant})
			if err != nil {
				t.Fatal(err)
			}
			got := evalOutput(t, tr)
			var d, diff float64
			for i := range ref {
				d = max(d, math.Abs(float64(ref[i]-got[i])))
				diff += math.Abs(float64(ref[i] - got[i]))
			}
			t.Logf("%s: base logits differ from float32 by at most %.4g", tc.scheme, d)
			if d > tc.tol || diff == 0 {
				t.Errorf("%s base logits differ from float32 by %g (sum %g), want in (0, %g]", tc.scheme, d, diff, tc.tol)
			}
			first := step(t, tr, allRows...).Loss
			var last float64
			for range 20 {
				last = step(t, tr, allRows...).Loss
			}
			t.Logf("%s: loss %.4f → %.4f", tc.scheme, first, last)
			if !(last < first-0.05) {
				t.Errorf("loss %.4f → %.4f: does not fall", first, last)
			}
			trained := evalOutput(t, tr)
			dir := filepath.Join(t.TempDir(), "adapter")
			if err := meth.Save(m, dir); err != nil {
				t.Fatal(err)
			}
			back, _, err := lora.LoadModel(tinyDir, []string{lora.DefaultAdapter + "=" + dir}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range m.P.Names() {
				if !strings.HasPrefix(n, "lora.") {
					continue
				}
				a, _ := m.P.Value(n)
				b, err := back.P.Value(n)
				if err != nil {
					t.Fatalf("reloaded adapter lacks %s: %v", n, err)
				}
				for i := range a {
					if a[i] != b[i] {
						t.Fatalf("%s[%d]: reloaded %v, trained %v", n, i, b[i], a[i])
					}
				}
			}
			if back.P.Quantization(names[0]) != "" {
				t.Fatalf("reloaded base is quantised")
			}
			// On the float32 base the trained adapter gives logits close to
			// the quantised run's.
			onF32 := logits(t, back)
			var dt float64
			for i, v := range trained {
				dt = max(dt, math.Abs(float64(v-onF32[i])))
			}
			t.Logf("%s: trained logits on the float32 base differ by at most %.4g", tc.scheme, dt)
			if dt > tc.tolT {
				t.Errorf("trained adapter on the float32 base: logits differ by %g", dt)
			}
		})
	}
}
