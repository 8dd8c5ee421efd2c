package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/safetensors"
)

// StateFile and MetaFile are the files of a training checkpoint folder.
const (
	StateFile = "state.safetensors"
	MetaFile  = "trainer_state.json"
)

type meta struct {
	Step      int             `json:"global_step"`
	Trainable []string        `json:"trainable"`
	Extra     json.RawMessage `json:"run,omitempty"`
}

// SaveState writes a resumable checkpoint into dir: the trainable weights,
// their AdamW moments, the random state and the step counter, plus extra
// (the caller's own progress record, as JSON). The folder is written under a
// temporary name and renamed, so an interruption never leaves a partial
// checkpoint. Call it between optimizer steps.
func (t *Trainer) SaveState(dir string, extra any) error {
	if t.micro != 0 {
		return fmt.Errorf("saving checkpoint: in the middle of a gradient accumulation")
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("saving checkpoint: %w", err)
	}
	defer os.RemoveAll(tmp)
	var ts []*safetensors.Tensor
	for i, n := range t.names {
		w, err := t.params.Value(n)
		if err != nil {
			return err
		}
		shape := t.params.Shape(n)
		ts = append(ts, &safetensors.Tensor{Name: "weight/" + n, Shape: shape, F32: w},
			&safetensors.Tensor{Name: "adam_m/" + n, Shape: shape, F32: varData(t.m[i].MustValue())},
			&safetensors.Tensor{Name: "adam_v/" + n, Shape: shape, F32: varData(t.v[i].MustValue())})
	}
	for _, x := range ts {
		for _, v := range x.F32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("saving checkpoint: %s holds %v after step %d (training diverged); the previous checkpoint is kept", x.Name, v, t.step)
			}
		}
	}
	rng, err := t.params.RNGState()
	if err != nil {
		return err
	}
	if rng != nil {
		ts = append(ts, &safetensors.Tensor{Name: "rng", Shape: []int{len(rng)}, DType: safetensors.I64, I64: rng})
	}
	if err := safetensors.WriteFile(filepath.Join(tmp, StateFile), ts, nil); err != nil {
		return err
	}
	ex, err := json.Marshal(extra)
	if err != nil {
		return err
	}
	mb, err := json.MarshalIndent(meta{Step: t.step, Trainable: t.names, Extra: ex}, "", "  ")
	if err != nil {
		return err
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(tmp, MetaFile), mb); err != nil {
		return err
	}
	return checkpoint.ReplaceDir(tmp, dir)
}

func varData(t *tensors.Tensor) []float32 {
	out := make([]float32, t.Size())
	t.ConstFlatData(func(f any) { copy(out, f.([]float32)) })
	return out
}

// LoadState restores a checkpoint written by SaveState into the trainer
// and unmarshals the caller's progress record into extra.
func (t *Trainer) LoadState(dir string, extra any) error {
	mb, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if err != nil {
		return fmt.Errorf("reading checkpoint: %w", err)
	}
	var m meta
	if err := json.Unmarshal(mb, &m); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, MetaFile), err)
	}
	if fmt.Sprint(m.Trainable) != fmt.Sprint(t.names) {
		return fmt.Errorf("checkpoint %s trains a different set of weights (%d) than this run (%d): was the method or its options changed?", dir, len(m.Trainable), len(t.names))
	}
	st, err := safetensors.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return err
	}
	for i, n := range t.names {
		w, mm, vv := st.Get("weight/"+n), st.Get("adam_m/"+n), st.Get("adam_v/"+n)
		if w == nil || mm == nil || vv == nil {
			return fmt.Errorf("checkpoint %s: missing state for %s", dir, n)
		}
		if err := t.params.Set(n, w.Shape, w.F32); err != nil {
			return err
		}
		if err := t.m[i].SetValue(tensors.FromFlatDataAndDimensions(mm.F32, mm.Shape...)); err != nil {
			return err
		}
		if err := t.v[i].SetValue(tensors.FromFlatDataAndDimensions(vv.F32, vv.Shape...)); err != nil {
			return err
		}
	}
	if r := st.Get("rng"); r != nil {
		if err := t.params.SetRNGState(r.I64); err != nil {
			return err
		}
	}
	t.step, t.micro = m.Step, 0
	if extra != nil && len(m.Extra) > 0 {
		if err := json.Unmarshal(m.Extra, extra); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, MetaFile), err)
		}
	}
	return nil
}
