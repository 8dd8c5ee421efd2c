// Package feature is feature-based fine-tuning: the backbone is a frozen
// feature extractor and only a new head trains on its output. The run
// computes each example's features once and caches them, so epochs after
// the first cost only the head.
//
// Pooling choices: "pooler" (BERT's pooler output), "cls" (the first
// token's last hidden state), "mean" (masked mean of the last hidden
// states) and "cls-concat" (the first token's hidden state of the last
// Layers layers, concatenated). Heads: "linear" or "mlp" (Linear → GELU →
// Linear with HeadHidden units).
//
// The saved artefact is small: head.safetensors (the head, and the pooler
// when pooling is "pooler"), feature_config.json (pooling, head, labels and
// a pointer to the unchanged base model). With ExportFull and a linear head
// over the pooler, the folder also holds full/, a
// BertForSequenceClassification-compatible Hugging Face model.
package feature

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/ml/layers/activation"
	gnn "github.com/gomlx/gomlx/ml/nn"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
)

// Config configures feature-based fine-tuning.
type Config struct {
	// Pooling is pooler, cls (default), mean, cls-concat or last (the last
	// non-pad token, for decoders).
	Pooling string `json:"pooling" yaml:"pooling"`
	// Layers is how many last layers cls-concat concatenates (default 4).
	Layers int `json:"layers,omitempty" yaml:"layers"`
	// Head is linear (default) or mlp.
	Head string `json:"head" yaml:"head"`
	// HeadHidden is the mlp head's hidden width (default 256).
	HeadHidden int `json:"head_hidden,omitempty" yaml:"head_hidden"`
	// Dropout is applied to the features while training (default 0.1).
	Dropout float64 `json:"dropout" yaml:"dropout"`
	// ExportFull also writes a full Hugging Face model (linear head over
	// the pooler only).
	ExportFull bool `json:"export_full,omitempty" yaml:"export_full"`
}

// Method is feature-based fine-tuning.
type Method struct {
	cfg  Config
	seed uint64
}

// Head weight names (method-owned, not part of the Hugging Face model).
const (
	linearW = "feature_head.dense.weight"
	linearB = "feature_head.dense.bias"
	mlpW1   = "feature_head.hidden.weight"
	mlpB1   = "feature_head.hidden.bias"
	mlpW2   = "feature_head.out.weight"
	mlpB2   = "feature_head.out.bias"
)

// Files of the saved artefact.
const (
	ConfigFile = "feature_config.json"
	HeadFile   = "head.safetensors"
	FullDir    = "full"
)

// New checks cfg and returns the method; seed initialises the head.
func New(cfg Config, seed uint64) (*Method, error) {
	if cfg.Pooling == "" {
		cfg.Pooling = "cls"
	}
	if cfg.Head == "" {
		cfg.Head = "linear"
	}
	if cfg.Layers == 0 {
		cfg.Layers = 4
	}
	if cfg.HeadHidden == 0 {
		cfg.HeadHidden = 256
	}
	switch cfg.Pooling {
	case "pooler", "cls", "mean", "cls-concat", "last":
	default:
		return nil, fmt.Errorf("feature: unknown pooling %q (valid: pooler, cls, mean, cls-concat, last)", cfg.Pooling)
	}
	switch cfg.Head {
	case "linear", "mlp":
	default:
		return nil, fmt.Errorf("feature: unknown head %q (valid: linear, mlp)", cfg.Head)
	}
	if cfg.Layers < 1 || cfg.HeadHidden < 1 || cfg.Dropout < 0 || cfg.Dropout >= 1 {
		return nil, fmt.Errorf("feature: layers and head_hidden must be ≥ 1 and dropout in [0, 1)")
	}
	if cfg.ExportFull && (cfg.Pooling != "pooler" || cfg.Head != "linear") {
		return nil, fmt.Errorf("feature: export_full needs --pooling pooler and --head linear (what BertForSequenceClassification computes)")
	}
	return &Method{cfg: cfg, seed: seed}, nil
}

// Name returns "feature".
func (*Method) Name() string { return "feature" }

// Config returns the method's settings.
func (m *Method) Config() Config { return m.cfg }

// CacheKey identifies the features' definition.
func (m *Method) CacheKey() string {
	if m.cfg.Pooling == "cls-concat" {
		return fmt.Sprintf("cls-concat%d", m.cfg.Layers)
	}
	return m.cfg.Pooling
}

