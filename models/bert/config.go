// Package bert is the BERT encoder family (BertModel,
// BertForSequenceClassification, BertForMaskedLM; RoBERTa-style position
// offsets) with Hugging Face parameter names and layouts, built on nn.Ctx.
//
// Parameter names are exactly those of transformers' BertForSequenceClassification:
//
//	bert.embeddings.{word,position,token_type}_embeddings.weight
//	bert.embeddings.LayerNorm.{weight,bias}
//	bert.encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
//	bert.encoder.layer.N.attention.output.dense.{weight,bias}
//	bert.encoder.layer.N.attention.output.LayerNorm.{weight,bias}
//	bert.encoder.layer.N.intermediate.dense.{weight,bias}
//	bert.encoder.layer.N.output.dense.{weight,bias}
//	bert.encoder.layer.N.output.LayerNorm.{weight,bias}
//	bert.pooler.dense.{weight,bias}
//	classifier.{weight,bias}
//	cls.predictions.{transform.dense,transform.LayerNorm,decoder,bias}  (masked LM head)
package bert

import (
	"fmt"
	"github.com/gotune/gotune/models/internal/hfconfig"
	"strings"
)

// Config is a BERT config.json. Fields gotune uses are typed; Raw keeps every
// key so a saved config.json loses nothing.
type Config struct {
	ModelType                 string            `json:"model_type"`
	VocabSize                 int               `json:"vocab_size"`
	HiddenSize                int               `json:"hidden_size"`
	NumHiddenLayers           int               `json:"num_hidden_layers"`
	NumAttentionHeads         int               `json:"num_attention_heads"`
	IntermediateSize          int               `json:"intermediate_size"`
	HiddenAct                 string            `json:"hidden_act"`
	HiddenDropoutProb         float64           `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64           `json:"attention_probs_dropout_prob"`
	ClassifierDropout         *float64          `json:"classifier_dropout"`
	MaxPositionEmbeddings     int               `json:"max_position_embeddings"`
	TypeVocabSize             int               `json:"type_vocab_size"`
	LayerNormEps              float64           `json:"layer_norm_eps"`
	InitializerRange          float64           `json:"initializer_range"`
	PadTokenID                int               `json:"pad_token_id"`
	PositionEmbeddingType     string            `json:"position_embedding_type"`
	ID2Label                  map[string]string `json:"id2label"`
	Label2ID                  map[string]int    `json:"label2id"`
	ProblemType               string            `json:"problem_type"`

	// Raw is every key of the file as read.
	Raw map[string]any `json:"-"`
}

// ModelTypes are the config.json model_type values this package runs.
func ModelTypes() []string {
	return []string{"bert", "roberta", "xlm-roberta", "camembert", "distilroberta"}
}

// IsRoBERTa reports whether positions follow RoBERTa's convention (offset
// by padding_idx+1, counted over non-padding tokens).
func (c *Config) IsRoBERTa() bool {
	return c.ModelType != "bert"
}

// ParseConfig parses and validates a config.json; path is used in errors.
func ParseConfig(data []byte, path string) (*Config, error) {
	c := &Config{HiddenAct: "gelu", LayerNormEps: 1e-12, InitializerRange: 0.02, TypeVocabSize: 2,
		HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, PositionEmbeddingType: "absolute"}
	if err := hfconfig.Decode(data, path, c, &c.Raw); err != nil {
		return nil, err
	}
	if err := hfconfig.Positive(path,
		hfconfig.Field{Name: "vocab_size", Value: c.VocabSize}, hfconfig.Field{Name: "hidden_size", Value: c.HiddenSize},
		hfconfig.Field{Name: "num_hidden_layers", Value: c.NumHiddenLayers}, hfconfig.Field{Name: "num_attention_heads", Value: c.NumAttentionHeads},
		hfconfig.Field{Name: "intermediate_size", Value: c.IntermediateSize},
		hfconfig.Field{Name: "max_position_embeddings", Value: c.MaxPositionEmbeddings}); err != nil {
		return nil, err
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return nil, fmt.Errorf("%s: hidden_size %d is not a multiple of num_attention_heads %d", path, c.HiddenSize, c.NumAttentionHeads)
	}
	if c.PositionEmbeddingType != "absolute" {
		return nil, fmt.Errorf("%s: position_embedding_type %q is not supported (only \"absolute\")", path, c.PositionEmbeddingType)
	}
	return c, nil
}

// NumLabels returns the number of labels in id2label (0 when absent).
func (c *Config) NumLabels() int { return len(c.ID2Label) }

// Labels returns the label names ordered by id.
func (c *Config) Labels() []string { return hfconfig.Labels(c.ID2Label) }

// SetLabels stores labels as id2label/label2id, as Hugging Face does.
func (c *Config) SetLabels(labels []string) {
	c.ID2Label = map[string]string{}
	c.Label2ID = map[string]int{}
	for i, l := range labels {
		c.ID2Label[fmt.Sprint(i)] = l
		c.Label2ID[l] = i
	}
}

// Marshal returns the config.json bytes: Raw with the typed fields
// written over it, keys sorted, indented as transformers writes them.
func (c *Config) Marshal() ([]byte, error) {
	return hfconfig.Marshal(c, c.Raw, func(k string, _ any) bool { return k == "problem_type" && c.ProblemType == "" })
}

// Prefix returns the parameter-name prefix ("bert." for BERT, "roberta." for
// RoBERTa) used by the task models.
func (c *Config) Prefix() string {
	if c.IsRoBERTa() {
		return "roberta."
	}
	return "bert."
}

// LayerName returns the parameter-name prefix of encoder layer i.
func (c *Config) LayerName(i int) string {
	return fmt.Sprintf("%sencoder.layer.%d.", c.Prefix(), i)
}

// StripPrefix removes the task-model prefix from a parameter name.
func (c *Config) StripPrefix(name string) string { return strings.TrimPrefix(name, c.Prefix()) }
