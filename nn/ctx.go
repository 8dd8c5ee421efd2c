package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/ml/layers/activation"
	gnn "github.com/gomlx/gomlx/ml/nn"
)

// Ctx is the context an architecture builds its graph in. Model code asks
// it for weights by Hugging Face name and routes every linear layer, layer
// norm and dropout through it, so fine-tuning methods can hook in by name
// without the model knowing about them.
type Ctx struct {
	// G is the graph being built.
	G *Graph
	// P holds the weights.
	P *Params
	// Training enables dropout.
	Training bool
	// Options choose memory and precision trade-offs.
	Options
	// Hooks are the active methods' graph hooks; each may implement any of
	// the hook interfaces in this package (LinearHook, ...).
	Hooks []any
	// Capture, when not nil, receives named intermediate values (for
	// example "hidden_states.0") for tests and feature extraction.
	Capture map[string]*Node
}

// Options are graph-building choices that change memory, time and
// precision but not the model.
type Options struct {
	// GradientCheckpointing, while training, keeps only each transformer
	// layer's input for the backward pass and recomputes the layer's
	// activations there (Hugging Face's gradient_checkpointing): less memory
	// for about one more forward pass. See Ctx.LayerInput.
	GradientCheckpointing bool
	// BF16 computes the matrix products (linear layers and attention) in
	// bfloat16 with float32 results, as PyTorch's autocast(bfloat16); the
	// weights, their gradients and the optimizer state stay float32, and so
	// do layer norms, softmax and the loss (Hugging Face's Trainer --bf16).
	BF16 bool
}

// LinearHook lets a method change what a linear layer computes. module is
// the layer's Hugging Face module name (for example
// "bert.encoder.layer.0.attention.self.query"); base computes the layer
// unchanged. Returning nil leaves the layer to the next hook or the base.
type LinearHook interface {
	Linear(c *Ctx, module string, x *Node, base func(*Node) *Node) *Node
}

// Weight returns the graph node of the named weight, panicking with a clear
// message if it does not exist (graph building runs under an executor that
// turns panics into errors).
func (c *Ctx) Weight(name string) *Node {
	if q := c.P.quant[name]; q != nil {
		return q.node(c.G, false)
	}
	v := c.P.Var(name)
	if v == nil {
		panic(fmt.Errorf("model weight %q is missing", name))
	}
	return v.NodeValue(c.G)
}

// OptWeight returns the named weight's node, or nil when it does not exist.
func (c *Ctx) OptWeight(name string) *Node {
	if c.P.quant[name] != nil {
		return c.Weight(name)
	}
	if v := c.P.Var(name); v != nil {
		return v.NodeValue(c.G)
	}
	return nil
}

// Linear applies module.weight ([out, in], PyTorch layout) and the optional
// module.bias to the last axis of x, letting hooks change the result.
func (c *Ctx) Linear(module string, x *Node) *Node {
	base := func(x *Node) *Node {
		return c.linearBase(module, x, compute.DenseLayoutOutputsInput)
	}
	for _, h := range c.Hooks {
		if lh, ok := h.(LinearHook); ok {
			if y := lh.Linear(c, module, x, base); y != nil {
				return y
			}
		}
	}
	return base(x)
}

// linearBase computes a linear layer's own x·w (+ b). A quantised weight
// (Params.Quantize) is dequantised right before the product; while
// training, the dequantised weight is not kept for the backward pass but
// recomputed there from the codes (a checkpoint on the codes, ended after
// the product unless gradient checkpointing already recomputes the whole
// layer), so only the quantised form stays in memory.
func (c *Ctx) linearBase(module string, x *Node, layout compute.DenseLayout) *Node {
	b := c.OptWeight(module + ".bias")
	q := c.P.quant[module+".weight"]
	if q == nil {
		return c.dense(x, c.Weight(module+".weight"), b, layout)
	}
	y := c.dense(x, q.node(c.G, c.Training), b, layout)
	if c.Training && !c.GradientCheckpointing {
		y = y.StopCheckpoint()
	}
	return y
}

