package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/nn"
)

// DefaultAdapter is the name of the adapter a training run creates (PEFT's
// "default").
const DefaultAdapter = "default"

// Method is LoRA fine-tuning.
type Method struct {
	cfg     Config
	seed    uint64
	hook    *Hook
	adapter *Adapter
	total   int64
}

// New checks cfg and returns the method; seed initialises the adapter.
func New(cfg Config, seed uint64) (*Method, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Method{cfg: cfg.withDefaults(), seed: seed}, nil
}

// Name returns "lora".
func (*Method) Name() string { return "lora" }

// Config returns the method's settings (defaults filled in).
func (m *Method) Config() Config { return m.cfg }

// Hook returns the graph hook installed by Prepare (nil before).
func (m *Method) Hook() *Hook { return m.hook }

// Adapter returns the adapter created by Prepare (nil before).
func (m *Method) Adapter() *Adapter { return m.adapter }

// ModelType guesses the architecture from the weight names ("roberta" for
// roberta.*, else "bert"), for the default targets.
func ModelType(names []string) string {
	for _, n := range names {
		if strings.HasPrefix(n, "roberta.") {
			return "roberta"
		}
	}
	return "bert"
}

// paramShapes returns every weight's shape.
func paramShapes(p *nn.Params) map[string][]int {
	out := map[string][]int{}
	for _, n := range p.Names() {
		out[n] = p.Shape(n)
	}
	return out
}

// savedModules returns the linear layers trained in full: the head's and
// those in a module an entry of modules_to_save names. A module matches an
// entry as in PEFT when its name is the entry or ends with "." + entry;
// the entry may name a container ("pooler" is bert.pooler, whose linear
// layer bert.pooler.dense is saved) or the layer itself ("pooler.dense").
// With strict, an entry that matches no module, or only modules without a
// linear layer, is an error listing the candidates (PEFT ignores it, so
// adapters read from disk are not strict).
func savedModules(cfg Config, p *nn.Params, head []string, strict bool) ([]string, error) {
	set := headModules(head)
	shapes := map[string][]int{}
	modules := map[string]bool{}
	for _, n := range p.Names() {
		if strings.HasPrefix(n, "lora.") {
			continue
		}
		shapes[n] = p.Shape(n)
		for i, c := range n {
			if c == '.' {
				modules[n[:i]] = true
			}
		}
	}
	linears := Linears(shapes)
	for m := range headModules(head) {
		if !slicesContains(linears, m) {
			linears = append(linears, m)
		}
	}
	for _, s := range cfg.ModulesToSave {
		s = strings.Trim(s, ".")
		if s == "" {
			continue
		}
		var matched []string
		found := 0
		for mod := range modules {
			if mod != s && !strings.HasSuffix(mod, "."+s) {
				continue
			}
			matched = append(matched, mod)
			for _, l := range linears {
				if l == mod || strings.HasPrefix(l, mod+".") {
					set[l] = true
					found++
				}
			}
		}
		if !strict || found > 0 {
			continue
		}
		if len(matched) > 0 {
			sort.Strings(matched)
			return nil, fmt.Errorf("lora: modules_to_save %q names %s, which holds no linear layer; gotune trains and saves linear layers in full: %s",
				s, strings.Join(matched, ", "), strings.TrimSuffix(describeCandidates(linears), "; or all-linear"))
		}
		return nil, fmt.Errorf("lora: modules_to_save %q matches no module of the model (a module name or its last dotted parts, e.g. pooler or pooler.dense); linear layers: %s",
			s, strings.TrimSuffix(describeCandidates(linears), "; or all-linear"))
	}
	return sortedKeys(set), nil
}

// Prepare freezes the base model, creates the adapter's weights (seeded),
// copies the head and modules_to_save, and installs the hook.
func (m *Method) Prepare(mdl method.Model) error {
	p := mdl.Params()
	p.SetAllTrainable(false)
	modelType, fanInFanOut, task, shapes := describe(mdl)
	m.cfg.FanInFanOut = fanInFanOut
	if err := m.cfg.Validate(); err != nil {
		return err
	}
	mods, err := m.cfg.Plan(modelType, shapes, mdl.HeadParams())
	if err != nil {
		return err
	}
	a, err := newAdapter(DefaultAdapter, m.cfg, mods)
	if err != nil {
		return err
	}
	a.BaseModel, a.TaskType = mdl.Source(), task
	rng := rand.New(rand.NewPCG(m.seed, 0x4c6f5241))
	for _, mod := range mods {
		av, bv := initAB(m.cfg.Init, mod, rng)
		if err := mdl.AddExtraParam(ParamA(a.Name, mod.Name), []int{mod.R, mod.In}, av); err != nil {
			return err
		}
		if err := mdl.AddExtraParam(ParamB(a.Name, mod.Name), []int{mod.Out, mod.R}, bv); err != nil {
			return err
		}
		if m.cfg.UseDoRA {
			w, err := p.Value(mod.Name + ".weight")
			if err != nil {
				return err
			}
			mag := rowNorms(w, deltaWeight(av, bv, mod), mod.Out, mod.In)
			if err := mdl.AddExtraParam(ParamMagnitude(a.Name, mod.Name), []int{mod.Out}, mag); err != nil {
				return err
			}
		}
	}
	sms, err := savedModules(m.cfg, p, mdl.HeadParams(), true)
	if err != nil {
		return err
	}
	for _, sm := range sms {
		if a.byName[sm] != nil {
			return fmt.Errorf("lora: module %s is both a LoRA target and in modules_to_save", sm)
		}
		if err := copySaved(mdl, a, sm); err != nil {
			return err
		}
	}
	a.Biases = m.cfg.biases(mods, shapes, mdl.HeadParams())
	for _, b := range a.Biases {
		if !a.saved[b[:strings.LastIndex(b, ".")]] {
			p.SetTrainable(b, true)
		}
	}
	// Weights the base lacked (a pooler initialised at random) are saved so
	// that the adapter reproduces the model: their layer trains in full
	// and is saved as PEFT's modules_to_save, like the head; in a targeted
	// layer they stay frozen and are saved as its base_layer weights.
	for _, n := range method.NewWeights(mdl) {
		mod := n[:strings.LastIndex(n, ".")]
		switch {
		case a.saved[mod]:
		case a.byName[mod] != nil:
			if !slicesContains(a.Biases, n) {
				a.Biases = append(a.Biases, n)
			}
		default:
			if err := copySaved(mdl, a, mod); err != nil {
				return err
			}
			a.Cfg.ModulesToSave = append(a.Cfg.ModulesToSave, mod)
		}
	}
	m.hook = NewHook()
	if err := m.hook.Add(a); err != nil {
		return err
	}
	m.adapter = a
	mdl.AddHook(m.hook)
	return nil
}

