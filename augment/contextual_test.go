package augment_test

import (
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/gotune/gotune/augment"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/pretrain"
	"github.com/gotune/gotune/tokenizer"
)

// TestContextual runs substitution with a tiny random masked LM: only the
// masked words change, each into a whole word of the vocabulary.
func TestContextual(t *testing.T) {
	texts := []string{"the movie was good and the actors were great .", "a dull , slow film !", "fun"}
	vocab := pretrain.BuildVocab(append(texts, "nice bad plot story"), pretrain.VocabOptions{LowerCase: true})
	tok := tokenizer.NewWordPiece(vocab, true)
	cfg := pretrain.NewConfig(pretrain.ModelSize{Layers: 1, Hidden: 16, Heads: 2, Intermediate: 32, MaxPositions: 64}, len(vocab))
	p, err := pretrain.NewMLMParams(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := pretrain.SaveMLM(dir, cfg, p, tok); err != nil {
		t.Fatal(err)
	}
	c, err := augment.NewContextual(dir, "", 0.3, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	ex := make([]data.Example, len(texts))
	for i, s := range texts {
		ex[i] = data.Example{Text: s, Label: []string{"pos", "neg", "pos"}[i], HasLabel: true}
	}
	out, err := augment.Examples(ex, c, "text", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3*len(texts) {
		t.Fatalf("%d examples", len(out))
	}
	for k, e := range out[len(texts):] {
		o := ex[k/2]
		if e.Label != o.Label {
			t.Errorf("label changed: %q → %q", o.Label, e.Label)
		}
		ow, nw := strings.Fields(o.Text), strings.Fields(e.Text)
		if len(ow) != len(nw) {
			t.Fatalf("%q → %q: word count changed", o.Text, e.Text)
		}
		changed := 0
		for i := range ow {
			if ow[i] == nw[i] {
				continue
			}
			changed++
			if !strings.ContainsFunc(ow[i], unicode.IsLetter) || strings.HasPrefix(nw[i], "##") || !strings.ContainsFunc(nw[i], func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) || strings.HasPrefix(nw[i], "[") {
				t.Errorf("%q → %q", ow[i], nw[i])
			}
		}
		if limit := max(1, int(0.3*float64(len(ow))+0.5)); changed > limit {
			t.Errorf("%q → %q: %d words changed, at most %d masked", o.Text, e.Text, changed, limit)
		}
	}
	again, _ := augment.Examples(ex, c, "text", 5)
	if !reflect.DeepEqual(out, again) {
		t.Error("same seed, different output")
	}
}
