package lora

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/safetensors"
)

// Files of a PEFT adapter folder, and gotune's own side file (labels; PEFT
// ignores it).
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
	InfoFile    = "gotune_adapter.json"
)

// keyPrefix starts every tensor name of a PEFT adapter file
// (PeftModel.base_model.model).
const keyPrefix = "base_model.model."

// PEFT tensor names of a module.
func keyA(module string) string   { return keyPrefix + module + ".lora_A.weight" }
func keyB(module string) string   { return keyPrefix + module + ".lora_B.weight" }
func keyMag(module string) string { return keyPrefix + module + ".lora_magnitude_vector" }

// peftKeys returns the keys PEFT 0.12's LoraConfig writes (plus
// exclude_modules, from later versions).
func peftKeys() []string {
	return []string{"alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out",
		"inference_mode", "init_lora_weights", "layer_replication", "layers_pattern", "layers_to_transform", "loftq_config",
		"lora_alpha", "lora_dropout", "megatron_config", "megatron_core", "modules_to_save", "peft_type", "r", "rank_pattern",
		"revision", "target_modules", "task_type", "use_dora", "use_rslora", "exclude_modules"}
}

// classifierModules returns what PEFT adds to modules_to_save for SEQ_CLS.
func classifierModules() []string {
	return []string{"classifier", "score"}
}

// Info is gotune's side file of an adapter folder.
type Info struct {
	// ID2Label names the classes of the adapter's head.
	ID2Label map[string]string `json:"id2label,omitempty"`
	// LoRAPlusLRRatio records the LoRA+ ratio the adapter trained with.
	LoRAPlusLRRatio float64 `json:"loraplus_lr_ratio,omitempty"`
}

// peftConfig builds adapter_config.json's object; targets is the
// target_modules value (a list of names or a regex string).
func peftConfig(cfg Config, targets any, base, task string) map[string]any {
	cfg = cfg.withDefaults()
	init := any(true)
	switch cfg.Init {
	case "gaussian":
		init = "gaussian"
	case "none":
		init = false
	}
	extra := classifierModules()
	if task == "CAUSAL_LM" {
		extra = nil // PEFT adds the classifier only for SEQ_CLS
	}
	var mts any
	list := []string{}
	for _, s := range append(append([]string{}, cfg.ModulesToSave...), extra...) {
		if !slicesContains(list, s) {
			list = append(list, s)
		}
	}
	if len(list) > 0 {
		mts = list
	}
	rp, ap := map[string]any{}, map[string]any{}
	for k, v := range cfg.RankPattern {
		rp[k] = v
	}
	for k, v := range cfg.AlphaPattern {
		ap[k] = v
	}
	c := map[string]any{
		"alpha_pattern": ap, "auto_mapping": nil, "base_model_name_or_path": base, "bias": cfg.Bias,
		"fan_in_fan_out": cfg.FanInFanOut, "inference_mode": true, "init_lora_weights": init, "layer_replication": nil,
		"layers_pattern": nil, "layers_to_transform": nil, "loftq_config": map[string]any{}, "lora_alpha": cfg.Alpha,
		"lora_dropout": cfg.Dropout, "megatron_config": nil, "megatron_core": "megatron.core", "modules_to_save": mts,
		"peft_type": "LORA", "r": cfg.R, "rank_pattern": rp, "revision": nil, "target_modules": targets,
		"task_type": task, "use_dora": cfg.UseDoRA, "use_rslora": cfg.UseRSLoRA,
	}
	if cfg.LayersPattern != "" {
		c["layers_pattern"] = cfg.LayersPattern
	}
	if len(cfg.LayersToTransform) > 0 {
		c["layers_to_transform"] = cfg.LayersToTransform
	}
	if cfg.ExcludeRegex != "" {
		c["exclude_modules"] = cfg.ExcludeRegex
	} else if len(cfg.Exclude) > 0 {
		c["exclude_modules"] = cfg.Exclude
	}
	return c
}

// targetModules returns the target_modules value to write for an adapter:
// the regex, the sorted names, or for all-linear the short names of the
// matched modules when they select exactly those modules (else a regex of
// their full names).
func targetModules(a *Adapter, modelType string, shapes map[string][]int, head []string) any {
	cfg := a.Cfg
	if cfg.TargetRegex != "" {
		return cfg.TargetRegex
	}
	if !cfg.isAllLinear() {
		t := append([]string{}, cfg.Targets...)
		if len(t) == 0 {
			t = DefaultTargets(modelType)
		}
		sort.Strings(t)
		return t
	}
	short := map[string]bool{}
	for _, m := range a.Modules {
		short[m.Name[strings.LastIndex(m.Name, ".")+1:]] = true
	}
	names := sortedKeys(short)
	check := cfg
	check.Targets = names
	if mods, err := check.Plan("", shapes, nil); err == nil && sameModules(mods, a.Modules) {
		return names
	}
	quoted := make([]string, len(a.Modules))
	for i, m := range a.Modules {
		quoted[i] = regexp.QuoteMeta(m.Name)
	}
	return strings.Join(quoted, "|")
}

