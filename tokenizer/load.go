package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File names of a Hugging Face tokenizer.
const (
	TokenizerJSON     = "tokenizer.json"
	VocabTxt          = "vocab.txt"
	TokenizerConfig   = "tokenizer_config.json"
	SpecialTokensMap  = "special_tokens_map.json"
	maxInputCharsWord = 100
)

// Load loads the tokenizer of the checkpoint folder dir: from tokenizer.json
// if present, else from vocab.txt (with tokenizer_config.json's
// do_lower_case, default true, strip_accents and tokenize_chinese_chars).
// Special tokens are named by special_tokens_map.json or
// tokenizer_config.json when present, else "[CLS]", "[SEP]", "[PAD]",
// "[MASK]" and "[UNK]"; all but the mask token must be in the vocabulary.
// Errors name the file and, for malformed JSON, the line.
func Load(dir string) (*Tokenizer, error) {
	files := map[string][]byte{}
	for _, name := range []string{TokenizerJSON, VocabTxt, TokenizerConfig, SpecialTokensMap} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		files[name] = data
	}
	var cfg tokConfig
	if data, ok := files[TokenizerConfig]; ok {
		if err := unmarshal(filepath.Join(dir, TokenizerConfig), data, &cfg); err != nil {
			return nil, err
		}
	}
	names := specialNames{cls: defaultCLS, sep: defaultSEP, pad: defaultPAD, mask: defaultMASK, unk: defaultUNK}
	names.update(cfg.specialTokens)
	if data, ok := files[SpecialTokensMap]; ok {
		var m specialTokens
		if err := unmarshal(filepath.Join(dir, SpecialTokensMap), data, &m); err != nil {
			return nil, err
		}
		names.update(m)
	}

	var t *Tokenizer
	var err error
	switch {
	case files[TokenizerJSON] != nil:
		t, err = fromTokenizerJSON(filepath.Join(dir, TokenizerJSON), files[TokenizerJSON], cfg, names)
	case files[VocabTxt] != nil:
		t, err = fromVocabTxt(filepath.Join(dir, VocabTxt), files[VocabTxt], cfg, names)
	default:
		return nil, fmt.Errorf("tokenizer: %s: no %s or %s", dir, TokenizerJSON, VocabTxt)
	}
	if err != nil {
		return nil, err
	}
	t.files = files
	return t, nil
}

