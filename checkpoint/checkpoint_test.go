package checkpoint_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/safetensors"
)

const fixtureDir = "../testdata/fixtures/bert-seqcls"

// shard writes the fixture's tensors into dir as n shards and an index, as
// transformers' save_pretrained(max_shard_size=...) does, plus config.json.
func shard(t *testing.T, dir string, n int, index map[string]any) {
	t.Helper()
	st, err := safetensors.ReadFile(filepath.Join(fixtureDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	weightMap := map[string]string{}
	for i := range n {
		name := "model-0000" + string(rune('1'+i)) + "-of-0000" + string(rune('0'+n)) + ".safetensors"
		var part []*safetensors.Tensor
		for j, tt := range st.Tensors {
			if j%n == i {
				part = append(part, tt)
				weightMap[tt.Name] = name
			}
		}
		if err := safetensors.WriteFile(filepath.Join(dir, name), part, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	if index == nil {
		index = map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": weightMap}
	}
	b, _ := json.Marshal(index)
	write(t, filepath.Join(dir, "model.safetensors.index.json"), b)
	copyFile(t, "config.json", dir)
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, name, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, name), b)
}

func TestShardedWeights(t *testing.T) {
	single, err := checkpoint.ReadWeights(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3} {
		dir := t.TempDir()
		shard(t, dir, n, nil)
		got, err := checkpoint.ReadWeights(dir)
		if err != nil {
			t.Fatalf("%d shards: %v", n, err)
		}
		if len(got) != len(single) {
			t.Fatalf("%d shards: %d tensors, single file %d", n, len(got), len(single))
		}
		byName := map[string]*safetensors.Tensor{}
		for _, tt := range got {
			byName[tt.Name] = tt
		}
		for _, w := range single {
			g := byName[w.Name]
			if g == nil || !slices.Equal(g.Shape, w.Shape) || !slices.Equal(g.F32, w.F32) {
				t.Errorf("%d shards: tensor %s differs from the single file", n, w.Name)
			}
		}
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		read  func(dir string) error
		want  []string // substrings of the error
	}{
		{"no config.json", func(t *testing.T, dir string) { copyFile(t, "model.safetensors", dir) },
			readConfig, []string{"has no config.json"}},
		{"config.json not JSON", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "config.json"), []byte("{model_type")) },
			readConfig, []string{"config.json", "not valid JSON"}},
		{"no model_type", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "config.json"), []byte(`{"hidden_size": 8}`))
		},
			readConfig, []string{"config.json", `"model_type"`}},
		{"no weights", func(t *testing.T, dir string) { copyFile(t, "config.json", dir) },
			readWeights, []string{"no model.safetensors, model.safetensors.index.json or pytorch_model.bin"}},
		{"only pytorch_model.bin", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "pytorch_model.bin"), []byte("x")) },
			readWeights, []string{"pytorch_model.bin", "not a PyTorch state dict"}},
		{"missing shard", func(t *testing.T, dir string) {
			shard(t, dir, 2, nil)
			os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors"))
		}, readWeights, []string{"model-00002-of-00002.safetensors"}},
		{"empty weight_map", func(t *testing.T, dir string) { shard(t, dir, 2, map[string]any{"weight_map": map[string]string{}}) },
			readWeights, []string{"model.safetensors.index.json", "weight_map"}},
		{"shard outside the folder", func(t *testing.T, dir string) {
			shard(t, dir, 1, map[string]any{"weight_map": map[string]string{"a": "../x.safetensors"}})
		}, readWeights, []string{"invalid shard file", "../x.safetensors"}},
		{"tensor in two shards", func(t *testing.T, dir string) {
			shard(t, dir, 2, nil)
			copyFile(t, "model.safetensors", dir)
			os.Rename(filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "model-00002-of-00002.safetensors"))
		}, readWeights, []string{"appears in both"}},
		{"model is a file", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "f"), nil) },
			func(dir string) error { _, err := checkpoint.Resolve(filepath.Join(dir, "f")); return err }, []string{"is a file"}},
		{"model folder missing", func(t *testing.T, dir string) {},
			func(dir string) error { _, err := checkpoint.Resolve(filepath.Join(dir, "nope")); return err }, []string{"nope", "does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			err := tc.read(dir)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has several lines: %q", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func readConfig(dir string) error {
	_, _, err := checkpoint.ReadConfig(dir)
	return err
}

func readWeights(dir string) error {
	_, err := checkpoint.ReadWeights(dir)
	return err
}

func TestReplaceDir(t *testing.T) {
	base := t.TempDir()
	dst, tmp := filepath.Join(base, "model"), filepath.Join(base, "model.tmp")
	for i, content := range []string{"first", "second"} {
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := checkpoint.WriteFileAtomic(filepath.Join(tmp, "f"), []byte(content)); err != nil {
			t.Fatal(err)
		}
		if err := checkpoint.ReplaceDir(tmp, dst); err != nil {
			t.Fatalf("replace %d: %v", i, err)
		}
		b, err := os.ReadFile(filepath.Join(dst, "f"))
		if err != nil || string(b) != content {
			t.Errorf("replace %d: %q, %v", i, b, err)
		}
	}
	entries, _ := os.ReadDir(base)
	if len(entries) != 1 {
		t.Errorf("%d entries left, want only model/", len(entries))
	}
}
