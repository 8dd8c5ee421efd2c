package tokenizer

import (
	"os"
	"testing"
)

var fuzzTexts = []string{"Hello, world! naïve café 東京 \x00\xff", ""}

// fuzzNames are the default special-token names Load starts from.
func fuzzNames() specialNames {
	return specialNames{cls: defaultCLS, sep: defaultSEP, pad: defaultPAD, mask: defaultMASK, unk: defaultUNK}
}

// checkEncode encodes a few texts (including invalid UTF-8) with a parsed
// tokenizer: ids must be in the vocabulary and within the length.
func checkEncode(t *testing.T, tk *Tokenizer) {
	for _, s := range fuzzTexts {
		enc := tk.Encode(s, s, 16)
		if len(enc.IDs) > 16 || len(enc.TypeIDs) != len(enc.IDs) {
			t.Fatalf("Encode(%q) gave %d ids, %d type ids (max 16)", s, len(enc.IDs), len(enc.TypeIDs))
		}
		for _, id := range enc.IDs {
			if id < 0 || int(id) >= tk.VocabSize() {
				t.Fatalf("Encode(%q) gave id %d outside the vocabulary of %d", s, id, tk.VocabSize())
			}
		}
	}
}

// FuzzTokenizerJSON feeds arbitrary bytes to the tokenizer.json parser.
func FuzzTokenizerJSON(f *testing.F) {
	if b, err := os.ReadFile("testdata/bert-seqcls/tokenizer.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2,"[PAD]":3,"a":4,"##b":5}},"normalizer":{"type":"BertNormalizer","lowercase":true},"pre_tokenizer":{"type":"BertPreTokenizer"},"added_tokens":[{"id":6,"content":"<x>","special":true}]}`))
	f.Add([]byte(`{"model":{"type":"WordPiece","vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2,"[PAD]":3,"a":2147483647}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := fromTokenizerJSON("tokenizer.json", b, tokConfig{}, fuzzNames())
		if err != nil {
			return
		}
		checkEncode(t, tk)
	})
}

// FuzzVocabTxt feeds arbitrary bytes to the vocab.txt parser.
func FuzzVocabTxt(f *testing.F) {
	if b, err := os.ReadFile("testdata/bert-seqcls/vocab.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n##b\r\n\xef\xbb\xbf"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := fromVocabTxt("vocab.txt", b, tokConfig{}, fuzzNames())
		if err != nil {
			return
		}
		checkEncode(t, tk)
	})
}
