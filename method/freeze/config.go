package freeze

import (
	"fmt"
	"regexp"
	"strings"
)

// The command-line flags that set each Config field; errors name them. The
// YAML keys are the same words with underscores (freeze, train_modules,
// train_regex, freeze_regex, train_last).
const (
	FlagFreeze      = "--freeze"
	FlagTrain       = "--train-modules"
	FlagTrainRegex  = "--train-regex"
	FlagFreezeRegex = "--freeze-regex"
	FlagTrainLast   = "--train-last"
)

// DefaultTrainLast is how many top layers train when a Config selects
// nothing.
const DefaultTrainLast = 2

// Config chooses which weights train. Fields fall in two styles that do
// not mix: the train style (Train, TrainRegex, TrainLast; their selections
// add up and everything else is frozen) and the freeze style (Freeze,
// FreezeRegex; their selections add up and everything else trains). With
// no field set, TrainLast is DefaultTrainLast. In both styles the
// classification head (classifier.*) always trains: it is new.
//
// A module list is comma-separated; its names are
//
//	embeddings                 the embedding tables and their LayerNorm
//	layers, layers:N, layers:N-M  whole encoder layers (0-based, inclusive)
//	pooler, classifier         the pooler and the classification head
//	attention, attention.self, attention.output, ffn, layernorm
//	                           a module kind in every layer
//	layers:N-M.KIND            a module kind in some layers, e.g. layers:4-5.ffn
//
// where ffn is intermediate.dense plus output.dense, attention.output is
// attention.output.dense plus its LayerNorm, and layernorm is the two
// LayerNorms of each layer. The names come from the architecture (see
// bert.Modules); an unknown one is an error listing the valid ones.
type Config struct {
	// Freeze lists the modules to freeze; everything else trains
	// (--freeze embeddings,layers:0-7).
	Freeze string
	// Train lists the modules that train; everything else is frozen
	// (--train-modules layers:8-11,pooler).
	Train string
	// TrainRegex trains the weights whose Hugging Face name it matches
	// anywhere (RE2 syntax; anchor with ^ and $); everything else is frozen.
	TrainRegex string
	// FreezeRegex freezes the weights whose Hugging Face name it matches
	// anywhere; everything else trains.
	FreezeRegex string
	// TrainLast trains the last N encoder layers and everything above
	// them (pooler and head), as LLaMA-Factory's freeze_trainable_layers;
	// 0 means unset.
	TrainLast int
}

// IsZero reports whether no field is set (the default selection applies).
func (c Config) IsZero() bool { return c == Config{} }

// SetFlags names the flags of the fields that are set.
func (c Config) SetFlags() []string {
	var out []string
	for _, f := range []struct {
		flag string
		set  bool
	}{
		{FlagFreeze, c.Freeze != ""}, {FlagTrain, c.Train != ""}, {FlagTrainRegex, c.TrainRegex != ""},
		{FlagFreezeRegex, c.FreezeRegex != ""}, {FlagTrainLast, c.TrainLast != 0},
	} {
		if f.set {
			out = append(out, f.flag)
		}
	}
	return out
}

// selector is one parsed entry of a module list.
type selector struct {
	text   string // as written
	name   string // a group or kind name, when not a layer entry
	layers bool   // a layers[:N[-M]][.KIND] entry
	lo, hi int    // its layer range; hi < 0 means every layer
	kind   string // its module kind, or ""
}

// plan is a checked Config.
type plan struct {
	train, freeze           []selector
	trainRe, freezeRe       *regexp.Regexp
	trainLast               int
	freezeStyle, trainStyle bool
}

// parse checks everything that does not need the model: the styles, the
// list syntax, the layer ranges' form and the regular expressions.
func (c Config) parse() (*plan, error) {
	p := &plan{trainLast: c.TrainLast}
	p.freezeStyle = c.Freeze != "" || c.FreezeRegex != ""
	p.trainStyle = c.Train != "" || c.TrainRegex != "" || c.TrainLast != 0
	if p.freezeStyle && p.trainStyle {
		return nil, fmt.Errorf("%s/%s cannot be combined with %s/%s/%s: choose what is frozen or what trains",
			FlagFreeze, FlagFreezeRegex, FlagTrain, FlagTrainRegex, FlagTrainLast)
	}
	if c.TrainLast < 0 {
		return nil, fmt.Errorf("%s must be ≥ 1, got %d", FlagTrainLast, c.TrainLast)
	}
	if !p.freezeStyle && !p.trainStyle {
		p.trainLast, p.trainStyle = DefaultTrainLast, true
	}
	var err error
	if p.freeze, err = parseList(c.Freeze, FlagFreeze); err != nil {
		return nil, err
	}
	if p.train, err = parseList(c.Train, FlagTrain); err != nil {
		return nil, err
	}
	if p.trainRe, err = compile(c.TrainRegex, FlagTrainRegex); err != nil {
		return nil, err
	}
	if p.freezeRe, err = compile(c.FreezeRegex, FlagFreezeRegex); err != nil {
		return nil, err
	}
	return p, nil
}

func compile(expr, flag string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", flag, expr, err)
	}
	return re, nil
}

// parseList splits a comma-separated module list and parses each entry.
func parseList(list, flag string) ([]selector, error) {
	if list == "" {
		return nil, nil
	}
	var out []selector
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, fmt.Errorf("%s %q: empty module name", flag, list)
		}
		s, err := parseSelector(t, flag)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// parseSelector parses "layers", "layers:N", "layers:N-M", any of them
// followed by ".KIND", or a bare group or kind name (checked against the
// model later).
func parseSelector(t, flag string) (selector, error) {
	s := selector{text: t, lo: 0, hi: -1}
	rest, ok := strings.CutPrefix(t, "layers")
	if !ok || (rest != "" && rest[0] != ':' && rest[0] != '.') {
		s.name = t
		return s, nil
	}
	s.layers = true
	if r, ok := strings.CutPrefix(rest, ":"); ok {
		rng, kind, hasKind := strings.Cut(r, ".")
		lo, hi, ok := parseRange(rng)
		if !ok {
			return s, fmt.Errorf("bad layer range %q in %s: want layers:N or layers:N-M with 0 ≤ N ≤ M, optionally followed by .KIND", t, flag)
		}
		s.lo, s.hi = lo, hi
		rest = ""
		if hasKind {
			rest = "." + kind
		}
	}
	if k, ok := strings.CutPrefix(rest, "."); ok {
		if k == "" {
			return s, fmt.Errorf("%q in %s: missing module kind after the dot", t, flag)
		}
		s.kind = k
	}
	return s, nil
}

// parseRange parses "N" or "N-M" with 0 ≤ N ≤ M.
func parseRange(r string) (lo, hi int, ok bool) {
	a, b, isRange := strings.Cut(r, "-")
	if !isRange {
		b = a
	}
	lo, ok1 := atoi(a)
	hi, ok2 := atoi(b)
	return lo, hi, ok1 && ok2 && lo <= hi
}

// atoi parses a non-negative decimal integer (digits only).
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}
