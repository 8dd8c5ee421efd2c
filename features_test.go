package gotune_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/internal/testmodel"
)

func featureConfig(t *testing.T, model, trainPath, evalPath string) gotune.Config {
	cfg := gotune.DefaultConfig()
	cfg.Model, cfg.Train, cfg.Eval = model, trainPath, evalPath
	cfg.Out = filepath.Join(t.TempDir(), "run")
	cfg.Method = "feature"
	cfg.Epochs, cfg.BatchSize, cfg.LR, cfg.MaxLen = 2, 8, 1e-2, 16
	cfg.Feature.Pooling, cfg.Feature.ExportFull = "pooler", true
	return cfg
}

func TestFeatureCacheAndArtefacts(t *testing.T) {
	model := testmodel.New(t, testmodel.Default())
	trainPath, evalPath := testmodel.Data(t, 40, 16)
	cfg := featureConfig(t, model, trainPath, evalPath)
	ctx := context.Background()
	res, err := gotune.Train(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// 40 train examples in batches of 8 = 5 batches, 16 eval = 2: each
	// example goes through the backbone once, not once per epoch.
	if res.BackboneRuns != 7 {
		t.Fatalf("backbone ran %d times for 2 epochs, want 7 (once per batch of examples)", res.BackboneRuns)
	}
	if res.TrainableParams != 2*16+2 {
		t.Errorf("trainable params = %d, want the linear head's 34", res.TrainableParams)
	}

	// Resume for a third epoch: every feature comes from the cache.
	cfg.Epochs, cfg.Resume = 3, true
	res, err = gotune.Train(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.BackboneRuns != 0 {
		t.Fatalf("resumed run recomputed features (%d backbone runs), want cache hits", res.BackboneRuns)
	}

	// Changed eval data: its features are recomputed, the training ones not.
	if err := testmodel.WriteJSONL(evalPath, testmodel.Examples(16, 99)); err != nil {
		t.Fatal(err)
	}
	cfg.Epochs = 4
	res, err = gotune.Train(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.BackboneRuns != 2 {
		t.Fatalf("after changing the eval data, backbone ran %d times, want 2 (eval only)", res.BackboneRuns)
	}

	// The small artefact and the exported full model predict the same.
	small := predictions(t, filepath.Join(cfg.Out, "model"), evalPath)
	full := predictions(t, filepath.Join(cfg.Out, "model", "full"), evalPath)
	for i := range small {
		for k := range small[i] {
			if d := math.Abs(small[i][k] - full[i][k]); d > 1e-5 {
				t.Fatalf("example %d: artefact logit %g, exported model %g", i, small[i][k], full[i][k])
			}
		}
	}
	st, err := os.Stat(filepath.Join(cfg.Out, "model", "head.safetensors"))
	if err != nil || st.Size() > 1<<12 {
		t.Errorf("head artefact should be tiny: %v, %d bytes", err, st.Size())
	}
}

func predictions(t *testing.T, dir, in string) [][]float64 {
	t.Helper()
	p, err := gotune.LoadPredictor(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pred.jsonl")
	if err := p.PredictFile(in, out, data.DefaultOptions(), nil); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var res [][]float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Logits []float64 `json:"logits"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		res = append(res, rec.Logits)
	}
	return res
}
