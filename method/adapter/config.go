// Package adapter is bottleneck adapter tuning with the arithmetic, names
// and file format of AdapterHub's `adapters` library (1.x): the base model
// is frozen and small bottleneck MLPs, x → up(act(down(x))), are inserted
// where a transformer sublayer joins the residual stream; the adapters and
// the task head train.
//
// Placements (AdapterHub's configs):
//
//	pfeiffer  seq_bn         one adapter after the feed-forward block
//	houlsby   double_seq_bn  one after the attention output, one after the feed-forward block
//	parallel  par_bn         one beside the feed-forward block, scaled (He et al. 2021)
//
// With out the sublayer's output (after its projection and dropout), x its
// input (the residual) and LN the sublayer's own layer norm, the layer
// computes instead of LN(out + x):
//
//	pfeiffer  LN(A(LN(out + x)) + r + x), r = out (residual_before_ln true),
//	          LN(out + x) (false) or out + x (post_add)
//	houlsby   LN(A(out) + out + x)              at both sublayers
//	parallel  LN(s·A(x) + out + x)
//
// where A(h) = W_up·act(W_down·h + b_down) + b_up (times scaling s).
// Several adapters share one base (Hook.Add); Hook.Use activates one or a
// stack of them (AdapterHub's Stack: each adapter runs on the previous
// one's output); Average builds a new adapter as a weighted parameter
// average (AdapterHub's average_adapter).
//
// The package has the rooms of method/lora: this file is the
// configuration; hook.go the graph hook; format.go the folder format
// (adapter_config.json, adapter.safetensors, head_config.json,
// model_head.safetensors); average.go the parameter average.
package adapter

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Placements.
const (
	Pfeiffer = "pfeiffer"
	Houlsby  = "houlsby"
	Parallel = "parallel"
)

// Sublayer kinds, as the model's SublayerHook names them.
const (
	KindAttention = "attention"
	KindFFN       = "ffn"
)

// Config configures bottleneck adapters. Zero values take the placement's
// AdapterHub defaults (see withDefaults).
type Config struct {
	// Placement is pfeiffer (default), houlsby or parallel.
	Placement string `json:"placement,omitempty" yaml:"placement,omitempty"`
	// ReductionFactor divides the hidden size to give the bottleneck width,
	// int(hidden // factor), at least 1 (default 16; parallel 2). A factor
	// below 1 widens instead.
	ReductionFactor float64 `json:"reduction_factor,omitempty" yaml:"reduction_factor,omitempty"`
	// ReductionPerLayer overrides ReductionFactor for some layers
	// (AdapterHub's mapping {"0": 8, "default": 16}). With it,
	// ReductionFactor is the "default" entry and may be left 0 only when
	// every adapted layer is listed.
	ReductionPerLayer map[int]float64 `json:"reduction_per_layer,omitempty" yaml:"reduction_per_layer,omitempty"`
	// NonLinearity is the bottleneck's activation: relu (pfeiffer,
	// parallel), swish (houlsby), gelu, gelu_new, silu or tanh.
	NonLinearity string `json:"non_linearity,omitempty" yaml:"non_linearity,omitempty"`
	// ResidualBeforeLN is where a pfeiffer adapter takes its own residual:
	// "true" (default: the sublayer output before the original residual
	// and layer norm), "false" (after the layer norm) or "post_add" (after
	// the original residual, before the norm; AdapterHub then adds the
	// residual twice, so the untrained model is not the base).
	ResidualBeforeLN string `json:"residual_before_ln,omitempty" yaml:"residual_before_ln,omitempty"`
	// LeaveOut are layers (from 0) without adapters.
	LeaveOut []int `json:"leave_out,omitempty" yaml:"leave_out,omitempty"`
	// Init is mam_adapter (default: down Kaiming-uniform, up zero, so the
	// untrained model equals the base exactly), bert (normal std 0.02 for
	// both, AdapterHub's default for pfeiffer and houlsby) or houlsby
	// (truncated normal std 0.01 for both).
	Init string `json:"init,omitempty" yaml:"init,omitempty"`
	// Scaling multiplies the adapter's output (default 1; parallel 4).
	Scaling float64 `json:"scaling,omitempty" yaml:"scaling,omitempty"`
	// Dropout is applied to the adapter's output while training.
	Dropout float64 `json:"dropout,omitempty" yaml:"dropout,omitempty"`
}

// Inits() lists the initialisations.
func Inits() []string {
	return []string{"mam_adapter", "bert", "houlsby"}
}

func placements() []string {
	return []string{Pfeiffer, Houlsby, Parallel}
}

func nonLinearities() []string {
	return []string{"relu", "swish", "silu", "gelu", "gelu_new", "tanh"}
}

