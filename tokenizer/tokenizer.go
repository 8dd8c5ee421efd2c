// Package tokenizer implements BERT's WordPiece tokenizer and loads it from a
// Hugging Face checkpoint folder.
//
// Load reads tokenizer.json (the `tokenizers` library format: BertNormalizer,
// BertPreTokenizer, WordPiece model, TemplateProcessing or BertProcessing
// post-processor) when the folder has one, and otherwise vocab.txt with the
// settings of the slow BertTokenizer from tokenizer_config.json. Both are
// interpreted by the same Go code, so a checkpoint that ships both files
// tokenizes identically either way.
//
// Where the slow (Python) and fast (Rust) Hugging Face tokenizers disagree in
// corner cases, this package follows the fast one, which is what
// AutoTokenizer returns by default: lower-casing is per character (no Greek
// final sigma), U+2028/U+2029 count as whitespace, the text is not
// NFC-normalized first, and `longest_first` truncation splits the budget as
// the Rust code does (see Encode).
//
// Special tokens ("[CLS]", "[MASK]", ...) that occur literally in the input
// text are recognized as those tokens, as both Hugging Face tokenizers do.
package tokenizer

import "fmt"

// Encoding is the model input for one example: token ids and token type
// (segment) ids, of equal length, without padding.
type Encoding struct {
	IDs     []int32
	TypeIDs []int32
}

// Tokenizer is a BERT WordPiece tokenizer. It is safe for concurrent use
// once loaded.
type Tokenizer struct {
	vocab     map[string]int32
	idToToken []string

	normalize  bool // apply norm; false when do_basic_tokenize is false
	norm       normalizer
	splitPunct bool // BertPreTokenizer (true) or WhitespaceSplit (false)
	added      []addedToken

	prefix   string // continuing subword prefix, "##"
	maxChars int    // longer words become unk
	unkToken string

	unkID, clsID, sepID, padID, maskID int32

	single, pair []piece // post-processing templates

	// files holds the tokenizer files Load read (name → content), written
	// back by SaveTo; nil for a tokenizer made by NewWordPiece.
	files map[string][]byte
}

// piece is one element of a post-processing template: a run of special
// token ids, or the first (seq 0) or second (seq 1) sequence.
type piece struct {
	seq    int // -1 for special tokens
	ids    []int32
	typeID int32
}

// Default special token strings of BERT checkpoints.
const (
	defaultCLS  = "[CLS]"
	defaultSEP  = "[SEP]"
	defaultPAD  = "[PAD]"
	defaultMASK = "[MASK]"
	defaultUNK  = "[UNK]"
)

// standardTemplates returns BERT's templates, "[CLS] A [SEP]" and
// "[CLS] A [SEP] B [SEP]" with type id 1 for B and its [SEP].
func standardTemplates(cls, sep int32) (single, pair []piece) {
	single = []piece{{seq: -1, ids: []int32{cls}}, {seq: 0}, {seq: -1, ids: []int32{sep}}}
	pair = []piece{
		{seq: -1, ids: []int32{cls}}, {seq: 0}, {seq: -1, ids: []int32{sep}},
		{seq: 1, typeID: 1}, {seq: -1, ids: []int32{sep}, typeID: 1},
	}
	return single, pair
}

// numSpecial counts the special token ids a template adds.
func numSpecial(tmpl []piece) int {
	n := 0
	for _, p := range tmpl {
		n += len(p.ids)
	}
	return n
}

// Encode tokenizes text (and pair, unless pair is "") and adds the special
// tokens: "[CLS] text [SEP]" or "[CLS] text [SEP] pair [SEP]", with type id
// 0 for the first segment including [CLS] and the first [SEP], and 1 for the
// second segment and its [SEP].
//
// If maxLen > 0 the result is truncated to at most maxLen tokens with Hugging
// Face's `longest_first` strategy: tokens are removed from the end of the
// longer sequence until both fit; when both must be cut, the shorter keeps
// floor(budget/2) tokens and the longer the rest (on a tie the first sequence
// is the shorter one). This is the Rust (fast) tokenizer's rule; the slow
// Python tokenizer differs only in which sequence keeps the odd token when
// the second is at least as long as the first. If maxLen cannot even hold
// the special tokens, only the special tokens are returned.
func (t *Tokenizer) Encode(text, pair string, maxLen int) Encoding {
	if pair != "" {
		return t.EncodePair(text, pair, maxLen)
	}
	a := t.encodeText(text)
	if maxLen > 0 {
		budget := max(maxLen-numSpecial(t.single), 0)
		if len(a) > budget {
			a = a[:budget]
		}
	}
	return assemble(t.single, a, nil)
}

