package compare

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/runlog"
)

// Constraints are the user's limits and use, for the recommendation.
type Constraints struct {
	// MaxMemory is the most peak memory a run may use, in bytes (0: none).
	MaxMemory int64 `json:"max_memory_bytes,omitempty"`
	// MaxArtifact is the largest saved model folder allowed (0: none).
	MaxArtifact int64 `json:"max_artifact_bytes,omitempty"`
	// TasksPerBase > 1 means several tasks are served from one base model,
	// so only methods that leave the base untouched qualify.
	TasksPerBase int `json:"tasks_per_base,omitempty"`
}

// Recommendation is the advice of a comparison and why.
type Recommendation struct {
	// Method is the recommended method, "" when none qualifies.
	Method string `json:"method,omitempty"`
	// Reasons are the steps of the reasoning, in order.
	Reasons []string `json:"reasons"`
}

// Text is the recommendation as printed.
func (r Recommendation) Text() string {
	var b strings.Builder
	if r.Method != "" {
		fmt.Fprintf(&b, "Recommendation: %s\n", r.Method)
	} else {
		b.WriteString("Recommendation: none\n")
	}
	for _, s := range r.Reasons {
		fmt.Fprintf(&b, "  - %s\n", s)
	}
	return b.String()
}

// TieFloor is the smallest metric difference treated as real when the
// seeds' spread is smaller: half a point of accuracy, or 0.005 nats of
// eval loss (half a percent of perplexity).
const TieFloor = 0.005

// SharesBase reports whether a method leaves the base model's weights
// untouched, so that one base serves many tasks, each with a small
// artefact (LoRA, adapters, prompts, a feature head). Full and freeze
// fine-tuning change the base and save a whole model per task.
func SharesBase(method string) bool {
	base, _, _ := strings.Cut(method, "+")
	return base != "full" && base != "freeze"
}

