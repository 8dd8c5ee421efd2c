package compare

import (
	"fmt"
	"strings"

	"github.com/gotune/gotune/runlog"
)

// style is the report's whole stylesheet (no external fonts or files).
const style = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1180px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.l,th.l{text-align:left}td.err{text-align:left;white-space:normal;color:#a00}
.note{color:#555;font-size:12px;max-width:1000px}.rec{font-size:16px}.ok{color:#2a7a2a}.failed{color:#a00}.partial{color:#a60}.skipped{color:#777}
.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
svg.plot{border:1px solid #e4e4e4;background:#fff}svg text{font-family:system-ui,sans-serif;fill:#333}
.ptitle{font-size:13px;font-weight:600}.tick{font-size:11px}.label{font-size:12px}.pt{font-size:11px}
.grid{stroke:#ececec;stroke-width:1}.frame{fill:none;stroke:#999;stroke-width:1}
code{background:#f4f4f4;padding:1px 4px}pre{background:#f7f7f7;padding:8px;overflow-x:auto}`

// HTML renders the report as one self-contained HTML file (report.html):
// tables and inline SVG plots, no scripts and no external references. The
// output is well-formed XML as well as HTML.
func HTML(rep *Report) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>gotune compare: %s</title>\n<style>\n%s\n</style>\n</head>\n<body>\n", esc(rep.Model), style)
	p("<h1>gotune compare</h1>\n<p>Base model <code>%s</code>; training data <code>%s</code>", esc(rep.Model), esc(rep.Train))
	if rep.Eval != "" {
		p("; evaluation data <code>%s</code>", esc(rep.Eval))
	}
	p(".<br/>Task <b>%s</b> (%s). Compared by <b>%s</b>, seeds %s; runs: %s; total wall time %s.", esc(rep.Task), esc(rep.TaskReason),
		esc(rep.metricLabel()), esc(joinSeeds(rep.Seeds)), esc(rep.Runner), esc(fmtSeconds(rep.WallSeconds)))
	if rep.Interrupted {
		p(" <b>Interrupted</b>: the tables cover the runs that finished.")
	}
	p("</p>\n")

	p("<h2>Recommendation</h2>\n")
	if m := rep.Recommendation.Method; m != "" {
		p("<p class=\"rec\">Recommended: <b>%s</b></p>\n", esc(m))
	} else if len(rep.Recommendation.Reasons) > 0 {
		p("<p class=\"rec\">No method meets every constraint.</p>\n")
	}
	if len(rep.Recommendation.Reasons) > 0 {
		p("<ul>\n")
		for _, r := range rep.Recommendation.Reasons {
			p("<li>%s</li>\n", esc(r))
		}
		p("</ul>\n")
	}
	if c := rep.Constraints; c != (Constraints{}) {
		p("<p>Constraints: %s.</p>\n", esc(constraintText(c)))
	}

	p("<h2>Results</h2>\n<table>\n<tr>")
	for i, c := range rep.header().cells(nil) {
		p("<th%s>%s</th>", leftIf(i == 0), esc(c))
	}
	p("</tr>\n")
	for _, m := range rep.Methods {
		p("<tr>")
		r := rep.rowOf(m)
		best := r.best
		r.best = false // the cell is escaped first, then marked
		cells := r.cells(nil)
		for i, c := range cells {
			cls, cell := "", esc(c)
			switch {
			case i == 0:
				cls = ` class="l"`
			case i == len(cells)-1:
				cls = fmt.Sprintf(` class="l %s"`, esc(m.Status))
			case best && i == 1+r.bestCol:
				cell = "<b>" + cell + "</b>"
			}
			p("<td%s>%s</td>", cls, cell)
		}
		p("</tr>\n")
	}
	p("</table>\n")
	if r := rep.rankingText(); r != "" {
		p("<p>Ranking by mean %s: %s (the best in bold above).</p>\n", esc(rep.metricLabel()), esc(r))
	}
	p("<p class=\"note\">%s</p>\n", esc(rep.columnNotes()))
	for _, m := range rep.Methods {
		switch {
		case m.Skipped != "":
			p("<p class=\"skipped\"><b>%s</b> skipped: it %s</p>\n", esc(m.Method), esc(m.Skipped))
		case m.Error != "":
			p("<p class=\"failed\"><b>%s</b> %s: %s</p>\n", esc(m.Method), esc(m.Status), esc(m.Error))
		}
	}

	p("<h2>Plots</h2>\n<div class=\"plots\">\n")
	for _, svg := range plots(rep) {
		p("<figure>%s</figure>\n", svg)
	}
	p("</div>\n")

	if bp := rep.Budget; bp != nil {
		p("<h2>Time budget</h2>\n<p>Budget %s. Each method first ran a %d-step probe (%s in all) that measured its fixed cost (start, loading, compiling, one evaluation, saving) and its time per step; what the probes left was split equally, %s per method, for %d of %d seeds. Runs that do not fit get <code>max_steps</code> for what fits; seeds are dropped only when some run would keep less than %.0f%% of its steps.</p>\n",
			esc(fmtSeconds(bp.BudgetSeconds)), ProbeSteps, esc(fmtSeconds(bp.ProbeSeconds)), esc(fmtSeconds(bp.ShareSeconds)), bp.Seeds, bp.SeedsAsked, 100*MinShare)
		p("<table>\n<tr><th class=\"l\">method</th><th>fixed</th><th>per step</th><th>steps wanted</th><th>steps run</th><th>estimate / run</th><th class=\"l\">cut</th></tr>\n")
		for _, l := range bp.Methods {
			if l.Failed != "" {
				p("<tr><td class=\"l\">%s</td><td colspan=\"5\"></td><td class=\"err\">probe failed: %s</td></tr>\n", esc(l.Method), esc(l.Failed))
				continue
			}
			cut := l.Cut
			if cut == "" {
				cut = "nothing"
			}
			p("<tr><td class=\"l\">%s</td><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td class=\"l\">%s</td></tr>\n", esc(l.Method),
				esc(fmtSeconds(l.Cost.Fixed)), esc(fmtStepTime(l.Cost.Step)), l.WantSteps, l.Steps, esc(fmtSeconds(l.EstimateSeconds)), esc(cut))
		}
		p("</table>\n")
		for _, n := range bp.Notes {
			p("<p class=\"note\">%s</p>\n", esc(n))
		}
	}

	p("<h2>Settings</h2>\n<table>\n<tr><th class=\"l\">method</th><th>lr</th><th>epochs</th><th>max steps</th><th class=\"l\">method settings</th><th class=\"l\">lr and epochs from</th></tr>\n")
	for _, m := range rep.Methods {
		if m.Status == StatusSkipped {
			continue // never run: its settings would mislead
		}
		ms := "—"
		if m.MaxSteps > 0 {
			ms = fmt.Sprint(m.MaxSteps)
		}
		p("<tr><td class=\"l\">%s</td><td>%g</td><td>%d</td><td>%s</td><td class=\"l\">%s</td><td class=\"l\">%s</td></tr>\n", esc(m.Method), m.LR, m.Epochs, ms, esc(m.Settings), esc(m.Recipe))
	}
	p("</table>\n")

	p("<h2>Runs</h2>\n<table>\n<tr>")
	head := rep.runHeader()
	for i, h := range head {
		p("<th%s>%s</th>", leftIf(i == 0 || i == len(head)-1), esc(h))
	}
	p("</tr>\n")
	for _, m := range rep.Methods {
		for _, r := range m.Runs {
			dir := relTo(rep.Out, r.Dir)
			if r.Error != "" {
				p("<tr><td class=\"l\">%s</td><td>%d</td><td colspan=\"%d\" class=\"err\">failed: %s</td><td class=\"l\">%s</td></tr>\n", esc(m.Method), r.Seed, len(head)-3, esc(r.Error), esc(dir))
				continue
			}
			p("<tr><td class=\"l\">%s</td><td>%d</td>", esc(m.Method), r.Seed)
			for _, c := range rep.runMetricCells(r) {
				p("<td>%s</td>", esc(c))
			}
			p("<td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"l\"><a href=\"%s/\">%s</a></td></tr>\n",
				r.Steps, r.BestStep, esc(fmtSeconds(r.WallSeconds)), esc(fmtStepTime(r.StepSeconds)),
				esc(runlog.FormatBytes(r.PeakRSS)), esc(runlog.FormatBytes(r.ArtifactBytes)), esc(dir), esc(dir))
		}
	}
	p("</table>\n<p class=\"note\">Each run folder holds config.yaml, command.txt, metrics.jsonl, loss.png, eval.json and the saved model; the run's output is the .log file beside it. Reproduce a run with:</p>\n<pre>")
	for _, m := range rep.Methods {
		for _, r := range m.Runs {
			if r.Command != "" {
				p("%s\n", esc(r.Command))
			}
		}
	}
	p("</pre>\n</body>\n</html>\n")
	return b.String()
}

func leftIf(ok bool) string {
	if ok {
		return ` class="l"`
	}
	return ""
}

// plots are the report's SVG figures.
func plots(rep *Report) []string {
	metric, label := rep.metricName(), rep.metricLabel()
	var byPct, byTime []scatterPoint
	var mem, art []bar
	var curves, losses []series
	for i, m := range rep.Methods {
		col := colour(i)
		if !m.OK() {
			continue
		}
		lo, hi := m.Metric.Mean-m.Metric.SD, m.Metric.Mean+m.Metric.SD
		byPct = append(byPct, scatterPoint{label: m.Method, colour: col, x: m.TrainablePercent, y: m.Metric.Mean, lo: lo, hi: hi})
		byTime = append(byTime, scatterPoint{label: m.Method, colour: col, x: m.WallSeconds.Mean, y: m.Metric.Mean, lo: lo, hi: hi})
		mem = append(mem, bar{label: m.Method, colour: col, value: float64(m.PeakRSS), text: runlog.FormatBytes(m.PeakRSS)})
		art = append(art, bar{label: m.Method, colour: col, value: float64(m.ArtifactBytes), text: runlog.FormatBytes(m.ArtifactBytes)})
		first := true
		for _, r := range m.Runs {
			if r.Error != "" {
				continue
			}
			c, l := series{name: m.Method, colour: col, legend: first}, series{name: m.Method, colour: col, legend: first}
			for _, pt := range r.Curve {
				c.xs, c.ys = append(c.xs, pt.Epoch), append(c.ys, pt.Value)
			}
			for _, pt := range r.Loss {
				l.xs, l.ys = append(l.xs, pt.Epoch), append(l.ys, pt.Value)
			}
			curves, losses = append(curves, c), append(losses, l)
			first = false
		}
	}
	bytesTick := func(v float64) string { return runlog.FormatBytes(int64(v)) }
	return []string{
		scatterSVG(fmt.Sprintf("%s vs trainable parameters (mean ± sd)", metric), "trainable parameters, % of the model (log scale)", label, byPct, true,
			func(v float64) string { return fmtTick(v) + "%" }),
		scatterSVG(fmt.Sprintf("%s vs wall time per run (mean ± sd)", metric), "wall time per run, seconds", label, byTime, false, fmtTick),
		barsSVG("Peak memory per method (largest seed)", "peak resident memory", mem, bytesTick),
		barsSVG("Artefact size per method (saved model folder)", "size on disk", art, bytesTick),
		linesSVG(fmt.Sprintf("Learning curves: evaluation %s (one line per seed)", strings.TrimPrefix(metric, "eval ")), "epoch", label, curves),
		linesSVG("Training loss (one line per seed)", "epoch", "loss", losses),
	}
}