// copySaved gives the adapter its own trainable copy of a module's weights.
func copySaved(mdl method.Model, a *Adapter, module string) error {
	p := mdl.Params()
	for _, part := range []string{".weight", ".bias"} {
		n := module + part
		if !p.Has(n) {
			continue
		}
		v, err := p.Value(n)
		if err != nil {
			return err
		}
		if err := mdl.AddExtraParam(paramSaved(a.Name, n), p.Shape(n), v); err != nil {
			return err
		}
		a.SavedParams[n] = paramSaved(a.Name, n)
	}
	a.addSaved(module)
	return nil
}

// initAB initialises A [r, in] and B [out, r] as PEFT does: A
// Kaiming-uniform with a=√5 (bound 1/√in) or normal with std 1/r, B zero;
// "none" keeps nn.Linear's default init for both.
func initAB(init string, mod Module, rng *rand.Rand) (a, b []float32) {
	a = make([]float32, mod.R*mod.In)
	b = make([]float32, mod.Out*mod.R)
	uniform := func(v []float32, fanIn int) {
		bound := 1 / math.Sqrt(float64(fanIn))
		for i := range v {
			v[i] = float32((rng.Float64()*2 - 1) * bound)
		}
	}
	switch init {
	case "gaussian":
		for i := range a {
			a[i] = float32(rng.NormFloat64() / float64(mod.R))
		}
	case "none":
		uniform(a, mod.In)
		uniform(b, mod.R)
	default:
		uniform(a, mod.In)
	}
	return a, b
}

// deltaWeight returns scale·B·A [out, in] in float64.
func deltaWeight(a, b []float32, mod Module) []float64 {
	d := make([]float64, mod.Out*mod.In)
	for o := 0; o < mod.Out; o++ {
		row := d[o*mod.In : (o+1)*mod.In]
		for k := 0; k < mod.R; k++ {
			bk := float64(b[o*mod.R+k]) * mod.Scale
			if bk == 0 {
				continue
			}
			ak := a[k*mod.In : (k+1)*mod.In]
			for i := range row {
				row[i] += bk * float64(ak[i])
			}
		}
	}
	return d
}

// rowNorms returns ‖W + delta‖ per output row.
func rowNorms(w []float32, delta []float64, out, in int) []float32 {
	n := make([]float32, out)
	for o := 0; o < out; o++ {
		var s float64
		for i := 0; i < in; i++ {
			v := float64(w[o*in+i]) + delta[o*in+i]
			s += v * v
		}
		n[o] = float32(math.Sqrt(s))
	}
	return n
}

// LRScale implements LoRA+: the B matrices train with LoRAPlusLRRatio
// times the learning rate.
func (m *Method) LRScale(name string) float64 {
	if m.cfg.LoRAPlusLRRatio > 0 && strings.HasPrefix(name, "lora.") && strings.HasSuffix(name, ".lora_B.weight") {
		return m.cfg.LoRAPlusLRRatio
	}
	return 1
}

// Summary describes the adapter for the run log.
func (m *Method) Summary() string {
	a := m.adapter
	if a == nil {
		return "lora: not prepared"
	}
	var n int64
	for _, mod := range a.Modules {
		n += int64(mod.R * (mod.In + mod.Out))
	}
	s := fmt.Sprintf("lora: r=%d alpha=%g dropout=%g on %d modules (%d adapter weights)", a.Cfg.R, a.Cfg.Alpha, a.Cfg.Dropout, len(a.Modules), n)
	if len(a.Saved) > 0 {
		s += "; full copies of " + strings.Join(a.Saved, ", ")
	}
	if a.Cfg.UseRSLoRA {
		s += "; rsLoRA"
	}
	if a.Cfg.UseDoRA {
		s += "; DoRA"
	}
	if a.Cfg.LoRAPlusLRRatio > 0 {
		s += fmt.Sprintf("; LoRA+ B learning-rate ratio %g", a.Cfg.LoRAPlusLRRatio)
	}
	return s
}

// Save writes the adapter in PEFT's layout into dir.
func (m *Method) Save(mdl method.Model, dir string) error {
	if m.adapter == nil {
		return fmt.Errorf("lora: Save before Prepare")
	}
	return SaveAdapter(mdl, m.adapter, dir)
}
