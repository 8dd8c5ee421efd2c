package lora

import (
	"strings"

	"github.com/gotune/gotune/method"
)

// describe returns what LoRA needs to know about a model beyond its weight
// names: its model type (for PEFT's default targets), whether its weights
// are [in, out] (Conv1D), its PEFT task type, and the weights to plan on
// (every weight but the method's own and the embeddings).
func describe(mdl method.Model) (modelType string, fanInFanOut bool, task string, shapes map[string][]int) {
	p := mdl.Params()
	shapes = paramShapes(p)
	for n := range shapes {
		if strings.HasPrefix(n, "lora.") {
			delete(shapes, n)
		}
	}
	modelType, task = ModelType(sortedKeys(shapes)), "SEQ_CLS"
	if d, ok := mdl.(method.Describer); ok {
		modelType, fanInFanOut, task = d.ModelType(), d.FanInFanOut(), d.TaskType()
		for _, n := range d.Embeddings() {
			delete(shapes, n)
		}
	}
	return modelType, fanInFanOut, task, shapes
}
