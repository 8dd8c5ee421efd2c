package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// NewWordPiece returns a BERT WordPiece tokenizer over vocab (token i has id
// i), lower-casing and stripping accents if lowerCase. The special tokens
// are "[CLS]", "[SEP]", "[PAD]", "[MASK]" and "[UNK]"; the vocabulary should
// contain them (a missing one has id -1 and is left out of encodings, and
// WriteVocab refuses to write such a tokenizer). If a token occurs twice,
// the later id wins, as in the slow BertTokenizer.
func NewWordPiece(vocab []string, lowerCase bool) *Tokenizer {
	t := &Tokenizer{
		vocab:      make(map[string]int32, len(vocab)),
		idToToken:  append([]string(nil), vocab...),
		normalize:  true,
		norm:       bertNormalizer(lowerCase),
		splitPunct: true,
		prefix:     "##",
		maxChars:   maxInputCharsWord,
		unkToken:   defaultUNK,
	}
	for i, tok := range vocab {
		t.vocab[tok] = int32(i)
	}
	lookup := func(tok string) int32 {
		if id, ok := t.vocab[tok]; ok {
			t.added = append(t.added, addedToken{tok, id})
			return id
		}
		return -1
	}
	t.unkID, t.clsID, t.sepID = lookup(defaultUNK), lookup(defaultCLS), lookup(defaultSEP)
	t.padID, t.maskID = lookup(defaultPAD), lookup(defaultMASK)
	sortAdded(t.added)
	t.single, t.pair = standardTemplates(t.clsID, t.sepID)
	// Leave out special tokens the vocabulary lacks.
	for _, tmpl := range []*[]piece{&t.single, &t.pair} {
		kept := (*tmpl)[:0]
		for _, p := range *tmpl {
			if p.seq >= 0 || p.ids[0] >= 0 {
				kept = append(kept, p)
			}
		}
		*tmpl = kept
	}
	return t
}

