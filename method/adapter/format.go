package adapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/safetensors"
)

// Files of an adapter folder, as AdapterHub's save_adapter(...,
// with_head=True, use_safetensors=True) writes them.
const (
	ConfigFile       = "adapter_config.json"
	WeightsFile      = "adapter.safetensors"
	HeadConfigFile   = "head_config.json"
	HeadWeightsFile  = "model_head.safetensors"
	torchWeights     = "pytorch_adapter.bin"
	torchHeadWeights = "pytorch_model_head.bin"
)

// Version is the "version" gotune writes: the AdapterHub release whose
// format it follows.
const Version = "adapters.1.2.0"

// Weight is one adapter weight of a folder: Site.Module, a part
// (DownWeight, ...) and its values.
type Weight struct {
	Module, Part string
	Shape        []int
	Data         []float32
}

// Loaded is an adapter folder read from disk (or built by SaveAdapter and
// Average), in AdapterHub's terms.
type Loaded struct {
	// Dir is the folder ("" for one built in memory).
	Dir string
	// Name is the adapter's name in the files.
	Name string
	// Cfg is the configuration in gotune's terms.
	Cfg Config
	// BaseModel is model_name: the base model's folder or Hub id.
	BaseModel string
	// ModelType, ModelClass and Hidden describe the base
	// ("bert", "BertForSequenceClassification", 768).
	ModelType, ModelClass string
	Hidden                int
	// Weights are the adapter's weights.
	Weights []Weight
	// Head are the task head's weights under the model's names
	// ("classifier.weight"); nil when the folder has no head.
	Head []*safetensors.Tensor
	// Labels are the head's classes ordered by id (nil without a head).
	Labels []string
	// Warnings are harmless problems (unknown keys).
	Warnings []string
}

// hubConfig is the "config" object of adapter_config.json: every field of
// AdapterHub's BnConfig.
func hubConfig(c Config) map[string]any {
	c = c.withDefaults()
	var rf any = c.ReductionFactor
	if len(c.ReductionPerLayer) > 0 {
		m := map[string]any{}
		for l, f := range c.ReductionPerLayer {
			m[strconv.Itoa(l)] = f
		}
		if c.ReductionFactor > 0 {
			m["default"] = c.ReductionFactor
		}
		rf = m
	}
	var rbl any = c.ResidualBeforeLN == "true"
	if c.ResidualBeforeLN == "post_add" {
		rbl = "post_add"
	}
	leave := c.LeaveOut
	if leave == nil {
		leave = []int{}
	}
	return map[string]any{
		"mh_adapter": c.Placement == Houlsby, "output_adapter": true, "reduction_factor": rf,
		"non_linearity": c.NonLinearity, "original_ln_before": c.lnBefore(), "original_ln_after": true,
		"ln_before": false, "ln_after": false, "init_weights": c.Init, "init_weights_seed": nil,
		"is_parallel": c.parallel(), "scaling": pyFloat(c.Scaling), "use_gating": false, "residual_before_ln": rbl,
		"adapter_residual_before_ln": false, "inv_adapter": nil, "inv_adapter_reduction_factor": nil,
		"cross_adapter": false, "leave_out": leave, "dropout": pyFloat(c.Dropout), "phm_layer": false, "phm_dim": 4,
		"factorized_phm_W": true, "shared_W_phm": false, "shared_phm_rule": true, "factorized_phm_rule": false,
		"phm_c_init": "normal", "phm_init_range": 0.0001, "learn_phm": true,
		"hypercomplex_nonlinearity": "glorot-uniform", "phm_rank": 1, "phm_bias": true, "stochastic_depth": 0.0,
	}
}

// pyFloat is a float64 that JSON-encodes as Python's json writes a float:
// always with a decimal point or exponent (1.0, not 1). AdapterHub reads
// an integer "scaling" as an unknown scaling type.
type pyFloat float64

// MarshalJSON writes f with a decimal point.
func (f pyFloat) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(float64(f))
	if err != nil {
		return nil, err
	}
	if !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, nil
}

