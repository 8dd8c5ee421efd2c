// Package compare is `gotune compare`: it fine-tunes one base model with
// every method on the user's own data, several seeds each, and writes a
// report (report.md, a self-contained report.html with inline SVG plots,
// results.json) with a recommendation that follows from the measured
// numbers and the user's constraints.
//
//	o := compare.DefaultOptions()
//	o.Base.Model, o.Base.Train, o.Base.Eval, o.Base.Out = "bert-dir", "train.jsonl", "dev.jsonl", "runs/cmp"
//	o.Runner = compare.Child{Exe: "/usr/local/bin/gotune"} // one process per run
//	rep, err := compare.Run(ctx, o, os.Stderr)
//
// Every run is an ordinary gotune run folder, <out>/<method>/seed-<n>, and
// every number in the report is read back from those folders (eval.json,
// metrics.jsonl, the saved model folder), never from memory, so the report
// says what the run folders say.
//
// The task (gotune.ChooseTask) decides the measure: classification ranks
// by accuracy or macro-F1, higher is better; causal-LM (a decoder with
// instruction or text data) ranks by the eval loss over the response
// tokens, lower is better, with perplexity beside it, and skips the
// methods that do not apply (a feature head, augmented variants).
//
// Each method runs with its own defaults (see RecipeFor): the learning rate
// and epochs of methods.DefaultsFor where the method defines its own, and
// the method packages' reference settings for rank, reduction factor and
// prompt length (PEFT, AdapterHub, P-Tuning v2), which compare leaves
// untouched. Options.Set changes any config key for one method or all.
package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/methods"
	"github.com/gotune/gotune/runlog"
)

// Files a comparison folder holds besides the run folders.
const (
	ResultsFile  = "results.json"
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
)

// Options configure a comparison.
type Options struct {
	// Base is the configuration every run shares: Model, Train, Eval (or
	// EvalSplit), Task (empty: chosen as gotune train chooses it), data
	// fields, MaxLen, BatchSize, MetricForBest, Backend, and for causal-lm
	// Template, TrainOnPrompt and Packing...
	// Base.Out is the comparison folder. Method is ignored; LR, Epochs and
	// MaxSteps left at 0 take each method's recipe (RecipeFor), and when
	// set they apply to every method. Base.Seed is the first seed.
	Base gotune.Config
	// Methods are the methods to compare: names of methods.Names(),
	// optionally with "+AUG" to train on augmented data ("lora+eda" is LoRA
	// with --augment eda). Empty means every method.
	Methods []string
	// Seeds is the number of seeds per method (Base.Seed, Base.Seed+1, ...).
	Seeds int
	// Budget, when > 0, is the wall time the whole comparison should take;
	// compare times a short probe run of each method first and cuts steps
	// per run, then seeds, to fit (see PlanBudget).
	Budget time.Duration
	// Set are config changes "METHOD:KEY=VALUE" (METHOD may be "all"); KEY
	// is a key path of a run's config.yaml ("lora.r", "adapter.reduction_factor",
	// "max_len") and VALUE is YAML ("16", "[query,value]").
	Set []string
	// Constraints shape the recommendation.
	Constraints Constraints
	// Runner trains one run; nil runs in this process (InProcess).
	Runner Runner
	// Overwrite replaces an earlier comparison in Base.Out.
	Overwrite bool
}

// DefaultOptions returns gotune's training defaults, every method and 3
// seeds.
func DefaultOptions() Options {
	base := gotune.DefaultConfig()
	base.Out = "runs/compare"
	return Options{Base: base, Seeds: 3}
}

