package compare

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/runlog"
)

// ProbeSteps is the length of the probe run that times a method before a
// budgeted comparison.
const ProbeSteps = 4

// MinShare is the part of its recipe's steps a run must keep before a
// budgeted comparison drops seeds instead of steps.
const MinShare = 0.25

// BudgetPlan is how a time budget was split, decided before the real runs
// from one short probe run per method.
type BudgetPlan struct {
	// BudgetSeconds is the budget; ProbeSeconds what the probes took.
	BudgetSeconds float64 `json:"budget_seconds"`
	ProbeSeconds  float64 `json:"probe_seconds"`
	// ShareSeconds is each method's equal share of what the probes left.
	ShareSeconds float64 `json:"share_seconds"`
	// SeedsAsked and Seeds are the seeds asked for and kept.
	SeedsAsked int `json:"seeds_asked"`
	Seeds      int `json:"seeds"`
	// Methods are the per-method estimates and cuts.
	Methods []BudgetLine `json:"methods"`
	// Notes say what was cut, in words.
	Notes []string `json:"notes,omitempty"`
}

// BudgetLine is one method's timing estimate and the steps it was given.
type BudgetLine struct {
	Method string `json:"method"`
	// Cost is the estimate measured by the probe.
	Cost Cost `json:"cost"`
	// WantSteps are the recipe's steps per run; Steps what the budget
	// allows (equal when nothing was cut).
	WantSteps int `json:"want_steps"`
	Steps     int `json:"steps"`
	// EstimateSeconds is the estimated wall time of one run of Steps.
	EstimateSeconds float64 `json:"estimate_seconds"`
	// Cut says what was cut ("" if nothing); Failed why the probe failed.
	Cut    string `json:"cut,omitempty"`
	Failed string `json:"failed,omitempty"`
}

// Cost is the time model of one method's run, from its probe:
// Estimate(steps) = Fixed + steps·Step + (evaluations − 1)·Eval, with one
// evaluation per epoch of StepsPerEpoch steps.
type Cost struct {
	// Fixed is what a run costs besides its steps: process start, loading
	// and tokenising, graph compilation, one evaluation, saving.
	Fixed float64 `json:"fixed_seconds"`
	// Step is one optimizer step (measured after the first, compiling, one).
	Step float64 `json:"step_seconds"`
	// Eval is one more evaluation, taken as a third of a training step per
	// evaluation batch (forward only).
	Eval float64 `json:"eval_seconds"`
	// StepsPerEpoch is the number of optimizer steps of an epoch.
	StepsPerEpoch int `json:"steps_per_epoch"`
}

// Estimate is the estimated wall time of a run of steps steps.
func (c Cost) Estimate(steps int) float64 {
	evals := max(1, (steps+c.StepsPerEpoch-1)/max(c.StepsPerEpoch, 1))
	return c.Fixed + float64(steps)*c.Step + float64(evals-1)*c.Eval
}

