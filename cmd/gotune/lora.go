package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/method/lora"
)

// listFlag is a comma-separated list of strings.
type listFlag struct{ p *[]string }

func (f listFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}

func (f listFlag) Set(s string) error {
	*f.p = nil
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*f.p = append(*f.p, x)
		}
	}
	return nil
}

// intsFlag is a comma-separated list of integers.
type intsFlag struct{ p *[]int }

func (f intsFlag) String() string {
	if f.p == nil {
		return ""
	}
	s := make([]string, len(*f.p))
	for i, v := range *f.p {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (f intsFlag) Set(s string) error {
	*f.p = nil
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x == "" {
			continue
		}
		v, err := strconv.Atoi(x)
		if err != nil {
			return fmt.Errorf("%q is not an integer", x)
		}
		*f.p = append(*f.p, v)
	}
	return nil
}

// patternFlag is a comma-separated list of REGEX=VALUE.
type patternFlag[V int | float64] struct{ p *map[string]V }

func (f patternFlag[V]) String() string {
	if f.p == nil {
		return ""
	}
	var s []string
	for k, v := range *f.p {
		s = append(s, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func (f patternFlag[V]) Set(s string) error {
	*f.p = map[string]V{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want REGEX=VALUE", kv)
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q: %v is not a number", kv, v)
		}
		(*f.p)[k] = V(x)
	}
	return nil
}

// bindLoRAFlags binds the --lora-* training flags to c.
func bindLoRAFlags(fs *flag.FlagSet, c *lora.Config) {
	fs.IntVar(&c.R, "lora-r", c.R, "lora: rank r (default 8)")
	fs.Float64Var(&c.Alpha, "lora-alpha", c.Alpha, "lora: alpha; the update is scaled by alpha/r (default 8)")
	fs.Float64Var(&c.Dropout, "lora-dropout", c.Dropout, "lora: dropout on the low-rank branch's input")
	fs.Var(listFlag{&c.Targets}, "lora-targets", "lora: target modules, exact names or suffixes (query,value), or all-linear (every linear layer but the head); default: the architecture's (bert: query,value). See: gotune lora targets")
	fs.StringVar(&c.TargetRegex, "lora-target-regex", c.TargetRegex, "lora: target the modules whose whole name matches this regexp (instead of --lora-targets)")
	fs.Var(listFlag{&c.Exclude}, "lora-exclude", "lora: modules never targeted (exact names or suffixes)")
	fs.StringVar(&c.ExcludeRegex, "lora-exclude-regex", c.ExcludeRegex, "lora: never target modules whose whole name matches this regexp")
	fs.Var(intsFlag{&c.LayersToTransform}, "lora-layers", "lora: only these layer indices (e.g. 8,9,10,11) for suffix targets")
	fs.StringVar(&c.LayersPattern, "lora-layers-pattern", c.LayersPattern, "lora: name of the layer container for --lora-layers (e.g. layer)")
	fs.Var(patternFlag[int]{&c.RankPattern}, "lora-rank-pattern", "lora: per-module ranks, REGEX=R,... (module name matches .*\\.REGEX$)")
	fs.Var(patternFlag[float64]{&c.AlphaPattern}, "lora-alpha-pattern", "lora: per-module alphas, REGEX=ALPHA,...")
	fs.StringVar(&c.Bias, "lora-bias", c.Bias, "lora: which biases train: none, all, lora_only")
	fs.BoolVar(&c.UseRSLoRA, "lora-rslora", c.UseRSLoRA, "lora: rank-stabilised scaling alpha/sqrt(r)")
	fs.BoolVar(&c.UseDoRA, "lora-dora", c.UseDoRA, "lora: weight-decomposed LoRA (DoRA)")
	fs.StringVar(&c.Init, "lora-init", c.Init, "lora: init of A: default (Kaiming-uniform), gaussian; B starts at zero")
	fs.Var(listFlag{&c.ModulesToSave}, "lora-modules-to-save", "lora: extra modules trained in full and saved with the adapter (the head always is)")
	fs.Float64Var(&c.LoRAPlusLRRatio, "loraplus-lr-ratio", c.LoRAPlusLRRatio, "lora: LoRA+, train the B matrices with this multiple of --lr (e.g. 16; 0 = off)")
}

// adapterFlag collects repeated --adapter values.
type adapterFlag []string

func (a *adapterFlag) String() string     { return strings.Join(*a, ",") }
func (a *adapterFlag) Set(s string) error { *a = append(*a, s); return nil }

// adapterFlags are the flags of predict/eval with adapters: --model is
// the base (or a LoRA run's model folder when no --adapter is given),
// --base overrides the adapters' base.
type adapterFlags struct {
	model, base, use string
	adapters         adapterFlag
}

func (a *adapterFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&a.model, "model", "", "saved model folder (a run's model/ folder, any method; or a Hugging Face classifier); with --adapter, the base model")
	fs.StringVar(&a.base, "base", "", "base model for the adapters (default: --model, else the adapter's base_model_name_or_path)")
	fs.Var(&a.adapters, "adapter", "adapter folder on the base, DIR or NAME=DIR (repeatable): PEFT LoRA, prefix or prompt tuning, or AdapterHub bottleneck adapters")
	fs.StringVar(&a.use, "use", "", "adapter (or AdapterHub stack a+b) to use (default: the first)")
}

// predictor loads the base model with the adapters on backend.
func (a *adapterFlags) predictor(backend string, errOut io.Writer) (*gotune.Predictor, error) {
	adapters, base := []string(a.adapters), a.base
	if len(adapters) == 0 {
		if a.model == "" {
			return nil, fmt.Errorf("need --model (a LoRA adapter folder) or --adapter")
		}
		adapters = []string{a.model}
	} else if base == "" {
		base = a.model
	}
	p, err := gotune.LoadAdapters(base, adapters, backend, func(w string) { fmt.Fprintln(errOut, "warning:", w) })
	if err != nil {
		return nil, err
	}
	if a.use != "" {
		if err := p.Use(a.use); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// runMerge: gotune merge --model BASE --adapter A --out DIR.
func runMerge(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(errOut)
	base := fs.String("model", "", "base model (default: the adapter's base_model_name_or_path)")
	adapter := fs.String("adapter", "", "LoRA adapter folder (PEFT layout or a LoRA run's model folder)")
	dst := fs.String("out", "", "folder for the merged model (Hugging Face layout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *adapter == "" || *dst == "" {
		return fmt.Errorf("need --adapter and --out")
	}
	m, h, err := lora.LoadModel(*base, []string{*adapter}, func(w string) { fmt.Fprintln(errOut, "warning:", w) })
	if err != nil {
		return err
	}
	if err := h.Merge(m.P, h.Active()); err != nil {
		return err
	}
	if err := m.Save(*dst); err != nil {
		return err
	}
	fmt.Fprintf(out, "merged %s into %s: wrote %s\n", *adapter, m.Dir, *dst)
	return nil
}

const loraUsage = `gotune lora: LoRA adapter tools.

  gotune lora targets --model DIR [--lora-targets ...|--lora-target-regex RE] [--lora-exclude ...] [--lora-layers ...]
        print the modules a target spec matches (dry run)
  gotune lora combine --adapter DIR:WEIGHT --adapter DIR:WEIGHT [--method linear|cat] --out DIR
        weighted combination into a new adapter (PEFT's add_weighted_adapter)
`

func runLoRA(args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(errOut, loraUsage)
		return fmt.Errorf("need a subcommand: targets or combine")
	}
	switch args[0] {
	case "targets":
		return runLoRATargets(args[1:], out, errOut)
	case "combine":
		return runLoRACombine(args[1:], out, errOut)
	case "-h", "--help", "help":
		fmt.Fprint(out, loraUsage)
		return nil
	}
	return fmt.Errorf("unknown subcommand %q (valid: targets, combine)", args[0])
}

func runLoRATargets(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("lora targets", flag.ContinueOnError)
	fs.SetOutput(errOut)
	modelDir := fs.String("model", "", "model folder or Hub id")
	var c lora.Config
	bindLoRAFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, modelType, err := loadForPlan(*modelDir)
	if err != nil {
		return err
	}
	if d, ok := m.(interface{ FanInFanOut() bool }); ok {
		c.FanInFanOut = d.FanInFanOut() // GPT-2's Conv1D weights are [in, out]
	}
	p := m.Params()
	shapes := map[string][]int{}
	for _, n := range p.Names() {
		shapes[n] = p.Shape(n)
	}
	mods, err := c.Plan(modelType, shapes, m.HeadParams())
	if err != nil {
		return err
	}
	for _, md := range mods {
		fmt.Fprintf(out, "%s  [%d→%d] r=%d alpha=%g scale=%g\n", md.Name, md.In, md.Out, md.R, md.Alpha, md.Scale)
	}
	head := m.HeadParams()
	what := "adapter and a 2-label head"
	if len(head) == 0 {
		what = "adapter; a causal LM's head stays frozen"
	}
	fmt.Fprintf(out, "%d modules; trainable parameters %d (%s)\n", len(mods), c.TrainableCount(mods, shapes, head), what)
	return nil
}

func runLoRACombine(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("lora combine", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var specs adapterFlag
	fs.Var(&specs, "adapter", "adapter folder and weight, DIR:WEIGHT (repeatable)")
	how := fs.String("method", lora.CombineLinear, "combination: linear (equal ranks) or cat (ranks add up)")
	dst := fs.String("out", "", "folder for the new adapter")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(specs) == 0 || *dst == "" {
		return fmt.Errorf("need --adapter DIR:WEIGHT (one or more) and --out")
	}
	var ls []*lora.Loaded
	var ws []float64
	for _, s := range specs {
		dir, w, err := weightedSpec(s)
		if err != nil {
			return err
		}
		l, err := lora.ReadAdapter(dir)
		if err != nil {
			return err
		}
		for _, warn := range l.Warnings {
			fmt.Fprintln(errOut, "warning:", warn)
		}
		ls, ws = append(ls, l), append(ws, w)
	}
	c, err := lora.Combine(ls, ws, *how)
	if err != nil {
		return err
	}
	if err := saveReplacing(*dst, c.Save); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s (r=%d, %s of %d adapters)\n", *dst, c.Cfg.R, *how, len(ls))
	return nil
}