// dense is x·w (+ b) in the given weight layout, in bfloat16 when BF16.
func (c *Ctx) dense(x, w, b *Node, layout compute.DenseLayout) *Node {
	if !c.BF16 {
		return gnn.Dense(x, w, b, layout)
	}
	y := gnn.Dense(ToBF16(x), ToBF16(w), nil, layout)
	y = ConvertDType(y, dtypes.Float32)
	if b != nil {
		y = Add(y, ExpandLeftToRank(b, y.Rank()))
	}
	return y
}

// ToBF16 converts a float32 node to bfloat16 (other dtypes pass through).
func ToBF16(x *Node) *Node {
	if x.DType() == dtypes.Float32 {
		return ConvertDType(x, dtypes.BFloat16)
	}
	return x
}

// MatMul is DotGeneral for attention's matrix products: in bfloat16 with a
// float32 result when BF16.
func (c *Ctx) MatMul(a *Node, aContract, aBatch []int, b *Node, bContract, bBatch []int) *Node {
	if !c.BF16 {
		return DotGeneral(a, aContract, aBatch, b, bContract, bBatch)
	}
	return ConvertDType(DotGeneral(ToBF16(a), aContract, aBatch, ToBF16(b), bContract, bBatch), dtypes.Float32)
}

// LayerNorm normalises the last axis of x with module.weight and
// module.bias.
func (c *Ctx) LayerNorm(module string, x *Node, eps float64) *Node {
	return gnn.LayerNorm(x, []int{-1}, eps, c.Weight(module+".weight"), c.OptWeight(module+".bias"), nil)
}

// Embedding looks up rows of the [vocab, dim] table module.weight for the
// integer ids (any shape); the result has the ids' shape plus dim.
func (c *Ctx) Embedding(module string, ids *Node) *Node {
	return Gather(c.Weight(module+".weight"), ExpandAxes(ids, -1))
}

// Dropout zeroes elements with probability p while training and rescales
// the rest by 1/(1-p); it is the identity otherwise.
func (c *Ctx) Dropout(x *Node, p float64) *Node {
	if !c.Training || p <= 0 {
		return x
	}
	if p >= 1 {
		return ZerosLike(x)
	}
	u := c.P.Store().RandomUniform(c.G, shapes.Make(dtypes.Float32, x.Shape().Dimensions...))
	keep := GreaterOrEqual(u, Scalar(c.G, dtypes.Float32, p))
	return Where(keep, MulScalar(x, 1/(1-p)), ZerosLike(x))
}

// Activation applies a Hugging Face activation by its config name.
func Activation(name string, x *Node) (*Node, error) {
	switch name {
	case "gelu", "gelu_python":
		return activation.Gelu(x), nil
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return geluTanh(x), nil
	case "relu":
		return activation.Relu(x), nil
	case "silu", "swish":
		return activation.Swish(x), nil
	case "tanh":
		return Tanh(x), nil
	}
	return nil, fmt.Errorf("unsupported activation %q (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, silu, tanh)", name)
}

// geluTanh is the tanh approximation of GELU, 0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³))),
// built from element-wise ops. GoMLX's fused GeluApproximate is not used: the
// pure-Go backend's SIMD gradient kernel (compute v0.1.14,
// vjpGeluApprox*SIMD) computes the inner term as 0.044715·x+x³, so its
// gradients are wrong (docs/engine.md); TestActivationGradients checks this.
func geluTanh(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(Square(x), x), 0.044715)), math.Sqrt(2/math.Pi))
	return Mul(x, MulScalar(OnePlus(Tanh(inner)), 0.5))
}

// LayerInput marks x as the input of a transformer layer. With
// GradientCheckpointing on while training it starts a checkpointed block
// (GoMLX's Node.Checkpoint): the layer's intermediate values are not kept
// for the backward pass but recomputed from x. Architectures call it on each
// layer's input and LayersOutput after the last layer.
func (c *Ctx) LayerInput(x *Node) *Node {
	if c.Training && c.GradientCheckpointing {
		return x.Checkpoint()
	}
	return x
}

// LayersOutput ends the checkpointed blocks LayerInput started (the value
// is kept, and what follows is not recomputed).
func (c *Ctx) LayersOutput(x *Node) *Node {
	if c.Training && c.GradientCheckpointing {
		return x.StopCheckpoint()
	}
	return x
}

// Record stores x under name when capturing is on.
func (c *Ctx) Record(name string, x *Node) {
	if c.Capture != nil {
		c.Capture[name] = x
	}
}

