package lora

import (
	"fmt"
	"sort"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	gnn "github.com/gomlx/gomlx/ml/nn"

	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/nn"
)

// Adapter is one LoRA adapter attached to a model: its settings, its
// targeted modules and the names of its weights in the model's Params.
type Adapter struct {
	// Name identifies the adapter among those on a model ("default" for a
	// trained one, the folder name for loaded ones).
	Name string
	// Cfg is the adapter's configuration (defaults filled in).
	Cfg Config
	// Modules are the targeted linear layers, sorted by name.
	Modules []Module
	// Saved are the modules trained in full (the task head and
	// modules_to_save), each with its own copy of the weights.
	Saved []string
	// SavedParams maps each copied weight's model name (for example
	// "classifier.weight") to the adapter's copy.
	SavedParams map[string]string
	// Biases are the base weights this adapter carries: the biases it
	// trains (Bias all/lora_only) and, in a targeted layer, weights the
	// base checkpoint lacked (saved as the layer's base_layer weights).
	Biases []string
	// BaseModel is the base model the adapter was trained on.
	BaseModel string
	// TaskType is PEFT's task_type ("SEQ_CLS", "CAUSAL_LM").
	TaskType string

	byName map[string]*Module
	saved  map[string]bool
	merged *mergeState
}

// ParamA, ParamB and ParamMagnitude name an adapter's weights in the model.
func ParamA(adapter, module string) string {
	return "lora." + adapter + "." + module + ".lora_A.weight"
}

// ParamB names the B matrix [out, r] of a module.
func ParamB(adapter, module string) string {
	return "lora." + adapter + "." + module + ".lora_B.weight"
}

// ParamMagnitude names DoRA's magnitude vector [out] of a module.
func ParamMagnitude(adapter, module string) string {
	return "lora." + adapter + "." + module + ".lora_magnitude_vector"
}

// paramSaved names an adapter's copy of a fully trained weight.
func paramSaved(adapter, weight string) string { return "lora." + adapter + "." + weight }

func newAdapter(name string, cfg Config, mods []Module) (*Adapter, error) {
	if !method.ValidName(name) {
		return nil, fmt.Errorf("lora: adapter name %q: use letters, digits, _ and - only", name)
	}
	a := &Adapter{Name: name, Cfg: cfg.withDefaults(), Modules: mods, SavedParams: map[string]string{},
		byName: map[string]*Module{}, saved: map[string]bool{}}
	for i := range a.Modules {
		a.byName[a.Modules[i].Name] = &a.Modules[i]
	}
	return a, nil
}

// Module returns the targeted module of that name, or nil.
func (a *Adapter) Module(name string) *Module { return a.byName[name] }

// Merged reports whether the adapter is merged into the base weights.
func (a *Adapter) Merged() bool { return a.merged != nil }

func (a *Adapter) addSaved(module string) {
	if !a.saved[module] {
		a.saved[module] = true
		a.Saved = append(a.Saved, module)
		sort.Strings(a.Saved)
	}
}

// Hook is the graph hook of LoRA: it holds every adapter attached to a
// model and applies the active one in each targeted linear layer. Several
// adapters can share a base; Use switches between them (the model's
// graphs must then be rebuilt, the weights stay loaded).
type Hook struct {
	adapters map[string]*Adapter
	order    []string
	active   string
}

// NewHook returns a hook without adapters.
func NewHook() *Hook { return &Hook{adapters: map[string]*Adapter{}} }

// Add attaches an adapter; the first one added becomes active.
func (h *Hook) Add(a *Adapter) error {
	if _, ok := h.adapters[a.Name]; ok {
		return fmt.Errorf("lora: an adapter named %q is already loaded", a.Name)
	}
	h.adapters[a.Name] = a
	h.order = append(h.order, a.Name)
	if h.active == "" {
		h.active = a.Name
	}
	return nil
}

// Names lists the attached adapters in the order they were added.
func (h *Hook) Names() []string { return append([]string(nil), h.order...) }

// Adapter returns the named adapter, or nil.
func (h *Hook) Adapter(name string) *Adapter { return h.adapters[name] }

// Active returns the active adapter's name ("" for none: the base model).
func (h *Hook) Active() string { return h.active }

// Use makes the named adapter active; "" disables every adapter. An
// adapter cannot be switched away from while another one is merged.
func (h *Hook) Use(name string) error {
	if name != "" && h.adapters[name] == nil {
		return fmt.Errorf("lora: no adapter named %q (loaded: %v)", name, h.order)
	}
	for _, a := range h.adapters {
		if a.merged != nil && a.Name != name {
			return fmt.Errorf("lora: adapter %q is merged into the base weights; unmerge it first", a.Name)
		}
	}
	h.active = name
	return nil
}

// Linear implements nn.LinearHook: the active adapter's update on a
// targeted module, its own copy of a fully trained module, nothing
// otherwise (and nothing while merged: the base weights hold it).
func (h *Hook) Linear(c *nn.Ctx, module string, x *Node, base func(*Node) *Node) *Node {
	a := h.adapters[h.active]
	if a == nil || a.merged != nil {
		return nil
	}
	if a.saved[module] {
		w := c.Weight(a.SavedParams[module+".weight"])
		var b *Node
		if n, ok := a.SavedParams[module+".bias"]; ok {
			b = c.Weight(n)
		}
		return gnn.Dense(x, w, b, compute.DenseLayoutOutputsInput)
	}
	m := a.byName[module]
	if m == nil {
		return nil
	}
	y := base(x)
	xd := c.Dropout(x, a.Cfg.Dropout)
	wa, wb := c.Weight(ParamA(a.Name, module)), c.Weight(ParamB(a.Name, module))
	lo := gnn.Dense(gnn.Dense(xd, wa, nil, compute.DenseLayoutOutputsInput), wb, nil, compute.DenseLayoutOutputsInput)
	if !a.Cfg.UseDoRA {
		return Add(y, MulScalar(lo, m.Scale))
	}
	// DoRA (PEFT's DoraLinearLayer): the update is rescaled per output row
	// by magnitude / ‖W + s·BA‖, the norm detached from the gradient.
	w := c.Weight(module + ".weight")
	delta := StopGradient(MatMul(wb, wa))
	norm := StopGradient(Sqrt(ReduceSum(Square(Add(w, MulScalar(delta, m.Scale))), 1)))
	plain := gnn.Dense(xd, w, nil, compute.DenseLayoutOutputsInput)
	dims := make([]int, plain.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[len(dims)-1] = m.Out
	scale := Reshape(Div(c.Weight(ParamMagnitude(a.Name, module)), norm), dims...)
	dora := Add(Mul(AddScalar(scale, -1), plain), Mul(scale, MulScalar(lo, m.Scale)))
	return Add(y, dora)
}
