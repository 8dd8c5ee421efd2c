// Package lora is LoRA (low-rank adaptation, Hu et al. 2021) with the file
// format, target matching and arithmetic of Hugging Face PEFT 0.12: the
// base weights are frozen and every targeted linear layer gains a trainable
// low-rank update, y = W x + b + scaling · B(A(dropout(x))), with
// scaling = alpha/r (or alpha/√r with rsLoRA). DoRA (weight-decomposed
// LoRA) rescales each output row by a trained magnitude.
//
// The package has the same three rooms as PEFT's: this file is the
// configuration and target matching; hook.go is the graph hook (what the
// method does to one linear layer); peft.go reads and writes PEFT's
// adapter folders (adapter_config.json, adapter_model.safetensors); merge.go
// folds an adapter into the base weights and back; combine.go builds a new
// adapter as a weighted combination (PEFT's add_weighted_adapter).
package lora

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// AllLinear is the target spec meaning every linear layer but the task head.
const AllLinear = "all-linear"

// Config configures LoRA. Zero values take PEFT's defaults (r 8, alpha 8,
// dropout 0, bias none, architecture default targets).
type Config struct {
	// R is the rank of the update (default 8).
	R int `json:"r,omitempty" yaml:"r,omitempty"`
	// Alpha scales the update by Alpha/R (default 8, PEFT's lora_alpha).
	Alpha float64 `json:"alpha,omitempty" yaml:"alpha,omitempty"`
	// Dropout is applied to the input of the low-rank branch while training.
	Dropout float64 `json:"dropout,omitempty" yaml:"dropout,omitempty"`
	// Targets are module names matched exactly or as a dotted suffix
	// ("query" matches "bert.encoder.layer.0.attention.self.query"), or the
	// single value "all-linear" (every linear layer but the task head).
	// Empty: the architecture's default (BERT: query, value).
	Targets []string `json:"targets,omitempty" yaml:"targets,omitempty"`
	// TargetRegex, when set, replaces Targets: a module is targeted when
	// the regexp matches its whole name (PEFT's re.fullmatch of a string
	// target_modules).
	TargetRegex string `json:"target_regex,omitempty" yaml:"target_regex,omitempty"`
	// Exclude are module names (exact or suffix) that are never targeted;
	// ExcludeRegex excludes the modules it fully matches (PEFT's
	// exclude_modules).
	Exclude      []string `json:"exclude,omitempty" yaml:"exclude,omitempty"`
	ExcludeRegex string   `json:"exclude_regex,omitempty" yaml:"exclude_regex,omitempty"`
	// LayersToTransform limits suffix-matched targets to these layer
	// indices; LayersPattern names the container of the numbered layers
	// ("layer"); empty matches any "<name>.<N>." in the module name.
	LayersToTransform []int  `json:"layers_to_transform,omitempty" yaml:"layers_to_transform,omitempty"`
	LayersPattern     string `json:"layers_pattern,omitempty" yaml:"layers_pattern,omitempty"`
	// RankPattern and AlphaPattern override R and Alpha for the modules
	// whose name matches ".*\.KEY$" (the first matching key, rank keys
	// before alpha keys, each set in sorted order).
	RankPattern  map[string]int     `json:"rank_pattern,omitempty" yaml:"rank_pattern,omitempty"`
	AlphaPattern map[string]float64 `json:"alpha_pattern,omitempty" yaml:"alpha_pattern,omitempty"`
	// Bias is none (default), all (every bias of the model trains) or
	// lora_only (the biases of the targeted layers train).
	Bias string `json:"bias,omitempty" yaml:"bias,omitempty"`
	// UseRSLoRA scales by Alpha/√R (rank-stabilised LoRA).
	UseRSLoRA bool `json:"use_rslora,omitempty" yaml:"use_rslora,omitempty"`
	// UseDoRA enables weight-decomposed LoRA (a trained magnitude per
	// output row).
	UseDoRA bool `json:"use_dora,omitempty" yaml:"use_dora,omitempty"`
	// Init is the initialisation of A: "default" (Kaiming-uniform, PEFT's
	// init_lora_weights=True), "gaussian" (normal, std 1/r); B starts at
	// zero. "none" initialises both like a fresh linear layer (the adapter
	// is not an identity at step 0; for tests).
	Init string `json:"init,omitempty" yaml:"init,omitempty"`
	// ModulesToSave are extra modules trained in full and saved with the
	// adapter; the classification head is always added.
	ModulesToSave []string `json:"modules_to_save,omitempty" yaml:"modules_to_save,omitempty"`
	// LoRAPlusLRRatio > 0 trains the B matrices with this multiple of the
	// learning rate (LoRA+, Hayou et al. 2024; the paper suggests 16).
	LoRAPlusLRRatio float64 `json:"loraplus_lr_ratio,omitempty" yaml:"loraplus_lr_ratio,omitempty"`
	// FanInFanOut says the targeted weights are stored [in, out]
	// (transformers' Conv1D, GPT-2) rather than [out, in]; PEFT's
	// fan_in_fan_out. It is set from the model (see LayoutModel), not by
	// users.
	FanInFanOut bool `json:"-" yaml:"-"`
}

