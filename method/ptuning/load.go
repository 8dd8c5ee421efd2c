package ptuning

import (
	"encoding/json"
	"fmt"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/method/lora"
)

// LoadModel loads a base model (base "" = the adapter's
// base_model_name_or_path, found as LoRA adapters find theirs) with the
// prompt adapter in dir, for prediction. warn, when not nil, receives
// warnings.
func LoadModel(base, dir string, warn func(string)) (*classify.Classifier, *Loaded, error) {
	l, err := ReadAdapter(dir)
	if err != nil {
		return nil, nil, err
	}
	if warn != nil {
		for _, w := range l.Warnings {
			warn(w)
		}
	}
	if base == "" {
		if base, err = lora.ResolveBase(dir, l.BaseModel); err != nil {
			return nil, nil, err
		}
	} else if base, err = checkpoint.Resolve(base); err != nil {
		return nil, nil, err
	}
	labels := l.Labels()
	if labels == nil {
		if rows := l.HeadRows(); rows > 0 {
			labels = baseLabels(base, rows)
		}
	}
	m, err := classify.Load(base, labels, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("loading the base model %s: %w", base, err)
	}
	newW := m.NewWeights()
	if err := Attach(m, l); err != nil {
		return nil, nil, err
	}
	if err := method.CheckNewWeights(newW, func(n string) bool { return l.Tensors.Get(headPrefix+n) != nil }, dir, base); err != nil {
		return nil, nil, err
	}
	if l.HeadRows() > 0 {
		m.NewHead = nil
	}
	return m, l, nil
}

// baseLabels returns the base model's labels when it has rows of them,
// else LABEL_0 … LABEL_{rows-1} (transformers' names).
func baseLabels(base string, rows int) []string {
	if _, raw, err := checkpoint.ReadConfig(base); err == nil {
		var c struct {
			ID2Label map[string]string `json:"id2label"`
		}
		if json.Unmarshal(raw, &c) == nil && len(c.ID2Label) == rows {
			out := make([]string, rows)
			ok := true
			for i := range out {
				out[i], ok = c.ID2Label[fmt.Sprint(i)]
				if !ok {
					break
				}
			}
			if ok {
				return out
			}
		}
	}
	out := make([]string, rows)
	for i := range out {
		out[i] = fmt.Sprintf("LABEL_%d", i)
	}
	return out
}
