package lora

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/method"
)

// AdapterSpec names an adapter folder to load: "DIR" (named after the
// folder) or "NAME=DIR".
func AdapterSpec(spec string) (name, dir string) {
	if n, d, ok := strings.Cut(spec, "="); ok && method.ValidName(n) {
		return n, d
	}
	name = filepath.Base(filepath.Clean(spec))
	if name == "model" || !method.ValidName(name) { // a run's model folder
		name = DefaultAdapter
	}
	return name, spec
}

// LoadModel loads a base model (base "" = the first adapter's
// base_model_name_or_path) with one or more adapter folders ("DIR" or
// "NAME=DIR") on one hook; the first adapter is active. Every adapter must
// classify into the same labels. warn, when not nil, receives warnings.
func LoadModel(base string, specs []string, warn func(string)) (*classify.Classifier, *Hook, error) {
	if len(specs) == 0 {
		return nil, nil, fmt.Errorf("lora: no adapter given")
	}
	var loaded []*Loaded
	var names []string
	for _, s := range specs {
		name, dir := AdapterSpec(s)
		if slices.Contains(names, name) {
			return nil, nil, fmt.Errorf("lora: two adapters are named %q; name them with NAME=DIR", name)
		}
		l, err := ReadAdapter(dir)
		if err != nil {
			return nil, nil, err
		}
		if warn != nil {
			for _, w := range l.Warnings {
				warn(w)
			}
		}
		loaded = append(loaded, l)
		names = append(names, name)
	}
	var err error
	if base == "" {
		if base, err = ResolveBase(loaded[0].Dir, loaded[0].BaseModel); err != nil {
			return nil, nil, err
		}
	} else if base, err = checkpoint.Resolve(base); err != nil {
		return nil, nil, err
	}
	labels, err := adapterLabels(base, loaded)
	if err != nil {
		return nil, nil, err
	}
	m, err := classify.Load(base, labels, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("loading the base model %s: %w", base, err)
	}
	h := NewHook()
	m.AddHook(h)
	headSaved := true
	newW := m.NewWeights()
	for i, l := range loaded {
		a, err := Attach(m, h, l, names[i])
		if err != nil {
			return nil, nil, err
		}
		headSaved = headSaved && len(a.Saved) > 0
		carried := func(n string) bool { return a.SavedParams[n] != "" || slices.Contains(a.Biases, n) }
		if err := method.CheckNewWeights(newW, carried, l.Dir, base); err != nil {
			return nil, nil, err
		}
	}
	if headSaved {
		m.NewHead = nil
	}
	return m, h, nil
}

// adapterLabels decides the class names: gotune's side file, else the
// base's labels when their count matches the saved head, else LABEL_i.
func adapterLabels(base string, loaded []*Loaded) ([]string, error) {
	var labels []string
	for _, l := range loaded {
		ls := l.Labels()
		if ls == nil {
			if rows := l.HeadRows(); rows > 0 {
				ls = baseLabels(base, rows)
			}
		}
		if ls == nil {
			continue
		}
		if labels != nil && !slices.Equal(labels, ls) {
			return nil, fmt.Errorf("lora: adapters %s and %s classify into different labels (%s vs %s); load them separately",
				loaded[0].Dir, l.Dir, strings.Join(labels, ","), strings.Join(ls, ","))
		}
		labels = ls
	}
	return labels, nil
}

func baseLabels(base string, rows int) []string {
	if _, raw, err := checkpoint.ReadConfig(base); err == nil {
		if cfg, err := parseLabels(raw); err == nil && len(cfg) == rows {
			return cfg
		}
	}
	out := make([]string, rows)
	for i := range out {
		out[i] = fmt.Sprintf("LABEL_%d", i)
	}
	return out
}

// parseLabels reads id2label of a config.json, ordered by id.
func parseLabels(raw []byte) ([]string, error) {
	var c struct {
		ID2Label map[string]string `json:"id2label"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	out := make([]string, len(c.ID2Label))
	for i := range out {
		v, ok := c.ID2Label[fmt.Sprint(i)]
		if !ok {
			return nil, fmt.Errorf("id2label lacks id %d", i)
		}
		out[i] = v
	}
	return out, nil
}
