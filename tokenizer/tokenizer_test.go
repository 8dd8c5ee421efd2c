package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const fixtureDir = "testdata/bert-seqcls"

// fixtureInputs is testdata/bert-seqcls/inputs.json (a copy of the shared
// bert-seqcls fixture): tokenizer outputs of transformers, padded.
type fixtureInputs struct {
	Texts []struct {
		Text     string  `json:"text"`
		TextPair *string `json:"text_pair"`
	} `json:"texts"`
	Tokens        [][]string `json:"tokens"`
	InputIDs      [][]int32  `json:"input_ids"`
	TokenTypeIDs  [][]int32  `json:"token_type_ids"`
	AttentionMask [][]int32  `json:"attention_mask"`
	PadTokenID    int32      `json:"pad_token_id"`
	PaddingSide   string     `json:"padding_side"`
}

func readFixture(t *testing.T) fixtureInputs {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, "inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in fixtureInputs
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatal(err)
	}
	if in.PaddingSide != "right" {
		t.Fatalf("fixture padding_side %q, test expects right", in.PaddingSide)
	}
	return in
}

// copyWithout copies the regular files of src into a temporary folder,
// leaving out the named ones.
func copyWithout(t *testing.T, src string, leave ...string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || slices.Contains(leave, e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// loadBoth loads dir through tokenizer.json and through vocab.txt.
func loadBoth(t *testing.T, dir string) map[string]*Tokenizer {
	t.Helper()
	viaJSON, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	viaVocab, err := Load(copyWithout(t, dir, TokenizerJSON))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Tokenizer{"tokenizer.json": viaJSON, "vocab.txt": viaVocab}
}

func TestFixtureEncode(t *testing.T) {
	in := readFixture(t)
	for path, tok := range loadBoth(t, fixtureDir) {
		if tok.PadID() != in.PadTokenID {
			t.Errorf("%s: PadID = %d, want %d", path, tok.PadID(), in.PadTokenID)
		}
		for i, x := range in.Texts {
			pair := ""
			if x.TextPair != nil {
				pair = *x.TextPair
			}
			n := 0
			for _, m := range in.AttentionMask[i] {
				n += int(m)
			}
			got := tok.Encode(x.Text, pair, 0)
			if !slices.Equal(got.IDs, in.InputIDs[i][:n]) {
				t.Errorf("%s: text %d ids\n got %v\nwant %v", path, i, got.IDs, in.InputIDs[i][:n])
			}
			if !slices.Equal(got.TypeIDs, in.TokenTypeIDs[i][:n]) {
				t.Errorf("%s: text %d type ids\n got %v\nwant %v", path, i, got.TypeIDs, in.TokenTypeIDs[i][:n])
			}
			var toks []string
			for _, id := range got.IDs {
				toks = append(toks, tok.IDToToken(id))
			}
			if !slices.Equal(toks, in.Tokens[i]) {
				t.Errorf("%s: text %d tokens\n got %q\nwant %q", path, i, toks, in.Tokens[i])
			}
			// Padding to the fixture's length reproduces its padded rows.
			padded := append(slices.Clone(got.IDs), slices.Repeat([]int32{tok.PadID()}, len(in.InputIDs[i])-n)...)
			if !slices.Equal(padded, in.InputIDs[i]) {
				t.Errorf("%s: text %d padded ids differ", path, i)
			}
		}
	}
}

func TestSpecialIDs(t *testing.T) {
	for path, tok := range loadBoth(t, fixtureDir) {
		got := []int32{tok.PadID(), tok.UNKID(), tok.CLSID(), tok.SEPID(), tok.MaskID()}
		if want := []int32{0, 1, 2, 3, 4}; !slices.Equal(got, want) {
			t.Errorf("%s: special ids %v, want %v", path, got, want)
		}
		if tok.VocabSize() != 384 {
			t.Errorf("%s: VocabSize = %d, want 384", path, tok.VocabSize())
		}
		if !tok.LowerCase() {
			t.Errorf("%s: LowerCase = false", path)
		}
	}
}

func TestTokenizeCases(t *testing.T) {
	long := strings.Repeat("a", 101)
	tests := []struct {
		name, text string
		want       []string
	}{
		{"lower and accents", "Café", []string{"cafe"}},
		{"punctuation split", "wow!!!", []string{"wow", "!", "!", "!"}},
		{"control chars removed", "th\u00ade c\u200bat\x07", []string{"the", "cat"}},
		{"unicode whitespace", "the\u00a0cat\u3000sat", []string{"the", "cat", "sat"}},
		{"special token literal", "the [MASK] sat", []string{"the", "[MASK]", "sat"}},
		{"special token lowercase is text", "[mask]", []string{"[", "[UNK]", "]"}},
		{"cjk split", "猫猫", []string{"[UNK]", "[UNK]"}},
		{"word over 100 chars", long, []string{"[UNK]"}},
		{"undecomposable", "quokka", []string{"[UNK]"}},
		{"empty", "", nil},
		{"only spaces", " \t\n ", nil},
	}
	for path, tok := range loadBoth(t, fixtureDir) {
		for _, tc := range tests {
			got := tok.Tokenize(tc.text)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: %s: Tokenize(%q) = %q, want %q", path, tc.name, tc.text, got, tc.want)
			}
		}
	}
}

func TestTokensToIDs(t *testing.T) {
	tok, err := Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	got := tok.TokensToIDs([]string{"[CLS]", "the", "##s", "no-such-token"})
	if want := []int32{2, 73, 353, 1}; !slices.Equal(got, want) {
		t.Errorf("TokensToIDs = %v, want %v", got, want)
	}
	if tok.IDToToken(-1) != "" || tok.IDToToken(1<<20) != "" {
		t.Error("IDToToken out of range should be empty")
	}
}

func TestLongestFirst(t *testing.T) {
	tests := []struct {
		la, lb, budget, wantA, wantB int
	}{
		{3, 4, 10, 3, 4},  // fits
		{10, 3, 7, 4, 3},  // only the longer is cut
		{3, 10, 7, 3, 4},  // only the longer is cut (second)
		{6, 5, 7, 4, 3},   // both cut, longer keeps the odd token
		{5, 6, 7, 3, 4},   // both cut, second longer
		{5, 5, 7, 3, 4},   // tie: Rust gives the odd token to the second
		{5, 5, 8, 4, 4},   // tie, even budget
		{20, 20, 0, 0, 0}, // no room
		{9, 1, 1, 1, 0},   // tiny budget: the longer keeps the odd token
	}
	for _, tc := range tests {
		a, b := longestFirst(tc.la, tc.lb, tc.budget)
		if a != tc.wantA || b != tc.wantB {
			t.Errorf("longestFirst(%d, %d, %d) = %d, %d; want %d, %d", tc.la, tc.lb, tc.budget, a, b, tc.wantA, tc.wantB)
		}
	}
}

func TestEncodeTruncation(t *testing.T) {
	tok, err := Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	// "the cat sat on the mat ." is 7 tokens.
	tests := []struct {
		name      string
		text      string
		pair      string
		maxLen    int
		wantIDs   []int32
		wantTypes []int32
	}{
		{"no limit", "the cat sat", "", 0, []int32{2, 73, 339, 340, 3}, []int32{0, 0, 0, 0, 0}},
		{"fits exactly", "the cat sat", "", 5, []int32{2, 73, 339, 340, 3}, []int32{0, 0, 0, 0, 0}},
		{"single cut", "the cat sat", "", 4, []int32{2, 73, 339, 3}, []int32{0, 0, 0, 0}},
		{"single to specials", "the cat sat", "", 1, []int32{2, 3}, []int32{0, 0}},
		{"pair cut longer", "the cat sat on", "the", 7, []int32{2, 73, 339, 340, 3, 73, 3}, []int32{0, 0, 0, 0, 0, 1, 1}},
		{"pair cut both", "the cat sat", "on the mat", 7, []int32{2, 73, 339, 3, 85, 73, 3}, []int32{0, 0, 0, 0, 1, 1, 1}},
	}
	for _, tc := range tests {
		got := tok.Encode(tc.text, tc.pair, tc.maxLen)
		if !slices.Equal(got.IDs, tc.wantIDs) || !slices.Equal(got.TypeIDs, tc.wantTypes) {
			t.Errorf("%s: Encode = %v %v, want %v %v", tc.name, got.IDs, got.TypeIDs, tc.wantIDs, tc.wantTypes)
		}
	}
}

func TestSaveTo(t *testing.T) {
	for _, src := range []string{fixtureDir, copyWithout(t, fixtureDir, TokenizerJSON, "inputs.json")} {
		tok, err := Load(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), "out", "tok")
		if err := tok.SaveTo(dst); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dst)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
			want, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Errorf("SaveTo wrote %s, which %s lacks", e.Name(), src)
				continue
			}
			got, _ := os.ReadFile(filepath.Join(dst, e.Name()))
			if string(got) != string(want) {
				t.Errorf("SaveTo: %s differs from the source", e.Name())
			}
		}
		want := []string{SpecialTokensMap, TokenizerJSON, TokenizerConfig, VocabTxt}
		if src != fixtureDir {
			want = []string{SpecialTokensMap, TokenizerConfig, VocabTxt}
		}
		if !slices.Equal(names, want) {
			t.Errorf("SaveTo wrote %v, want %v", names, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	write := func(files map[string]string) string {
		dir := t.TempDir()
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	fixtureJSON, err := os.ReadFile(filepath.Join(fixtureDir, TokenizerJSON))
	if err != nil {
		t.Fatal(err)
	}
	bpe := strings.Replace(string(fixtureJSON), `"type": "WordPiece",
    "unk_token"`, `"type": "BPE",
    "unk_token"`, 1)
	if bpe == string(fixtureJSON) {
		t.Fatal("could not make the BPE variant of the fixture")
	}
	tests := []struct {
		name  string
		files map[string]string
		want  string // substring of the error
	}{
		{"no files", map[string]string{}, "no tokenizer.json or vocab.txt"},
		{"bad tokenizer.json", map[string]string{TokenizerJSON: "{\n  \"model\": {\n    oops\n}"}, "tokenizer.json:3:5: not valid JSON"},
		{"bpe model", map[string]string{TokenizerJSON: bpe}, `tokenizer.json: model.type "BPE" is not supported`},
		{"empty vocab", map[string]string{VocabTxt: ""}, "vocab.txt: empty vocabulary"},
		{"missing cls", map[string]string{VocabTxt: "[PAD]\n[UNK]\n[SEP]\nthe\n"}, `vocab.txt: cls_token "[CLS]" is not in the vocabulary`},
		{"bad config", map[string]string{VocabTxt: "[PAD]\n", TokenizerConfig: "{\"do_lower_case\": 1}"}, "tokenizer_config.json:1:"},
		{"bad special map", map[string]string{VocabTxt: "[PAD]\n", SpecialTokensMap: "{\"cls_token\": 3}"}, "special_tokens_map.json"},
		{"renamed special", map[string]string{VocabTxt: "[PAD]\n[UNK]\n[CLS]\n[SEP]\n", SpecialTokensMap: `{"cls_token": {"content": "<s>"}}`}, `cls_token "<s>" is not in the vocabulary`},
	}
	for _, tc := range tests {
		_, err := Load(write(tc.files))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load error = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestNewWordPieceRoundTrip(t *testing.T) {
	vocab := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", ".", "the", "cat", "sat", "dog", "run", "##s", "##ning", "cafe", "猫"}
	mem := NewWordPiece(vocab, true)
	dir := t.TempDir()
	if err := mem.WriteVocab(dir); err != nil {
		t.Fatal(err)
	}
	texts := [][2]string{
		{"The cat sat.", ""},
		{"Dogs runs, CAFÉ!", "the 猫 sat running"},
		{"zebra [MASK] cats", "the"},
	}
	loaded := loadBoth(t, dir)
	loaded["memory"] = mem
	for path, tok := range loaded {
		for _, x := range texts {
			got, want := tok.Encode(x[0], x[1], 0), mem.Encode(x[0], x[1], 0)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: Encode(%q, %q) = %v, want %v", path, x[0], x[1], got, want)
			}
		}
		if tok.VocabSize() != len(vocab) || tok.MaskID() != 4 || tok.PadID() != 0 {
			t.Errorf("%s: VocabSize %d MaskID %d PadID %d", path, tok.VocabSize(), tok.MaskID(), tok.PadID())
		}
	}
	e := mem.Encode("Dogs runs, CAFÉ!", "the 猫", 0)
	want := Encoding{IDs: []int32{2, 11, 13, 12, 13, 6, 15, 5, 3, 8, 16, 3}, TypeIDs: []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("Encode = %v, want %v", e, want)
	}
	// A cased tokenizer keeps case and accents.
	if got := NewWordPiece(vocab, false).Tokenize("The cafe"); !slices.Equal(got, []string{"[UNK]", "cafe"}) {
		t.Errorf("cased Tokenize = %q", got)
	}
}

// TestWriteVocabMatchesFixture checks that WriteVocab reproduces the
// fixture's files, which transformers and `tokenizers` load.
func TestWriteVocabMatchesFixture(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtureDir, VocabTxt))
	if err != nil {
		t.Fatal(err)
	}
	vocab := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	dir := t.TempDir()
	if err := NewWordPiece(vocab, true).WriteVocab(dir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, VocabTxt))
	if string(got) != string(data) {
		t.Error("vocab.txt differs from the fixture's")
	}
	parse := func(path string) map[string]any {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, name := range []string{TokenizerJSON, SpecialTokensMap, TokenizerConfig} {
		g, w := parse(filepath.Join(dir, name)), parse(filepath.Join(fixtureDir, name))
		if name == TokenizerConfig {
			delete(w, "model_max_length") // a property of the model, not the vocabulary
		}
		if !reflect.DeepEqual(g, w) {
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			t.Errorf("%s differs from the fixture's\n got %.600s\nwant %.600s", name, gb, wb)
		}
	}
}

func TestWriteVocabErrors(t *testing.T) {
	tests := []struct {
		name  string
		vocab []string
		want  string
	}{
		{"no cls", []string{"[PAD]", "[UNK]", "[SEP]"}, "no cls token"},
		{"duplicate", []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "a"}, "duplicate"},
	}
	for _, tc := range tests {
		err := NewWordPiece(tc.vocab, true).WriteVocab(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: WriteVocab error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestMiniBERT compares the two loading paths on the real bert-base-uncased
// vocabulary.
func TestMiniBERT(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "assets", "models", "minibert-uncased-L4-H256")
	if _, err := os.Stat(filepath.Join(dir, VocabTxt)); err != nil {
		t.Skipf("shared assets not available: %v", err)
	}
	both := loadBoth(t, dir)
	j, v := both["tokenizer.json"], both["vocab.txt"]
	if j.VocabSize() != 30522 || j.CLSID() != 101 || j.SEPID() != 102 || j.PadID() != 0 || j.MaskID() != 103 || j.UNKID() != 100 {
		t.Errorf("special ids: vocab %d cls %d sep %d pad %d mask %d unk %d", j.VocabSize(), j.CLSID(), j.SEPID(), j.PadID(), j.MaskID(), j.UNKID())
	}
	sentences := [][2]string{
		{"Hello, world!", ""},
		{"Don't stop believing; it's 3.14159 o'clock — 1,000,000 $USD.", "Crème brûlée à la café naïve résumé"},
		{"I ❤️ emoji 🤖🦄 and weird\u200dstuff\u00ad here", ""},
		{"Pneumonoultramicroscopicsilicovolcanoconiosis is a " + strings.Repeat("verylong", 14) + " word", ""},
		{"北京欢迎你，東京とソウル", "日本語の文章です。"},
		{"안녕하세요, 저는 한국어 문장입니다.", "Hello [MASK] [SEP] world"},
		{"ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ and Ünïcödé İstanbul ΟΔΟΣ", ""},
		{"tabs\tand\nnewlines\r\n  and   spaces", "unaffable"},
	}
	for _, s := range sentences {
		a, b := j.Encode(s[0], s[1], 0), v.Encode(s[0], s[1], 0)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("Encode(%q, %q):\ntokenizer.json %v\n     vocab.txt %v", s[0], s[1], a, b)
		}
		if len(a.IDs) < 3 || a.IDs[0] != 101 || a.IDs[len(a.IDs)-1] != 102 {
			t.Errorf("Encode(%q) = %v: want [CLS] ... [SEP]", s[0], a.IDs)
		}
	}
	tests := []struct {
		text string
		want []string
	}{
		{"Hello, world!", []string{"hello", ",", "world", "!"}},
		{"Don't", []string{"don", "'", "t"}},
		{"unaffable", []string{"una", "##ffa", "##ble"}}, // greedy longest match first
		{"Café résumé", []string{"cafe", "resume"}},
		{"3.14", []string{"3", ".", "14"}},
		{"🤖", []string{"[UNK]"}},
		{"北京", []string{"北", "京"}},
	}
	for _, tc := range tests {
		for path, tok := range both {
			if got := tok.Tokenize(tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("%s: Tokenize(%q) = %q, want %q", path, tc.text, got, tc.want)
			}
		}
	}
	if ko := j.Tokenize("안녕하세요"); len(ko) == 0 || slices.Equal(ko, []string{"[UNK]"}) {
		t.Errorf("Korean decomposes into jamo pieces in bert-base-uncased, got %q", ko)
	}
	if got := j.Encode(strings.Repeat("word ", 600), "", 512); len(got.IDs) != 512 {
		t.Errorf("truncated length %d, want 512", len(got.IDs))
	}
}

// TestMaxInputChars checks that the 100-character limit counts runes after
// normalization, not bytes.
func TestMaxInputChars(t *testing.T) {
	tok := NewWordPiece([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "ж", "##ж"}, false)
	tests := []struct {
		n, want int // word length in runes, number of tokens
	}{{1, 1}, {100, 100}, {101, 1}}
	for _, tc := range tests {
		got := tok.Tokenize(strings.Repeat("ж", tc.n))
		if len(got) != tc.want {
			t.Errorf("%d runes: %d tokens, want %d", tc.n, len(got), tc.want)
		}
	}
}
