package augment

import (
	"strings"
	"unicode"
)

// stopWords returns the English stop words EDA never replaces or inserts
// synonyms for (the list of Wei & Zou's eda.py).
func stopWords() map[string]bool {
	return toSet(strings.Fields(`i me my myself we our ours ourselves you your yours yourself yourselves
he him his himself she her hers herself it its itself they them their theirs themselves what which who whom
this that these those am is are was were be been being have has had having do does did doing a an the and
but if or because as until while of at by for with about against between into through during before after
above below to from up down in out on off over under again further then once here there when where why how
all any both each few more most other some such no nor not only own same so than too very s t can will just
don should now`))
}

func toSet(ws []string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[w] = true
	}
	return m
}

// split cuts a whitespace-separated token into its leading punctuation, its
// core and its trailing punctuation ("(film," → "(", "film", ","). Letters,
// digits, marks and inner punctuation ("don't", "5.1") stay in the core;
// a token of punctuation or symbols only ("...", "😀") is all prefix.
func split(tok string) (pre, core, post string) {
	isEdge := func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }
	start := strings.IndexFunc(tok, func(r rune) bool { return !isEdge(r) })
	if start < 0 {
		return tok, "", ""
	}
	end := strings.LastIndexFunc(tok, func(r rune) bool { return !isEdge(r) })
	_, size := firstRune(tok[end:])
	return tok[:start], tok[start : end+size], tok[end+size:]
}

func firstRune(s string) (rune, int) {
	for _, r := range s {
		return r, len(string(r))
	}
	return 0, 0
}

// hasLetter reports whether s contains a letter.
func hasLetter(s string) bool { return strings.IndexFunc(s, unicode.IsLetter) >= 0 }

// isHangul reports whether r is a Hangul syllable or jamo.
func isHangul(r rune) bool { return unicode.Is(unicode.Hangul, r) }

// DetectLang returns "ko" when at least 30% of the letters of texts are
// Hangul, and "en" otherwise.
func DetectLang(texts []string) string {
	var letters, hangul int
	for _, t := range texts {
		for _, r := range t {
			if unicode.IsLetter(r) {
				letters++
				if isHangul(r) {
					hangul++
				}
			}
		}
	}
	if letters > 0 && float64(hangul) >= 0.3*float64(letters) {
		return "ko"
	}
	return "en"
}