// EncodePair tokenizes a sentence pair with the pair template even when
// pair is empty: "[CLS] a [SEP] [SEP]" for an empty second segment, as
// Hugging Face encodes text_pair="" (only None means no pair). Truncation
// is longest-first.
func (t *Tokenizer) EncodePair(text, pair string, maxLen int) Encoding {
	a := t.encodeText(text)
	b := t.encodeText(pair)
	if maxLen > 0 {
		n1, n2 := longestFirst(len(a), len(b), max(maxLen-numSpecial(t.pair), 0))
		a, b = a[:n1], b[:n2]
	}
	return assemble(t.pair, a, b)
}

// longestFirst returns the lengths to keep of two sequences of lengths la and
// lb so that they fit in budget, following the Rust tokenizers library's
// LongestFirst truncation.
func longestFirst(la, lb, budget int) (int, int) {
	if la+lb <= budget {
		return la, lb
	}
	n1, n2 := la, lb
	swap := n1 > n2
	if swap {
		n1, n2 = n2, n1
	}
	if n1 > budget {
		n2 = n1
	} else {
		n2 = max(n1, budget-n1)
	}
	if n1+n2 > budget {
		n1 = budget / 2
		n2 = n1 + budget%2
	}
	if swap {
		n1, n2 = n2, n1
	}
	return min(n1, la), min(n2, lb)
}

// assemble fills a template with sequences a and b.
func assemble(tmpl []piece, a, b []int32) Encoding {
	n := len(a) + len(b) + numSpecial(tmpl)
	e := Encoding{IDs: make([]int32, 0, n), TypeIDs: make([]int32, 0, n)}
	for _, p := range tmpl {
		ids := p.ids
		switch p.seq {
		case 0:
			ids = a
		case 1:
			ids = b
		}
		e.IDs = append(e.IDs, ids...)
		for range ids {
			e.TypeIDs = append(e.TypeIDs, p.typeID)
		}
	}
	return e
}

// Tokenize returns the WordPiece tokens of text, without special tokens
// added around it. Words that cannot be decomposed appear as the unknown
// token ("[UNK]").
func (t *Tokenizer) Tokenize(text string) []string {
	ids := t.encodeText(text)
	toks := make([]string, len(ids))
	for i, id := range ids {
		toks[i] = t.IDToToken(id)
	}
	return toks
}

// TokensToIDs maps tokens to their ids; a token not in the vocabulary maps
// to the unknown token's id.
func (t *Tokenizer) TokensToIDs(tokens []string) []int32 {
	ids := make([]int32, len(tokens))
	for i, tok := range tokens {
		id, ok := t.vocab[tok]
		if !ok {
			id = t.unkID
		}
		ids[i] = id
	}
	return ids
}

// IDToToken returns the token with the given id, or "" if there is none.
func (t *Tokenizer) IDToToken(id int32) string {
	if id < 0 || int(id) >= len(t.idToToken) {
		return ""
	}
	return t.idToToken[id]
}

// VocabSize returns the number of token ids: one more than the largest id
// of the vocabulary and added tokens (for BERT, the lines of vocab.txt).
func (t *Tokenizer) VocabSize() int { return len(t.idToToken) }

// PadID returns the id of the padding token ("[PAD]").
func (t *Tokenizer) PadID() int32 { return t.padID }

// CLSID returns the id of the classification token ("[CLS]").
func (t *Tokenizer) CLSID() int32 { return t.clsID }

// SEPID returns the id of the separator token ("[SEP]").
func (t *Tokenizer) SEPID() int32 { return t.sepID }

// MaskID returns the id of the mask token ("[MASK]"), or -1 if the
// vocabulary has none.
func (t *Tokenizer) MaskID() int32 { return t.maskID }

// UNKID returns the id of the unknown token ("[UNK]").
func (t *Tokenizer) UNKID() int32 { return t.unkID }

// LowerCase reports whether the tokenizer lower-cases its input.
func (t *Tokenizer) LowerCase() bool { return t.normalize && t.norm.lowercase }

// String describes the tokenizer briefly, for logs.
func (t *Tokenizer) String() string {
	return fmt.Sprintf("WordPiece tokenizer (%d tokens, lowercase=%v)", t.VocabSize(), t.LowerCase())
}