// defaultTargets returns PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
// entries for the architectures gotune trains.
func defaultTargets() map[string][]string {
	return map[string][]string{
		"bert":        {"query", "value"},
		"roberta":     {"query", "value"},
		"xlm-roberta": {"query", "value"},
		"distilbert":  {"q_lin", "v_lin"},
		"electra":     {"query", "value"},
		"llama":       {"q_proj", "v_proj"},
		"mistral":     {"q_proj", "v_proj"},
		"qwen2":       {"q_proj", "v_proj"},
		"gpt2":        {"c_attn"},
	}
}

// DefaultTargets returns PEFT's default target modules for a model type
// (BERT's when the type is unknown).
func DefaultTargets(modelType string) []string {
	if t, ok := defaultTargets()[modelType]; ok {
		return append([]string(nil), t...)
	}
	return []string{"query", "value"}
}

// withDefaults fills zero fields with PEFT's defaults.
func (c Config) withDefaults() Config {
	if c.R == 0 {
		c.R = 8
	}
	if c.Alpha == 0 {
		c.Alpha = 8
	}
	if c.Bias == "" {
		c.Bias = "none"
	}
	if c.Init == "" {
		c.Init = "default"
	}
	return c
}

// Validate checks the settings (module names are checked against a model
// later, by Plan).
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.R < 1:
		return fmt.Errorf("lora: r must be ≥ 1, got %d", c.R)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("lora: dropout must be in [0, 1), got %g", c.Dropout)
	case c.LoRAPlusLRRatio < 0:
		return fmt.Errorf("lora: loraplus_lr_ratio must be ≥ 0, got %g", c.LoRAPlusLRRatio)
	case c.TargetRegex != "" && len(c.Targets) > 0:
		return fmt.Errorf("lora: set targets or target_regex, not both")
	case c.UseDoRA && c.FanInFanOut:
		return fmt.Errorf("lora: DoRA on Conv1D ([in, out]) weights is not supported")
	}
	switch c.Bias {
	case "none", "all", "lora_only":
	default:
		return fmt.Errorf("lora: bias %q is not one of none, all, lora_only", c.Bias)
	}
	switch c.Init {
	case "default", "gaussian", "none":
	default:
		return fmt.Errorf("lora: init %q is not one of default, gaussian, none", c.Init)
	}
	for _, re := range []struct{ key, val string }{{"target_regex", c.TargetRegex}, {"exclude_regex", c.ExcludeRegex}} {
		if re.val != "" {
			if _, err := regexp.Compile(re.val); err != nil {
				return fmt.Errorf("lora: %s: %w", re.key, err)
			}
		}
	}
	for k, v := range c.RankPattern {
		if v < 1 {
			return fmt.Errorf("lora: rank_pattern %q: rank must be ≥ 1, got %d", k, v)
		}
		if _, err := regexp.Compile(patternRE(k)); err != nil {
			return fmt.Errorf("lora: rank_pattern %q: %w", k, err)
		}
	}
	for k := range c.AlphaPattern {
		if _, err := regexp.Compile(patternRE(k)); err != nil {
			return fmt.Errorf("lora: alpha_pattern %q: %w", k, err)
		}
	}
	for _, l := range c.LayersToTransform {
		if l < 0 {
			return fmt.Errorf("lora: layers_to_transform: layer %d is negative", l)
		}
	}
	if c.isAllLinear() && len(c.Targets) > 1 {
		return fmt.Errorf("lora: %q cannot be combined with other target names", AllLinear)
	}
	return nil
}