// IsZero reports whether no field is set.
func (c Config) IsZero() bool {
	return c.Placement == "" && c.ReductionFactor == 0 && len(c.ReductionPerLayer) == 0 && c.NonLinearity == "" &&
		c.ResidualBeforeLN == "" && len(c.LeaveOut) == 0 && c.Init == "" && c.Scaling == 0 && c.Dropout == 0
}

// withDefaults fills zero fields with the placement's AdapterHub defaults
// (seq_bn, double_seq_bn, par_bn), except Init, which is mam_adapter for
// every placement so that an untrained adapter is the identity.
func (c Config) withDefaults() Config {
	if c.Placement == "" {
		c.Placement = Pfeiffer
	}
	c.Placement = strings.ToLower(c.Placement)
	if c.ReductionFactor == 0 && len(c.ReductionPerLayer) == 0 {
		c.ReductionFactor = 16
		if c.Placement == Parallel {
			c.ReductionFactor = 2
		}
	}
	if c.NonLinearity == "" {
		c.NonLinearity = "relu"
		if c.Placement == Houlsby {
			c.NonLinearity = "swish"
		}
	}
	c.NonLinearity = strings.ToLower(c.NonLinearity)
	if c.ResidualBeforeLN == "" {
		c.ResidualBeforeLN = "true"
	}
	if c.Init == "" {
		c.Init = "mam_adapter"
	}
	if c.Scaling == 0 {
		c.Scaling = 1
		if c.Placement == Parallel {
			c.Scaling = 4
		}
	}
	if len(c.LeaveOut) > 0 {
		c.LeaveOut = slices.Clone(c.LeaveOut)
		sort.Ints(c.LeaveOut)
	}
	return c
}

// Validate checks the settings (layers are checked against a model by
// Plan).
func (c Config) Validate() error {
	c = c.withDefaults()
	if !slices.Contains(placements(), c.Placement) {
		return fmt.Errorf("adapter: placement %q is not one of %s", c.Placement, strings.Join(placements(), ", "))
	}
	if c.ReductionFactor < 0 {
		return fmt.Errorf("adapter: reduction_factor must be > 0, got %g", c.ReductionFactor)
	}
	for l, f := range c.ReductionPerLayer {
		if l < 0 || f <= 0 {
			return fmt.Errorf("adapter: reduction_factor for layer %d: want a layer ≥ 0 and a factor > 0, got %g", l, f)
		}
	}
	if !slices.Contains(nonLinearities(), c.NonLinearity) {
		return fmt.Errorf("adapter: non_linearity %q is not one of %s", c.NonLinearity, strings.Join(nonLinearities(), ", "))
	}
	switch c.ResidualBeforeLN {
	case "true", "false":
	case "post_add":
		if c.Placement != Pfeiffer {
			return fmt.Errorf("adapter: residual_before_ln post_add needs the pfeiffer placement (AdapterHub takes it after the original residual, which only pfeiffer adds before the adapter)")
		}
	default:
		return fmt.Errorf("adapter: residual_before_ln %q is not one of true, false, post_add", c.ResidualBeforeLN)
	}
	if !slices.Contains(Inits(), c.Init) {
		return fmt.Errorf("adapter: init %q is not one of %s", c.Init, strings.Join(Inits(), ", "))
	}
	for _, l := range c.LeaveOut {
		if l < 0 {
			return fmt.Errorf("adapter: leave_out: layer %d is negative", l)
		}
	}
	if c.Scaling < 0 || math.IsInf(c.Scaling, 0) || math.IsNaN(c.Scaling) {
		return fmt.Errorf("adapter: scaling must be a finite number > 0, got %g", c.Scaling)
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		return fmt.Errorf("adapter: dropout must be in [0, 1), got %g", c.Dropout)
	}
	return nil
}

// Kinds returns the sublayers the placement adapts (AdapterHub's
// mh_adapter → attention, output_adapter → ffn).
func (c Config) Kinds() []string {
	if c.withDefaults().Placement == Houlsby {
		return []string{KindAttention, KindFFN}
	}
	return []string{KindFFN}
}

// parallel reports AdapterHub's is_parallel.
func (c Config) parallel() bool { return c.Placement == Parallel }

// lnBefore reports AdapterHub's original_ln_before: the sublayer's residual
// and layer norm are applied before the adapter (pfeiffer only).
func (c Config) lnBefore() bool { return c.Placement == Pfeiffer }

// Reduction returns the reduction factor of a layer.
func (c Config) Reduction(layer int) (float64, error) {
	if f, ok := c.ReductionPerLayer[layer]; ok {
		return f, nil
	}
	if c.ReductionFactor > 0 {
		return c.ReductionFactor, nil
	}
	return 0, fmt.Errorf("adapter: the reduction_factor mapping has no entry for layer %d and no default (write e.g. %d:8,default:16)", layer, layer)
}