func encoder(mdl method.Model) (method.Encoder, error) {
	enc, ok := mdl.(method.Encoder)
	if !ok {
		return nil, fmt.Errorf("feature: the model cannot be used as a feature extractor")
	}
	return enc, nil
}

// FeatureDim returns the width of the features for a backbone.
func (m *Method) FeatureDim(enc method.Encoder) int {
	if m.cfg.Pooling == "cls-concat" {
		return enc.HiddenSize() * m.cfg.Layers
	}
	return enc.HiddenSize()
}

// Prepare freezes the backbone and adds the head.
func (m *Method) Prepare(mdl method.Model) error {
	enc, err := encoder(mdl)
	if err != nil {
		return err
	}
	if m.cfg.Pooling == "cls-concat" && m.cfg.Layers > enc.NumLayers() {
		return fmt.Errorf("feature: --feature-layers %d but the model has %d layers", m.cfg.Layers, enc.NumLayers())
	}
	if _, ok := enc.(LastPooler); m.cfg.Pooling == "last" && !ok {
		return fmt.Errorf("feature: --pooling last needs a decoder model; use cls, mean or pooler")
	}
	if m.cfg.Pooling == "pooler" && !enc.HasPooler() {
		return fmt.Errorf("feature: this model has no pooler; use --pooling cls or mean")
	}
	mdl.Params().SetAllTrainable(false)
	rng := rand.New(rand.NewPCG(m.seed, 0x51ed2701))
	dim, labels := m.FeatureDim(enc), len(mdl.Labels())
	add := func(wName, bName string, out, in int) error {
		w := make([]float32, out*in)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 0.02)
		}
		if err := mdl.AddExtraParam(wName, []int{out, in}, w); err != nil {
			return err
		}
		return mdl.AddExtraParam(bName, []int{out}, make([]float32, out))
	}
	if m.cfg.Head == "linear" {
		return add(linearW, linearB, labels, dim)
	}
	if err := add(mlpW1, mlpB1, m.cfg.HeadHidden, dim); err != nil {
		return err
	}
	return add(mlpW2, mlpB2, labels, m.cfg.HeadHidden)
}

// FeatureGraph computes the pooled features [batch, dim] with the frozen
// backbone (no dropout).
func (m *Method) FeatureGraph(mdl method.Model, c *nn.Ctx, in []*Node) *Node {
	enc, err := encoder(mdl)
	if err != nil {
		panic(err)
	}
	c.Training = false
	if c.Capture == nil {
		c.Capture = map[string]*Node{}
	}
	hidden := enc.EncodeGraph(c, in)
	return m.pool(enc, c, hidden, in)
}

// LastPooler is a backbone (a decoder) that pools a sequence at its last
// real token, for --pooling last.
type LastPooler interface {
	// PoolLast returns hidden [batch, seq, dim] at each row's last non-pad
	// token of the token inputs, [batch, dim].
	PoolLast(c *nn.Ctx, hidden *Node, inputs []*Node) *Node
}

func first(h *Node) *Node { return Squeeze(Slice(h, AxisRange(), AxisElem(0), AxisRange()), 1) }

func (m *Method) pool(enc method.Encoder, c *nn.Ctx, hidden *Node, in []*Node) *Node {
	switch m.cfg.Pooling {
	case "pooler":
		return enc.PoolGraph(c, hidden)
	case "mean":
		mask := ExpandAxes(ConvertDType(in[2], hidden.DType()), -1)
		sum := ReduceSum(Mul(hidden, mask), 1)
		count := Max(ReduceSum(mask, 1), ScalarOne(c.G, hidden.DType()))
		return Div(sum, count)
	case "last":
		return enc.(LastPooler).PoolLast(c, hidden, in)
	case "cls-concat":
		var parts []*Node
		n := enc.NumLayers()
		for l := n - m.cfg.Layers + 1; l <= n; l++ {
			parts = append(parts, first(c.Capture[fmt.Sprintf("hidden_states.%d", l)]))
		}
		return Concatenate(parts, -1)
	}
	return first(hidden)
}

func (m *Method) headLogits(c *nn.Ctx, feats *Node) *Node {
	x := c.Dropout(feats, m.cfg.Dropout)
	if m.cfg.Head == "linear" {
		return gnn.Dense(x, c.Weight(linearW), c.Weight(linearB), compute.DenseLayoutOutputsInput)
	}
	h := activation.Gelu(gnn.Dense(x, c.Weight(mlpW1), c.Weight(mlpB1), compute.DenseLayoutOutputsInput))
	h = c.Dropout(h, m.cfg.Dropout)
	return gnn.Dense(h, c.Weight(mlpW2), c.Weight(mlpB2), compute.DenseLayoutOutputsInput)
}

