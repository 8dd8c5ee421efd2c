package train

import (
	"strings"
	"testing"

	"github.com/gomlx/compute/distributed"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/nn"
)

// testMesh builds a mesh of n devices by hand (the Go backend has one
// device, so newMesh refuses more): what the sharding decisions are can
// be checked without running on it.
func testMesh(t *testing.T, n int, strategy string, p *nn.Params) *mesh {
	t.Helper()
	be, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	dm, err := distributed.NewDeviceMesh([]int{n}, []string{meshAxis})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := distributed.BuildSpec(dm).S(meshAxis).Done()
	if err != nil {
		t.Fatal(err)
	}
	return &mesh{m: dm, strategy: strategy, batch: batch, replicated: distributed.NewReplicatedShardingSpec(dm), backend: be, params: p,
		fns: map[*model.Exec]func(*Graph, []*Node) []*Node{}, whole: map[*model.Exec]*model.Exec{}, ready: map[*model.Exec]bool{}}
}

// FSDP splits a weight along its first axis when the device count divides
// it and replicates it otherwise; data parallel replicates every weight.
func TestShardVariables(t *testing.T) {
	tests := []struct {
		strategy string
		shape    []int
		split    bool
	}{
		{FullySharded, []int{8, 3}, true},
		{FullySharded, []int{6}, true},
		{FullySharded, []int{5, 4}, false},
		{FullySharded, []int{}, false},
		{DataParallel, []int{8, 3}, false},
	}
	for _, tc := range tests {
		p := nn.NewParams()
		n := 1
		for _, d := range tc.shape {
			n *= d
		}
		if err := p.Set("w", tc.shape, make([]float32, n)); err != nil {
			t.Fatal(err)
		}
		ms := testMesh(t, 2, tc.strategy, p)
		if err := ms.shardVariables([]*model.Variable{p.Var("w")}); err != nil {
			t.Fatal(err)
		}
		spec := p.Var("w").ShardingSpec()
		if got := !spec.IsReplicated(); got != tc.split {
			t.Errorf("%s %v: spec %v, split %v, want %v", tc.strategy, tc.shape, spec, got, tc.split)
		}
	}
}

// A batch that divides by the device count is split across the devices
// through the trainer's executor; a short one (the last of an epoch) goes
// whole to every device through a variant of it, built once.
func TestMeshExecChoice(t *testing.T) {
	p := nn.NewParams()
	if err := p.Set("w", []int{4}, make([]float32, 4)); err != nil {
		t.Fatal(err)
	}
	ms := testMesh(t, 2, DataParallel, p)
	fn := func(g *Graph, xs []*Node) []*Node { return []*Node{ReduceAllSum(xs[0])} }
	base, err := nn.NewModelExec(ms.backend, p, fn)
	if err != nil {
		t.Fatal(err)
	}
	ms.fns[base] = fn
	even := []*tensors.Tensor{tensors.FromShape(nn.ShapeOf(4, 3))}
	odd := []*tensors.Tensor{tensors.FromShape(nn.ShapeOf(3, 3))}
	e, split, err := ms.exec(base, even, 2)
	if err != nil || e != base || !split {
		t.Fatalf("even batch: exec %p (base %p), split %v, %v", e, base, split, err)
	}
	w1, split, err := ms.exec(base, odd, 2)
	if err != nil || w1 == base || split {
		t.Fatalf("odd batch: exec %p (base %p), split %v, %v", w1, base, split, err)
	}
	w2, _, _ := ms.exec(base, odd, 2)
	if w2 != w1 {
		t.Errorf("whole-batch variant built twice")
	}
	for _, e := range []*model.Exec{base, w1} {
		if e.NumDevices() != 2 || e.DistributionStrategy() != distributed.AutoSharding {
			t.Errorf("executor on %d devices, strategy %v; want 2, AutoSharding", e.NumDevices(), e.DistributionStrategy())
		}
		// XLA refuses to compile a sharded graph without concrete devices.
		if got := e.DeviceAssignment(); len(got) != 2 || got[0] != 0 || got[1] != 1 {
			t.Errorf("device assignment %v, want [0 1]", got)
		}
	}
	// Scalars only (the optimizer's apply step): the executor itself.
	if e, _, err := ms.exec(base, nil, 2); err != nil || e != base {
		t.Errorf("scalars only: exec %p (base %p), %v", e, base, err)
	}
}

// On the pure-Go backend (one device, no meshes): more than one device or
// an unknown strategy is a clear error, and one device with a strategy
// trains as without one.
func TestNewMeshGoBackend(t *testing.T) {
	be, err := engine.New("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		o    Options
		want string // error substring; "" for no mesh and no error
	}{
		{Options{}, ""},
		{Options{Sharding: DataParallel, Devices: 1}, ""},
		{Options{Sharding: FullySharded}, ""},
		{Options{Devices: 2}, "2 devices asked for"},
		{Options{Sharding: FullySharded, Devices: 4}, "has 1"},
		{Options{Sharding: "zero3"}, `sharding "zero3"`},
	}
	for _, tc := range tests {
		ms, err := newMesh(be, nn.NewParams(), tc.o)
		switch {
		case tc.want == "" && (err != nil || ms != nil):
			t.Errorf("%+v: mesh %v, error %v; want neither", tc.o, ms, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}
