// Package bench measures training-step and inference time of gotune on
// standard model shapes, with the same settings as the PyTorch peer in
// ../shared/peer/bench_torch.py (random init, dropout 0.1, all-ones
// attention mask, AdamW lr 2e-5 weight decay 0.01), so the two can be run
// side by side, one configuration per process, and compared as ratios.
package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/models/gpt2"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/train"
)

// Options choose one benchmark configuration.
type Options struct {
	// Model is "bert-base", "minilm", "gpt2" (GPT-2 small, causal LM) or
	// the test shapes "tiny" and "gpt2-tiny".
	Model string
	// Method is "full", "lora", "head", "freeze8" or "infer" (gpt2: full,
	// lora or infer, as the peer).
	Method string
	// Batch and Seq default to the peer's (16×128 bert-base, 32×128
	// minilm, 4×256 gpt2).
	Batch, Seq    int
	Warmup, Steps int
	Dropout       float64
	Backend       string
	// GradientCheckpointing recomputes each layer in the backward pass.
	GradientCheckpointing bool
	// Profile, when not nil, is called with true before the timed steps
	// and false after them.
	Profile func(start bool)
}

// Result mirrors the peer's JSON line.
type Result struct {
	Impl            string    `json:"impl"`
	Model           string    `json:"model"`
	Method          string    `json:"method"`
	Batch           int       `json:"batch"`
	Seq             int       `json:"seq"`
	Dropout         float64   `json:"dropout"`
	Backend         string    `json:"backend"`
	ParamsTotal     int64     `json:"params_total"`
	ParamsTrainable int64     `json:"params_trainable"`
	WarmupMS        []float64 `json:"warmup_ms"`
	StepMS          []float64 `json:"step_ms"`
	MedianMS        float64   `json:"median_ms"`
	PeakRSSKB       int64     `json:"peak_rss_kb"`
	// Ops counts the training step graph's nodes by type: the engine's
	// fused kernels (Fused*) and the plain ops that matter for speed.
	Ops map[string]int `json:"ops,omitempty"`
}

// Config returns the BERT config of a named shape.
func Config(model string, dropout float64) (*bert.Config, int, int, error) {
	c := &bert.Config{ModelType: "bert", VocabSize: 30522, MaxPositionEmbeddings: 512, TypeVocabSize: 2, HiddenAct: "gelu",
		LayerNormEps: 1e-12, InitializerRange: 0.02, PositionEmbeddingType: "absolute",
		HiddenDropoutProb: dropout, AttentionProbsDropoutProb: dropout, Raw: map[string]any{}}
	switch model {
	case "bert-base":
		c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 768, 12, 12, 3072
		c.SetLabels([]string{"LABEL_0", "LABEL_1"})
		return c, 16, 128, nil
	case "minilm":
		c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 384, 6, 12, 1536
		c.SetLabels([]string{"LABEL_0", "LABEL_1"})
		return c, 32, 128, nil
	case "tiny":
		c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 1000, 64, 2, 4, 128
		c.SetLabels([]string{"LABEL_0", "LABEL_1"})
		return c, 8, 32, nil
	}
	return nil, 0, 0, fmt.Errorf("unknown benchmark model %q (valid: bert-base, minilm, tiny)", model)
}

// GPT2Config returns the GPT-2 config of a named shape ("gpt2": GPT-2
// small, as the peer's GPT2Config(n_embd=768, n_layer=12, n_head=12,
// n_positions=1024, vocab_size=50257) with transformers' defaults; "gpt2-tiny"
// for tests) and the peer's batch and sequence length.
func GPT2Config(model string, dropout float64) (*gpt2.Config, int, int, error) {
	c := &gpt2.Config{ModelType: "gpt2", VocabSize: 50257, NEmbd: 768, NLayer: 12, NHead: 12, NPositions: 1024,
		ActivationFunction: "gelu_new", LayerNormEpsilon: 1e-5, InitializerRange: 0.02, ScaleAttnWeights: true,
		BOSTokenID: 50256, EOSTokenID: 50256, TieWordEmbeddings: true,
		ResidPdrop: dropout, EmbdPdrop: dropout, AttnPdrop: dropout, Raw: map[string]any{}}
	switch model {
	case "gpt2":
		return c, 4, 256, nil
	case "gpt2-tiny":
		c.VocabSize, c.NEmbd, c.NLayer, c.NHead, c.NPositions = 1000, 64, 2, 4, 128
		return c, 2, 32, nil
	}
	return nil, 0, 0, fmt.Errorf("unknown benchmark model %q (valid: gpt2, gpt2-tiny)", model)
}

// IsGPT2 reports whether a benchmark model name is a GPT-2 shape.
func IsGPT2(model string) bool { return strings.HasPrefix(model, "gpt2") }

