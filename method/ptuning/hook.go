package ptuning

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	gnn "github.com/gomlx/gomlx/ml/nn"

	"github.com/gotune/gotune/nn"
)

// Names of the method's weights in the model, PEFT's names of the
// PeftModel's prompt encoder without the adapter name.
const (
	// ParamEmbedding is the prompt table: [P, layers·2·token_dim] for a
	// prefix without projection, [P, token_dim] with it, [P, hidden] for a
	// soft prompt.
	ParamEmbedding = "prompt_encoder.embedding.weight"
	// ParamDown and ParamDownBias are the projection's first linear layer
	// [encoder_hidden, token_dim], ParamUp and ParamUpBias its second
	// [layers·2·token_dim, encoder_hidden].
	ParamDown     = "prompt_encoder.transform.0.weight"
	ParamDownBias = "prompt_encoder.transform.0.bias"
	ParamUp       = "prompt_encoder.transform.2.weight"
	ParamUpBias   = "prompt_encoder.transform.2.bias"
)

// PrefixHook is the graph hook of prefix tuning (an nn.PrefixHook): it
// gives every attention layer P key/value positions computed from the
// method's weights. Nothing in it is specific to an architecture: the model
// asks for a layer's keys and values in its own key/value head layout.
type PrefixHook struct {
	// P is the number of virtual tokens.
	P int
	// Shape is the model's layers and key/value heads.
	Shape Shape
	// Projection computes the prefix with the MLP (training with
	// prefix_projection); otherwise the table is the prefix.
	Projection bool
	// Dropout applies to the keys and values while training.
	Dropout float64
}

// PrefixLen returns P.
func (h *PrefixHook) PrefixLen() int { return h.P }

// PrefixKV returns layer's prefix keys and values [batch, P, kvHeads,
// headDim]. The prefix row of a virtual token t holds, for layer l, key
// (kv=0) or value (kv=1), head j and dimension d, the element
// ((2l+kv)·kvHeads + j)·headDim + d: PEFT's view(P, 2·layers, heads,
// head_dim) split into (key, value) pairs per layer.
func (h *PrefixHook) PrefixKV(c *nn.Ctx, layer, batch, kvHeads, headDim int) (k, v *Node) {
	if kvHeads != h.Shape.KVHeads || headDim != h.Shape.HeadDim || layer < 0 || layer >= h.Shape.Layers {
		panic(fmt.Errorf("ptuning: the prefix was made for %d layers of %d key/value heads × %d, the model asks for layer %d with %d × %d",
			h.Shape.Layers, h.Shape.KVHeads, h.Shape.HeadDim, layer, kvHeads, headDim))
	}
	td := h.Shape.TokenDim()
	var kv *Node // [P, 2·token_dim]: this layer's key then value
	if h.Projection {
		// Only the second layer's rows of this layer are needed.
		hid := Tanh(gnn.Dense(c.Weight(ParamEmbedding), c.Weight(ParamDown), c.Weight(ParamDownBias), compute.DenseLayoutOutputsInput))
		w := Slice(c.Weight(ParamUp), AxisRange(2*layer*td, 2*(layer+1)*td), AxisRange())
		b := Slice(c.Weight(ParamUpBias), AxisRange(2*layer*td, 2*(layer+1)*td))
		kv = gnn.Dense(hid, w, b, compute.DenseLayoutOutputsInput)
	} else {
		kv = Slice(c.Weight(ParamEmbedding), AxisRange(), AxisRange(2*layer*td, 2*(layer+1)*td))
	}
	kv = Reshape(kv, 1, h.P, 2, kvHeads, headDim)
	kv = BroadcastToDims(kv, batch, h.P, 2, kvHeads, headDim)
	kv = c.Dropout(kv, h.Dropout)
	k = Squeeze(Slice(kv, AxisRange(), AxisRange(), AxisElem(0)), 2)
	v = Squeeze(Slice(kv, AxisRange(), AxisRange(), AxisElem(1)), 2)
	return k, v
}

// PromptHook is the graph hook of prompt tuning (an nn.EmbeddingHook): it
// prepends the P soft-prompt embeddings to the input's word embeddings and
// extends the attention mask so every token attends to them. The model
// gives them token type 0 and the first P positions, as Hugging Face does
// for inputs_embeds; the first output position, which BERT's pooler reads,
// is then the first virtual token, not [CLS].
type PromptHook struct {
	// P is the number of virtual tokens.
	P int
	// Dropout applies to the soft prompt while training.
	Dropout float64
}

// VirtualTokens returns P: the positions the prompt takes.
func (h *PromptHook) VirtualTokens() int { return h.P }

// InputEmbeddings prepends the soft prompt to x [batch, seq, hidden] and
// ones to mask [batch, seq].
func (h *PromptHook) InputEmbeddings(c *nn.Ctx, x, mask *Node) (*Node, *Node) {
	batch, hidden := x.Shape().Dimensions[0], x.Shape().Dimensions[2]
	e := c.Weight(ParamEmbedding)
	if d := e.Shape().Dimensions; d[0] != h.P || d[1] != hidden {
		panic(fmt.Errorf("ptuning: the soft prompt is %v, the model's embeddings need [%d %d]", d, h.P, hidden))
	}
	e = BroadcastToDims(Reshape(e, 1, h.P, hidden), batch, h.P, hidden)
	e = c.Dropout(ConvertDType(e, x.DType()), h.Dropout)
	ones := Ones(x.Graph(), shapes.Make(mask.DType(), batch, h.P))
	return Concatenate([]*Node{e, x}, 1), Concatenate([]*Node{ones, mask}, 1)
}

// VirtualTokens returns P for the prefix hook too: its positions shift the
// real tokens' positions.
func (h *PrefixHook) VirtualTokens() int { return h.P }

var _ nn.PrefixHook = (*PrefixHook)(nil)
var _ nn.EmbeddingHook = (*PromptHook)(nil)
