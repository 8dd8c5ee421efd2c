package bert

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

	"github.com/gotune/gotune/nn"
)

// Head selects the task head whose weights a model carries.
type Head int

const (
	// HeadNone is the bare encoder (plus pooler).
	HeadNone Head = iota
	// HeadSeqCls is the sequence-classification head (classifier.*).
	HeadSeqCls
	// HeadMLM is the masked-language-model head (cls.predictions.*).
	HeadMLM
)

// ParamShapes returns every parameter of the model with the given head,
// name → dimensions, in Hugging Face names and layouts.
func ParamShapes(c *Config, head Head, numLabels int) map[string][]int {
	h, p := c.HiddenSize, c.Prefix()
	m := map[string][]int{
		p + "embeddings.word_embeddings.weight":       {c.VocabSize, h},
		p + "embeddings.position_embeddings.weight":   {c.MaxPositionEmbeddings, h},
		p + "embeddings.token_type_embeddings.weight": {c.TypeVocabSize, h},
		p + "embeddings.LayerNorm.weight":             {h},
		p + "embeddings.LayerNorm.bias":               {h},
	}
	lin := func(name string, out, in int) {
		m[name+".weight"] = []int{out, in}
		m[name+".bias"] = []int{out}
	}
	ln := func(name string) {
		m[name+".weight"] = []int{h}
		m[name+".bias"] = []int{h}
	}
	for i := 0; i < c.NumHiddenLayers; i++ {
		l := c.LayerName(i)
		lin(l+"attention.self.query", h, h)
		lin(l+"attention.self.key", h, h)
		lin(l+"attention.self.value", h, h)
		lin(l+"attention.output.dense", h, h)
		ln(l + "attention.output.LayerNorm")
		lin(l+"intermediate.dense", c.IntermediateSize, h)
		lin(l+"output.dense", h, c.IntermediateSize)
		ln(l + "output.LayerNorm")
	}
	switch head {
	case HeadSeqCls:
		if c.IsRoBERTa() {
			lin("classifier.dense", h, h)
			lin("classifier.out_proj", numLabels, h)
		} else {
			lin(p+"pooler.dense", h, h)
			lin("classifier", numLabels, h)
		}
	case HeadMLM:
		lin("cls.predictions.transform.dense", h, h)
		ln("cls.predictions.transform.LayerNorm")
		m["cls.predictions.bias"] = []int{c.VocabSize}
	case HeadNone:
		if !c.IsRoBERTa() {
			lin(p+"pooler.dense", h, h)
		}
	}
	return m
}

// HeadParams returns the names of the parameters a new task head adds (the
// classifier, and for BERT the pooler when a checkpoint lacks it).
func HeadParams(c *Config) []string {
	if c.IsRoBERTa() {
		return []string{"classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight", "classifier.out_proj.bias"}
	}
	return []string{"classifier.weight", "classifier.bias"}
}

// InitValue returns Hugging Face's initial value for a parameter: normal(0,
// initializer_range) for weight matrices and embeddings (padding row zero),
// ones for LayerNorm weights, zeros for biases.
func InitValue(c *Config, name string, shape []int, rng *rand.Rand) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	switch {
	case len(shape) == 1 && hasSuffix(name, "LayerNorm.weight"):
		for i := range v {
			v[i] = 1
		}
	case len(shape) == 1:
		// biases: zero
	default:
		for i := range v {
			v[i] = float32(rng.NormFloat64() * c.InitializerRange)
		}
		if hasSuffix(name, "word_embeddings.weight") && c.PadTokenID >= 0 && c.PadTokenID < shape[0] {
			for j := 0; j < shape[1]; j++ {
				v[c.PadTokenID*shape[1]+j] = 0
			}
		}
	}
	return v
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// Inputs are a batch of token ids, token type ids and attention mask, each
// int32 [batch, seq]; mask is 1 for real tokens and 0 for padding.
type Inputs struct {
	IDs, TypeIDs, Mask *Node
}

