// Package freeze is partial fine-tuning: chosen modules of the base model
// train and the rest is frozen. Frozen weights get no gradients (the
// training graph differentiates only towards trainable weights) and no
// optimizer state; the whole model is saved in Hugging Face layout, as
// full fine-tuning does.
//
// What trains is chosen by a Config: module lists (embeddings, layers:N-M,
// pooler, module kinds such as ffn, or both as layers:4-5.ffn), regular
// expressions on Hugging Face parameter names, or the last N layers. The
// classification head always trains. The method holds no architecture
// knowledge: it asks a Modules map (bert.Modules for the BERT family) which
// group, layer and module kinds a parameter belongs to.
package freeze

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gotune/gotune/method"
)

// LayersGroup is the group of the parameters of the repeated encoder
// layers; Modules.Locate returns it with the layer index.
const LayersGroup = "layers"

// Modules is the architecture knowledge the method needs; *bert.Modules
// satisfies it.
type Modules interface {
	// NumLayers returns the number of encoder layers.
	NumLayers() int
	// Groups returns the module groups present, bottom to top, with
	// LayersGroup standing for the encoder layers (for example
	// embeddings, layers, pooler, classifier).
	Groups() []string
	// Kinds returns the module kinds inside a layer (attention, ffn, ...).
	Kinds() []string
	// Locate returns a parameter's group ("" for none), layer (-1 outside
	// the layers) and, inside a layer, the module kinds it belongs to.
	Locate(name string) (group string, layer int, kinds []string)
}

// Architecture builds the Modules of a model from its parameter names.
type Architecture func(names []string) (Modules, error)

// Method is partial fine-tuning.
type Method struct {
	cfg     Config
	plan    *plan
	arch    Architecture
	summary string
}

// New checks cfg's syntax and returns the method; names are checked
// against the model in Prepare. arch maps the model's parameters to modules.
func New(cfg Config, arch Architecture) (*Method, error) {
	p, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	if arch == nil {
		return nil, fmt.Errorf("freeze: no architecture module map")
	}
	return &Method{cfg: cfg, plan: p, arch: arch}, nil
}

// Name returns "freeze".
func (*Method) Name() string { return "freeze" }

// Prepare marks the selected weights (and the head) trainable and freezes
// the rest.
func (f *Method) Prepare(m method.Model) error {
	p := m.Params()
	names := p.Names()
	mods, err := f.arch(names)
	if err != nil {
		return err
	}
	trainable, err := f.plan.selectTrainable(names, mods, m.HeadParams())
	if err != nil {
		return err
	}
	for _, n := range names {
		p.SetTrainable(n, trainable[n])
	}
	f.summary = summarize(names, mods, trainable)
	return nil
}

// Save writes the whole model in Hugging Face layout.
func (*Method) Save(m method.Model, dir string) error { return m.SaveFull(dir) }

// Summary describes, after Prepare, which modules train and which are
// frozen, for the run's parameter report.
func (f *Method) Summary() string { return f.summary }

// selectTrainable returns the set of trainable weights.
func (p *plan) selectTrainable(names []string, mods Modules, head []string) (map[string]bool, error) {
	isHead := map[string]bool{}
	for _, h := range head {
		isHead[h] = true
	}
	chosen := map[string]bool{}
	add := func(ns []string) {
		for _, n := range ns {
			chosen[n] = true
		}
	}
	list, flag, re, reFlag := p.train, FlagTrain, p.trainRe, FlagTrainRegex
	if p.freezeStyle {
		list, flag, re, reFlag = p.freeze, FlagFreeze, p.freezeRe, FlagFreezeRegex
	}
	for _, s := range list {
		ns, err := s.match(names, mods, flag)
		if err != nil {
			return nil, err
		}
		if p.freezeStyle && !slices.ContainsFunc(ns, func(n string) bool { return !isHead[n] }) {
			return nil, fmt.Errorf("%q in %s names the classification head, which always trains (it is new)", s.text, flag)
		}
		add(ns)
	}
	if re != nil {
		var ns []string
		for _, n := range names {
			if re.MatchString(n) {
				ns = append(ns, n)
			}
		}
		if len(ns) == 0 {
			return nil, fmt.Errorf("%s %q matches no parameter; names look like: %s", reFlag, re.String(), sampleNames(names, mods))
		}
		add(ns)
	}
	if p.trainLast > 0 {
		ns, err := lastLayers(p.trainLast, names, mods)
		if err != nil {
			return nil, err
		}
		add(ns)
	}
	trainable := map[string]bool{}
	for _, n := range names {
		trainable[n] = isHead[n] || chosen[n] != p.freezeStyle
	}
	return trainable, nil
}