// PrefixHook lets a method add trainable key/value positions in front of
// every layer's attention (prefix tuning / P-Tuning v2).
type PrefixHook interface {
	// PrefixLen is the number of virtual positions added.
	PrefixLen() int
	// PrefixKV returns the keys and values of layer for a batch, each
	// [batch, PrefixLen, kvHeads, headDim].
	PrefixKV(c *Ctx, layer, batch, kvHeads, headDim int) (k, v *Node)
}

// SublayerHook lets a method change a transformer sublayer's output before
// it joins the residual stream (bottleneck adapters). kind is "attention"
// or "ffn"; out is the sublayer's output (after its output projection and
// dropout), residual its input, and norm the sublayer's own layer norm.
// The default, when no hook returns a value, is norm(out + residual).
type SublayerHook interface {
	Sublayer(c *Ctx, layer int, kind string, out, residual *Node, norm func(*Node) *Node) *Node
}

// EmbeddingHook lets a method change the input's word embeddings and
// attention mask (prompt tuning prepends soft tokens). The model applies it
// to the word embeddings, before position and token-type embeddings are
// added, as Hugging Face treats inputs_embeds: tokens a hook prepends take
// token type 0 and the first positions.
type EmbeddingHook interface {
	// InputEmbeddings returns new embeddings [batch, seq', hidden] and
	// mask [batch, seq'] (int32); added tokens go in front.
	InputEmbeddings(c *Ctx, x, mask *Node) (*Node, *Node)
}

// PrefixLen returns the number of prefix positions the hooks add to
// attention (0 without a PrefixHook).
func (c *Ctx) PrefixLen() int {
	for _, h := range c.Hooks {
		if ph, ok := h.(PrefixHook); ok {
			return ph.PrefixLen()
		}
	}
	return 0
}

// PrefixKV returns the prefix keys and values of a layer, or nil, nil.
func (c *Ctx) PrefixKV(layer, batch, kvHeads, headDim int) (k, v *Node) {
	for _, h := range c.Hooks {
		if ph, ok := h.(PrefixHook); ok {
			return ph.PrefixKV(c, layer, batch, kvHeads, headDim)
		}
	}
	return nil, nil
}

// Sublayer joins a sublayer's output to the residual stream: norm(out +
// residual), unless a SublayerHook changes it.
func (c *Ctx) Sublayer(layer int, kind string, out, residual *Node, norm func(*Node) *Node) *Node {
	for _, h := range c.Hooks {
		if sh, ok := h.(SublayerHook); ok {
			if y := sh.Sublayer(c, layer, kind, out, residual, norm); y != nil {
				return y
			}
		}
	}
	return norm(Add(out, residual))
}

// InputEmbeddings applies any EmbeddingHook to the input embeddings and
// mask.
func (c *Ctx) InputEmbeddings(x, mask *Node) (*Node, *Node) {
	for _, h := range c.Hooks {
		if eh, ok := h.(EmbeddingHook); ok {
			x, mask = eh.InputEmbeddings(c, x, mask)
		}
	}
	return x, mask
}

// Conv1D applies a transformers Conv1D module (GPT-2): module.weight is
// stored [in, out] and y = x @ weight + bias. Hooks see it exactly as a
// Linear layer of the same name (a LinearHook's base computes the Conv1D).
func (c *Ctx) Conv1D(module string, x *Node) *Node {
	base := func(x *Node) *Node {
		return c.linearBase(module, x, compute.DenseLayoutInputOutputs)
	}
	for _, h := range c.Hooks {
		if lh, ok := h.(LinearHook); ok {
			if y := lh.Linear(c, module, x, base); y != nil {
				return y
			}
		}
	}
	return base(x)
}

// RMSNorm normalises the last axis of x by its root mean square and scales
// it by module.weight, as LLaMA's RMSNorm: w * x / sqrt(mean(x²) + eps).
func (c *Ctx) RMSNorm(module string, x *Node, eps float64) *Node {
	variance := ReduceAndKeep(Square(x), ReduceMean, -1)
	w := c.Weight(module + ".weight")
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[len(dims)-1] = w.Shape().Dimensions[0]
	// Rsqrt has no gradient in this engine; x / sqrt is the same value.
	return Mul(Div(x, Sqrt(AddScalar(variance, eps))), Reshape(w, dims...))
}
