package gguf_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/generate"
	"github.com/gotune/gotune/models/gguf"
	"github.com/gotune/gotune/models/llama"
)

const storiesDir = "../../../shared/assets/models/stories260K"

func loadStories(t *testing.T) *gguf.Model {
	t.Helper()
	path := filepath.Join(storiesDir, "stories260K.gguf")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared assets absent: %v", err)
	}
	m, err := gguf.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStories260KGreedy: 256 greedy tokens from BOS reproduce the
// published sample (greedy_reference_output.txt) byte for byte.
// Every piece of it is also checked token by token through DecodeStep.
func TestStories260KGreedy(t *testing.T) {
	m := loadStories(t)
	want, err := os.ReadFile(filepath.Join(storiesDir, "greedy_reference_output.txt"))
	if err != nil {
		t.Fatal(err)
	}
	backend, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	gen := generate.New(backend, llama.LM{Config: m.Config}, m.Params, nil)
	bos := m.Tokenizer.BOS
	res, err := gen.Generate([][]int{{bos}}, generate.Options{MaxNewTokens: 256, StopTokens: []int{bos}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Tokenizer.Decode(res.New[0])
	var streamed strings.Builder
	prev := bos
	for _, id := range res.New[0] {
		streamed.WriteString(m.Tokenizer.DecodeStep(prev, id))
		prev = id
	}
	if streamed.String() != got {
		t.Errorf("streamed text %q differs from Decode %q", streamed.String(), got)
	}
	// The file ends with the newline llama2.c's run prints after a sample.
	if got+"\n" != string(want) {
		t.Errorf("greedy output differs:\n got: %q\nwant: %q", got, want)
	}
}

func TestStories260KTokenizer(t *testing.T) {
	m := loadStories(t)
	tk := m.Tokenizer
	for _, s := range []string{"Once upon a time, there was a little girl named Lily.", "Hello world", "héllo 😀 wörld", "  two  spaces", ""} {
		ids := tk.Encode(s)
		if got := tk.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%q)) = %q (ids %v)", s, got, ids)
		}
	}
	// Characters outside the 512-piece vocabulary fall back to bytes.
	ids := tk.Encode("😀")
	if len(ids) != 5 || tk.Piece(ids[1]) != "<0xF0>" {
		t.Errorf("Encode(😀) = %v, want ▁ then 4 byte pieces <0xF0><0x9F><0x98><0x80>", ids)
	}
}

func TestQuantisedRefused(t *testing.T) {
	// A GGUF with a quantised tensor is refused by name; build one by
	// flipping the type of the first tensor of the stories file.
	path := filepath.Join(storiesDir, "stories260K.gguf")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("shared assets absent: %v", err)
	}
	// The first tensor info follows the metadata; find its name.
	name := []byte("token_embd.weight")
	i := strings.Index(string(data), string(name))
	if i < 0 {
		t.Fatal("no token_embd.weight in file")
	}
	// name, n_dims uint32, dims uint64 x n, type uint32.
	j := i + len(name)
	nd := int(data[j])
	typeAt := j + 4 + 8*nd
	bad := append([]byte(nil), data...)
	bad[typeAt] = 8 // Q8_0
	tmp := filepath.Join(t.TempDir(), "q.gguf")
	if err := os.WriteFile(tmp, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = gguf.Load(tmp)
	if err == nil || !strings.Contains(err.Error(), "token_embd.weight") || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("Load of a Q8_0 tensor: err = %v, want a 'not supported yet' error naming token_embd.weight", err)
	}
}