// fit is the largest number of steps, at most want, whose estimate is
// within seconds (0 if not even one step fits).
func (c Cost) fit(seconds float64, want int) int {
	lo, hi := 0, want
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if c.Estimate(mid) <= seconds {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// PlanBudget splits budget seconds (what the probes left) equally over
// the methods whose probe ran (Failed == ""), keeping seeds and cutting
// steps while every run keeps at least MinShare of its recipe's steps,
// then dropping seeds (down to one); with one seed each run gets what
// fits in its share, at least one step. lines carry each method's Cost
// and WantSteps; PlanBudget fills in Steps, EstimateSeconds and Cut.
func PlanBudget(budget float64, seeds int, lines []BudgetLine) (kept int, share float64, notes []string) {
	n := 0
	for _, l := range lines {
		if l.Failed == "" {
			n++
		}
	}
	if n == 0 {
		return seeds, 0, nil
	}
	share = max(budget, 0) / float64(n)
	kept = 1
	for s := seeds; s >= 1; s-- {
		ok := true
		for _, l := range lines {
			if l.Failed == "" && l.Cost.fit(share/float64(s), l.WantSteps) < int(math.Ceil(MinShare*float64(l.WantSteps))) {
				ok = false
				break
			}
		}
		if ok {
			kept = s
			break
		}
	}
	if kept < seeds {
		notes = append(notes, fmt.Sprintf("seeds cut from %d to %d: with %d seeds some method would keep less than %.0f%% of its steps", seeds, kept, seeds, 100*MinShare))
	}
	for i := range lines {
		l := &lines[i]
		if l.Failed != "" {
			continue
		}
		l.Steps = max(1, l.Cost.fit(share/float64(kept), l.WantSteps))
		l.EstimateSeconds = l.Cost.Estimate(l.Steps)
		if l.Steps < l.WantSteps {
			l.Cut = fmt.Sprintf("max_steps %d of %d (%.1f of %.0f epochs)", l.Steps, l.WantSteps,
				float64(l.Steps)/float64(l.Cost.StepsPerEpoch), float64(l.WantSteps)/float64(l.Cost.StepsPerEpoch))
		}
		if l.EstimateSeconds > share/float64(kept) {
			notes = append(notes, fmt.Sprintf("%s: even one step (about %s) exceeds its share; it runs one step anyway", l.Method, fmtSeconds(l.EstimateSeconds)))
		}
	}
	return kept, share, notes
}

// Explain describes the plan in words, one line each.
func (bp *BudgetPlan) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "budget %s: probes (%d steps per method) took %s; each of %d methods gets %s for %d seed(s)\n",
		fmtSeconds(bp.BudgetSeconds), ProbeSteps, fmtSeconds(bp.ProbeSeconds), countOK(bp.Methods), fmtSeconds(bp.ShareSeconds), bp.Seeds)
	for _, l := range bp.Methods {
		switch {
		case l.Failed != "":
			fmt.Fprintf(&b, "  %-10s probe failed: %s\n", l.Method, l.Failed)
		case l.Cut != "":
			fmt.Fprintf(&b, "  %-10s %s/step, %s fixed: cut to %s, about %s a run\n", l.Method, fmtSeconds(l.Cost.Step), fmtSeconds(l.Cost.Fixed), l.Cut, fmtSeconds(l.EstimateSeconds))
		default:
			fmt.Fprintf(&b, "  %-10s %s/step, %s fixed: all %d steps fit, about %s a run\n", l.Method, fmtSeconds(l.Cost.Step), fmtSeconds(l.Cost.Fixed), l.Steps, fmtSeconds(l.EstimateSeconds))
		}
	}
	for _, n := range bp.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

func countOK(ls []BudgetLine) int {
	n := 0
	for _, l := range ls {
		if l.Failed == "" {
			n++
		}
	}
	return n
}

// fmtSeconds formats a duration in seconds briefly: "0.35 s", "12 s", "3:05".
func fmtSeconds(s float64) string {
	switch {
	case s < 10:
		return fmt.Sprintf("%.2g s", s)
	case s < 60:
		return fmt.Sprintf("%.0f s", s)
	}
	return runlog.FormatDuration(secs(s))
}

// probeAndPlan runs one probe per method that applies to the task and
// plans the budget over them; methods whose probe fails are marked to
// skip.
func probeAndPlan(ctx context.Context, o Options, plans []*methodPlan, r Runner, rep *Report, w io.Writer) (*BudgetPlan, error) {
	bp := &BudgetPlan{BudgetSeconds: o.Budget.Seconds(), SeedsAsked: o.Seeds}
	fmt.Fprintf(w, "budget %s: timing %d steps of each method first\n", fmtSeconds(bp.BudgetSeconds), ProbeSteps)
	start := time.Now()
	var idx []int // bp.Methods[k] is plans[idx[k]]
	for i, p := range plans {
		if p.notApplicable != "" {
			continue
		}
		idx = append(idx, i)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		cfg := p.cfg
		cfg.Out = filepath.Join(o.Base.Out, p.name, "probe")
		cfg.MaxSteps, cfg.LoggingSteps, cfg.EvalSteps, cfg.Patience = ProbeSteps, 1, 0, 0
		fmt.Fprintf(w, "  probing %s\n", p.name)
		rr := runOne(ctx, r, cfg, p.tokens, w)
		line := BudgetLine{Method: p.name}
		if rr.Error != "" {
			line.Failed = rr.Error
			p.skip = "probe failed: " + rr.Error
			fmt.Fprintf(w, "  %s: probe failed: %s\n", p.name, rr.Error)
		} else {
			line.Cost = costFromProbe(rr, cfg)
			line.WantSteps = p.cfg.Epochs * line.Cost.StepsPerEpoch
			if p.cfg.MaxSteps > 0 {
				line.WantSteps = p.cfg.MaxSteps
			}
		}
		bp.Methods = append(bp.Methods, line)
	}
	bp.ProbeSeconds = time.Since(start).Seconds()
	bp.Seeds, bp.ShareSeconds, bp.Notes = PlanBudget(bp.BudgetSeconds-bp.ProbeSeconds, o.Seeds, bp.Methods)
	for k, l := range bp.Methods {
		if i := idx[k]; l.Failed == "" && l.Steps < l.WantSteps {
			p := plans[i]
			p.cfg.MaxSteps = l.Steps
			p.cfg.Epochs = (l.Steps + l.Cost.StepsPerEpoch - 1) / l.Cost.StepsPerEpoch // no idle epochs after the last step
			rep.Methods[i].MaxSteps, rep.Methods[i].Epochs = p.cfg.MaxSteps, p.cfg.Epochs
		}
	}
	return bp, nil
}

// costFromProbe turns a probe run into a Cost.
func costFromProbe(rr *RunResult, cfg gotune.Config) Cost {
	c := Cost{StepsPerEpoch: max(1, ((rr.TrainExamples+cfg.BatchSize-1)/cfg.BatchSize+cfg.GradAccum-1)/cfg.GradAccum)}
	c.Step = rr.StepSeconds
	if recs, err := runlog.ReadMetrics(filepath.Join(rr.Dir, gotune.MetricsFile)); err == nil {
		var steps, els []float64
		for _, r := range recs {
			s, ok1 := r["step"].(float64)
			e, ok2 := r["elapsed"].(float64)
			if r["kind"] == "train" && ok1 && ok2 {
				steps, els = append(steps, s), append(els, e)
			}
		}
		if n := len(steps); n >= 3 && steps[n-1] > steps[1] { // skip the first step: it compiles
			c.Step = (els[n-1] - els[1]) / (steps[n-1] - steps[1])
		}
	}
	c.Fixed = max(0, rr.WallSeconds-float64(rr.Steps)*c.Step)
	evalBatches := (rr.EvalExamples + cfg.BatchSize - 1) / cfg.BatchSize
	c.Eval = float64(evalBatches) * c.Step / 3
	return c
}
