package ptuning

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/safetensors"
)

// Files of an adapter folder: PEFT's two, gotune's side file (labels, the
// method and its training-only settings; PEFT ignores it) and, with a
// prefix projection, the MLP's weights (PEFT saves only its output).
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
	InfoFile    = "gotune_adapter.json"
	EncoderFile = "gotune_prompt_encoder.safetensors"
)

// KeyPrompt is the adapter file's one prompt tensor: the prefix
// [P, layers·2·token_dim] (the projection already applied) or the soft
// prompt [P, token_dim].
const KeyPrompt = "prompt_embeddings"

// headPrefix starts the head's tensor names: prompt-learning PeftModels wrap
// the transformers model directly (LoRA's names have "base_model.model.").
const headPrefix = "base_model."

// PEFT types of the two kinds.
func peftTypes() map[string]string {
	return map[string]string{Prefix: "PREFIX_TUNING", Prompt: "PROMPT_TUNING"}
}

// peftKeys returns the keys PEFT 0.12's configs write, per kind.
func peftKeys() map[string][]string {
	return map[string][]string{
		Prefix: {"auto_mapping", "base_model_name_or_path", "encoder_hidden_size", "inference_mode", "num_attention_heads",
			"num_layers", "num_transformer_submodules", "num_virtual_tokens", "peft_type", "prefix_projection", "revision",
			"task_type", "token_dim"},
		Prompt: {"auto_mapping", "base_model_name_or_path", "inference_mode", "num_attention_heads", "num_layers",
			"num_transformer_submodules", "num_virtual_tokens", "peft_type", "prompt_tuning_init", "prompt_tuning_init_text",
			"revision", "task_type", "token_dim", "tokenizer_kwargs", "tokenizer_name_or_path"},
	}
}

// Info is gotune's side file of an adapter folder.
type Info struct {
	// Method is "ptuning" or "prompt".
	Method string `json:"method"`
	// ID2Label names the classes of the adapter's head.
	ID2Label map[string]string `json:"id2label,omitempty"`
	// Config is the method's settings as trained (dropout, the projection's
	// width, the prompt's init), which PEFT's file leaves out.
	Config Config `json:"config"`
}

// peftConfig builds adapter_config.json's object.
func peftConfig(kind string, cfg Config, s Shape, base, task string) map[string]any {
	c := map[string]any{
		"auto_mapping": nil, "base_model_name_or_path": base, "inference_mode": true, "num_layers": s.Layers,
		"num_transformer_submodules": 1, "num_virtual_tokens": cfg.NumVirtualTokens, "peft_type": peftTypes()[kind],
		"revision": nil, "task_type": task,
	}
	if kind == Prompt {
		c["num_attention_heads"] = s.Hidden / s.HeadDim
		c["token_dim"] = s.Hidden
		c["prompt_tuning_init"], c["prompt_tuning_init_text"], c["tokenizer_name_or_path"] = "RANDOM", nil, nil
		if cfg.Init == "text" {
			c["prompt_tuning_init"], c["prompt_tuning_init_text"], c["tokenizer_name_or_path"] = "TEXT", cfg.InitText, base
		}
		c["tokenizer_kwargs"] = nil
		return c
	}
	// With grouped-query attention PEFT's token_dim and num_attention_heads
	// are the key/value sizes.
	c["num_attention_heads"], c["token_dim"] = s.KVHeads, s.TokenDim()
	c["prefix_projection"] = cfg.PrefixProjection
	c["encoder_hidden_size"] = cfg.EncoderHiddenSize
	if cfg.EncoderHiddenSize == 0 {
		c["encoder_hidden_size"] = s.TokenDim() // PEFT's default
	}
	return c
}