// SaveTo writes the tokenizer files into dir (created if needed): a copy of
// those Load read (tokenizer.json, vocab.txt, tokenizer_config.json,
// special_tokens_map.json, whichever existed) or, for a tokenizer made by
// NewWordPiece, the files WriteVocab writes. Each file is written to a
// temporary file in dir and renamed into place.
func (t *Tokenizer) SaveTo(dir string) error {
	if t.files == nil {
		return t.WriteVocab(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	names := make([]string, 0, len(t.files))
	for name := range t.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := writeAtomic(filepath.Join(dir, name), t.files[name]); err != nil {
			return err
		}
	}
	return nil
}

// WriteVocab writes vocab.txt, tokenizer_config.json,
// special_tokens_map.json and tokenizer.json for a standard BERT WordPiece
// tokenizer with this tokenizer's vocabulary and lower-casing into dir
// (created if needed), so that Load, transformers' BertTokenizer and the
// `tokenizers` library all load it. It fails if [CLS], [SEP], [PAD] or [UNK]
// is missing or the vocabulary has gaps or duplicates.
func (t *Tokenizer) WriteVocab(dir string) error {
	for _, s := range []struct {
		name string
		id   int32
	}{{"unk", t.unkID}, {"cls", t.clsID}, {"sep", t.sepID}, {"pad", t.padID}} {
		if s.id < 0 {
			return fmt.Errorf("tokenizer: WriteVocab: the vocabulary has no %s token", s.name)
		}
	}
	seen := make(map[string]bool, len(t.idToToken))
	var vocab bytes.Buffer
	for id, tok := range t.idToToken {
		if tok == "" || seen[tok] {
			return fmt.Errorf("tokenizer: WriteVocab: token id %d is empty or a duplicate (%q)", id, tok)
		}
		seen[tok] = true
		vocab.WriteString(tok)
		vocab.WriteByte('\n')
	}
	lower := t.LowerCase()
	var strip any // null: strip accents iff lower-casing
	if t.normalize && t.norm.stripAccents != lower {
		strip = t.norm.stripAccents
	}
	chinese := !t.normalize || t.norm.chineseChars
	specials := []struct {
		field string
		id    int32
	}{{"cls_token", t.clsID}, {"mask_token", t.maskID}, {"pad_token", t.padID}, {"sep_token", t.sepID}, {"unk_token", t.unkID}}

	// special_tokens_map.json
	stm := map[string]string{}
	for _, s := range specials {
		if s.id >= 0 {
			stm[s.field] = t.idToToken[s.id]
		}
	}
	stmJSON, err := json.MarshalIndent(stm, "", "  ")
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}

	// tokenizer_config.json, as transformers' BertTokenizer.save_pretrained.
	type addedDecoder struct {
		Content    string `json:"content"`
		LStrip     bool   `json:"lstrip"`
		Normalized bool   `json:"normalized"`
		RStrip     bool   `json:"rstrip"`
		SingleWord bool   `json:"single_word"`
		Special    bool   `json:"special"`
	}
	cfg := map[string]any{
		"clean_up_tokenization_spaces": true,
		"do_basic_tokenize":            true,
		"do_lower_case":                lower,
		"never_split":                  nil,
		"strip_accents":                strip,
		"tokenize_chinese_chars":       chinese,
		"tokenizer_class":              "BertTokenizer",
	}
	dec := map[string]addedDecoder{}
	type addedJSON struct {
		ID         int32  `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	var added []addedJSON
	for _, s := range specials {
		if s.id < 0 {
			continue
		}
		tok := t.idToToken[s.id]
		cfg[s.field] = tok
		dec[fmt.Sprint(s.id)] = addedDecoder{Content: tok, Special: true}
		added = append(added, addedJSON{ID: s.id, Content: tok, Special: true})
	}
	sort.Slice(added, func(i, j int) bool { return added[i].ID < added[j].ID })
	cfg["added_tokens_decoder"] = dec
	cfgJSON, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}

	// tokenizer.json, in the `tokenizers` library's format.
	type item map[string]map[string]any
	cls, sep := t.idToToken[t.clsID], t.idToToken[t.sepID]
	tj := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": added,
		"normalizer": map[string]any{
			"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": chinese,
			"strip_accents": strip, "lowercase": lower,
		},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{
			"type": "TemplateProcessing",
			"single": []item{
				{"SpecialToken": {"id": cls, "type_id": 0}},
				{"Sequence": {"id": "A", "type_id": 0}},
				{"SpecialToken": {"id": sep, "type_id": 0}},
			},
			"pair": []item{
				{"SpecialToken": {"id": cls, "type_id": 0}},
				{"Sequence": {"id": "A", "type_id": 0}},
				{"SpecialToken": {"id": sep, "type_id": 0}},
				{"Sequence": {"id": "B", "type_id": 1}},
				{"SpecialToken": {"id": sep, "type_id": 1}},
			},
			"special_tokens": map[string]any{
				cls: map[string]any{"id": cls, "ids": []int32{t.clsID}, "tokens": []string{cls}},
				sep: map[string]any{"id": sep, "ids": []int32{t.sepID}, "tokens": []string{sep}},
			},
		},
		"decoder": map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{
			"type":                      "WordPiece",
			"unk_token":                 t.idToToken[t.unkID],
			"continuing_subword_prefix": "##",
			"max_input_chars_per_word":  maxInputCharsWord,
			"vocab":                     orderedVocab(t.idToToken),
		},
	}
	tjJSON, err := json.MarshalIndent(tj, "", "  ")
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{VocabTxt, vocab.Bytes()},
		{TokenizerConfig, append(cfgJSON, '\n')},
		{SpecialTokensMap, append(stmJSON, '\n')},
		{TokenizerJSON, append(tjJSON, '\n')},
	} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// orderedVocab marshals as a JSON object whose keys are in id order, as the
// `tokenizers` library writes model.vocab.
type orderedVocab []string

// MarshalJSON implements json.Marshaler.
func (v orderedVocab) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for id, tok := range v {
		if id > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(tok)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		fmt.Fprintf(&b, ":%d", id)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeAtomic writes data to a temporary file next to path and renames it
// into place.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("tokenizer: writing %s: %w", path, werr)
	}
	return nil
}

// PreTokenizeBERT splits text into the words a WordPiece tokenizer made by
// NewWordPiece (with the same lowerCase) looks up in its vocabulary: the
// text normalised as BERT's (control characters dropped, Chinese characters
// spaced out, lower-cased and accents stripped when lowerCase), then split
// on whitespace and punctuation. Vocabulary builders use it to count words
// exactly as the tokenizer will see them.
func PreTokenizeBERT(text string, lowerCase bool) []string {
	return preTokenize(bertNormalizer(lowerCase).apply(text), true)
}
