package gotune

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/safetensors"
)

// featureSet holds cached features [n, dim] and labels of a data set.
type featureSet struct {
	n, dim int
	feats  []float32
	labels []int32
}

// batches cuts the set into batches of size rows (the last padded with
// index -1 rows), shuffled with seed when shuffle is set.
func (f *featureSet) batches(size int, shuffle bool, seed int64) []batch {
	order := make([]int, f.n)
	for i := range order {
		order[i] = i
	}
	if shuffle {
		r := rand.New(rand.NewPCG(uint64(seed), 0xfea7))
		r.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	}
	var out []batch
	for start := 0; start < f.n; start += size {
		x := make([]float32, size*f.dim)
		y := make([]int32, size)
		idx := make([]int, size)
		for r := 0; r < size; r++ {
			if start+r >= f.n {
				idx[r], y[r] = -1, -1
				continue
			}
			e := order[start+r]
			idx[r], y[r] = e, f.labels[e]
			copy(x[r*f.dim:(r+1)*f.dim], f.feats[e*f.dim:(e+1)*f.dim])
		}
		out = append(out, batch{inputs: []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(x, size, f.dim),
			tensors.FromFlatDataAndDimensions(y, size),
		}, index: idx})
	}
	return out
}

// headModel is the train.Model of feature-based runs: the method's head
// over precomputed features.
type headModel struct {
	m method.Model
	f method.Featurizer
}

func (h *headModel) Params() *nn.Params { return h.m.Params() }

func (h *headModel) Loss(g *Graph, in []*Node, training bool) (loss, out *Node) {
	c := &nn.Ctx{G: g, P: h.m.Params(), Training: training}
	return h.f.HeadLoss(h.m, c, in[0], in[1])
}

// featureCacheKey identifies features by model files, method settings,
// truncation and the encoded data.
func (j *job) featureCacheKey(ex []data.Encoded) (string, error) {
	h := sha256.New()
	modelType, dir := j.modelID()
	fmt.Fprintf(h, "%s|%s|%d|", j.feat.CacheKey(), modelType, j.cfg.MaxLen)
	for _, name := range []string{"config.json", "model.safetensors", "model.safetensors.index.json", ""} { // "": a .gguf file
		st, err := os.Stat(filepath.Join(dir, name))
		if err == nil && st.Mode().IsRegular() {
			abs, _ := filepath.Abs(filepath.Join(dir, name))
			fmt.Fprintf(h, "%s:%d:%d|", abs, st.Size(), st.ModTime().UnixNano())
		}
	}
	var buf [4]byte
	for _, e := range ex {
		binary.LittleEndian.PutUint32(buf[:], uint32(len(e.IDs)))
		h.Write(buf[:])
		for i, id := range e.IDs {
			binary.LittleEndian.PutUint32(buf[:], uint32(id))
			h.Write(buf[:])
			binary.LittleEndian.PutUint32(buf[:], uint32(e.TypeIDs[i]))
			h.Write(buf[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// extractFeatures fills trainFeat and evalFeat, from the cache in the run
// folder when its key matches, else by running the frozen backbone once per
// example.
func (j *job) extractFeatures() error {
	t0 := time.Now()
	var exec *model.Exec
	var err error
	j.featureExecs = 0
	getExec := func() (*model.Exec, error) {
		if exec != nil {
			return exec, nil
		}
		p := j.model.Params()
		exec, err = nn.NewModelExec(j.be, p, func(g *Graph, xs []*Node) []*Node {
			return []*Node{j.feat.FeatureGraph(j.model, &nn.Ctx{G: g, P: p}, xs)}
		})
		if err == nil {
			exec.SetMaxCache(64)
		}
		return exec, err
	}
	load := func(name string, ex []data.Encoded) (*featureSet, error) {
		key, err := j.featureCacheKey(ex)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(j.cfg.Out, "features", name+"-"+key+".safetensors")
		if f, err := safetensors.ReadFile(path); err == nil {
			if t := f.Get("features"); t != nil && len(t.Shape) == 2 && t.Shape[0] == len(ex) {
				j.printf("features (%s): cache hit %s\n", name, path)
				return &featureSet{n: len(ex), dim: t.Shape[1], feats: t.F32, labels: encodedLabels(ex)}, nil
			}
		}
		e, err := getExec()
		if err != nil {
			return nil, err
		}
		bs, err := tokenBatches(ex, j.cfg.BatchSize, j.buckets, j.pad, false, 0, true)
		if err != nil {
			return nil, err
		}
		prog := runlog.NewProgress(j.w, "features "+name, len(bs))
		var fs *featureSet
		for bi, b := range bs {
			out, err := e.Exec(anys(b.inputs[:3])...)
			if err != nil {
				return nil, fmt.Errorf("computing features: %w", err)
			}
			j.featureExecs++
			dim := out[0].Shape().Dimensions[1]
			if fs == nil {
				fs = &featureSet{n: len(ex), dim: dim, feats: make([]float32, len(ex)*dim), labels: encodedLabels(ex)}
			}
			flat := make([]float32, out[0].Size())
			out[0].ConstFlatData(func(f any) { copy(flat, f.([]float32)) })
			for r, idx := range b.index {
				if idx >= 0 {
					copy(fs.feats[idx*dim:(idx+1)*dim], flat[r*dim:(r+1)*dim])
				}
			}
			prog.Update(bi + 1)
		}
		prog.Done()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := safetensors.WriteFile(path, []*safetensors.Tensor{{Name: "features", Shape: []int{fs.n, fs.dim}, F32: fs.feats}}, nil); err != nil {
			return nil, err
		}
		return fs, nil
	}
	if j.trainFeat, err = load("train", j.train); err != nil {
		return err
	}
	if j.evalFeat, err = load("eval", j.eval); err != nil {
		return err
	}
	j.extractTime = time.Since(t0)
	j.printf("features: %d train + %d eval examples, dim %d, %d backbone runs, %.1f s\n", j.trainFeat.n, j.evalFeat.n, j.trainFeat.dim, j.featureExecs, j.extractTime.Seconds())
	return nil
}

func anys(ts []*tensors.Tensor) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}
