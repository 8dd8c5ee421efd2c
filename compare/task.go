package compare

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/causallm"
)

// The task (gotune.ChooseTask) decides what a comparison measures:
// classification runs are ranked by accuracy or macro-F1, higher is better;
// causal-LM runs by the eval loss (the mean token loss over the tokens that
// carry loss, eval.json's eval_loss), lower is better, with perplexity
// beside it.

// chooseTask resolves the comparison's task from the shared configuration,
// as every run will (gotune.ChooseTask), and checks that the model and
// metric fit it.
func chooseTask(b *gotune.Config) (task, why string, err error) {
	task, why = gotune.ChooseTask(b)
	switch task {
	case gotune.TaskClassify, gotune.TaskCausalLM:
	default:
		return "", "", fmt.Errorf("task %q is not one of %s, %s", task, gotune.TaskClassify, gotune.TaskCausalLM)
	}
	if task == gotune.TaskCausalLM && !causallm.IsDecoder(b.Model) {
		return "", "", fmt.Errorf("task causal-lm (%s) needs a decoder model (LLaMA family, Mistral, Qwen2, GPT-2 or a .gguf file); %s is not one", why, b.Model)
	}
	if err := checkMetric(task, b.MetricForBest); err != nil {
		return "", "", err
	}
	return task, why, nil
}

// checkMetric checks metric_for_best against the task: accuracy, macro_f1
// or loss for classify; loss or perplexity for causal-lm (where accuracy,
// the default, means loss, as in gotune train).
func checkMetric(task, metric string) error {
	if task == gotune.TaskCausalLM {
		if !slices.Contains([]string{"accuracy", "loss", "perplexity"}, metric) {
			return fmt.Errorf("metric %q does not apply to causal-lm: use loss or perplexity (methods are ranked by the eval loss)", metric)
		}
		return nil
	}
	if !slices.Contains([]string{"accuracy", "macro_f1", "loss"}, metric) {
		return fmt.Errorf("metric %q is not one of accuracy, macro_f1", metric)
	}
	return nil
}

// rankMetric is the metric methods are ranked by: the eval loss for
// causal-lm; for classify metric_for_best unless that is the loss, which
// ranks by accuracy.
func rankMetric(task, metricForBest string) string {
	switch {
	case task == gotune.TaskCausalLM:
		return "loss"
	case metricForBest == "macro_f1":
		return "macro_f1"
	}
	return "accuracy"
}

// lowerIsBetter reports whether smaller values of metric are better.
func lowerIsBetter(metric string) bool { return metric == "loss" || metric == "perplexity" }

// notApplicable says why a compared method does not apply to the task, ""
// when it does. On causal-lm a feature head does not (it classifies pooled
// features), nor does a "+AUG" variant: augmentation rewrites
// classification text, and gotune train refuses --augment on causal-lm
// data.
func notApplicable(task, name string) string {
	if task != gotune.TaskCausalLM {
		return ""
	}
	base, aug, _ := strings.Cut(name, "+")
	switch {
	case base == "feature":
		return "does not apply to causal-lm: a feature head classifies pooled features (classification only)"
	case aug != "":
		return fmt.Sprintf("does not apply to causal-lm: augmentation (+%s) rewrites classification text, and gotune train refuses --augment on causal-lm data", aug)
	}
	return ""
}

// metricCol is one metric column of the report's tables.
type metricCol struct {
	// key is the metric's name in eval.json (without "eval_").
	key   string
	title string
}

// metricColumns are the task's metric columns, the ranking metric first
// for causal-lm (loss, then perplexity) and in the usual order for
// classify (accuracy, macro-F1).
func (rep *Report) metricColumns() []metricCol {
	if rep.Task == gotune.TaskCausalLM {
		return []metricCol{{"loss", "eval loss (lower is better)"}, {"perplexity", "perplexity"}}
	}
	return []metricCol{{"accuracy", "accuracy"}, {"macro_f1", "macro-F1"}}
}

// metricKeys are the keys of metricColumns.
func (rep *Report) metricKeys() []string {
	var keys []string
	for _, c := range rep.metricColumns() {
		keys = append(keys, c.key)
	}
	return keys
}

// metricName is the ranking metric in words ("eval loss", "accuracy").
func (rep *Report) metricName() string {
	if rep.Metric == "loss" {
		return "eval loss"
	}
	return rep.Metric
}

// metricLabel is the ranking metric with its direction, for plot axes and
// headings: "eval loss (lower is better)", "accuracy (higher is better)".
func (rep *Report) metricLabel() string {
	return fmt.Sprintf("%s (%s is better)", rep.metricName(), rep.betterWord())
}

// betterWord is "lower" when lower values of the metric are better,
// "higher" otherwise.
func (rep *Report) betterWord() string {
	if rep.LowerIsBetter {
		return "lower"
	}
	return "higher"
}

// bestWord names the best value: "lowest" or "highest".
func (rep *Report) bestWord() string {
	if rep.LowerIsBetter {
		return "lowest"
	}
	return "highest"
}

// margin is how far metric value a is ahead of b: positive when a is
// better, in the metric's units.
func (rep *Report) margin(a, b float64) float64 {
	if rep.LowerIsBetter {
		return b - a
	}
	return a - b
}

// compareMetric orders methods best first by mean metric (for sorting).
func (rep *Report) compareMetric(a, b *MethodResult) int {
	if rep.LowerIsBetter {
		return cmp.Compare(a.Metric.Mean, b.Metric.Mean)
	}
	return cmp.Compare(b.Metric.Mean, a.Metric.Mean)
}

// Rank returns the methods with at least one successful run, best mean
// metric first (lowest eval loss for causal-lm, highest accuracy or
// macro-F1 for classify); equal means keep the order asked.
func (rep *Report) Rank() []*MethodResult {
	var ok []*MethodResult
	for _, m := range rep.Methods {
		if m.OK() {
			ok = append(ok, m)
		}
	}
	slices.SortStableFunc(ok, rep.compareMetric)
	return ok
}

// rankingText is the ranking in one line: "1. full 2.9900, 2. lora 3.3200".
func (rep *Report) rankingText() string {
	var parts []string
	for i, m := range rep.Rank() {
		parts = append(parts, fmt.Sprintf("%d. %s %s", i+1, m.Method, fmtStat(m.Metric)))
	}
	return strings.Join(parts, ", ")
}

// runMetrics formats a run's metrics for the console, e.g. "loss 2.9900,
// perplexity 19.8862" or "accuracy 0.9100, macro_f1 0.9087".
func (rep *Report) runMetrics(rr *RunResult) string {
	var parts []string
	for _, k := range rep.metricKeys() {
		parts = append(parts, fmt.Sprintf("%s %.4f", k, rr.Eval[k]))
	}
	return strings.Join(parts, ", ")
}
