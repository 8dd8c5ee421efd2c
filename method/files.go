package method

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gotune/gotune/checkpoint"
)

// ID2Label returns the id2label object of an adapter's side file for
// labels ordered by id: "0" → labels[0], ...
func ID2Label(labels []string) map[string]string {
	m := make(map[string]string, len(labels))
	for i, l := range labels {
		m[fmt.Sprint(i)] = l
	}
	return m
}

// LabelList returns the labels of an id2label object ordered by id ("" for
// a missing id), or nil when it is empty.
func LabelList(id2label map[string]string) []string {
	if len(id2label) == 0 {
		return nil
	}
	out := make([]string, len(id2label))
	for i := range out {
		out[i] = id2label[fmt.Sprint(i)]
	}
	return out
}

// ResolveBase finds the base model of an adapter folder from the path its
// config file (configFile, under the key key) records: an absolute path as
// is; a relative one against the adapter folder and each folder above it
// (the first holding config.json); otherwise as given (a folder relative to
// the working directory, or a Hub id).
func ResolveBase(adapterDir, configFile, key, base string) (string, error) {
	if base == "" {
		return "", fmt.Errorf("%s: %s is empty; pass the base model explicitly (--base)", filepath.Join(adapterDir, configFile), key)
	}
	if !filepath.IsAbs(base) {
		if dir, err := filepath.Abs(adapterDir); err == nil {
			for {
				cand := filepath.Join(dir, base)
				if _, err := os.Stat(filepath.Join(cand, "config.json")); err == nil {
					return cand, nil
				}
				parent := filepath.Dir(dir)
				if parent == dir {
					break
				}
				dir = parent
			}
		}
	}
	d, err := checkpoint.Resolve(base)
	if err != nil {
		return "", fmt.Errorf("base model of %s: %w (pass the base model explicitly with --base)", adapterDir, err)
	}
	return d, nil
}

// ValidName reports whether name can name an adapter: one or more ASCII
// letters, digits, '_' or '-' (it becomes part of weight names and of
// NAME=DIR arguments).
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
