// Package gpt2 is GPT-2 (GPT2LMHeadModel) with Hugging Face parameter names
// and layouts, built on nn.Ctx.
//
// Parameter names are exactly those of transformers' GPT2LMHeadModel:
//
//	transformer.wte.weight                   [vocab, n_embd]  (also the output projection: lm_head is tied)
//	transformer.wpe.weight                   [n_positions, n_embd]
//	transformer.h.N.ln_1.{weight,bias}       [n_embd]
//	transformer.h.N.attn.c_attn.{weight,bias}  [n_embd, 3*n_embd] Conv1D: y = x @ W + b; q|k|v along the last axis
//	transformer.h.N.attn.c_proj.{weight,bias}  [n_embd, n_embd]
//	transformer.h.N.ln_2.{weight,bias}
//	transformer.h.N.mlp.c_fc.{weight,bias}     [n_embd, n_inner]
//	transformer.h.N.mlp.c_proj.{weight,bias}   [n_inner, n_embd]
//	transformer.ln_f.{weight,bias}
//
// Conv1D weights keep their [in, out] layout; nn.Ctx.Conv1D multiplies
// them directly (no transpose) and presents them to hooks by module name
// like any linear layer.
package gpt2

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	gnn "github.com/gomlx/gomlx/ml/nn"

	"github.com/gotune/gotune/models/internal/hfconfig"
	"github.com/gotune/gotune/nn"
)

// Config is a GPT-2 config.json. Fields gotune uses are typed; Raw keeps
// every key.
type Config struct {
	ModelType             string  `json:"model_type"`
	VocabSize             int     `json:"vocab_size"`
	NEmbd                 int     `json:"n_embd"`
	NLayer                int     `json:"n_layer"`
	NHead                 int     `json:"n_head"`
	NPositions            int     `json:"n_positions"`
	NInner                *int    `json:"n_inner"`
	ActivationFunction    string  `json:"activation_function"`
	LayerNormEpsilon      float64 `json:"layer_norm_epsilon"`
	ResidPdrop            float64 `json:"resid_pdrop"`
	EmbdPdrop             float64 `json:"embd_pdrop"`
	AttnPdrop             float64 `json:"attn_pdrop"`
	InitializerRange      float64 `json:"initializer_range"`
	ScaleAttnWeights      bool    `json:"scale_attn_weights"`
	ScaleAttnByInverseIdx bool    `json:"scale_attn_by_inverse_layer_idx"`
	ReorderAndUpcastAttn  bool    `json:"reorder_and_upcast_attn"`
	BOSTokenID            int     `json:"bos_token_id"`
	EOSTokenID            int     `json:"eos_token_id"`
	TieWordEmbeddings     bool    `json:"tie_word_embeddings"`
	// PadTokenID is the padding id sequence classification pools by (nil:
	// the last token).
	PadTokenID *int `json:"pad_token_id"`

	// Raw is every key of the file as read.
	Raw map[string]any `json:"-"`
}

// ParseConfig parses and validates a config.json; path is used in errors.
func ParseConfig(data []byte, path string) (*Config, error) {
	c := &Config{ActivationFunction: "gelu_new", LayerNormEpsilon: 1e-5, InitializerRange: 0.02, ScaleAttnWeights: true,
		TieWordEmbeddings: true, NPositions: 1024, BOSTokenID: 50256, EOSTokenID: 50256,
		ResidPdrop: 0.1, EmbdPdrop: 0.1, AttnPdrop: 0.1}
	if err := hfconfig.Decode(data, path, c, &c.Raw); err != nil {
		return nil, err
	}
	if c.ModelType != "gpt2" {
		return nil, fmt.Errorf("%s: model_type %q is not gpt2", path, c.ModelType)
	}
	if err := hfconfig.Positive(path, hfconfig.Field{Name: "vocab_size", Value: c.VocabSize}, hfconfig.Field{Name: "n_embd", Value: c.NEmbd},
		hfconfig.Field{Name: "n_layer", Value: c.NLayer}, hfconfig.Field{Name: "n_head", Value: c.NHead},
		hfconfig.Field{Name: "n_positions", Value: c.NPositions}); err != nil {
		return nil, err
	}
	if c.NEmbd%c.NHead != 0 {
		return nil, fmt.Errorf("%s: n_embd %d is not a multiple of n_head %d", path, c.NEmbd, c.NHead)
	}
	if !c.ScaleAttnWeights || c.ScaleAttnByInverseIdx || c.ReorderAndUpcastAttn {
		return nil, fmt.Errorf("%s: scale_attn_weights=false, scale_attn_by_inverse_layer_idx and reorder_and_upcast_attn are not supported", path)
	}
	switch c.ActivationFunction {
	case "gelu", "gelu_python", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish", "tanh":
	default:
		return nil, fmt.Errorf("%s: activation_function %q is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, silu, tanh)", path, c.ActivationFunction)
	}
	return c, nil
}

