package train

import (
	"fmt"
	"math"
	"sort"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/nn"
)

// Model is what the trainer optimises: weights and a loss over a batch of
// input tensors.
type Model interface {
	// Params returns the weights; those marked trainable are optimised.
	Params() *nn.Params
	// Loss builds the scalar loss and the model's output (e.g. logits).
	Loss(g *Graph, inputs []*Node, training bool) (loss, output *Node)
}

// Trainer runs optimisation steps on a Model.
type Trainer struct {
	backend compute.Backend
	model   Model
	opts    Options
	params  *nn.Params
	// names of the trainable weights, sorted.
	names   []string
	m, v    []*model.Variable
	acc     []*model.Variable
	step    int // optimizer steps done
	micro   int // micro-batches accumulated toward the next step
	stepE   *model.Exec
	accE    *model.Exec
	applyE  *model.Exec
	evalE   *model.Exec
	shapes  map[string]bool
	lastLR  float64
	lastGN  float64
	evalShp map[string]bool
	// lastStep is the graph of the last training step run (for OpCounts).
	lastStep *Graph
	// mesh is the device mesh (Options.Devices, Options.Sharding); nil
	// runs on one device without one.
	mesh *mesh
}

// Stats are what one optimizer step reports.
type Stats struct {
	Loss     float64
	GradNorm float64
	LR       float64
	// Applied is true when the step updated the weights (the last
	// micro-batch of an accumulation).
	Applied bool
	// Skipped is true when Options.SkipNonFinite discarded this batch's
	// gradients: its loss or the step's gradient norm was not finite.
	Skipped bool
}

// New prepares a trainer: it collects the trainable weights and creates
// their AdamW moments (frozen weights get none).
func New(backend compute.Backend, m Model, opts Options) (*Trainer, error) {
	opts.defaults()
	p := m.Params()
	t := &Trainer{backend: backend, model: m, opts: opts, params: p, shapes: map[string]bool{}, evalShp: map[string]bool{}}
	for _, n := range p.Names() {
		if p.Trainable(n) {
			t.names = append(t.names, n)
		}
	}
	if len(t.names) == 0 {
		return nil, fmt.Errorf("nothing to train: every weight is frozen")
	}
	sort.Strings(t.names)
	store := p.Store()
	zeros := func(path string, shape []int) (*model.Variable, error) {
		if v := store.GetVariable(path); v != nil {
			return v, nil
		}
		v, err := store.CreateVariable(path, tensors.FromShape(nn.ShapeOf(shape...)))
		if err != nil {
			return nil, err
		}
		v.SetTrainable(false)
		return v, nil
	}
	for _, n := range t.names {
		mv, err := zeros("/#adam_m/"+n, p.Shape(n))
		if err != nil {
			return nil, err
		}
		vv, err := zeros("/#adam_v/"+n, p.Shape(n))
		if err != nil {
			return nil, err
		}
		t.m = append(t.m, mv)
		t.v = append(t.v, vv)
		if opts.GradAccum > 1 {
			av, err := zeros("/#grad_acc/"+n, p.Shape(n))
			if err != nil {
				return nil, err
			}
			t.acc = append(t.acc, av)
		}
	}
	var err error
	if opts.GradAccum == 1 {
		t.stepE, err = nn.NewModelExec(backend, p, t.stepGraph)
	} else {
		t.accE, err = nn.NewModelExec(backend, p, t.accGraph)
		if err == nil {
			t.applyE, err = nn.NewModelExec(backend, p, t.applyGraph)
		}
	}
	if err != nil {
		return nil, err
	}
	evalGraph := func(g *Graph, xs []*Node) []*Node {
		loss, out := m.Loss(g, xs, false)
		return []*Node{loss, out}
	}
	t.evalE, err = nn.NewModelExec(backend, p, evalGraph)
	if err != nil {
		return nil, err
	}
	if t.mesh, err = newMesh(backend, p, opts); err != nil {
		return nil, err
	}
	if t.mesh != nil {
		for e, fn := range map[*model.Exec]func(*Graph, []*Node) []*Node{t.stepE: t.stepGraph, t.accE: t.accGraph, t.applyE: t.applyGraph, t.evalE: evalGraph} {
			if e != nil {
				t.mesh.fns[e] = fn
			}
		}
		vars := append(append(append([]*model.Variable{}, t.m...), t.v...), t.acc...)
		for _, n := range p.Names() {
			if v := p.Var(n); v != nil { // quantised weights stay replicated
				vars = append(vars, v)
			}
		}
		if err := t.mesh.shardVariables(vars); err != nil {
			return nil, err
		}
	}
	for _, e := range []*model.Exec{t.stepE, t.accE, t.evalE} {
		if e != nil {
			e.SetMaxCache(64)
		}
	}
	return t, nil
}

// StepOpCounts returns how many nodes of each operation type the last
// training step's graph has (forward and backward), by GoMLX node type name
// (e.g. "FusedDense"); nil before the first step. It shows which of
// the engine's fused kernels a model's graph reaches.
func (t *Trainer) StepOpCounts() map[string]int {
	if t.lastStep == nil {
		return nil
	}
	return nn.OpCounts(t.lastStep)
}

