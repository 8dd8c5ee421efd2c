package augment

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// EDA is Easy Data Augmentation (Wei & Zou 2019): synonym replacement (SR),
// random insertion (RI), random swap (RS) and random deletion (RD), and
// optionally AEDA's random punctuation insertion (Karimi et al. 2021) as a
// fifth operation. Each augmented sentence comes from exactly one
// operation, as in the reference code: the enabled operations each make
// NumAug/k+1 candidates (k enabled operations), which are shuffled and cut
// to NumAug.
//
// Differences from eda.py, on purpose: the text is not cleaned (eda.py
// lower-cases it and erases everything outside a–z, Hangul, digits and
// punctuation included); words are whitespace-separated tokens whose
// surrounding punctuation stays in place when their core is replaced; an
// operation whose alpha is 0 is off (as in the later eda.py); random
// insertion skips stop words and picks a random synonym (eda.py takes the
// first of an unordered set); an insertion may also go at the end.
type EDA struct {
	// AlphaSR, AlphaRI and AlphaRS set how many words change: n =
	// max(1, int(alpha·words)) replacements, insertions or swaps.
	AlphaSR, AlphaRI, AlphaRS float64
	// PRD is the probability of deleting each word.
	PRD float64
	// AEDA adds random punctuation insertion as an operation.
	AEDA bool
	// NumAug is the number of augmented sentences per original.
	NumAug int
	// Synonyms serves SR and RI; nil turns them off.
	Synonyms Synonyms
	// StopWords are never replaced, nor used as the source of an insertion
	// (compared lower-cased).
	StopWords map[string]bool
}

// Name describes the augmenter.
func (e *EDA) Name() string {
	var ops []string
	if e.Synonyms != nil && e.AlphaSR > 0 {
		ops = append(ops, "SR")
	}
	if e.Synonyms != nil && e.AlphaRI > 0 {
		ops = append(ops, "RI")
	}
	if e.AlphaRS > 0 {
		ops = append(ops, "RS")
	}
	if e.PRD > 0 {
		ops = append(ops, "RD")
	}
	if e.AEDA {
		ops = append(ops, "AEDA")
	}
	return "eda (" + strings.Join(ops, "+") + ")"
}

// Copies returns NumAug.
func (e *EDA) Copies() int { return e.NumAug }

// Augment returns NumAug variants of each text; text i uses the random
// stream (seed, i), so the result depends only on the arguments.
func (e *EDA) Augment(texts []string, seed int64) ([][]string, error) {
	out := make([][]string, len(texts))
	for i, t := range texts {
		out[i] = e.augmentOne(t, newRand(seed, i))
	}
	return out, nil
}

// newRand returns the random stream of text i.
func newRand(seed int64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x5eda<<32|uint64(i)))
}

type op func(words []string, r *rand.Rand) []string

func (e *EDA) augmentOne(text string, r *rand.Rand) []string {
	words := strings.Fields(text)
	n := len(words)
	count := func(alpha float64) int { return max(1, int(alpha*float64(n))) }
	var ops []op
	if e.Synonyms != nil && e.AlphaSR > 0 {
		ops = append(ops, func(w []string, r *rand.Rand) []string {
			return synonymReplace(w, count(e.AlphaSR), e.Synonyms, e.StopWords, r)
		})
	}
	if e.Synonyms != nil && e.AlphaRI > 0 {
		ops = append(ops, func(w []string, r *rand.Rand) []string {
			return randomInsert(w, count(e.AlphaRI), e.Synonyms, e.StopWords, r)
		})
	}
	if e.AlphaRS > 0 {
		ops = append(ops, func(w []string, r *rand.Rand) []string { return randomSwap(w, count(e.AlphaRS), r) })
	}
	if e.PRD > 0 {
		ops = append(ops, func(w []string, r *rand.Rand) []string { return randomDelete(w, e.PRD, r) })
	}
	if e.AEDA {
		ops = append(ops, func(w []string, r *rand.Rand) []string { return insertPunctuation(w, r) })
	}
	out := make([]string, 0, e.NumAug)
	if n == 0 || len(ops) == 0 {
		for range e.NumAug {
			out = append(out, text)
		}
		return out
	}
	per := e.NumAug/len(ops) + 1
	var cands []string
	for _, o := range ops {
		for range per {
			cands = append(cands, strings.Join(o(words, r), " "))
		}
	}
	r.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	return append(out, cands[:e.NumAug]...)
}

