package bpe

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

const dir = "../../../shared/assets/tokenizers/gpt2-bpe"

func load(t *testing.T) *Tokenizer {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared assets absent: %v", err)
	}
	tk, err := Load(filepath.Join(dir, "encoder.json"), filepath.Join(dir, "vocab.bpe"))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestGPT2Known(t *testing.T) {
	tk := load(t)
	for _, c := range []struct {
		text string
		ids  []int
	}{
		{"Hello world", []int{15496, 995}},
		{"Hello, world!", []int{15496, 11, 995, 0}},
		{"<|endoftext|>", []int{50256}},
		{" ", []int{220}},
	} {
		if got := tk.Encode(c.text); !reflect.DeepEqual(got, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.ids)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	tk := load(t)
	for _, s := range []string{"Hello world", "héllo wörld — naïve café", "emoji 😀🎉 ok", "한국어 텍스트", "tabs\tand\n\nnewlines  ", "it's we'll they're", "1234 5678"} {
		ids := tk.Encode(s)
		if got := tk.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%q)) = %q (%v)", s, got, ids)
		}
	}
}

func TestPreTokenize(t *testing.T) {
	got := PreTokenize("Hello  world's 42!!\n\nok  ")
	// \s+(?!\S) backtracks: "\n\n" before a word is two tokens, as in GPT-2.
	want := []string{"Hello", " ", " world", "'s", " 42", "!!", "\n", "\n", "ok", "  "}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PreTokenize = %q, want %q", got, want)
	}
}