// Recommend picks a method from the measured numbers and the report's
// constraints: drop the methods that were skipped, failed or break a
// constraint, find the best mean metric (the highest accuracy or
// macro-F1, the lowest eval loss: Report.LowerIsBetter), treat every
// method within the seeds' spread of it (one standard deviation of either,
// at least TieFloor) as tied, and among the tied take the cheapest — the
// smallest artefact, then the lowest peak memory, then the shortest run
// (peak memory first when only --max-memory is set).
func Recommend(rep *Report) Recommendation {
	var rec Recommendation
	say := func(format string, args ...any) { rec.Reasons = append(rec.Reasons, fmt.Sprintf(format, args...)) }
	c := rep.Constraints
	metric := rep.metricName()
	say("methods are compared by mean %s on the evaluation data over %d seed(s), %s is better; spread is the standard deviation over seeds", metric, len(rep.Seeds), rep.betterWord())
	var cands []*MethodResult
	var bestExcluded *MethodResult
	for _, m := range rep.Methods {
		var why []string
		switch {
		case m.Status == StatusSkipped:
			say("%s is not compared: it %s", m.Method, m.Skipped)
			continue
		case m.Status == StatusPending:
			say("%s is out: it did not run (the comparison was interrupted)", m.Method)
			continue
		case !m.OK():
			say("%s is out: it failed (%s)", m.Method, m.Error)
			continue
		}
		if c.MaxMemory > 0 && m.PeakRSS > c.MaxMemory {
			why = append(why, fmt.Sprintf("peak memory %s > --max-memory %s", runlog.FormatBytes(m.PeakRSS), runlog.FormatBytes(c.MaxMemory)))
		}
		if c.MaxArtifact > 0 && m.ArtifactBytes > c.MaxArtifact {
			why = append(why, fmt.Sprintf("artefact %s > --max-artifact-size %s", runlog.FormatBytes(m.ArtifactBytes), runlog.FormatBytes(c.MaxArtifact)))
		}
		if c.TasksPerBase > 1 && !SharesBase(m.Method) {
			why = append(why, fmt.Sprintf("it changes the base, so %d tasks need %d whole models (%s) instead of one base and %d small artefacts",
				c.TasksPerBase, c.TasksPerBase, runlog.FormatBytes(int64(c.TasksPerBase)*m.ArtifactBytes), c.TasksPerBase))
		}
		if len(why) > 0 {
			say("%s is out: %s", m.Method, strings.Join(why, "; "))
			if bestExcluded == nil || rep.margin(m.Metric.Mean, bestExcluded.Metric.Mean) > 0 {
				bestExcluded = m
			}
			continue
		}
		cands = append(cands, m)
	}
	if len(cands) == 0 {
		say("no method meets every constraint; relax --max-memory, --max-artifact-size or --tasks-per-base, or see the table for the trade-offs")
		return rec
	}
	best := slices.MinFunc(cands, rep.compareMetric) // the first of the best
	say("best (%s) %s among the rest: %s %s", rep.bestWord(), metric, best.Method, fmtStat(best.Metric))
	var tied []*MethodResult
	for _, m := range cands {
		tol := max(best.Metric.SD, m.Metric.SD, TieFloor)
		if rep.margin(best.Metric.Mean, m.Metric.Mean) <= tol {
			tied = append(tied, m)
		}
	}
	memFirst := c.MaxMemory > 0 && c.MaxArtifact == 0 && c.TasksPerBase <= 1
	order := func(a, b *MethodResult) int {
		keys := [][2]float64{{float64(a.ArtifactBytes), float64(b.ArtifactBytes)}, {float64(a.PeakRSS), float64(b.PeakRSS)}, {a.WallSeconds.Mean, b.WallSeconds.Mean}}
		if memFirst {
			keys[0], keys[1] = keys[1], keys[0]
		}
		for _, k := range keys {
			if r := cmp.Compare(k[0], k[1]); r != 0 {
				return r
			}
		}
		return rep.compareMetric(a, b)
	}
	slices.SortStableFunc(tied, order)
	pick := tied[0]
	if len(tied) > 1 {
		var others []string
		for _, m := range tied {
			if m != best {
				others = append(others, fmt.Sprintf("%s %s", m.Method, fmtStat(m.Metric)))
			}
		}
		cheap := "the smallest artefact, then the lowest peak memory, then the shortest run"
		if memFirst {
			cheap = "the lowest peak memory (--max-memory), then the smallest artefact, then the shortest run"
		}
		say("within the seeds' spread of it (one standard deviation, at least %.3f): %s; among these the cheapest wins: %s", TieFloor, strings.Join(others, ", "), cheap)
	}
	if pick == best {
		say("recommend %s: the %s %s (%s%s), trainable %s (%.2f%%), artefact %s, peak memory %s, %s a run",
			pick.Method, rep.bestWord(), metric, fmtStat(pick.Metric), rep.besides(pick), thousands(pick.TrainableParams), pick.TrainablePercent,
			runlog.FormatBytes(pick.ArtifactBytes), runlog.FormatBytes(pick.PeakRSS), fmtSeconds(pick.WallSeconds.Mean))
	} else {
		say("recommend %s: %s %s%s, as good as %s within noise, with artefact %s (vs %s), peak memory %s (vs %s), %s a run (vs %s)",
			pick.Method, metric, fmtStat(pick.Metric), rep.besides(pick), best.Method,
			runlog.FormatBytes(pick.ArtifactBytes), runlog.FormatBytes(best.ArtifactBytes),
			runlog.FormatBytes(pick.PeakRSS), runlog.FormatBytes(best.PeakRSS),
			fmtSeconds(pick.WallSeconds.Mean), fmtSeconds(best.WallSeconds.Mean))
	}
	rec.Method = pick.Method
	if c.TasksPerBase > 1 && rep.BaseModelBytes > 0 {
		say("for %d tasks on one base, %s stores the base once (%s) plus %d × %s = %s in all",
			c.TasksPerBase, pick.Method, runlog.FormatBytes(rep.BaseModelBytes), c.TasksPerBase, runlog.FormatBytes(pick.ArtifactBytes),
			runlog.FormatBytes(rep.BaseModelBytes+int64(c.TasksPerBase)*pick.ArtifactBytes))
	}
	if bestExcluded != nil && rep.margin(bestExcluded.Metric.Mean, pick.Metric.Mean) > max(bestExcluded.Metric.SD, pick.Metric.SD, TieFloor) {
		say("trade-off: %s had a %s %s (%s) but breaks a constraint", bestExcluded.Method, rep.betterWord(), metric, fmtStat(bestExcluded.Metric))
	}
	if rep.Interrupted {
		say("caution: the comparison was interrupted, so some methods have fewer seeds or none")
	}
	if len(rep.Seeds) < 2 {
		say("caution: one seed gives no spread; small differences may be noise (use --seeds 3)")
	}
	if rep.Budget != nil {
		var cut []string
		for _, l := range rep.Budget.Methods {
			if l.Cut != "" {
				cut = append(cut, l.Method)
			}
		}
		if len(cut) > 0 {
			say("caution: the budget shortened %s; a method that needs many epochs is judged early, so confirm the choice with a longer run", strings.Join(cut, ", "))
		}
	}
	return rec
}

// besides is the other metric shown beside the ranking one in the
// recommendation: ", perplexity 19.9000" for causal-lm, "" otherwise.
func (rep *Report) besides(m *MethodResult) string {
	if rep.Task != gotune.TaskCausalLM {
		return ""
	}
	return ", perplexity " + fmtStat(m.Perplexity)
}

// fmtStat formats a metric as "0.9125 ± 0.0100" (or "0.9125" for one seed).
func fmtStat(s Stat) string {
	if s.N == 0 {
		return "—"
	}
	if s.N < 2 {
		return fmt.Sprintf("%.4f", s.Mean)
	}
	return fmt.Sprintf("%.4f ± %.4f", s.Mean, s.SD)
}

// thousands writes n with thousands separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
