// Package pretrain trains a BERT from scratch with masked-language
// modelling on unlabelled text and saves it as a Hugging Face
// BertForMaskedLM folder that every gotune method can fine-tune. It is for
// text no pretrained base here can read (a language, a domain jargon) and
// for gotune's offline demo, whose base model it makes.
//
// The pieces: BuildVocab makes a WordPiece vocabulary (whole words plus
// characters) from the text; NewConfig and NewMLMParams a BERT of a
// ModelSize with Hugging Face's initialisation; Train runs BERT's masking
// (15% of tokens; of those 80% [MASK], 10% a random token, 10% unchanged)
// with AdamW and a linear schedule, scoring held-out text before and after;
// SaveMLM writes the folder (config.json, model.safetensors, vocab.txt and
// tokenizer files).
package pretrain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/tokenizer"
	"github.com/gotune/gotune/train"
)

// Options configure Train.
type Options struct {
	// Steps, Batch and LR set the optimisation: AdamW (weight decay 0.01,
	// gradient clipping at 1), 10% warmup then linear decay to 0.
	Steps, Batch int
	LR           float64
	// MaskRate is the fraction of tokens masked (BERT: 0.15).
	MaskRate float64
	// Seed drives masking, data order and dropout.
	Seed int64
	// Backend is the compute backend ("" for gotune's default).
	Backend string
}

// Validate checks the options.
func (o Options) Validate() error {
	switch {
	case o.Steps < 1 || o.Batch < 1 || o.LR <= 0:
		return fmt.Errorf("pretrain: steps (%d), batch size (%d) and learning rate (%g) must be positive", o.Steps, o.Batch, o.LR)
	case o.MaskRate <= 0 || o.MaskRate >= 1:
		return fmt.Errorf("pretrain: mask rate must be in (0, 1), got %g", o.MaskRate)
	}
	return nil
}

// Score is a masked-LM evaluation: mean loss and top-1 accuracy over the
// masked tokens.
type Score struct {
	Loss, Accuracy float64
}

// Train trains the masked-LM weights p (of cfg, read with tok) in place on
// texts and scores them on heldOut before and after; progress (rate, ETA,
// loss) goes to w. Dropout is off: runs this short do not overfit. When ctx
// is cancelled it stops after the current step and returns ctx's error
// with the scores so far (after is the zero Score).
func Train(ctx context.Context, o Options, cfg *bert.Config, p *nn.Params, tok *tokenizer.Tokenizer, texts, heldOut []string, w io.Writer) (before, after Score, err error) {
	if err := o.Validate(); err != nil {
		return before, after, err
	}
	if len(texts) == 0 || len(heldOut) == 0 {
		return before, after, errors.New("pretrain: no training or held-out text")
	}
	encode := func(ts []string) []data.Encoded {
		out := make([]data.Encoded, len(ts))
		for i, t := range ts {
			e := tok.Encode(t, "", cfg.MaxPositionEmbeddings)
			out[i] = data.Encoded{IDs: e.IDs, TypeIDs: e.TypeIDs, Label: -1, Index: i}
		}
		return out
	}
	trainEnc, evalEnc := encode(texts), encode(heldOut)
	// Batches of similar lengths padded to a few sizes: less padding, few
	// compilations.
	var buckets []int
	for _, l := range []int{16, 24, 32, 48, 64, 96} {
		if l < cfg.MaxPositionEmbeddings {
			buckets = append(buckets, l)
		}
	}
	buckets = append(buckets, cfg.MaxPositionEmbeddings)
	special := map[int32]bool{}
	for _, id := range tok.TokensToIDs(SpecialTokens()) {
		special[id] = true
	}
	first := int32(len(SpecialTokens()))
	newMasker := func(seed uint64) *masker {
		return &masker{rate: o.MaskRate, maskID: tok.MaskID(), special: special, first: first,
			vocab: int32(tok.VocabSize()), r: rand.New(rand.NewPCG(seed, 0x3a5c))}
	}
	be, err := engine.New(o.Backend)
	if err != nil {
		return before, after, err
	}
	if err := p.SeedRNG(o.Seed); err != nil {
		return before, after, err
	}
	pcfg := *cfg
	pcfg.HiddenDropoutProb, pcfg.AttentionProbsDropoutProb = 0, 0
	m := &MLM{Cfg: &pcfg, P: p}
	p.SetAllTrainable(true)
	tr, err := train.New(be, m, train.Options{LR: o.LR, WeightDecay: 0.01, MaxGradNorm: 1, Schedule: train.Linear,
		WarmupSteps: o.Steps / 10, TotalSteps: o.Steps})
	if err != nil {
		return before, after, err
	}

	// The held-out batches are masked once, so before and after see the
	// same positions.
	evalBatches, err := data.MakeBatches(evalEnc, o.Batch, buckets, tok.PadID(), false, 0, false)
	if err != nil {
		return before, after, err
	}
	em := newMasker(uint64(o.Seed) + 7)
	evalInputs := make([][]*tensors.Tensor, len(evalBatches))
	for i := range evalBatches {
		evalInputs[i] = mlmTensors(evalBatches[i], em.apply(&evalBatches[i]))
	}
	score := func() (Score, error) {
		var loss, n, right float64
		for _, in := range evalInputs {
			l, out, err := tr.Evaluate(in)
			if err != nil {
				return Score{}, err
			}
			var cnt, ok float64
			out.ConstFlatData(func(f any) { v := f.([]float32); cnt, ok = float64(v[0]), float64(v[1]) })
			loss += l * cnt
			n += cnt
			right += ok
		}
		if n == 0 {
			return Score{}, errors.New("pretrain: no masked tokens in the held-out text")
		}
		return Score{Loss: loss / n, Accuracy: right / n}, nil
	}
	if before, err = score(); err != nil {
		return before, after, err
	}

	prog := runlog.NewProgress(w, "pretrain", o.Steps)
	tm := newMasker(uint64(o.Seed) + 11)
	for epoch := 0; tr.Step() < o.Steps; epoch++ {
		batches, err := data.MakeBatches(trainEnc, o.Batch, buckets, tok.PadID(), true, o.Seed+int64(epoch), true)
		if err != nil {
			return before, after, err
		}
		for i := 0; i < len(batches) && tr.Step() < o.Steps; i++ {
			if ctx.Err() != nil {
				prog.Done()
				return before, after, ctx.Err()
			}
			st, err := tr.TrainStep(mlmTensors(batches[i], tm.apply(&batches[i])))
			if err != nil {
				return before, after, err
			}
			if math.IsNaN(st.Loss) || math.IsInf(st.Loss, 0) {
				return before, after, fmt.Errorf("pretraining diverged at step %d (loss %v): lower the learning rate", tr.Step(), st.Loss)
			}
			prog.Update(tr.Step(), runlog.Field{Key: "mlm loss", Value: fmt.Sprintf("%.3f", st.Loss)})
		}
	}
	prog.Done()
	after, err = score()
	return before, after, err
}