// benchModel is a task model both the trainer and the methods take.
type benchModel interface {
	method.Model
	train.Model
}

// setup is a benchmark model with its batch.
type setup struct {
	m  benchModel
	in []*tensors.Tensor
	// vocab is the number of token ids; layers the number of blocks.
	vocab, layers int
	// newInfer compiles the inference step.
	newInfer func(be compute.Backend) (func() error, error)
}

// newBERT builds a BertForSequenceClassification-shaped classifier.
func newBERT(o *Options) (*setup, error) {
	cfg, b, s, err := Config(o.Model, o.Dropout)
	if err != nil {
		return nil, err
	}
	if o.Batch == 0 {
		o.Batch = b
	}
	if o.Seq == 0 {
		o.Seq = s
	}
	m, err := classify.New(cfg, 0)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 1))
	ids := make([]int32, o.Batch*o.Seq)
	for i := range ids {
		ids[i] = int32(rng.IntN(cfg.VocabSize))
	}
	mask := make([]int32, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	labels := make([]int32, o.Batch)
	for i := range labels {
		labels[i] = int32(rng.IntN(2))
	}
	in := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(ids, o.Batch, o.Seq),
		tensors.FromFlatDataAndDimensions(make([]int32, len(ids)), o.Batch, o.Seq),
		tensors.FromFlatDataAndDimensions(mask, o.Batch, o.Seq),
		tensors.FromFlatDataAndDimensions(labels, o.Batch),
	}
	return &setup{m: m, in: in, vocab: cfg.VocabSize, layers: cfg.NumHiddenLayers,
		newInfer: func(be compute.Backend) (func() error, error) {
			r, err := m.NewRunner(be)
			if err != nil {
				return nil, err
			}
			return func() error { _, _, err := r.Evaluate(in); return err }, nil
		}}, nil
}

// newGPT2 builds a GPT2LMHeadModel-shaped causal LM (Hugging Face's
// initialisation, tied head) with the peer's batch: random ids, an
// all-ones mask and labels = ids (the loss shifts them, as transformers).
func newGPT2(o *Options) (*setup, error) {
	cfg, b, s, err := GPT2Config(o.Model, o.Dropout)
	if err != nil {
		return nil, err
	}
	if o.Batch == 0 {
		o.Batch = b
	}
	if o.Seq == 0 {
		o.Seq = s
	}
	if o.Seq > cfg.NPositions {
		return nil, fmt.Errorf("sequence length %d is over n_positions %d", o.Seq, cfg.NPositions)
	}
	m := &causallm.Model{Task: causallm.CausalLM, GPT2: cfg, P: nn.NewParams(), BOS: cfg.BOSTokenID,
		EOS: []int{cfg.EOSTokenID}, Pad: cfg.EOSTokenID}
	shapes := gpt2.ParamShapes(cfg)
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(0, 0x9e3779b97f4a7c15))
	for _, n := range names {
		if err := m.P.Set(n, shapes[n], gpt2.InitValue(cfg, n, shapes[n], rng)); err != nil {
			return nil, err
		}
	}
	rng = rand.New(rand.NewPCG(1, 1))
	ids := make([]int32, o.Batch*o.Seq)
	for i := range ids {
		ids[i] = int32(rng.IntN(cfg.VocabSize))
	}
	mask := make([]int32, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	in := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(ids, o.Batch, o.Seq),
		tensors.FromFlatDataAndDimensions(mask, o.Batch, o.Seq),
		tensors.FromFlatDataAndDimensions(slices.Clone(ids), o.Batch, o.Seq),
	}
	return &setup{m: m, in: in, vocab: cfg.VocabSize, layers: cfg.NLayer,
		newInfer: func(be compute.Backend) (func() error, error) {
			// As the peer: logits for ids and mask (no labels, no loss),
			// summed.
			e, err := nn.NewModelExec(be, m.P, func(g *Graph, xs []*Node) []*Node {
				c := &nn.Ctx{G: g, P: m.P, Hooks: m.Hooks}
				return []*Node{ReduceAllSum(m.LMLogits(c, xs[0], xs[1]))}
			})
			if err != nil {
				return nil, err
			}
			return func() error {
				out, err := e.Exec(in[causallm.InIDs], in[causallm.InMask])
				if err != nil {
					return fmt.Errorf("evaluating: %w", err)
				}
				var sum float32
				out[0].ConstFlatData(func(f any) { sum = f.([]float32)[0] })
				_ = sum
				return nil
			}, nil
		}}, nil
}

