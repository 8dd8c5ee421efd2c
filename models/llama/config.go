// Package llama is the LLaMA decoder family (LlamaForCausalLM,
// LlamaForSequenceClassification; Mistral and Qwen2 checkpoints, whose graph
// is the same up to Qwen2's q/k/v biases) with Hugging Face parameter names
// and layouts, built on nn.Ctx.
//
// Parameter names are exactly those of transformers' LlamaForCausalLM:
//
//	model.embed_tokens.weight                             [vocab, hidden]
//	model.layers.N.input_layernorm.weight                 [hidden]
//	model.layers.N.self_attn.{q,k,v,o}_proj.weight        [out, in] (+ .bias for Qwen2 / attention_bias)
//	model.layers.N.post_attention_layernorm.weight        [hidden]
//	model.layers.N.mlp.{gate,up,down}_proj.weight         [out, in]
//	model.norm.weight                                     [hidden]
//	lm_head.weight                                        [vocab, hidden] (absent when tie_word_embeddings)
//	score.weight                                          [labels, hidden] (sequence classification)
//
// Every projection goes through nn.Ctx.Linear (so LoRA hooks find it by
// name) and attention through nn.Ctx.CausalSelfAttention (prefix tuning,
// grouped-query attention, the KV cache).
package llama

import (
	"encoding/json"
	"fmt"
	"github.com/gotune/gotune/models/internal/hfconfig"
)

// Config is a LLaMA-family config.json. Fields gotune uses are typed; Raw
// keeps every key so a saved config.json loses nothing.
type Config struct {
	ModelType             string            `json:"model_type"`
	VocabSize             int               `json:"vocab_size"`
	HiddenSize            int               `json:"hidden_size"`
	IntermediateSize      int               `json:"intermediate_size"`
	NumHiddenLayers       int               `json:"num_hidden_layers"`
	NumAttentionHeads     int               `json:"num_attention_heads"`
	NumKeyValueHeads      int               `json:"num_key_value_heads"`
	HeadDim               int               `json:"head_dim"`
	HiddenAct             string            `json:"hidden_act"`
	MaxPositionEmbeddings int               `json:"max_position_embeddings"`
	RMSNormEps            float64           `json:"rms_norm_eps"`
	RopeTheta             float64           `json:"rope_theta"`
	RopeScaling           map[string]any    `json:"rope_scaling"`
	TieWordEmbeddings     bool              `json:"tie_word_embeddings"`
	AttentionBias         bool              `json:"attention_bias"`
	MLPBias               bool              `json:"mlp_bias"`
	AttentionDropout      float64           `json:"attention_dropout"`
	InitializerRange      float64           `json:"initializer_range"`
	PadTokenID            *int              `json:"pad_token_id"`
	BOSTokenID            *int              `json:"bos_token_id"`
	EOSTokenID            json.RawMessage   `json:"eos_token_id"`
	ID2Label              map[string]string `json:"id2label"`
	Label2ID              map[string]int    `json:"label2id"`
	ProblemType           string            `json:"problem_type"`

	// Raw is every key of the file as read.
	Raw map[string]any `json:"-"`
}

// ModelTypes are the config.json model_type values this package runs.
func ModelTypes() []string { return []string{"llama", "mistral", "qwen2"} }

// ParseConfig parses and validates a config.json; path is used in errors.
func ParseConfig(data []byte, path string) (*Config, error) {
	c := &Config{HiddenAct: "silu", RMSNormEps: 1e-6, RopeTheta: 10000, InitializerRange: 0.02, MaxPositionEmbeddings: 2048}
	if err := hfconfig.Decode(data, path, c, &c.Raw); err != nil {
		return nil, err
	}
	ok := false
	for _, t := range ModelTypes() {
		ok = ok || c.ModelType == t
	}
	if !ok {
		return nil, fmt.Errorf("%s: model_type %q is not a LLaMA-family model (supported: %v)", path, c.ModelType, ModelTypes())
	}
	if c.ModelType == "qwen2" {
		c.AttentionBias = true // Qwen2 always has q/k/v biases (and no o_proj bias)
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	return c, c.Validate(path)
}

// Validate checks the sizes; path is used in errors.
func (c *Config) Validate(path string) error {
	if err := hfconfig.Positive(path,
		hfconfig.Field{Name: "vocab_size", Value: c.VocabSize}, hfconfig.Field{Name: "hidden_size", Value: c.HiddenSize},
		hfconfig.Field{Name: "intermediate_size", Value: c.IntermediateSize}, hfconfig.Field{Name: "num_hidden_layers", Value: c.NumHiddenLayers},
		hfconfig.Field{Name: "num_attention_heads", Value: c.NumAttentionHeads},
		hfconfig.Field{Name: "num_key_value_heads", Value: c.NumKeyValueHeads}); err != nil {
		return err
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return fmt.Errorf("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path, c.NumAttentionHeads, c.NumKeyValueHeads)
	}
	if c.HeadDim == 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("%s: hidden_size %d is not a multiple of num_attention_heads %d", path, c.HiddenSize, c.NumAttentionHeads)
	}
	if c.RopeScaling != nil {
		if t, _ := c.RopeScaling["rope_type"].(string); t != "default" {
			return fmt.Errorf("%s: rope_scaling %v is not supported yet (only null or rope_type \"default\")", path, c.RopeScaling)
		}
	}
	if c.HiddenAct != "silu" && c.HiddenAct != "swish" {
		return fmt.Errorf("%s: hidden_act %q is not supported (LLaMA uses silu)", path, c.HiddenAct)
	}
	return nil
}

// HeadSize returns the per-head dimension (head_dim, or hidden/heads).
func (c *Config) HeadSize() int {
	if c.HeadDim > 0 {
		return c.HeadDim
	}
	return c.HiddenSize / c.NumAttentionHeads
}

// EOSTokenIDs returns the end-of-sequence ids (eos_token_id may be one id or
// a list).
func (c *Config) EOSTokenIDs() []int {
	var one int
	if json.Unmarshal(c.EOSTokenID, &one) == nil {
		return []int{one}
	}
	var many []int
	_ = json.Unmarshal(c.EOSTokenID, &many)
	return many
}

// NumLabels returns the number of labels in id2label (0 when absent).
func (c *Config) NumLabels() int { return len(c.ID2Label) }

// Labels returns the label names ordered by id.
func (c *Config) Labels() []string { return hfconfig.Labels(c.ID2Label) }

// Marshal returns the config.json bytes: Raw with the typed fields written
// over it, indented as transformers writes them.
func (c *Config) Marshal() ([]byte, error) {
	return hfconfig.Marshal(c, c.Raw, func(k string, v any) bool {
		return (k == "problem_type" && c.ProblemType == "") || (k == "head_dim" && c.HeadDim == 0) ||
			(k == "eos_token_id" && len(c.EOSTokenID) == 0) || ((k == "id2label" || k == "label2id") && v == nil)
	})
}

// LayerName returns the parameter-name prefix of decoder layer i.
func LayerName(i int) string { return fmt.Sprintf("model.layers.%d.", i) }
