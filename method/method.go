// Package method defines the one small interface through which a
// fine-tuning method changes a model: which weights train, what it adds to
// the graph, and what it saves. Each method lives in its own package under
// method/ (full, freeze, ...); the trainer knows nothing beyond this.
package method

import (
	"fmt"
	"runtime/debug"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

	"github.com/gotune/gotune/nn"
)

// Model is what a method works on: a task model with named weights, graph
// hooks and a full Hugging Face save.
type Model interface {
	// Params returns every weight of the model under its Hugging Face name.
	Params() *nn.Params
	// AddHook adds a graph hook (see the hook interfaces in package nn).
	AddHook(h any)
	// HeadParams names the task head's weights (always trained).
	HeadParams() []string
	// Labels returns the task's label names ordered by id.
	Labels() []string
	// AddExtraParam adds a weight that belongs to the method, not to the
	// Hugging Face model: it trains, and SaveFull leaves it out.
	AddExtraParam(name string, shape []int, value []float32) error
	// SaveFull writes the whole model in Hugging Face layout into dir.
	SaveFull(dir string) error
	// Source is the folder the base model was loaded from.
	Source() string
}

// Method is one way of fine-tuning.
type Method interface {
	// Name is the method's command-line name ("full", "freeze", ...).
	Name() string
	// Prepare is called once after the base weights are loaded: it marks
	// trainable weights, adds the method's own weights and hooks.
	Prepare(m Model) error
	// Save writes the method's artefact for the trained model into dir
	// (a new folder the caller renames into place).
	Save(m Model, dir string) error
}

// Encoder is a Model whose backbone can be run on its own, for methods that
// use the model as a frozen feature extractor.
type Encoder interface {
	Model
	// EncodeGraph runs the backbone on token inputs (ids, type ids, mask)
	// and returns the last hidden states [batch, seq, hidden]; with
	// c.Capture set it records "hidden_states.N" for every layer.
	EncodeGraph(c *nn.Ctx, inputs []*Node) *Node
	// PoolGraph returns the model's pooler output [batch, hidden] for the
	// last hidden states; only call it when HasPooler.
	PoolGraph(c *nn.Ctx, hidden *Node) *Node
	// HasPooler reports whether the architecture has a pooler.
	HasPooler() bool
	// HiddenSize and NumLayers describe the backbone.
	HiddenSize() int
	NumLayers() int
	// SetHead replaces the task head by head(c, hidden states, inputs),
	// returning logits; nil restores the model's own head.
	SetHead(head func(c *nn.Ctx, hidden *Node, inputs []*Node) *Node)
}

// Featurizer is a method that trains a new head on features the frozen
// backbone computes once per example (feature-based fine-tuning).
type Featurizer interface {
	Method
	// FeatureGraph computes features [batch, dim] from token inputs.
	FeatureGraph(m Model, c *nn.Ctx, inputs []*Node) *Node
	// HeadLoss builds the head's logits and mean cross-entropy over a batch
	// of features [batch, dim] and labels [batch] (-1 ignored).
	HeadLoss(m Model, c *nn.Ctx, features, labels *Node) (loss, logits *Node)
	// CacheKey identifies the features' definition (pooling, layers) in
	// the feature cache.
	CacheKey() string
}

// Describer is optionally implemented by a Model to tell methods what they
// cannot read from weight names alone, in Hugging Face PEFT's terms. Models
// without it are taken as BERT-family sequence classifiers.
type Describer interface {
	// ModelType is config.json's model_type ("llama", "gpt2", ...), for
	// PEFT's default target modules.
	ModelType() string
	// TaskType is PEFT's task_type: "SEQ_CLS" or "CAUSAL_LM".
	TaskType() string
	// FanInFanOut reports that the linear weights are stored [in, out]
	// (transformers' Conv1D, as GPT-2), PEFT's fan_in_fan_out.
	FanInFanOut() bool
	// Embeddings names the embedding tables and the output embedding
	// (lm_head): 2-D weights that are not linear layers to adapt.
	Embeddings() []string
}

// NewWeights returns the weights of m that were initialised at random
// rather than loaded from the base checkpoint, outside the task head (a
// BERT pooler missing from a masked-LM checkpoint; transformers'
// "newly initialized" weights), for models that tell (a NewWeights()
// method). The model depends on them, so a method that saves less than
// the whole model must save them too: otherwise loading its artefact on
// the base initialises them anew and the model differs.
func NewWeights(m Model) []string {
	if n, ok := m.(interface{ NewWeights() []string }); ok {
		return n.NewWeights()
	}
	return nil
}

// CheckNewWeights is the check after an artefact saved in dir was loaded on
// a base: every weight in newW (NewWeights of the base as loaded) must have
// come from the artefact (loaded reports which did). Otherwise the model
// would depend on a random initialisation, and the error says so.
func CheckNewWeights(newW []string, loaded func(name string) bool, dir, base string) error {
	var miss []string
	for _, n := range newW {
		if !loaded(n) {
			miss = append(miss, n)
		}
	}
	if len(miss) == 0 {
		return nil
	}
	return fmt.Errorf("%s: the base model %s has no %s and the adapter does not save it: the model would depend on a random initialisation "+
		"(train the adapter with this gotune, which saves it, or use a base that has these weights)", dir, base, strings.Join(miss, ", "))
}

// TaskType returns m's PEFT task type ("SEQ_CLS" unless m is a Describer).
func TaskType(m Model) string {
	if d, ok := m.(Describer); ok {
		return d.TaskType()
	}
	return "SEQ_CLS"
}

// QuantizeBase stores the frozen linear-layer weights of m quantised
// (nn.QuantNF4 or nn.QuantInt8; "" does nothing), as QLoRA's frozen base:
// every 2-D ".weight" that is not an embedding table or output embedding
// (Describer.Embeddings, names with "embeddings"), not in the task head,
// not trainable, and not a weight the base lacked (NewWeights, which a
// method saves). Call it after the method's Prepare. It returns the names
// quantised, sorted.
func QuantizeBase(m Model, scheme string) ([]string, error) {
	if err := nn.CheckQuantScheme(scheme); err != nil || scheme == "" {
		return nil, err
	}
	p := m.Params()
	skip := map[string]bool{}
	for _, n := range m.HeadParams() {
		skip[n] = true
	}
	for _, n := range NewWeights(m) {
		skip[n] = true
	}
	outAxis := 0
	if d, ok := m.(Describer); ok {
		for _, n := range d.Embeddings() {
			skip[n] = true
		}
		if d.FanInFanOut() {
			outAxis = 1
		}
	}
	var done []string
	for _, n := range p.Names() {
		if skip[n] || !strings.HasSuffix(n, ".weight") || strings.Contains(n, "embeddings") ||
			len(p.Shape(n)) != 2 || p.Trainable(n) || p.Quantization(n) != "" {
			continue
		}
		if err := p.Quantize(n, scheme, outAxis); err != nil {
			return done, err
		}
		done = append(done, n)
		debug.FreeOSMemory() // hand each dropped float32 weight back at once
	}
	return done, nil
}
