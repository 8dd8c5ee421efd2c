package augment

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gotune/gotune/data"
)

func tinyWordNet(t *testing.T) *WordNet {
	t.Helper()
	wn, err := OpenWordNet(filepath.Join("testdata", "wordnet"))
	if err != nil {
		t.Fatal(err)
	}
	return wn
}

func sorted(ws []string) []string { ws = slices.Clone(ws); slices.Sort(ws); return ws }

func TestTinyWordNet(t *testing.T) {
	wn := tinyWordNet(t)
	for word, want := range map[string][]string{
		"film":     {"movie", "picture", "photographic film"},
		"films":    {"movie", "picture", "photographic film"}, // morphy: films → film, not itself
		"Movie":    {"film", "picture"},
		"journey":  {"journeying", "travel", "go"}, // noun then verb synsets
		"went":     {"travel", "journey"},          // verb.exc: went → go
		"charming": {"magic", "magical"},           // "magic(a)" marker stripped
		"the":      nil,
		"zzz":      nil,
	} {
		if got := wn.Synonyms(word); !reflect.DeepEqual(got, want) {
			t.Errorf("Synonyms(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestRealWordNet(t *testing.T) {
	dir, err := FindWordNet("")
	if err != nil {
		t.Skip(err)
	}
	wn, err := OpenWordNet(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s := wn.Synonyms("movie"); !slices.Contains(s, "film") || !slices.Contains(s, "flick") {
		t.Errorf("movie: %q lacks film, flick", s)
	}
	if s := wn.Synonyms("quickly"); !slices.Contains(s, "rapidly") {
		t.Errorf("quickly: %q lacks rapidly", s)
	}
	if s := wn.Synonyms("films"); !slices.Contains(s, "movie") || slices.Contains(s, "film") {
		t.Errorf("films: %q", s)
	}
}

func TestRandomSwapKeepsWords(t *testing.T) {
	words := strings.Fields("a b c d e f 영화 42 😀 !")
	for s := range 50 {
		r := newRand(int64(s), 0)
		got := randomSwap(words, 3, r)
		if !reflect.DeepEqual(sorted(got), sorted(words)) {
			t.Fatalf("swap changed the multiset: %q", got)
		}
	}
	if got := randomSwap([]string{"only"}, 2, newRand(1, 0)); !reflect.DeepEqual(got, []string{"only"}) {
		t.Errorf("one word: %q", got)
	}
}

func TestRandomDeleteNeverEmpties(t *testing.T) {
	words := strings.Fields("one two three")
	for s := range 200 {
		got := randomDelete(words, 0.9, newRand(int64(s), 0))
		if len(got) == 0 {
			t.Fatal("empty sentence")
		}
		// Kept words are originals, in order.
		i := 0
		for _, w := range got {
			for i < len(words) && words[i] != w {
				i++
			}
			if i == len(words) {
				t.Fatalf("%q is not an in-order subsequence of %q", got, words)
			}
			i++
		}
	}
	if got := randomDelete([]string{"x"}, 1, newRand(1, 0)); len(got) != 1 {
		t.Errorf("one word deleted: %q", got)
	}
}

func TestSynonymReplace(t *testing.T) {
	wn := tinyWordNet(t)
	words := strings.Fields("the film was a charming journey , the film !")
	for s := range 50 {
		got := synonymReplace(words, 2, wn, stopWords(), newRand(int64(s), 0))
		joined := strings.Fields(strings.Join(got, " "))
		_ = joined
		if len(got) != len(words) {
			t.Fatalf("length changed: %q", got)
		}
		changed := map[string]string{}
		for i, w := range got {
			if w == words[i] {
				continue
			}
			if stopWords()[words[i]] || !hasLetter(words[i]) {
				t.Fatalf("stop word or punctuation %q replaced: %q", words[i], got)
			}
			if !slices.Contains(wn.Synonyms(words[i]), w) {
				t.Fatalf("%q → %q is not a WordNet synonym", words[i], w)
			}
			if prev, ok := changed[words[i]]; ok && prev != w {
				t.Fatalf("%q replaced inconsistently: %q", words[i], got)
			}
			changed[words[i]] = w
		}
		if len(changed) == 0 || len(changed) > 2 {
			t.Fatalf("%d words replaced, want 1..2: %q", len(changed), got)
		}
	}
	// Punctuation around a word stays.
	got := synonymReplace([]string{"(movie),"}, 1, wn, stopWords(), newRand(1, 0))
	if !strings.HasPrefix(got[0], "(") || !strings.HasSuffix(got[0], "),") || got[0] == "(movie)," {
		t.Errorf("(movie), → %q", got[0])
	}
}

func TestRandomInsert(t *testing.T) {
	wn := tinyWordNet(t)
	words := strings.Fields("movie film journey picture")
	for s := range 30 {
		got := randomInsert(words, 2, wn, stopWords(), newRand(int64(s), 0))
		if len(got) != len(words)+2 {
			t.Fatalf("want 2 insertions: %q", got)
		}
		rest := slices.Clone(got)
		for _, w := range words { // the originals are still there, in order
			i := slices.Index(rest, w)
			if i < 0 {
				t.Fatalf("%q lost from %q", w, got)
			}
			rest = rest[i+1:]
		}
	}
}

// TestScriptsSurvive: apart from deletion and the words SR changes,
// Hangul, digits, emoji and punctuation come out as they went in.
func TestScriptsSurvive(t *testing.T) {
	text := "영화가 정말 재밌었다ㅋㅋ 10점 만점에 10점!! 😀👍 (최고) 3.5/5 ... don't"
	orig := strings.Fields(text)
	e := &EDA{AlphaRS: 0.3, AEDA: true, NumAug: 20}
	out, _ := e.Augment([]string{text}, 7)
	for _, s := range out[0] {
		ws := strings.Fields(s)
		for _, w := range orig {
			if !slices.Contains(ws, w) {
				t.Fatalf("%q lost from %q", w, s)
			}
		}
		for _, w := range ws {
			if !slices.Contains(orig, w) && !slices.Contains(aedaMarks(), w) {
				t.Fatalf("unexpected %q in %q", w, s)
			}
		}
	}
	e = &EDA{PRD: 0.3, NumAug: 20}
	out, _ = e.Augment([]string{text}, 7)
	for _, s := range out[0] {
		for _, w := range strings.Fields(s) {
			if !slices.Contains(orig, w) {
				t.Fatalf("deletion changed %q: %q", w, s)
			}
		}
	}
}

func TestKorean(t *testing.T) {
	d, err := ReadDict(filepath.Join("testdata", "ko-synonyms.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	ks := KoreanSynonyms{Dict: d}
	for word, want := range map[string][]string{
		"영화":   {"필름", "무비"},
		"영화가":  {"필름이", "무비가"}, // particle fitted to the new last syllable
		"영화를":  {"필름을", "무비를"},
		"영화에서": {"필름에서", "무비에서"},
		"좋다":   {"훌륭하다"},
		"사람이":  nil,
	} {
		if got := ks.Synonyms(word); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q, want %q", word, got, want)
		}
	}
	// Default Korean EDA: RS+RD+AEDA, no synonyms, every script kept.
	texts := []string{"이 영화가 정말 좋다 ㅋㅋ 10점!", "배우들 연기가 별로였음 ㅠㅠ"}
	a, err := New(DefaultOptions(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Name(); got != "eda (RS+RD+AEDA)" {
		t.Errorf("Korean default: %s", got)
	}
	o := DefaultOptions()
	o.Synonyms = filepath.Join("testdata", "ko-synonyms.tsv")
	if a, err = New(o, texts); err != nil || a.Name() != "eda (SR+RI+RS+RD+AEDA)" {
		t.Errorf("with synonyms: %v %v", a, err)
	}
}

func TestDeterministic(t *testing.T) {
	wn := tinyWordNet(t)
	e := &EDA{AlphaSR: 0.2, AlphaRI: 0.2, AlphaRS: 0.2, PRD: 0.2, AEDA: true, NumAug: 6, Synonyms: wn, StopWords: stopWords()}
	texts := []string{"the film was a charming journey", "movie night , 영화 좋다 😀", "x"}
	a, _ := e.Augment(texts, 3)
	b, _ := e.Augment(texts, 3)
	c, _ := e.Augment(texts, 4)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different output")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds, same output")
	}
	for i, v := range a {
		if len(v) != 6 {
			t.Errorf("text %d: %d copies", i, len(v))
		}
	}
}

func TestParseSpecAndRecommended(t *testing.T) {
	o, err := ParseSpec("eda:alpha=0.1,n=4")
	if err != nil || o.AlphaSR != 0.1 || o.PRD != 0.1 || o.NumAug != 4 {
		t.Errorf("%+v %v", o, err)
	}
	if o, err = ParseSpec("contextual:p=0.2,k=3"); err != nil || o.P != 0.2 || o.K != 3 {
		t.Errorf("%+v %v", o, err)
	}
	for _, bad := range []string{"edb", "eda:alpha", "eda:alpha=2", "aeda:k=3", "eda:n=0"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for n, want := range map[int][2]float64{500: {0.05, 16}, 2000: {0.05, 8}, 5000: {0.1, 4}, 100000: {0.1, 4}} {
		if a, k := Recommended(n); a != want[0] || float64(k) != want[1] {
			t.Errorf("Recommended(%d) = %g, %d", n, a, k)
		}
	}
	// "eda" alone takes the table's row for the data size.
	o, _ = ParseSpec("eda")
	o.Lang, o.Synonyms = "en", filepath.Join("testdata", "ko-synonyms.tsv")
	a, err := New(o, make([]string, 1500))
	if err != nil {
		t.Fatal(err)
	}
	if e := a.(*EDA); e.AlphaSR != 0.05 || e.NumAug != 8 || e.AEDA {
		t.Errorf("recommended: %+v", e)
	}
}

func TestExamplesKeepFields(t *testing.T) {
	ex := []data.Example{
		{Text: "a b c d", Label: "pos", HasLabel: true, Raw: map[string]any{"text": "a b c d", "label": "pos", "id": 7}, Source: "f:1"},
		{InputIDs: []int32{1, 2}, Label: "neg", HasLabel: true, Source: "f:2"},
	}
	out, err := Examples(ex, &EDA{AlphaRS: 0.5, NumAug: 3}, "text", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 5 || !reflect.DeepEqual(out[:2], ex) {
		t.Fatalf("originals not kept first: %d", len(out))
	}
	for _, e := range out[2:] {
		if e.Label != "pos" || !e.HasLabel || e.Raw["id"] != 7 || e.Raw["text"] != e.Text || e.Raw["label"] != "pos" {
			t.Errorf("copy lost a field: %+v", e)
		}
	}
	if ex[0].Raw["text"] != "a b c d" {
		t.Error("original Raw modified")
	}
}
