package ptuning

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/tokenizer"
)

// Method is prefix tuning (kind Prefix) or prompt tuning (kind Prompt).
type Method struct {
	kind  string
	cfg   Config
	seed  uint64
	shape Shape
	base  string
	// prepared is set by Prepare.
	prepared bool
}

// New checks cfg and returns the method of a kind (Prefix or Prompt); seed
// initialises the prompt.
func New(kind string, cfg Config, seed uint64) (*Method, error) {
	if err := cfg.Validate(kind); err != nil {
		return nil, err
	}
	return &Method{kind: kind, cfg: cfg.withDefaults(), seed: seed}, nil
}

// Name returns "ptuning" or "prompt".
func (m *Method) Name() string { return m.kind }

// Config returns the method's settings (defaults filled in).
func (m *Method) Config() Config { return m.cfg }

// VirtualTokens returns the number of positions the prompt takes.
func (m *Method) VirtualTokens() int { return m.cfg.NumVirtualTokens }

// Backbone is a model that describes its attention for prompts: layers,
// embedding width, key/value heads and head width (with grouped-query
// attention fewer key/value heads than query heads). Decoder models
// provide it; the BERT family is read from its classifier's config.
type Backbone interface {
	PromptShape() (layers, hidden, kvHeads, headDim int)
}

// ShapeOf returns the prompt shape of a model: from PromptShape when the
// model has it, else from a classifier's Hugging Face config (BERT family:
// as many key/value heads as attention heads).
func ShapeOf(mdl method.Model) (Shape, error) {
	if b, ok := mdl.(Backbone); ok {
		l, h, kv, hd := b.PromptShape()
		return Shape{Layers: l, Hidden: h, KVHeads: kv, HeadDim: hd}, nil
	}
	if c, ok := mdl.(*classify.Classifier); ok {
		h, hid := c.Cfg.NumAttentionHeads, c.Cfg.HiddenSize
		if h < 1 || hid%h != 0 {
			return Shape{}, fmt.Errorf("ptuning: hidden size %d is not a multiple of %d heads", hid, h)
		}
		return Shape{Layers: c.Cfg.NumHiddenLayers, Hidden: hid, KVHeads: h, HeadDim: hid / h}, nil
	}
	return Shape{}, fmt.Errorf("ptuning: the model (%T) does not describe its layers and attention heads", mdl)
}