// Marshal returns the config.json bytes: Raw with the typed fields written
// over it.
func (c *Config) Marshal() ([]byte, error) {
	return hfconfig.Marshal(c, c.Raw, nil)
}

// Inner returns the MLP width (n_inner, default 4*n_embd).
func (c *Config) Inner() int {
	if c.NInner != nil && *c.NInner > 0 {
		return *c.NInner
	}
	return 4 * c.NEmbd
}

// LayerName returns the parameter-name prefix of block i.
func LayerName(i int) string { return fmt.Sprintf("transformer.h.%d.", i) }

// ParamShapes returns every parameter, name → dimensions (Conv1D weights
// [in, out]).
func ParamShapes(c *Config) map[string][]int {
	h := c.NEmbd
	m := map[string][]int{
		"transformer.wte.weight": {c.VocabSize, h},
		"transformer.wpe.weight": {c.NPositions, h},
	}
	ln := func(n string) { m[n+".weight"], m[n+".bias"] = []int{h}, []int{h} }
	conv := func(n string, in, out int) { m[n+".weight"], m[n+".bias"] = []int{in, out}, []int{out} }
	for i := 0; i < c.NLayer; i++ {
		l := LayerName(i)
		ln(l + "ln_1")
		conv(l+"attn.c_attn", h, 3*h)
		conv(l+"attn.c_proj", h, h)
		ln(l + "ln_2")
		conv(l+"mlp.c_fc", h, c.Inner())
		conv(l+"mlp.c_proj", c.Inner(), h)
	}
	ln("transformer.ln_f")
	if !c.TieWordEmbeddings {
		m["lm_head.weight"] = []int{c.VocabSize, h}
	}
	return m
}

// InitValue returns Hugging Face's initial value for a parameter: normal(0,
// initializer_range) for matrices (c_proj scaled by 1/sqrt(2*n_layer)),
// ones for LayerNorm weights, zeros for biases.
func InitValue(c *Config, name string, shape []int, rng *rand.Rand) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	switch {
	case len(shape) == 1 && strings.Contains(name, "ln_") && strings.HasSuffix(name, ".weight"):
		for i := range v {
			v[i] = 1
		}
	case len(shape) == 1:
	default:
		std := c.InitializerRange
		if strings.HasSuffix(name, "c_proj.weight") {
			std /= math.Sqrt(float64(2 * c.NLayer))
		}
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
	}
	return v
}

// Inputs are a batch for the decoder: IDs, Mask int32 [batch, T] (Mask nil
// for all ones); Positions [batch, T] (nil: PrefixLen + arange(T), as
// Hugging Face's forward); Cache for incremental decoding.
type Inputs struct {
	IDs, Mask, Positions *Node
	Cache                *nn.KVCache
}