// prepare builds the model of o and applies its method. total is the
// model's parameter count before the method adds any (the peer's
// params_total).
func prepare(o *Options) (s *setup, total int64, err error) {
	if IsGPT2(o.Model) {
		s, err = newGPT2(o)
	} else {
		s, err = newBERT(o)
	}
	if err != nil {
		return nil, 0, err
	}
	switch m := s.m.(type) {
	case *classify.Classifier:
		m.GradientCheckpointing = o.GradientCheckpointing
	case *causallm.Model:
		m.GradientCheckpointing = o.GradientCheckpointing
	}
	p := s.m.Params()
	total, _ = p.Count()
	switch o.Method {
	case "full", "infer":
		p.SetAllTrainable(true)
	case "head":
		if IsGPT2(o.Model) {
			return nil, 0, fmt.Errorf("method head is for the BERT shapes (the peer has none for gpt2)")
		}
		for _, n := range p.Names() {
			p.SetTrainable(n, strings.HasPrefix(n, "classifier."))
		}
	case "freeze8":
		if IsGPT2(o.Model) {
			return nil, 0, fmt.Errorf("method freeze8 is for the BERT shapes (the peer has none for gpt2)")
		}
		k := s.layers * 2 / 3
		for _, n := range p.Names() {
			frozen := strings.HasPrefix(n, "bert.embeddings.")
			for i := 0; i < k; i++ {
				frozen = frozen || strings.HasPrefix(n, fmt.Sprintf("bert.encoder.layer.%d.", i))
			}
			p.SetTrainable(n, !frozen)
		}
	case "lora":
		// As the peer: PEFT LoRA r=8, alpha 16, on query and value (BERT)
		// or c_attn (GPT-2; fan_in_fan_out, which the model reports).
		targets := []string{"query", "value"}
		if IsGPT2(o.Model) {
			targets = []string{"c_attn"}
		}
		meth, err := lora.New(lora.Config{R: 8, Alpha: 16, Dropout: o.Dropout, Targets: targets}, 0)
		if err != nil {
			return nil, 0, err
		}
		if err := meth.Prepare(s.m); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, fmt.Errorf("unknown benchmark method %q (valid: full, lora, head, freeze8, infer)", o.Method)
	}
	if err := p.SeedRNG(0); err != nil {
		return nil, 0, err
	}
	return s, total, nil
}

// keyOps keeps the fused kernels and the ops whose count says whether a
// graph reached them (matrix products, transposes, element-wise exp/erf).
func keyOps(all map[string]int) map[string]int {
	out := map[string]int{}
	for k, n := range all {
		if strings.HasPrefix(k, "Fused") || k == "DotGeneral" || k == "Transpose" || k == "Exp" ||
			k == "Erf" || k == "Tanh" || k == "ReduceSum" || k == "ReduceMax" {
			out[k] = n
		}
	}
	return out
}

// Run runs one configuration.
func Run(o Options) (*Result, error) {
	if o.Steps == 0 {
		o.Steps = 5
	}
	s, total, err := prepare(&o)
	if err != nil {
		return nil, err
	}
	be, err := engine.New(o.Backend)
	if err != nil {
		return nil, err
	}
	_, trainable := s.m.Params().Count()
	res := &Result{Impl: "gotune", Model: o.Model, Method: o.Method, Batch: o.Batch, Seq: o.Seq, Dropout: o.Dropout,
		Backend: engine.ResolveSpec(o.Backend), ParamsTotal: total, ParamsTrainable: trainable}
	var step func() error
	if o.Method == "infer" {
		if step, err = s.newInfer(be); err != nil {
			return nil, err
		}
		res.ParamsTrainable = 0
	} else {
		tr, err := train.New(be, s.m, train.Options{LR: 2e-5, WeightDecay: 0.01, Schedule: train.Constant})
		if err != nil {
			return nil, err
		}
		in := s.in
		step = func() error { _, err := tr.TrainStep(in); return err }
		defer func() { res.Ops = keyOps(tr.StepOpCounts()) }()
	}
	for i := 0; i < o.Warmup+o.Steps; i++ {
		if i == o.Warmup && o.Profile != nil {
			o.Profile(true)
			defer o.Profile(false)
		}
		t0 := time.Now()
		if err := step(); err != nil {
			return nil, err
		}
		ms := float64(time.Since(t0).Microseconds()) / 1000
		if i < o.Warmup {
			res.WarmupMS = append(res.WarmupMS, ms)
		} else {
			res.StepMS = append(res.StepMS, ms)
		}
	}
	sorted := slices.Clone(res.StepMS)
	sort.Float64s(sorted)
	n := len(sorted)
	res.MedianMS = sorted[n/2]
	if n%2 == 0 {
		res.MedianMS = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	res.PeakRSSKB = runlog.PeakRSS() / 1024
	return res, nil
}
