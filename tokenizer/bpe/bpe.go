// Package bpe is GPT-2's byte-level BPE tokenizer: text is split by GPT-2's
// pre-tokenisation pattern, each piece's UTF-8 bytes are mapped to printable
// characters (bytes_to_unicode), and merges are applied by rank. It reads
// OpenAI's encoder.json + vocab.bpe (Load) or a Hugging Face tokenizer.json
// whose model is BPE with a ByteLevel pre-tokenizer (LoadTokenizerJSON).
package bpe

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode"
)

// Tokenizer encodes and decodes GPT-2 byte-level BPE.
type Tokenizer struct {
	vocab   map[string]int
	inverse []string
	ranks   map[[2]string]int
	byteTo  [256]rune
	runeTo  map[rune]byte
	cache   map[string][]int
	// Special maps added tokens (e.g. "<|endoftext|>") to ids; Encode
	// matches them literally.
	Special map[string]int
}

// New builds a tokenizer from a vocabulary and merges in rank order.
func New(vocab map[string]int, merges [][2]string) *Tokenizer {
	t := &Tokenizer{vocab: vocab, ranks: make(map[[2]string]int, len(merges)), runeTo: map[rune]byte{}, cache: map[string][]int{}, Special: map[string]int{}}
	n := 0
	for _, id := range vocab {
		n = max(n, id+1)
	}
	t.inverse = make([]string, n)
	for s, id := range vocab {
		t.inverse[id] = s
	}
	for i, m := range merges {
		if _, ok := t.ranks[m]; !ok {
			t.ranks[m] = i
		}
	}
	// bytes_to_unicode: printable latin-1 bytes map to themselves, the rest
	// to 256, 257, ...
	next := rune(256)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t.byteTo[b] = rune(b)
		} else {
			t.byteTo[b] = next
			next++
		}
		t.runeTo[t.byteTo[b]] = byte(b)
	}
	if id, ok := vocab["<|endoftext|>"]; ok {
		t.Special["<|endoftext|>"] = id
	}
	return t
}

// Load reads OpenAI's encoder.json and vocab.bpe.
func Load(encoderPath, mergesPath string) (*Tokenizer, error) {
	data, err := os.ReadFile(encoderPath)
	if err != nil {
		return nil, err
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("%s: %w", encoderPath, err)
	}
	if err := checkIDs(encoderPath, vocab, 0); err != nil {
		return nil, err
	}
	mdata, err := os.ReadFile(mergesPath)
	if err != nil {
		return nil, err
	}
	var merges [][2]string
	for i, line := range strings.Split(string(mdata), "\n") {
		if line == "" || (i == 0 && strings.HasPrefix(line, "#version")) {
			continue
		}
		a, b, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("%s:%d: merge %q is not two symbols", mergesPath, i+1, line)
		}
		merges = append(merges, [2]string{a, b})
	}
	return New(vocab, merges), nil
}