// Report is what a comparison measured; results.json is its JSON form.
type Report struct {
	// Out is the comparison folder.
	Out string `json:"out"`
	// Model, Train and Eval are the base model and data.
	Model string `json:"model"`
	Train string `json:"train"`
	Eval  string `json:"eval,omitempty"`
	// Task is the task every run trains (classify or causal-lm) and
	// TaskReason why (gotune.ChooseTask).
	Task       string `json:"task"`
	TaskReason string `json:"task_reason,omitempty"`
	// Metric is the metric compared: accuracy or macro_f1 (classify), loss
	// (causal-lm: eval.json's eval_loss). LowerIsBetter is set for loss.
	Metric        string `json:"metric"`
	LowerIsBetter bool   `json:"lower_is_better,omitempty"`
	// Ranking lists the methods that ran, best mean metric first.
	Ranking []string `json:"ranking,omitempty"`
	// Seeds are the seeds every method ran with.
	Seeds []int64 `json:"seeds"`
	// Runner says how runs were isolated.
	Runner string `json:"runner"`
	// Budget is the time-budget plan, nil without --budget.
	Budget *BudgetPlan `json:"budget,omitempty"`
	// Methods are the per-method results, in the order asked.
	Methods []*MethodResult `json:"methods"`
	// Constraints are the user's constraints.
	Constraints Constraints `json:"constraints"`
	// Recommendation is the advice and its reasoning.
	Recommendation Recommendation `json:"recommendation"`
	// WallSeconds is the comparison's total wall time.
	WallSeconds float64 `json:"wall_seconds"`
	// Interrupted is set when the comparison stopped on its context.
	Interrupted bool `json:"interrupted,omitempty"`
	// BaseModelBytes is the size of the base model's weights on disk.
	BaseModelBytes int64 `json:"base_model_bytes"`
}

// Status values of a method.
const (
	StatusOK      = "ok"      // every seed ran
	StatusPartial = "partial" // some seeds failed
	StatusFailed  = "failed"  // no seed ran
	StatusPending = "pending" // not run (interrupted)
	StatusSkipped = "skipped" // does not apply to the task; never run
)

// Run compares the methods of o and writes the report into o.Base.Out; it
// narrates to w. A method that fails is reported as failed and the others
// go on. After an interruption (ctx) it writes the report of what ran and
// returns it with ctx's error.
func Run(ctx context.Context, o Options, w io.Writer) (*Report, error) {
	start := time.Now()
	task, why, plans, err := o.plan()
	if err != nil {
		return nil, err
	}
	if err := prepareOut(o.Base.Out, o.Overwrite); err != nil {
		return nil, err
	}
	runner := o.Runner
	if runner == nil {
		runner = InProcess{}
	}
	metric := rankMetric(task, o.Base.MetricForBest)
	rep := &Report{Out: o.Base.Out, Model: o.Base.Model, Train: o.Base.Train, Eval: o.Base.Eval, Task: task, TaskReason: why,
		Metric: metric, LowerIsBetter: lowerIsBetter(metric), Runner: runner.Describe(), Constraints: o.Constraints}
	rep.BaseModelBytes = baseModelBytes(o.Base.Model)
	for _, p := range plans {
		mr := &MethodResult{Method: p.name, LR: p.cfg.LR, Epochs: p.cfg.Epochs,
			MaxSteps: p.cfg.MaxSteps, Recipe: p.recipe.Source, Settings: p.settings, Status: StatusPending}
		if p.notApplicable != "" {
			mr.Status, mr.Skipped = StatusSkipped, p.notApplicable
		}
		rep.Methods = append(rep.Methods, mr)
	}
	say := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	active := activePlans(plans)
	say("gotune compare: task %s (%s), ranked by %s; %d methods (%s) on %s; runs in %s (%s)\n", task, why, rep.metricLabel(),
		len(active), strings.Join(names(active), ", "), o.Base.Model, o.Base.Out, runner.Describe())
	for _, p := range plans {
		if p.notApplicable != "" {
			say("skipping %s: it %s\n", p.name, p.notApplicable)
		}
	}

	seeds := o.Seeds
	if o.Budget > 0 {
		bp, err := probeAndPlan(ctx, o, plans, runner, rep, w)
		if err != nil {
			return nil, err
		}
		rep.Budget = bp
		seeds = bp.Seeds
		say("%s", bp.Explain())
	}
	for i := range seeds {
		rep.Seeds = append(rep.Seeds, o.Base.Seed+int64(i))
	}
	save := func() error { return writeReports(rep, time.Since(start)) }
	if err := save(); err != nil {
		return nil, err
	}

	// Seed-major order: every method runs seed 1 before any runs seed 2, so
	// an interrupted comparison still covers every method.
	n := 0
	for si, seed := range rep.Seeds {
		for mi, p := range plans {
			mr := rep.Methods[mi]
			if p.notApplicable != "" || p.skip != "" || (si > 0 && len(mr.Runs) > 0 && mr.Runs[0].Error != "") {
				continue // a method that failed on its first seed fails on the others too
			}
			if ctx.Err() != nil {
				rep.Interrupted = true
				break
			}
			cfg := p.cfg
			cfg.Seed = seed
			cfg.Out = filepath.Join(o.Base.Out, p.name, fmt.Sprintf("seed-%d", seed))
			n++
			say("[%d/%d] %s seed %d → %s\n", n, len(active)*len(rep.Seeds), p.name, seed, cfg.Out)
			rr := runOne(ctx, runner, cfg, p.tokens, w)
			if rr.Error != "" && ctx.Err() != nil {
				say("      interrupted; the run folder keeps its checkpoint\n")
				rep.Interrupted = true
				break // an interrupted run is not a failure of its method
			}
			mr.Runs = append(mr.Runs, rr)
			if rr.Error != "" {
				say("      failed: %s\n", rr.Error)
			} else {
				say("      %s, %d steps, %s, peak %s\n", rep.runMetrics(rr), rr.Steps,
					runlog.FormatDuration(secs(rr.WallSeconds)), runlog.FormatBytes(rr.PeakRSS))
			}
			mr.summarise(rep.Metric, rep.metricKeys(), len(rep.Seeds))
			if err := save(); err != nil {
				return nil, err
			}
		}
	}
	for i, p := range plans {
		switch {
		case p.notApplicable != "":
		case p.skip != "":
			rep.Methods[i].Status, rep.Methods[i].Error = StatusFailed, p.skip
		default:
			rep.Methods[i].summarise(rep.Metric, rep.metricKeys(), len(rep.Seeds))
		}
	}
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
	rep.Recommendation = Recommend(rep)
	if err := save(); err != nil {
		return nil, err
	}
	say("\n%s\n", formatTable(rep))
	if r := rep.rankingText(); r != "" {
		say("ranking by mean %s: %s\n\n", rep.metricLabel(), r)
	}
	say("%s\n", rep.Recommendation.Text())
	say("report: %s, %s\n", filepath.Join(o.Base.Out, MarkdownFile), filepath.Join(o.Base.Out, HTMLFile))
	if rep.Interrupted {
		return rep, ctx.Err()
	}
	return rep, nil
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// methodPlan is one method's prepared configuration.
type methodPlan struct {
	name     string
	cfg      gotune.Config
	recipe   Recipe
	settings string
	tokens   *tokenCounter
	// skip, when set, is why the method does not run (its probe failed).
	skip string
	// notApplicable, when set, is why the method does not apply to the
	// task: it never runs and is reported as skipped, not failed.
	notApplicable string
}

// activePlans are the plans of the methods that apply to the task.
func activePlans(ps []*methodPlan) []*methodPlan {
	var out []*methodPlan
	for _, p := range ps {
		if p.notApplicable == "" {
			out = append(out, p)
		}
	}
	return out
}

func names(ps []*methodPlan) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.name
	}
	return out
}

