package lora

import (
	"fmt"

	"github.com/gotune/gotune/nn"
)

// mergeState is what Unmerge needs to restore the base weights exactly
// where arithmetic cannot: the replaced head and DoRA's weight norms.
type mergeState struct {
	saved map[string][]float32 // base weights the saved copies replaced
	norms map[string][]float64 // DoRA: ‖W + ΔW‖ per row at merge time
}

// Merge folds the named adapter into the base weights (PEFT's merge): W +=
// scale·B·A per targeted module (DoRA: W' = m/‖W+ΔW‖ · (W+ΔW)), and the
// adapter's copies of the saved modules (the head) replace the base's.
// While merged the hook leaves the model alone; the model's graphs must be
// rebuilt. SaveFull then writes the merged model.
func (h *Hook) Merge(p *nn.Params, name string) error {
	a := h.adapters[name]
	if a == nil {
		return fmt.Errorf("lora: no adapter named %q", name)
	}
	for _, o := range h.adapters {
		if o.merged != nil {
			return fmt.Errorf("lora: adapter %q is already merged", o.Name)
		}
	}
	st := &mergeState{saved: map[string][]float32{}, norms: map[string][]float64{}}
	for _, m := range a.Modules {
		w, delta, err := moduleDelta(p, a, m)
		if err != nil {
			return err
		}
		out := make([]float32, len(w))
		if !a.Cfg.UseDoRA {
			for i := range w {
				out[i] = float32(float64(w[i]) + delta[i])
			}
		} else {
			mag, err := p.Value(ParamMagnitude(a.Name, m.Name))
			if err != nil {
				return err
			}
			norms := rowNorms(w, delta, m.Out, m.In)
			st.norms[m.Name] = make([]float64, m.Out)
			for o := 0; o < m.Out; o++ {
				st.norms[m.Name][o] = float64(norms[o])
				f := float64(mag[o]) / float64(norms[o])
				for i := 0; i < m.In; i++ {
					out[o*m.In+i] = float32(f * (float64(w[o*m.In+i]) + delta[o*m.In+i]))
				}
			}
		}
		if err := p.Set(m.Name+".weight", p.Shape(m.Name+".weight"), out); err != nil {
			return err
		}
	}
	for _, w := range sortedKeys(a.SavedParams) {
		orig, err := p.Value(w)
		if err != nil {
			return err
		}
		cp, err := p.Value(a.SavedParams[w])
		if err != nil {
			return err
		}
		st.saved[w] = orig
		if err := p.Set(w, p.Shape(w), cp); err != nil {
			return err
		}
	}
	a.merged = st
	h.active = name
	return nil
}

// Unmerge undoes Merge: W -= scale·B·A (DoRA: W = W'/(m/‖W+ΔW‖) − ΔW, with
// the norms cached at merge time, as PEFT does) and the base's saved
// modules come back.
func (h *Hook) Unmerge(p *nn.Params) error {
	for _, a := range h.adapters {
		st := a.merged
		if st == nil {
			continue
		}
		for _, m := range a.Modules {
			w, delta, err := moduleDelta(p, a, m)
			if err != nil {
				return err
			}
			out := make([]float32, len(w))
			if !a.Cfg.UseDoRA {
				for i := range w {
					out[i] = float32(float64(w[i]) - delta[i])
				}
			} else {
				mag, err := p.Value(ParamMagnitude(a.Name, m.Name))
				if err != nil {
					return err
				}
				for o := 0; o < m.Out; o++ {
					f := float64(mag[o]) / st.norms[m.Name][o]
					for i := 0; i < m.In; i++ {
						out[o*m.In+i] = float32(float64(w[o*m.In+i])/f - delta[o*m.In+i])
					}
				}
			}
			if err := p.Set(m.Name+".weight", p.Shape(m.Name+".weight"), out); err != nil {
				return err
			}
		}
		for w, orig := range st.saved {
			if err := p.Set(w, p.Shape(w), orig); err != nil {
				return err
			}
		}
		a.merged = nil
	}
	return nil
}

// moduleDelta returns a module's base weight and scale·B·A.
func moduleDelta(p *nn.Params, a *Adapter, m Module) ([]float32, []float64, error) {
	w, err := p.Value(m.Name + ".weight")
	if err != nil {
		return nil, nil, err
	}
	av, err := p.Value(ParamA(a.Name, m.Name))
	if err != nil {
		return nil, nil, err
	}
	bv, err := p.Value(ParamB(a.Name, m.Name))
	if err != nil {
		return nil, nil, err
	}
	d := deltaWeight(av, bv, m)
	if a.Cfg.FanInFanOut { // the weight is [in, out]: transpose ΔW
		t := make([]float64, len(d))
		for o := 0; o < m.Out; o++ {
			for i := 0; i < m.In; i++ {
				t[i*m.Out+o] = d[o*m.In+i]
			}
		}
		d = t
	}
	return w, d, nil
}