// decoder is what a decoder model tells about itself (causallm.Model).
type decoder interface {
	ModelType() string // llama, mistral, qwen2, gpt2
	TaskType() string  // CAUSAL_LM or SEQ_CLS
}

// modelKind returns model_type and model_class: a decoder's from the
// model, an encoder's from its weight names.
func modelKind(mdl method.Model) (string, string) {
	if d, ok := mdl.(decoder); ok {
		t := d.ModelType()
		prefix := map[string]string{"llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2", "gpt2": "GPT2"}[t]
		switch {
		case d.TaskType() == "SEQ_CLS":
			return t, prefix + "ForSequenceClassification"
		case t == "gpt2":
			return t, "GPT2LMHeadModel"
		}
		return t, prefix + "ForCausalLM"
	}
	for _, n := range mdl.Params().Names() {
		if strings.HasPrefix(n, "roberta.") {
			return "roberta", "RobertaForSequenceClassification"
		}
	}
	return "bert", "BertForSequenceClassification"
}

// FromModel collects adapter a of model mdl (its weights, head and labels)
// for saving.
func FromModel(mdl method.Model, a *Adapter) (*Loaded, error) {
	p := mdl.Params()
	l := &Loaded{Name: a.Name, Cfg: a.Cfg, BaseModel: a.BaseModel}
	if l.BaseModel == "" {
		l.BaseModel = mdl.Source()
	}
	if abs, err := filepath.Abs(l.BaseModel); err == nil {
		if _, err := os.Stat(abs); err == nil {
			l.BaseModel = abs
		}
	}
	l.ModelType, l.ModelClass = modelKind(mdl)
	if len(a.Sites) > 0 {
		l.Hidden = a.Sites[0].Hidden
	}
	for _, s := range a.Sites {
		for _, part := range Parts() {
			v, err := p.Value(s.Param(a.Name, part))
			if err != nil {
				return nil, err
			}
			l.Weights = append(l.Weights, Weight{Module: s.Module, Part: part, Shape: s.Shape(part), Data: v})
		}
	}
	for _, w := range sortedKeys(a.Head) {
		v, err := p.Value(a.Head[w])
		if err != nil {
			return nil, err
		}
		l.Head = append(l.Head, &safetensors.Tensor{Name: w, Shape: slices.Clone(p.Shape(a.Head[w])), DType: safetensors.F32, F32: v})
	}
	if len(l.Head) > 0 {
		// Weights the base lacked (a pooler initialised at random) go with
		// the head: AdapterHub loads every tensor of the head file into the
		// model, so the adapter reproduces the model there too.
		for _, w := range method.NewWeights(mdl) {
			v, err := p.Value(w)
			if err != nil {
				return nil, err
			}
			l.Head = append(l.Head, &safetensors.Tensor{Name: w, Shape: slices.Clone(p.Shape(w)), DType: safetensors.F32, F32: v})
		}
		l.Labels = mdl.Labels()
	}
	return l, nil
}

// SaveAdapter writes adapter a of model mdl into the folder dir.
func SaveAdapter(mdl method.Model, a *Adapter, dir string) error {
	l, err := FromModel(mdl, a)
	if err != nil {
		return err
	}
	return l.Save(dir)
}

// Save writes the adapter into the folder dir (created if needed):
// adapter_config.json and adapter.safetensors, and with a head
// head_config.json and model_head.safetensors.
func (l *Loaded) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving adapter: %w", err)
	}
	ts := make([]*safetensors.Tensor, len(l.Weights))
	for i, w := range l.Weights {
		ts[i] = &safetensors.Tensor{Name: Site{Module: w.Module}.Param(l.Name, w.Part), Shape: w.Shape, DType: safetensors.F32, F32: w.Data}
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	top := map[string]any{"config": hubConfig(l.Cfg), "hidden_size": l.Hidden, "model_class": l.ModelClass,
		"model_name": l.BaseModel, "model_type": l.ModelType, "name": l.Name, "version": Version}
	if err := checkpoint.WriteJSON(filepath.Join(dir, ConfigFile), top); err != nil {
		return err
	}
	if len(l.Head) == 0 {
		return nil
	}
	if err := safetensors.WriteFile(filepath.Join(dir, HeadWeightsFile), l.Head, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	label2id := map[string]int{}
	for i, s := range l.Labels {
		label2id[s] = i
	}
	head := map[string]any{"config": nil, "hidden_size": l.Hidden, "label2id": label2id, "model_class": l.ModelClass,
		"model_name": l.BaseModel, "model_type": l.ModelType, "name": nil, "num_labels": len(l.Labels), "version": Version}
	return checkpoint.WriteJSON(filepath.Join(dir, HeadConfigFile), head)
}

// IsFolder reports whether dir holds an AdapterHub bottleneck adapter (an
// adapter_config.json with a "config" object), as opposed to a PEFT one.
func IsFolder(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return false
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return false
	}
	c, ok := raw["config"]
	return ok && strings.HasPrefix(strings.TrimSpace(string(c)), "{")
}

