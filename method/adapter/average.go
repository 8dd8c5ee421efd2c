package adapter

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/safetensors"
)

// Average builds a new adapter named name whose every weight is the
// weighted sum Σ wᵢ·Tᵢ of the adapters' (AdapterHub's average_adapter with
// combine_strategy "linear"). With normalize (AdapterHub's default) the
// weights are divided by their sum first. The adapters must share their
// configuration up to dropout and init (as AdapterHub requires), base
// model and sites. Beyond AdapterHub, which averages heads separately,
// the heads are averaged too when every adapter has one (and all classify
// into the same labels); otherwise the result has none.
func Average(ls []*Loaded, weights []float64, name string, normalize bool) (*Loaded, error) {
	if len(ls) == 0 || len(ls) != len(weights) {
		return nil, fmt.Errorf("adapter average: need adapters and as many weights (got %d and %d)", len(ls), len(weights))
	}
	if !method.ValidName(name) {
		return nil, fmt.Errorf("adapter average: name %q: use letters, digits, _ and - only", name)
	}
	ws := slices.Clone(weights)
	if normalize {
		var sum float64
		for _, w := range ws {
			sum += w
		}
		if sum == 0 || math.IsNaN(sum) {
			return nil, fmt.Errorf("adapter average: the weights sum to %g; they cannot be normalised", sum)
		}
		for i := range ws {
			ws[i] /= sum
		}
	}
	first := ls[0]
	key := configKey(first.Cfg)
	for _, l := range ls[1:] {
		switch {
		case configKey(l.Cfg) != key:
			return nil, fmt.Errorf("adapter average: %s (%s) and %s (%s) have different configurations", desc(first), first.Cfg.Describe(), desc(l), l.Cfg.Describe())
		case l.BaseModel != first.BaseModel:
			return nil, fmt.Errorf("adapter average: %s was trained on %s, %s on %s", desc(first), first.BaseModel, desc(l), l.BaseModel)
		case len(l.Weights) != len(first.Weights):
			return nil, fmt.Errorf("adapter average: %s has %d weights, %s %d", desc(first), len(first.Weights), desc(l), len(l.Weights))
		}
	}
	out := &Loaded{Name: name, Cfg: first.Cfg, BaseModel: first.BaseModel, ModelType: first.ModelType,
		ModelClass: first.ModelClass, Hidden: first.Hidden}
	for wi, w := range first.Weights {
		acc := make([]float64, len(w.Data))
		for i, l := range ls {
			o := l.Weights[wi]
			if o.Module != w.Module || o.Part != w.Part {
				o = findWeight(l, w.Module, w.Part)
			}
			if o.Data == nil || !slices.Equal(o.Shape, w.Shape) {
				return nil, fmt.Errorf("adapter average: %s lacks %s.%s of shape %v", desc(l), w.Module, w.Part, w.Shape)
			}
			for j, v := range o.Data {
				acc[j] += ws[i] * float64(v)
			}
		}
		out.Weights = append(out.Weights, Weight{Module: w.Module, Part: w.Part, Shape: slices.Clone(w.Shape), Data: toF32(acc)})
	}
	for _, l := range ls {
		if len(l.Head) == 0 {
			return out, nil
		}
		if !slices.Equal(l.Labels, first.Labels) {
			return nil, fmt.Errorf("adapter average: %s and %s classify into different labels (%s vs %s)",
				desc(first), desc(l), strings.Join(first.Labels, ","), strings.Join(l.Labels, ","))
		}
	}
	out.Labels = slices.Clone(first.Labels)
	for _, t := range first.Head {
		acc := make([]float64, len(t.F32))
		for i, l := range ls {
			var o *safetensors.Tensor
			for _, x := range l.Head {
				if x.Name == t.Name {
					o = x
				}
			}
			if o == nil || !slices.Equal(o.Shape, t.Shape) {
				return nil, fmt.Errorf("adapter average: %s has no head weight %s of shape %v", desc(l), t.Name, t.Shape)
			}
			for j, v := range o.F32 {
				acc[j] += ws[i] * float64(v)
			}
		}
		out.Head = append(out.Head, &safetensors.Tensor{Name: t.Name, Shape: slices.Clone(t.Shape), DType: safetensors.F32, F32: toF32(acc)})
	}
	return out, nil
}

// Average adds to model mdl (carrying hook h) a new adapter name, the
// weighted parameter average of attached adapters (see the function
// Average).
func (h *Hook) Average(mdl method.Model, arch Architecture, name string, names []string, weights []float64) (*Adapter, error) {
	var ls []*Loaded
	for _, n := range names {
		a := h.adapters[n]
		if a == nil {
			return nil, fmt.Errorf("adapter: no adapter named %q (loaded: %s)", n, strings.Join(h.order, ", "))
		}
		l, err := FromModel(mdl, a)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	avg, err := Average(ls, weights, name, true)
	if err != nil {
		return nil, err
	}
	return Attach(mdl, h, avg, name, arch)
}

func findWeight(l *Loaded, module, part string) Weight {
	for _, w := range l.Weights {
		if w.Module == module && w.Part == part {
			return w
		}
	}
	return Weight{}
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func desc(l *Loaded) string {
	if l.Dir != "" {
		return l.Dir
	}
	return "adapter " + l.Name
}

// configKey identifies a configuration up to dropout and init.
func configKey(c Config) string {
	m := hubConfig(c)
	delete(m, "dropout")
	delete(m, "init_weights")
	b, _ := json.Marshal(m)
	return string(b)
}