func (c Config) isAllLinear() bool {
	for _, t := range c.Targets {
		if t == AllLinear {
			return true
		}
	}
	return false
}

// patternRE is PEFT's rank/alpha pattern test: re.match(rf".*\.{key}$").
func patternRE(key string) string { return `^.*\.(?:` + key + `)$` }

// fullRE anchors a regexp for Python's re.fullmatch semantics.
func fullRE(s string) string { return `^(?:` + s + `)$` }

// Module is one targeted linear layer.
type Module struct {
	// Name is the Hugging Face module name (weight = Name + ".weight").
	Name string
	// In and Out are the layer's input and output widths.
	In, Out int
	// R and Alpha are this module's rank and alpha (after the patterns).
	R     int
	Alpha float64
	// Scale multiplies the update: Alpha/R, or Alpha/√R with rsLoRA.
	Scale float64
}

// Scaling returns PEFT's scaling for a rank and alpha.
func Scaling(alpha float64, r int, rslora bool) float64 {
	if rslora {
		return alpha / math.Sqrt(float64(r))
	}
	return alpha / float64(r)
}

// matchList is PEFT's list match: the exact name, or a dotted suffix.
func matchList(list []string, name string) bool {
	for _, t := range list {
		if name == t || strings.HasSuffix(name, "."+t) {
			return true
		}
	}
	return false
}

// layerIndex finds the layer number of a module name, as PEFT does.
func (c Config) layerIndex(name string) (int, bool) {
	re := regexp.MustCompile(`^.*\.[^.]*\.(\d+)\.`)
	if c.LayersPattern != "" {
		re = regexp.MustCompile(`^.*\.(?:` + c.LayersPattern + `)\.(\d+)\.`)
	}
	m := re.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	i, err := strconv.Atoi(m[1])
	return i, err == nil
}

// targets reports whether the module is targeted (before exclusions),
// following PEFT's check_target_module_exists: a regex is a full match; a
// list matches exactly or by suffix, and only suffix matches are limited
// by layers_to_transform.
func (c Config) targets(name string) bool {
	if c.TargetRegex != "" {
		return regexp.MustCompile(fullRE(c.TargetRegex)).MatchString(name)
	}
	list := c.Targets
	if slicesContains(list, name) {
		return true
	}
	if !matchList(list, name) {
		return false
	}
	if len(c.LayersToTransform) == 0 {
		return true
	}
	i, ok := c.layerIndex(name)
	return ok && slicesContains(c.LayersToTransform, i)
}

func (c Config) excluded(name string) bool {
	if c.ExcludeRegex != "" && regexp.MustCompile(fullRE(c.ExcludeRegex)).MatchString(name) {
		return true
	}
	return slicesContains(c.Exclude, name) || (len(c.Exclude) > 0 && matchList(c.Exclude, name))
}