// match returns the parameters an entry of a module list names, checking
// the names and layer range against the model.
func (s selector) match(names []string, mods Modules, flag string) ([]string, error) {
	kinds := mods.Kinds()
	if !s.layers {
		switch {
		case s.name != LayersGroup && slices.Contains(mods.Groups(), s.name):
		case slices.Contains(kinds, s.name):
			s.kind = s.name
			s.name = ""
			s.layers = true
		default:
			return nil, fmt.Errorf("unknown module %q in %s; valid: %s", s.text, flag, validNames(mods))
		}
	}
	if s.kind != "" && !slices.Contains(kinds, s.kind) {
		return nil, fmt.Errorf("unknown module kind %q in %q (%s); valid kinds: %s", s.kind, s.text, flag, strings.Join(kinds, ", "))
	}
	if L := mods.NumLayers(); s.layers && s.hi >= L {
		return nil, fmt.Errorf("layer %d in %q (%s) is out of range: the model has %d layers (0-%d)", s.hi, s.text, flag, L, L-1)
	}
	var out []string
	for _, n := range names {
		g, l, ks := mods.Locate(n)
		ok := false
		if s.layers {
			ok = g == LayersGroup && l >= s.lo && (s.hi < 0 || l <= s.hi) && (s.kind == "" || slices.Contains(ks, s.kind))
		} else {
			ok = g == s.name
		}
		if ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q in %s matches no parameter of this model", s.text, flag)
	}
	return out, nil
}

// lastLayers returns the parameters of the last n layers and of every group
// above the layers (pooler, head).
func lastLayers(n int, names []string, mods Modules) ([]string, error) {
	L := mods.NumLayers()
	if n > L {
		return nil, fmt.Errorf("%s %d: the model has %d layers", FlagTrainLast, n, L)
	}
	groups := mods.Groups()
	above := map[string]bool{}
	if i := slices.Index(groups, LayersGroup); i >= 0 {
		for _, g := range groups[i+1:] {
			above[g] = true
		}
	}
	var out []string
	for _, name := range names {
		g, l, _ := mods.Locate(name)
		if above[g] || (g == LayersGroup && l >= L-n) {
			out = append(out, name)
		}
	}
	return out, nil
}

// validNames lists the module-list names the model accepts.
func validNames(mods Modules) string {
	var v []string
	for _, g := range mods.Groups() {
		if g == LayersGroup {
			g = "layers:N-M"
		}
		v = append(v, g)
	}
	return strings.Join(append(v, mods.Kinds()...), ", ")
}

// sampleNames shows a few parameter names: the first of each group and the
// first layer's, at most eight.
func sampleNames(names []string, mods Modules) string {
	var out []string
	seen := map[string]int{}
	for _, n := range names {
		g, l, ks := mods.Locate(n)
		key := g
		if g == LayersGroup {
			if l != 0 {
				continue
			}
			key = g + strings.Join(ks, "+")
		}
		// One name per key, a weight matrix rather than a bias when there is one.
		if i, ok := seen[key]; !ok {
			seen[key] = len(out)
			out = append(out, n)
		} else if strings.HasSuffix(out[i], ".bias") && strings.HasSuffix(n, ".weight") {
			out[i] = n
		}
	}
	more := ""
	if len(out) > 8 {
		out = out[:8]
	}
	if len(names) > len(out) {
		more = fmt.Sprintf(", ... (%d parameters)", len(names))
	}
	return strings.Join(out, ", ") + more
}

// summarize lists the trainable and frozen modules, a layer range per run
// of equal layers.
func summarize(names []string, mods Modules, trainable map[string]bool) string {
	type count struct{ all, on int }
	groups := map[string]*count{}
	layers := make([]count, mods.NumLayers())
	for _, n := range names {
		g, l, _ := mods.Locate(n)
		c := groups[g]
		if g == LayersGroup && l >= 0 && l < len(layers) {
			c = &layers[l]
		} else if c == nil {
			c = &count{}
			groups[g] = c
		}
		c.all++
		if trainable[n] {
			c.on++
		}
	}
	var on, off, part []string
	put := func(label string, c count, each bool) {
		switch {
		case c.on == c.all:
			on = append(on, label)
		case c.on == 0:
			off = append(off, label)
		default:
			e := ""
			if each {
				e = " each"
			}
			part = append(part, fmt.Sprintf("%s (%d of %d weights%s)", label, c.on, c.all, e))
		}
	}
	for _, g := range append(mods.Groups(), "") {
		if g != LayersGroup {
			if c := groups[g]; c != nil {
				label := g
				if g == "" {
					label = "other"
				}
				put(label, *c, false)
			}
			continue
		}
		for i := 0; i < len(layers); {
			j := i
			for j+1 < len(layers) && layers[j+1] == layers[i] {
				j++
			}
			label := fmt.Sprintf("layers %d-%d", i, j)
			if i == j {
				label = fmt.Sprintf("layer %d", i)
			}
			put(label, layers[i], i != j)
			i = j + 1
		}
	}
	list := func(s []string) string {
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, ", ")
	}
	s := "freeze: trains " + list(on) + "; frozen: " + list(off)
	if len(part) > 0 {
		s += "; partly trained: " + strings.Join(part, ", ")
	}
	return s + " (the classification head always trains)"
}
