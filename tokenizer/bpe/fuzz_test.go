package bpe

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadTokenizerJSON feeds arbitrary bytes to the byte-level BPE
// tokenizer.json reader; a tokenizer it accepts must encode and decode
// text without panicking, with ids inside the vocabulary.
func FuzzLoadTokenizerJSON(f *testing.F) {
	f.Add([]byte(`{"added_tokens":[{"id":5,"content":"<|endoftext|>"}],"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"Ġ":3,"Ġa":4},"merges":["a b",["Ġ","a"]]}}`))
	f.Add([]byte(`{"added_tokens":[{"id":1000000000000,"content":"<x>"}],"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":-1,"b":4000000000},"merges":["a b"]}}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "tokenizer.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		tk, err := LoadTokenizerJSON(p)
		if err != nil {
			return
		}
		for _, s := range []string{"ab a b<|endoftext|>", "héllo 😀", "\x00\xff"} {
			ids := tk.Encode(s)
			for _, id := range ids {
				if id < 0 || id >= tk.VocabSize() {
					t.Fatalf("Encode(%q) gave id %d outside the vocabulary of %d", s, id, tk.VocabSize())
				}
			}
			_ = tk.Decode(ids)
		}
	})
}