// Bottleneck returns AdapterHub's bottleneck width for a hidden size and
// reduction factor: int(hidden // factor), at least 1.
func Bottleneck(hidden int, factor float64) int {
	return max(1, int(math.Floor(float64(hidden)/factor)))
}

// ParseReduction parses a reduction-factor spec: "16", or a per-layer
// mapping "0:8,11:32,default:16".
func ParseReduction(s string) (def float64, perLayer map[int]float64, err error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, ":") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 {
			return 0, nil, fmt.Errorf("reduction factor %q: want a number > 0 or LAYER:FACTOR,...,default:FACTOR", s)
		}
		return f, nil, nil
	}
	perLayer = map[int]float64{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), ":")
		f, ferr := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || ferr != nil || f <= 0 {
			return 0, nil, fmt.Errorf("reduction factor %q: want LAYER:FACTOR or default:FACTOR with a factor > 0", kv)
		}
		if k = strings.TrimSpace(k); k == "default" {
			def = f
			continue
		}
		l, err := strconv.Atoi(k)
		if err != nil || l < 0 {
			return 0, nil, fmt.Errorf("reduction factor %q: layer %q is not an integer ≥ 0", kv, k)
		}
		perLayer[l] = f
	}
	return def, perLayer, nil
}

// FormatReduction is the inverse of ParseReduction.
func FormatReduction(def float64, perLayer map[int]float64) string {
	if len(perLayer) == 0 {
		return strconv.FormatFloat(def, 'g', -1, 64)
	}
	var parts []string
	for _, l := range sortedInts(perLayer) {
		parts = append(parts, fmt.Sprintf("%d:%g", l, perLayer[l]))
	}
	if def > 0 {
		parts = append(parts, fmt.Sprintf("default:%g", def))
	}
	return strings.Join(parts, ",")
}

