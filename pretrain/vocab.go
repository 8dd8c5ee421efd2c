package pretrain

import (
	"sort"
	"unicode/utf8"

	"github.com/gotune/gotune/tokenizer"
)

// SpecialTokens are the first entries of a vocabulary BuildVocab makes:
// [PAD] is id 0, as in BERT's pad_token_id.
func SpecialTokens() []string { return []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} }

// baseCharacters are always in the vocabulary, alone and as "##"
// continuations, so any lower-case ASCII word can be spelled even if the
// texts never had it.
const baseCharacters = "abcdefghijklmnopqrstuvwxyz0123456789.,:;!?'-\"()"

// VocabOptions configure BuildVocab.
type VocabOptions struct {
	// LowerCase is the tokenizer's do_lower_case: words are counted as an
	// uncased tokenizer sees them (lower-cased, accents stripped). Leave it
	// false for scripts that accent stripping breaks up, such as Hangul,
	// whose syllables NFD decomposes into jamo.
	LowerCase bool
	// Size caps the vocabulary (0: every word of the texts). Special tokens
	// and characters always fit; the most frequent words fill the rest.
	Size int
	// MinCharCount is how often a character must occur to enter the
	// vocabulary alone and as a "##" continuation (0 means 1); rarer ones
	// become [UNK].
	MinCharCount int
}

// BuildVocab returns a WordPiece vocabulary for texts: the special tokens;
// the ASCII letters, digits and common punctuation plus every character of
// the texts seen at least MinCharCount times, each alone and as a "##"
// continuation (so any word made of them can be spelled); then the words of
// the texts made of those characters, most frequent first (ties in byte
// order), up to Size. Words
// are counted as the tokenizer will see them (tokenizer.PreTokenizeBERT),
// so a frequent word is one token and a rare one is spelled from its
// longest known prefix and characters: with Korean, a frequent stem
// ("영화") followed by its particle ("##는").
func BuildVocab(texts []string, o VocabOptions) []string {
	minChars := max(1, o.MinCharCount)
	wordCount := map[string]int{}
	charCount := map[string]int{}
	for _, t := range texts {
		for _, w := range tokenizer.PreTokenizeBERT(t, o.LowerCase) {
			wordCount[w]++
			for _, r := range w {
				charCount[string(r)]++
			}
		}
	}
	vocab := SpecialTokens()
	seen := map[string]bool{}
	for _, t := range vocab {
		seen[t] = true
	}
	var chars []string
	for _, c := range baseCharacters {
		chars = append(chars, string(c))
		seen[string(c)] = true
	}
	var extra []string
	for c, n := range charCount {
		if n >= minChars && !seen[c] {
			extra = append(extra, c)
			seen[c] = true
		}
	}
	sortByCount(extra, charCount)
	chars = append(chars, extra...)
	vocab = append(vocab, chars...)
	for _, c := range chars {
		vocab = append(vocab, "##"+c)
	}
	var ws []string
	for w := range wordCount {
		if !seen[w] && utf8.RuneCountInString(w) > 1 && spelled(w, seen) {
			ws = append(ws, w)
		}
	}
	sortByCount(ws, wordCount)
	if o.Size > 0 {
		ws = ws[:max(0, min(len(ws), o.Size-len(vocab)))]
	}
	return append(vocab, ws...)
}

// spelled reports whether every character of w is in the vocabulary (a
// word with a rare character stays out, so that it becomes [UNK] as its
// characters do).
func spelled(w string, vocab map[string]bool) bool {
	for _, r := range w {
		if !vocab[string(r)] {
			return false
		}
	}
	return true
}

// sortByCount orders xs most frequent first, ties in byte order.
func sortByCount(xs []string, count map[string]int) {
	sort.Slice(xs, func(i, j int) bool {
		if count[xs[i]] != count[xs[j]] {
			return count[xs[i]] > count[xs[j]]
		}
		return xs[i] < xs[j]
	})
}
