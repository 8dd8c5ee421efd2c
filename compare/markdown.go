package compare

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/runlog"
)

// row is one method's table cells, shared by the Markdown, HTML and
// terminal tables.
type row struct {
	method, acc, f1, trainable, pct, artefact, peak, wall, step, tps, status string
}

// header returns the column titles of the results table.
func header() row {
	return row{"method", "accuracy", "macro-F1", "trainable params", "trainable %", "artefact", "peak memory", "wall / run", "time / step", "tokens/s", "status"}
}

func rowOf(m *MethodResult) row {
	r := row{method: m.Method, status: m.Status, acc: "—", f1: "—", trainable: "—", pct: "—", artefact: "—", peak: "—", wall: "—", step: "—", tps: "—"}
	if m.Status == StatusPartial {
		r.status = fmt.Sprintf("partial (%d of %d seeds)", m.Metric.N, len(m.Runs))
	}
	if !m.OK() {
		return r
	}
	r.acc, r.f1 = fmtStat(m.Accuracy), fmtStat(m.MacroF1)
	r.trainable, r.pct = thousands(m.TrainableParams), fmt.Sprintf("%.2f%%", m.TrainablePercent)
	r.artefact, r.peak = runlog.FormatBytes(m.ArtifactBytes), runlog.FormatBytes(m.PeakRSS)
	r.wall = fmtSeconds(m.WallSeconds.Mean)
	r.step = fmtStepTime(m.StepSeconds)
	if m.TokensPerSecond > 0 {
		r.tps = fmt.Sprintf("%.0f", m.TokensPerSecond)
	}
	return r
}

func (r row) cells() []string {
	return []string{r.method, r.acc, r.f1, r.trainable, r.pct, r.artefact, r.peak, r.wall, r.step, r.tps, r.status}
}

// fmtStepTime formats a step time in milliseconds or seconds.
func fmtStepTime(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1f ms", 1000*s)
	}
	return fmt.Sprintf("%.2f s", s)
}

// formatTable is the results table for a terminal.
func formatTable(rep *Report) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header().cells(), "\t"))
	for _, m := range rep.Methods {
		fmt.Fprintln(tw, strings.Join(rowOf(m).cells(), "\t"))
	}
	tw.Flush()
	return b.String()
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func mdRow(b *strings.Builder, cells ...string) {
	for i := range cells {
		cells[i] = mdCell(cells[i])
	}
	fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
}

func mdHeader(b *strings.Builder, cells ...string) {
	mdRow(b, cells...)
	seps := make([]string, len(cells))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(b, "|%s|\n", strings.Join(seps, "|"))
}

