package pretrain

import (
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/nn"
)

// MLM is BertForMaskedLM as a train.Model: the encoder and the masked-LM
// head. Its inputs are ids, token type ids, attention mask and MLM labels,
// all int32 [batch, seq]; a label is the original token id at a masked
// position and -100 (ignored) elsewhere.
type MLM struct {
	Cfg *bert.Config
	P   *nn.Params
}

// Params returns the weights.
func (m *MLM) Params() *nn.Params { return m.P }

// Loss returns the mean cross-entropy over the masked positions and, as
// output, a float32 [2] vector: the number of masked positions and how many
// of them the model predicts right (for weighted averages over batches).
func (m *MLM) Loss(g *Graph, in []*Node, training bool) (loss, output *Node) {
	c := &nn.Ctx{G: g, P: m.P, Training: training}
	h := bert.Encode(c, m.Cfg, bert.Inputs{IDs: in[0], TypeIDs: in[1], Mask: in[2]})
	logits := bert.MLMHead(c, m.Cfg, h)
	labels := in[3]
	loss, count := nn.CrossEntropy(logits, labels)
	right := And(Equal(ArgMax(logits, -1, dtypes.Int32), labels), GreaterOrEqual(labels, ScalarZero(g, dtypes.Int32)))
	correct := ReduceAllSum(ConvertDType(right, dtypes.Float32))
	return loss, Stack([]*Node{count, correct}, 0)
}

// ignoreLabel marks positions the MLM loss skips, as in Hugging Face.
const ignoreLabel = -100

// masker applies BERT's masking to batches: each real, non-special token is
// chosen with probability Rate; a chosen token becomes [MASK] 80% of the
// time, a random word 10% and stays itself 10%, and its label is its
// original id.
type masker struct {
	rate    float64
	maskID  int32
	special map[int32]bool
	// first is the first id random replacements are drawn from (the ids
	// before it are special tokens).
	first, vocab int32
	r            *rand.Rand
}

// apply masks b in place and returns its labels, row-major B×L.
func (m *masker) apply(b *data.Batch) []int32 {
	labels := make([]int32, len(b.IDs))
	for i, id := range b.IDs {
		labels[i] = ignoreLabel
		if b.Mask[i] == 0 || m.special[id] || m.r.Float64() >= m.rate {
			continue
		}
		labels[i] = id
		switch u := m.r.Float64(); {
		case u < 0.8:
			b.IDs[i] = m.maskID
		case u < 0.9:
			b.IDs[i] = m.first + m.r.Int32N(m.vocab-m.first)
		}
	}
	return labels
}

// mlmTensors returns the MLM model's input tensors for a masked batch.
func mlmTensors(b data.Batch, labels []int32) []*tensors.Tensor {
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(b.IDs, b.B, b.L),
		tensors.FromFlatDataAndDimensions(b.TypeIDs, b.B, b.L),
		tensors.FromFlatDataAndDimensions(b.Mask, b.B, b.L),
		tensors.FromFlatDataAndDimensions(labels, b.B, b.L),
	}
}