// Decode returns the final hidden states (after ln_f) [batch, T, n_embd];
// with c.Capture set it records "hidden_states.N".
func Decode(c *nn.Ctx, cfg *Config, in Inputs) *Node {
	g := c.G
	x := c.Embedding("transformer.wte", in.IDs)
	mask := in.Mask
	if mask == nil {
		mask = OnesLike(in.IDs)
	}
	x, mask = c.InputEmbeddings(x, mask)
	batch, seq := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	pos := in.Positions
	if pos == nil || pos.Shape().Dimensions[1] != seq {
		pos = AddScalar(Iota(g, shapes.Make(dtypes.Int32, batch, seq), 1), float64(c.PrefixLen()))
	}
	x = Add(x, c.Embedding("transformer.wpe", pos))
	x = c.Dropout(x, cfg.EmbdPdrop)
	c.Record("hidden_states.0", x)
	h, heads := cfg.NEmbd, cfg.NHead
	for i := 0; i < cfg.NLayer; i++ {
		l := LayerName(i)
		x = c.LayerInput(x)
		a := c.LayerNorm(l+"ln_1", x, cfg.LayerNormEpsilon)
		qkv := c.Conv1D(l+"attn.c_attn", a)
		part := func(j int) *Node {
			return Reshape(Slice(qkv, AxisRange(), AxisRange(), AxisRange(j*h, (j+1)*h)), batch, seq, heads, h/heads)
		}
		a = c.CausalSelfAttention(i, part(0), part(1), part(2), mask, in.Cache, cfg.AttnPdrop)
		a = c.Dropout(c.Conv1D(l+"attn.c_proj", a), cfg.ResidPdrop)
		x = c.Sublayer(i, "attention", a, x, identity)

		f := c.LayerNorm(l+"ln_2", x, cfg.LayerNormEpsilon)
		f = c.Conv1D(l+"mlp.c_fc", f)
		f, err := nn.Activation(cfg.ActivationFunction, f)
		if err != nil {
			panic(err)
		}
		f = c.Dropout(c.Conv1D(l+"mlp.c_proj", f), cfg.ResidPdrop)
		x = c.Sublayer(i, "ffn", f, x, identity)
		c.Record(fmt.Sprintf("hidden_states.%d", i+1), x)
	}
	return c.LayerNorm("transformer.ln_f", c.LayersOutput(x), cfg.LayerNormEpsilon)
}

func identity(x *Node) *Node { return x }

// LMHead returns logits [batch, T, vocab]: hidden @ wte^T (tied), or
// lm_head when the checkpoint has its own.
func LMHead(c *nn.Ctx, cfg *Config, h *Node) *Node {
	if !cfg.TieWordEmbeddings && c.P.Has("lm_head.weight") {
		return c.Linear("lm_head", h)
	}
	return gnn.Dense(h, c.Weight("transformer.wte.weight"), nil, compute.DenseLayoutOutputsInput)
}

// CausalLM returns next-token logits [batch, T, vocab].
func CausalLM(c *nn.Ctx, cfg *Config, in Inputs) *Node {
	return LMHead(c, cfg, Decode(c, cfg, in))
}

// LM adapts a Config to the generate package's model interface.
type LM struct{ Config *Config }

// CacheShape returns the KV cache's layers, heads and head size.
func (m LM) CacheShape() (layers, kvHeads, headDim int) {
	return m.Config.NLayer, m.Config.NHead, m.Config.NEmbd / m.Config.NHead
}

// Logits returns next-token logits [batch, T, vocab].
func (m LM) Logits(c *nn.Ctx, ids, positions, mask *Node, cache *nn.KVCache) *Node {
	return CausalLM(c, m.Config, Inputs{IDs: ids, Mask: mask, Positions: positions, Cache: cache})
}

// Classify returns GPT2ForSequenceClassification logits [batch, labels]:
// the score head (score.weight [labels, n_embd], no bias) on each row's
// last non-pad token (see nn.PoolLast).
func Classify(c *nn.Ctx, cfg *Config, in Inputs) *Node {
	h := Decode(c, cfg, in)
	return c.Linear("score", nn.PoolLast(cfg.PadTokenID, in.IDs, h))
}