func sameModules(a, b []Module) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// SaveAdapter writes adapter a of model mdl in PEFT's layout into dir:
// adapter_config.json, adapter_model.safetensors (LoRA matrices, DoRA
// magnitudes, the saved modules' copies, trained biases) and
// gotune_adapter.json (the head's labels).
func SaveAdapter(mdl method.Model, a *Adapter, dir string) error {
	p := mdl.Params()
	base := a.BaseModel
	if base == "" {
		base = mdl.Source()
	}
	if abs, err := filepath.Abs(base); err == nil {
		if _, err := os.Stat(abs); err == nil {
			base = abs
		}
	}
	modelType, _, task, shapes := describe(mdl)
	if a.TaskType != "" {
		task = a.TaskType
	}
	var names []string
	rename := map[string]string{}
	add := func(param, key string) {
		names = append(names, param)
		rename[param] = key
	}
	for _, m := range a.Modules {
		add(ParamA(a.Name, m.Name), keyA(m.Name))
		add(ParamB(a.Name, m.Name), keyB(m.Name))
		if a.Cfg.UseDoRA {
			add(ParamMagnitude(a.Name, m.Name), keyMag(m.Name))
		}
	}
	for _, w := range sortedKeys(a.SavedParams) {
		add(a.SavedParams[w], keyPrefix+w)
	}
	for _, b := range a.Biases {
		mod, part := b[:strings.LastIndex(b, ".")], b[strings.LastIndex(b, ".")+1:]
		if a.saved[mod] {
			continue
		}
		if a.byName[mod] != nil {
			add(b, keyPrefix+mod+".base_layer."+part)
		} else {
			add(b, keyPrefix+b)
		}
	}
	ts, err := p.Tensors(names, func(n string) string { return rename[n] })
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving adapter: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	conf := peftConfig(a.Cfg, targetModules(a, modelType, shapes, mdl.HeadParams()), base, task)
	if err := checkpoint.WriteJSON(filepath.Join(dir, ConfigFile), conf); err != nil {
		return err
	}
	info := Info{ID2Label: method.ID2Label(mdl.Labels()), LoRAPlusLRRatio: a.Cfg.LoRAPlusLRRatio}
	return checkpoint.WriteJSON(filepath.Join(dir, InfoFile), info)
}

// Loaded is an adapter folder read from disk (written by PEFT or gotune).
type Loaded struct {
	// Dir is the folder.
	Dir string
	// Cfg is the adapter's configuration in gotune's terms.
	Cfg Config
	// TargetModules is adapter_config.json's target_modules: a []string
	// or a regex string.
	TargetModules any
	// BaseModel is base_model_name_or_path as written.
	BaseModel string
	// ModulesToSave is the file's modules_to_save.
	ModulesToSave []string
	// Tensors are the adapter's weights under PEFT's names.
	Tensors *safetensors.File
	// Info is gotune's side file (zero when absent).
	Info Info
	// Warnings are harmless problems (unknown keys of a newer PEFT).
	Warnings []string
	// TaskType is adapter_config.json's task_type.
	TaskType string
}