func sortedInts[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// Site is one place an adapter sits: a sublayer of a layer.
type Site struct {
	// Layer is the encoder layer; Kind is KindAttention or KindFFN.
	Layer int
	Kind  string
	// Module is where AdapterHub keeps the adapter: for BERT the module
	// owning the sublayer's layer norm ("bert.encoder.layer.0.attention.output"
	// or "bert.encoder.layer.0.output"), for LLaMA and GPT-2 the decoder
	// layer's "attention_adapters" or "output_adapters"
	// ("model.layers.0.output_adapters", "transformer.h.0.output_adapters").
	Module string
	// Hidden is the model width; Bottleneck the adapter's inner width.
	Hidden, Bottleneck int
}

// Weight parts of one adapter module, under Site.Module + ".adapters." +
// name + ".": AdapterHub's nn.Sequential index 0 is the down projection,
// index 1 the activation.
const (
	DownWeight = "adapter_down.0.weight"
	DownBias   = "adapter_down.0.bias"
	UpWeight   = "adapter_up.weight"
	UpBias     = "adapter_up.bias"
)

// Parts() lists the weight parts in file order.
func Parts() []string {
	return []string{DownWeight, DownBias, UpWeight, UpBias}
}

// Shape returns the shape of a part ([out, in] for weights).
func (s Site) Shape(part string) []int {
	switch part {
	case DownWeight:
		return []int{s.Bottleneck, s.Hidden}
	case DownBias:
		return []int{s.Bottleneck}
	case UpWeight:
		return []int{s.Hidden, s.Bottleneck}
	}
	return []int{s.Hidden}
}

// Param names a weight of adapter name at this site (AdapterHub's name,
// for example "bert.encoder.layer.0.output.adapters.sst2.adapter_up.weight").
func (s Site) Param(name, part string) string { return s.Module + ".adapters." + name + "." + part }

// Params counts the site's weights: h·b + b + b·h + h.
func (s Site) Params() int64 {
	h, b := int64(s.Hidden), int64(s.Bottleneck)
	return h*b + b + b*h + h
}

// Modules is the architecture knowledge the method needs (*bert.Modules
// satisfies it): a parameter's group, layer and module kinds.
type Modules interface {
	// NumLayers returns the number of encoder layers.
	NumLayers() int
	// Locate returns a parameter's group, its layer (-1 outside the
	// layers) and, inside a layer, its module kinds; the attention
	// output's layer norm has kind "attention.output", the feed-forward
	// block's only "layernorm".
	Locate(name string) (group string, layer int, kinds []string)
}

// Architecture builds the Modules of a model from its parameter names.
type Architecture func(names []string) (Modules, error)

// sublayerNorms finds, per layer, the modules owning each sublayer's layer
// norm: the module of the "<module>.LayerNorm.weight" the Modules map puts
// in attention.output (attention) or in layernorm only (feed-forward).
func sublayerNorms(mods Modules, shapes map[string][]int) (map[[2]string]string, map[string]int) {
	out := map[[2]string]string{}
	hidden := map[string]int{}
	for n, s := range shapes {
		mod, ok := strings.CutSuffix(n, ".LayerNorm.weight")
		if !ok || len(s) != 1 {
			continue
		}
		g, l, kinds := mods.Locate(n)
		if g == "" || l < 0 {
			continue
		}
		kind := ""
		switch {
		case slices.Contains(kinds, "attention.output"):
			kind = KindAttention
		case slices.Equal(kinds, []string{"layernorm"}):
			kind = KindFFN
		default:
			continue
		}
		out[[2]string{strconv.Itoa(l), kind}] = mod
		hidden[mod] = s[0]
	}
	return out, hidden
}

// SiteNamer is implemented by module maps whose architecture keeps
// adapters in modules of their own rather than beside a post-sublayer
// layer norm: AdapterHub's LLaMA and GPT-2 mixins add attention_adapters
// and output_adapters to every decoder layer.
type SiteNamer interface {
	// AdapterSite returns the module AdapterHub keeps a layer's adapter
	// for a sublayer kind (KindAttention, KindFFN) in, and a weight of
	// that layer whose only dimension is the model width.
	AdapterSite(layer int, kind string) (module, widthWeight string)
}

// siteLocator returns where a layer's adapter of a kind sits and the width
// it adapts: named by the module map when it is a SiteNamer, else found
// through the sublayer's layer norm (the BERT family).
func siteLocator(mods Modules, shapes map[string][]int) func(layer int, kind string) (string, int, error) {
	if sn, ok := mods.(SiteNamer); ok {
		return func(l int, k string) (string, int, error) {
			mod, w := sn.AdapterSite(l, k)
			s, ok := shapes[w]
			if mod == "" || !ok || len(s) != 1 {
				return "", 0, fmt.Errorf("adapter: layer %d has no %s sublayer to place an adapter at (no weight %s of the model width)", l, k, w)
			}
			return mod, s[0], nil
		}
	}
	norms, hidden := sublayerNorms(mods, shapes)
	return func(l int, k string) (string, int, error) {
		mod, ok := norms[[2]string{strconv.Itoa(l), k}]
		if !ok {
			return "", 0, fmt.Errorf("adapter: layer %d has no %s layer norm to place an adapter at", l, k)
		}
		return mod, hidden[mod], nil
	}
}

// Plan places the adapter in a model given its weights' shapes and module
// map: one site per adapted sublayer of every layer not left out, in layer
// order (attention before feed-forward).
func (c Config) Plan(mods Modules, shapes map[string][]int) ([]Site, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	n := mods.NumLayers()
	for _, l := range c.LeaveOut {
		if l >= n {
			return nil, fmt.Errorf("adapter: leave_out: layer %d does not exist (the model has %d layers, 0-%d)", l, n, n-1)
		}
	}
	for l := range c.ReductionPerLayer {
		if l >= n {
			return nil, fmt.Errorf("adapter: reduction_factor: layer %d does not exist (the model has %d layers, 0-%d)", l, n, n-1)
		}
	}
	locate := siteLocator(mods, shapes)
	var sites []Site
	for l := 0; l < n; l++ {
		if slices.Contains(c.LeaveOut, l) {
			continue
		}
		f, err := c.Reduction(l)
		if err != nil {
			return nil, err
		}
		for _, k := range c.Kinds() {
			mod, h, err := locate(l, k)
			if err != nil {
				return nil, err
			}
			sites = append(sites, Site{Layer: l, Kind: k, Module: mod, Hidden: h, Bottleneck: Bottleneck(h, f)})
		}
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("adapter: leave_out %v leaves no layer to adapt", c.LeaveOut)
	}
	return sites, nil
}

// ParamCount returns the number of adapter weights of the planned sites.
func ParamCount(sites []Site) int64 {
	var n int64
	for _, s := range sites {
		n += s.Params()
	}
	return n
}

// Describe is a one-line summary of the settings.
func (c Config) Describe() string {
	c = c.withDefaults()
	s := fmt.Sprintf("%s, reduction %s, %s", c.Placement, FormatReduction(c.ReductionFactor, c.ReductionPerLayer), c.NonLinearity)
	if c.Scaling != 1 {
		s += fmt.Sprintf(", scaling %g", c.Scaling)
	}
	if c.ResidualBeforeLN != "true" && c.Placement == Pfeiffer {
		s += ", residual_before_ln " + c.ResidualBeforeLN
	}
	if len(c.LeaveOut) > 0 {
		s += fmt.Sprintf(", leave_out %v", c.LeaveOut)
	}
	if c.Dropout > 0 {
		s += fmt.Sprintf(", dropout %g", c.Dropout)
	}
	return s + ", init " + c.Init
}
