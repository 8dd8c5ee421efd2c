package gotune

import (
	"encoding/json"
	"fmt"
	"github.com/gomlx/gomlx/ml/model"
	"io"
	"os"
	"path/filepath"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gotune/gotune/nn"

	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/instruct"
	"github.com/gotune/gotune/method/lora"
)

// IsCausalLM reports whether path is a causal language model: a run's
// model folder whose task was causal-lm, a PEFT adapter with task_type
// CAUSAL_LM, a .gguf file, or a decoder folder whose architecture is a
// *ForCausalLM / *LMHeadModel.
func IsCausalLM(path string) bool {
	if mi, err := readMethodInfo(path); err == nil && mi.Task != "" {
		return mi.Task == TaskCausalLM
	}
	if causallm.IsAdapter(path) {
		var c struct {
			TaskType string `json:"task_type"`
		}
		b, _ := os.ReadFile(filepath.Join(path, lora.ConfigFile))
		return json.Unmarshal(b, &c) == nil && c.TaskType == "CAUSAL_LM"
	}
	if !causallm.IsDecoder(path) {
		return false
	}
	if strings.HasSuffix(strings.ToLower(path), ".gguf") {
		return true
	}
	var c struct {
		Architectures []string `json:"architectures"`
	}
	b, _ := os.ReadFile(filepath.Join(path, "config.json"))
	if json.Unmarshal(b, &c) != nil || len(c.Architectures) == 0 {
		return true
	}
	a := c.Architectures[0]
	return strings.HasSuffix(a, "ForCausalLM") || strings.HasSuffix(a, "LMHeadModel")
}

// LMEvalOptions configure EvaluateCausalLM; the fields mean what the
// training config's do.
type LMEvalOptions struct {
	Adapter       string
	Template      string
	TrainOnPrompt bool
	TextField     string
	MaxLen        int
	BatchSize     int
	Backend       string
	// Progress, when not nil, receives the evaluation's progress bar.
	Progress io.Writer
}

// EvaluateCausalLM computes the loss (mean over the tokens that carry
// loss: responses, unless TrainOnPrompt) and perplexity of a causal LM —
// a model folder, .gguf file, a run's model folder or adapter, with
// o.Adapter on top — on a data file of any shape package instruct reads.
func EvaluateCausalLM(modelPath, path string, o LMEvalOptions) (map[string]float64, error) {
	m, err := causallm.LoadTrained(modelPath, o.Adapter, causallm.CausalLM, nil)
	if err != nil {
		return nil, err
	}
	recs, err := instruct.ReadFile(path, o.TextField)
	if err != nil {
		return nil, err
	}
	maxLen := o.MaxLen
	if maxLen <= 0 {
		maxLen = 512
	}
	maxLen = min(maxLen, m.MaxPositions()-reservedBy(m.Hooks))
	ex, _, err := instruct.Encode(recs, m.InstructTokenizer(), instruct.Options{Template: o.Template, TrainOnPrompt: o.TrainOnPrompt, MaxLen: maxLen})
	if err != nil {
		return nil, err
	}
	if len(ex) == 0 {
		return nil, fmt.Errorf("%s: no example has a token to score within max_len %d", path, maxLen)
	}
	be, err := engine.New(o.Backend)
	if err != nil {
		return nil, err
	}
	e, err := nn.NewModelExec(be, m.P, func(g *Graph, xs []*Node) []*Node {
		loss, count := m.Loss(g, xs, false)
		return []*Node{loss, count}
	})
	if err != nil {
		return nil, err
	}
	bs, err := lmBatches(ex, max(1, o.BatchSize), data.DefaultBuckets(maxLen), int32(m.Pad), false, 0)
	if err != nil {
		return nil, err
	}
	met, err := evaluateLMBatches(execEvaluator{e}, bs, o.Progress)
	if err != nil {
		return nil, err
	}
	met["examples"] = float64(len(ex))
	return met, nil
}

// reservedBy counts the positions prompt-tuning hooks take.
func reservedBy(hooks []any) int {
	n := 0
	for _, h := range hooks {
		if v, ok := h.(interface{ VirtualTokens() int }); ok {
			n += v.VirtualTokens()
		}
	}
	return n
}

// execEvaluator runs a compiled (loss, output) graph as an evaluator.
type execEvaluator struct{ e *model.Exec }

func (x execEvaluator) Evaluate(inputs []*tensors.Tensor) (float64, *tensors.Tensor, error) {
	args := make([]any, len(inputs))
	for i, t := range inputs {
		args[i] = t
	}
	out, err := x.e.Exec(args...)
	if err != nil {
		return 0, nil, fmt.Errorf("evaluating: %w", err)
	}
	var loss float64
	out[0].ConstFlatData(func(f any) { loss = float64(f.([]float32)[0]) })
	return loss, out[1], nil
}
