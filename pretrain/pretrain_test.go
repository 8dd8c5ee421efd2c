package pretrain_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/pretrain"
	"github.com/gotune/gotune/tokenizer"
)

func TestMain(m *testing.M) {
	_ = engine.Reexec() // the gotune command's process setup (fast math.Exp in simd builds)
	os.Exit(m.Run())
}

// english and korean are small corpora with repeated words.
func english() []string {
	var out []string
	for i := 0; i < 40; i++ {
		out = append(out, fmt.Sprintf("The film was %s, and the acting was %s!", []string{"good", "bad", "dull", "great"}[i%4], []string{"fine", "poor"}[i%2]))
	}
	return out
}

func korean() []string {
	var out []string
	for i := 0; i < 40; i++ {
		out = append(out, fmt.Sprintf("영화 정말 %s 배우 연기는 %s ㅋㅋ 😀", []string{"재밌다", "별로다", "최고다"}[i%3], []string{"좋았다", "아쉬웠다"}[i%2]))
	}
	return out
}

// TestBuildVocab checks the vocabulary: special tokens first ([PAD] = 0),
// the corpus tokenizes without [UNK], unseen words are spelled from
// characters, the size cap keeps the most frequent words, and a cased
// Korean vocabulary keeps Hangul syllables whole (no jamo) and spells an
// unseen inflection as stem + "##particle".
func TestBuildVocab(t *testing.T) {
	for _, tc := range []struct {
		name   string
		texts  []string
		lower  bool
		unseen []string // text never in the corpus, tokens it must become
		want   [][]string
	}{
		{"english uncased", english(), true, []string{"Zyzzyva", "films"}, [][]string{{"z", "##y", "##z", "##z", "##y", "##v", "##a"}, {"film", "##s"}}},
		{"korean cased", korean(), false, []string{"영화는", "연기"}, [][]string{{"영화", "##는"}, {"연", "##기"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vocab := pretrain.BuildVocab(tc.texts, pretrain.VocabOptions{LowerCase: tc.lower})
			if !slices.Equal(vocab[:5], pretrain.SpecialTokens()) {
				t.Fatalf("vocabulary starts %v, want the special tokens %v", vocab[:5], pretrain.SpecialTokens())
			}
			seen := map[string]bool{}
			for _, v := range vocab {
				if seen[v] {
					t.Fatalf("%q is twice in the vocabulary", v)
				}
				seen[v] = true
			}
			tok := tokenizer.NewWordPiece(vocab, tc.lower)
			if tok.PadID() != 0 {
				t.Errorf("[PAD] has id %d, want 0", tok.PadID())
			}
			for _, text := range tc.texts {
				for _, id := range tok.Encode(text, "", 128).IDs {
					if id == tok.UNKID() {
						t.Fatalf("%q tokenizes with [UNK]: %v", text, tok.Tokenize(text))
					}
				}
			}
			for i, u := range tc.unseen {
				if got := tok.Tokenize(u); !slices.Equal(got, tc.want[i]) {
					t.Errorf("%q tokenizes as %q, want %q", u, got, tc.want[i])
				}
			}
			if !tc.lower {
				for _, v := range vocab {
					for _, r := range v {
						if r >= 0x1100 && r <= 0x11FF { // conjoining jamo: NFD broke a syllable up
							t.Fatalf("vocabulary entry %q has conjoining jamo", v)
						}
					}
				}
			}
			// The cap keeps specials and characters and the most frequent
			// words.
			all := len(vocab)
			capped := pretrain.BuildVocab(tc.texts, pretrain.VocabOptions{LowerCase: tc.lower, Size: all - 2})
			if len(capped) != all-2 || !slices.Equal(capped, vocab[:all-2]) {
				t.Errorf("Size %d gave %d entries, not the first %d of the uncapped vocabulary", all-2, len(capped), all-2)
			}
		})
	}
}

// TestMinCharCount leaves rare characters out (they become [UNK]).
func TestMinCharCount(t *testing.T) {
	texts := append(korean(), "희귀")
	vocab := pretrain.BuildVocab(texts, pretrain.VocabOptions{MinCharCount: 2})
	for _, v := range vocab {
		if strings.ContainsRune(v, '희') {
			t.Fatalf("a character seen once is in the vocabulary (%q) with MinCharCount 2", v)
		}
	}
	tok := tokenizer.NewWordPiece(vocab, false)
	if ids := tok.Encode("희귀", "", 8).IDs; !slices.Contains(ids, tok.UNKID()) {
		t.Errorf("a word of rare characters did not become [UNK]: %v", tok.Tokenize("희귀"))
	}
}

// TestTrainAndSave pretrains a 1-layer BERT on a small Korean corpus: the
// held-out masked-LM loss falls, and the saved folder loads as a cased
// tokenizer and as a classifier base (encoder weights kept, MLM head
// dropped, a new head).
func TestTrainAndSave(t *testing.T) {
	texts := korean()
	vocab := pretrain.BuildVocab(texts, pretrain.VocabOptions{})
	tok := tokenizer.NewWordPiece(vocab, false)
	cfg := pretrain.NewConfig(pretrain.ModelSize{Layers: 1, Hidden: 32, Heads: 2, Intermediate: 64, MaxPositions: 32}, len(vocab))
	p, err := pretrain.NewMLMParams(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	o := pretrain.Options{Steps: 60, Batch: 8, LR: 3e-3, MaskRate: 0.15, Seed: 1}
	before, after, err := pretrain.Train(context.Background(), o, cfg, p, tok, texts[:32], texts[32:], io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if after.Loss > before.Loss*0.7 {
		t.Errorf("held-out MLM loss %.3f → %.3f: pretraining did not learn", before.Loss, after.Loss)
	}
	dir := filepath.Join(t.TempDir(), "ko-bert")
	if err := pretrain.SaveMLM(dir, cfg, p, tok); err != nil {
		t.Fatal(err)
	}
	back, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.LowerCase() || !slices.Equal(back.Tokenize(texts[0]), tok.Tokenize(texts[0])) {
		t.Errorf("reloaded tokenizer (lower case %v) gives %q, want %q", back.LowerCase(), back.Tokenize(texts[0]), tok.Tokenize(texts[0]))
	}
	m, err := classify.Load(dir, []string{"neg", "pos"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := p.Value("bert.encoder.layer.0.output.dense.weight")
	got, _ := m.P.Value("bert.encoder.layer.0.output.dense.weight")
	if !slices.Equal(w, got) || m.P.Has("cls.predictions.bias") {
		t.Errorf("the classifier did not load the pretrained encoder without the MLM head")
	}
	for _, r := range strings.Join(vocab, "") {
		if unicode.Is(unicode.Hangul, r) {
			return
		}
	}
	t.Errorf("no Hangul in the vocabulary")
}

// TestTrainCancelled stops at once when the context is cancelled.
func TestTrainCancelled(t *testing.T) {
	texts := english()
	vocab := pretrain.BuildVocab(texts, pretrain.VocabOptions{LowerCase: true})
	tok := tokenizer.NewWordPiece(vocab, true)
	cfg := pretrain.NewConfig(pretrain.ModelSize{Layers: 1, Hidden: 16, Heads: 2, Intermediate: 32, MaxPositions: 32}, len(vocab))
	p, err := pretrain.NewMLMParams(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = pretrain.Train(ctx, pretrain.Options{Steps: 1000, Batch: 4, LR: 1e-3, MaskRate: 0.15}, cfg, p, tok, texts, texts[:4], io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	for _, bad := range []pretrain.Options{{Steps: 0, Batch: 4, LR: 1e-3, MaskRate: 0.15}, {Steps: 5, Batch: 4, LR: 1e-3, MaskRate: 1}} {
		if _, _, err := pretrain.Train(context.Background(), bad, cfg, p, tok, texts, texts[:4], io.Discard); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
}
