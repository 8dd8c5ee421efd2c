package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/ml/layers/activation"
	gnn "github.com/gomlx/gomlx/ml/nn"

	"github.com/gotune/gotune/nn"
)

// Head selects the task head whose weights a model carries.
type Head int

const (
	// HeadCausalLM is the language-model head (lm_head, or the tied
	// embeddings).
	HeadCausalLM Head = iota
	// HeadSeqCls is the sequence-classification head (score.weight, no bias).
	HeadSeqCls
	// HeadNone is the bare decoder.
	HeadNone
)

// ParamShapes returns every parameter of the model with the given head,
// name → dimensions, in Hugging Face names and layouts.
func ParamShapes(c *Config, head Head, numLabels int) map[string][]int {
	h, hd := c.HiddenSize, c.HeadSize()
	m := map[string][]int{
		"model.embed_tokens.weight": {c.VocabSize, h},
		"model.norm.weight":         {h},
	}
	lin := func(name string, out, in int, bias bool) {
		m[name+".weight"] = []int{out, in}
		if bias {
			m[name+".bias"] = []int{out}
		}
	}
	for i := 0; i < c.NumHiddenLayers; i++ {
		l := LayerName(i)
		m[l+"input_layernorm.weight"] = []int{h}
		m[l+"post_attention_layernorm.weight"] = []int{h}
		lin(l+"self_attn.q_proj", c.NumAttentionHeads*hd, h, c.AttentionBias)
		lin(l+"self_attn.k_proj", c.NumKeyValueHeads*hd, h, c.AttentionBias)
		lin(l+"self_attn.v_proj", c.NumKeyValueHeads*hd, h, c.AttentionBias)
		lin(l+"self_attn.o_proj", h, c.NumAttentionHeads*hd, c.AttentionBias && c.ModelType != "qwen2")
		lin(l+"mlp.gate_proj", c.IntermediateSize, h, c.MLPBias)
		lin(l+"mlp.up_proj", c.IntermediateSize, h, c.MLPBias)
		lin(l+"mlp.down_proj", h, c.IntermediateSize, c.MLPBias)
	}
	switch head {
	case HeadCausalLM:
		if !c.TieWordEmbeddings {
			m["lm_head.weight"] = []int{c.VocabSize, h}
		}
	case HeadSeqCls:
		m["score.weight"] = []int{numLabels, h}
	}
	return m
}

// InitValue returns Hugging Face's initial value for a parameter: normal(0,
// initializer_range) for weight matrices and embeddings (padding row zero),
// ones for RMSNorm weights, zeros for biases.
func InitValue(c *Config, name string, shape []int, rng *rand.Rand) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	switch {
	case len(shape) == 1 && strings.HasSuffix(name, "norm.weight"):
		for i := range v {
			v[i] = 1
		}
	case len(shape) == 1: // biases: zero
	default:
		for i := range v {
			v[i] = float32(rng.NormFloat64() * c.InitializerRange)
		}
		if name == "model.embed_tokens.weight" && c.PadTokenID != nil && *c.PadTokenID >= 0 && *c.PadTokenID < shape[0] {
			clear(v[*c.PadTokenID*shape[1] : (*c.PadTokenID+1)*shape[1]])
		}
	}
	return v
}

// Inputs are a batch for the decoder. IDs is int32 [batch, T]; Mask (1 for
// real tokens, 0 for padding; nil for all ones) likewise. Positions are the
// RoPE positions [batch, T]; nil gives Hugging Face's forward() default,
// PrefixLen + arange(T) for every row (generation passes
// cumsum(mask)-1). Cache, when set, makes this an incremental step: keys and
// values are written into it and attention reads the whole cache.
type Inputs struct {
	IDs, Mask, Positions *Node
	Cache                *nn.KVCache
}

// Decode runs the embeddings and the decoder layers and returns the final
// normalised hidden states [batch, T, hidden]. With c.Capture set, it
// records "hidden_states.N" (N = 0 the embeddings; the last one before the
// final norm).
func Decode(c *nn.Ctx, cfg *Config, in Inputs) *Node {
	g := c.G
	x := c.Embedding("model.embed_tokens", in.IDs)
	mask := in.Mask
	if mask == nil {
		mask = OnesLike(in.IDs)
	}
	x, mask = c.InputEmbeddings(x, mask)
	batch, seq := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	pos := in.Positions
	if pos == nil || pos.Shape().Dimensions[1] != seq {
		// Hugging Face counts a key/value prefix as past positions.
		pos = AddScalar(Iota(g, shapes.Make(dtypes.Int32, batch, seq), 1), float64(c.PrefixLen()))
	}
	cos, sin := RopeCosSin(cfg, pos)
	c.Record("hidden_states.0", x)
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		x = layer(c, cfg, i, c.LayerInput(x), mask, cos, sin, in.Cache)
		c.Record(fmt.Sprintf("hidden_states.%d", i+1), x)
	}
	return c.RMSNorm("model.norm", c.LayersOutput(x), cfg.RMSNormEps)
}

// InvFreq returns RoPE's inverse frequencies 1/theta^(2i/d), i < d/2, in
// float32 as transformers computes them.
func InvFreq(theta float64, d int) []float32 {
	out := make([]float32, d/2)
	for i := range out {
		e := float32(2*i) / float32(d)
		out[i] = 1 / float32(math.Pow(theta, float64(e)))
	}
	return out
}

