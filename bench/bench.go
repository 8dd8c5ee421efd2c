// Package bench measures training-step and inference time of gotune on
// standard model shapes, with the same settings as the PyTorch peer in
// ../shared/peer/bench_torch.py (random init, dropout 0.1, all-ones
// attention mask, AdamW lr 2e-5 weight decay 0.01), so the two can be run
// side by side, one configuration per process, and compared as ratios.
package bench

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
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
	"github.com/gotune/gotune/models/llama"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/train"
)

// Options choose one benchmark configuration.
type Options struct {
	// Model is "bert-base", "minilm", "gpt2" (GPT-2 small, causal LM),
	// "llama-1b" (Llama-3.2-1B's shape, causal LM) or the test shapes
	// "tiny", "gpt2-tiny" and "llama-tiny".
	Model string
	// Method is "full", "lora", "head", "freeze8" or "infer" (gpt2 and
	// llama: full, lora or infer). LoRA is the peer's r 8 on query/value
	// (BERT) or c_attn (GPT-2), and r 16, alpha 32 on every linear layer
	// (all-linear) for llama.
	Method string
	// Batch and Seq default to the peer's (16×128 bert-base, 32×128
	// minilm, 4×256 gpt2).
	Batch, Seq    int
	Warmup, Steps int
	Dropout       float64
	Backend       string
	// Devices and Sharding run the training steps on a device mesh
	// (train.Options).
	Devices  int
	Sharding string
	// Opts are gradient checkpointing and bf16 (nn.Options).
	Opts nn.Options
	// QuantizeBase stores the frozen linear weights quantised after the
	// method is prepared ("nf4", "int8"; "" keeps float32).
	QuantizeBase string
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
	// SetupRSSKB is the resident memory once the model is built and the
	// method prepared (after --quantize-base), before any step;
	// SetupPeakRSSKB the peak up to then.
	SetupRSSKB     int64 `json:"setup_rss_kb"`
	SetupPeakRSSKB int64 `json:"setup_peak_rss_kb"`
	// StepsPeakRSSKB is the peak from the end of the setup on (the
	// backend, compilation and the steps); 0 where it cannot be measured
	// apart (not Linux).
	StepsPeakRSSKB int64 `json:"steps_peak_rss_kb,omitempty"`
	// QuantizedBytes is what the quantised weights take (--quantize-base).
	QuantizedBytes int64 `json:"quantized_bytes,omitempty"`
	// TokensPerS is batch×seq over the median step time.
	TokensPerS float64 `json:"tokens_per_s"`
	// Device describes the backend and its first device.
	Device string `json:"device"`
	// Devices is the size of the device mesh the steps ran on (0: none)
	// and Sharding its strategy.
	Devices  int    `json:"devices,omitempty"`
	Sharding string `json:"sharding,omitempty"`
	// Losses are the training loss of every step, warm-up included (the
	// same batch each step; compare runs on different meshes with them).
	Losses []float64 `json:"losses,omitempty"`
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

// IsLlama reports whether a benchmark model name is a LLaMA shape.
func IsLlama(model string) bool { return strings.HasPrefix(model, "llama") }

// LlamaConfig returns the LLaMA config of a named shape ("llama-1b":
// Llama-3.2-1B's shape — hidden 2048, 16 layers, 32 heads, 8 KV heads,
// intermediate 8192, vocab 128256, tied embeddings, rope θ 500000, without
// its llama3 rope scaling; "llama-tiny" for tests) and its default batch and
// sequence length (4×1024; 2×32).
func LlamaConfig(model string) (*llama.Config, int, int, error) {
	bos := 128000
	c := &llama.Config{ModelType: "llama", VocabSize: 128256, HiddenSize: 2048, IntermediateSize: 8192,
		NumHiddenLayers: 16, NumAttentionHeads: 32, NumKeyValueHeads: 8, HeadDim: 64, HiddenAct: "silu",
		MaxPositionEmbeddings: 131072, RMSNormEps: 1e-5, RopeTheta: 500000, TieWordEmbeddings: true,
		InitializerRange: 0.02, BOSTokenID: &bos, EOSTokenID: []byte("128001"), Raw: map[string]any{}}
	switch model {
	case "llama-1b":
		return c, 4, 1024, nil
	case "llama-tiny":
		c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers = 1000, 64, 128, 2
		c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.MaxPositionEmbeddings = 4, 2, 16, 256
		bos = 1
		c.EOSTokenID = []byte("2")
		return c, 2, 32, nil
	}
	return nil, 0, 0, fmt.Errorf("unknown benchmark model %q (valid: llama-1b, llama-tiny)", model)
}

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

// shapeDefaults fills in the model's default batch size and sequence
// length where o leaves them 0.
func (o *Options) shapeDefaults(batch, seq int) {
	if o.Batch == 0 {
		o.Batch = batch
	}
	if o.Seq == 0 {
		o.Seq = seq
	}
}

// newBERT builds a BertForSequenceClassification-shaped classifier.
func newBERT(o *Options) (*setup, error) {
	cfg, b, s, err := Config(o.Model, o.Dropout)
	if err != nil {
		return nil, err
	}
	o.shapeDefaults(b, s)
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
	o.shapeDefaults(b, s)
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
	in := lmBatch(o.Batch, o.Seq, cfg.VocabSize)
	return &setup{m: m, in: in, vocab: cfg.VocabSize, layers: cfg.NLayer,
		newInfer: func(be compute.Backend) (func() error, error) { return lmInfer(be, m, in) }}, nil
}

// newLlama builds a LlamaForCausalLM-shaped model (Hugging Face's
// initialisation, tied embeddings) with random ids, an all-ones mask and
// labels = ids. The weights are drawn in parallel, one generator per weight
// seeded from its name (a 1B model has 1.2 G values).
func newLlama(o *Options) (*setup, error) {
	cfg, b, s, err := LlamaConfig(o.Model)
	if err != nil {
		return nil, err
	}
	o.shapeDefaults(b, s)
	m := &causallm.Model{Task: causallm.CausalLM, Llama: cfg, P: nn.NewParams(), BOS: *cfg.BOSTokenID,
		EOS: cfg.EOSTokenIDs(), Pad: cfg.EOSTokenIDs()[0]}
	shapes := llama.ParamShapes(cfg, llama.HeadCausalLM, 0)
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	vals := make([][]float32, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h := fnv.New64a()
			h.Write([]byte(n))
			vals[i] = llama.InitValue(cfg, n, shapes[n], rand.New(rand.NewPCG(h.Sum64(), 0x9e3779b97f4a7c15)))
		}()
	}
	wg.Wait()
	for i, n := range names {
		if err := m.P.Set(n, shapes[n], vals[i]); err != nil {
			return nil, err
		}
		vals[i] = nil
	}
	in := lmBatch(o.Batch, o.Seq, cfg.VocabSize)
	return &setup{m: m, in: in, vocab: cfg.VocabSize, layers: cfg.NumHiddenLayers,
		newInfer: func(be compute.Backend) (func() error, error) { return lmInfer(be, m, in) }}, nil
}