// Prepare freezes the base model, makes the task head trainable, adds the
// prompt's weights (seeded, initialised as PEFT does) and installs the
// hook.
func (m *Method) Prepare(mdl method.Model) error {
	if m.prepared {
		return fmt.Errorf("%s: Prepare called twice", m.kind)
	}
	s, err := ShapeOf(mdl)
	if err != nil {
		return err
	}
	m.shape, m.base = s, mdl.Source()
	p := mdl.Params()
	p.SetAllTrainable(false)
	for _, n := range mdl.HeadParams() {
		if !p.Has(n) {
			return fmt.Errorf("%s: the model has no head weight %s", m.kind, n)
		}
		p.SetTrainable(n, true)
	}
	rng := rand.New(rand.NewPCG(m.seed, 0x5074756e65))
	P, td := m.cfg.NumVirtualTokens, s.TokenDim()
	out := s.Layers * 2 * td
	normal := func(n int) []float32 { // torch.nn.Embedding's init
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	uniform := func(n, fanIn int) []float32 { // torch.nn.Linear's init (weight and bias)
		v := make([]float32, n)
		bound := 1 / math.Sqrt(float64(fanIn))
		for i := range v {
			v[i] = float32((rng.Float64()*2 - 1) * bound)
		}
		return v
	}
	add := func(name string, shape []int, v []float32) error { return mdl.AddExtraParam(name, shape, v) }
	switch {
	case m.kind == Prompt:
		init := normal(P * s.Hidden)
		if m.cfg.Init == "text" {
			if init, err = m.textInit(mdl, P, s.Hidden); err != nil {
				return err
			}
		}
		err = add(ParamEmbedding, []int{P, s.Hidden}, init)
		mdl.AddHook(&PromptHook{P: P, Dropout: m.cfg.Dropout})
	case m.cfg.PrefixProjection:
		e := m.cfg.EncoderHiddenSize
		for _, w := range []struct {
			name  string
			shape []int
			v     []float32
		}{
			{ParamEmbedding, []int{P, td}, normal(P * td)},
			{ParamDown, []int{e, td}, uniform(e*td, td)},
			{ParamDownBias, []int{e}, uniform(e, td)},
			{ParamUp, []int{out, e}, uniform(out*e, e)},
			{ParamUpBias, []int{out}, uniform(out, e)},
		} {
			if err = add(w.name, w.shape, w.v); err != nil {
				break
			}
		}
		mdl.AddHook(&PrefixHook{P: P, Shape: s, Projection: true, Dropout: m.cfg.Dropout})
	default:
		err = add(ParamEmbedding, []int{P, out}, normal(P*out))
		mdl.AddHook(&PrefixHook{P: P, Shape: s, Dropout: m.cfg.Dropout})
	}
	if err != nil {
		return err
	}
	m.prepared = true
	return nil
}

// textInit returns the word embeddings of the init text's tokens (special
// tokens included, as PEFT's tokenizer(init_text) gives them), repeated or
// cut to P rows.
func (m *Method) textInit(mdl method.Model, P, hidden int) ([]float32, error) {
	tok, err := tokenizer.Load(mdl.Source())
	if err != nil {
		return nil, fmt.Errorf("prompt: init text needs the model's tokenizer: %w", err)
	}
	ids := tok.Encode(m.cfg.InitText, "", 1<<20).IDs
	if len(ids) == 0 {
		return nil, fmt.Errorf("prompt: init_text %q has no tokens", m.cfg.InitText)
	}
	var table string
	for _, n := range mdl.Params().Names() {
		if hasSuffix(n, "embeddings.word_embeddings.weight") || n == "model.embed_tokens.weight" {
			table = n
		}
	}
	if table == "" {
		return nil, fmt.Errorf("prompt: init text: the model has no word-embedding table")
	}
	w, err := mdl.Params().Value(table)
	if err != nil {
		return nil, err
	}
	vocab := len(w) / hidden
	out := make([]float32, P*hidden)
	for i := 0; i < P; i++ {
		id := int(ids[i%len(ids)])
		if id < 0 || id >= vocab {
			return nil, fmt.Errorf("prompt: init text token id %d is outside the vocabulary (%d)", id, vocab)
		}
		copy(out[i*hidden:(i+1)*hidden], w[id*hidden:(id+1)*hidden])
	}
	return out, nil
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// TrainableCount returns the weights the method trains on the prepared
// model, head included.
func (m *Method) TrainableCount(mdl method.Model) int64 {
	n := m.cfg.TrainableCount(m.kind, m.shape)
	for _, h := range mdl.HeadParams() {
		n += mdl.Params().Size(h)
	}
	return n
}

// Summary describes the prompt for the run log.
func (m *Method) Summary() string {
	if !m.prepared {
		return m.kind + ": not prepared"
	}
	c := m.cfg
	s := fmt.Sprintf("%s: %d virtual tokens", m.kind, c.NumVirtualTokens)
	switch {
	case m.kind == Prompt:
		s += fmt.Sprintf(" at the input (%d weights, init %s)", m.cfg.TrainableCount(m.kind, m.shape), c.Init)
	case c.PrefixProjection:
		s += fmt.Sprintf(" of keys/values in %d layers, from an MLP of width %d (%d weights)", m.shape.Layers, c.EncoderHiddenSize, m.cfg.TrainableCount(m.kind, m.shape))
	default:
		s += fmt.Sprintf(" of keys/values in %d layers (%d weights)", m.shape.Layers, m.cfg.TrainableCount(m.kind, m.shape))
	}
	if c.Dropout > 0 {
		s += fmt.Sprintf("; dropout %g", c.Dropout)
	}
	return s + "; the classification head trains"
}

// Save writes the adapter in PEFT's layout into dir.
func (m *Method) Save(mdl method.Model, dir string) error {
	if !m.prepared {
		return fmt.Errorf("%s: Save before Prepare", m.kind)
	}
	return SaveAdapter(mdl, m.kind, m.cfg, m.shape, dir)
}