func topKeys() []string {
	return []string{"config", "hidden_size", "model_class", "model_name", "model_type", "name", "version"}
}

// Read reads an adapter folder. Unknown keys become warnings; settings
// gotune cannot reproduce (layer norms inside the adapter, gating, PHM
// layers, invertible adapters, ...) are errors naming the file and key.
func Read(dir string) (*Loaded, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading adapter: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l := &Loaded{Dir: dir}
	for _, k := range sortedKeys(top) {
		if !slices.Contains(topKeys(), k) {
			l.Warnings = append(l.Warnings, fmt.Sprintf("%s: ignoring unknown key %q", path, k))
		}
	}
	get := func(k string, dst any) error {
		if v, ok := top[k]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("%s: key %q: %v", path, k, err)
			}
		}
		return nil
	}
	for k, dst := range map[string]any{"name": &l.Name, "model_name": &l.BaseModel, "model_type": &l.ModelType,
		"model_class": &l.ModelClass, "hidden_size": &l.Hidden} {
		if err := get(k, dst); err != nil {
			return nil, err
		}
	}
	if l.Name == "" {
		return nil, fmt.Errorf("%s: required key \"name\" is missing", path)
	}
	var cfg map[string]json.RawMessage
	if err := get("config", &cfg); err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("%s: required key \"config\" is missing", path)
	}
	if l.Cfg, err = parseHubConfig(cfg, path, &l.Warnings); err != nil {
		return nil, err
	}
	f, err := checkpoint.ReadTensorFile(dir, WeightsFile, torchWeights) // AdapterHub's default save is pytorch_adapter.bin
	if err != nil {
		return nil, err
	}
	wf := f.Path
	infix := ".adapters." + l.Name + "."
	for _, t := range f.Tensors {
		mod, part, ok := strings.Cut(t.Name, infix)
		if !ok || !slices.Contains(Parts(), part) {
			return nil, fmt.Errorf("%s: tensor %s is not a weight of adapter %q (want MODULE%sPART, PART one of %s)", wf, t.Name, l.Name, infix, strings.Join(Parts(), ", "))
		}
		if t.F32 == nil {
			return nil, fmt.Errorf("%s: tensor %s has dtype %s, want a float type", wf, t.Name, t.DType)
		}
		l.Weights = append(l.Weights, Weight{Module: mod, Part: part, Shape: t.Shape, Data: t.F32})
	}
	if err := l.readHead(dir); err != nil {
		return nil, err
	}
	return l, nil
}

