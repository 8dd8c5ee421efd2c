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

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/train"
)

// Options choose one benchmark configuration.
type Options struct {
	// Model is "bert-base" or "minilm".
	Model string
	// Method is "full", "lora", "head", "freeze8" or "infer".
	Method string
	// Batch and Seq default to the peer's (16×128 bert-base, 32×128 minilm).
	Batch, Seq    int
	Warmup, Steps int
	Dropout       float64
	Backend       string
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

// Run runs one configuration.
func Run(o Options) (*Result, error) {
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
	if o.Steps == 0 {
		o.Steps = 5
	}
	m, err := classify.New(cfg, 0)
	if err != nil {
		return nil, err
	}
	switch o.Method {
	case "full", "infer":
		m.P.SetAllTrainable(true)
	case "head":
		for _, n := range m.P.Names() {
			m.P.SetTrainable(n, strings.HasPrefix(n, "classifier."))
		}
	case "freeze8":
		k := cfg.NumHiddenLayers * 2 / 3
		for _, n := range m.P.Names() {
			frozen := strings.HasPrefix(n, "bert.embeddings.")
			for i := 0; i < k; i++ {
				frozen = frozen || strings.HasPrefix(n, fmt.Sprintf("bert.encoder.layer.%d.", i))
			}
			m.P.SetTrainable(n, !frozen)
		}
	case "lora": // as the peer: PEFT LoRA r=8, alpha 16, on query and value
		meth, err := lora.New(lora.Config{R: 8, Alpha: 16, Dropout: o.Dropout, Targets: []string{"query", "value"}}, 0)
		if err != nil {
			return nil, err
		}
		if err := meth.Prepare(m); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown benchmark method %q (valid: full, lora, head, freeze8, infer)", o.Method)
	}
	if err := m.P.SeedRNG(0); err != nil {
		return nil, err
	}
	be, err := engine.New(o.Backend)
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
	total, trainable := m.P.Count()
	res := &Result{Impl: "gotune", Model: o.Model, Method: o.Method, Batch: o.Batch, Seq: o.Seq, Dropout: o.Dropout,
		Backend: engine.ResolveSpec(o.Backend), ParamsTotal: total, ParamsTrainable: trainable}
	var step func() error
	if o.Method == "infer" {
		r, err := m.NewRunner(be)
		if err != nil {
			return nil, err
		}
		step = func() error { _, _, err := r.Evaluate(in); return err }
		res.ParamsTrainable = 0
	} else {
		tr, err := train.New(be, m, train.Options{LR: 2e-5, WeightDecay: 0.01, Schedule: train.Constant})
		if err != nil {
			return nil, err
		}
		step = func() error { _, err := tr.TrainStep(in); return err }
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
