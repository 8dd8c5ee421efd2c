package augment

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Synonyms finds the synonyms of a word.
type Synonyms interface {
	// Synonyms returns the synonyms of word (a token's core, without its
	// surrounding punctuation) in a fixed order, never word itself; nil if
	// it has none.
	Synonyms(word string) []string
}

// Dict is a user synonym dictionary.
type Dict map[string][]string

// Synonyms returns d[word].
func (d Dict) Synonyms(word string) []string { return d[word] }

// ReadDict reads a synonym dictionary:
//
//   - .tsv or .txt: each line is a group of words that are synonyms of each
//     other, separated by tabs or commas ("영화\t필름\t무비"); blank lines
//     and lines starting with # are skipped;
//   - .json: an object mapping a word to its synonyms
//     ({"영화": ["필름", "무비"]}), used as written (one direction).
func ReadDict(path string) (Dict, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("synonyms: %w", err)
	}
	d := Dict{}
	add := func(w, s string) {
		if w != s && !contains(d[w], s) {
			d[w] = append(d[w], s)
		}
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".json":
		var m map[string][]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: want a JSON object of word → [synonyms]: %v", path, err)
		}
		for w, ss := range m {
			for _, s := range ss {
				add(strings.TrimSpace(w), strings.TrimSpace(s))
			}
		}
	case ".tsv", ".txt":
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' {
				continue
			}
			var group []string
			for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == '\t' || r == ',' }) {
				if f = strings.TrimSpace(f); f != "" {
					group = append(group, f)
				}
			}
			if len(group) < 2 {
				return nil, fmt.Errorf("%s:%d: a group needs at least two words, tab- or comma-separated", path, i+1)
			}
			for _, w := range group {
				for _, s := range group {
					add(w, s)
				}
			}
		}
	default:
		return nil, fmt.Errorf("synonyms: %s: unknown extension %q (want .tsv, .txt or .json)", path, ext)
	}
	return d, nil
}

// koreanParticles returns the particles (josa) KoreanSynonyms detaches when a
// whole word (eojeol) is not in the dictionary, longest first.
func koreanParticles() []string {
	return []string{"에서는", "에게서", "으로는", "이랑", "에서", "에게", "한테", "까지", "부터", "보다", "처럼", "으로", "이나",
		"이", "가", "은", "는", "을", "를", "의", "에", "도", "만", "로", "와", "과", "랑", "나"}
}

// particlePair returns the forms of particle p after a final consonant
// (batchim) and after a vowel; ok is false for a particle with one form.
func particlePair(p string) (pair [2]string, ok bool) {
	switch p {
	case "이", "가":
		return [2]string{"이", "가"}, true
	case "은", "는":
		return [2]string{"은", "는"}, true
	case "을", "를":
		return [2]string{"을", "를"}, true
	case "과", "와":
		return [2]string{"과", "와"}, true
	case "으로", "로":
		return [2]string{"으로", "로"}, true
	case "이랑", "랑":
		return [2]string{"이랑", "랑"}, true
	case "이나", "나":
		return [2]string{"이나", "나"}, true
	case "으로는":
		return [2]string{"으로는", "로는"}, true
	}
	return [2]string{}, false
}

// KoreanSynonyms looks Korean words up in a dictionary with their
// particles attached: a word ("영화가") not in it as a whole is split into
// a stem in it and a known particle ("영화" + "가"), and the synonyms of
// the stem get the particle back, in the form that fits their last
// syllable ("필름이", "무비가").
type KoreanSynonyms struct{ Dict Synonyms }

// Synonyms returns the synonyms of word, particle included.
func (k KoreanSynonyms) Synonyms(word string) []string {
	if s := k.Dict.Synonyms(word); len(s) > 0 {
		return s
	}
	for _, p := range koreanParticles() {
		stem, ok := strings.CutSuffix(word, p)
		if !ok || stem == "" {
			continue
		}
		ss := k.Dict.Synonyms(stem)
		if len(ss) == 0 {
			continue
		}
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = s + fitParticle(s, p)
		}
		return out
	}
	return nil
}

// fitParticle returns particle p in the form that follows word.
func fitParticle(word, p string) string {
	pair, ok := particlePair(p)
	if !ok {
		return p
	}
	r, _ := utf8.DecodeLastRuneInString(word)
	if r < 0xAC00 || r > 0xD7A3 { // not a Hangul syllable: keep as written
		return p
	}
	if (r-0xAC00)%28 != 0 {
		return pair[0]
	}
	return pair[1]
}