// MeshDevices returns the number of devices of the mesh the trainer runs
// on, 0 when it runs without one (no Sharding, or one device of a backend
// without meshes).
func (t *Trainer) MeshDevices() int {
	if t.mesh == nil {
		return 0
	}
	return t.mesh.devices()
}

// TrainableNames returns the names of the weights being trained.
func (t *Trainer) TrainableNames() []string { return t.names }

// Step returns the number of optimizer steps done.
func (t *Trainer) Step() int { return t.step }

// SetStep sets the optimizer step counter (when resuming).
func (t *Trainer) SetStep(s int) { t.step = s }

// Options returns the trainer's options (with defaults filled in).
func (t *Trainer) Options() Options { return t.opts }

// Compilations returns how many distinct input shapes the training and
// evaluation graphs were compiled for.
func (t *Trainer) Compilations() int { return len(t.shapes) + len(t.evalShp) }

func shapeKey(inputs []*tensors.Tensor) string {
	k := ""
	for _, x := range inputs {
		k += x.Shape().String() + ";"
	}
	return k
}

// gradients returns the loss and the gradients of the trainable weights.
func (t *Trainer) gradients(xs []*Node) (loss *Node, grads []*Node) {
	g := xs[0].Graph()
	loss, _ = t.model.Loss(g, xs, true)
	ws := make([]*Node, len(t.names))
	for i, n := range t.names {
		ws[i] = t.params.Var(n).NodeValue(g)
	}
	return loss, Gradient(loss, ws...)
}

