package adapter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	gnn "github.com/gomlx/gomlx/ml/nn"

	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/nn"
)

// Adapter is one bottleneck adapter attached to a model: its settings, its
// sites and its own copy of the task head.
type Adapter struct {
	// Name identifies the adapter among those on a model; its weights are
	// named Site.Param(Name, part).
	Name string
	// Cfg is the adapter's configuration (defaults filled in).
	Cfg Config
	// Sites are where it sits, in layer order.
	Sites []Site
	// Head maps each task-head weight of the model (for example
	// "classifier.weight") to the adapter's copy; empty when the adapter
	// has no head of its own.
	Head map[string]string
	// BaseModel is the base model the adapter was trained on.
	BaseModel string

	bySite map[string]*Site
	head   map[string]bool // head modules
}

func siteKey(layer int, kind string) string { return strconv.Itoa(layer) + "/" + kind }

// headParam names an adapter's copy of a head weight.
func headParam(adapter, weight string) string { return "adapter_heads." + adapter + "." + weight }

func newAdapter(name string, cfg Config, sites []Site) (*Adapter, error) {
	if !method.ValidName(name) {
		return nil, fmt.Errorf("adapter: name %q: use letters, digits, _ and - only", name)
	}
	a := &Adapter{Name: name, Cfg: cfg.withDefaults(), Sites: sites, Head: map[string]string{},
		bySite: map[string]*Site{}, head: map[string]bool{}}
	for i := range a.Sites {
		a.bySite[siteKey(a.Sites[i].Layer, a.Sites[i].Kind)] = &a.Sites[i]
	}
	return a, nil
}

// Site returns the adapter's site at a layer's sublayer, or nil.
func (a *Adapter) Site(layer int, kind string) *Site { return a.bySite[siteKey(layer, kind)] }

// ParamNames lists the adapter's weights in the model (sites, then head).
func (a *Adapter) ParamNames() []string {
	var out []string
	for _, s := range a.Sites {
		for _, p := range Parts() {
			out = append(out, s.Param(a.Name, p))
		}
	}
	for _, w := range sortedKeys(a.Head) {
		out = append(out, a.Head[w])
	}
	return out
}

func (a *Adapter) setHead(weight, param string) {
	a.Head[weight] = param
	if i := strings.LastIndex(weight, "."); i > 0 {
		a.head[weight[:i]] = true
	}
}

// bottleneck is AdapterHub's Adapter.forward without the residual:
// dropout(scaling · up(act(down(h)))).
func (a *Adapter) bottleneck(c *nn.Ctx, s *Site, h *Node) *Node {
	w := func(part string) *Node { return c.Weight(s.Param(a.Name, part)) }
	d := gnn.Dense(h, w(DownWeight), w(DownBias), compute.DenseLayoutOutputsInput)
	d, err := nn.Activation(a.Cfg.NonLinearity, d)
	if err != nil {
		panic(err)
	}
	u := gnn.Dense(d, w(UpWeight), w(UpBias), compute.DenseLayoutOutputsInput)
	if a.Cfg.Scaling != 1 {
		u = MulScalar(u, a.Cfg.Scaling)
	}
	return c.Dropout(u, a.Cfg.Dropout)
}

// Hook is the graph hook of bottleneck adapters: it holds every adapter
// attached to a model and applies the active setup, one adapter or a
// stack, at each sublayer. Changing the setup needs the model's graphs
// rebuilt; the weights stay loaded.
type Hook struct {
	adapters map[string]*Adapter
	order    []string
	active   []string
}

// NewHook returns a hook without adapters.
func NewHook() *Hook { return &Hook{adapters: map[string]*Adapter{}} }

// Add attaches an adapter; the first one added becomes active.
func (h *Hook) Add(a *Adapter) error {
	if _, ok := h.adapters[a.Name]; ok {
		return fmt.Errorf("adapter: an adapter named %q is already loaded", a.Name)
	}
	h.adapters[a.Name] = a
	h.order = append(h.order, a.Name)
	if len(h.active) == 0 {
		h.active = []string{a.Name}
	}
	return nil
}

// Names lists the attached adapters in the order they were added.
func (h *Hook) Names() []string { return slices.Clone(h.order) }

// Adapter returns the named adapter, or nil.
func (h *Hook) Adapter(name string) *Adapter { return h.adapters[name] }

// Active returns the active setup: one adapter, a stack bottom to top, or
// none (the base model).
func (h *Hook) Active() []string { return slices.Clone(h.active) }

// Use activates a setup: "" for none (the base model), a name, or a stack
// "a+b" (b runs on a's output at every sublayer, AdapterHub's Stack("a",
// "b"); the head is the top one's). Parallel adapters cannot be stacked.
func (h *Hook) Use(setup string) error {
	if setup == "" {
		h.active = nil
		return nil
	}
	return h.Stack(strings.Split(setup, "+")...)
}