// PromptEmbeddings returns what PEFT saves as prompt_embeddings for the
// model's current weights: the table, or the projection MLP applied to it
// (in float64, rounded once).
func PromptEmbeddings(mdl method.Model, kind string, cfg Config, s Shape) ([]float32, []int, error) {
	p := mdl.Params()
	emb, err := p.Value(ParamEmbedding)
	if err != nil {
		return nil, nil, err
	}
	P := cfg.NumVirtualTokens
	if kind == Prompt || !cfg.PrefixProjection {
		return emb, p.Shape(ParamEmbedding), nil
	}
	td, e, out := s.TokenDim(), cfg.EncoderHiddenSize, s.Layers*2*s.TokenDim()
	vals := map[string][]float32{}
	for _, n := range []string{ParamDown, ParamDownBias, ParamUp, ParamUpBias} {
		if vals[n], err = p.Value(n); err != nil {
			return nil, nil, err
		}
	}
	down, downB, up, upB := vals[ParamDown], vals[ParamDownBias], vals[ParamUp], vals[ParamUpBias]
	res := make([]float32, P*out)
	hid := make([]float64, e)
	for t := 0; t < P; t++ {
		x := emb[t*td : (t+1)*td]
		for j := 0; j < e; j++ {
			acc := float64(downB[j])
			for i, xv := range x {
				acc += float64(down[j*td+i]) * float64(xv)
			}
			hid[j] = math.Tanh(acc)
		}
		for o := 0; o < out; o++ {
			acc := float64(upB[o])
			for j, hv := range hid {
				acc += float64(up[o*e+j]) * hv
			}
			res[t*out+o] = float32(acc)
		}
	}
	return res, []int{P, out}, nil
}

// SaveAdapter writes the prompt of model mdl in PEFT's layout into dir:
// adapter_config.json, adapter_model.safetensors (prompt_embeddings and
// the head and any weight the base lacked as base_model.<name>),
// gotune_adapter.json and, with a prefix
// projection, gotune_prompt_encoder.safetensors (the MLP, to train on).
func SaveAdapter(mdl method.Model, kind string, cfg Config, s Shape, dir string) error {
	p := mdl.Params()
	base := mdl.Source()
	if abs, err := filepath.Abs(base); err == nil {
		if _, err := os.Stat(abs); err == nil {
			base = abs
		}
	}
	prompt, shape, err := PromptEmbeddings(mdl, kind, cfg, s)
	if err != nil {
		return err
	}
	// The head and the weights the base lacked (a pooler initialised at
	// random, frozen): PEFT loads base_model.<name> into the model.
	ts, err := p.Tensors(append(mdl.HeadParams(), method.NewWeights(mdl)...), func(n string) string { return headPrefix + n })
	if err != nil {
		return err
	}
	ts = append(ts, &safetensors.Tensor{Name: KeyPrompt, Shape: shape, DType: safetensors.F32, F32: prompt})
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving adapter: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	if kind == Prefix && cfg.PrefixProjection {
		enc, err := p.Tensors([]string{ParamEmbedding, ParamDown, ParamDownBias, ParamUp, ParamUpBias}, nil)
		if err != nil {
			return err
		}
		if err := safetensors.WriteFile(filepath.Join(dir, EncoderFile), enc, map[string]string{"format": "pt"}); err != nil {
			return err
		}
	}
	if err := checkpoint.WriteJSON(filepath.Join(dir, ConfigFile), peftConfig(kind, cfg, s, base, method.TaskType(mdl))); err != nil {
		return err
	}
	info := Info{Method: kind, ID2Label: method.ID2Label(mdl.Labels()), Config: cfg}
	return checkpoint.WriteJSON(filepath.Join(dir, InfoFile), info)
}

// Loaded is a prompt-learning adapter folder read from disk (written by
// PEFT or gotune).
type Loaded struct {
	// Dir is the folder.
	Dir string
	// Kind is Prefix or Prompt (from peft_type).
	Kind string
	// Cfg is the adapter's configuration in gotune's terms.
	Cfg Config
	// Layers, TokenDim and Heads are the config's num_layers, token_dim and
	// num_attention_heads: the shape the prompt was made for.
	Layers, TokenDim, Heads int
	// BaseModel is base_model_name_or_path as written.
	BaseModel string
	// Tensors are the adapter's weights under PEFT's names.
	Tensors *safetensors.File
	// Info is gotune's side file (zero when absent).
	Info Info
	// Warnings are harmless problems (unknown keys of a newer PEFT).
	Warnings []string
}