// lmBatch is the peer's causal-LM batch: random ids (seeded), an all-ones
// mask and labels = ids (the loss shifts them, as transformers).
func lmBatch(batch, seq, vocab int) []*tensors.Tensor {
	rng := rand.New(rand.NewPCG(1, 1))
	ids := make([]int32, batch*seq)
	for i := range ids {
		ids[i] = int32(rng.IntN(vocab))
	}
	mask := make([]int32, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(ids, batch, seq),
		tensors.FromFlatDataAndDimensions(mask, batch, seq),
		tensors.FromFlatDataAndDimensions(slices.Clone(ids), batch, seq),
	}
}

// lmInfer compiles the causal LM's inference step, as the peer: logits
// for ids and mask (no labels, no loss), summed.
func lmInfer(be compute.Backend, m *causallm.Model, in []*tensors.Tensor) (func() error, error) {
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
}

// prepare builds the model of o and applies its method. total is the
// model's parameter count before the method adds any (the peer's
// params_total).
func prepare(o *Options) (s *setup, total int64, err error) {
	switch {
	case IsGPT2(o.Model):
		s, err = newGPT2(o)
	case IsLlama(o.Model):
		s, err = newLlama(o)
	default:
		s, err = newBERT(o)
	}
	if err != nil {
		return nil, 0, err
	}
	switch m := s.m.(type) {
	case *classify.Classifier:
		m.Opts = o.Opts
	case *causallm.Model:
		m.Opts = o.Opts
	}
	p := s.m.Params()
	total, _ = p.Count()
	switch o.Method {
	case "full", "infer":
		p.SetAllTrainable(true)
	case "head":
		if IsGPT2(o.Model) || IsLlama(o.Model) {
			return nil, 0, fmt.Errorf("method head is for the BERT shapes (the peer has none for decoders)")
		}
		for _, n := range p.Names() {
			p.SetTrainable(n, strings.HasPrefix(n, "classifier."))
		}
	case "freeze8":
		if IsGPT2(o.Model) || IsLlama(o.Model) {
			return nil, 0, fmt.Errorf("method freeze8 is for the BERT shapes (the peer has none for decoders)")
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
		// LLaMA: r 16, alpha 32 on every linear layer (PEFT's
		// all-linear: q/k/v/o and gate/up/down projections).
		lc := lora.Config{R: 8, Alpha: 16, Dropout: o.Dropout, Targets: []string{"query", "value"}}
		switch {
		case IsGPT2(o.Model):
			lc.Targets = []string{"c_attn"}
		case IsLlama(o.Model):
			lc.R, lc.Alpha, lc.Targets = 16, 32, []string{lora.AllLinear}
		}
		meth, err := lora.New(lc, 0)
		if err != nil {
			return nil, 0, err
		}
		if err := meth.Prepare(s.m); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, fmt.Errorf("unknown benchmark method %q (valid: full, lora, head, freeze8, infer)", o.Method)
	}
	if q, err := method.QuantizeBase(s.m, o.QuantizeBase); err != nil {
		return nil, 0, fmt.Errorf("--quantize-base %s: %w", o.QuantizeBase, err)
	} else if o.QuantizeBase != "" && len(q) == 0 {
		return nil, 0, fmt.Errorf("--quantize-base %s: method %s leaves no frozen linear layer to quantise", o.QuantizeBase, o.Method)
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
	setupRSS, setupPeak := runlog.CurrentRSS()/1024, runlog.PeakRSS()/1024
	phased := runlog.ResetPeakRSS()
	be, err := engine.New(o.Backend)
	if err != nil {
		return nil, err
	}
	_, trainable := s.m.Params().Count()
	res := &Result{Impl: "gotune", Model: o.Model, Method: o.Method, Batch: o.Batch, Seq: o.Seq, Dropout: o.Dropout,
		Backend: engine.ResolveSpec(o.Backend), ParamsTotal: total, ParamsTrainable: trainable, Device: engine.Describe(be),
		SetupRSSKB: setupRSS, SetupPeakRSSKB: setupPeak}
	res.QuantizedBytes, _ = s.m.Params().QuantizedBytes()
	var step func() error
	if o.Method == "infer" {
		if step, err = s.newInfer(be); err != nil {
			return nil, err
		}
		res.ParamsTrainable = 0
	} else {
		tr, err := train.New(be, s.m, train.Options{LR: 2e-5, WeightDecay: 0.01, Schedule: train.Constant,
			Devices: o.Devices, Sharding: o.Sharding})
		if err != nil {
			return nil, err
		}
		res.Devices, res.Sharding = tr.MeshDevices(), o.Sharding
		in := s.in
		step = func() error {
			st, err := tr.TrainStep(in)
			res.Losses = append(res.Losses, st.Loss)
			return err
		}
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
	if phased {
		res.StepsPeakRSSKB = res.PeakRSSKB
		res.PeakRSSKB = max(res.PeakRSSKB, setupPeak)
	}
	if res.MedianMS > 0 {
		res.TokensPerS = float64(o.Batch*o.Seq) / (res.MedianMS / 1000)
	}
	return res, nil
}
