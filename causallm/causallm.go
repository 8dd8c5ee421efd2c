// Package causallm is the decoder task model: a LLaMA-family or GPT-2
// checkpoint (a Hugging Face folder or a LLaMA-architecture .gguf file)
// with its tokenizer, trained either as a causal language model
// (LlamaForCausalLM / GPT2LMHeadModel: next-token loss on the labelled
// positions) or as a sequence classifier (LlamaForSequenceClassification /
// GPT2ForSequenceClassification: a score head on the last non-pad token).
//
// Model implements method.Model, so every fine-tuning method works on it,
// method.Describer (PEFT's model type, task type and Conv1D layout) and
// method.Encoder (feature extraction with --pooling last). Save writes the
// Hugging Face layout transformers' AutoModelForCausalLM or
// AutoModelForSequenceClassification loads, tokenizer included (a GGUF's
// SentencePiece vocabulary becomes tokenizer.model).
package causallm

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/generate"
	"github.com/gotune/gotune/instruct"
	"github.com/gotune/gotune/models/gpt2"
	"github.com/gotune/gotune/models/llama"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/tokenizer/spm"
)

// Task is what the decoder is trained for.
type Task int

const (
	// CausalLM is next-token prediction (lm_head).
	CausalLM Task = iota
	// SeqCls is sequence classification (score head on the last token).
	SeqCls
)

// String returns "causal-lm" or "classify", the --task names.
func (t Task) String() string {
	if t == SeqCls {
		return "classify"
	}
	return "causal-lm"
}

// Batch inputs of the causal-LM graphs: ids, mask and labels, int32
// [batch, T]; labels are -100 where no loss is taken (the shift to the next
// token happens inside, as in transformers). Sequence classification takes
// the classify package's layout: ids, type ids, mask [batch, T] and labels
// [batch].
const (
	InIDs = iota
	InMask
	InLabels
)

// Model is a decoder with a causal-LM or sequence-classification head.
type Model struct {
	// Task is the head the model trains.
	Task Task
	// Llama or GPT2 is the architecture's config (one of them is set).
	Llama *llama.Config
	GPT2  *gpt2.Config
	// P holds every weight under its Hugging Face name.
	P *nn.Params
	// Opts are memory and precision choices (gradient checkpointing, bf16).
	Opts nn.Options
	// Path is the folder or .gguf file the model was loaded from.
	Path string
	// Tokenizer is nil when the checkpoint has none (data must then be
	// input_ids). BOS is prepended to encoded text when AddBOS; EOS are the
	// end-of-sequence ids (the first ends training examples); Pad pads
	// batches.
	Tokenizer generate.Tokenizer
	BOS       int
	AddBOS    bool
	EOS       []int
	Pad       int
	// Hooks are the fine-tuning method's graph hooks.
	Hooks []any
	// NewHead lists the weights initialised rather than loaded (a new
	// score head); Unused the checkpoint weights the task does not use.
	NewHead, Unused []string
	// Extra names method-owned weights, which SaveFull leaves out.
	Extra map[string]bool

	labels []string
	head   func(c *nn.Ctx, hidden *Node, inputs []*Node) *Node
}

// IsDecoder reports whether path is a model this package loads: a .gguf
// file, or a folder whose config.json model_type is a LLaMA-family type or
// gpt2.
func IsDecoder(path string) bool {
	if strings.HasSuffix(strings.ToLower(path), ".gguf") {
		return true
	}
	var head struct {
		ModelType string `json:"model_type"`
	}
	b, err := os.ReadFile(filepath.Join(path, "config.json"))
	if err != nil || json.Unmarshal(b, &head) != nil {
		return false
	}
	return head.ModelType == "gpt2" || slices.Contains(llama.ModelTypes(), head.ModelType)
}