// AdapterKind returns Prefix or Prompt when dir holds a prompt-learning
// adapter (adapter_config.json with peft_type PREFIX_TUNING or
// PROMPT_TUNING), else "".
func AdapterKind(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return ""
	}
	var c struct {
		PeftType string `json:"peft_type"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	for k, t := range peftTypes() {
		if t == c.PeftType {
			return k
		}
	}
	return ""
}

// ReadAdapter reads an adapter folder. Unknown keys of adapter_config.json
// become warnings; missing required keys and bad values are errors naming
// the file and key.
func ReadAdapter(dir string) (*Loaded, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading prompt adapter: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var peftType string
	if v, ok := raw["peft_type"]; !ok || json.Unmarshal(v, &peftType) != nil {
		return nil, fmt.Errorf("%s: required key \"peft_type\" is missing or not a string", path)
	}
	l := &Loaded{Dir: dir}
	for k, t := range peftTypes() {
		if t == peftType {
			l.Kind = k
		}
	}
	if l.Kind == "" {
		return nil, fmt.Errorf("%s: peft_type %q is not PREFIX_TUNING or PROMPT_TUNING", path, peftType)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !contains(peftKeys()[l.Kind], k) {
			l.Warnings = append(l.Warnings, fmt.Sprintf("%s: ignoring unknown key %q (written by a newer PEFT?)", path, k))
		}
	}
	for _, k := range []string{"num_virtual_tokens", "token_dim", "num_layers", "num_attention_heads"} {
		if v, ok := raw[k]; !ok || string(v) == "null" {
			return nil, fmt.Errorf("%s: required key %q is missing", path, k)
		}
	}
	get := func(k string, dst any) error {
		if v, ok := raw[k]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("%s: key %q: %v", path, k, err)
			}
		}
		return nil
	}
	var taskType, initKind string
	var subs int
	var cfg Config
	for k, dst := range map[string]any{"num_virtual_tokens": &cfg.NumVirtualTokens, "token_dim": &l.TokenDim,
		"num_layers": &l.Layers, "num_attention_heads": &l.Heads, "base_model_name_or_path": &l.BaseModel,
		"task_type": &taskType, "num_transformer_submodules": &subs, "prompt_tuning_init": &initKind,
		"prompt_tuning_init_text": &cfg.InitText} {
		if err := get(k, dst); err != nil {
			return nil, err
		}
	}
	for _, v := range []struct {
		key string
		n   int
	}{{"num_virtual_tokens", cfg.NumVirtualTokens}, {"token_dim", l.TokenDim}, {"num_layers", l.Layers}, {"num_attention_heads", l.Heads}} {
		if v.n < 1 {
			return nil, fmt.Errorf("%s: key %q must be ≥ 1, got %d", path, v.key, v.n)
		}
	}
	if subs > 1 {
		return nil, fmt.Errorf("%s: num_transformer_submodules %d (encoder-decoder models) is not supported", path, subs)
	}
	if taskType != "" && taskType != "SEQ_CLS" {
		l.Warnings = append(l.Warnings, fmt.Sprintf("%s: task_type %s; gotune uses it for sequence classification", path, taskType))
	}
	if initKind == "TEXT" {
		cfg.Init = "text"
	} else {
		cfg.InitText = ""
	}
	// The file holds the prefix itself: a projection adapter loads as a table.
	l.Cfg = cfg.withDefaults()
	if l.Tensors, err = checkpoint.ReadTensorFile(dir, WeightsFile, "adapter_model.bin"); err != nil { // older PEFT saves .bin
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, InfoFile)); err == nil {
		if err := json.Unmarshal(b, &l.Info); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, InfoFile), err)
		}
	}
	return l, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// check compares the shape the adapter's config describes with the
// model's: PEFT's token_dim and num_attention_heads are the
// key/value sizes for a prefix, the embedding width and heads for a soft
// prompt.
func (l *Loaded) check(s Shape) error {
	path := filepath.Join(l.Dir, ConfigFile)
	wantTD, wantHeads := s.TokenDim(), s.KVHeads
	if l.Kind == Prompt {
		wantTD, wantHeads = s.Hidden, s.Hidden/s.HeadDim
	}
	switch {
	case l.Layers != s.Layers:
		return fmt.Errorf("%s: num_layers %d, the model has %d layers", path, l.Layers, s.Layers)
	case l.TokenDim != wantTD:
		return fmt.Errorf("%s: token_dim %d, the model needs %d", path, l.TokenDim, wantTD)
	case l.Heads != wantHeads:
		return fmt.Errorf("%s: num_attention_heads %d, the model needs %d", path, l.Heads, wantHeads)
	}
	return nil
}

// HeadRows returns the number of classes of the adapter's saved head (0
// when it saves none).
func (l *Loaded) HeadRows() int {
	rows := 0
	for _, t := range l.Tensors.Tensors {
		n := strings.TrimPrefix(t.Name, headPrefix)
		if strings.HasPrefix(n, "classifier") && strings.HasSuffix(n, ".weight") && len(t.Shape) == 2 {
			rows = t.Shape[0]
		}
	}
	return rows
}

// Labels returns the adapter's class names when gotune_adapter.json has
// them, else nil.
func (l *Loaded) Labels() []string { return method.LabelList(l.Info.ID2Label) }

// Attach adds the loaded prompt to model mdl (frozen, for prediction):
// the prompt table under ParamEmbedding, the saved head over the model's,
// and the hook. Every tensor must fit; any other tensor is an error naming
// it.
func Attach(mdl method.Model, l *Loaded) error {
	s, err := ShapeOf(mdl)
	if err != nil {
		return err
	}
	if err := l.check(s); err != nil {
		return err
	}
	wf := filepath.Join(l.Dir, WeightsFile)
	p := mdl.Params()
	P := l.Cfg.NumVirtualTokens
	want := []int{P, s.Layers * 2 * s.TokenDim()}
	if l.Kind == Prompt {
		want = []int{P, s.Hidden}
	}
	take := func(t *safetensors.Tensor, want []int) error {
		if !slices.Equal(t.Shape, want) {
			return fmt.Errorf("%s: tensor %s has shape %v, the model and adapter_config.json imply %v", wf, t.Name, t.Shape, want)
		}
		if t.F32 == nil {
			return fmt.Errorf("%s: tensor %s has dtype %s, want a float type", wf, t.Name, t.DType)
		}
		return nil
	}
	t := l.Tensors.Get(KeyPrompt)
	if t == nil {
		return fmt.Errorf("%s: tensor %s is missing", wf, KeyPrompt)
	}
	if err := take(t, want); err != nil {
		return err
	}
	if err := mdl.AddExtraParam(ParamEmbedding, want, t.F32); err != nil {
		return err
	}
	for _, t := range l.Tensors.Tensors {
		if t.Name == KeyPrompt {
			continue
		}
		n, ok := strings.CutPrefix(t.Name, headPrefix)
		if !ok || !p.Has(n) {
			return fmt.Errorf("%s: tensor %s has no counterpart in the model (want %s or %s<weight>)", wf, t.Name, KeyPrompt, headPrefix)
		}
		if err := take(t, p.Shape(n)); err != nil {
			return err
		}
		if err := p.Set(n, t.Shape, t.F32); err != nil {
			return err
		}
	}
	p.SetAllTrainable(false)
	if l.Kind == Prompt {
		mdl.AddHook(&PromptHook{P: P})
	} else {
		mdl.AddHook(&PrefixHook{P: P, Shape: s})
	}
	return nil
}