// Encode runs embeddings and the encoder and returns the last hidden states
// [batch, seq, hidden]. With c.Capture set, it records "hidden_states.N".
func Encode(c *nn.Ctx, cfg *Config, in Inputs) *Node {
	p := cfg.Prefix()
	g := c.G
	batch, seq := in.IDs.Shape().Dimensions[0], in.IDs.Shape().Dimensions[1]
	// The word embeddings, with what an EmbeddingHook prepends (a soft
	// prompt): as for Hugging Face's inputs_embeds, the added tokens take
	// token type 0 and the first positions.
	x := c.Embedding(p+"embeddings.word_embeddings", in.IDs)
	words := x
	mask := in.Mask
	x, mask = c.InputEmbeddings(x, mask)
	added := x.Shape().Dimensions[1] - seq
	batch, seq = x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	types := in.TypeIDs
	if types == nil {
		types = ZerosLike(in.IDs)
	}
	if added > 0 {
		types = Concatenate([]*Node{Zeros(g, shapes.Make(types.DType(), batch, added)), types}, 1)
	}
	var pos *Node
	switch {
	case cfg.IsRoBERTa() && x != words:
		// From embeddings RoBERTa numbers every position from padding_idx+1.
		pos = AddScalar(Iota(g, shapes.Make(dtypes.Int32, batch, seq), 1), float64(cfg.PadTokenID+1))
	case cfg.IsRoBERTa():
		// Positions count real tokens, offset by padding_idx+1; padding gets padding_idx.
		m := ConvertDType(NotEqual(in.IDs, Scalar(g, in.IDs.DType(), cfg.PadTokenID)), dtypes.Int32)
		pos = Add(Mul(AddScalar(CumSum(m, 1), float64(c.PrefixLen())), m), Scalar(g, dtypes.Int32, cfg.PadTokenID))
	default:
		// With a key/value prefix, Hugging Face counts the prefix as past
		// positions: the real tokens' positions start after it.
		pos = AddScalar(Iota(g, shapes.Make(dtypes.Int32, batch, seq), 1), float64(c.PrefixLen()))
	}
	x = Add(x, c.Embedding(p+"embeddings.position_embeddings", pos))
	x = Add(x, c.Embedding(p+"embeddings.token_type_embeddings", types))
	x = c.LayerNorm(p+"embeddings.LayerNorm", x, cfg.LayerNormEps)
	x = c.Dropout(x, cfg.HiddenDropoutProb)
	c.Record("hidden_states.0", x)

	// Additive attention mask [batch, 1, 1, seq]: 0 for tokens, float32 min for padding.
	maskBias := MulScalar(OneMinus(ConvertDType(mask, dtypes.Float32)), -math.MaxFloat32)
	maskBias = Reshape(maskBias, batch, 1, 1, seq)
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		x = layer(c, cfg, i, c.LayerInput(x), maskBias)
		c.Record(fmt.Sprintf("hidden_states.%d", i+1), x)
	}
	return c.LayersOutput(x)
}