// update applies clipping and AdamW to grads, given lr and the 1-based
// step number t as scalar nodes; it returns the pre-clip global norm and,
// with Options.SkipNonFinite, a boolean scalar telling whether the update
// was applied: it is discarded (weights and moments kept) when the norm,
// loss (when not nil) or any updated weight is not finite.
func (t *Trainer) update(grads []*Node, lr, step, loss *Node) (norm, applied *Node) {
	g := lr.Graph()
	o := t.opts
	var sq *Node
	for _, gr := range grads {
		s := ReduceAllSum(Square(gr))
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	norm = Sqrt(sq)
	scale := ScalarOne(g, dtypes.Float32)
	if o.MaxGradNorm > 0 {
		scale = Min(scale, Div(Scalar(g, dtypes.Float32, o.MaxGradNorm), AddScalar(norm, 1e-6)))
	}
	// Bias corrections folded into two scalars, as torch's AdamW does:
	// p -= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)
	//    = (lr·sqrt(bc2)/bc1) · m / (sqrt(v) + eps·sqrt(bc2)).
	bc1 := OneMinus(Pow(Scalar(g, dtypes.Float32, o.Beta1), step))
	sqrtBC2 := Sqrt(OneMinus(Pow(Scalar(g, dtypes.Float32, o.Beta2), step)))
	epsHat := MulScalar(sqrtBC2, o.Eps)
	type assign struct {
		v        *model.Variable
		old, new *Node
	}
	var assigns []assign
	if o.SkipNonFinite {
		applied = IsFinite(norm)
		if loss != nil {
			applied = LogicalAnd(applied, IsFinite(ConvertDType(loss, norm.DType())))
		}
	}
	for i, n := range t.names {
		pv := t.params.Var(n)
		p0 := pv.NodeValue(g)
		p := p0
		gr := Mul(grads[i], scale)
		lrI := lr
		if o.LRScale != nil {
			if s := o.LRScale(n); s != 1 {
				lrI = MulScalar(lr, s)
			}
		}
		if o.WeightDecay > 0 && !o.NoDecay(n) {
			p = Mul(p, OneMinus(MulScalar(lrI, o.WeightDecay)))
		}
		m0, v0 := t.m[i].NodeValue(g), t.v[i].NodeValue(g)
		m := Add(MulScalar(m0, o.Beta1), MulScalar(gr, 1-o.Beta1))
		v := Add(MulScalar(v0, o.Beta2), MulScalar(Square(gr), 1-o.Beta2))
		stepSize := Div(Mul(lrI, sqrtBC2), bc1)
		p = Sub(p, Mul(stepSize, Div(m, Add(Sqrt(v), epsHat))))
		assigns = append(assigns, assign{t.m[i], m0, m}, assign{t.v[i], v0, v}, assign{pv, p0, p})
		if applied != nil {
			applied = LogicalAnd(applied, ReduceLogicalAnd(IsFinite(p)))
		}
	}
	for _, a := range assigns {
		x := a.new
		if applied != nil {
			x = Where(applied, a.new, a.old)
		}
		a.v.SetValueGraph(x)
	}
	return norm, applied
}

// outputs appends the applied flag (as a float32 0/1) when there is one.
func outputs(applied *Node, xs ...*Node) []*Node {
	if applied != nil {
		xs = append(xs, ConvertDType(applied, dtypes.Float32))
	}
	return xs
}

// stepGraph: inputs..., lr, step → loss, grad norm[, applied] (no accumulation).
func (t *Trainer) stepGraph(_ *Graph, xs []*Node) []*Node {
	n := len(xs)
	loss, grads := t.gradients(xs[:n-2])
	norm, applied := t.update(grads, xs[n-2], xs[n-1], loss)
	return outputs(applied, loss, norm)
}

// accGraph: inputs... → loss; adds gradients / GradAccum to the accumulators.
func (t *Trainer) accGraph(_ *Graph, xs []*Node) []*Node {
	loss, grads := t.gradients(xs)
	g := xs[0].Graph()
	inv := 1 / float64(t.opts.GradAccum)
	for i, gr := range grads {
		acc := t.acc[i].NodeValue(g)
		sum := Add(acc, MulScalar(gr, inv))
		if t.opts.SkipNonFinite { // a non-finite micro-batch adds nothing
			sum = Where(IsFinite(ConvertDType(loss, gr.DType())), sum, acc)
		}
		t.acc[i].SetValueGraph(sum)
	}
	return []*Node{loss}
}

// applyGraph: lr, step → grad norm; applies and clears the accumulators.
func (t *Trainer) applyGraph(g *Graph, xs []*Node) []*Node {
	lr, step := xs[0], xs[1]
	grads := make([]*Node, len(t.acc))
	for i, a := range t.acc {
		grads[i] = a.NodeValue(g)
		a.SetValueGraph(ZerosLike(grads[i]))
	}
	norm, applied := t.update(grads, lr, step, nil)
	return outputs(applied, norm)
}

// TrainStep runs one micro-batch: forward, backward and, on the last
// micro-batch of an accumulation, the optimizer update.
func (t *Trainer) TrainStep(inputs []*tensors.Tensor) (Stats, error) {
	t.shapes[shapeKey(inputs)] = true
	lr := t.opts.LRAt(t.step)
	lrT := tensors.FromValue(float32(lr))
	stepT := tensors.FromValue(float32(t.step + 1))
	if t.opts.GradAccum == 1 {
		out, g, err := t.run(t.stepE, inputs, lrT, stepT)
		t.lastStep = g
		if err != nil {
			return Stats{}, fmt.Errorf("training step %d: %w", t.step+1, err)
		}
		t.step++
		st := Stats{Loss: scalar(out[0]), GradNorm: scalar(out[1]), LR: lr, Applied: true}
		st.Skipped = t.opts.SkipNonFinite && scalar(out[2]) == 0
		return st, nil
	}
	out, g, err := t.run(t.accE, inputs)
	t.lastStep = g
	if err != nil {
		return Stats{}, fmt.Errorf("training step %d: %w", t.step+1, err)
	}
	st := Stats{Loss: scalar(out[0]), LR: lr}
	st.Skipped = t.opts.SkipNonFinite && !finite(st.Loss)
	t.micro++
	if t.micro == t.opts.GradAccum {
		out, _, err := t.run(t.applyE, nil, lrT, stepT)
		if err != nil {
			return Stats{}, fmt.Errorf("optimizer step %d: %w", t.step+1, err)
		}
		t.micro = 0
		t.step++
		st.GradNorm, st.Applied = scalar(out[0]), true
		st.Skipped = st.Skipped || t.opts.SkipNonFinite && scalar(out[1]) == 0
	}
	return st, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Evaluate runs the model without dropout and returns the loss and output.
func (t *Trainer) Evaluate(inputs []*tensors.Tensor) (loss float64, output *tensors.Tensor, err error) {
	t.evalShp[shapeKey(inputs)] = true
	out, _, err := t.run(t.evalE, inputs)
	if err != nil {
		return 0, nil, fmt.Errorf("evaluation: %w", err)
	}
	return scalar(out[0]), out[1], nil
}

// run executes e on the batch inputs followed by the scalars, on the
// device mesh when there is one.
func (t *Trainer) run(e *model.Exec, batch []*tensors.Tensor, scalars ...*tensors.Tensor) ([]*tensors.Tensor, *Graph, error) {
	if t.mesh != nil {
		return t.mesh.call(e, batch, scalars...)
	}
	args := make([]any, 0, len(batch)+len(scalars))
	for _, x := range batch {
		args = append(args, x)
	}
	for _, x := range scalars {
		args = append(args, x)
	}
	return e.CallWithGraph(args...)
}

func scalar(t *tensors.Tensor) float64 {
	var v float64
	t.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			v = float64(f[0])
		case []float64:
			v = f[0]
		}
	})
	if math.IsNaN(v) {
		return math.NaN()
	}
	return v
}

// Flush applies a partial gradient accumulation (at the end of an epoch
// whose batch count is not a multiple of GradAccum); it does nothing when
// no micro-batch is pending.
func (t *Trainer) Flush() error {
	if t.micro == 0 {
		return nil
	}
	lr := t.opts.LRAt(t.step)
	if _, _, err := t.run(t.applyE, nil, tensors.FromValue(float32(lr)), tensors.FromValue(float32(t.step+1))); err != nil {
		return fmt.Errorf("optimizer step %d: %w", t.step+1, err)
	}
	t.micro = 0
	t.step++
	return nil
}
