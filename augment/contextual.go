package augment

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/tokenizer"
)

// Contextual is contextual word substitution (as nlpaug's
// ContextualWordEmbsAug with action "substitute"): in each copy of a
// sentence a fraction P of its words is masked and each masked word is
// replaced by one of the top-K predictions of a BERT masked LM, drawn
// uniformly. Only whole words are used: predictions that are "##"
// continuations, special tokens, punctuation or the original word are
// skipped (a word keeps its surrounding punctuation). A word with no
// usable prediction stays as it was.
type Contextual struct {
	// P is the fraction of words masked (at least one per sentence).
	P float64
	// K is how many top predictions a replacement is drawn from.
	K int
	// NumAug is the number of copies per sentence.
	NumAug int
	// BatchSize is the number of sentences per model call.
	BatchSize int

	cfg  *bert.Config
	tok  *tokenizer.Tokenizer
	exec *model.Exec
	// maxLen is the longest input in tokens.
	maxLen int
	// top is how many predictions the graph returns per masked word
	// (more than K, so that K survive the filter).
	top int
}

// maxMasks is the most masked words per sentence in one model call.
const maxMasks = 16

// NewContextual loads the BERT masked LM in modelDir (its config.json,
// weights with the cls.predictions head, and tokenizer) on backend.
func NewContextual(modelDir, backend string, p float64, k, numAug int) (*Contextual, error) {
	dir, err := checkpoint.Resolve(modelDir)
	if err != nil {
		return nil, err
	}
	modelType, raw, err := checkpoint.ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(bert.ModelTypes(), modelType) {
		return nil, fmt.Errorf("contextual augmentation: %s: model_type %q is not a BERT-family masked LM (supported: %s)", dir, modelType, strings.Join(bert.ModelTypes(), ", "))
	}
	cfg, err := bert.ParseConfig(raw, filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	weights, err := checkpoint.ReadWeights(dir)
	if err != nil {
		return nil, err
	}
	shapes := bert.ParamShapes(cfg, bert.HeadMLM, 0)
	ps := nn.NewParams()
	for _, t := range weights {
		name := t.Name
		if _, ok := shapes[name]; !ok {
			name = cfg.Prefix() + name // a bare encoder's names
		}
		if want, ok := shapes[name]; ok && slices.Equal(want, t.Shape) && t.F32 != nil {
			if err := ps.Set(name, t.Shape, t.F32); err != nil {
				return nil, err
			}
		}
	}
	var missing []string
	for n := range shapes {
		if !ps.Has(n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("contextual augmentation needs a masked-LM checkpoint (BertForMaskedLM, with cls.predictions.*): %s lacks %s", dir, strings.Join(missing[:min(3, len(missing))], ", "))
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	be, err := engine.New(backend)
	if err != nil {
		return nil, err
	}
	c := &Contextual{P: p, K: k, NumAug: numAug, BatchSize: 16, cfg: cfg, tok: tok, maxLen: min(cfg.MaxPositionEmbeddings, 128)}
	c.top = min(cfg.VocabSize, max(4*k, 32))
	if err := c.compile(be, ps); err != nil {
		return nil, err
	}
	return c, nil
}

// compile builds the executor: ids, mask [B, L] and flat masked positions
// [B·maxMasks] (row·L + column) in, the logits [B·maxMasks, vocab] out
// (the top ids are picked in Go: the Go backend's TopK is slow on a
// vocabulary-sized axis).
func (c *Contextual) compile(be compute.Backend, ps *nn.Params) error {
	e, err := nn.NewModelExec(be, ps, func(g *Graph, xs []*Node) []*Node {
		ctx := &nn.Ctx{G: g, P: ps}
		h := bert.Encode(ctx, c.cfg, bert.Inputs{IDs: xs[0], Mask: xs[1]})
		b, l, hid := h.Shape().Dimensions[0], h.Shape().Dimensions[1], h.Shape().Dimensions[2]
		n := xs[2].Shape().Dimensions[0]
		sel := Gather(Reshape(h, b*l, hid), Reshape(xs[2], n, 1))
		logits := bert.MLMHead(ctx, c.cfg, Reshape(sel, 1, n, hid))
		return []*Node{Reshape(logits, n, c.cfg.VocabSize)}
	})
	if err != nil {
		return fmt.Errorf("contextual augmentation: %w", err)
	}
	e.SetMaxCache(16)
	c.exec = e
	return nil
}

// Name describes the augmenter.
func (c *Contextual) Name() string { return fmt.Sprintf("contextual (p=%g, k=%d)", c.P, c.K) }

// Copies returns NumAug.
func (c *Contextual) Copies() int { return c.NumAug }

// job is one sentence copy to fill in.
type job struct {
	words  []string
	masked []int // word positions masked, ascending
	ids    []int32
	pos    []int // token position of each masked word (-1: truncated away)
	r      *rand.Rand
	out    *string
}

// Augment returns NumAug copies of each text with words substituted; copy
// a of text i uses the random stream (seed, i) after copies 0..a-1.
func (c *Contextual) Augment(texts []string, seed int64) ([][]string, error) {
	out := make([][]string, len(texts))
	var jobs []*job
	for i, t := range texts {
		out[i] = make([]string, c.NumAug)
		r := newRand(seed, i)
		words := strings.Fields(t)
		for a := range c.NumAug {
			out[i][a] = t
			j := c.prepare(words, r)
			if j == nil {
				continue
			}
			j.out = &out[i][a]
			jobs = append(jobs, j)
		}
	}
	for s := 0; s < len(jobs); s += c.BatchSize {
		if err := c.run(jobs[s:min(s+c.BatchSize, len(jobs))]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prepare picks the words to mask and builds the masked token ids.
func (c *Contextual) prepare(words []string, r *rand.Rand) *job {
	var cand []int
	for i, w := range words {
		if _, core, _ := split(w); hasLetter(core) {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return nil
	}
	n := min(max(1, int(c.P*float64(len(words))+0.5)), len(cand), maxMasks)
	r.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	masked := slices.Clone(cand[:n])
	sort.Ints(masked)
	j := &job{words: words, masked: masked, r: r, ids: []int32{c.tok.CLSID()}}
	mi := 0
	for i, w := range words {
		if mi < len(masked) && masked[mi] == i {
			pre, _, post := split(w)
			j.ids = append(j.ids, c.tok.TokensToIDs(c.tok.Tokenize(pre))...)
			j.pos = append(j.pos, len(j.ids))
			j.ids = append(j.ids, c.tok.MaskID())
			j.ids = append(j.ids, c.tok.TokensToIDs(c.tok.Tokenize(post))...)
			mi++
			continue
		}
		j.ids = append(j.ids, c.tok.TokensToIDs(c.tok.Tokenize(w))...)
	}
	if len(j.ids) > c.maxLen-1 {
		j.ids = j.ids[:c.maxLen-1]
		for k, p := range j.pos {
			if p >= len(j.ids) {
				j.pos[k] = -1
			}
		}
	}
	j.ids = append(j.ids, c.tok.SEPID())
	return j
}

// run predicts the masked words of a batch of jobs and fills them in.
func (c *Contextual) run(jobs []*job) error {
	b := c.BatchSize
	longest := 0
	for _, j := range jobs {
		longest = max(longest, len(j.ids))
	}
	l := c.maxLen
	for _, bucket := range []int{16, 32, 64, 128, 256, 512} {
		if bucket >= longest && bucket <= c.maxLen {
			l = bucket
			break
		}
	}
	ids := make([]int32, b*l)
	mask := make([]int32, b*l)
	pos := make([]int32, b*maxMasks)
	for r, j := range jobs {
		copy(ids[r*l:], j.ids)
		for k := range j.ids {
			mask[r*l+k] = 1
		}
		for k, p := range j.pos {
			if p >= 0 {
				pos[r*maxMasks+k] = int32(r*l + p)
			}
		}
	}
	for i := range ids {
		if mask[i] == 0 {
			ids[i] = c.tok.PadID()
		}
	}
	out, err := c.exec.Exec(tensors.FromFlatDataAndDimensions(ids, b, l), tensors.FromFlatDataAndDimensions(mask, b, l),
		tensors.FromFlatDataAndDimensions(pos, b*maxMasks))
	if err != nil {
		return fmt.Errorf("contextual augmentation: %w", err)
	}
	v := c.cfg.VocabSize
	logits := make([]float32, b*maxMasks*v)
	out[0].ConstFlatData(func(f any) { copy(logits, f.([]float32)) })
	for r, j := range jobs {
		words := slices.Clone(j.words)
		for k, wi := range j.masked {
			if j.pos[k] < 0 {
				continue
			}
			pre, core, post := split(words[wi])
			row := topIDs(logits[(r*maxMasks+k)*v:(r*maxMasks+k+1)*v], c.top)
			if w := c.pick(row, core, j.r); w != "" {
				words[wi] = pre + w + post
			}
		}
		*j.out = strings.Join(words, " ")
	}
	return nil
}

// pick draws a replacement for orig among the first K usable predictions
// of row, or returns "" when none is usable.
func (c *Contextual) pick(row []int32, orig string, r *rand.Rand) string {
	origKey := strings.ToLower(orig)
	var ok []string
	for _, id := range row {
		if len(ok) == c.K {
			break
		}
		t := c.tok.IDToToken(id)
		switch {
		case t == "" || strings.HasPrefix(t, "##") || id == c.tok.UNKID() || id == c.tok.MaskID() || id == c.tok.PadID() ||
			id == c.tok.CLSID() || id == c.tok.SEPID() || (strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]")) ||
			(strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">")) || !hasLetterOrDigit(t) || strings.ToLower(t) == origKey:
			continue
		}
		ok = append(ok, t)
	}
	if len(ok) == 0 {
		return ""
	}
	return ok[r.IntN(len(ok))]
}

func hasLetterOrDigit(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// topIDs returns the ids of the n largest logits, largest first (ties:
// lower id first).
func topIDs(logits []float32, n int) []int32 {
	ids := make([]int32, 0, n+1)
	for id, x := range logits {
		if len(ids) == n && x <= logits[ids[n-1]] {
			continue
		}
		i := sort.Search(len(ids), func(i int) bool { return logits[ids[i]] < x })
		ids = slices.Insert(ids, i, int32(id))
		if len(ids) > n {
			ids = ids[:n]
		}
	}
	return ids
}