// parseHubConfig turns AdapterHub's config object into a Config.
func parseHubConfig(raw map[string]json.RawMessage, path string, warnings *[]string) (Config, error) {
	known := hubConfig(Config{})
	for _, k := range sortedKeys(raw) {
		if _, ok := known[k]; !ok && k != "architecture" {
			*warnings = append(*warnings, fmt.Sprintf("%s: config: ignoring unknown key %q", path, k))
		}
	}
	bad := func(k string, err any) error { return fmt.Errorf("%s: config key %q: %v", path, k, err) }
	val := func(k string, dst any) error {
		if v, ok := raw[k]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, dst); err != nil {
				return bad(k, err)
			}
		}
		return nil
	}
	var arch string
	if err := val("architecture", &arch); err != nil {
		return Config{}, err
	}
	if arch != "" && arch != "bottleneck" {
		return Config{}, bad("architecture", fmt.Sprintf("%q is not a bottleneck adapter (gotune loads prefix tuning, LoRA, ... through their own methods)", arch))
	}
	// Settings gotune does not implement must be at AdapterHub's defaults.
	for k, want := range map[string]string{"original_ln_after": "true", "ln_before": "false", "ln_after": "false",
		"use_gating": "false", "adapter_residual_before_ln": "false", "phm_layer": "false", "inv_adapter": "null",
		"stochastic_depth": "0"} {
		v, ok := raw[k]
		if !ok {
			continue
		}
		got := strings.TrimSpace(string(v))
		if got == "0.0" {
			got = "0"
		}
		if got != want {
			return Config{}, bad(k, fmt.Sprintf("%s is not supported by gotune (only %s)", got, want))
		}
	}
	var mh, out, lnBefore, par bool
	for k, dst := range map[string]*bool{"mh_adapter": &mh, "output_adapter": &out, "original_ln_before": &lnBefore, "is_parallel": &par} {
		if err := val(k, dst); err != nil {
			return Config{}, err
		}
	}
	var c Config
	switch {
	case !mh && out && lnBefore && !par:
		c.Placement = Pfeiffer
	case mh && out && !lnBefore && !par:
		c.Placement = Houlsby
	case !mh && out && !lnBefore && par:
		c.Placement = Parallel
	default:
		return Config{}, fmt.Errorf("%s: config: mh_adapter %v, output_adapter %v, original_ln_before %v, is_parallel %v is none of gotune's placements (pfeiffer: false true true false; houlsby: true true false false; parallel: false true false true)",
			path, mh, out, lnBefore, par)
	}
	if v, ok := raw["reduction_factor"]; ok {
		var f float64
		if json.Unmarshal(v, &f) == nil {
			c.ReductionFactor = f
		} else {
			var m map[string]float64
			if err := json.Unmarshal(v, &m); err != nil {
				return Config{}, bad("reduction_factor", "want a number or a mapping of layer ids (and \"default\") to numbers")
			}
			c.ReductionPerLayer = map[int]float64{}
			for k, f := range m {
				if k == "default" {
					c.ReductionFactor = f
					continue
				}
				l, err := strconv.Atoi(k)
				if err != nil {
					return Config{}, bad("reduction_factor", fmt.Sprintf("key %q is not a layer id", k))
				}
				c.ReductionPerLayer[l] = f
			}
		}
	} else {
		return Config{}, bad("reduction_factor", "missing")
	}
	if err := val("non_linearity", &c.NonLinearity); err != nil {
		return Config{}, err
	}
	if v, ok := raw["residual_before_ln"]; ok {
		var bv bool
		var sv string
		switch {
		case json.Unmarshal(v, &bv) == nil:
			c.ResidualBeforeLN = strconv.FormatBool(bv)
		case json.Unmarshal(v, &sv) == nil:
			c.ResidualBeforeLN = sv
		default:
			return Config{}, bad("residual_before_ln", "want true, false or \"post_add\"")
		}
	}
	if err := val("leave_out", &c.LeaveOut); err != nil {
		return Config{}, err
	}
	if err := val("dropout", &c.Dropout); err != nil {
		return Config{}, err
	}
	if v, ok := raw["scaling"]; ok {
		if err := json.Unmarshal(v, &c.Scaling); err != nil {
			return Config{}, bad("scaling", "gotune supports a constant scaling only (not \"learned\" or \"channel\")")
		}
		if c.Scaling <= 0 {
			return Config{}, bad("scaling", fmt.Sprintf("%g: gotune needs a scaling > 0", c.Scaling))
		}
	} else {
		c.Scaling = 1 // BnConfig's default, whatever the placement
	}
	if err := val("init_weights", &c.Init); err != nil {
		return Config{}, err
	}
	if c.Init != "" && !slices.Contains(Inits(), c.Init) {
		*warnings = append(*warnings, fmt.Sprintf("%s: config: init_weights %q is unknown to gotune (the weights are loaded, so it does not matter)", path, c.Init))
		c.Init = ""
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c.withDefaults(), nil
}

