package spm

import "testing"

// FuzzParseModel feeds arbitrary bytes to the tokenizer.model parser; a
// model it accepts must encode and decode text without panicking, with ids
// inside the vocabulary.
func FuzzParseModel(f *testing.F) {
	pieces := []string{"<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab"}
	for b := 0; b < 256; b++ {
		pieces = append(pieces, "<0x"+string("0123456789ABCDEF"[b>>4])+string("0123456789ABCDEF"[b&15])+">")
	}
	tk, err := New(pieces, make([]float32, len(pieces)), nil, 1, 2, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tk.MarshalModel())
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := ParseModel(b)
		if err != nil {
			return
		}
		for _, s := range []string{"ab a b", "héllo 😀", "\x00\xff"} {
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