// ReadAdapter reads an adapter folder. Unknown keys of adapter_config.json
// become warnings; missing required keys and bad values are errors naming
// the file and key.
func ReadAdapter(dir string) (*Loaded, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading LoRA adapter: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l := &Loaded{Dir: dir}
	for _, k := range sortedKeys(raw) {
		if !slicesContains(peftKeys(), k) {
			l.Warnings = append(l.Warnings, fmt.Sprintf("%s: ignoring unknown key %q (written by a newer PEFT?)", path, k))
		}
	}
	for _, k := range []string{"peft_type", "r", "lora_alpha", "target_modules"} {
		if v, ok := raw[k]; !ok || string(v) == "null" {
			return nil, fmt.Errorf("%s: required key %q is missing", path, k)
		}
	}
	bad := func(k string, err error) error { return fmt.Errorf("%s: key %q: %v", path, k, err) }
	get := func(k string, dst any) error {
		if v, ok := raw[k]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, dst); err != nil {
				return bad(k, err)
			}
		}
		return nil
	}
	var peftType, taskType string
	var cfg Config
	var fanInFanOut bool
	var initRaw any
	for k, dst := range map[string]any{"peft_type": &peftType, "task_type": &taskType, "r": &cfg.R, "lora_alpha": &cfg.Alpha,
		"lora_dropout": &cfg.Dropout, "bias": &cfg.Bias, "use_rslora": &cfg.UseRSLoRA, "use_dora": &cfg.UseDoRA,
		"fan_in_fan_out": &fanInFanOut, "base_model_name_or_path": &l.BaseModel, "modules_to_save": &l.ModulesToSave,
		"rank_pattern": &cfg.RankPattern, "alpha_pattern": &cfg.AlphaPattern, "init_lora_weights": &initRaw} {
		if err := get(k, dst); err != nil {
			return nil, err
		}
	}
	if peftType != "LORA" {
		return nil, fmt.Errorf("%s: peft_type %q is not LORA", path, peftType)
	}
	l.TaskType = taskType
	if taskType != "" && taskType != "SEQ_CLS" && taskType != "CAUSAL_LM" {
		l.Warnings = append(l.Warnings, fmt.Sprintf("%s: task_type %s; gotune uses it for sequence classification", path, taskType))
	}
	cfg.FanInFanOut = fanInFanOut
	switch v := initRaw.(type) {
	case nil, bool:
		if v == false {
			cfg.Init = "none"
		}
	case string:
		if v == "gaussian" {
			cfg.Init = "gaussian"
		} else {
			l.Warnings = append(l.Warnings, fmt.Sprintf("%s: init_lora_weights %q changes the base weights in PEFT; gotune loads the adapter on the unchanged base", path, v))
		}
	}
	if cfg.Targets, cfg.TargetRegex, err = stringOrList(raw["target_modules"]); err != nil {
		return nil, bad("target_modules", err)
	}
	if cfg.TargetRegex != "" {
		l.TargetModules = cfg.TargetRegex
	} else {
		l.TargetModules = cfg.Targets
	}
	if v, ok := raw["exclude_modules"]; ok && string(v) != "null" {
		if cfg.Exclude, cfg.ExcludeRegex, err = stringOrList(v); err != nil {
			return nil, bad("exclude_modules", err)
		}
	}
	if v, ok := raw["layers_to_transform"]; ok && string(v) != "null" {
		var one int
		if json.Unmarshal(v, &one) == nil {
			cfg.LayersToTransform = []int{one}
		} else if err := json.Unmarshal(v, &cfg.LayersToTransform); err != nil {
			return nil, bad("layers_to_transform", err)
		}
	}
	if v, ok := raw["layers_pattern"]; ok && string(v) != "null" {
		list, one, err := stringOrList(v)
		if err != nil {
			return nil, bad("layers_pattern", err)
		}
		if one == "" {
			one = strings.Join(list, "|")
		}
		cfg.LayersPattern = one
	}
	for _, s := range l.ModulesToSave {
		if !slicesContains(classifierModules(), s) {
			cfg.ModulesToSave = append(cfg.ModulesToSave, s)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l.Cfg = cfg.withDefaults()
	if l.Tensors, err = checkpoint.ReadTensorFile(dir, WeightsFile, "adapter_model.bin"); err != nil { // older PEFT saves .bin
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, InfoFile)); err == nil {
		if err := json.Unmarshal(b, &l.Info); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, InfoFile), err)
		}
		l.Cfg.LoRAPlusLRRatio = l.Info.LoRAPlusLRRatio
	}
	return l, nil
}

// stringOrList decodes a JSON string (returned as one) or list of strings.
func stringOrList(v json.RawMessage) ([]string, string, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return nil, s, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, "", fmt.Errorf("want a string or a list of strings: %v", err)
	}
	return list, "", nil
}

// HeadRows returns the number of classes of the adapter's saved head (0
// when it saves none): the rows of its last 2-D classifier weight.
func (l *Loaded) HeadRows() int {
	rows := 0
	for _, t := range l.Tensors.Tensors {
		n := strings.TrimPrefix(t.Name, keyPrefix)
		if strings.HasPrefix(n, "classifier") && strings.HasSuffix(n, ".weight") && !strings.Contains(n, "lora_") &&
			!strings.Contains(n, "original_module") && len(t.Shape) == 2 {
			rows = t.Shape[0]
		}
	}
	return rows
}

// Labels returns the adapter's class names when gotune_adapter.json has
// them, else nil.
func (l *Loaded) Labels() []string { return method.LabelList(l.Info.ID2Label) }

