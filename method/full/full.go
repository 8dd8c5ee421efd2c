// Package full is full fine-tuning: every weight trains and the whole model
// is saved in Hugging Face layout.
package full

import "github.com/gotune/gotune/method"

// Method is full fine-tuning.
type Method struct{}

// New returns the full fine-tuning method.
func New() *Method { return &Method{} }

// Name returns "full".
func (*Method) Name() string { return "full" }

// Prepare marks every weight trainable.
func (*Method) Prepare(m method.Model) error {
	m.Params().SetAllTrainable(true)
	return nil
}

// Save writes the whole model.
func (*Method) Save(m method.Model, dir string) error { return m.SaveFull(dir) }