// Stack activates adapters on top of each other, bottom first.
func (h *Hook) Stack(names ...string) error {
	for _, n := range names {
		a := h.adapters[n]
		if a == nil {
			return fmt.Errorf("adapter: no adapter named %q (loaded: %s)", n, strings.Join(h.order, ", "))
		}
		if len(names) > 1 && a.Cfg.parallel() {
			return fmt.Errorf("adapter: %q is a parallel adapter; AdapterHub's Stack would drop the adapters below it, so gotune does not stack it", n)
		}
	}
	for i, n := range names {
		if slices.Contains(names[:i], n) {
			return fmt.Errorf("adapter: %q appears twice in the stack", n)
		}
	}
	h.active = slices.Clone(names)
	return nil
}

// Deactivate turns every adapter off: the model is the base again.
func (h *Hook) Deactivate() { h.active = nil }

// Delete removes an adapter and its weights from the model's Params; it
// leaves the active setup when it was part of it.
func (h *Hook) Delete(p *nn.Params, name string) error {
	a := h.adapters[name]
	if a == nil {
		return fmt.Errorf("adapter: no adapter named %q (loaded: %s)", name, strings.Join(h.order, ", "))
	}
	for _, n := range a.ParamNames() {
		if err := p.Delete(n); err != nil {
			return err
		}
	}
	delete(h.adapters, name)
	h.order = slices.DeleteFunc(h.order, func(s string) bool { return s == name })
	h.active = slices.DeleteFunc(h.active, func(s string) bool { return s == name })
	return nil
}

// TrainOnly makes exactly the named adapters' weights (and their heads)
// trainable among those of the hook, as AdapterHub's train_adapter does;
// base weights are left as they are.
func (h *Hook) TrainOnly(p *nn.Params, names ...string) error {
	for _, n := range names {
		if h.adapters[n] == nil {
			return fmt.Errorf("adapter: no adapter named %q (loaded: %s)", n, strings.Join(h.order, ", "))
		}
	}
	for _, a := range h.adapters {
		on := slices.Contains(names, a.Name)
		for _, n := range a.ParamNames() {
			p.SetTrainable(n, on)
		}
	}
	return nil
}

// Sublayer implements nn.SublayerHook with AdapterHub's
// bottleneck_layer_forward: pre_forward, the adapter (each of a stack in
// turn) and the last adapter's post_forward. It returns nil (the model's
// own norm(out + residual)) where no active adapter sits.
func (h *Hook) Sublayer(c *nn.Ctx, layer int, kind string, out, residual *Node, norm func(*Node) *Node) *Node {
	var stack []*Adapter
	var sites []*Site
	for _, n := range h.active {
		a := h.adapters[n]
		if s := a.Site(layer, kind); s != nil {
			stack, sites = append(stack, a), append(sites, s)
		}
	}
	if len(stack) == 0 {
		return nil
	}
	hs := out
	for i, a := range stack {
		if a.Cfg.parallel() {
			// ParallelAdapter.pre_forward: the adapter reads the sublayer's
			// input; forward adds no residual.
			hs = a.bottleneck(c, sites[i], residual)
			continue
		}
		// Adapter.pre_forward.
		in, res := hs, hs
		if a.Cfg.lnBefore() {
			sum := Add(hs, residual)
			if a.Cfg.ResidualBeforeLN == "post_add" {
				res = sum
			}
			in = norm(sum)
			if a.Cfg.ResidualBeforeLN == "false" {
				res = in
			}
		}
		// Adapter.forward: the adapter's residual after its output.
		hs = Add(a.bottleneck(c, sites[i], in), res)
	}
	// post_forward of the last adapter (original_ln_after): the sublayer's
	// residual and layer norm; a parallel adapter's output joins the
	// sublayer's.
	if stack[len(stack)-1].Cfg.parallel() {
		hs = Add(hs, out)
	}
	return norm(Add(hs, residual))
}

// Linear implements nn.LinearHook: the task head of the top active adapter
// uses that adapter's own copy.
func (h *Hook) Linear(c *nn.Ctx, module string, x *Node, base func(*Node) *Node) *Node {
	if len(h.active) == 0 {
		return nil
	}
	a := h.adapters[h.active[len(h.active)-1]]
	if !a.head[module] {
		return nil
	}
	w := c.Weight(a.Head[module+".weight"])
	var b *Node
	if n, ok := a.Head[module+".bias"]; ok {
		b = c.Weight(n)
	}
	return gnn.Dense(x, w, b, compute.DenseLayoutOutputsInput)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
