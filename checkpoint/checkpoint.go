// Package checkpoint reads and writes Hugging Face model folders:
// config.json, model.safetensors (or shards listed in
// model.safetensors.index.json) and the tokenizer files, from a local folder
// or a Hugging Face Hub id resolved through the local Hub cache.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/go-huggingface/hub"

	"github.com/gotune/gotune/safetensors"
)

// TokenizerFiles are the tokenizer files a model folder may hold.
func TokenizerFiles() []string {
	return []string{"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "merges.txt", "vocab.json"}
}

// Resolve turns a model argument into a local folder: an existing folder is
// returned as is; otherwise an argument shaped like a Hub id ("org/name" or
// "name") is downloaded into (or found in) the Hugging Face cache.
func Resolve(arg string) (string, error) {
	if st, err := os.Stat(arg); err == nil {
		if !st.IsDir() {
			return "", fmt.Errorf("model %s: is a file, expected a folder with config.json and model.safetensors", arg)
		}
		return arg, nil
	}
	if strings.HasPrefix(arg, ".") || strings.HasPrefix(arg, "/") || strings.Count(arg, "/") > 1 || arg == "" {
		return "", fmt.Errorf("model folder %s does not exist", arg)
	}
	repo := hub.New(arg).WithAuth(os.Getenv("HF_TOKEN"))
	files := []string{"config.json"}
	switch {
	case repo.HasFile("model.safetensors.index.json"):
		files = append(files, "model.safetensors.index.json")
	case !repo.HasFile("model.safetensors") && repo.HasFile("pytorch_model.bin"):
		files = append(files, "pytorch_model.bin") // older checkpoints (read safely, see ReadTorchFile)
	default:
		files = append(files, "model.safetensors")
	}
	for _, f := range TokenizerFiles() {
		if repo.HasFile(f) {
			files = append(files, f)
		}
	}
	paths, err := repo.DownloadFiles(files...)
	if err != nil {
		return "", fmt.Errorf("model %s: not a local folder, and fetching it from the Hugging Face Hub failed: %w", arg, err)
	}
	dir := filepath.Dir(paths[0])
	if idx := filepath.Join(dir, "model.safetensors.index.json"); fileExists(idx) {
		shards, err := shardNames(idx)
		if err != nil {
			return "", err
		}
		if _, err := repo.DownloadFiles(shards...); err != nil {
			return "", fmt.Errorf("model %s: downloading shards: %w", arg, err)
		}
	}
	return dir, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ReadConfig reads dir/config.json and returns its model_type and bytes.
func ReadConfig(dir string) (modelType string, data []byte, err error) {
	path := filepath.Join(dir, "config.json")
	data, err = os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil, fmt.Errorf("model folder %s has no config.json", dir)
		}
		return "", nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var head struct {
		ModelType *string `json:"model_type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return "", nil, fmt.Errorf("%s: not valid JSON: %w", path, err)
	}
	if head.ModelType == nil || *head.ModelType == "" {
		return "", nil, fmt.Errorf("%s: no \"model_type\" field (expected e.g. \"bert\")", path)
	}
	return *head.ModelType, data, nil
}

// shardNames lists the shard files of a safetensors index, sorted.
func shardNames(indexPath string) ([]string, error) {
	b, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", indexPath, err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %w", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: empty or missing \"weight_map\"", indexPath)
	}
	set := map[string]bool{}
	for name, f := range idx.WeightMap {
		if f == "" || strings.Contains(f, "..") || filepath.IsAbs(f) {
			return nil, fmt.Errorf("%s: weight %s maps to invalid shard file %q", indexPath, name, f)
		}
		set[f] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out, nil
}

// ReadWeights reads every tensor of the model in dir: model.safetensors,
// the shards listed in model.safetensors.index.json, or, as transformers
// falls back to them, pytorch_model.bin or the shards of
// pytorch_model.bin.index.json (read safely, see ReadTorchFile). Integer
// position_ids buffers of older checkpoints are skipped, as transformers
// does.
func ReadWeights(dir string) ([]*safetensors.Tensor, error) {
	var files []string
	for _, c := range []struct{ single, index string }{
		{"model.safetensors", "model.safetensors.index.json"},
		{"pytorch_model.bin", "pytorch_model.bin.index.json"},
	} {
		single, index := filepath.Join(dir, c.single), filepath.Join(dir, c.index)
		if fileExists(single) {
			files = []string{single}
			break
		}
		if fileExists(index) {
			shards, err := shardNames(index)
			if err != nil {
				return nil, err
			}
			for _, s := range shards {
				files = append(files, filepath.Join(dir, s))
			}
			break
		}
	}
	if files == nil {
		return nil, fmt.Errorf("model folder %s has no model.safetensors, model.safetensors.index.json or pytorch_model.bin", dir)
	}
	var out []*safetensors.Tensor
	seen := map[string]string{}
	for _, f := range files {
		var ts []*safetensors.Tensor
		if strings.HasSuffix(f, ".bin") {
			var err error
			if ts, err = ReadTorchFile(f); err != nil {
				return nil, err
			}
		} else {
			st, err := safetensors.ReadFile(f)
			if err != nil {
				return nil, err
			}
			ts = st.Tensors
		}
		for _, t := range ts {
			if prev, dup := seen[t.Name]; dup {
				return nil, fmt.Errorf("tensor %s appears in both %s and %s", t.Name, prev, f)
			}
			seen[t.Name] = f
			if t.F32 == nil && strings.HasSuffix(t.Name, "position_ids") {
				continue // a buffer (arange), not a weight
			}
			if t.F32 == nil {
				return nil, fmt.Errorf("%s: tensor %s has integer dtype %s; model weights must be floating point", f, t.Name, t.DType)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// FileMode is the permission of the files gotune writes (readable by
// everyone, as os.WriteFile with the usual umask; os.CreateTemp alone
// would leave 0600).
const FileMode = 0o644

// WriteFileAtomic writes data to path through a temporary file and a rename.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), FileMode); err != nil { // CreateTemp makes it 0600
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// CopyFileAtomic copies src to dst through a temporary file and a rename.
func CopyFileAtomic(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return fmt.Errorf("copying to %s: %w", dst, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("copying to %s: %w", dst, err)
	}
	if err := os.Chmod(tmp.Name(), FileMode); err != nil {
		return fmt.Errorf("copying to %s: %w", dst, err)
	}
	return os.Rename(tmp.Name(), dst)
}

// ReplaceDir moves the finished folder tmp to dst. An existing dst is moved
// aside first and removed only after the rename succeeded, so a crash never
// leaves neither.
func ReplaceDir(tmp, dst string) error {
	old := ""
	if fileExists(dst) {
		old = dst + ".old"
		os.RemoveAll(old)
		if err := os.Rename(dst, old); err != nil {
			return fmt.Errorf("replacing %s: %w", dst, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		if old != "" {
			os.Rename(old, dst)
		}
		return fmt.Errorf("replacing %s: %w", dst, err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// RecoverDir finishes an interrupted ReplaceDir: when dst is missing but
// the moved-aside dst.old exists, it is moved back. It reports whether it
// recovered anything.
func RecoverDir(dst string) (bool, error) {
	if fileExists(dst) || !fileExists(dst+".old") {
		return false, nil
	}
	if err := os.Rename(dst+".old", dst); err != nil {
		return false, fmt.Errorf("recovering %s: %w", dst, err)
	}
	return true, nil
}

// WriteJSON writes v to path as indented JSON, atomically (WriteFileAtomic).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return WriteFileAtomic(path, b)
}
