package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/tokenizer"
)

func TestMain(m *testing.M) {
	// Same process setup as the gotune command (a fast math.Exp in simd
	// builds); the test binary restarts itself once when needed.
	_ = engine.Reexec()
	os.Exit(m.Run())
}

func TestReviewsDeterministicAndBalanced(t *testing.T) {
	a, b := Reviews(500, 7), Reviews(500, 7)
	pos := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("review %d differs between two runs with the same seed: %q vs %q", i, a[i].Text, b[i].Text)
		}
		if a[i].Positive {
			pos++
		}
	}
	if pos < 200 || pos > 300 {
		t.Errorf("%d of 500 reviews positive, want about half", pos)
	}
	if c := Reviews(5, 8); c[0] == a[0] && c[1] == a[1] {
		t.Errorf("seeds 7 and 8 give the same reviews")
	}
}

// TestQuickDemo runs the whole demo at QuickOptions size: pretraining must
// lower the held-out MLM loss, and fine-tuning must beat chance on the dev
// set. (At this size, 100 pretraining steps of a 1-layer model, which base
// fine-tunes better varies with the seed, so the test asks only that the
// best row beats chance clearly.)
func TestQuickDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quick demo (seconds)")
	}
	o := QuickOptions()
	o.Out = t.TempDir()
	var out bytes.Buffer
	rep, err := Run(context.Background(), o, &out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	t.Logf("demo output:\n%s", out.String())
	if !(rep.After.Loss < rep.Before.Loss-0.3) {
		t.Errorf("held-out MLM loss %.3f → %.3f: pretraining did not lower it by 0.3", rep.Before.Loss, rep.After.Loss)
	}
	if want := len(o.Methods) + 1; len(rep.Rows) != want { // full also from random init
		t.Fatalf("%d table rows, want %d", len(rep.Rows), want)
	}
	best := 0.0
	for _, r := range rep.Rows {
		best = max(best, r.DevAccuracy)
		if r.TrainableParams <= 0 {
			t.Errorf("%s/%s: %d trainable params", r.Method, r.Base, r.TrainableParams)
		}
	}
	if best < 0.65 {
		t.Errorf("best dev accuracy %.3f, want ≥ 0.65 (chance is 0.5)", best)
	}
	for _, want := range []string{"pretraining the 1-layer BERT from scratch", "dev accuracy", "random init"} {
		if !strings.Contains(strings.ToLower(out.String()), strings.ToLower(want)) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The bases are Hugging Face folders gotune itself reads.
	for _, dir := range []string{rep.PretrainedDir, rep.RandomDir} {
		if mt, _, err := checkpoint.ReadConfig(dir); err != nil || mt != "bert" {
			t.Errorf("%s: model_type %q, %v", dir, mt, err)
		}
		if _, err := tokenizer.Load(dir); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	// A second run may reuse the folder; a foreign folder is refused.
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Out = foreign
	if _, err := Run(context.Background(), o, &out); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("running into a non-empty foreign folder: err %v, want a refusal", err)
	}
}
