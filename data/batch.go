package data

import (
	"fmt"
	"slices"

	"github.com/gotune/gotune/tokenizer"
)

// Encoded is one tokenized example ready for batching.
type Encoded struct {
	IDs, TypeIDs []int32 // TypeIDs nil means all 0
	Label        int32   // class id, -1 if none
	Index        int     // index of the example in its file
}

// Encoder turns text into model input; *tokenizer.Tokenizer is one.
type Encoder interface {
	// Encode tokenizes text, with pair as second segment unless empty.
	Encode(text, pair string, maxLen int) tokenizer.Encoding
	// EncodePair tokenizes a pair even when pair is empty.
	EncodePair(text, pair string, maxLen int) tokenizer.Encoding
}

// Tokens tokenizes the example's text and, when it has one (HasPair, even
// empty), its second segment; truncated to maxLen tokens.
func (e Example) Tokens(enc Encoder, maxLen int) tokenizer.Encoding {
	if e.HasPair {
		return enc.EncodePair(e.Text, e.TextPair, maxLen)
	}
	return enc.Encode(e.Text, "", maxLen)
}

// Encode tokenizes examples (or takes their pre-tokenized InputIDs) and maps
// their labels through ls (nil, or an unlabelled example, gives -1). Text is
// truncated to maxLen tokens; pre-tokenized input longer than maxLen is an
// error naming the example's file:line, as is a label not in ls.
func Encode(examples []Example, enc Encoder, ls *LabelSet, maxLen int) ([]Encoded, error) {
	out := make([]Encoded, len(examples))
	for i, ex := range examples {
		e := Encoded{Label: -1, Index: i}
		if ex.InputIDs != nil {
			if maxLen > 0 && len(ex.InputIDs) > maxLen {
				return nil, fmt.Errorf("%s: %q has %d tokens, more than the maximum length %d", ex.Source, InputIDsField, len(ex.InputIDs), maxLen)
			}
			e.IDs, e.TypeIDs = ex.InputIDs, ex.TokenTypeIDs
		} else {
			te := ex.Tokens(enc, maxLen)
			e.IDs, e.TypeIDs = te.IDs, te.TypeIDs
		}
		if ls != nil && ex.HasLabel {
			id, ok := ls.ID(ex.Label)
			if !ok {
				return nil, CheckLabels(examples[i:i+1], ls, ex.Source)
			}
			e.Label = int32(id)
		}
		out[i] = e
	}
	return out, nil
}

// DefaultBuckets returns the sequence lengths batches are padded to: powers
// of two from 32 below maxLen, then maxLen (32, 64, 128, 256, 512 for 512;
// 32, 64, 100 for 100; 16 for 16).
func DefaultBuckets(maxLen int) []int {
	if maxLen <= 0 {
		return nil
	}
	var b []int
	for l := 32; l < maxLen; l *= 2 {
		b = append(b, l)
	}
	return append(b, maxLen)
}

// Batch is a padded batch of B rows of L tokens; IDs, TypeIDs and Mask are
// row-major B×L. Rows N..B-1 are padding: Mask all 0, Label -1, Index -1.
type Batch struct {
	B, L               int
	IDs, TypeIDs, Mask []int32
	Labels             []int32
	Index              []int // Encoded.Index of each row, -1 for padding rows
	N                  int   // real rows
}

// megaBatchMult is how many batches make one length-sorting chunk, as
// transformers' group_by_length.
const megaBatchMult = 50

// MakeBatches groups examples into batches of exactly batchSize rows (the
// last one padded with empty rows) whose length L is the smallest bucket
// holding their longest sequence, so that only len(buckets) shapes occur.
//
// With shuffle, the examples are put in a random order drawn from seed
// first, and the batches are shuffled at the end. With groupByLength, the
// examples are sorted by decreasing length within chunks of 50×batchSize
// (as transformers' group_by_length), so that batches hold sequences of
// similar length and little padding. The result depends only on the
// arguments. A sequence longer than the largest bucket is an error.
func MakeBatches(ex []Encoded, batchSize int, buckets []int, padID int32, shuffle bool, seed int64, groupByLength bool) ([]Batch, error) {
	if batchSize <= 0 {
		return nil, fmt.Errorf("data: batch size %d, want > 0", batchSize)
	}
	buckets = slices.Clone(buckets)
	slices.Sort(buckets)
	buckets = slices.Compact(buckets)
	if len(buckets) == 0 || buckets[0] <= 0 {
		return nil, fmt.Errorf("data: buckets %v: want positive lengths", buckets)
	}
	maxBucket := buckets[len(buckets)-1]
	for _, e := range ex {
		if len(e.IDs) > maxBucket {
			return nil, fmt.Errorf("data: example %d has %d tokens, more than the largest bucket %d (truncate first)", e.Index, len(e.IDs), maxBucket)
		}
		if e.TypeIDs != nil && len(e.TypeIDs) != len(e.IDs) {
			return nil, fmt.Errorf("data: example %d has %d token ids but %d type ids", e.Index, len(e.IDs), len(e.TypeIDs))
		}
	}

	order := make([]int, len(ex))
	for i := range order {
		order[i] = i
	}
	r := newRand(seed)
	if shuffle {
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	if groupByLength {
		chunk := megaBatchMult * batchSize
		for s := 0; s < len(order); s += chunk {
			part := order[s:min(s+chunk, len(order))]
			slices.SortStableFunc(part, func(a, b int) int { return len(ex[b].IDs) - len(ex[a].IDs) })
		}
	}

	var batches []Batch
	for s := 0; s < len(order); s += batchSize {
		batches = append(batches, makeBatch(ex, order[s:min(s+batchSize, len(order))], batchSize, buckets, padID))
	}
	if shuffle {
		r.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	}
	return batches, nil
}

// makeBatch pads the examples rows of ex into one batch.
func makeBatch(ex []Encoded, rows []int, batchSize int, buckets []int, padID int32) Batch {
	longest := 0
	for _, i := range rows {
		longest = max(longest, len(ex[i].IDs))
	}
	l := buckets[len(buckets)-1]
	for _, b := range buckets {
		if b >= longest {
			l = b
			break
		}
	}
	bt := Batch{
		B: batchSize, L: l, N: len(rows),
		IDs:     make([]int32, batchSize*l),
		TypeIDs: make([]int32, batchSize*l),
		Mask:    make([]int32, batchSize*l),
		Labels:  make([]int32, batchSize),
		Index:   make([]int, batchSize),
	}
	for r := range batchSize {
		row := bt.IDs[r*l : (r+1)*l]
		for j := range row {
			row[j] = padID
		}
		if r >= len(rows) {
			bt.Labels[r], bt.Index[r] = -1, -1
			continue
		}
		e := ex[rows[r]]
		copy(row, e.IDs)
		copy(bt.TypeIDs[r*l:], e.TypeIDs)
		mask := bt.Mask[r*l : r*l+len(e.IDs)]
		for j := range mask {
			mask[j] = 1
		}
		bt.Labels[r], bt.Index[r] = e.Label, e.Index
	}
	return bt
}
