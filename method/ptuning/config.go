// Package ptuning is prompt learning with the file format and arithmetic of
// Hugging Face PEFT 0.12, in two kinds that share their configuration,
// weights and files:
//
//   - prefix tuning / P-Tuning v2 ("ptuning", PEFT's PREFIX_TUNING; Li &
//     Liang 2021, Liu et al. 2022): every attention layer gains
//     NumVirtualTokens trained key/value positions in front of the real
//     tokens' keys and values. The prefix is a table [P, layers·2·token_dim]
//     or, with PrefixProjection, the output of a two-layer tanh MLP over a
//     [P, token_dim] table (reparameterisation).
//   - prompt tuning ("prompt", PEFT's PROMPT_TUNING; Lester et al. 2021):
//     NumVirtualTokens trained embeddings are prepended to the word
//     embeddings of the input.
//
// The base model is frozen; the task head trains with the prompt (PEFT's
// modules_to_save for SEQ_CLS).
//
// The package has the rooms of every method: this file is the
// configuration; hook.go the graph hooks (nn.PrefixHook, nn.EmbeddingHook);
// peft.go reads and writes PEFT's adapter folders; ptuning.go is the
// method; load.go loads a saved adapter for prediction.
package ptuning

import (
	"fmt"
	"strings"
)

// Kinds of prompt learning, also the methods' command-line names.
const (
	// Prefix is prefix tuning / P-Tuning v2 (--method ptuning).
	Prefix = "ptuning"
	// Prompt is plain prompt tuning (--method prompt).
	Prompt = "prompt"
)

// Defaults of the P-Tuning v2 run scripts and of prompt tuning practice
// with AdamW; the trainer applies LR and Epochs only when the user sets
// none (see methods.Defaults).
const (
	// DefaultVirtualTokens is the prompt length when none is set (P-Tuning
	// v2's pre_seq_len of its BERT scripts is 16 to 40, PEFT's examples 20).
	DefaultVirtualTokens = 20
	// DefaultEncoderHidden is the width of the reparameterisation MLP
	// (P-Tuning v2's prefix_hidden_size).
	DefaultEncoderHidden = 512
	// DefaultPrefixLR and DefaultPromptLR are the methods' learning rates
	// (P-Tuning v2's BERT scripts use 5e-3 to 1e-2; a soft prompt at the
	// input needs a larger rate).
	DefaultPrefixLR = 5e-3
	DefaultPromptLR = 3e-2
	// DefaultEpochs is the methods' epoch count: prompts learn slower than
	// full fine-tuning (P-Tuning v2 trains 20 to 100 epochs).
	DefaultEpochs = 10
)

// Config configures prefix and prompt tuning. Zero values take the
// defaults above.
type Config struct {
	// NumVirtualTokens is the number of virtual tokens P (default 20): the
	// prefix length of every layer (ptuning) or the soft prompt's length
	// (prompt). They take positions, so the longest input is
	// max_position_embeddings − P tokens.
	NumVirtualTokens int `json:"num_virtual_tokens,omitempty" yaml:"num_virtual_tokens,omitempty"`
	// PrefixProjection (ptuning only) computes the prefix with an MLP,
	// Embedding(P, token_dim) → Linear(token_dim, EncoderHiddenSize) → tanh
	// → Linear(EncoderHiddenSize, layers·2·token_dim), instead of training
	// the [P, layers·2·token_dim] table directly. Only the MLP's output is
	// saved for PEFT; the MLP itself stays in gotune's checkpoint.
	PrefixProjection bool `json:"prefix_projection,omitempty" yaml:"prefix_projection,omitempty"`
	// EncoderHiddenSize is the MLP's hidden width (default 512).
	EncoderHiddenSize int `json:"encoder_hidden_size,omitempty" yaml:"encoder_hidden_size,omitempty"`
	// Dropout is applied to the prefix keys and values (ptuning) or the
	// soft prompt (prompt) while training, as P-Tuning v2 does (its scripts
	// use 0.1); PEFT applies none (default 0).
	Dropout float64 `json:"dropout,omitempty" yaml:"dropout,omitempty"`
	// Init (prompt only) initialises the soft prompt: "random" (default,
	// PEFT's RANDOM: normal(0, 1)) or "text" (PEFT's TEXT: the word
	// embeddings of InitText's tokens, special tokens included, repeated
	// or cut to P).
	Init string `json:"init,omitempty" yaml:"init,omitempty"`
	// InitText is the text of Init "text".
	InitText string `json:"init_text,omitempty" yaml:"init_text,omitempty"`
}

