// Package augment is data augmentation for text classification: EDA (Wei &
// Zou 2019: synonym replacement, random insertion, random swap, random
// deletion) for English and Korean, AEDA (random punctuation insertion,
// Karimi et al. 2021) and contextual word substitution with a BERT masked
// LM (as nlpaug's ContextualWordEmbsAug). It works on data.Example, so any
// fine-tuning method can train on its output; `gotune augment` writes it to
// a file and `gotune train --augment SPEC` applies it to the training data
// (never to evaluation data).
//
// Every augmented example is a copy of its original with a new text and
// the same label and other fields; the originals are kept, first. The
// output depends only on the data, the settings and the seed.
//
// English synonyms come from WordNet 3.0, read from its database files
// (Debian's wordnet-base); Korean is split on whitespace with particles
// attached, and its synonym replacement and insertion need a user
// dictionary (ReadDict), since no Korean thesaurus ships here.
package augment

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gotune/gotune/data"
)

// Augmenter makes variants of texts.
type Augmenter interface {
	// Name describes the augmenter and its settings.
	Name() string
	// Copies is the number of variants per text.
	Copies() int
	// Augment returns Copies() variants of each text; the result depends
	// only on texts and seed.
	Augment(texts []string, seed int64) ([][]string, error)
}

// Options configure New; the zero value of a field means its default.
type Options struct {
	// Method is eda (default), aeda or contextual.
	Method string
	// Lang is en, ko or auto (default: Korean when ≥30% of the letters of
	// the data are Hangul).
	Lang string
	// AlphaSR, AlphaRI, AlphaRS and PRD are EDA's per-operation rates; a
	// negative value means the EDA paper's recommendation for the data size
	// (Recommended). Korean without Synonyms turns SR and RI off.
	AlphaSR, AlphaRI, AlphaRS, PRD float64
	// NumAug is the number of augmented copies per example; ≤ 0 means the
	// recommendation (eda) or 1 (aeda, contextual).
	NumAug int
	// AEDA adds punctuation insertion to EDA's operations: -1 default
	// (on for Korean, off for English), 0 off, 1 on.
	AEDA int
	// Synonyms is a synonym dictionary file (.tsv, .txt, .json; see
	// ReadDict); for English it replaces WordNet.
	Synonyms string
	// WordNet is the WordNet database folder ("" finds it: FindWordNet).
	WordNet string
	// Model is the masked LM for contextual substitution.
	Model string
	// P is the fraction of words contextual substitution masks (0.15).
	P float64
	// K is how many top predictions it draws from (5).
	K int
	// Backend is the compute backend for contextual substitution.
	Backend string
}

// DefaultOptions returns options whose EDA rates and count come from
// Recommended and whose language is detected.
func DefaultOptions() Options {
	return Options{Method: "eda", Lang: "auto", AlphaSR: -1, AlphaRI: -1, AlphaRS: -1, PRD: -1, AEDA: -1, P: 0.15, K: 5}
}

// Recommended returns the EDA paper's recommended alpha (for every
// operation) and copies per sentence for a training set of n examples:
// up to 500 → 0.05, 16; up to 2,000 → 0.05, 8; up to 5,000 → 0.1, 4; more
// → 0.1, 4.
func Recommended(n int) (alpha float64, numAug int) {
	switch {
	case n <= 500:
		return 0.05, 16
	case n <= 2000:
		return 0.05, 8
	default:
		return 0.1, 4
	}
}

// specKeys returns the keys ParseSpec accepts, by method.
func specKeys() map[string][]string {
	return map[string][]string{
		"eda":        {"alpha", "sr", "ri", "rs", "rd", "n", "lang", "aeda", "synonyms", "wordnet"},
		"aeda":       {"n", "lang"},
		"contextual": {"p", "k", "n", "model"},
	}
}

// ParseSpec parses a --augment value: METHOD[:key=value,...], with METHOD
// eda, aeda or contextual. eda takes alpha (all four rates), sr, ri, rs,
// rd, n, lang, aeda (true/false), synonyms (a file) and wordnet (a
// folder); aeda takes n and lang; contextual takes p, k, n and model
// (default: the model being fine-tuned). For example "eda",
// "eda:alpha=0.1,n=4", "aeda:n=2", "contextual:p=0.15,k=5".
func ParseSpec(spec string) (Options, error) {
	o := DefaultOptions()
	method, args, _ := strings.Cut(strings.TrimSpace(spec), ":")
	keys, ok := specKeys()[method]
	if !ok {
		return o, fmt.Errorf("augment %q: unknown method %q (valid: eda, aeda, contextual; e.g. eda:alpha=0.1,n=4)", spec, method)
	}
	o.Method = method
	if args == "" {
		return o, nil
	}
	for _, kv := range strings.Split(args, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || !slices.Contains(keys, k) {
			return o, fmt.Errorf("augment %q: %q is not key=value with a key of %s (valid: %s)", spec, kv, method, strings.Join(keys, ", "))
		}
		var err error
		num := func(dst *float64) {
			if *dst, err = strconv.ParseFloat(v, 64); err == nil && (*dst < 0 || *dst > 1) {
				err = fmt.Errorf("want a number in [0, 1]")
			}
		}
		switch k {
		case "alpha":
			num(&o.AlphaSR)
			o.AlphaRI, o.AlphaRS, o.PRD = o.AlphaSR, o.AlphaSR, o.AlphaSR
		case "sr":
			num(&o.AlphaSR)
		case "ri":
			num(&o.AlphaRI)
		case "rs":
			num(&o.AlphaRS)
		case "rd":
			num(&o.PRD)
		case "p":
			num(&o.P)
		case "n", "k":
			var x int
			if x, err = strconv.Atoi(v); err == nil && x < 1 {
				err = fmt.Errorf("want an integer ≥ 1")
			}
			if k == "n" {
				o.NumAug = x
			} else {
				o.K = x
			}
		case "lang":
			o.Lang = v
		case "aeda":
			var b bool
			b, err = strconv.ParseBool(v)
			o.AEDA = map[bool]int{false: 0, true: 1}[b]
		case "synonyms":
			o.Synonyms = v
		case "wordnet":
			o.WordNet = v
		case "model":
			o.Model = v
		}
		if err != nil {
			return o, fmt.Errorf("augment %q: %s=%s: %v", spec, k, v, err)
		}
	}
	return o, nil
}

