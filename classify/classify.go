// Package classify is sequence classification on an encoder: loading a
// Hugging Face checkpoint into a Classifier (adding a new, seeded head when
// the labels differ), its loss and logits graphs, and saving it back in the
// layout transformers' AutoModelForSequenceClassification loads.
package classify

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/nn"
)

// Classifier is an encoder with a sequence-classification head.
type Classifier struct {
	// Cfg is the model's configuration (labels in ID2Label).
	Cfg *bert.Config
	// P holds every weight under its Hugging Face name.
	P *nn.Params
	// Dir is the folder the model was loaded from (tokenizer files live there).
	Dir string
	// Hooks are graph hooks added by the fine-tuning method.
	Hooks []any
	// Opts are memory and precision choices (gradient checkpointing, bf16).
	Opts nn.Options
	// NewHead lists the weights that were initialised rather than loaded.
	NewHead []string
	// Unused lists checkpoint tensors the classifier does not use.
	Unused []string
	// Extra names weights that belong to a method, not to the Hugging
	// Face model; SaveFull leaves them out.
	Extra map[string]bool
	// head, when set, replaces BERT's classification head.
	head func(c *nn.Ctx, hidden *Node, inputs []*Node) *Node
}

// Load reads the model in dir (a folder or Hub id). When labels is not nil
// and differs from the checkpoint's id2label (or the checkpoint has no
// classification head), a new head is initialised as Hugging Face does,
// from a generator seeded with seed.
func Load(dir string, labels []string, seed uint64) (*Classifier, error) {
	dir, err := checkpoint.Resolve(dir)
	if err != nil {
		return nil, err
	}
	modelType, raw, err := checkpoint.ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(bert.ModelTypes(), modelType) {
		return nil, fmt.Errorf("%s: model_type %q is not supported for sequence classification (supported: %s)",
			filepath.Join(dir, "config.json"), modelType, strings.Join(bert.ModelTypes(), ", "))
	}
	cfg, err := bert.ParseConfig(raw, filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	weights, err := checkpoint.ReadWeights(dir)
	if err != nil {
		return nil, err
	}
	sameLabels := labels == nil || slices.Equal(labels, cfg.Labels())
	if labels != nil {
		if len(labels) < 1 {
			return nil, fmt.Errorf("no labels: classification needs at least one label")
		}
		cfg.SetLabels(labels)
	}
	if cfg.NumLabels() == 0 {
		return nil, fmt.Errorf("%s: the model has no id2label and no labels were given (train it first, or pass training data)", filepath.Join(dir, "config.json"))
	}
	m := &Classifier{Cfg: cfg, P: nn.NewParams(), Dir: dir}
	shapes := bert.ParamShapes(cfg, bert.HeadSeqCls, cfg.NumLabels())
	head := map[string]bool{}
	for _, n := range bert.HeadParams(cfg) {
		head[n] = true
	}
	for _, t := range weights {
		name := t.Name
		if _, ok := shapes[name]; !ok {
			if _, ok := shapes[cfg.Prefix()+name]; ok { // a bare BertModel checkpoint
				name = cfg.Prefix() + name
			}
		}
		want, ok := shapes[name]
		if !ok || (head[name] && !sameLabels) {
			m.Unused = append(m.Unused, t.Name)
			continue
		}
		if !slices.Equal(want, t.Shape) {
			if head[name] {
				m.Unused = append(m.Unused, t.Name)
				continue
			}
			return nil, fmt.Errorf("%s: tensor %s has shape %v, config.json implies %v", dir, t.Name, t.Shape, want)
		}
		if err := m.P.Set(name, t.Shape, t.F32); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	var missing []string
	for _, n := range names {
		if m.P.Has(n) {
			continue
		}
		if head[n] || strings.Contains(n, "pooler.") {
			if err := m.P.Set(n, shapes[n], bert.InitValue(cfg, n, shapes[n], rng)); err != nil {
				return nil, err
			}
			m.NewHead = append(m.NewHead, n)
			continue
		}
		missing = append(missing, n)
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > 5 {
			more = fmt.Sprintf(" and %d more", len(missing)-5)
			missing = missing[:5]
		}
		return nil, fmt.Errorf("%s: weights missing from the checkpoint: %s%s", dir, strings.Join(missing, ", "), more)
	}
	return m, nil
}

// Labels returns the label names ordered by id.
func (m *Classifier) Labels() []string { return m.Cfg.Labels() }

// Batch inputs, in the order the graphs take them: ids, type ids, mask
// (int32 [batch, seq]) and labels (int32 [batch], -1 for padding rows).
const (
	InIDs = iota
	InTypeIDs
	InMask
	InLabels
)

func (m *Classifier) ctx(g *Graph, training bool) *nn.Ctx {
	return &nn.Ctx{G: g, P: m.P, Training: training, Hooks: m.Hooks, Options: m.Opts}
}

// Logits builds the logits [batch, labels] graph.
func (m *Classifier) Logits(g *Graph, in []*Node, training bool) *Node {
	c := m.ctx(g, training)
	if m.head != nil {
		c.Capture = map[string]*Node{}
		return m.head(c, m.EncodeGraph(c, in), in)
	}
	return bert.Classify(c, m.Cfg, bert.Inputs{IDs: in[InIDs], TypeIDs: in[InTypeIDs], Mask: in[InMask]})
}

// Loss builds the mean cross-entropy training loss (padding rows, label
// -1, are ignored) and returns it with the logits.
func (m *Classifier) Loss(g *Graph, in []*Node, training bool) (loss, logits *Node) {
	logits = m.Logits(g, in, training)
	loss, _ = nn.CrossEntropy(logits, in[InLabels])
	return loss, logits
}

// Save writes the model into dir in Hugging Face layout: config.json (with
// id2label/label2id and BertForSequenceClassification), model.safetensors
// and the tokenizer files of the folder it was loaded from. dir is written
// as a new folder next to it and renamed into place.
func (m *Classifier) Save(dir string) error {
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := m.writeInto(tmp); err != nil {
		return err
	}
	return checkpoint.ReplaceDir(tmp, dir)
}

func (m *Classifier) writeInto(dir string) error {
	cfg := *m.Cfg
	cfg.Raw = map[string]any{}
	for k, v := range m.Cfg.Raw {
		cfg.Raw[k] = v
	}
	arch := "BertForSequenceClassification"
	if cfg.IsRoBERTa() {
		arch = "RobertaForSequenceClassification"
	}
	cfg.Raw["architectures"] = []string{arch}
	cfg.Raw["torch_dtype"] = "float32"
	if cfg.ProblemType == "" {
		delete(cfg.Raw, "problem_type")
	}
	b, err := cfg.Marshal()
	if err != nil {
		return fmt.Errorf("saving config.json: %w", err)
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(dir, "config.json"), b); err != nil {
		return err
	}
	if err := m.P.WriteSafetensors(filepath.Join(dir, "model.safetensors"), m.Extra); err != nil {
		return err
	}
	for _, f := range checkpoint.TokenizerFiles() {
		src := filepath.Join(m.Dir, f)
		if _, err := os.Stat(src); err == nil {
			if err := checkpoint.CopyFileAtomic(src, filepath.Join(dir, f)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Params returns the weights.
func (m *Classifier) Params() *nn.Params { return m.P }

// AddHook adds a graph hook.
func (m *Classifier) AddHook(h any) { m.Hooks = append(m.Hooks, h) }

// HeadParams names the classification head's weights.
func (m *Classifier) HeadParams() []string { return bert.HeadParams(m.Cfg) }

// NewWeights names the weights Load initialised that are not the head's:
// the pooler of a checkpoint saved without one (a masked-LM checkpoint).
// See method.NewWeights.
func (m *Classifier) NewWeights() []string {
	var out []string
	for _, n := range m.NewHead {
		if !slices.Contains(m.HeadParams(), n) {
			out = append(out, n)
		}
	}
	return out
}

// SaveFull writes the whole model into the folder dir (created if needed),
// without the temporary-folder dance of Save.
func (m *Classifier) SaveFull(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	return m.writeInto(dir)
}

// Runner evaluates a classifier (no dropout) on batches.
type Runner struct {
	m    *Classifier
	exec *model.Exec
}

// NewRunner compiles the classifier's evaluation graph for backend.
func (m *Classifier) NewRunner(backend compute.Backend) (*Runner, error) {
	e, err := nn.NewModelExec(backend, m.P, func(g *Graph, xs []*Node) []*Node {
		loss, logits := m.Loss(g, xs, false)
		return []*Node{loss, logits}
	})
	if err != nil {
		return nil, err
	}
	e.SetMaxCache(64)
	return &Runner{m: m, exec: e}, nil
}

// Evaluate returns the mean loss over labelled rows and the logits
// [batch, labels] for a batch (ids, type ids, mask, labels).
func (r *Runner) Evaluate(inputs []*tensors.Tensor) (float64, *tensors.Tensor, error) {
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = x
	}
	out, err := r.exec.Exec(args...)
	if err != nil {
		return 0, nil, fmt.Errorf("evaluating: %w", err)
	}
	var loss float64
	out[0].ConstFlatData(func(f any) { loss = float64(f.([]float32)[0]) })
	return loss, out[1], nil
}

// New returns a randomly initialised classifier for cfg (Hugging Face's
// initialisation, seeded); cfg must carry its labels.
func New(cfg *bert.Config, seed uint64) (*Classifier, error) {
	if cfg.NumLabels() == 0 {
		return nil, fmt.Errorf("classify.New: the config has no labels")
	}
	m := &Classifier{Cfg: cfg, P: nn.NewParams()}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	shapes := bert.ParamShapes(cfg, bert.HeadSeqCls, cfg.NumLabels())
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := m.P.Set(n, shapes[n], bert.InitValue(cfg, n, shapes[n], rng)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// EncodeGraph runs the encoder (see method.Encoder).
func (m *Classifier) EncodeGraph(c *nn.Ctx, in []*Node) *Node {
	return bert.Encode(c, m.Cfg, bert.Inputs{IDs: in[InIDs], TypeIDs: in[InTypeIDs], Mask: in[InMask]})
}

// PoolGraph returns BERT's pooler output.
func (m *Classifier) PoolGraph(c *nn.Ctx, hidden *Node) *Node { return bert.Pool(c, m.Cfg, hidden) }

// HasPooler reports whether the model has a pooler (BERT does, RoBERTa not).
func (m *Classifier) HasPooler() bool { return !m.Cfg.IsRoBERTa() }

// HiddenSize returns the encoder's width.
func (m *Classifier) HiddenSize() int { return m.Cfg.HiddenSize }

// NumLayers returns the number of encoder layers.
func (m *Classifier) NumLayers() int { return m.Cfg.NumHiddenLayers }

// SetHead replaces the classification head (nil restores BERT's).
func (m *Classifier) SetHead(head func(c *nn.Ctx, hidden *Node, inputs []*Node) *Node) { m.head = head }

// AddExtraParam adds a method-owned trainable weight (see method.Model).
func (m *Classifier) AddExtraParam(name string, shape []int, value []float32) error {
	var err error
	m.Extra, err = m.P.AddExtra(m.Extra, name, shape, value)
	return err
}

// Source returns the folder the model was loaded from.
func (m *Classifier) Source() string { return m.Dir }