// RopeCosSin returns cos and sin [batch, T, 1, headDim] of the rotary
// angles for int32 positions [batch, T], in Hugging Face's layout (the d/2
// frequencies repeated twice).
func RopeCosSin(cfg *Config, pos *Node) (cos, sin *Node) {
	g := pos.Graph()
	d := cfg.HeadSize()
	inv := Reshape(Const(g, InvFreq(cfg.RopeTheta, d)), 1, 1, d/2)
	ang := Mul(ExpandAxes(ConvertDType(pos, dtypes.Float32), -1), inv) // [b, T, d/2]
	ang = ExpandAxes(Concatenate([]*Node{ang, ang}, -1), 2)            // [b, T, 1, d]
	return Cos(ang), Sin(ang)
}

// ApplyRope rotates x [batch, T, heads, d] by the angles (Hugging Face's
// rotate_half: the pairs are (i, i+d/2)).
func ApplyRope(x, cos, sin *Node) *Node {
	d := x.Shape().Dimensions[3]
	x1 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, d/2))
	x2 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(d/2, d))
	rot := Concatenate([]*Node{Neg(x2), x1}, -1)
	return Add(Mul(x, cos), Mul(rot, sin))
}

func layer(c *nn.Ctx, cfg *Config, i int, x, mask, cos, sin *Node, cache *nn.KVCache) *Node {
	l := LayerName(i)
	batch, seq := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	hd := cfg.HeadSize()
	h := c.RMSNorm(l+"input_layernorm", x, cfg.RMSNormEps)
	q := Reshape(c.Linear(l+"self_attn.q_proj", h), batch, seq, cfg.NumAttentionHeads, hd)
	k := Reshape(c.Linear(l+"self_attn.k_proj", h), batch, seq, cfg.NumKeyValueHeads, hd)
	v := Reshape(c.Linear(l+"self_attn.v_proj", h), batch, seq, cfg.NumKeyValueHeads, hd)
	q, k = ApplyRope(q, cos, sin), ApplyRope(k, cos, sin)
	a := c.CausalSelfAttention(i, q, k, v, mask, cache, cfg.AttentionDropout)
	a = c.Linear(l+"self_attn.o_proj", a)
	x = c.Sublayer(i, "attention", a, x, identity)

	h = c.RMSNorm(l+"post_attention_layernorm", x, cfg.RMSNormEps)
	f := Mul(activation.Swish(c.Linear(l+"mlp.gate_proj", h)), c.Linear(l+"mlp.up_proj", h))
	f = c.Linear(l+"mlp.down_proj", f)
	return c.Sublayer(i, "ffn", f, x, identity)
}

// identity is the "norm" of a pre-norm residual join: out + residual.
func identity(x *Node) *Node { return x }

// LMHead returns logits [batch, T, vocab] for hidden states: lm_head, or
// the embedding matrix when the embeddings are tied.
func LMHead(c *nn.Ctx, cfg *Config, h *Node) *Node {
	if cfg.TieWordEmbeddings || !c.P.Has("lm_head.weight") {
		return gnn.Dense(h, c.Weight("model.embed_tokens.weight"), nil, compute.DenseLayoutOutputsInput)
	}
	return c.Linear("lm_head", h)
}

// CausalLM returns next-token logits [batch, T, vocab].
func CausalLM(c *nn.Ctx, cfg *Config, in Inputs) *Node {
	return LMHead(c, cfg, Decode(c, cfg, in))
}

// Classify returns LlamaForSequenceClassification logits [batch, labels]:
// the score head on the token before the first pad_token_id of each row
// (the last token when a row has none), as transformers 4.43 pools.
func Classify(c *nn.Ctx, cfg *Config, in Inputs) *Node {
	h := Decode(c, cfg, in)
	return c.Linear("score", PoolLast(cfg, in.IDs, h))
}

// PoolLast returns hidden [batch, hidden] at each row's last non-pad token
// (transformers 4.43: index of the first pad_token_id minus one, modulo T).
func PoolLast(cfg *Config, ids, h *Node) *Node {
	g := h.Graph()
	b, t := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	if hT := h.Shape().Dimensions[1]; hT != t {
		// An EmbeddingHook prepended tokens: the real ones are at the end.
		h = Slice(h, AxisRange(), AxisRange(hT-t, hT), AxisRange())
	}
	idx := Iota(g, shapes.Make(dtypes.Int32, b, t), 1)
	last := Scalar(g, dtypes.Int32, t-1)
	if cfg.PadTokenID != nil {
		isPad := Equal(ids, Scalar(g, ids.DType(), *cfg.PadTokenID))
		first := ReduceMin(Where(isPad, idx, BroadcastToDims(Scalar(g, dtypes.Int32, t), b, t)), 1) // [b]
		last = Where(Equal(first, ScalarZero(g, dtypes.Int32)), BroadcastToDims(Scalar(g, dtypes.Int32, t-1), b), AddScalar(first, -1))
		last = ExpandAxes(last, -1)
	}
	sel := ConvertDType(Equal(idx, last), h.DType()) // [b, t] one-hot
	return Einsum("bt,bth->bh", sel, h)
}

// LM adapts a Config to the generate package's model interface.
type LM struct{ Config *Config }

// CacheShape returns the KV cache's layers, key/value heads and head size.
func (m LM) CacheShape() (layers, kvHeads, headDim int) {
	return m.Config.NumHiddenLayers, m.Config.NumKeyValueHeads, m.Config.HeadSize()
}

// Logits returns next-token logits [batch, T, vocab] for ids at positions.
func (m LM) Logits(c *nn.Ctx, ids, positions, mask *Node, cache *nn.KVCache) *Node {
	return CausalLM(c, m.Config, Inputs{IDs: ids, Mask: mask, Positions: positions, Cache: cache})
}