// HeadLoss builds the head's logits and loss on features.
func (m *Method) HeadLoss(mdl method.Model, c *nn.Ctx, feats, labels *Node) (loss, logits *Node) {
	logits = m.headLogits(c, feats)
	loss, _ = nn.CrossEntropy(logits, labels)
	return loss, logits
}

// headNames returns the head's weight names.
func (m *Method) headNames() []string {
	if m.cfg.Head == "linear" {
		return []string{linearW, linearB}
	}
	return []string{mlpW1, mlpB1, mlpW2, mlpB2}
}

type savedConfig struct {
	Config
	BaseModel string            `json:"base_model"`
	ID2Label  map[string]string `json:"id2label"`
}

// Save writes the artefact into dir, pointing to the base model the
// backbone was loaded from.
func (m *Method) Save(mdl method.Model, dir string) error {
	base, err := filepath.Abs(mdl.Source())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving feature head: %w", err)
	}
	p := mdl.Params()
	names := m.headNames()
	if m.cfg.Pooling == "pooler" {
		for _, n := range p.Names() {
			if strings.Contains(n, "pooler.dense.") {
				names = append(names, n)
			}
		}
	}
	ts, err := p.Tensors(names, nil)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(dir, HeadFile), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	id2 := map[string]string{}
	for i, l := range mdl.Labels() {
		id2[fmt.Sprint(i)] = l
	}
	b, _ := json.MarshalIndent(savedConfig{Config: m.cfg, BaseModel: base, ID2Label: id2}, "", "  ")
	if err := checkpoint.WriteFileAtomic(filepath.Join(dir, ConfigFile), b); err != nil {
		return err
	}
	if m.cfg.ExportFull {
		return m.exportFull(mdl, filepath.Join(dir, FullDir))
	}
	return nil
}

// exportFull writes the linear head as BERT's classifier into a full model.
func (m *Method) exportFull(mdl method.Model, dir string) error {
	p := mdl.Params()
	heads := mdl.HeadParams()
	if len(heads) != 2 || !strings.HasSuffix(heads[0], ".weight") {
		return fmt.Errorf("feature: export_full supports BERT's classifier head only")
	}
	for i, src := range []string{linearW, linearB} {
		v, err := p.Value(src)
		if err != nil {
			return err
		}
		if err := p.Set(heads[i], p.Shape(src), v); err != nil {
			return err
		}
	}
	return mdl.SaveFull(dir)
}

// Load reads a saved artefact's settings and head tensors.
func Load(dir string) (*Method, string, map[string]string, *safetensors.File, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, "", nil, nil, fmt.Errorf("loading feature artefact: %w", err)
	}
	var sc savedConfig
	if err := json.Unmarshal(b, &sc); err != nil {
		return nil, "", nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	if sc.BaseModel == "" {
		return nil, "", nil, nil, fmt.Errorf("%s: no \"base_model\"", filepath.Join(dir, ConfigFile))
	}
	meth, err := New(sc.Config, 0)
	if err != nil {
		return nil, "", nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	head, err := safetensors.ReadFile(filepath.Join(dir, HeadFile))
	if err != nil {
		return nil, "", nil, nil, err
	}
	return meth, sc.BaseModel, sc.ID2Label, head, nil
}

// Attach installs a loaded head on a base model for end-to-end inference:
// backbone → pooling → head.
func (m *Method) Attach(mdl method.Model, head *safetensors.File) error {
	enc, err := encoder(mdl)
	if err != nil {
		return err
	}
	for _, t := range head.Tensors {
		set := mdl.AddExtraParam
		if strings.Contains(t.Name, "pooler.dense.") {
			set = mdl.Params().Set
		}
		if err := set(t.Name, t.Shape, t.F32); err != nil {
			return fmt.Errorf("feature head %s: %w", t.Name, err)
		}
	}
	for _, n := range m.headNames() {
		if !mdl.Params().Has(n) {
			return fmt.Errorf("feature head file lacks %s", n)
		}
	}
	enc.SetHead(func(c *nn.Ctx, hidden *Node, in []*Node) *Node {
		c.Training = false
		return m.headLogits(c, m.pool(enc, c, hidden, in))
	})
	return nil
}
