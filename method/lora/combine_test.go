package lora_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/safetensors"
)

// deltas returns scale·B·A per module of a loaded PEFT fixture adapter.
func deltas(t *testing.T, l *lora.Loaded, scale float64) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, ta := range l.Tensors.Tensors {
		mod, ok := cutSuffix(ta.Name, ".lora_A.weight")
		if !ok {
			continue
		}
		tb := l.Tensors.Get(mod + ".lora_B.weight")
		r, in, o := ta.Shape[0], ta.Shape[1], tb.Shape[0]
		d := make([]float64, o*in)
		for i := 0; i < o; i++ {
			for k := 0; k < r; k++ {
				for j := 0; j < in; j++ {
					d[i*in+j] += scale * float64(tb.F32[i*r+k]) * float64(ta.F32[k*in+j])
				}
			}
		}
		out[mod] = d
	}
	return out
}

func cutSuffix(s, suf string) (string, bool) {
	if len(s) >= len(suf) && s[len(s)-len(suf):] == suf {
		return s[:len(s)-len(suf)], true
	}
	return s, false
}

// TestCombine: cat reproduces Σ wᵢ·ΔWᵢ exactly (scaling 1); linear follows
// PEFT's √(w·s) weighting of A and B; heads are the weighted sum; the
// result loads, and two adapters on one base switch without reloading.
func TestCombine(t *testing.T) {
	a, err := lora.ReadAdapter(filepath.Join(fixtures, "lora"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := lora.ReadAdapter(filepath.Join(fixtures, "lora-rslora"))
	if err != nil {
		t.Fatal(err)
	}
	da, db := deltas(t, a, 8.0/4), deltas(t, b, 8.0/2)
	cat, err := lora.Combine([]*lora.Loaded{a, b}, []float64{0.7, 0.3}, lora.CombineCat)
	if err != nil {
		t.Fatal(err)
	}
	if cat.Cfg.R != 8 || cat.Cfg.Alpha != 8 {
		t.Errorf("cat: r=%d alpha=%g, want 8, 8", cat.Cfg.R, cat.Cfg.Alpha)
	}
	dir := filepath.Join(t.TempDir(), "cat")
	if err := cat.Save(dir); err != nil {
		t.Fatal(err)
	}
	c, err := lora.ReadAdapter(dir)
	if err != nil {
		t.Fatal(err)
	}
	dc := deltas(t, c, 1)
	worst := 0.0
	for mod, d := range dc {
		for i := range d {
			worst = max(worst, abs(d[i]-(0.7*da[mod][i]+0.3*db[mod][i])))
		}
	}
	if len(dc) != 4 || worst > 1e-6 {
		t.Errorf("cat: %d modules, ΔW off by %g", len(dc), worst)
	}
	head := c.Tensors.Get("base_model.model.classifier.weight")
	ha, hb := a.Tensors.Get("base_model.model.classifier.weight"), b.Tensors.Get("base_model.model.classifier.weight")
	for i := range head.F32 {
		if abs(float64(head.F32[i])-(0.7*float64(ha.F32[i])+0.3*float64(hb.F32[i]))) > 1e-6 {
			t.Fatal("cat: head is not the weighted sum")
		}
	}

	lin, err := lora.Combine([]*lora.Loaded{a, b}, []float64{0.7, 0.3}, lora.CombineLinear)
	if err != nil {
		t.Fatal(err)
	}
	key := "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight"
	var got *safetensors.Tensor
	for _, tt := range lin.Tensors {
		if tt.Name == key {
			got = tt
		}
	}
	wa, wb := sqrt(0.7*2), sqrt(0.3*4)
	for i := range got.F32 {
		want := wa*float64(a.Tensors.Get(key).F32[i]) + wb*float64(b.Tensors.Get(key).F32[i])
		if abs(float64(got.F32[i])-want) > 1e-6 {
			t.Fatalf("linear: A[%d] = %g, want %g", i, got.F32[i], want)
		}
	}
	if lin.Cfg.R != 4 {
		t.Errorf("linear: r=%d, want 4", lin.Cfg.R)
	}

	// The combined adapter loads and runs next to a PEFT one on one base.
	m, h, err := lora.LoadModel("", []string{"cat=" + dir, "a=" + filepath.Join(fixtures, "lora")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := fixture.Expected(t, fixtures)
	in := fixture.Encoder(t, fixtures).Tensors()
	logits(t, m, in)
	if err := h.Use("a"); err != nil {
		t.Fatal(err)
	}
	fixture.Compare(t, "lora.logits via Use(a)", logits(t, m, in), exp.Get("lora.logits"), 1e-5)

	if _, err := lora.Combine([]*lora.Loaded{a, b}, []float64{-1, 1}, lora.CombineLinear); err == nil {
		t.Error("linear with a negative weight: no error")
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func sqrt(x float64) float64 { return math.Sqrt(x) }