// Load reads a decoder checkpoint for a task. For SeqCls, labels names the
// classes: when it differs from the checkpoint's id2label (or the
// checkpoint has no score head) a new score head is initialised, normal(0,
// initializer_range) from a generator seeded with seed, as transformers
// does; nil keeps the checkpoint's labels (LABEL_i for a score head
// without id2label). The LM head is dropped for SeqCls, the score head for
// CausalLM.
func Load(path string, task Task, labels []string, seed uint64) (*Model, error) {
	l, err := generate.Load(path)
	if err != nil {
		return nil, err
	}
	m := &Model{Task: task, P: l.Params, Path: path, Tokenizer: l.Tokenizer, BOS: l.BOS, AddBOS: l.AddBOS, EOS: l.EOS, Pad: l.Pad}
	if abs, err := filepath.Abs(path); err == nil {
		m.Path = abs
	}
	switch lm := l.Model.(type) {
	case llama.LM:
		m.Llama = lm.Config
	case gpt2.LM:
		m.GPT2 = lm.Config
	default:
		return nil, fmt.Errorf("%s: unsupported decoder %T", path, l.Model)
	}
	if m.Llama != nil && m.Llama.PadTokenID != nil {
		m.Pad = *m.Llama.PadTokenID
	}
	if err := m.setupHead(labels, seed); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func (m *Model) setupHead(labels []string, seed uint64) error {
	drop := func(n string) {
		if m.P.Has(n) {
			m.Unused = append(m.Unused, n)
			_ = m.P.Delete(n)
		}
	}
	if m.Task == CausalLM {
		drop("score.weight")
		if !m.tied() && !m.P.Has("lm_head.weight") {
			return fmt.Errorf("the checkpoint has no lm_head.weight (a sequence-classification checkpoint?) and its embeddings are not tied; it cannot be trained as a causal LM")
		}
		return nil
	}
	drop("lm_head.weight")
	// Sequence classification pools at the last token before the first pad
	// id; a model without one pads with EOS (what transformers users set).
	if m.padID() == nil {
		pad := m.Pad
		if len(m.EOS) > 0 {
			pad = m.EOS[0]
		}
		m.setPadID(pad)
	}
	m.Pad = *m.padID()
	have := m.configLabels()
	if have == nil && m.P.Has("score.weight") {
		rows := m.P.Shape("score.weight")[0]
		for i := 0; i < rows; i++ {
			have = append(have, fmt.Sprintf("LABEL_%d", i))
		}
	}
	if labels == nil {
		labels = have
	}
	if len(labels) == 0 {
		return fmt.Errorf("the model has no score head and no labels were given (train it on labelled data first)")
	}
	m.labels = labels
	hidden := m.HiddenSize()
	if m.P.Has("score.weight") && slices.Equal(labels, have) && slices.Equal(m.P.Shape("score.weight"), []int{len(labels), hidden}) {
		return nil
	}
	drop("score.weight")
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	w := make([]float32, len(labels)*hidden)
	std := m.initRange()
	for i := range w {
		w[i] = float32(rng.NormFloat64() * std)
	}
	if err := m.P.Set("score.weight", []int{len(labels), hidden}, w); err != nil {
		return err
	}
	m.NewHead = append(m.NewHead, "score.weight")
	return nil
}

func (m *Model) tied() bool {
	if m.Llama != nil {
		return m.Llama.TieWordEmbeddings
	}
	return m.GPT2.TieWordEmbeddings
}

func (m *Model) initRange() float64 {
	if m.Llama != nil {
		return m.Llama.InitializerRange
	}
	return m.GPT2.InitializerRange
}

func (m *Model) padID() *int {
	if m.Llama != nil {
		return m.Llama.PadTokenID
	}
	return m.GPT2.PadTokenID
}

func (m *Model) setPadID(id int) {
	if m.Llama != nil {
		m.Llama.PadTokenID = &id
	} else {
		m.GPT2.PadTokenID = &id
	}
}

// configLabels returns config.json's id2label ordered by id (nil if none).
func (m *Model) configLabels() []string {
	var id2label map[string]string
	if m.Llama != nil {
		id2label = m.Llama.ID2Label
	} else if v, ok := m.GPT2.Raw["id2label"].(map[string]any); ok {
		id2label = map[string]string{}
		for k, x := range v {
			id2label[k] = fmt.Sprint(x)
		}
	}
	if len(id2label) == 0 {
		return nil
	}
	out := make([]string, len(id2label))
	for i := range out {
		v, ok := id2label[fmt.Sprint(i)]
		if !ok {
			return nil
		}
		out[i] = v
	}
	return out
}

// ModelType returns config.json's model_type (method.Describer).
func (m *Model) ModelType() string {
	if m.Llama != nil {
		return m.Llama.ModelType
	}
	return "gpt2"
}

// TaskType returns PEFT's task type: CAUSAL_LM or SEQ_CLS.
func (m *Model) TaskType() string {
	if m.Task == SeqCls {
		return "SEQ_CLS"
	}
	return "CAUSAL_LM"
}

// FanInFanOut reports GPT-2's Conv1D layout ([in, out] weights).
func (m *Model) FanInFanOut() bool { return m.GPT2 != nil }

// Embeddings names the embedding tables and the output embedding.
func (m *Model) Embeddings() []string {
	if m.Llama != nil {
		return []string{"model.embed_tokens.weight", "lm_head.weight"}
	}
	return []string{"transformer.wte.weight", "transformer.wpe.weight", "lm_head.weight"}
}

// PromptShape describes the attention for prefix and prompt tuning:
// layers, hidden size, key/value heads and head size.
func (m *Model) PromptShape() (layers, hidden, kvHeads, headDim int) {
	if m.Llama != nil {
		c := m.Llama
		return c.NumHiddenLayers, c.HiddenSize, c.NumKeyValueHeads, c.HeadSize()
	}
	c := m.GPT2
	return c.NLayer, c.NEmbd, c.NHead, c.NEmbd / c.NHead
}

// HiddenSize returns the decoder's width.
func (m *Model) HiddenSize() int {
	if m.Llama != nil {
		return m.Llama.HiddenSize
	}
	return m.GPT2.NEmbd
}

// NumLayers returns the number of decoder layers.
func (m *Model) NumLayers() int {
	if m.Llama != nil {
		return m.Llama.NumHiddenLayers
	}
	return m.GPT2.NLayer
}

// MaxPositions returns the longest sequence the model takes.
func (m *Model) MaxPositions() int {
	if m.Llama != nil {
		return m.Llama.MaxPositionEmbeddings
	}
	return m.GPT2.NPositions
}

// SetDropout overrides the model's dropout probabilities (LLaMA has only
// attention dropout).
func (m *Model) SetDropout(p float64) {
	if m.Llama != nil {
		m.Llama.AttentionDropout = p
		return
	}
	m.GPT2.ResidPdrop, m.GPT2.EmbdPdrop, m.GPT2.AttnPdrop = p, p, p
}

// Describe is the one-line architecture summary for run logs.
func (m *Model) Describe() string {
	return fmt.Sprintf("%s decoder, %d layers, hidden %d, vocabulary %d, task %s", m.ModelType(), m.NumLayers(), m.HiddenSize(), m.VocabSize(), m.Task)
}

// VocabSize returns the number of token ids the model embeds.
func (m *Model) VocabSize() int {
	if m.Llama != nil {
		return m.Llama.VocabSize
	}
	return m.GPT2.VocabSize
}

// GenModel returns the model as the generate package runs it.
func (m *Model) GenModel() generate.Model {
	if m.Llama != nil {
		return llama.LM{Config: m.Llama}
	}
	return gpt2.LM{Config: m.GPT2}
}

// Params returns the weights (method.Model).
func (m *Model) Params() *nn.Params { return m.P }

// AddHook adds a method's graph hook.
func (m *Model) AddHook(h any) { m.Hooks = append(m.Hooks, h) }

// HeadParams names the task head's weights: score.weight for sequence
// classification; none for a causal LM (its head is pretrained, and
// methods choose whether it trains).
func (m *Model) HeadParams() []string {
	if m.Task == SeqCls {
		return []string{"score.weight"}
	}
	return nil
}

// Labels returns the class names (nil for a causal LM).
func (m *Model) Labels() []string { return m.labels }

// Source returns the folder or .gguf file the model was loaded from.
func (m *Model) Source() string { return m.Path }

// AddExtraParam adds a method-owned trainable weight (see method.Model).
func (m *Model) AddExtraParam(name string, shape []int, value []float32) error {
	var err error
	m.Extra, err = m.P.AddExtra(m.Extra, name, shape, value)
	return err
}

func (m *Model) ctx(g *Graph, training bool) *nn.Ctx {
	return &nn.Ctx{G: g, P: m.P, Training: training, Hooks: m.Hooks, Options: m.Opts}
}

// decode runs the decoder: final hidden states [batch, T', hidden].
func (m *Model) decode(c *nn.Ctx, ids, mask *Node) *Node {
	if m.Llama != nil {
		return llama.Decode(c, m.Llama, llama.Inputs{IDs: ids, Mask: mask})
	}
	return gpt2.Decode(c, m.GPT2, gpt2.Inputs{IDs: ids, Mask: mask})
}

// LMLogits returns next-token logits [batch, T, vocab] for ids and mask
// (positions a prompt-tuning hook prepends are cut off).
func (m *Model) LMLogits(c *nn.Ctx, ids, mask *Node) *Node {
	h := m.decode(c, ids, mask)
	var logits *Node
	if m.Llama != nil {
		logits = llama.LMHead(c, m.Llama, h)
	} else {
		logits = gpt2.LMHead(c, m.GPT2, h)
	}
	if t, tl := ids.Shape().Dimensions[1], logits.Shape().Dimensions[1]; tl != t {
		logits = Slice(logits, AxisRange(), AxisRange(tl-t, tl), AxisRange())
	}
	return logits
}

// Loss builds the training loss (train.Model). For a causal LM it is the
// mean next-token cross-entropy over labelled positions and the output is
// the number of those positions (float32 scalar, to weight evaluation
// means); for sequence classification the mean cross-entropy and the
// logits [batch, labels].
func (m *Model) Loss(g *Graph, in []*Node, training bool) (loss, out *Node) {
	c := m.ctx(g, training)
	if m.Task == CausalLM {
		logits := m.LMLogits(c, in[InIDs], in[InMask])
		t := logits.Shape().Dimensions[1]
		if t < 2 {
			zero := ScalarZero(g, logits.DType())
			return zero, zero
		}
		shifted := Slice(logits, AxisRange(), AxisRange(0, t-1), AxisRange())
		next := Slice(in[InLabels], AxisRange(), AxisRange(1, t))
		loss, count := nn.CrossEntropy(shifted, next)
		return loss, count
	}
	logits := m.Logits(g, in, training)
	loss, _ = nn.CrossEntropy(logits, in[3])
	return loss, logits
}

// Logits returns sequence-classification logits [batch, labels] for the
// classify layout (ids, type ids, mask, ...).
func (m *Model) Logits(g *Graph, in []*Node, training bool) *Node {
	c := m.ctx(g, training)
	if m.head != nil {
		c.Capture = map[string]*Node{}
		return m.head(c, m.EncodeGraph(c, in), in)
	}
	h := m.decode(c, in[0], in[2])
	return c.Linear("score", m.pool(h, in[0]))
}

func (m *Model) pool(h, ids *Node) *Node { return nn.PoolLast(m.padID(), ids, h) }

// EncodeGraph runs the decoder on classify-layout inputs (method.Encoder).
func (m *Model) EncodeGraph(c *nn.Ctx, in []*Node) *Node { return m.decode(c, in[0], in[2]) }

// PoolLast pools hidden states at each row's last non-pad token
// (feature.LastPooler).
func (m *Model) PoolLast(c *nn.Ctx, hidden *Node, in []*Node) *Node { return m.pool(hidden, in[0]) }

// PoolGraph panics: decoders have no pooler (HasPooler is false).
func (m *Model) PoolGraph(c *nn.Ctx, hidden *Node) *Node {
	panic(fmt.Errorf("%s decoders have no pooler; pool with PoolLast", m.ModelType()))
}

// HasPooler reports false: decoders have no pooler.
func (m *Model) HasPooler() bool { return false }

// SetHead replaces the classification head (nil restores the score head).
func (m *Model) SetHead(head func(c *nn.Ctx, hidden *Node, inputs []*Node) *Node) { m.head = head }

// InstructTokenizer is package instruct's view of the model's tokenizer,
// as training and evaluation encode instruction data with it: the text
// encoding, BOS when the model adds one, the first EOS to end responses,
// and the folder's chat template (none for a .gguf file).
func (m *Model) InstructTokenizer() instruct.Tokenizer {
	eos := int32(-1)
	if len(m.EOS) > 0 {
		eos = int32(m.EOS[0])
	}
	t := instruct.Tokenizer{Encode: m.EncodeText, BOS: int32(m.BOS), AddBOS: m.AddBOS, EOS: eos}
	if dir := m.Source(); !strings.HasSuffix(strings.ToLower(dir), ".gguf") {
		t.ChatTemplate = instruct.ReadChatTemplate(dir)
	}
	return t
}

// EncodeText tokenizes text (no BOS/EOS); it fails without a tokenizer.
func (m *Model) EncodeText(text string) ([]int32, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("%s has no tokenizer (tokenizer.json, tokenizer.model or vocab.json+merges.txt): give input_ids instead of text", m.Path)
	}
	ids := m.Tokenizer.Encode(text)
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out, nil
}

