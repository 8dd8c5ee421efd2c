package train_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/train"
)

// tinyDir holds the tiny model, written once by TestMain.
var tinyDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gotune-train-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tinyDir = filepath.Join(dir, "tiny-bert")
	code := 1
	if err := testmodel.Write(tinyDir, testmodel.Default()); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// tiny loads the tiny model with a new two-label head; dropout 0 unless
// keepDropout.
func tiny(t *testing.T, keepDropout bool) *classify.Classifier {
	t.Helper()
	m, err := classify.Load(tinyDir, []string{"neg", "pos"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !keepDropout {
		m.Cfg.HiddenDropoutProb, m.Cfg.AttentionProbsDropoutProb = 0, 0
	}
	m.P.SetAllTrainable(true)
	if err := m.P.SeedRNG(5); err != nil {
		t.Fatal(err)
	}
	return m
}

func backend(t *testing.T) compute.Backend {
	t.Helper()
	be, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// batch returns new input tensors (ids, type ids, mask, labels) for the
// given rows of a fixed, seeded set of 8 examples of 4 to 8 tokens, padded
// to 8; row r has label r%2.
func batch(rows ...int) []*tensors.Tensor {
	const l = 8
	var ids, types, mask, labels []int32
	for _, r := range rows {
		rng := rand.New(rand.NewPCG(uint64(r), 3))
		n := 4 + r%5
		for j := range l {
			id, m := int32(0), int32(0)
			if j < n {
				id, m = int32(5+rng.IntN(200)), 1
			}
			ids, mask, types = append(ids, id), append(mask, m), append(types, 0)
		}
		labels = append(labels, int32(r%2))
	}
	b := len(rows)
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(ids, b, l), tensors.FromFlatDataAndDimensions(types, b, l),
		tensors.FromFlatDataAndDimensions(mask, b, l), tensors.FromFlatDataAndDimensions(labels, b),
	}
}

var allRows = []int{0, 1, 2, 3, 4, 5, 6, 7}

// values returns every weight of m by name.
func values(t *testing.T, m *classify.Classifier) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, n := range m.P.Names() {
		v, err := m.P.Value(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = v
	}
	return out
}

// maxDiff returns the largest absolute difference between two weight sets.
func maxDiff(a, b map[string][]float32) float64 {
	var d float64
	for n, va := range a {
		for i := range va {
			d = math.Max(d, math.Abs(float64(va[i]-b[n][i])))
		}
	}
	return d
}

// updateNorm returns the L2 norm of b - a over all weights.
func updateNorm(a, b map[string][]float32) float64 {
	var s float64
	for n, va := range a {
		for i := range va {
			d := float64(b[n][i] - va[i])
			s += d * d
		}
	}
	return math.Sqrt(s)
}

func step(t *testing.T, tr *train.Trainer, rows ...int) train.Stats {
	t.Helper()
	st, err := tr.TrainStep(batch(rows...))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestFrozenWeights checks that frozen weights get no optimizer state and
// do not change, while the others do.
func TestFrozenWeights(t *testing.T) {
	m := tiny(t, true)
	frozen := func(n string) bool {
		return strings.HasPrefix(n, "bert.embeddings.") || strings.HasPrefix(n, "bert.encoder.layer.0.")
	}
	var nFrozen int
	for _, n := range m.P.Names() {
		if frozen(n) {
			m.P.SetTrainable(n, false)
			nFrozen++
		}
	}
	before := values(t, m)
	tr, err := train.New(backend(t), m, train.Options{LR: 1e-2, WeightDecay: 0.01, GradAccum: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(tr.TrainableNames()), len(m.P.Names())-nFrozen; got != want {
		t.Errorf("%d trainable weights, want %d", got, want)
	}
	store := m.P.Store()
	for _, n := range m.P.Names() {
		for _, kind := range []string{"adam_m", "adam_v", "grad_acc"} {
			has := store.GetVariable("/#"+kind+"/"+n) != nil
			if has == frozen(n) {
				t.Errorf("%s: %s variable present = %v", n, kind, has)
			}
		}
	}
	for range 3 {
		step(t, tr, 0, 1, 2, 3)
		step(t, tr, 4, 5, 6, 7)
	}
	if tr.Step() != 3 {
		t.Fatalf("%d optimizer steps, want 3", tr.Step())
	}
	after := values(t, m)
	for n := range before {
		same := slices.Equal(before[n], after[n])
		if same != frozen(n) {
			t.Errorf("%s: unchanged = %v after 3 steps, frozen = %v", n, same, frozen(n))
		}
	}

	m.P.SetAllTrainable(false)
	if _, err := train.New(backend(t), m, train.Options{LR: 1e-2}); err == nil || !strings.Contains(err.Error(), "frozen") {
		t.Errorf("all frozen: err = %v", err)
	}
}

// hfLambda is transformers' LambdaLR multiplier for get_scheduler(name,
// num_warmup_steps, num_training_steps) at scheduler step s (the
// learning rate of the (s+1)-th optimizer step).
func hfLambda(name string, s, warmup, total int) float64 {
	if s < warmup {
		return float64(s) / float64(max(1, warmup))
	}
	progress := float64(s-warmup) / float64(max(1, total-warmup))
	switch name {
	case "linear":
		return math.Max(0, float64(total-s)/float64(max(1, total-warmup)))
	case "cosine": // num_cycles = 0.5
		return math.Max(0, 0.5*(1+math.Cos(math.Pi*2*0.5*progress)))
	}
	return 1 // constant_with_warmup
}

func TestLRSchedule(t *testing.T) {
	const lr = 3e-4
	for _, tc := range []struct {
		sched         train.Schedule
		warmup, total int
	}{
		{train.Linear, 0, 100}, {train.Linear, 10, 100}, {train.Linear, 7, 33},
		{train.Cosine, 0, 100}, {train.Cosine, 10, 100}, {train.Cosine, 5, 17},
		{train.Constant, 0, 50}, {train.ConstantWithWarmup, 4, 50},
	} {
		o := train.Options{LR: lr, Schedule: tc.sched, WarmupSteps: tc.warmup, TotalSteps: tc.total}
		for _, s := range []int{0, 1, tc.warmup / 2, tc.warmup, tc.warmup + 1, (tc.warmup + tc.total) / 2, tc.total - 1, tc.total} {
			want := lr * hfLambda(string(tc.sched), s, tc.warmup, tc.total)
			if got := o.LRAt(s); math.Abs(got-want) > 1e-12 {
				t.Errorf("%s warmup %d total %d: LRAt(%d) = %g, transformers %g", tc.sched, tc.warmup, tc.total, s, got, want)
			}
		}
	}
	// Values quoted from transformers: linear, 10 warmup, 100 total.
	o := train.Options{LR: 1, Schedule: train.Linear, WarmupSteps: 10, TotalSteps: 100}
	for s, want := range map[int]float64{0: 0, 5: 0.5, 10: 1, 55: 0.5, 99: 1.0 / 90, 100: 0} {
		if got := o.LRAt(s); math.Abs(got-want) > 1e-12 {
			t.Errorf("linear: LRAt(%d) = %g, want %g", s, got, want)
		}
	}

	// The trainer uses LRAt of the 0-based step: with warmup the first
	// step has learning rate 0 and leaves the weights as they were.
	m := tiny(t, false)
	tr, err := train.New(backend(t), m, train.Options{LR: 1e-2, Schedule: train.Linear, WarmupSteps: 2, TotalSteps: 4})
	if err != nil {
		t.Fatal(err)
	}
	before := values(t, m)
	var lrs []float64
	for i := range 4 {
		st := step(t, tr, allRows...)
		lrs = append(lrs, st.LR)
		if i == 0 {
			if d := maxDiff(before, values(t, m)); d != 0 {
				t.Errorf("first warmup step (lr 0) changed weights by %g", d)
			}
		}
	}
	if want := []float64{0, 5e-3, 1e-2, 5e-3}; !slices.EqualFunc(lrs, want, func(a, b float64) bool { return math.Abs(a-b) < 1e-15 }) {
		t.Errorf("step learning rates %v, want %v", lrs, want)
	}
}

// TestGradAccum checks that two half batches accumulated give the update
// of one full batch. The loss is a mean over labelled rows, so the halves
// have equal size. Eps = 1 makes AdamW's first steps close to SGD, so the
// test sees gradient magnitudes, not just signs.
func TestGradAccum(t *testing.T) {
	be := backend(t)
	opts := train.Options{LR: 1, Eps: 1, Schedule: train.Constant, WeightDecay: 0.01}
	full, half := tiny(t, false), tiny(t, false)
	o1, o2 := opts, opts
	o1.GradAccum, o2.GradAccum = 1, 2
	trFull, err := train.New(be, full, o1)
	if err != nil {
		t.Fatal(err)
	}
	trHalf, err := train.New(be, half, o2)
	if err != nil {
		t.Fatal(err)
	}
	start := values(t, full)
	for i := range 3 {
		a := step(t, trFull, allRows...)
		h1 := step(t, trHalf, 0, 2, 4, 6)
		h2 := step(t, trHalf, 1, 3, 5, 7)
		if h1.Applied || !h2.Applied || trHalf.Step() != i+1 {
			t.Fatalf("step %d: applied %v/%v, trainer step %d", i, h1.Applied, h2.Applied, trHalf.Step())
		}
		if d := math.Abs((h1.Loss+h2.Loss)/2 - a.Loss); d > 1e-6 {
			t.Errorf("step %d: mean half loss %g, full %g", i, (h1.Loss+h2.Loss)/2, a.Loss)
		}
		if d := math.Abs(h2.GradNorm - a.GradNorm); d > 1e-5*a.GradNorm {
			t.Errorf("step %d: grad norm %g accumulated, %g full", i, h2.GradNorm, a.GradNorm)
		}
		d := maxDiff(values(t, full), values(t, half))
		moved := updateNorm(start, values(t, full))
		t.Logf("step %d: weights moved %.3g; max |full - accumulated| = %.3g", i, moved, d)
		if d > 1e-5 {
			t.Errorf("step %d: accumulated update differs from the full batch's by %g", i, d)
		}
	}
	// Accumulating only one half is not the same thing.
	other := tiny(t, false)
	trOther, err := train.New(be, other, o1)
	if err != nil {
		t.Fatal(err)
	}
	step(t, trOther, 1, 3, 5, 7)
	fullOnce := tiny(t, false)
	trOnce, _ := train.New(be, fullOnce, o1)
	step(t, trOnce, allRows...)
	if d := maxDiff(values(t, other), values(t, fullOnce)); d < 1e-4 {
		t.Errorf("half batch and full batch gave nearly the same update (%g): the test cannot tell them apart", d)
	}
}

// TestGradClipping checks that clipping the gradient norm to c bounds the
// first update: with Eps = 1 the first AdamW step is lr·g/(|g|+1), whose
// norm is at most lr·‖g‖ ≤ lr·c.
func TestGradClipping(t *testing.T) {
	be := backend(t)
	run := func(clip float64) (train.Stats, float64) {
		m := tiny(t, false)
		before := values(t, m)
		tr, err := train.New(be, m, train.Options{LR: 1, Eps: 1, Schedule: train.Constant, MaxGradNorm: clip})
		if err != nil {
			t.Fatal(err)
		}
		st := step(t, tr, allRows...)
		return st, updateNorm(before, values(t, m))
	}
	st, free := run(0)
	c := st.GradNorm / 10
	t.Logf("gradient norm %.4g, unclipped update %.4g; clipping to %.4g", st.GradNorm, free, c)
	if free <= c {
		t.Fatalf("unclipped update %g is already within %g: the test cannot see clipping", free, c)
	}
	clipped, upd := run(c)
	if math.Abs(clipped.GradNorm-st.GradNorm) > 1e-5*st.GradNorm {
		t.Errorf("reported grad norm %g, want the pre-clip norm %g", clipped.GradNorm, st.GradNorm)
	}
	if upd > c*(1+1e-5) || upd < 0.9*c {
		t.Errorf("clipped update norm %g, want in [0.9, 1]·%g", upd, c)
	}
	if _, upd := run(10 * st.GradNorm); math.Abs(upd-free) > 1e-6*free {
		t.Errorf("a bound above the norm changed the update: %g vs %g", upd, free)
	}
}

// TestSaveLoadState checks that a trainer restored from a checkpoint
// continues exactly as the original (dropout on, so the random state must
// be restored too).
func TestSaveLoadState(t *testing.T) {
	be := backend(t)
	opts := train.Options{LR: 1e-2, WeightDecay: 0.01, MaxGradNorm: 1, Schedule: train.Cosine, WarmupSteps: 1, TotalSteps: 8, GradAccum: 2}
	a := tiny(t, true)
	trA, err := train.New(be, a, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		step(t, trA, 0, 1, 2, 3)
		step(t, trA, 4, 5, 6, 7)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	step(t, trA, 0, 1, 2, 3)
	if err := trA.SaveState(dir, nil); err == nil {
		t.Error("SaveState in the middle of an accumulation: no error")
	}
	step(t, trA, 4, 5, 6, 7)
	type progress struct{ Epoch, Batch int }
	if err := trA.SaveState(dir, progress{2, 7}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		step(t, trA, 1, 2, 3, 4)
		step(t, trA, 5, 6, 7, 0)
	}

	b := tiny(t, true)
	if err := b.P.SeedRNG(99); err != nil { // a different seed: the checkpoint's state must win
		t.Fatal(err)
	}
	trB, err := train.New(be, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	var p progress
	if err := trB.LoadState(dir, &p); err != nil {
		t.Fatal(err)
	}
	if trB.Step() != 3 || p != (progress{2, 7}) {
		t.Fatalf("restored step %d progress %+v, want 3 {2 7}", trB.Step(), p)
	}
	for range 2 {
		step(t, trB, 1, 2, 3, 4)
		step(t, trB, 5, 6, 7, 0)
	}
	if d := maxDiff(values(t, a), values(t, b)); d != 0 {
		t.Errorf("restored trainer diverged from the original by %g", d)
	}
}

// threeSteps trains m for three full-batch steps at a constant lr 1e-2.
func threeSteps(t *testing.T, be compute.Backend, m train.Model) ([]train.Stats, *train.Trainer) {
	t.Helper()
	tr, err := train.New(be, m, train.Options{LR: 1e-2, Schedule: train.Constant})
	if err != nil {
		t.Fatal(err)
	}
	var st []train.Stats
	for range 3 {
		st = append(st, step(t, tr, allRows...))
	}
	return st, tr
}

// TestGradientCheckpointing checks that recomputing each layer in the
// backward pass changes nothing but memory and time: with dropout on (the
// recomputed layers must draw the same dropout masks), three steps give the
// same losses, gradient norms and weights as without checkpointing, and the
// checkpointed step graph really recomputes (more forward ops).
func TestGradientCheckpointing(t *testing.T) {
	be := backend(t)
	run := func(ckpt bool) ([]train.Stats, map[string][]float32, map[string]int) {
		m := tiny(t, true)
		m.Opts.GradientCheckpointing = ckpt
		st, tr := threeSteps(t, be, m)
		return st, values(t, m), tr.StepOpCounts()
	}
	plain, wPlain, opsPlain := run(false)
	ckpt, wCkpt, opsCkpt := run(true)
	for i := range plain {
		if math.Abs(plain[i].Loss-ckpt[i].Loss) > 1e-5 || math.Abs(plain[i].GradNorm-ckpt[i].GradNorm) > 1e-5*plain[i].GradNorm {
			t.Errorf("step %d: loss %g / grad norm %g with checkpointing, %g / %g without", i, ckpt[i].Loss, ckpt[i].GradNorm, plain[i].Loss, plain[i].GradNorm)
		}
	}
	if d := maxDiff(wPlain, wCkpt); d > 1e-5 {
		t.Errorf("weights after 3 steps differ by %g with checkpointing", d)
	}
	if opsCkpt["FusedDense"] <= opsPlain["FusedDense"] {
		t.Errorf("checkpointed step has %d forward dense ops, plain %d: nothing is recomputed", opsCkpt["FusedDense"], opsPlain["FusedDense"])
	}
}

// TestFusedKernels checks that a BERT training step reaches the engine's
// fused kernels in the forward pass (dense layers, layer norms, softmax, the
// GELU) and the backward pass (dense and activation gradients); docs/engine.md
// lists what stays decomposed and why.
func TestFusedKernels(t *testing.T) {
	m := tiny(t, true)
	tr, err := train.New(backend(t), m, train.Options{LR: 1e-3, Schedule: train.Constant})
	if err != nil {
		t.Fatal(err)
	}
	step(t, tr, allRows...)
	ops := tr.StepOpCounts()
	layers := m.Cfg.NumHiddenLayers
	for op, want := range map[string]int{
		"FusedDense": 6*layers + 1, "FusedDenseVJP": 6*layers + 1, "FusedLayerNorm": 2*layers + 1,
		"FusedSoftmax": layers, "FusedActivation": layers, "FusedActivationVJP": layers,
	} {
		if ops[op] < want {
			t.Errorf("training step has %d %s nodes, want at least %d (ops: %v)", ops[op], op, want, ops)
		}
	}
}

// TestBF16 checks bfloat16 matrix products (nn.Options.BF16) against
// float32 on the same steps: bfloat16 keeps 8 bits of mantissa (relative
// error ≈ 0.4% per product), so losses agree to 1e-3 relative and gradient
// norms to 3%, while the weights stay float32 and the step graph really
// converts to bfloat16.
func TestBF16(t *testing.T) {
	be := backend(t)
	run := func(bf16 bool) ([]train.Stats, map[string]int) {
		m := tiny(t, false)
		m.Opts.BF16 = bf16
		st, tr := threeSteps(t, be, m)
		for _, n := range m.P.Names() {
			if v, err := m.P.Var(n).Value(); err != nil || v.DType().String() != "Float32" {
				t.Fatalf("weight %s is %v after bf16 steps (%v), want Float32", n, v.DType(), err)
			}
		}
		return st, tr.StepOpCounts()
	}
	f32, opsF32 := run(false)
	bf, opsBF := run(true)
	for i := range f32 {
		if d := math.Abs(f32[i].Loss - bf[i].Loss); d > 1e-3*math.Abs(f32[i].Loss) {
			t.Errorf("step %d: bf16 loss %g, float32 %g", i, bf[i].Loss, f32[i].Loss)
		}
		if d := math.Abs(f32[i].GradNorm - bf[i].GradNorm); d > 0.03*f32[i].GradNorm {
			t.Errorf("step %d: bf16 grad norm %g, float32 %g", i, bf[i].GradNorm, f32[i].GradNorm)
		}
	}
	if opsBF["ConvertDType"] <= opsF32["ConvertDType"] {
		t.Errorf("bf16 step graph has %d dtype conversions, float32 %d: nothing runs in bfloat16", opsBF["ConvertDType"], opsF32["ConvertDType"])
	}
}
