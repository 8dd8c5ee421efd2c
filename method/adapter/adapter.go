package adapter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/nn"
)

// DefaultName is the name of the adapter a training run creates.
const DefaultName = "default"

// DefaultLR is AdapterHub's advised learning rate for adapter training
// (1e-4), higher than full fine-tuning's.
const DefaultLR = 1e-4

// Method is bottleneck adapter tuning.
type Method struct {
	cfg     Config
	seed    uint64
	arch    Architecture
	hook    *Hook
	adapter *Adapter
}

// New checks cfg and returns the method; seed initialises the adapter, arch
// maps the model's parameters to modules (bert.ModulesOf for the BERT
// family).
func New(cfg Config, seed uint64, arch Architecture) (*Method, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Method{cfg: cfg.withDefaults(), seed: seed, arch: arch}, nil
}

// Name returns "adapter".
func (*Method) Name() string { return "adapter" }

// Config returns the method's settings (defaults filled in).
func (m *Method) Config() Config { return m.cfg }

// Hook returns the graph hook installed by Prepare (nil before).
func (m *Method) Hook() *Hook { return m.hook }

// Adapter returns the adapter created by Prepare (nil before).
func (m *Method) Adapter() *Adapter { return m.adapter }

// Prepare freezes the base model, adds a new adapter named "default" with
// its own trainable copy of the task head, and installs the hook.
func (m *Method) Prepare(mdl method.Model) error {
	mdl.Params().SetAllTrainable(false)
	m.hook = NewHook()
	a, err := Create(mdl, m.hook, DefaultName, m.cfg, m.seed, m.arch)
	if err != nil {
		return err
	}
	m.adapter = a
	mdl.AddHook(m.hook)
	return nil
}

// paramShapes returns every weight's shape, leaving out adapters' weights.
func paramShapes(p *nn.Params) map[string][]int {
	out := map[string][]int{}
	for _, n := range p.Names() {
		if !strings.Contains(n, ".adapters.") && !strings.HasPrefix(n, "adapter_heads.") {
			out[n] = p.Shape(n)
		}
	}
	return out
}

// plan places cfg in the model mdl.
func plan(mdl method.Model, cfg Config, arch Architecture) ([]Site, error) {
	shapes := paramShapes(mdl.Params())
	mods, err := arch(sortedKeys(shapes))
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	return cfg.Plan(mods, shapes)
}

// Create adds a new, seeded adapter on a model (which must carry hook h):
// its weights, initialised by cfg.Init, and a trainable copy of the
// model's task head. The adapter becomes active when it is the hook's
// first.
func Create(mdl method.Model, h *Hook, name string, cfg Config, seed uint64, arch Architecture) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h.adapters[name] != nil {
		return nil, fmt.Errorf("adapter: an adapter named %q is already loaded", name)
	}
	sites, err := plan(mdl, cfg, arch)
	if err != nil {
		return nil, err
	}
	a, err := newAdapter(name, cfg, sites)
	if err != nil {
		return nil, err
	}
	a.BaseModel = mdl.Source()
	rng := rand.New(rand.NewPCG(seed, 0x4164617074)) //nolint:gosec // reproducible init
	for _, s := range sites {
		for _, part := range Parts() {
			v := initPart(a.Cfg.Init, part, s, rng)
			if err := mdl.AddExtraParam(s.Param(name, part), s.Shape(part), v); err != nil {
				return nil, err
			}
		}
	}
	p := mdl.Params()
	for _, w := range mdl.HeadParams() {
		v, err := p.Value(w)
		if err != nil {
			return nil, err
		}
		if err := mdl.AddExtraParam(headParam(name, w), p.Shape(w), v); err != nil {
			return nil, err
		}
		a.setHead(w, headParam(name, w))
	}
	if err := h.Add(a); err != nil {
		return nil, err
	}
	return a, nil
}

// initPart initialises one weight as AdapterHub's Adapter.__init__ does:
// biases zero; mam_adapter: down Kaiming-uniform (a=√5, bound 1/√in), up
// zero; bert: normal(0, 0.02); houlsby: normal(0, 0.01) truncated to
// ±0.02.
func initPart(init, part string, s Site, rng *rand.Rand) []float32 {
	shape := s.Shape(part)
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	if part == DownBias || part == UpBias {
		return v
	}
	switch init {
	case "bert":
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.02)
		}
	case "houlsby":
		for i := range v {
			x := rng.NormFloat64()
			for math.Abs(x) > 2 {
				x = rng.NormFloat64()
			}
			v[i] = float32(x * 0.01)
		}
	default: // mam_adapter
		if part == DownWeight {
			bound := 1 / math.Sqrt(float64(shape[1]))
			for i := range v {
				v[i] = float32((rng.Float64()*2 - 1) * bound)
			}
		}
	}
	return v
}

// Summary describes the adapter for the run log.
func (m *Method) Summary() string {
	a := m.adapter
	if a == nil {
		return "adapter: not prepared"
	}
	return fmt.Sprintf("adapter: %s; %d sites in %d layers, %d adapter weights (+ the head)",
		a.Cfg.Describe(), len(a.Sites), countLayers(a.Sites), ParamCount(a.Sites))
}

func countLayers(sites []Site) int {
	seen := map[int]bool{}
	for _, s := range sites {
		seen[s.Layer] = true
	}
	return len(seen)
}

// Save writes the adapter and its head in AdapterHub's layout into dir.
func (m *Method) Save(mdl method.Model, dir string) error {
	if m.adapter == nil {
		return fmt.Errorf("adapter: Save before Prepare")
	}
	return SaveAdapter(mdl, m.adapter, dir)
}
