package gotune

import (
	"fmt"
	"io"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gotune/gotune/nn"

	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/engine"
)

// DecoderClassifier runs a decoder with a sequence-classification head
// (LlamaForSequenceClassification, GPT2ForSequenceClassification: the
// score head on the last non-pad token) saved by a run, for evaluation and
// prediction.
type DecoderClassifier struct {
	// Model is the loaded decoder with its score head.
	Model *causallm.Model
	// MaxLen is the truncation length (default 128, capped by the model).
	MaxLen int
	// BatchSize is the inference batch size (default 32).
	BatchSize int
	// Progress, when not nil, receives Evaluate's progress bar.
	Progress io.Writer

	labels *data.LabelSet
	ev     evaluator
}

// IsDecoderClassifier reports whether dir holds a decoder sequence
// classifier: a Hugging Face folder (or a full or freeze run's model
// folder) of a decoder whose architecture is not a causal LM, or the model
// folder of a classification run of another method whose base is a
// decoder (gotune.json records both).
func IsDecoderClassifier(dir string) bool {
	mi, err := readMethodInfo(dir)
	if err != nil || (mi.Task != "" && mi.Task != TaskClassify) {
		return false
	}
	if causallm.IsAdapter(dir) {
		return mi.BaseModel != "" && causallm.IsDecoder(mi.BaseModel)
	}
	return causallm.IsDecoder(dir) && !IsCausalLM(dir)
}

// LoadDecoderClassifier loads a decoder classifier: a model folder, or an
// adapter folder (LoRA, bottleneck adapter, prefix or prompt tuning) on its
// base, on the named backend ("" for default).
func LoadDecoderClassifier(dir, backend string) (*DecoderClassifier, error) {
	m, err := causallm.LoadTrained(dir, "", causallm.SeqCls, nil)
	if err != nil {
		return nil, err
	}
	if len(m.NewHead) > 0 {
		return nil, fmt.Errorf("%s has no trained classification head (missing %s): train it first", dir, m.NewHead[0])
	}
	if len(m.Labels()) == 0 {
		return nil, fmt.Errorf("%s: the model has no labels (config.json id2label)", dir)
	}
	ls := &data.LabelSet{Names: m.Labels()}
	be, err := engine.New(backend)
	if err != nil {
		return nil, err
	}
	e, err := nn.NewModelExec(be, m.P, func(g *Graph, xs []*Node) []*Node {
		loss, logits := m.Loss(g, xs, false)
		return []*Node{loss, logits}
	})
	if err != nil {
		return nil, err
	}
	e.SetMaxCache(64)
	return &DecoderClassifier{Model: m, MaxLen: min(128, m.MaxPositions()), BatchSize: 32, labels: ls, ev: execEvaluator{e}}, nil
}

func (d *DecoderClassifier) maxLen() int {
	return max(1, min(d.MaxLen, d.Model.MaxPositions()-reservedBy(d.Model.Hooks)))
}

// Evaluate computes loss, accuracy and macro-F1 on a labelled data file.
func (d *DecoderClassifier) Evaluate(path string, opts data.Options) (map[string]float64, error) {
	ex, err := data.ReadFile(path, opts, true)
	if err != nil {
		return nil, err
	}
	if err := data.CheckLabels(ex, d.labels, path); err != nil {
		return nil, err
	}
	enc, err := encodeDecoder(d.Model, ex, d.labels, d.maxLen())
	if err != nil {
		return nil, err
	}
	met, _, err := evaluateEncoded(d.ev, enc, data.DefaultBuckets(d.maxLen()), int32(d.Model.Pad), d.BatchSize, d.labels.Len(), d.Progress)
	return met, err
}

// PredictFile classifies every record of in and writes JSONL to out, as
// Predictor.PredictFile does.
func (d *DecoderClassifier) PredictFile(in, out string, opts data.Options, progress io.Writer) error {
	ex, err := data.ReadFile(in, opts, false)
	if err != nil {
		return err
	}
	enc, err := encodeDecoder(d.Model, ex, nil, d.maxLen())
	if err != nil {
		return err
	}
	logits, err := predictLogits(d.ev, enc, data.DefaultBuckets(d.maxLen()), int32(d.Model.Pad), d.BatchSize, d.labels.Len(), progress)
	if err != nil {
		return err
	}
	return writePredictions(ex, logits, d.labels.Names, out)
}