// Markdown renders the report as Markdown (report.md).
func Markdown(rep *Report) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# gotune compare\n\n")
	p("Base model `%s`; training data `%s`", rep.Model, rep.Train)
	if rep.Eval != "" {
		p("; evaluation data `%s`", rep.Eval)
	}
	p(".  \nCompared by **%s**, seeds %s, runs: %s; total wall time %s.", rep.Metric, joinSeeds(rep.Seeds), rep.Runner, fmtSeconds(rep.WallSeconds))
	if rep.Interrupted {
		p(" **Interrupted**: the table covers the runs that finished.")
	}
	p(" The HTML version with plots is [report.html](report.html).\n\n")

	p("## Results\n\n")
	mdHeader(&b, header().cells()...)
	for _, m := range rep.Methods {
		mdRow(&b, rowOf(m).cells()...)
	}
	p("\n%s\n\n", columnNotes)
	for _, m := range rep.Methods {
		if m.Error != "" {
			p("- **%s** %s: %s\n", m.Method, m.Status, mdCell(m.Error))
		}
	}

	p("\n## Recommendation\n\n")
	if rep.Recommendation.Method != "" {
		p("**%s**\n\n", rep.Recommendation.Method)
	} else if len(rep.Recommendation.Reasons) == 0 {
		p("(after all runs)\n\n")
	} else {
		p("**none**\n\n")
	}
	for _, r := range rep.Recommendation.Reasons {
		p("- %s\n", r)
	}
	if c := rep.Constraints; c != (Constraints{}) {
		p("\nConstraints: %s.\n", constraintText(c))
	}

	if bp := rep.Budget; bp != nil {
		p("\n## Time budget\n\n")
		p("Budget %s. Before the real runs each method ran a %d-step probe (%s in all), which gave its cost: a fixed part (start, loading, compiling, one evaluation, saving) and a time per step (after the first, compiling step). What the probes left was split equally: %s per method, for %d of %d seeds. A run keeps its recipe's steps when they fit; otherwise it gets `max_steps` for what fits (the learning-rate schedule spans the shorter run). Seeds are dropped only when some run would keep less than %.0f%% of its steps.\n\n",
			fmtSeconds(bp.BudgetSeconds), ProbeSteps, fmtSeconds(bp.ProbeSeconds), fmtSeconds(bp.ShareSeconds), bp.Seeds, bp.SeedsAsked, 100*MinShare)
		mdHeader(&b, "method", "fixed", "per step", "steps wanted", "steps run", "estimate / run", "cut")
		for _, l := range bp.Methods {
			if l.Failed != "" {
				mdRow(&b, l.Method, "—", "—", "—", "—", "—", "probe failed: "+l.Failed)
				continue
			}
			cut := l.Cut
			if cut == "" {
				cut = "nothing"
			}
			mdRow(&b, l.Method, fmtSeconds(l.Cost.Fixed), fmtStepTime(l.Cost.Step), fmt.Sprint(l.WantSteps), fmt.Sprint(l.Steps), fmtSeconds(l.EstimateSeconds), cut)
		}
		for _, n := range bp.Notes {
			p("\n- %s", n)
		}
		p("\n")
	}

	p("\n## Settings\n\n")
	mdHeader(&b, "method", "lr", "epochs", "max steps", "method settings", "lr and epochs from")
	for _, m := range rep.Methods {
		ms := "—"
		if m.MaxSteps > 0 {
			ms = fmt.Sprint(m.MaxSteps)
		}
		mdRow(&b, m.Method, fmt.Sprintf("%g", m.LR), fmt.Sprint(m.Epochs), ms, m.Settings, m.Recipe)
	}

	p("\n## Runs\n\n")
	mdHeader(&b, "method", "seed", "accuracy", "macro-F1", "steps", "best step", "wall", "time / step", "peak memory", "artefact", "run folder")
	for _, m := range rep.Methods {
		for _, r := range m.Runs {
			dir := relTo(rep.Out, r.Dir)
			if r.Error != "" {
				mdRow(&b, m.Method, fmt.Sprint(r.Seed), "failed: "+r.Error, "", "", "", fmtSeconds(r.WallSeconds), "", runlog.FormatBytes(r.PeakRSS), "", dir)
				continue
			}
			mdRow(&b, m.Method, fmt.Sprint(r.Seed), fmt.Sprintf("%.4f", r.Eval["accuracy"]), fmt.Sprintf("%.4f", r.Eval["macro_f1"]),
				fmt.Sprint(r.Steps), fmt.Sprint(r.BestStep), fmtSeconds(r.WallSeconds), fmtStepTime(r.StepSeconds),
				runlog.FormatBytes(r.PeakRSS), runlog.FormatBytes(r.ArtifactBytes), fmt.Sprintf("[%s](%s)", dir, dir))
		}
	}
	p("\nEach run folder holds the whole story: `config.yaml`, `command.txt`, `%s`, `%s`, `%s` and the saved `%s/`; the run's output is `<folder>.log` beside it. Reproduce a run with:\n\n```sh\n", gotune.MetricsFile, gotune.PlotFile, gotune.EvalFile, gotune.ModelDirName)
	for _, m := range rep.Methods {
		for _, r := range m.Runs {
			if r.Command != "" {
				p("%s\n", r.Command)
			}
		}
	}
	p("```\n")
	return b.String()
}

// columnNotes explains the table's columns.
const columnNotes = `Metrics are the kept (best) evaluation of each run, mean ± standard deviation over seeds. ` +
	`Trainable % is trainable over all parameters of the trained model. Artefact is the size of the saved model folder ` +
	`(what a deployment stores per task). Peak memory is the largest peak resident memory of the seeds' runs. ` +
	`Wall / run is a run from start to exit (loading, compiling, training, evaluating, saving). Time / step is the ` +
	`training steps' own time (metrics.jsonl's epoch records) per optimizer step. Tokens/s is the non-pad input tokens ` +
	`the steps covered (from the tokenised training data, special tokens included) per second of training steps.`

func constraintText(c Constraints) string {
	var parts []string
	if c.MaxMemory > 0 {
		parts = append(parts, "--max-memory "+runlog.FormatBytes(c.MaxMemory))
	}
	if c.MaxArtifact > 0 {
		parts = append(parts, "--max-artifact-size "+runlog.FormatBytes(c.MaxArtifact))
	}
	if c.TasksPerBase > 1 {
		parts = append(parts, fmt.Sprintf("--tasks-per-base %d", c.TasksPerBase))
	}
	return strings.Join(parts, ", ")
}

func joinSeeds(s []int64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}

// relTo is path relative to base when it lies under it.
func relTo(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
