package train

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gotune/gotune/nn"
)

// Sharding strategies over a mesh of devices (Options.Sharding).
const (
	// DataParallel replicates the weights and optimizer state on every
	// device and splits each batch across them; XLA all-reduces the
	// gradients.
	DataParallel = "dp"
	// FullySharded splits every weight and its optimizer state along its
	// first axis across the devices (FSDP-style; a weight whose first axis
	// is not a multiple of the device count stays replicated) and splits the
	// batch as DataParallel does; XLA gathers weights where they are used.
	FullySharded = "fsdp"
)

// meshAxis is the name of the one mesh axis: batches and (fsdp) weights
// are split along it.
const meshAxis = "data"

// mesh is the trainer's device mesh and the sharding of its values.
type mesh struct {
	m        *distributed.DeviceMesh
	strategy string
	// batch splits a tensor's first axis across the devices; replicated
	// copies it to each.
	batch, replicated *distributed.ShardingSpec
	backend           compute.Backend
	params            *nn.Params
	// fns are the graph functions of the trainer's executors (to build
	// their whole-batch variants, whole); ready marks the executors set up
	// for the mesh.
	fns   map[*model.Exec]func(*graph.Graph, []*graph.Node) []*graph.Node
	whole map[*model.Exec]*model.Exec
	ready map[*model.Exec]bool
}

// newMesh checks Devices and Sharding against the backend and builds the
// mesh, or returns nil when no mesh was asked for (Devices ≤ 1 and no
// Sharding). One device with a sharding strategy is a mesh of one.
func newMesh(be compute.Backend, p *nn.Params, o Options) (*mesh, error) {
	if o.Sharding == "" && o.Devices <= 1 {
		return nil, nil
	}
	strategy := o.Sharding
	if strategy == "" {
		strategy = DataParallel
	}
	if strategy != DataParallel && strategy != FullySharded {
		return nil, fmt.Errorf("sharding %q: want %s (data parallel) or %s (weights and optimizer state sharded)", o.Sharding, DataParallel, FullySharded)
	}
	n := o.Devices
	if n <= 0 {
		n = be.NumDevices()
	}
	if have := be.NumDevices(); n > have {
		return nil, fmt.Errorf("%d devices asked for, backend %s has %d (the Go backend has one; use --backend xla:cuda for several GPUs)", n, be.Name(), have)
	}
	if !canShard(be) {
		if n > 1 {
			return nil, fmt.Errorf("backend %s cannot shard a graph over %d devices (use --backend xla:cuda)", be.Name(), n)
		}
		return nil, nil // one device of a backend without meshes: nothing to shard
	}
	dm, err := distributed.NewDeviceMesh([]int{n}, []string{meshAxis})
	if err != nil {
		return nil, fmt.Errorf("device mesh of %d: %w", n, err)
	}
	batch, err := distributed.BuildSpec(dm).S(meshAxis).Done()
	if err != nil {
		return nil, err
	}
	return &mesh{m: dm, strategy: strategy, batch: batch, replicated: distributed.NewReplicatedShardingSpec(dm),
		backend: be, params: p, fns: map[*model.Exec]func(*graph.Graph, []*graph.Node) []*graph.Node{},
		whole: map[*model.Exec]*model.Exec{}, ready: map[*model.Exec]bool{}}, nil
}

// canShard reports whether the backend builds graphs for a device mesh
// (XLA does; the pure-Go backend does not).
func canShard(be compute.Backend) bool {
	dm, err := distributed.NewDeviceMesh([]int{1}, []string{meshAxis})
	if err != nil {
		return false
	}
	return be.Builder("gotune_mesh_probe").DistributedAutoSharding(dm.ToBackendsMesh()) == nil
}

// devices returns the number of devices of the mesh.
func (ms *mesh) devices() int { return ms.m.NumDevices() }

// shardVariables gives each variable its sharding spec: replicated for
// data parallel; for fsdp split along the first axis when it divides by
// the device count.
func (ms *mesh) shardVariables(vars []*model.Variable) error {
	n := ms.devices()
	for _, v := range vars {
		spec := ms.replicated
		if dims := v.Shape().Dimensions; ms.strategy == FullySharded && len(dims) > 0 && dims[0]%n == 0 {
			spec = ms.batch
		}
		if err := v.SetShardingSpec(spec); err != nil {
			return fmt.Errorf("sharding %s: %w", v.Path(), err)
		}
	}
	return nil
}

// exec returns the executor to run base on the mesh: base itself, set up
// to split its nBatch batch inputs across the devices, when every batch
// input's first axis divides by the device count; otherwise (the last,
// short batch of an epoch) a variant of it that gives every device the
// whole batch. Both replicate nScalar scalars after the batch and the
// outputs.
func (ms *mesh) exec(base *model.Exec, batch []*tensors.Tensor, nScalar int) (*model.Exec, bool, error) {
	split := len(batch) > 0
	for _, x := range batch {
		if dims := x.Shape().Dimensions; len(dims) == 0 || dims[0]%ms.devices() != 0 {
			split = false
		}
	}
	e := base
	if !split && len(batch) > 0 {
		if e = ms.whole[base]; e == nil {
			var err error
			if e, err = nn.NewModelExec(ms.backend, ms.params, ms.fns[base]); err != nil {
				return nil, false, err
			}
			e.SetMaxCache(64)
			ms.whole[base] = e
		}
	}
	if !ms.ready[e] {
		specs := make([]*distributed.ShardingSpec, 0, len(batch)+nScalar)
		for range batch {
			if split {
				specs = append(specs, ms.batch)
			} else {
				specs = append(specs, ms.replicated)
			}
		}
		for range nScalar {
			specs = append(specs, ms.replicated)
		}
		// XLA compiles a sharded graph for concrete devices: without an
		// assignment it refuses ("computation is not (device) portable").
		devs := make([]compute.DeviceNum, ms.devices())
		for i := range devs {
			devs[i] = compute.DeviceNum(i)
		}
		e.AutoSharding(ms.m).WithInputShardingSpecs(specs...).WithOutputShardingSpecs(ms.replicated).WithDeviceAssignment(devs)
		ms.ready[e] = true
	}
	return e, split, nil
}

// call runs base (see exec) on the mesh and returns device 0's copy of
// its (replicated) outputs.
func (ms *mesh) call(base *model.Exec, batch []*tensors.Tensor, scalars ...*tensors.Tensor) ([]*tensors.Tensor, *graph.Graph, error) {
	e, split, err := ms.exec(base, batch, len(scalars))
	if err != nil {
		return nil, nil, err
	}
	args := make([]any, 0, len(batch)+len(scalars))
	for i, x := range batch {
		spec := ms.replicated
		if split {
			spec = ms.batch
		}
		d, err := dtensor.ShardTensor(spec, x)
		if err != nil {
			return nil, nil, fmt.Errorf("placing input %d on %d devices: %w", i, ms.devices(), err)
		}
		args = append(args, d)
	}
	for _, x := range scalars {
		d, err := dtensor.ShardTensor(ms.replicated, x)
		if err != nil {
			return nil, nil, fmt.Errorf("replicating a scalar on %d devices: %w", ms.devices(), err)
		}
		args = append(args, d)
	}
	out, g, err := e.CallWithGraph(args...)
	if err != nil {
		return nil, g, err
	}
	if n := ms.devices(); n > 1 {
		out = out[:len(out)/n]
	}
	return out, g, nil
}
