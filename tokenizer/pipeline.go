package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer holds the settings of a BertNormalizer (tokenizer.json) or of
// the slow BertTokenizer's BasicTokenizer (vocab.txt + tokenizer_config.json).
// Both are implemented by the same code, following the Rust `tokenizers`
// library (the "fast" tokenizer) where the two differ in corner cases.
type normalizer struct {
	cleanText    bool // drop NUL, U+FFFD and control chars; whitespace becomes ' '
	chineseChars bool // surround CJK ideographs with spaces
	stripAccents bool // NFD, then drop nonspacing marks (Mn)
	lowercase    bool
}

// bertNormalizer returns the BERT defaults for a lower-casing or cased model:
// strip_accents unset means "strip when lower-casing".
func bertNormalizer(lower bool) normalizer {
	return normalizer{cleanText: true, chineseChars: true, stripAccents: lower, lowercase: lower}
}

// apply normalizes s.
func (n normalizer) apply(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if n.cleanText {
			if r == 0 || r == utf8.RuneError || isControl(r) {
				continue
			}
			if isWhitespace(r) {
				r = ' '
			}
		}
		if n.chineseChars && isChineseChar(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if n.stripAccents {
		out = stripAccents(out)
	}
	if n.lowercase {
		out = toLower(out)
	}
	return out
}

// stripAccents decomposes s (NFD) and removes nonspacing marks.
func stripAccents(s string) string {
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// toLower lower-cases rune by rune with the full (not simple) Unicode
// mapping, as Rust's char::to_lowercase: the only rune whose full mapping
// differs from the simple one is U+0130 (İ → i + U+0307).
func toLower(s string) string {
	if !strings.ContainsRune(s, '\u0130') {
		return strings.ToLower(s)
	}
	return strings.ToLower(strings.ReplaceAll(s, "\u0130", "i\u0307"))
}

// isControl reports whether r is a control character for BERT's purposes:
// any rune of category C (Cc, Cf, Co, Cs) except tab, newline and carriage
// return, which count as whitespace.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.Is(unicode.C, r)
}

// isWhitespace reports whether r has the Unicode White_Space property (as
// Rust's char::is_whitespace).
func isWhitespace(r rune) bool {
	return unicode.IsSpace(r)
}

// isPunctuation reports whether r is split off as its own token: all
// non-alphanumeric ASCII printable characters (so "$", "^", "`" count) and
// every rune of Unicode category P.
func isPunctuation(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return unicode.IsPunct(r)
}

// isChineseChar reports whether r is in one of the CJK ideograph blocks that
// BERT treats as single-character words. Hangul, Hiragana and Katakana are
// not included (as in BERT).
func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// preTokenize splits normalized text into words: on whitespace (dropped) and,
// when splitPunct is set, around every punctuation rune (kept as a word).
func preTokenize(s string, splitPunct bool) []string {
	var words []string
	start := -1
	for i, r := range s {
		switch {
		case isWhitespace(r):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
		case splitPunct && isPunctuation(r):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
			words = append(words, s[i:i+utf8.RuneLen(r)])
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

// wordPiece appends to ids the greedy longest-match-first WordPiece
// decomposition of word; a word longer than maxChars runes, or one that
// cannot be decomposed, becomes the single unk id.
func (t *Tokenizer) wordPiece(ids []int32, word string) []int32 {
	if utf8.RuneCountInString(word) > t.maxChars {
		return append(ids, t.unkID)
	}
	mark := len(ids)
	start := 0
	for start < len(word) {
		end := len(word)
		found := false
		for end > start {
			piece := word[start:end]
			if start > 0 {
				piece = t.prefix + piece
			}
			if id, ok := t.vocab[piece]; ok {
				ids = append(ids, id)
				found = true
				break
			}
			// Step back one rune.
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if !found {
			return append(ids[:mark], t.unkID)
		}
		start = end
	}
	return ids
}

// addedToken is a token matched verbatim in the raw input text before
// normalization ("[CLS]", "[MASK]", ...).
type addedToken struct {
	content string
	id      int32
}

// sortAdded orders added tokens longest first so that matching is greedy.
func sortAdded(a []addedToken) {
	sort.SliceStable(a, func(i, j int) bool { return len(a[i].content) > len(a[j].content) })
}

// encodeText tokenizes one text segment to ids, without special tokens.
func (t *Tokenizer) encodeText(text string) []int32 {
	var ids []int32
	regular := 0
	for pos := 0; pos < len(text); {
		matched := false
		for _, at := range t.added {
			if at.content != "" && strings.HasPrefix(text[pos:], at.content) {
				ids = t.encodeRegular(ids, text[regular:pos])
				ids = append(ids, at.id)
				pos += len(at.content)
				regular = pos
				matched = true
				break
			}
		}
		if !matched {
			_, size := utf8.DecodeRuneInString(text[pos:])
			pos += size
		}
	}
	return t.encodeRegular(ids, text[regular:])
}

// encodeRegular normalizes, pre-tokenizes and WordPiece-encodes text that
// contains no added token.
func (t *Tokenizer) encodeRegular(ids []int32, text string) []int32 {
	if text == "" {
		return ids
	}
	if t.normalize {
		text = t.norm.apply(text)
	}
	for _, w := range preTokenize(text, t.splitPunct) {
		ids = t.wordPiece(ids, w)
	}
	return ids
}