// IsZero reports whether nothing is set.
func (c Config) IsZero() bool { return c == Config{} }

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.NumVirtualTokens == 0 {
		c.NumVirtualTokens = DefaultVirtualTokens
	}
	if c.EncoderHiddenSize == 0 && c.PrefixProjection {
		c.EncoderHiddenSize = DefaultEncoderHidden
	}
	if c.Init == "" {
		c.Init = "random"
	}
	return c
}

// VirtualTokens returns the number of virtual tokens (default filled in):
// the positions the method takes from the model's position table.
func (c Config) VirtualTokens() int { return c.withDefaults().NumVirtualTokens }

// Validate checks the settings for a kind (Prefix or Prompt).
func (c Config) Validate(kind string) error {
	raw := c
	c = c.withDefaults()
	switch {
	case kind != Prefix && kind != Prompt:
		return fmt.Errorf("ptuning: kind %q is not %s or %s", kind, Prefix, Prompt)
	case c.NumVirtualTokens < 1:
		return fmt.Errorf("%s: num_virtual_tokens must be ≥ 1, got %d", kind, c.NumVirtualTokens)
	case c.EncoderHiddenSize < 0:
		return fmt.Errorf("%s: encoder_hidden_size must be ≥ 1, got %d", kind, c.EncoderHiddenSize)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("%s: dropout must be in [0, 1), got %g", kind, c.Dropout)
	}
	var wrong []string
	if kind == Prompt {
		if raw.PrefixProjection {
			wrong = append(wrong, "prefix_projection")
		}
		if raw.EncoderHiddenSize != 0 {
			wrong = append(wrong, "encoder_hidden_size")
		}
	} else {
		if raw.Init != "" && raw.Init != "random" {
			wrong = append(wrong, "init")
		}
		if raw.InitText != "" {
			wrong = append(wrong, "init_text")
		}
	}
	if len(wrong) > 0 {
		other := map[string]string{Prefix: Prompt, Prompt: Prefix}[kind]
		return fmt.Errorf("%s: %s: only for --method %s", kind, strings.Join(wrong, ", "), other)
	}
	switch c.Init {
	case "random":
		if c.InitText != "" {
			return fmt.Errorf("%s: init_text needs init text (got init %s)", kind, c.Init)
		}
	case "text":
		if strings.TrimSpace(c.InitText) == "" {
			return fmt.Errorf("%s: init text needs a non-empty init_text", kind)
		}
	default:
		return fmt.Errorf("%s: init %q is not one of random, text", kind, c.Init)
	}
	return nil
}

// Shape describes the model a prompt is built for: its layers, and the
// key/value heads and width of its attention (with grouped-query attention
// fewer key/value heads than query heads; token_dim is then KVHeads·HeadDim,
// not the hidden size).
type Shape struct {
	// Layers is the number of transformer layers.
	Layers int
	// Hidden is the embedding width (the soft prompt's width).
	Hidden int
	// KVHeads and HeadDim are the attention's key/value heads and width.
	KVHeads, HeadDim int
}

// TokenDim returns the width of one layer's keys (PEFT's token_dim for
// prefix tuning).
func (s Shape) TokenDim() int { return s.KVHeads * s.HeadDim }

// TrainableCount returns the number of weights the method trains for a
// model shape, not counting the task head, as PEFT's
// print_trainable_parameters counts them: the prefix table, or with the
// projection the embedding and both linear layers; the soft prompt.
func (c Config) TrainableCount(kind string, s Shape) int64 {
	c = c.withDefaults()
	p, td := int64(c.NumVirtualTokens), int64(s.TokenDim())
	out := int64(s.Layers) * 2 * td
	switch {
	case kind == Prompt:
		return p * int64(s.Hidden)
	case c.PrefixProjection:
		e := int64(c.EncoderHiddenSize)
		return p*td + (td*e + e) + (e*out + out)
	default:
		return p * out
	}
}
