package adapter

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds arbitrary adapter_config.json and head_config.json bytes
// (AdapterHub's format) to Read, next to valid weights: it must return an
// adapter or an error, never panic.
func FuzzRead(f *testing.F) {
	seed := f.TempDir()
	l := &Loaded{Name: "sst2", BaseModel: "bert-base-uncased", ModelType: "bert", ModelClass: "BertAdapterModel", Hidden: 4,
		Cfg: Config{ReductionFactor: 2}, Labels: []string{"neg", "pos"}}
	for _, p := range Parts() {
		s := Site{Module: "bert.encoder.layer.0.output", Hidden: 4, Bottleneck: 2}
		shape := s.Shape(p)
		n := 1
		for _, d := range shape {
			n *= d
		}
		l.Weights = append(l.Weights, Weight{Module: s.Module, Part: p, Shape: shape, Data: make([]float32, n)})
	}
	if err := l.Save(seed); err != nil {
		f.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(seed, ConfigFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cfg, []byte(`{"config":null,"hidden_size":4,"label2id":{"neg":0,"pos":1},"model_class":"BertAdapterModel","num_labels":2}`))
	f.Add([]byte(`{"name":"x","config":{"reduction_factor":{"0":4,"default":16},"non_linearity":"gelu","leave_out":[1,2],"residual_before_ln":"post_add","is_parallel":true,"scaling":"learned"}}`), []byte(`{}`))
	weights, err := os.ReadFile(filepath.Join(seed, WeightsFile))
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, WeightsFile), weights, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cfg, head []byte) {
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, HeadConfigFile), head, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Read(dir)
		if err == nil && l.Name == "" {
			t.Fatal("an adapter without a name was accepted")
		}
	})
}