// head returns the head file's tensor named name, or nil.
func (l *Loaded) head(name string) *safetensors.Tensor {
	for _, t := range l.Head {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// readHead reads head_config.json and model_head.safetensors when present.
func (l *Loaded) readHead(dir string) error {
	_, errSafe := os.Stat(filepath.Join(dir, HeadWeightsFile))
	_, errBin := os.Stat(filepath.Join(dir, torchHeadWeights))
	if errSafe != nil && errBin != nil {
		return nil
	}
	f, err := checkpoint.ReadTensorFile(dir, HeadWeightsFile, torchHeadWeights)
	if err != nil {
		return err
	}
	l.Head = f.Tensors
	path := filepath.Join(dir, HeadConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("adapter head: %w", err)
	}
	var hc struct {
		Label2ID  map[string]int `json:"label2id"`
		NumLabels int            `json:"num_labels"`
	}
	if err := json.Unmarshal(b, &hc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	n := max(hc.NumLabels, len(hc.Label2ID))
	if n == 0 {
		return fmt.Errorf("%s: no label2id or num_labels", path)
	}
	l.Labels = make([]string, n)
	for s, i := range hc.Label2ID {
		if i < 0 || i >= n || l.Labels[i] != "" {
			return fmt.Errorf("%s: label2id: id %d of %q is out of range or repeated", path, i, s)
		}
		l.Labels[i] = s
	}
	for i, s := range l.Labels {
		if s == "" {
			l.Labels[i] = fmt.Sprintf("LABEL_%d", i)
		}
	}
	return nil
}

// Attach adds the loaded adapter to model mdl under name, on hook h (which
// the caller has added to the model). Every site the config implies needs
// its four weights with the shapes the model implies; a weight that fits
// nowhere is an error naming it.
func Attach(mdl method.Model, h *Hook, l *Loaded, name string, arch Architecture) (*Adapter, error) {
	sites, err := plan(mdl, l.Cfg, arch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(l.Dir, ConfigFile), err)
	}
	a, err := newAdapter(name, l.Cfg, sites)
	if err != nil {
		return nil, err
	}
	a.BaseModel = l.BaseModel
	wf := filepath.Join(l.Dir, WeightsFile)
	byKey := map[string]*Weight{}
	for i := range l.Weights {
		byKey[l.Weights[i].Module+"|"+l.Weights[i].Part] = &l.Weights[i]
	}
	used := map[string]bool{}
	for _, s := range sites {
		for _, part := range Parts() {
			key := s.Module + "|" + part
			w := byKey[key]
			if w == nil {
				return nil, fmt.Errorf("%s: tensor %s is missing", wf, s.Param(l.Name, part))
			}
			if !slices.Equal(w.Shape, s.Shape(part)) {
				return nil, fmt.Errorf("%s: tensor %s has shape %v, the model and adapter_config.json imply %v", wf, s.Param(l.Name, part), w.Shape, s.Shape(part))
			}
			used[key] = true
			if err := mdl.AddExtraParam(s.Param(name, part), w.Shape, w.Data); err != nil {
				return nil, err
			}
		}
	}
	for _, w := range l.Weights {
		if !used[w.Module+"|"+w.Part] {
			return nil, fmt.Errorf("%s: tensor %s belongs to no adapter site of the model and config (layer left out, or another architecture?)", wf, Site{Module: w.Module}.Param(l.Name, w.Part))
		}
	}
	if len(l.Head) > 0 {
		p := mdl.Params()
		hf := filepath.Join(l.Dir, HeadWeightsFile)
		newW := method.NewWeights(mdl)
		for _, t := range l.Head {
			isNew := slices.Contains(newW, t.Name)
			if !slices.Contains(mdl.HeadParams(), t.Name) && !isNew {
				return nil, fmt.Errorf("%s: tensor %s is not a weight of the model's head (%s)", hf, t.Name, strings.Join(mdl.HeadParams(), ", "))
			}
			if !slices.Equal(t.Shape, p.Shape(t.Name)) {
				return nil, fmt.Errorf("%s: tensor %s has shape %v, the model's is %v", hf, t.Name, t.Shape, p.Shape(t.Name))
			}
			if isNew { // a weight the base lacked: it belongs to the base model
				if err := p.Set(t.Name, t.Shape, t.F32); err != nil {
					return nil, err
				}
				continue
			}
			if err := mdl.AddExtraParam(headParam(name, t.Name), t.Shape, t.F32); err != nil {
				return nil, err
			}
			a.setHead(t.Name, headParam(name, t.Name))
		}
	}
	if err := h.Add(a); err != nil {
		return nil, err
	}
	return a, nil
}

// Spec splits an adapter argument, "DIR" or "NAME=DIR". A bare DIR is
// named after the folder, or after the adapter's own name for a run's
// "model" folder.
func Spec(spec string) (name, dir string) {
	if n, d, ok := strings.Cut(spec, "="); ok && method.ValidName(n) {
		return n, d
	}
	return "", spec
}

// LoadModel loads a base model (base "" = the first adapter's model_name)
// with one or more adapter folders ("DIR" or "NAME=DIR") on one hook; the
// first adapter is active. Adapters with heads must classify into the same
// labels. warn, when not nil, receives warnings.
func LoadModel(base string, specs []string, arch Architecture, warn func(string)) (*classify.Classifier, *Hook, error) {
	if len(specs) == 0 {
		return nil, nil, fmt.Errorf("adapter: no adapter given")
	}
	var loaded []*Loaded
	var names []string
	for _, s := range specs {
		name, dir := Spec(s)
		l, err := Read(dir)
		if err != nil {
			return nil, nil, err
		}
		if name == "" {
			name = filepath.Base(filepath.Clean(dir))
			if name == "model" || !method.ValidName(name) {
				name = l.Name
			}
		}
		if slices.Contains(names, name) {
			return nil, nil, fmt.Errorf("adapter: two adapters are named %q; name them with NAME=DIR", name)
		}
		if warn != nil {
			for _, w := range l.Warnings {
				warn(w)
			}
		}
		loaded, names = append(loaded, l), append(names, name)
	}
	var err error
	if base == "" {
		if base, err = method.ResolveBase(loaded[0].Dir, ConfigFile, "model_name", loaded[0].BaseModel); err != nil {
			return nil, nil, err
		}
	} else if base, err = checkpoint.Resolve(base); err != nil {
		return nil, nil, err
	}
	var labels []string
	for _, l := range loaded {
		if l.Labels == nil {
			continue
		}
		if labels != nil && !slices.Equal(labels, l.Labels) {
			return nil, nil, fmt.Errorf("adapter: adapters %s and %s classify into different labels (%s vs %s); load them separately",
				loaded[0].Dir, l.Dir, strings.Join(labels, ","), strings.Join(l.Labels, ","))
		}
		labels = l.Labels
	}
	m, err := classify.Load(base, labels, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("loading the base model %s: %w", base, err)
	}
	h := NewHook()
	m.AddHook(h)
	heads := true
	newW := m.NewWeights()
	carriedBy := map[string]*Loaded{}
	for i, l := range loaded {
		if _, err := Attach(m, h, l, names[i], arch); err != nil {
			return nil, nil, err
		}
		heads = heads && len(l.Head) > 0
		carried := func(n string) bool { return l.head(n) != nil }
		if err := method.CheckNewWeights(newW, carried, l.Dir, base); err != nil {
			return nil, nil, err
		}
		for _, n := range newW { // one base: every adapter must carry the same values
			if prev := carriedBy[n]; prev != nil && !slices.Equal(prev.head(n).F32, l.head(n).F32) {
				return nil, nil, fmt.Errorf("adapter: adapters %s and %s carry different %s (a weight the base lacks); load them separately", prev.Dir, l.Dir, n)
			}
			carriedBy[n] = l
		}
	}
	if heads {
		m.NewHead = nil
	}
	m.P.SetAllTrainable(false)
	return m, h, nil
}