// LoadTokenizerJSON reads a Hugging Face tokenizer.json with a BPE model and
// a ByteLevel pre-tokenizer (GPT-2, RoBERTa, ...).
func LoadTokenizerJSON(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
		PreTokenizer *struct {
			Type          string            `json:"type"`
			Pretokenizers []json.RawMessage `json:"pretokenizers"`
		} `json:"pre_tokenizer"`
		Model struct {
			Type   string            `json:"type"`
			Vocab  map[string]int    `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Model.Type != "BPE" {
		return nil, fmt.Errorf("%s: model type %q is not BPE", path, f.Model.Type)
	}
	if f.PreTokenizer == nil || (f.PreTokenizer.Type != "ByteLevel" && !strings.Contains(string(data), `"ByteLevel"`)) {
		return nil, fmt.Errorf("%s: pre_tokenizer is not ByteLevel (only GPT-2-style byte-level BPE is supported)", path)
	}
	var merges [][2]string
	for i, raw := range f.Model.Merges {
		var s string
		var pair [2]string
		if json.Unmarshal(raw, &s) == nil {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("%s: merge %d %q is not two symbols", path, i, s)
			}
			pair = [2]string{a, b}
		} else if err := json.Unmarshal(raw, &pair); err != nil {
			return nil, fmt.Errorf("%s: merge %d: %w", path, i, err)
		}
		merges = append(merges, pair)
	}
	if err := checkIDs(path, f.Model.Vocab, len(f.AddedTokens)); err != nil {
		return nil, err
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= len(f.Model.Vocab)+len(f.AddedTokens) {
			return nil, fmt.Errorf("%s: added token %q has id %d, outside the %d vocabulary and added tokens", path, a.Content, a.ID, len(f.Model.Vocab)+len(f.AddedTokens))
		}
	}
	t := New(f.Model.Vocab, merges)
	for _, a := range f.AddedTokens {
		t.Special[a.Content] = a.ID
		if a.ID >= len(t.inverse) {
			t.inverse = append(t.inverse, make([]string, a.ID+1-len(t.inverse))...)
		}
		t.inverse[a.ID] = a.Content
	}
	return t, nil
}

// checkIDs refuses vocabulary ids that are negative or beyond the number
// of tokens (the vocabulary and extra added tokens): ids are dense, and a
// hostile id must not size the id table.
func checkIDs(path string, vocab map[string]int, extra int) error {
	for s, id := range vocab {
		if id < 0 || id >= len(vocab)+extra {
			return fmt.Errorf("%s: token %q has id %d, outside the %d tokens of the vocabulary", path, s, id, len(vocab)+extra)
		}
	}
	return nil
}

// VocabSize returns the number of ids.
func (t *Tokenizer) VocabSize() int { return len(t.inverse) }

// Encode returns the ids of text (special tokens in Special are matched
// literally).
func (t *Tokenizer) Encode(text string) []int {
	var ids []int
	for text != "" {
		at, tok := len(text), ""
		for s := range t.Special {
			if i := strings.Index(text, s); i >= 0 && (i < at || (i == at && len(s) > len(tok))) {
				at, tok = i, s
			}
		}
		for _, piece := range PreTokenize(text[:at]) {
			ids = append(ids, t.encodePiece(piece)...)
		}
		if tok == "" {
			break
		}
		ids = append(ids, t.Special[tok])
		text = text[at+len(tok):]
	}
	return ids
}

func (t *Tokenizer) encodePiece(piece string) []int {
	if ids, ok := t.cache[piece]; ok {
		return ids
	}
	var word []string
	for i := 0; i < len(piece); i++ {
		word = append(word, string(t.byteTo[piece[i]]))
	}
	for len(word) > 1 {
		best, bestRank := -1, 0
		for i := 0; i+1 < len(word); i++ {
			if r, ok := t.ranks[[2]string{word[i], word[i+1]}]; ok && (best < 0 || r < bestRank) {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		// Merge every occurrence of the pair, left to right (as GPT-2's bpe()).
		a, b := word[best], word[best+1]
		var out []string
		for i := 0; i < len(word); i++ {
			if i+1 < len(word) && word[i] == a && word[i+1] == b {
				out = append(out, a+b)
				i++
			} else {
				out = append(out, word[i])
			}
		}
		word = out
	}
	ids := make([]int, 0, len(word))
	for _, w := range word {
		if id, ok := t.vocab[w]; ok {
			ids = append(ids, id)
		}
	}
	t.cache[piece] = ids
	return ids
}

// Decode returns the text of ids (invalid UTF-8 from a partial character
// is kept as bytes).
func (t *Tokenizer) Decode(ids []int) string {
	var b []byte
	for _, id := range ids {
		b = append(b, t.TokenBytes(id)...)
	}
	return string(b)
}

// TokenBytes returns the raw bytes of one token (for streaming).
func (t *Tokenizer) TokenBytes(id int) []byte {
	if id < 0 || id >= len(t.inverse) {
		return nil
	}
	s := t.inverse[id]
	if _, special := t.Special[s]; special {
		return []byte(s)
	}
	var b []byte
	for _, r := range s {
		if c, ok := t.runeTo[r]; ok {
			b = append(b, c)
		} else {
			b = append(b, string(r)...)
		}
	}
	return b
}

// PreTokenize splits text as GPT-2's pattern
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// does.
func PreTokenize(text string) []string {
	r := []rune(text)
	n := len(r)
	var out []string
	isL := func(c rune) bool { return unicode.IsLetter(c) }
	isN := func(c rune) bool { return unicode.IsNumber(c) }
	isS := func(c rune) bool { return unicode.IsSpace(c) }
	isO := func(c rune) bool { return !isS(c) && !isL(c) && !isN(c) }
	run := func(i int, f func(rune) bool) int {
		for i < n && f(r[i]) {
			i++
		}
		return i
	}
	for i := 0; i < n; {
		if r[i] == '\'' && i+1 < n {
			if i+2 < n {
				if two := string(r[i+1 : i+3]); two == "re" || two == "ve" || two == "ll" {
					out = append(out, string(r[i:i+3]))
					i += 3
					continue
				}
			}
			if c := r[i+1]; c == 's' || c == 't' || c == 'm' || c == 'd' {
				out = append(out, string(r[i:i+2]))
				i += 2
				continue
			}
		}
		start, j := i, i
		if r[j] == ' ' && j+1 < n && !isS(r[j+1]) {
			j++
		}
		var end int
		switch c := r[j]; {
		case isL(c):
			end = run(j, isL)
		case isN(c):
			end = run(j, isN)
		case isO(c):
			end = run(j, isO)
		default: // whitespace
			end = run(i, isS)
			if end < n && end-i > 1 {
				end-- // \s+(?!\S): leave the last space to the next token
			}
		}
		out = append(out, string(r[start:end]))
		i = end
	}
	return out
}
