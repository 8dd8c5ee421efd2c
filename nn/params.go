// Package nn holds what every architecture builds its graph with: Params, the
// set of named weights (Hugging Face names, Hugging Face layouts), and Ctx,
// the graph-building context whose Linear, LayerNorm, Embedding and Dropout
// helpers are the points where fine-tuning methods hook in.
package nn

import (
	"fmt"
	"slices"
	"sort"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/safetensors"
)

// Params is a set of named float32 weights kept as GoMLX variables in one
// model.Store. Each weight's variable path is "/" + its Hugging Face name, so
// import and export are a loop over names.
type Params struct {
	store *model.Store
	vars  map[string]*model.Variable
	// quant holds the frozen weights stored quantised (Quantize); their
	// names are not in vars.
	quant map[string]*quantized
}

// NewParams returns an empty parameter set with its own store.
func NewParams() *Params {
	return &Params{store: model.NewStore(), vars: map[string]*model.Variable{}}
}

// Store returns the GoMLX store holding the variables.
func (p *Params) Store() *model.Store { return p.store }

// Set creates the named weight, or replaces its value (the shape must then
// be unchanged). data is copied. Setting a quantised weight quantises the
// new value in the same scheme.
func (p *Params) Set(name string, shape []int, data []float32) error {
	n := shapeSize(shape)
	if n != len(data) {
		return fmt.Errorf("weight %s: shape %v needs %d values, got %d", name, shape, n, len(data))
	}
	if q := p.quant[name]; q != nil {
		if !slices.Equal(q.shape, shape) {
			return fmt.Errorf("weight %s: shape %v does not match existing %v", name, shape, q.shape)
		}
		if err := p.Delete(name); err != nil {
			return err
		}
		if err := p.Set(name, shape, data); err != nil {
			return err
		}
		return p.Quantize(name, q.scheme, q.outAxis)
	}
	t := tensors.FromFlatDataAndDimensions(append([]float32(nil), data...), shape...)
	if v, ok := p.vars[name]; ok {
		if !v.Shape().Equal(t.Shape()) {
			return fmt.Errorf("weight %s: shape %v does not match existing %v", name, shape, v.Shape().Dimensions)
		}
		return v.SetValue(t)
	}
	v, err := p.store.CreateVariable("/"+name, t)
	if err != nil {
		return fmt.Errorf("weight %s: %w", name, err)
	}
	p.vars[name] = v
	return nil
}

// Var returns the variable holding the named float32 weight, or nil (also
// for a quantised weight: see Quantization).
func (p *Params) Var(name string) *model.Variable { return p.vars[name] }

// Has reports whether the named weight exists.
func (p *Params) Has(name string) bool { return p.vars[name] != nil || p.quant[name] != nil }

// Delete removes the named weight.
func (p *Params) Delete(name string) error {
	if q := p.quant[name]; q != nil {
		delete(p.quant, name)
		if err := p.store.DeleteVariable(quantPath(name, "codes")); err != nil {
			return err
		}
		return p.store.DeleteVariable(quantPath(name, "absmax"))
	}
	if _, ok := p.vars[name]; !ok {
		return nil
	}
	delete(p.vars, name)
	return p.store.DeleteVariable("/" + name)
}

