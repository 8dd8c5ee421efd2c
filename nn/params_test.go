package nn_test

import (
	"strings"
	"testing"

	"github.com/gotune/gotune/nn"
)

// TestAddExtra checks method-owned weights: added trainable and recorded,
// set again freely, and never over a weight of the model itself.
func TestAddExtra(t *testing.T) {
	p := nn.NewParams()
	if err := p.Set("encoder.weight", []int{2}, []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	p.SetTrainable("encoder.weight", false)
	extra, err := p.AddExtra(nil, "lora.A", []int{2}, []float32{3, 4})
	if err != nil || !extra["lora.A"] || !p.Trainable("lora.A") {
		t.Fatalf("AddExtra: err %v, extra %v, trainable %v", err, extra, p.Trainable("lora.A"))
	}
	if extra, err = p.AddExtra(extra, "lora.A", []int{2}, []float32{5, 6}); err != nil {
		t.Fatalf("setting an extra weight again: %v", err)
	}
	if v, _ := p.Value("lora.A"); v[0] != 5 {
		t.Errorf("lora.A = %v after setting it again", v)
	}
	_, err = p.AddExtra(extra, "encoder.weight", []int{2}, []float32{0, 0})
	if err == nil || !strings.Contains(err.Error(), "encoder.weight") {
		t.Errorf("overwriting a model weight: %v", err)
	}
	if v, _ := p.Value("encoder.weight"); v[0] != 1 || p.Trainable("encoder.weight") {
		t.Errorf("the model weight changed: %v, trainable %v", v, p.Trainable("encoder.weight"))
	}
}