func layer(c *nn.Ctx, cfg *Config, i int, x, maskBias *Node) *Node {
	l := cfg.LayerName(i)
	batch, seq, hidden := x.Shape().Dimensions[0], x.Shape().Dimensions[1], x.Shape().Dimensions[2]
	heads := cfg.NumAttentionHeads
	dh := hidden / heads
	split := func(t *Node) *Node { return Reshape(t, batch, seq, heads, dh) }
	q := split(c.Linear(l+"attention.self.query", x))
	k := split(c.Linear(l+"attention.self.key", x))
	v := split(c.Linear(l+"attention.self.value", x))
	if pk, pv := c.PrefixKV(i, batch, heads, dh); pk != nil {
		// Prefix positions are attended by every token.
		k = Concatenate([]*Node{pk, k}, 1)
		v = Concatenate([]*Node{pv, v}, 1)
		maskBias = Concatenate([]*Node{Zeros(x.Graph(), shapes.Make(dtypes.Float32, batch, 1, 1, pk.Shape().Dimensions[1])), maskBias}, -1)
	}
	ctxv := c.Attention(q, k, v, maskBias, cfg.AttentionProbsDropoutProb)
	a := c.Linear(l+"attention.output.dense", ctxv)
	a = c.Dropout(a, cfg.HiddenDropoutProb)
	x = c.Sublayer(i, "attention", a, x, func(h *Node) *Node {
		return c.LayerNorm(l+"attention.output.LayerNorm", h, cfg.LayerNormEps)
	})

	f := c.Linear(l+"intermediate.dense", x)
	f, err := nn.Activation(cfg.HiddenAct, f)
	if err != nil {
		panic(err)
	}
	f = c.Linear(l+"output.dense", f)
	f = c.Dropout(f, cfg.HiddenDropoutProb)
	return c.Sublayer(i, "ffn", f, x, func(h *Node) *Node {
		return c.LayerNorm(l+"output.LayerNorm", h, cfg.LayerNormEps)
	})
}

// Pool returns BERT's pooler output tanh(dense(hidden[:, 0])) [batch, hidden].
func Pool(c *nn.Ctx, cfg *Config, hidden *Node) *Node {
	cls := Squeeze(Slice(hidden, AxisRange(), AxisElem(0), AxisRange()), 1)
	return Tanh(c.Linear(cfg.Prefix()+"pooler.dense", cls))
}

// classifierDropout is the dropout before the classifier.
func classifierDropout(cfg *Config) float64 {
	if cfg.ClassifierDropout != nil {
		return *cfg.ClassifierDropout
	}
	return cfg.HiddenDropoutProb
}

// ClassifyFeatures applies the classification head to the encoder output
// and returns logits [batch, labels]: for BERT the pooler then
// classifier; for RoBERTa the dense/tanh/out_proj head on the first token.
func ClassifyFeatures(c *nn.Ctx, cfg *Config, hidden *Node) *Node {
	if cfg.IsRoBERTa() {
		x := Squeeze(Slice(hidden, AxisRange(), AxisElem(0), AxisRange()), 1)
		x = c.Dropout(x, classifierDropout(cfg))
		x = Tanh(c.Linear("classifier.dense", x))
		x = c.Dropout(x, classifierDropout(cfg))
		return c.Linear("classifier.out_proj", x)
	}
	pooled := Pool(c, cfg, hidden)
	c.Record("pooler_output", pooled)
	return c.Linear("classifier", c.Dropout(pooled, classifierDropout(cfg)))
}

// Classify returns sequence-classification logits [batch, labels].
func Classify(c *nn.Ctx, cfg *Config, in Inputs) *Node {
	return ClassifyFeatures(c, cfg, Encode(c, cfg, in))
}

// MLMLogits returns masked-LM logits [batch, seq, vocab]; the decoder
// shares the word-embedding matrix, as in Hugging Face.
func MLMLogits(c *nn.Ctx, cfg *Config, in Inputs) *Node {
	h := Encode(c, cfg, in)
	return MLMHead(c, cfg, h)
}

// MLMHead applies the masked-LM head to hidden states [batch, seq, hidden]
// and returns logits [batch, seq, vocab].
func MLMHead(c *nn.Ctx, cfg *Config, h *Node) *Node {
	x := c.Linear("cls.predictions.transform.dense", h)
	x, err := nn.Activation(cfg.HiddenAct, x)
	if err != nil {
		panic(err)
	}
	x = c.LayerNorm("cls.predictions.transform.LayerNorm", x, cfg.LayerNormEps)
	emb := c.Weight(cfg.Prefix() + "embeddings.word_embeddings.weight")
	bias := Reshape(c.Weight("cls.predictions.bias"), 1, 1, cfg.VocabSize)
	return Add(Einsum("bsh,vh->bsv", x, emb), bias)
}
