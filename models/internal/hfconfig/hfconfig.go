// Package hfconfig is the machinery the model packages share to read and
// write a Hugging Face config.json: decoding into a typed struct while
// keeping every key, checking sizes, ordering labels and writing the file
// back. What the fields mean stays in each model package.
package hfconfig

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Decode unmarshals config.json data into the typed config c and every
// key into raw; path is used in errors.
func Decode(data []byte, path string, c any, raw *map[string]any) error {
	if err := json.Unmarshal(data, c); err != nil {
		return fmt.Errorf("%s: not a valid config.json: %w", path, err)
	}
	if err := json.Unmarshal(data, raw); err != nil {
		return fmt.Errorf("%s: not a valid config.json: %w", path, err)
	}
	return nil
}

// Field is a size field of a config: its config.json key and value.
type Field struct {
	Name  string
	Value int
}

// Positive checks that every field is a positive integer, naming the
// first that is not; path is used in errors.
func Positive(path string, fields ...Field) error {
	for _, f := range fields {
		if f.Value <= 0 {
			return fmt.Errorf("%s: field %q must be a positive integer (got %d)", path, f.Name, f.Value)
		}
	}
	return nil
}

// Labels returns the names of id2label ordered by their numeric id.
func Labels(id2label map[string]string) []string {
	ids := make([]int, 0, len(id2label))
	byID := map[int]string{}
	for k, v := range id2label {
		var id int
		fmt.Sscan(k, &id)
		ids = append(ids, id)
		byID[id] = v
	}
	sort.Ints(ids)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}

// Marshal returns the config.json bytes: raw (every key as read) with the
// typed config c's fields written over it, keys sorted, indented as
// transformers writes them. skip (nil for none) leaves out typed fields
// that should not be written (an unset optional field).
func Marshal(c any, raw map[string]any, skip func(key string, value any) bool) ([]byte, error) {
	typed, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(typed, &m); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for k, v := range raw {
		out[k] = v
	}
	for k, v := range m {
		if skip != nil && skip(k, v) {
			continue
		}
		out[k] = v
	}
	return json.MarshalIndent(out, "", "  ")
}
