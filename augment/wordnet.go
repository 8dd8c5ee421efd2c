package augment

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// WordNet is an English WordNet 3.0 database read from its own files
// (index.POS, data.POS and POS.exc for noun, verb, adj, adv), as the Debian
// package wordnet-base installs them in /usr/share/wordnet.
type WordNet struct {
	dir   string
	index map[string]map[string][]int64 // pos → lemma → synset offsets
	data  map[string][]byte             // pos → data file
	exc   map[string]map[string][]string
}

// wordNetPOS returns the parts of speech, in the order NLTK's synsets() visits them.
func wordNetPOS() []string {
	return []string{"noun", "verb", "adj", "adv"}
}

// DefaultWordNetDirs returns where FindWordNet looks after $WNSEARCHDIR.
func DefaultWordNetDirs() []string {
	return []string{"/usr/share/wordnet", "/usr/share/wordnet/dict", "/usr/local/WordNet-3.0/dict"}
}

// ErrNoWordNet is returned by FindWordNet when no database is installed.
var ErrNoWordNet = errors.New("no WordNet database found (install it with `apt-get install wordnet-base`, or name its folder with wordnet=DIR / --wordnet DIR)")

// FindWordNet returns the first folder holding index.noun among dir (if
// not empty), $WNSEARCHDIR and DefaultWordNetDirs().
func FindWordNet(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "index.noun")); err != nil {
			return "", fmt.Errorf("%s is not a WordNet database folder (no index.noun)", dir)
		}
		return dir, nil
	}
	for _, d := range append([]string{os.Getenv("WNSEARCHDIR")}, DefaultWordNetDirs()...) {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "index.noun")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoWordNet
}

// OpenWordNet reads the database in dir. Missing parts of speech are
// skipped, but index.noun and data.noun must be there.
func OpenWordNet(dir string) (*WordNet, error) {
	wn := &WordNet{dir: dir, index: map[string]map[string][]int64{}, data: map[string][]byte{}, exc: map[string]map[string][]string{}}
	for _, pos := range wordNetPOS() {
		idx, err := os.ReadFile(filepath.Join(dir, "index."+pos))
		if err != nil {
			if pos == "noun" {
				return nil, fmt.Errorf("wordnet: %w", err)
			}
			continue
		}
		if wn.data[pos], err = os.ReadFile(filepath.Join(dir, "data."+pos)); err != nil {
			return nil, fmt.Errorf("wordnet: %w", err)
		}
		if wn.index[pos], err = parseIndex(filepath.Join(dir, "index."+pos), idx); err != nil {
			return nil, err
		}
		wn.exc[pos] = map[string][]string{}
		if b, err := os.ReadFile(filepath.Join(dir, pos+".exc")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) >= 2 {
					wn.exc[pos][f[0]] = append(wn.exc[pos][f[0]], f[1:]...)
				}
			}
		}
	}
	return wn, nil
}

// parseIndex reads an index file: "lemma pos synset_cnt p_cnt [ptr...]
// sense_cnt tagsense_cnt offset..."; lines starting with a space are the
// licence.
func parseIndex(path string, b []byte) (map[string][]int64, error) {
	m := map[string][]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if s == "" || s[0] == ' ' {
			continue
		}
		f := strings.Fields(s)
		if len(f) < 4 {
			return nil, fmt.Errorf("%s:%d: want at least 4 fields, got %d", path, line, len(f))
		}
		nsyn, err1 := strconv.Atoi(f[2])
		nptr, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || len(f) != 4+nptr+2+nsyn {
			return nil, fmt.Errorf("%s:%d: malformed index line", path, line)
		}
		offs := make([]int64, nsyn)
		for i, o := range f[len(f)-nsyn:] {
			if offs[i], err1 = strconv.ParseInt(o, 10, 64); err1 != nil {
				return nil, fmt.Errorf("%s:%d: bad synset offset %q", path, line, o)
			}
		}
		m[f[0]] = offs
	}
	return m, sc.Err()
}

// synsetWords returns the words of the synset at off in pos's data file:
// "offset lex_filenum ss_type w_cnt(hex) word lex_id ...".
func (wn *WordNet) synsetWords(pos string, off int64) []string {
	d := wn.data[pos]
	if off < 0 || off >= int64(len(d)) {
		return nil
	}
	end := bytes.IndexByte(d[off:], '\n')
	if end < 0 {
		end = len(d) - int(off)
	}
	f := strings.Fields(string(d[off : off+int64(end)]))
	if len(f) < 4 {
		return nil
	}
	n, err := strconv.ParseInt(f[3], 16, 32)
	if err != nil || len(f) < 4+2*int(n) {
		return nil
	}
	out := make([]string, 0, n)
	for i := range int(n) {
		w := f[4+2*i]
		if p := strings.IndexByte(w, '('); p > 0 { // adjective marker: "small(a)"
			w = w[:p]
		}
		out = append(out, w)
	}
	return out
}

// morphRules returns WordNet's detachment rules (suffix → replacement) for
// part of speech pos, as morphy applies them.
func morphRules(pos string) [][2]string {
	switch pos {
	case "noun":
		return [][2]string{{"s", ""}, {"ses", "s"}, {"xes", "x"}, {"zes", "z"}, {"ches", "ch"}, {"shes", "sh"}, {"men", "man"}, {"ies", "y"}}
	case "verb":
		return [][2]string{{"s", ""}, {"ies", "y"}, {"es", "e"}, {"es", ""}, {"ed", "e"}, {"ed", ""}, {"ing", "e"}, {"ing", ""}}
	case "adj":
		return [][2]string{{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}}
	}
	return nil
}

// baseForms returns the lemmas of form in pos that the index knows: the
// form itself and its exception-list or rule-based base forms, as NLTK's
// morphy.
func (wn *WordNet) baseForms(form, pos string) []string {
	idx := wn.index[pos]
	var cands []string
	if ex, ok := wn.exc[pos][form]; ok {
		cands = append([]string{form}, ex...)
	} else {
		cands = []string{form}
		for _, r := range morphRules(pos) {
			if strings.HasSuffix(form, r[0]) {
				cands = append(cands, form[:len(form)-len(r[0])]+r[1])
			}
		}
	}
	var out []string
	for _, c := range cands {
		if _, ok := idx[c]; ok && !contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Synonyms returns the lemmas of every synset of word (any part of
// speech, through its base forms), lower-cased with "_" as a space, in
// database order, without duplicates or word itself — what eda.py's
// get_synonyms collects from NLTK. Lemmas with characters outside letters,
// spaces, hyphens, apostrophes and periods are left out, and so are the
// word's own base forms ("film" for "films").
func (wn *WordNet) Synonyms(word string) []string {
	w := strings.ToLower(word)
	key := strings.ReplaceAll(w, " ", "_")
	var out []string
	seen := map[string]bool{w: true}
	forms := map[string][]string{}
	for _, pos := range wordNetPOS() {
		forms[pos] = wn.baseForms(key, pos)
		for _, f := range forms[pos] {
			seen[strings.ReplaceAll(f, "_", " ")] = true // "film" is no synonym of "films"
		}
	}
	for _, pos := range wordNetPOS() {
		for _, form := range forms[pos] {
			for _, off := range wn.index[pos][form] {
				for _, l := range wn.synsetWords(pos, off) {
					s := strings.ToLower(strings.ReplaceAll(l, "_", " "))
					if seen[s] || !plainLemma(s) {
						continue
					}
					seen[s] = true
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func plainLemma(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == ' ' || r == '-' || r == '\'' || r == '.') {
			return false
		}
	}
	return s != ""
}
