package gotune

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfigFile feeds arbitrary bytes to LoadConfigFile as a run
// folder's config.yaml: it must return a config or an error, never panic,
// and Validate must not panic on whatever it returns.
func FuzzLoadConfigFile(f *testing.F) {
	f.Add([]byte("model: m\ntrain: t.jsonl\nout: runs/x\nmethod: lora\nlora:\n  r: 4\n  targets: [query, value]\nepochs: 2\nlr: 1e-4\n"))
	f.Add([]byte("method: adapter\nadapter:\n  placement: pfeiffer\n  reduction_factor: 16\nptuning:\n  num_virtual_tokens: 10\nfeature:\n  pooling: mean\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("batch_size: 0x10\nseed: -1\nmax_len: 1e3\n---\nepochs: 1\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfigFile(p, DefaultConfig())
		if err != nil {
			return
		}
		cfg.ApplyMethodDefaults()
		_ = cfg.Validate()
	})
}
