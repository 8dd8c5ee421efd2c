// Package method defines the one small interface through which a
// fine-tuning method changes a model: which weights train, what it adds to
// the graph, and what it saves. Each method lives in its own package under
// method/ (full, freeze, ...); the trainer knows nothing beyond this.
package method

import (
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
	// SaveFull writes the whole model in Hugging Face layout into dir.
	SaveFull(dir string) error
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