// Attach adds the loaded adapter to model mdl under name, on hook h (which
// the caller has added to the model). Every targeted module needs its
// lora_A/lora_B tensors with the shapes the config and the model imply;
// any tensor that fits nowhere is an error naming it.
func Attach(mdl method.Model, h *Hook, l *Loaded, name string) (*Adapter, error) {
	p := mdl.Params()
	modelType, fanInFanOut, _, shapes := describe(mdl)
	if fanInFanOut != l.Cfg.FanInFanOut {
		return nil, fmt.Errorf("%s: fan_in_fan_out is %v but the model's linear weights are stored %s", filepath.Join(l.Dir, ConfigFile),
			l.Cfg.FanInFanOut, map[bool]string{true: "[in, out] (Conv1D)", false: "[out, in]"}[fanInFanOut])
	}
	wf := filepath.Join(l.Dir, WeightsFile)
	mods, err := l.Cfg.Plan(modelType, shapes, mdl.HeadParams())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(l.Dir, ConfigFile), err)
	}
	a, err := newAdapter(name, l.Cfg, mods)
	if err != nil {
		return nil, err
	}
	a.BaseModel, a.TaskType = l.BaseModel, l.TaskType
	used := map[string]bool{}
	take := func(key string, want []int) ([]float32, error) {
		t := l.Tensors.Get(key)
		if t == nil {
			return nil, fmt.Errorf("%s: tensor %s is missing", wf, key)
		}
		if !slices.Equal(t.Shape, want) {
			return nil, fmt.Errorf("%s: tensor %s has shape %v, the model and adapter_config.json imply %v", wf, key, t.Shape, want)
		}
		if t.F32 == nil {
			return nil, fmt.Errorf("%s: tensor %s has dtype %s, want a float type", wf, key, t.DType)
		}
		used[key] = true
		return t.F32, nil
	}
	for _, m := range mods {
		av, err := take(keyA(m.Name), []int{m.R, m.In})
		if err != nil {
			return nil, err
		}
		bv, err := take(keyB(m.Name), []int{m.Out, m.R})
		if err != nil {
			return nil, err
		}
		if err := mdl.AddExtraParam(ParamA(name, m.Name), []int{m.R, m.In}, av); err != nil {
			return nil, err
		}
		if err := mdl.AddExtraParam(ParamB(name, m.Name), []int{m.Out, m.R}, bv); err != nil {
			return nil, err
		}
		if l.Cfg.UseDoRA {
			mv, err := take(keyMag(m.Name), []int{m.Out})
			if err != nil {
				return nil, err
			}
			if err := mdl.AddExtraParam(ParamMagnitude(name, m.Name), []int{m.Out}, mv); err != nil {
				return nil, err
			}
		}
	}
	saved := map[string]bool{}
	sms, err := savedModules(l.Cfg, p, mdl.HeadParams(), false)
	if err != nil {
		return nil, err
	}
	for _, s := range sms {
		saved[s] = true
	}
	for _, t := range l.Tensors.Tensors {
		if used[t.Name] {
			continue
		}
		n, ok := strings.CutPrefix(t.Name, keyPrefix)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %s does not start with %s", wf, t.Name, keyPrefix)
		}
		if strings.Contains(n, ".lora_") {
			return nil, fmt.Errorf("%s: tensor %s belongs to a module that adapter_config.json does not target", wf, t.Name)
		}
		if strings.Contains(n, ".original_module.") {
			continue
		}
		n = strings.Replace(n, ".base_layer.", ".", 1)
		mod := n[:max(0, strings.LastIndex(n, "."))]
		if !p.Has(n) {
			return nil, fmt.Errorf("%s: tensor %s has no counterpart %s in the model", wf, t.Name, n)
		}
		v, err := take(t.Name, p.Shape(n))
		if err != nil {
			return nil, err
		}
		if saved[mod] {
			if err := mdl.AddExtraParam(paramSaved(name, n), p.Shape(n), v); err != nil {
				return nil, err
			}
			a.SavedParams[n] = paramSaved(name, n)
			a.addSaved(mod)
			continue
		}
		// A trained bias (bias all / lora_only) replaces the base's, as in PEFT.
		if err := p.Set(n, p.Shape(n), v); err != nil {
			return nil, err
		}
		a.Biases = append(a.Biases, n)
	}
	for _, s := range a.Saved { // a module saved without its bias keeps the base's
		if _, ok := a.SavedParams[s+".bias"]; !ok && p.Has(s+".bias") {
			v, _ := p.Value(s + ".bias")
			if err := mdl.AddExtraParam(paramSaved(name, s+".bias"), p.Shape(s+".bias"), v); err != nil {
				return nil, err
			}
			a.SavedParams[s+".bias"] = paramSaved(name, s+".bias")
		}
	}
	for n := range shapes {
		p.SetTrainable(n, false)
	}
	if err := h.Add(a); err != nil {
		return nil, err
	}
	return a, nil
}

// ResolveBase finds the base model of an adapter folder from its
// base_model_name_or_path (see method.ResolveBase).
func ResolveBase(adapterDir, base string) (string, error) {
	return method.ResolveBase(adapterDir, ConfigFile, "base_model_name_or_path", base)
}