// New builds the augmenter o describes for the given training texts (their
// number picks the recommended EDA settings; their script, the language).
func New(o Options, texts []string) (Augmenter, error) {
	lang := o.Lang
	switch lang {
	case "", "auto":
		lang = DetectLang(texts)
	case "en", "ko":
	default:
		return nil, fmt.Errorf("augment: language %q: want en, ko or auto", o.Lang)
	}
	switch o.Method {
	case "contextual":
		if o.Model == "" {
			return nil, fmt.Errorf("augment: contextual substitution needs a masked-LM model (model=DIR)")
		}
		return NewContextual(o.Model, o.Backend, o.P, o.K, max(o.NumAug, 1))
	case "aeda":
		return &EDA{AEDA: true, NumAug: max(o.NumAug, 1)}, nil
	case "", "eda":
	default:
		return nil, fmt.Errorf("augment: unknown method %q (valid: eda, aeda, contextual)", o.Method)
	}
	alpha, n := Recommended(len(texts))
	rate := func(x float64) float64 {
		if x < 0 {
			return alpha
		}
		return x
	}
	e := &EDA{AlphaSR: rate(o.AlphaSR), AlphaRI: rate(o.AlphaRI), AlphaRS: rate(o.AlphaRS), PRD: rate(o.PRD), NumAug: o.NumAug, AEDA: o.AEDA == 1}
	if e.NumAug <= 0 {
		e.NumAug = n
	}
	if o.AEDA < 0 {
		e.AEDA = lang == "ko"
	}
	var dict Synonyms
	if o.Synonyms != "" {
		d, err := ReadDict(o.Synonyms)
		if err != nil {
			return nil, err
		}
		dict = d
	}
	switch {
	case lang == "ko" && dict != nil:
		e.Synonyms = KoreanSynonyms{Dict: dict}
	case lang == "ko":
		// No Korean thesaurus here: SR and RI need --synonyms.
	case dict != nil:
		e.Synonyms, e.StopWords = dict, stopWords()
	case e.AlphaSR > 0 || e.AlphaRI > 0:
		dir, err := FindWordNet(o.WordNet)
		if err != nil {
			return nil, fmt.Errorf("augment: English synonym replacement and insertion need WordNet: %w; or turn them off with sr=0,ri=0", err)
		}
		wn, err := OpenWordNet(dir)
		if err != nil {
			return nil, err
		}
		e.Synonyms, e.StopWords = wn, stopWords()
	}
	return e, nil
}

// Examples returns the examples followed by, for each one, its augmented
// copies (in order), made by a from the texts. A copy has the new text in
// Text and in Raw[textField], and every other field of its original;
// examples with pre-tokenized input_ids are not augmented.
func Examples(ex []data.Example, a Augmenter, textField string, seed int64) ([]data.Example, error) {
	var texts []string
	var which []int
	for i, e := range ex {
		if e.InputIDs == nil {
			texts = append(texts, e.Text)
			which = append(which, i)
		}
	}
	aug, err := a.Augment(texts, seed)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(ex)
	for k, i := range which {
		for c, t := range aug[k] {
			e := ex[i]
			e.Text = t
			e.Raw = maps.Clone(e.Raw)
			if e.Raw != nil && textField != "" {
				e.Raw[textField] = t
			}
			e.Source = fmt.Sprintf("%s (augmented %d)", ex[i].Source, c+1)
			out = append(out, e)
		}
	}
	return out, nil
}

// Texts returns the texts of examples (for New).
func Texts(ex []data.Example) []string {
	out := make([]string, len(ex))
	for i, e := range ex {
		out[i] = e.Text
	}
	return out
}

// Train augments the training examples of a run with a --augment spec;
// model and backend serve contextual substitution when the spec names no
// model. It returns the examples and a one-line description.
func Train(ex []data.Example, spec, textField, model, backend string, seed int64) ([]data.Example, string, error) {
	o, err := ParseSpec(spec)
	if err != nil {
		return nil, "", err
	}
	if o.Model == "" {
		o.Model = model
	}
	o.Backend = backend
	a, err := New(o, Texts(ex))
	if err != nil {
		return nil, "", err
	}
	out, err := Examples(ex, a, textField, seed)
	if err != nil {
		return nil, "", err
	}
	return out, fmt.Sprintf("augment %s: %s, %d copies each: %d → %d training examples", spec, a.Name(), a.Copies(), len(ex), len(out)), nil
}

// WriteReport writes what augmentation did as JSON (for the run folder).
func WriteReport(path, spec, desc string, before, after int) error {
	b, _ := json.MarshalIndent(map[string]any{"augment": spec, "description": desc, "train_examples_before": before, "train_examples_after": after}, "", "  ")
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