// SaveFull writes the whole model into dir in Hugging Face layout:
// config.json (architectures LlamaForCausalLM / GPT2LMHeadModel, or the
// *ForSequenceClassification with id2label), model.safetensors (without
// method-owned weights) and the tokenizer (files copied from the source
// folder, or a GGUF's vocabulary as tokenizer.model).
func (m *Model) SaveFull(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	cfgJSON, err := m.configJSON()
	if err != nil {
		return err
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(dir, "config.json"), cfgJSON); err != nil {
		return err
	}
	if err := m.P.WriteSafetensors(filepath.Join(dir, "model.safetensors"), m.Extra); err != nil {
		return err
	}
	return m.saveTokenizer(dir)
}

// Save writes the model into dir through a temporary folder renamed into
// place.
func (m *Model) Save(dir string) error {
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	defer os.RemoveAll(tmp)
	if err := m.SaveFull(tmp); err != nil {
		return err
	}
	return checkpoint.ReplaceDir(tmp, dir)
}

func (m *Model) saveTokenizer(dir string) error {
	if st, err := os.Stat(m.Path); err == nil && st.IsDir() {
		for _, f := range checkpoint.TokenizerFiles() {
			src := filepath.Join(m.Path, f)
			if _, err := os.Stat(src); err == nil {
				if err := checkpoint.CopyFileAtomic(src, filepath.Join(dir, f)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if t, ok := m.Tokenizer.(*spm.Tokenizer); ok { // a GGUF's vocabulary
		return checkpoint.WriteFileAtomic(filepath.Join(dir, "tokenizer.model"), t.MarshalModel())
	}
	return nil
}

func (m *Model) configJSON() ([]byte, error) {
	var b []byte
	var err error
	if m.Llama != nil {
		c := *m.Llama
		c.ID2Label, c.Label2ID = nil, nil
		b, err = c.Marshal()
	} else {
		b, err = m.GPT2.Marshal()
	}
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	arch := map[bool]string{true: "LlamaForCausalLM", false: "GPT2LMHeadModel"}[m.Llama != nil]
	delete(out, "id2label")
	delete(out, "label2id")
	if m.Task == SeqCls {
		arch = map[bool]string{true: "LlamaForSequenceClassification", false: "GPT2ForSequenceClassification"}[m.Llama != nil]
		id2, l2 := map[string]string{}, map[string]int{}
		for i, l := range m.labels {
			id2[fmt.Sprint(i)], l2[l] = l, i
		}
		out["id2label"], out["label2id"] = id2, l2
	}
	if m.GPT2 != nil && m.GPT2.PadTokenID == nil {
		delete(out, "pad_token_id")
	}
	out["architectures"] = []string{arch}
	out["torch_dtype"] = "float32"
	return json.MarshalIndent(out, "", "  ")
}