// unmarshal decodes JSON, reporting syntax errors as path:line:col.
func unmarshal(path string, data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(data, se.Offset-1) // Offset counts the bad byte
		return fmt.Errorf("%s:%d:%d: not valid JSON: %v", path, line, col, err)
	case errors.As(err, &te):
		line, col := lineCol(data, te.Offset)
		return fmt.Errorf("%s:%d:%d: field %q: %v", path, line, col, te.Field, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// tokenString is a special token as written in tokenizer_config.json or
// special_tokens_map.json: a string, or an AddedToken object with "content".
type tokenString string

// UnmarshalJSON accepts "x" and {"content": "x", ...}.
func (s *tokenString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = tokenString(str)
		return nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("special token must be a string or an object with \"content\": %s", b)
	}
	*s = tokenString(obj.Content)
	return nil
}

// specialTokens is the special-token part of special_tokens_map.json and
// tokenizer_config.json.
type specialTokens struct {
	CLS  tokenString `json:"cls_token"`
	SEP  tokenString `json:"sep_token"`
	PAD  tokenString `json:"pad_token"`
	Mask tokenString `json:"mask_token"`
	UNK  tokenString `json:"unk_token"`
}

// tokConfig is the part of tokenizer_config.json this package reads.
type tokConfig struct {
	specialTokens
	DoLowerCase          *bool `json:"do_lower_case"`
	StripAccents         *bool `json:"strip_accents"`
	TokenizeChineseChars *bool `json:"tokenize_chinese_chars"`
	DoBasicTokenize      *bool `json:"do_basic_tokenize"`
	AddedTokensDecoder   map[string]struct {
		Content string `json:"content"`
	} `json:"added_tokens_decoder"`
}

// specialNames are the strings of the special tokens.
type specialNames struct{ cls, sep, pad, mask, unk string }

// update overrides the names that s sets.
func (n *specialNames) update(s specialTokens) {
	set := func(dst *string, v tokenString) {
		if v != "" {
			*dst = string(v)
		}
	}
	set(&n.cls, s.CLS)
	set(&n.sep, s.SEP)
	set(&n.pad, s.PAD)
	set(&n.mask, s.Mask)
	set(&n.unk, s.UNK)
}

// resolveSpecials looks the special tokens up in t.vocab; src names the file
// for errors.
func (t *Tokenizer) resolveSpecials(src string, n specialNames) error {
	for _, s := range []struct {
		field, tok string
		dst        *int32
		optional   bool
	}{
		{"unk_token", n.unk, &t.unkID, false},
		{"cls_token", n.cls, &t.clsID, false},
		{"sep_token", n.sep, &t.sepID, false},
		{"pad_token", n.pad, &t.padID, false},
		{"mask_token", n.mask, &t.maskID, true},
	} {
		id, ok := t.vocab[s.tok]
		switch {
		case ok:
			*s.dst = id
		case s.optional:
			*s.dst = -1
		default:
			return fmt.Errorf("%s: %s %q is not in the vocabulary", src, s.field, s.tok)
		}
	}
	return nil
}

// fromVocabTxt builds the slow BertTokenizer's pipeline on vocab.txt.
func fromVocabTxt(path string, data []byte, cfg tokConfig, names specialNames) (*Tokenizer, error) {
	t := &Tokenizer{vocab: map[string]int32{}, prefix: "##", maxChars: maxInputCharsWord, splitPunct: true, normalize: true}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		tok := strings.TrimSuffix(sc.Text(), "\r")
		t.vocab[tok] = int32(len(t.idToToken))
		t.idToToken = append(t.idToToken, tok)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, len(t.idToToken)+1, err)
	}
	if len(t.idToToken) == 0 {
		return nil, fmt.Errorf("%s: empty vocabulary", path)
	}
	lower := true
	if cfg.DoLowerCase != nil {
		lower = *cfg.DoLowerCase
	}
	t.norm = bertNormalizer(lower)
	if cfg.StripAccents != nil {
		t.norm.stripAccents = *cfg.StripAccents
	}
	if cfg.TokenizeChineseChars != nil {
		t.norm.chineseChars = *cfg.TokenizeChineseChars
	}
	if cfg.DoBasicTokenize != nil && !*cfg.DoBasicTokenize {
		t.normalize, t.splitPunct = false, false
	}
	if err := t.resolveSpecials(path, names); err != nil {
		return nil, err
	}
	t.unkToken = names.unk
	// Special and added tokens are matched verbatim in the input.
	seen := map[string]bool{}
	addAdded := func(tok string) {
		if id, ok := t.vocab[tok]; ok && tok != "" && !seen[tok] {
			seen[tok] = true
			t.added = append(t.added, addedToken{tok, id})
		}
	}
	for _, tok := range []string{names.unk, names.cls, names.sep, names.pad, names.mask} {
		addAdded(tok)
	}
	for _, at := range cfg.AddedTokensDecoder {
		addAdded(at.Content)
	}
	sortAdded(t.added)
	t.single, t.pair = standardTemplates(t.clsID, t.sepID)
	return t, nil
}

// tokenizerJSON is the part of tokenizer.json this package reads.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID      *int32 `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type                    string           `json:"type"`
		UnkToken                *string          `json:"unk_token"`
		ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    *int             `json:"max_input_chars_per_word"`
		Vocab                   map[string]int32 `json:"vocab"`
	} `json:"model"`
}

