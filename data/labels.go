package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// LabelSet maps label names to class ids: Names[id] is the label of id.
type LabelSet struct {
	Names []string
}

// NewLabelSet collects the distinct labels of the training examples. If
// every label parses as an integer they are ordered numerically ("2" before
// "10"), otherwise as strings. It fails if no example has a label.
func NewLabelSet(train []Example) (*LabelSet, error) {
	seen := map[string]bool{}
	var names []string
	for _, ex := range train {
		if ex.HasLabel && !seen[ex.Label] {
			seen[ex.Label] = true
			names = append(names, ex.Label)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("data: no labelled examples to take the label set from")
	}
	nums := make(map[string]int64, len(names))
	for _, n := range names {
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			nums = nil
			break
		}
		nums[n] = v
	}
	slices.SortFunc(names, func(a, b string) int {
		if nums != nil && nums[a] != nums[b] {
			if nums[a] < nums[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return &LabelSet{Names: names}, nil
}

// LabelSetFromConfig rebuilds a label set from a Hugging Face config.json
// "id2label" map, whose keys must be the decimal ids 0..n-1.
func LabelSetFromConfig(id2label map[string]string) (*LabelSet, error) {
	if len(id2label) == 0 {
		return nil, fmt.Errorf("data: id2label is empty")
	}
	names := make([]string, len(id2label))
	for k, v := range id2label {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || id >= len(names) || strconv.Itoa(id) != k {
			return nil, fmt.Errorf("data: id2label key %q: want a decimal id in 0..%d", k, len(names)-1)
		}
		names[id] = v
	}
	return &LabelSet{Names: names}, nil
}

// ID returns the class id of label.
func (ls *LabelSet) ID(label string) (int, bool) {
	i := slices.Index(ls.Names, label)
	return i, i >= 0
}

// Len returns the number of labels.
func (ls *LabelSet) Len() int { return len(ls.Names) }

// ID2Label returns the labels keyed by decimal id, as config.json's
// "id2label".
func (ls *LabelSet) ID2Label() map[string]string {
	m := make(map[string]string, len(ls.Names))
	for i, n := range ls.Names {
		m[strconv.Itoa(i)] = n
	}
	return m
}

// Label2ID returns the ids keyed by label, as config.json's "label2id".
func (ls *LabelSet) Label2ID() map[string]int {
	m := make(map[string]int, len(ls.Names))
	for i, n := range ls.Names {
		m[n] = i
	}
	return m
}

// CheckLabels returns an error naming the file:line (the example's Source,
// else path) of the first labelled example whose label is not in ls.
func CheckLabels(examples []Example, ls *LabelSet, path string) error {
	for i, ex := range examples {
		if !ex.HasLabel {
			continue
		}
		if _, ok := ls.ID(ex.Label); ok {
			continue
		}
		src := ex.Source
		if src == "" {
			src = fmt.Sprintf("%s: example %d", path, i)
		}
		return fmt.Errorf("%s: label %q does not occur in the training data (known labels: %s)", src, ex.Label, strings.Join(ls.Names, ", "))
	}
	return nil
}

// Split moves a seeded random evalFraction of the examples (rounded, at
// least one when evalFraction > 0, and never all of them) into eval. Both
// parts keep the original order; the same seed gives the same split.
func Split(ex []Example, evalFraction float64, seed int64) (train, eval []Example) {
	n := len(ex)
	nEval := 0
	if evalFraction > 0 && n > 1 {
		nEval = min(max(int(evalFraction*float64(n)+0.5), 1), n-1)
	}
	inEval := make([]bool, n)
	for _, i := range newRand(seed).Perm(n)[:nEval] {
		inEval[i] = true
	}
	for i, e := range ex {
		if inEval[i] {
			eval = append(eval, e)
		} else {
			train = append(train, e)
		}
	}
	return train, eval
}

// newRand returns a deterministic generator for seed.
func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
}