func slicesContains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// rankAlpha applies rank_pattern and alpha_pattern to a module name.
func (c Config) rankAlpha(name string) (int, float64) {
	keys := sortedKeys(c.RankPattern)
	keys = append(keys, sortedKeys(c.AlphaPattern)...)
	key := name
	for _, k := range keys {
		if regexp.MustCompile(patternRE(k)).MatchString(name) {
			key = k
			break
		}
	}
	r, a := c.R, c.Alpha
	if v, ok := c.RankPattern[key]; ok {
		r = v
	}
	if v, ok := c.AlphaPattern[key]; ok {
		a = v
	}
	return r, a
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Linears lists the linear layers of a model from its weight shapes: every
// 2-D "<module>.weight" outside the embeddings. head names the task head's
// weights.
func Linears(shapes map[string][]int) []string {
	var out []string
	for n, s := range shapes {
		mod, ok := strings.CutSuffix(n, ".weight")
		if !ok || len(s) != 2 || strings.Contains(n, "embeddings") {
			continue
		}
		out = append(out, mod)
	}
	sort.Strings(out)
	return out
}

// headModules returns the modules of the head weight names.
func headModules(head []string) map[string]bool {
	out := map[string]bool{}
	for _, h := range head {
		if m, ok := strings.CutSuffix(h, ".weight"); ok {
			out[m] = true
		} else if m, ok := strings.CutSuffix(h, ".bias"); ok {
			out[m] = true
		}
	}
	return out
}

// Plan matches the config against a model's weights (name → shape; head
// lists the task head's weights, never targeted: it trains in full) and
// returns the targeted modules, sorted. A spec that matches nothing is an
// error listing the candidates.
func (c Config) Plan(modelType string, shapes map[string][]int, head []string) ([]Module, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.TargetRegex == "" && len(c.Targets) == 0 {
		c.Targets = DefaultTargets(modelType)
	}
	heads := headModules(head)
	var cands []string
	for _, m := range Linears(shapes) {
		if !heads[m] {
			cands = append(cands, m)
		}
	}
	if c.isAllLinear() { // PEFT expands all-linear to the layers' short names
		short := map[string]bool{}
		for _, m := range cands {
			short[m[strings.LastIndex(m, ".")+1:]] = true
		}
		c.Targets = sortedKeys(short)
	}
	var out []Module
	for _, name := range cands {
		if !c.targets(name) || c.excluded(name) {
			continue
		}
		s := shapes[name+".weight"]
		r, a := c.rankAlpha(name)
		out0, in := s[0], s[1]
		if c.FanInFanOut {
			out0, in = s[1], s[0]
		}
		out = append(out, Module{Name: name, Out: out0, In: in, R: r, Alpha: a, Scale: Scaling(a, r, c.UseRSLoRA)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lora: %s matches no linear layer of the model; candidates: %s", c.describeTargets(), describeCandidates(cands))
	}
	return out, nil
}

func (c Config) describeTargets() string {
	s := "targets " + strings.Join(c.Targets, ",")
	if c.TargetRegex != "" {
		s = "target regex " + c.TargetRegex
	}
	if len(c.LayersToTransform) > 0 {
		s += fmt.Sprintf(" (layers %v)", c.LayersToTransform)
	}
	if len(c.Exclude) > 0 || c.ExcludeRegex != "" {
		s += " after exclusions"
	}
	return s
}

// describeCandidates lists the short names (last component) of the
// candidate modules with one full example each.
func describeCandidates(cands []string) string {
	short := map[string]string{}
	var keys []string
	for _, c := range cands {
		k := c[strings.LastIndex(c, ".")+1:]
		if _, ok := short[k]; !ok {
			short[k] = c
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s (e.g. %s)", k, short[k])
	}
	return strings.Join(parts, ", ") + "; or all-linear"
}

// TrainableCount returns the number of trainable parameters LoRA adds for
// the planned modules plus the head (weights named in head, with shapes),
// as PEFT's print_trainable_parameters counts them.
func (c Config) TrainableCount(mods []Module, shapes map[string][]int, head []string) int64 {
	c = c.withDefaults()
	var n int64
	for _, m := range mods {
		n += int64(m.R * (m.In + m.Out))
		if c.UseDoRA {
			n += int64(m.Out)
		}
	}
	for _, h := range head {
		n += int64(numel(shapes[h]))
	}
	for _, b := range c.biases(mods, shapes, head) {
		n += int64(numel(shapes[b]))
	}
	return n
}

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// biases names the base biases that train under Bias (all: every bias
// outside the head; lora_only: the targeted layers' biases).
func (c Config) biases(mods []Module, shapes map[string][]int, head []string) []string {
	var out []string
	switch c.withDefaults().Bias {
	case "all":
		for n := range shapes {
			if strings.HasSuffix(n, ".bias") && !slicesContains(head, n) {
				out = append(out, n)
			}
		}
	case "lora_only":
		for _, m := range mods {
			if _, ok := shapes[m.Name+".bias"]; ok {
				out = append(out, m.Name+".bias")
			}
		}
	}
	sort.Strings(out)
	return out
}
