package compare

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/runlog"
)

// row is one method's table cells, shared by the Markdown, HTML and
// terminal tables.
type row struct {
	method string
	// metrics are the task's metric cells (Report.metricColumns).
	metrics                                                 []string
	trainable, pct, artefact, peak, wall, step, tps, status string
	// best marks the method ranked first; bestCol is the column of the
	// ranking metric within metrics.
	best    bool
	bestCol int
}

// header returns the column titles of the results table.
func (rep *Report) header() row {
	r := row{method: "method", trainable: "trainable params", pct: "trainable %", artefact: "artefact", peak: "peak memory",
		wall: "wall / run", step: "time / step", tps: "tokens/s", status: "status"}
	for _, c := range rep.metricColumns() {
		r.metrics = append(r.metrics, c.title)
	}
	return r
}

// rowOf is a method's row of the results table.
func (rep *Report) rowOf(m *MethodResult) row {
	r := row{method: m.Method, status: m.Status, trainable: "—", pct: "—", artefact: "—", peak: "—", wall: "—", step: "—", tps: "—"}
	for i, c := range rep.metricColumns() {
		r.metrics = append(r.metrics, "—")
		if c.key == rep.Metric {
			r.bestCol = i
		}
	}
	if m.Status == StatusPartial {
		r.status = fmt.Sprintf("partial (%d of %d seeds)", m.Metric.N, len(m.Runs))
	}
	if !m.OK() {
		return r
	}
	for i, c := range rep.metricColumns() {
		if st := m.stat(c.key); st != nil {
			r.metrics[i] = fmtStat(*st)
		}
	}
	if ranked := rep.Rank(); len(ranked) > 1 && ranked[0] == m {
		r.best = true
	}
	r.trainable, r.pct = thousands(m.TrainableParams), fmt.Sprintf("%.2f%%", m.TrainablePercent)
	r.artefact, r.peak = runlog.FormatBytes(m.ArtifactBytes), runlog.FormatBytes(m.PeakRSS)
	r.wall = fmtSeconds(m.WallSeconds.Mean)
	r.step = fmtStepTime(m.StepSeconds)
	if m.TokensPerSecond > 0 {
		r.tps = fmt.Sprintf("%.0f", m.TokensPerSecond)
	}
	return r
}

// cells are the row's cells in column order; mark, when not nil, decorates
// the ranking metric's cell of the best method.
func (r row) cells(mark func(string) string) []string {
	ms := slices.Clone(r.metrics)
	if r.best && mark != nil {
		ms[r.bestCol] = mark(ms[r.bestCol])
	}
	out := append([]string{r.method}, ms...)
	return append(out, r.trainable, r.pct, r.artefact, r.peak, r.wall, r.step, r.tps, r.status)
}

// mdBold marks a Markdown cell as the best.
func mdBold(s string) string { return "**" + s + "**" }

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
	fmt.Fprintln(tw, strings.Join(rep.header().cells(nil), "\t"))
	for _, m := range rep.Methods {
		fmt.Fprintln(tw, strings.Join(rep.rowOf(m).cells(func(s string) string { return s + " *" }), "\t"))
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
	p(".  \nTask **%s** (%s). Compared by **%s**, seeds %s, runs: %s; total wall time %s.", rep.Task, rep.TaskReason, rep.metricLabel(), joinSeeds(rep.Seeds), rep.Runner, fmtSeconds(rep.WallSeconds))
	if rep.Interrupted {
		p(" **Interrupted**: the table covers the runs that finished.")
	}
	p(" The HTML version with plots is [report.html](report.html).\n\n")

	p("## Results\n\n")
	mdHeader(&b, rep.header().cells(nil)...)
	for _, m := range rep.Methods {
		mdRow(&b, rep.rowOf(m).cells(mdBold)...)
	}
	if r := rep.rankingText(); r != "" {
		p("\nRanking by mean %s: %s (the best in bold above).\n", rep.metricLabel(), r)
	}
	p("\n%s\n\n", rep.columnNotes())
	for _, m := range rep.Methods {
		switch {
		case m.Skipped != "":
			p("- **%s** skipped: it %s\n", m.Method, mdCell(m.Skipped))
		case m.Error != "":
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
		if m.Status == StatusSkipped {
			continue // never run: its settings would mislead
		}
		ms := "—"
		if m.MaxSteps > 0 {
			ms = fmt.Sprint(m.MaxSteps)
		}
		mdRow(&b, m.Method, fmt.Sprintf("%g", m.LR), fmt.Sprint(m.Epochs), ms, m.Settings, m.Recipe)
	}

	p("\n## Runs\n\n")
	mdHeader(&b, rep.runHeader()...)
	for _, m := range rep.Methods {
		for _, r := range m.Runs {
			dir := relTo(rep.Out, r.Dir)
			if r.Error != "" {
				cells := append([]string{m.Method, fmt.Sprint(r.Seed), "failed: " + r.Error}, make([]string, len(rep.metricColumns())-1)...)
				mdRow(&b, append(cells, "", "", fmtSeconds(r.WallSeconds), "", runlog.FormatBytes(r.PeakRSS), "", dir)...)
				continue
			}
			cells := append([]string{m.Method, fmt.Sprint(r.Seed)}, rep.runMetricCells(r)...)
			mdRow(&b, append(cells, fmt.Sprint(r.Steps), fmt.Sprint(r.BestStep), fmtSeconds(r.WallSeconds), fmtStepTime(r.StepSeconds),
				runlog.FormatBytes(r.PeakRSS), runlog.FormatBytes(r.ArtifactBytes), fmt.Sprintf("[%s](%s)", dir, dir))...)
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

// runHeader are the column titles of the per-run table.
func (rep *Report) runHeader() []string {
	h := []string{"method", "seed"}
	for _, c := range rep.metricColumns() {
		h = append(h, c.title)
	}
	return append(h, "steps", "best step", "wall", "time / step", "peak memory", "artefact", "run folder")
}

// runMetricCells are a run's task metrics, from its eval.json.
func (rep *Report) runMetricCells(r *RunResult) []string {
	var out []string
	for _, k := range rep.metricKeys() {
		out = append(out, fmt.Sprintf("%.4f", r.Eval[k]))
	}
	return out
}

// columnNotes explains the table's columns.
func (rep *Report) columnNotes() string {
	metrics := `Metrics are the kept (best) evaluation of each run, mean ± standard deviation over seeds. `
	tokens := `Tokens/s is the non-pad input tokens the steps covered (from the tokenised training data, special tokens included) per second of training steps.`
	if rep.Task == gotune.TaskCausalLM {
		metrics = `Eval loss is the mean token loss over the evaluation tokens that carry loss (the responses and their EOS, ` +
			`unless the runs train on prompts too), each run's kept (lowest-loss) evaluation as its eval.json records it (eval_loss); ` +
			`perplexity is exp(loss) of the same evaluation (eval_perplexity). Both are the mean ± standard deviation over seeds ` +
			`(the perplexity column averages the runs' perplexities); lower is better. `
		tokens = `Tokens/s is the non-pad tokens the steps covered — prompt and response, BOS and EOS included, as the runs' ` +
			`template, max_len and packing encode the training data — per second of training steps.`
	}
	return metrics + `Trainable % is trainable over all parameters of the trained model. Artefact is the size of the saved model folder ` +
		`(what a deployment stores per task). Peak memory is the largest peak resident memory of the seeds' runs. ` +
		`Wall / run is a run from start to exit (loading, compiling, training, evaluating, saving). Time / step is the ` +
		`training steps' own time (metrics.jsonl's epoch records) per optimizer step. ` + tokens
}

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