// plan checks o, resolves the task and builds every method's
// configuration; every run gets the resolved task (config.yaml's task).
func (o *Options) plan() (task, why string, plans []*methodPlan, err error) {
	b := &o.Base
	switch {
	case b.Model == "":
		return "", "", nil, errors.New("no model: set --model (a Hugging Face folder or Hub id)")
	case b.Train == "":
		return "", "", nil, errors.New("no training data: set --train")
	case b.Out == "":
		return "", "", nil, errors.New("no comparison folder: set --out")
	case o.Seeds < 1:
		return "", "", nil, fmt.Errorf("seeds must be ≥ 1, got %d", o.Seeds)
	case o.Budget < 0:
		return "", "", nil, fmt.Errorf("budget must be ≥ 0, got %s", o.Budget)
	}
	absPath(&b.Train)
	absPath(&b.Eval)
	absPath(&b.Out)
	if _, err := os.Stat(b.Model); err == nil { // a folder or a .gguf file, not a Hub id
		absPath(&b.Model)
	}
	if task, why, err = chooseTask(b); err != nil {
		return "", "", nil, err
	}
	b.Task = task
	if task == gotune.TaskCausalLM && b.MetricForBest == "accuracy" {
		b.MetricForBest = "loss" // what gotune train makes of the default; config.yaml then says so
	}
	list, err := ParseMethods(o.Methods)
	if err != nil {
		return "", "", nil, err
	}
	sets, err := parseSets(o.Set, list)
	if err != nil {
		return "", "", nil, err
	}
	plans, err = o.methodPlans(task, list, sets)
	return task, why, plans, err
}