// Names returns every weight name, sorted.
func (p *Params) Names() []string {
	out := make([]string, 0, len(p.vars)+len(p.quant))
	for n := range p.vars {
		out = append(out, n)
	}
	for n := range p.quant {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Shape returns the named weight's dimensions (nil if absent).
func (p *Params) Shape(name string) []int {
	if q := p.quant[name]; q != nil {
		return q.shape
	}
	v := p.vars[name]
	if v == nil {
		return nil
	}
	return v.Shape().Dimensions
}

// Size returns the number of elements of the named weight.
func (p *Params) Size(name string) int64 {
	if q := p.quant[name]; q != nil {
		return int64(shapeSize(q.shape))
	}
	v := p.vars[name]
	if v == nil {
		return 0
	}
	return int64(v.Shape().Size())
}

// Value copies the named weight's current value to the host (dequantised
// for a quantised weight).
func (p *Params) Value(name string) ([]float32, error) {
	if q := p.quant[name]; q != nil {
		w, err := q.value()
		if err != nil {
			return nil, fmt.Errorf("weight %s: %w", name, err)
		}
		return w, nil
	}
	v := p.vars[name]
	if v == nil {
		return nil, fmt.Errorf("no weight named %s", name)
	}
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("weight %s: %w", name, err)
	}
	if t.DType() != dtypes.Float32 {
		return nil, fmt.Errorf("weight %s: dtype %s, want float32", name, t.DType())
	}
	out := make([]float32, t.Size())
	t.ConstFlatData(func(flat any) { copy(out, flat.([]float32)) })
	return out, nil
}

// SetTrainable marks the named weight trainable or frozen (a quantised
// weight stays frozen).
func (p *Params) SetTrainable(name string, trainable bool) {
	if v := p.vars[name]; v != nil {
		v.SetTrainable(trainable)
	}
}

// Trainable reports whether the named weight trains.
func (p *Params) Trainable(name string) bool {
	v := p.vars[name]
	return v != nil && v.Trainable
}

// SetAllTrainable marks every weight trainable or frozen.
func (p *Params) SetAllTrainable(trainable bool) {
	for _, v := range p.vars {
		v.SetTrainable(trainable)
	}
}

// Count returns the total and trainable number of parameters.
func (p *Params) Count() (total, trainable int64) {
	for _, v := range p.vars {
		n := int64(v.Shape().Size())
		total += n
		if v.Trainable {
			trainable += n
		}
	}
	for _, q := range p.quant {
		total += int64(shapeSize(q.shape))
	}
	return
}

// Tensors returns exactly the named weights (none for an empty list; pass
// p.Names() for all) as safetensors tensors, renamed by rename when it is
// not nil.
func (p *Params) Tensors(names []string, rename func(string) string) ([]*safetensors.Tensor, error) {
	out := make([]*safetensors.Tensor, 0, len(names))
	for _, n := range names {
		data, err := p.Value(n)
		if err != nil {
			return nil, err
		}
		outName := n
		if rename != nil {
			outName = rename(n)
		}
		out = append(out, &safetensors.Tensor{Name: outName, Shape: append([]int{}, p.Shape(n)...), DType: safetensors.F32, F32: data})
	}
	return out, nil
}

// ShapeOf builds a float32 shape from dimensions.
func ShapeOf(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// rngPath is where GoMLX keeps a store's random-number state.
const rngPath = "/" + model.RNGStateVariableName

// SeedRNG sets the store's random-number state (used by dropout) from seed.
func (p *Params) SeedRNG(seed int64) error {
	return p.store.SetRNGStateFromSeed(seed)
}

// RNGState returns the store's random-number state as int64 words (nil if
// none was created yet).
func (p *Params) RNGState() ([]int64, error) {
	v := p.store.GetVariable(rngPath)
	if v == nil || !v.HasValue() {
		return nil, nil
	}
	t, err := v.Value()
	if err != nil {
		return nil, err
	}
	var out []int64
	t.ConstFlatData(func(flat any) {
		for _, u := range flat.([]uint64) {
			out = append(out, int64(u))
		}
	})
	return out, nil
}

// SetRNGState restores a state returned by RNGState.
func (p *Params) SetRNGState(words []int64) error {
	if err := p.store.SetRNGStateFromSeed(0); err != nil {
		return err
	}
	v := p.store.GetVariable(rngPath)
	u := make([]uint64, len(words))
	for i, w := range words {
		u[i] = uint64(w)
	}
	if v.Shape().Size() != len(u) {
		return fmt.Errorf("random state has %d words, want %d", len(u), v.Shape().Size())
	}
	return v.SetValue(tensors.FromFlatDataAndDimensions(u, v.Shape().Dimensions...))
}

// WriteSafetensors writes every weight except those in skip to path as a
// Hugging Face model.safetensors (float32, {"format": "pt"} metadata),
// through a temporary file and a rename.
func (p *Params) WriteSafetensors(path string, skip map[string]bool) error {
	var names []string
	for _, n := range p.Names() {
		if !skip[n] {
			names = append(names, n)
		}
	}
	ts, err := p.Tensors(names, nil)
	if err != nil {
		return err
	}
	return safetensors.WriteFile(path, ts, map[string]string{"format": "pt"})
}

// AddExtra adds a trainable weight that belongs to a fine-tuning method,
// not to the Hugging Face model (method.Model.AddExtraParam), and records
// its name in extra, which it returns (made when nil). Setting it again is
// allowed; a name that is a weight of the model itself is an error.
func (p *Params) AddExtra(extra map[string]bool, name string, shape []int, value []float32) (map[string]bool, error) {
	if p.Has(name) && !extra[name] {
		return extra, fmt.Errorf("weight %s already exists in the model", name)
	}
	if err := p.Set(name, shape, value); err != nil {
		return extra, err
	}
	p.SetTrainable(name, true)
	if extra == nil {
		extra = map[string]bool{}
	}
	extra[name] = true
	return extra, nil
}
