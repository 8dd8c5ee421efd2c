package gotune_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/internal/testmodel"
)

// TestTrainAugment: --augment multiplies the training data, never the
// evaluation data (given, or split off the training file), and the run
// folder records the augmented size.
func TestTrainAugment(t *testing.T) {
	model := testmodel.New(t, testmodel.Default())
	trainPath, evalPath := testmodel.Data(t, 40, 20)
	for _, tc := range []struct {
		name, eval, spec  string
		wantTrain, wantEv int
	}{
		{"eval-file", evalPath, "eda:alpha=0.1,n=3,lang=en,sr=0,ri=0", 40 * 4, 20},
		{"split", "", "aeda:n=2", 36 * 3, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(t, model, trainPath, tc.eval)
			cfg.Epochs, cfg.Augment = 1, tc.spec
			var log strings.Builder
			res, err := gotune.Train(context.Background(), cfg, &log)
			if err != nil {
				t.Fatal(err)
			}
			if res.TrainExamples != tc.wantTrain || res.EvalExamples != tc.wantEv {
				t.Errorf("train %d eval %d, want %d and %d", res.TrainExamples, res.EvalExamples, tc.wantTrain, tc.wantEv)
			}
			var rep map[string]any
			readJSON(t, filepath.Join(cfg.Out, "augment.json"), &rep)
			if rep["train_examples_after"] != float64(tc.wantTrain) {
				t.Errorf("augment.json: %v", rep)
			}
			if !strings.Contains(log.String(), "training examples") {
				t.Errorf("log lacks the augmented size:\n%s", log.String())
			}
		})
	}
}
