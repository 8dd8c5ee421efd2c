package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gotune/gotune/method/adapter"
	"github.com/gotune/gotune/methods"
)

// reductionFlag is --adapter-reduction: "16" or "0:8,default:16".
type reductionFlag struct{ c *adapter.Config }

func (f reductionFlag) String() string {
	if f.c == nil || (f.c.ReductionFactor == 0 && len(f.c.ReductionPerLayer) == 0) {
		return ""
	}
	return adapter.FormatReduction(f.c.ReductionFactor, f.c.ReductionPerLayer)
}

func (f reductionFlag) Set(s string) error {
	def, per, err := adapter.ParseReduction(s)
	if err != nil {
		return err
	}
	f.c.ReductionFactor, f.c.ReductionPerLayer = def, per
	return nil
}

// bindAdapterFlags binds the --adapter-* training flags to c.
func bindAdapterFlags(fs *flag.FlagSet, c *adapter.Config) {
	fs.StringVar(&c.Placement, "adapter-placement", c.Placement, "adapter: pfeiffer (after the feed-forward block, AdapterHub's seq_bn; default), houlsby (after attention and feed-forward, double_seq_bn) or parallel (par_bn)")
	fs.Var(reductionFlag{c}, "adapter-reduction", "adapter: reduction factor, bottleneck = hidden/factor (default 16, parallel 2); per layer: 0:8,11:32,default:16")
	fs.StringVar(&c.NonLinearity, "adapter-non-linearity", c.NonLinearity, "adapter: bottleneck activation: relu, swish, gelu, gelu_new, tanh (default relu; houlsby swish)")
	fs.StringVar(&c.ResidualBeforeLN, "adapter-residual-before-ln", c.ResidualBeforeLN, "adapter (pfeiffer): where the adapter's own residual is taken: true (default, before the original residual and norm), false (after the norm), post_add")
	fs.Var(intsFlag{&c.LeaveOut}, "adapter-leave-out", "adapter: layers without adapters (e.g. 0,1,2)")
	fs.StringVar(&c.Init, "adapter-init", c.Init, "adapter: init: mam_adapter (default; up-projection zero, so training starts at the base model), bert (normal 0.02, AdapterHub's default), houlsby")
	fs.Float64Var(&c.Scaling, "adapter-scaling", c.Scaling, "adapter: scale of the adapter's output (default 1; parallel 4)")
	fs.Float64Var(&c.Dropout, "adapter-dropout", c.Dropout, "adapter: dropout on the adapter's output while training")
}

const adapterUsage = `gotune adapter: bottleneck adapter tools.

  gotune adapter plan --model DIR [--adapter-placement ...] [--adapter-reduction ...] [--adapter-leave-out ...]
        print where the adapters go and the trainable parameter count (dry run)
  gotune adapter average --adapter DIR:WEIGHT --adapter DIR:WEIGHT [--name NAME] [--no-normalize] --out DIR
        weighted parameter average into a new adapter (AdapterHub's average_adapter)

Predict or evaluate with several adapters on one base:
  gotune predict --model BASE --adapter sst2=DIR --adapter nsmc=DIR --use nsmc --input in.jsonl --output out.jsonl
  (--use a+b stacks b on a)
`

func runAdapter(args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(errOut, adapterUsage)
		return fmt.Errorf("need a subcommand: plan or average")
	}
	switch args[0] {
	case "plan":
		return runAdapterPlan(args[1:], out, errOut)
	case "average":
		return runAdapterAverage(args[1:], out, errOut)
	case "-h", "--help", "help":
		fmt.Fprint(out, adapterUsage)
		return nil
	}
	return fmt.Errorf("unknown subcommand %q (valid: plan, average)", args[0])
}

func runAdapterPlan(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("adapter plan", flag.ContinueOnError)
	fs.SetOutput(errOut)
	modelDir := fs.String("model", "", "model folder or Hub id")
	var c adapter.Config
	bindAdapterFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, _, err := loadForPlan(*modelDir)
	if err != nil {
		return err
	}
	meth, err := adapter.New(c, 0, methods.AdapterModules)
	if err != nil {
		return err
	}
	if err := meth.Prepare(m); err != nil {
		return err
	}
	for _, s := range meth.Adapter().Sites {
		fmt.Fprintf(out, "layer %2d %-9s %s.adapters.NAME  [%d→%d→%d]\n", s.Layer, s.Kind, s.Module, s.Hidden, s.Bottleneck, s.Hidden)
	}
	_, trainable := m.Params().Count()
	what := "adapters and a 2-label head"
	if len(m.HeadParams()) == 0 {
		what = "adapters; a causal LM's head stays frozen"
	}
	fmt.Fprintf(out, "%s\n%d sites; %d adapter weights; trainable parameters %d (%s)\n",
		meth.Config().Describe(), len(meth.Adapter().Sites), adapter.ParamCount(meth.Adapter().Sites), trainable, what)
	return nil
}

func runAdapterAverage(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("adapter average", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var specs adapterFlag
	fs.Var(&specs, "adapter", "adapter folder and weight, DIR:WEIGHT (repeatable; weight default 1)")
	name := fs.String("name", "", "name of the new adapter (default: the --out folder's name)")
	noNorm := fs.Bool("no-normalize", false, "use the weights as given instead of dividing them by their sum")
	dst := fs.String("out", "", "folder for the new adapter")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(specs) == 0 || *dst == "" {
		return fmt.Errorf("need --adapter DIR:WEIGHT (one or more) and --out")
	}
	var ls []*adapter.Loaded
	var ws []float64
	for _, s := range specs {
		dir, w, err := weightedSpec(s)
		if err != nil {
			return err
		}
		l, err := adapter.Read(dir)
		if err != nil {
			return err
		}
		for _, warn := range l.Warnings {
			fmt.Fprintln(errOut, "warning:", warn)
		}
		ls, ws = append(ls, l), append(ws, w)
	}
	n := *name
	if n == "" {
		n = filepath.Base(filepath.Clean(*dst))
	}
	avg, err := adapter.Average(ls, ws, n, !*noNorm)
	if err != nil {
		return err
	}
	if err := saveReplacing(*dst, avg.Save); err != nil {
		return err
	}
	head := "without a head"
	if len(avg.Head) > 0 {
		head = "with the averaged head"
	}
	fmt.Fprintf(out, "wrote %s (adapter %q, average of %d adapters, %s)\n", *dst, n, len(ls), head)
	return nil
}