// candidate reports whether a word's core may be replaced or used for an
// insertion: it has a letter, is not a stop word and has synonyms.
func candidate(core string, syn Synonyms, stop map[string]bool) []string {
	if !hasLetter(core) || stop[strings.ToLower(core)] {
		return nil
	}
	return syn.Synonyms(core)
}

// synonymReplace replaces up to n distinct non-stop words by a random
// synonym each; every occurrence of a chosen word changes (as eda.py).
func synonymReplace(words []string, n int, syn Synonyms, stop map[string]bool, r *rand.Rand) []string {
	out := slices.Clone(words)
	var uniq []string
	seen := map[string]bool{}
	for _, w := range words {
		if _, core, _ := split(w); core != "" && !seen[core] {
			seen[core] = true
			uniq = append(uniq, core)
		}
	}
	r.Shuffle(len(uniq), func(i, j int) { uniq[i], uniq[j] = uniq[j], uniq[i] })
	done := 0
	for _, core := range uniq {
		if done >= n {
			break
		}
		s := candidate(core, syn, stop)
		if len(s) == 0 {
			continue
		}
		pick := s[r.IntN(len(s))]
		for i, w := range out {
			if pre, c, post := split(w); c == core && w == words[i] {
				out[i] = pre + pick + post
			}
		}
		done++
	}
	return out
}

// randomInsert n times inserts a random synonym of a random non-stop word
// at a random position; it gives up on an insertion after 10 words
// without synonyms (as eda.py).
func randomInsert(words []string, n int, syn Synonyms, stop map[string]bool, r *rand.Rand) []string {
	out := slices.Clone(words)
	for range n {
		for try := 0; try < 10; try++ {
			_, core, _ := split(out[r.IntN(len(out))])
			s := candidate(core, syn, stop)
			if len(s) == 0 {
				continue
			}
			out = slices.Insert(out, r.IntN(len(out)+1), s[r.IntN(len(s))])
			break
		}
	}
	return out
}

// randomSwap n times swaps two words at different positions.
func randomSwap(words []string, n int, r *rand.Rand) []string {
	out := slices.Clone(words)
	if len(out) < 2 {
		return out
	}
	for range n {
		i := r.IntN(len(out))
		j := r.IntN(len(out) - 1)
		if j >= i {
			j++
		}
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// randomDelete deletes each word with probability p; a one-word sentence
// is kept, and if every word went one random word is kept.
func randomDelete(words []string, p float64, r *rand.Rand) []string {
	if len(words) <= 1 {
		return slices.Clone(words)
	}
	var out []string
	for _, w := range words {
		if r.Float64() > p {
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		out = []string{words[r.IntN(len(words))]}
	}
	return out
}

// aedaMarks returns the punctuation marks AEDA inserts.
func aedaMarks() []string {
	return []string{".", ";", "?", ":", "!", ","}
}

// insertPunctuation is AEDA: between 1 and int(0.3·words)+1 marks, each
// before a distinct random word.
func insertPunctuation(words []string, r *rand.Rand) []string {
	q := 1 + r.IntN(int(0.3*float64(len(words)))+1)
	q = min(q, len(words))
	at := map[int]bool{}
	for _, i := range r.Perm(len(words))[:q] {
		at[i] = true
	}
	out := make([]string, 0, len(words)+q)
	marks := aedaMarks()
	for i, w := range words {
		if at[i] {
			out = append(out, marks[r.IntN(len(marks))])
		}
		out = append(out, w)
	}
	return out
}