// typed is the "type" field of a tokenizer.json component.
type typed struct {
	Type string `json:"type"`
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// fromTokenizerJSON interprets a BERT WordPiece tokenizer.json.
func fromTokenizerJSON(path string, data []byte, cfg tokConfig, names specialNames) (*Tokenizer, error) {
	var tj tokenizerJSON
	if err := unmarshal(path, data, &tj); err != nil {
		return nil, err
	}
	m := tj.Model
	if m.Type != "WordPiece" && !(m.Type == "" && m.ContinuingSubwordPrefix != nil) {
		return nil, fmt.Errorf("%s: model.type %q is not supported (only WordPiece, as used by BERT)", path, m.Type)
	}
	if len(m.Vocab) == 0 {
		return nil, fmt.Errorf("%s: model.vocab is empty", path)
	}
	t := &Tokenizer{vocab: make(map[string]int32, len(m.Vocab)+len(tj.AddedTokens)), prefix: "##", maxChars: maxInputCharsWord}
	if m.ContinuingSubwordPrefix != nil {
		t.prefix = *m.ContinuingSubwordPrefix
	}
	if m.MaxInputCharsPerWord != nil {
		t.maxChars = *m.MaxInputCharsPerWord
	}
	// Ids are dense: one beyond the token count would only size the id
	// table (a hostile 2^31-1 would take 32 GB).
	n := len(m.Vocab) + len(tj.AddedTokens)
	size := int32(0)
	for tok, id := range m.Vocab {
		if id < 0 || int(id) >= n {
			return nil, fmt.Errorf("%s: model.vocab[%q] = %d: the id is negative or beyond the %d tokens of model.vocab and added_tokens", path, tok, id, n)
		}
		t.vocab[tok] = id
		size = max(size, id+1)
	}
	for i, at := range tj.AddedTokens {
		if at.ID == nil || *at.ID < 0 || int(*at.ID) >= n {
			return nil, fmt.Errorf("%s: added_tokens[%d] (%q): the id is missing, negative or beyond the %d tokens of model.vocab and added_tokens", path, i, at.Content, n)
		}
		t.vocab[at.Content] = *at.ID
		size = max(size, *at.ID+1)
		t.added = append(t.added, addedToken{at.Content, *at.ID})
	}
	sortAdded(t.added)
	t.idToToken = make([]string, size)
	for tok, id := range m.Vocab {
		t.idToToken[id] = tok
	}
	for _, at := range tj.AddedTokens {
		t.idToToken[*at.ID] = at.Content
	}

	if err := t.parseNormalizer(path, tj.Normalizer, cfg); err != nil {
		return nil, err
	}
	if err := t.parsePreTokenizer(path, tj.PreTokenizer); err != nil {
		return nil, err
	}
	if m.UnkToken != nil {
		names.unk = *m.UnkToken
	}
	t.unkToken = names.unk
	if err := t.resolveSpecials(path, names); err != nil {
		return nil, err
	}
	if err := t.parsePostProcessor(path, tj.PostProcessor); err != nil {
		return nil, err
	}
	return t, nil
}

// parseNormalizer reads tokenizer.json's "normalizer". As transformers'
// BertTokenizerFast does, do_lower_case, strip_accents and
// tokenize_chinese_chars set explicitly in tokenizer_config.json override it.
func (t *Tokenizer) parseNormalizer(path string, raw json.RawMessage, cfg tokConfig) error {
	if isNull(raw) {
		t.normalize = false
		return nil
	}
	var n struct {
		typed
		CleanText          *bool `json:"clean_text"`
		HandleChineseChars *bool `json:"handle_chinese_chars"`
		StripAccents       *bool `json:"strip_accents"`
		Lowercase          *bool `json:"lowercase"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return fmt.Errorf("%s: normalizer: %v", path, err)
	}
	if n.Type != "BertNormalizer" {
		return fmt.Errorf("%s: normalizer.type %q is not supported (only BertNormalizer or null)", path, n.Type)
	}
	get := func(p *bool, def bool) bool {
		if p == nil {
			return def
		}
		return *p
	}
	t.normalize = true
	t.norm.cleanText = get(n.CleanText, true)
	t.norm.chineseChars = get(n.HandleChineseChars, true)
	t.norm.lowercase = get(n.Lowercase, true)
	if cfg.DoLowerCase != nil {
		t.norm.lowercase = *cfg.DoLowerCase
	}
	strip := n.StripAccents
	if cfg.StripAccents != nil {
		strip = cfg.StripAccents
	}
	t.norm.stripAccents = get(strip, t.norm.lowercase)
	if cfg.TokenizeChineseChars != nil {
		t.norm.chineseChars = *cfg.TokenizeChineseChars
	}
	return nil
}

// parsePreTokenizer reads tokenizer.json's "pre_tokenizer".
func (t *Tokenizer) parsePreTokenizer(path string, raw json.RawMessage) error {
	if isNull(raw) {
		return fmt.Errorf("%s: pre_tokenizer is missing (BERT uses BertPreTokenizer)", path)
	}
	var p typed
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("%s: pre_tokenizer: %v", path, err)
	}
	switch p.Type {
	case "BertPreTokenizer":
		t.splitPunct = true
	case "WhitespaceSplit":
		t.splitPunct = false
	default:
		return fmt.Errorf("%s: pre_tokenizer.type %q is not supported (only BertPreTokenizer or WhitespaceSplit)", path, p.Type)
	}
	return nil
}

// templateItem is one element of a TemplateProcessing template.
type templateItem struct {
	SpecialToken *struct {
		ID     string `json:"id"`
		TypeID int32  `json:"type_id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID     string `json:"id"`
		TypeID int32  `json:"type_id"`
	} `json:"Sequence"`
}

// parsePostProcessor reads tokenizer.json's "post_processor":
// TemplateProcessing, BertProcessing or null (no special tokens).
func (t *Tokenizer) parsePostProcessor(path string, raw json.RawMessage) error {
	if isNull(raw) {
		t.single = []piece{{seq: 0}}
		t.pair = []piece{{seq: 0}, {seq: 1, typeID: 1}}
		return nil
	}
	var pp struct {
		typed
		Single        []templateItem `json:"single"`
		Pair          []templateItem `json:"pair"`
		SpecialTokens map[string]struct {
			IDs []int32 `json:"ids"`
		} `json:"special_tokens"`
		CLS []json.RawMessage `json:"cls"`
		SEP []json.RawMessage `json:"sep"`
	}
	if err := json.Unmarshal(raw, &pp); err != nil {
		return fmt.Errorf("%s: post_processor: %v", path, err)
	}
	switch pp.Type {
	case "BertProcessing":
		var cls, sep int32
		if len(pp.CLS) != 2 || json.Unmarshal(pp.CLS[1], &cls) != nil {
			return fmt.Errorf("%s: post_processor.cls: want [token, id]", path)
		}
		if len(pp.SEP) != 2 || json.Unmarshal(pp.SEP[1], &sep) != nil {
			return fmt.Errorf("%s: post_processor.sep: want [token, id]", path)
		}
		t.single, t.pair = standardTemplates(cls, sep)
		return nil
	case "TemplateProcessing":
	default:
		return fmt.Errorf("%s: post_processor.type %q is not supported (only TemplateProcessing, BertProcessing or null)", path, pp.Type)
	}
	conv := func(field string, items []templateItem) ([]piece, error) {
		if len(items) == 0 {
			return nil, fmt.Errorf("%s: post_processor.%s: empty template", path, field)
		}
		var out []piece
		for i, it := range items {
			switch {
			case it.SpecialToken != nil:
				st, ok := pp.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("%s: post_processor.%s[%d]: special token %q not in post_processor.special_tokens", path, field, i, it.SpecialToken.ID)
				}
				out = append(out, piece{seq: -1, ids: st.IDs, typeID: it.SpecialToken.TypeID})
			case it.Sequence != nil:
				seq := -1
				switch it.Sequence.ID {
				case "A":
					seq = 0
				case "B":
					seq = 1
				}
				if seq < 0 {
					return nil, fmt.Errorf("%s: post_processor.%s[%d]: sequence id %q (want A or B)", path, field, i, it.Sequence.ID)
				}
				out = append(out, piece{seq: seq, typeID: it.Sequence.TypeID})
			default:
				return nil, fmt.Errorf("%s: post_processor.%s[%d]: neither SpecialToken nor Sequence", path, field, i)
			}
		}
		return out, nil
	}
	var err error
	if t.single, err = conv("single", pp.Single); err != nil {
		return err
	}
	t.pair, err = conv("pair", pp.Pair)
	return err
}
