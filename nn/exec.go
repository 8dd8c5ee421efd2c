package nn

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// NewModelExec returns an executor of fn over the weights of p: inputs are the
// executor's arguments, and the weights are read as graph parameters, so a
// compiled graph always sees their current values.
//
// Every gotune graph must be built through NewModelExec. GoMLX (v0.28.16) embeds
// a variable as a constant in graphs built outside "training mode" when the
// backend prefers constants (the pure-Go backend does): a cached graph then
// keeps computing with the weights it was compiled with, so training steps
// stop seeing their own updates and evaluation reads stale weights, and every
// weight is held twice in memory. NewModelExec marks each graph as a training
// graph before fn reads any weight; dropout is not affected (it follows
// Ctx.Training).
func NewModelExec(be compute.Backend, p *Params, fn func(g *graph.Graph, xs []*graph.Node) []*graph.Node) (*model.Exec, error) {
	store := p.Store()
	return model.NewExec(be, store, func(_ *model.Scope, xs []*graph.Node) []*graph.Node {
		g := xs[0].Graph()
		store.SetTraining(g, true)
		return fn(g, xs)
	})
}

// OpCounts returns the number of nodes of each operation type in g, keyed by
// GoMLX's node type name (for example "FusedDense", "FusedSoftmax",
// "DotGeneral").
func OpCounts(g *graph.Graph) map[string]int {
	out := map[string]int{}
	for _, n := range g.Nodes() {
		out[n.Type().String()]++
	}
	return out
}