// methodPlans builds each listed method's configuration from o.Base: its
// recipe, then the --set changes; methods that do not apply to the task
// are planned as skipped.
func (o *Options) methodPlans(task string, list []string, sets []setting) ([]*methodPlan, error) {
	counters := map[string]*tokenCounter{}
	var plans []*methodPlan
	for _, name := range list {
		base, aug, _ := strings.Cut(name, "+")
		cfg := o.Base
		cfg.Method, cfg.Augment, cfg.Resume, cfg.Overwrite = base, aug, false, false
		r := RecipeFor(task, base)
		if cfg.LR == 0 {
			cfg.LR = r.LR
		}
		if cfg.Epochs == 0 {
			cfg.Epochs = r.Epochs
		}
		for _, s := range sets {
			if s.method == "all" || s.method == name {
				if err := s.apply(&cfg); err != nil {
					return nil, err
				}
			}
		}
		var own []string
		if cfg.LR != r.LR {
			own = append(own, "lr")
		}
		if cfg.Epochs != r.Epochs {
			own = append(own, "epochs")
		}
		if len(own) > 0 {
			r.Source = fmt.Sprintf("%s set by you (recipe: lr %g, %d epochs, %s)", strings.Join(own, " and "), r.LR, r.Epochs, r.Source)
		}
		key := counterKey(cfg)
		if counters[key] == nil {
			counters[key] = newTokenCounter(cfg)
		}
		plans = append(plans, &methodPlan{name: name, cfg: cfg, recipe: r, settings: settingsOf(cfg), tokens: counters[key],
			notApplicable: notApplicable(task, name)})
	}
	return plans, nil
}

func absPath(p *string) {
	if *p != "" {
		if a, err := filepath.Abs(*p); err == nil {
			*p = a
		}
	}
}

// ParseMethods expands a method list: "all" (or nothing) is every method of
// methods.Names(); a name may carry "+AUG" (an augmentation, see
// gotune.Config.Augment). Unknown names are errors listing the valid ones.
func ParseMethods(list []string) ([]string, error) {
	var out []string
	for _, item := range list {
		for _, m := range strings.Split(item, ",") {
			m = strings.TrimSpace(m)
			switch {
			case m == "":
				continue
			case m == "all":
				out = append(out, methods.Names()...)
				continue
			}
			base, aug, hasAug := strings.Cut(m, "+")
			if !slices.Contains(methods.Names(), base) {
				return nil, fmt.Errorf("unknown method %q (available: all, %s; add +eda or +aeda to train on augmented data)", base, strings.Join(methods.Names(), ", "))
			}
			if hasAug && aug == "" {
				return nil, fmt.Errorf("method %q: nothing after +; write e.g. %s+eda", m, base)
			}
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		out = methods.Names()
	}
	var uniq []string
	for _, m := range out {
		if !slices.Contains(uniq, m) {
			uniq = append(uniq, m)
		}
	}
	return uniq, nil
}

// markerName marks a folder as a comparison folder (so --overwrite may
// replace it).
const markerName = ResultsFile

func prepareOut(dir string, overwrite bool) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		if !overwrite {
			return fmt.Errorf("comparison folder %s exists and is not empty: pass --overwrite to replace it", dir)
		}
		if _, err := os.Stat(filepath.Join(dir, markerName)); err != nil {
			return fmt.Errorf("refusing to --overwrite %s: it does not look like a gotune compare folder (no %s)", dir, markerName)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("clearing %s: %w", dir, err)
		}
	}
	return os.MkdirAll(dir, 0o755)
}

// writeReports writes results.json, report.md and report.html.
func writeReports(rep *Report, wall time.Duration) error {
	rep.WallSeconds = wall.Seconds()
	rep.Ranking = nil
	for _, m := range rep.Rank() {
		rep.Ranking = append(rep.Ranking, m.Method)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(rep.Out, ResultsFile), b); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(rep.Out, MarkdownFile), []byte(Markdown(rep))); err != nil {
		return err
	}
	return writeFile(filepath.Join(rep.Out, HTMLFile), []byte(HTML(rep)))
}

// writeFile writes b to path through a temporary file, so a reader never
// sees half a report.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
