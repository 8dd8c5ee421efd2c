package compare

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/internal/testmodel"
	"github.com/gotune/gotune/methods"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/tokenizer/spm"
)

// childEnv makes the test binary act as `gotune train --config FILE`, so
// the tests exercise the Child runner (one process per run) without
// building the command.
const childEnv = "GOTUNE_COMPARE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// childMain is the part of `gotune train` a comparison uses.
func childMain(args []string) int {
	if len(args) != 3 || args[0] != "train" || args[1] != "--config" {
		fmt.Fprintf(os.Stderr, "gotune train: test child: unexpected arguments %q\n", args)
		return 2
	}
	cfg, err := gotune.LoadConfigFile(args[2], gotune.DefaultConfig())
	if err == nil {
		_, err = gotune.Train(context.Background(), cfg, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotune train: "+err.Error())
		return 1
	}
	return 0
}

func testChild(t *testing.T) Child {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Child{Exe: exe, Env: []string{childEnv + "=1"}}
}

// tinyOptions are options for the tiny model and data.
func tinyOptions(t *testing.T) Options {
	o := DefaultOptions()
	o.Base.Model = testmodel.New(t, testmodel.Default())
	o.Base.Train, o.Base.Eval = testmodel.Data(t, 64, 32)
	o.Base.Out = filepath.Join(t.TempDir(), "cmp")
	o.Base.BatchSize, o.Base.MaxLen = 16, 16
	return o
}

// readEval reads a run's eval.json.
func readEval(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, gotune.EvalFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// meanSD is the test's own mean and sample standard deviation.
func meanSD(xs []float64) (float64, float64) {
	var s float64
	for _, x := range xs {
		s += x
	}
	mean := s / float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// mdRowOf finds the results-table row of a method in report.md.
func mdRowOf(t *testing.T, md, method string) string {
	t.Helper()
	results, _, _ := strings.Cut(md, "## Recommendation")
	for _, line := range strings.Split(results, "\n") {
		if strings.HasPrefix(line, "| "+method+" |") {
			return line
		}
	}
	t.Fatalf("report.md has no results row for %s", method)
	return ""
}

// TestCompareAllMethods runs every method on the tiny model, two seeds
// each, in child processes, with one failing method injected, and checks
// the report against the run folders.
func TestCompareAllMethods(t *testing.T) {
	// lora+eda needs a WordNet: the augment package's tiny test database
	// stands in where Debian's wordnet-base is not installed.
	wn, err := filepath.Abs(filepath.Join("..", "augment", "testdata", "wordnet"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("WNSEARCHDIR", wn)
	o := tinyOptions(t)
	o.Base.Epochs, o.Seeds = 2, 2
	o.Methods = []string{"all", "lora+eda"}
	o.Set = []string{"lora+eda:lora.targets=[nosuch]"} // fails when the child prepares the method
	o.Runner = testChild(t)
	rep, md, saved, log := runAndRead(t, o)
	out := o.Base.Out
	if got, want := len(saved.Methods), len(methods.Names())+1; got != want {
		t.Fatalf("results.json has %d methods, want %d", got, want)
	}
	for _, m := range saved.Methods {
		if m.Method == "lora+eda" {
			if m.Status != StatusFailed || !strings.Contains(m.Error, "nosuch") || len(m.Runs) != 1 {
				t.Errorf("injected failure: status %q, error %q, %d runs; want failed, naming nosuch, 1 run (other seed skipped)", m.Status, m.Error, len(m.Runs))
			}
			if row := mdRowOf(t, md, "lora+eda"); !strings.Contains(row, "failed") {
				t.Errorf("report.md row of the failed method: %s", row)
			}
			if !strings.Contains(md, "nosuch") {
				t.Error("report.md does not say why lora+eda failed")
			}
			continue
		}
		if m.Status != StatusOK || len(m.Runs) != 2 {
			t.Errorf("%s: status %s with %d runs (%s)", m.Method, m.Status, len(m.Runs), m.Error)
			continue
		}
		// Every number against the run folders, read here independently.
		var accs, f1s []float64
		for i, r := range m.Runs {
			wantDir := filepath.Join(out, m.Method, fmt.Sprintf("seed-%d", o.Base.Seed+int64(i)))
			if r.Dir != wantDir {
				t.Errorf("%s run %d in %s, want %s", m.Method, i, r.Dir, wantDir)
			}
			ev := readEval(t, r.Dir)
			accs = append(accs, ev["eval_accuracy"].(float64))
			f1s = append(f1s, ev["eval_macro_f1"].(float64))
			if r.Eval["accuracy"] != ev["eval_accuracy"] || r.Steps != int(ev["steps"].(float64)) || r.TrainableParams != int64(ev["trainable_params"].(float64)) ||
				r.TotalParams != int64(ev["total_params"].(float64)) || r.TrainSeconds != ev["train_seconds"].(float64) {
				t.Errorf("%s seed %d: results.json %+v disagrees with eval.json %v", m.Method, r.Seed, r, ev)
			}
			if r.PeakRSS < int64(ev["peak_rss_bytes"].(float64)) || r.PeakRSS <= 0 {
				t.Errorf("%s seed %d: peak %d below eval.json's %v", m.Method, r.Seed, r.PeakRSS, ev["peak_rss_bytes"])
			}
			if size := treeSize(t, filepath.Join(r.Dir, gotune.ModelDirName)); r.ArtifactBytes != size || size == 0 {
				t.Errorf("%s seed %d: artefact %d, model folder holds %d bytes", m.Method, r.Seed, r.ArtifactBytes, size)
			}
			recs, err := runlog.ReadMetrics(filepath.Join(r.Dir, gotune.MetricsFile))
			if err != nil {
				t.Fatal(err)
			}
			var evals []float64
			var epochSecs float64
			for _, rec := range recs {
				switch rec["kind"] {
				case "eval":
					evals = append(evals, rec["eval_accuracy"].(float64))
				case "epoch":
					epochSecs += rec["seconds"].(float64)
				}
			}
			if len(evals) != len(r.Curve) || len(evals) != o.Base.Epochs {
				t.Errorf("%s seed %d: %d curve points, metrics.jsonl has %d evaluations (epochs %d)", m.Method, r.Seed, len(r.Curve), len(evals), o.Base.Epochs)
			}
			for k := range min(len(evals), len(r.Curve)) {
				if r.Curve[k].Value != evals[k] {
					t.Errorf("%s seed %d: curve point %d = %v, metrics.jsonl %v", m.Method, r.Seed, k, r.Curve[k].Value, evals[k])
				}
			}
			if want := epochSecs / float64(r.Steps); math.Abs(r.StepSeconds-want) > 1e-12 {
				t.Errorf("%s seed %d: step time %v, metrics.jsonl gives %v", m.Method, r.Seed, r.StepSeconds, want)
			}
			if r.Tokens <= 0 || r.TokensPerSecond <= 0 {
				t.Errorf("%s seed %d: tokens %d, %v/s", m.Method, r.Seed, r.Tokens, r.TokensPerSecond)
			}
			if _, err := os.Stat(filepath.Join(r.Dir, gotune.CommandFile)); err != nil {
				t.Errorf("%s seed %d: %v", m.Method, r.Seed, err)
			}
		}
		mean, sd := meanSD(accs)
		f1mean, f1sd := meanSD(f1s)
		row := mdRowOf(t, md, m.Method)
		for _, want := range []string{fmt.Sprintf("%.4f ± %.4f", mean, sd), fmt.Sprintf("%.4f ± %.4f", f1mean, f1sd),
			thousands(m.Runs[0].TrainableParams), runlog.FormatBytes(max(m.Runs[0].PeakRSS, m.Runs[1].PeakRSS))} {
			if !strings.Contains(row, want) {
				t.Errorf("report.md row of %s lacks %q (from eval.json): %s", m.Method, want, row)
			}
		}
		if pct := 100 * float64(m.Runs[0].TrainableParams) / float64(m.Runs[0].TotalParams); !strings.Contains(row, fmt.Sprintf("%.2f%%", pct)) {
			t.Errorf("report.md row of %s lacks trainable %.2f%%: %s", m.Method, pct, row)
		}
	}
	// Trainable shares must differ by method, or the method did not apply.
	if full, lora := findMethod(rep, "full"), findMethod(rep, "lora"); full.TrainableParams <= lora.TrainableParams {
		t.Errorf("full trains %d weights, lora %d", full.TrainableParams, lora.TrainableParams)
	}
	if rep.Recommendation.Method == "" || findMethod(rep, rep.Recommendation.Method).Status != StatusOK {
		t.Errorf("recommendation %q", rep.Recommendation.Method)
	}
	if !strings.Contains(md, "Recommendation") || !strings.Contains(log.String(), "Recommendation: "+rep.Recommendation.Method) {
		t.Errorf("recommendation not printed:\n%s", log.String())
	}
	checkHTML(t, readFile(t, filepath.Join(out, HTMLFile)), 6)
}

func findMethod(rep *Report, name string) *MethodResult {
	for _, m := range rep.Methods {
		if m.Method == name {
			return m
		}
	}
	return &MethodResult{}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func treeSize(t *testing.T, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkHTML checks that page is well-formed (strict XML), self-contained
// and has svgs inline SVG plots.
func checkHTML(t *testing.T, page string, svgs int) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict = true
	var stack []string
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("report.html is not well-formed: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			stack = append(stack, e.Name.Local)
			counts[e.Name.Local]++
			for _, a := range e.Attr {
				if a.Name.Local == "href" || a.Name.Local == "src" {
					if strings.Contains(a.Value, "://") {
						t.Errorf("external reference %s=%q", a.Name.Local, a.Value)
					}
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Errorf("unclosed elements %v", stack)
	}
	for _, bad := range []string{"http://", "https://", "<script", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	if counts["html"] != 1 || counts["table"] < 1 || counts["svg"] != svgs {
		t.Errorf("report.html has %d html, %d tables, %d svg (want %d)", counts["html"], counts["table"], counts["svg"], svgs)
	}
}

// TestCompareBudget gives far too little time for the recipes' steps: the
// plan must cut, and the runs must do what the plan says.
func TestCompareBudget(t *testing.T) {
	o := tinyOptions(t)
	o.Methods = []string{"full", "lora"}
	o.Base.Epochs, o.Seeds = 50, 2 // 200 steps a run, about a second each
	o.Budget = 1500 * time.Millisecond
	o.Runner = testChild(t)
	rep, log := mustRun(t, o)
	bp := rep.Budget
	if bp == nil || len(bp.Methods) != 2 {
		t.Fatalf("no budget plan: %+v", bp)
	}
	if len(rep.Seeds) != bp.Seeds || bp.SeedsAsked != 2 {
		t.Errorf("ran %d seeds, plan %d of %d", len(rep.Seeds), bp.Seeds, bp.SeedsAsked)
	}
	for i, l := range bp.Methods {
		if l.Failed != "" || l.WantSteps != 200 || l.Steps >= l.WantSteps || l.Cut == "" || l.Cost.Step <= 0 || l.Cost.StepsPerEpoch != 4 {
			t.Errorf("%s: plan %+v; want 200 steps wanted and a cut", l.Method, l)
		}
		if _, err := os.Stat(filepath.Join(o.Base.Out, l.Method, "probe", gotune.EvalFile)); err != nil {
			t.Errorf("probe run: %v", err)
		}
		m := rep.Methods[i]
		for _, r := range m.Runs {
			ev := readEval(t, r.Dir)
			if int(ev["steps"].(float64)) != l.Steps {
				t.Errorf("%s seed %d ran %v steps, plan %d", m.Method, r.Seed, ev["steps"], l.Steps)
			}
			if want := (l.Steps + 3) / 4; len(r.Curve) != want { // no idle epochs after the last step
				t.Errorf("%s seed %d: %d evaluations for %d steps, want %d", m.Method, r.Seed, len(r.Curve), l.Steps, want)
			}
		}
	}
	md := readFile(t, filepath.Join(o.Base.Out, MarkdownFile))
	if !strings.Contains(md, "## Time budget") || !strings.Contains(md, "max_steps") || !strings.Contains(log.String(), "cut to") {
		t.Errorf("the budget is not explained:\n%s", log.String())
	}
}

func TestPlanBudget(t *testing.T) {
	c := Cost{Fixed: 10, Step: 1, Eval: 2, StepsPerEpoch: 10}
	if got := c.Estimate(25); got != 10+25+2*2 {
		t.Errorf("Estimate(25) = %v", got)
	}
	lines := func() []BudgetLine {
		return []BudgetLine{
			{Method: "a", Cost: c, WantSteps: 30},
			{Method: "b", Cost: Cost{Fixed: 5, Step: 0.1, Eval: 0.1, StepsPerEpoch: 10}, WantSteps: 30},
			{Method: "c", Failed: "boom"},
		}
	}
	// Plenty: nothing cut, all seeds kept.
	ls := lines()
	kept, share, notes := PlanBudget(1000, 3, ls)
	if kept != 3 || share != 500 || len(notes) != 0 || ls[0].Steps != 30 || ls[0].Cut != "" || ls[1].Steps != 30 {
		t.Errorf("plenty: kept %d share %v notes %v lines %+v", kept, share, notes, ls)
	}
	// a's run wants 10+30+4 = 44 s. 3 seeds × 2 methods in 180 s: 30 s a
	// run, a gets 18 steps (10+18+2 = 30) ≥ 25% of 30: seeds kept, steps cut.
	ls = lines()
	kept, _, _ = PlanBudget(180, 3, ls)
	if kept != 3 || ls[0].Steps != 18 || ls[0].Cut == "" || ls[1].Steps != 30 || ls[1].Cut != "" || ls[2].Steps != 0 {
		t.Errorf("tight: kept %d lines %+v", kept, ls)
	}
	// 3 seeds in 102 s: 17 s a run leaves a 7 steps < 25%; 2 seeds: 25.5 s, 13 steps (10+13+2).
	ls = lines()
	kept, _, notes = PlanBudget(102, 3, ls)
	if kept != 2 || ls[0].Steps != 13 || len(notes) != 1 || !strings.Contains(notes[0], "seeds cut from 3 to 2") {
		t.Errorf("seeds: kept %d notes %v lines %+v", kept, notes, ls)
	}
	// Nothing left: one seed, one step each, and a note saying so.
	ls = lines()
	kept, _, notes = PlanBudget(-5, 3, ls)
	if kept != 1 || ls[0].Steps != 1 || ls[1].Steps != 1 || len(notes) < 2 {
		t.Errorf("none: kept %d notes %v lines %+v", kept, notes, ls)
	}
}

func TestParseMethodsAndSets(t *testing.T) {
	got, err := ParseMethods([]string{"lora, full", "lora", "adapter+eda"})
	if err != nil || strings.Join(got, " ") != "lora full adapter+eda" {
		t.Errorf("ParseMethods = %v, %v", got, err)
	}
	if all, _ := ParseMethods(nil); len(all) != len(methods.Names()) {
		t.Errorf("default methods %v", all)
	}
	if _, err := ParseMethods([]string{"lorra"}); err == nil || !strings.Contains(err.Error(), "available: all, full") {
		t.Errorf("unknown method error: %v", err)
	}
	for raw, want := range map[string]string{
		"lora:lora.rank=4":   "lora.rank=4",
		"lora=4":             "METHOD:KEY=VALUE",
		"bitfit:lr=1":        "not one of the compared methods",
		"all:epochs=[1,2]":   "epochs",
		"lora:lora.r=[oops]": "lora.r",
	} {
		if _, err := parseSets([]string{raw}, []string{"lora", "full"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: error %v, want one naming %q", raw, err, want)
		}
	}
	sets, err := parseSets([]string{"all:max_len=24", "lora:lora.r=4", "lora:lora.targets=[query,key]", "full:lr=1e-4"}, []string{"lora", "full"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := gotune.DefaultConfig()
	cfg.Method, cfg.LoRA.Alpha = "lora", 16
	for _, s := range sets {
		if s.method == "all" || s.method == "lora" {
			if err := s.apply(&cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	if cfg.MaxLen != 24 || cfg.LoRA.R != 4 || cfg.LoRA.Alpha != 16 || strings.Join(cfg.LoRA.Targets, ",") != "query,key" || cfg.LR != 0 || cfg.BatchSize != 32 {
		t.Errorf("--set gave %+v", cfg)
	}
}

func TestRecipes(t *testing.T) {
	for _, task := range []string{gotune.TaskClassify, gotune.TaskCausalLM} {
		for _, m := range methods.Names() {
			r := RecipeFor(task, m)
			if r.LR <= 0 || r.Epochs < 1 || r.Source == "" {
				t.Errorf("%s %s: recipe %+v", task, m, r)
			}
			if d := methods.DefaultsFor(m); d != methods.DefaultsFor("full") && (d.LR != r.LR || d.Epochs != r.Epochs) {
				t.Errorf("%s %s: recipe %+v ignores the method's own defaults %+v", task, m, r, d)
			}
		}
	}
	if c, l := RecipeFor(gotune.TaskClassify, "lora"), RecipeFor(gotune.TaskCausalLM, "lora"); c == l || !strings.Contains(l.Source, "alpaca-lora") {
		t.Errorf("lora recipes: classify %+v, causal-lm %+v; want alpaca-lora's for causal-lm", c, l)
	}
	if r := RecipeFor("", "lora"); r != RecipeFor(gotune.TaskClassify, "lora") {
		t.Errorf(`task "" gives %+v, not the classify recipe`, r)
	}
}

// fakeReport is a report with made-up numbers for the recommendation.
func fakeReport(c Constraints) *Report {
	mk := func(name string, acc, sd float64, art, peak int64, wall float64) *MethodResult {
		return &MethodResult{Method: name, Status: StatusOK, Metric: Stat{Mean: acc, SD: sd, N: 3}, Accuracy: Stat{Mean: acc, SD: sd, N: 3},
			ArtifactBytes: art, PeakRSS: peak, WallSeconds: Stat{Mean: wall, N: 3}, TrainableParams: art / 4, TotalParams: 110e6, TrainablePercent: float64(art/4) / 1.1e6,
			Runs: []*RunResult{{Seed: 1}, {Seed: 2}, {Seed: 3}}}
	}
	return &Report{Metric: "accuracy", Seeds: []int64{1, 2, 3}, Constraints: c, BaseModelBytes: 440 << 20, Methods: []*MethodResult{
		mk("full", 0.920, 0.004, 440<<20, 3<<30, 600),
		mk("freeze", 0.880, 0.004, 440<<20, 2<<30, 300),
		mk("lora", 0.917, 0.006, 1<<20, 2500<<20, 400),
		mk("adapter", 0.905, 0.003, 4<<20, 1800<<20, 380),
		{Method: "ptuning", Status: StatusFailed, Error: "seed 1: out of memory", Runs: []*RunResult{{Seed: 1, Error: "out of memory"}}},
	}}
}

func TestRecommend(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Constraints
		want string
		says []string
	}{
		{"tie goes to the smaller artefact", Constraints{}, "lora", []string{"as good as full within noise", "ptuning is out: it failed"}},
		{"memory", Constraints{MaxMemory: 2 << 30}, "adapter", []string{"full is out: peak memory 3.00 GiB > --max-memory 2.00 GiB", "lora is out"}},
		{"several tasks", Constraints{TasksPerBase: 5}, "lora", []string{"freeze is out: it changes the base", "for 5 tasks on one base"}},
		{"artefact", Constraints{MaxArtifact: 2 << 20}, "lora", []string{"full is out: artefact 440.0 MiB > --max-artifact-size 2.0 MiB"}},
		{"nothing fits", Constraints{MaxMemory: 1 << 20}, "", []string{"no method meets every constraint"}},
	} {
		rec := Recommend(fakeReport(tc.c))
		text := rec.Text()
		if rec.Method != tc.want {
			t.Errorf("%s: recommended %q, want %q\n%s", tc.name, rec.Method, tc.want, text)
		}
		for _, s := range tc.says {
			if !strings.Contains(text, s) {
				t.Errorf("%s: reasoning lacks %q:\n%s", tc.name, s, text)
			}
		}
	}
	// A clear winner beyond the spread is picked even if it is bigger.
	rep := fakeReport(Constraints{})
	rep.Methods[0].Metric.Mean = 0.95
	if rec := Recommend(rep); rec.Method != "full" {
		t.Errorf("clear winner: %s\n%s", rec.Method, rec.Text())
	}
}

// TestReportEscapes renders hostile text: the HTML must stay well-formed.
func TestReportEscapes(t *testing.T) {
	rep := fakeReport(Constraints{MaxMemory: 1 << 30})
	rep.Model = `<base & "model">`
	rep.Methods[4].Error = `</td><script>alert("x")</script> & | pipe`
	rep.Methods[0].Runs[0].Curve = []Point{{Step: 1, Epoch: 1, Value: 0.5}, {Step: 2, Epoch: 2, Value: 0.7}}
	rep.Recommendation = Recommend(rep)
	checkHTML(t, HTML(rep), 6)
	if md := Markdown(rep); !strings.Contains(md, `\| pipe`) {
		t.Errorf("Markdown does not escape | in cells")
	}
}

// TestInProcess runs a method in this process: the peak memory counter is
// reset and read, and the numbers come from the run folder as with Child.
func TestInProcess(t *testing.T) {
	o := tinyOptions(t)
	o.Methods, o.Seeds, o.Base.Epochs = []string{"lora"}, 1, 1
	rep, err := Run(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Methods[0]
	if m.Status != StatusOK || m.PeakRSS <= 0 || m.ArtifactBytes <= 0 || rep.Runner != (InProcess{}).Describe() {
		t.Errorf("in process: %+v", m)
	}
	if !strings.Contains(rep.Recommendation.Text(), "one seed gives no spread") {
		t.Errorf("one-seed caution missing:\n%s", rep.Recommendation.Text())
	}
	// The folder is now a comparison folder: a second run needs --overwrite.
	if _, err := Run(context.Background(), o, io.Discard); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("rerun without overwrite: %v", err)
	}
	o.Overwrite = true
	if _, err := Run(context.Background(), o, io.Discard); err != nil {
		t.Errorf("rerun with overwrite: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "2GB": 2e9, "50MB": 50e6, "512MiB": 512 << 20, "1.5g": 3 << 29, "100": 100, "2 GiB": 2 << 30, "64kb": 64000} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"2XB", "GB", "-1MB", "1.2.3MB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
}

// interruptingRunner cancels the comparison during its second run, as
// Ctrl-C does, and that run ends with an error as an interrupted child does.
type interruptingRunner struct {
	InProcess
	cancel context.CancelFunc
	n      int
}

func (r *interruptingRunner) Train(ctx context.Context, cfg gotune.Config, path string, log io.Writer) (RunStats, error) {
	if r.n++; r.n == 2 {
		r.cancel()
		return RunStats{}, errors.New("interrupted; resume with --resume")
	}
	return r.InProcess.Train(ctx, cfg, path, log)
}

func TestInterrupted(t *testing.T) {
	o := tinyOptions(t)
	o.Methods, o.Seeds, o.Base.Epochs = []string{"feature", "lora", "adapter"}, 2, 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Runner = &interruptingRunner{cancel: cancel}
	rep, err := Run(ctx, o, io.Discard)
	if !errors.Is(err, context.Canceled) || rep == nil || !rep.Interrupted {
		t.Fatalf("Run = %v, %v", rep, err)
	}
	var got []string
	for _, m := range rep.Methods {
		got = append(got, fmt.Sprintf("%s:%s:%d", m.Method, m.Status, len(m.Runs)))
	}
	if strings.Join(got, " ") != "feature:ok:1 lora:pending:0 adapter:pending:0" {
		t.Errorf("after the interruption: %v", got)
	}
	md := readFile(t, filepath.Join(o.Base.Out, MarkdownFile))
	if !strings.Contains(md, "**Interrupted**") || !strings.Contains(md, "lora is out: it did not run (the comparison was interrupted)") || rep.Recommendation.Method != "feature" {
		t.Errorf("report after the interruption:\n%s", md)
	}
}

// lmData writes prompt/completion records (four prompts, each with its own
// completion) as train.jsonl and eval.jsonl and returns their paths and
// the training records.
func lmData(t *testing.T, nTrain, nEval int) (train, eval string, recs []map[string]any) {
	t.Helper()
	answers := []string{"hi!", "yes.", "no way", "ok"}
	mk := func(n int) []map[string]any {
		var out []map[string]any
		for i := range n {
			out = append(out, map[string]any{"prompt": fmt.Sprintf("Q%d", i%4), "completion": answers[i%4]})
		}
		return out
	}
	dir := t.TempDir()
	train, eval = filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "eval.jsonl")
	recs = mk(nTrain)
	if err := testmodel.WriteJSONL(train, recs); err != nil {
		t.Fatal(err)
	}
	if err := testmodel.WriteJSONL(eval, mk(nEval)); err != nil {
		t.Fatal(err)
	}
	return train, eval, recs
}

// lmTokens is the test's own count of the tokens of prompt/completion
// records under template none: BOS, the prompt's and the completion's
// SentencePiece pieces, EOS, cut to maxLen.
func lmTokens(t *testing.T, model string, recs []map[string]any, maxLen int) int {
	t.Helper()
	tok, err := spm.LoadModelFile(filepath.Join(model, "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		n += min(1+len(tok.Encode(r["prompt"].(string)))+len(tok.Encode(r["completion"].(string)))+1, maxLen)
	}
	return n
}

// TestCompareCausalLM compares methods on a tiny random decoder with
// prompt/completion data in child processes: the task is causal-lm, the
// feature head and an augmented variant are skipped (not failed), every
// loss and perplexity in the report is the runs' own (eval.json,
// metrics.jsonl), the ranking puts the lowest loss first, and the reports
// say lower is better.
func TestCompareCausalLM(t *testing.T) {
	o := DefaultOptions()
	o.Base.Model = testmodel.NewDecoder(t)
	var recs []map[string]any
	o.Base.Train, o.Base.Eval, recs = lmData(t, 16, 8)
	o.Base.Out = filepath.Join(t.TempDir(), "cmp")
	o.Base.BatchSize, o.Base.MaxLen, o.Base.Epochs, o.Seeds = 8, 32, 2, 2
	o.Methods = []string{"full", "lora", "feature", "lora+eda"}
	o.Set = []string{"full:lr=1e-2", "lora:lr=3e-2", "lora:lora.targets=[all-linear]"}
	o.Runner = testChild(t)
	rep, md, saved, log := runAndRead(t, o)
	out := o.Base.Out
	if saved.Task != gotune.TaskCausalLM || saved.Metric != "loss" || !saved.LowerIsBetter {
		t.Fatalf("results.json: task %q, metric %q, lower is better %v; want causal-lm, loss, true", saved.Task, saved.Metric, saved.LowerIsBetter)
	}
	means := map[string]float64{}
	for _, m := range saved.Methods {
		if m.Method == "feature" || m.Method == "lora+eda" {
			if m.Status != StatusSkipped || m.Skipped == "" || len(m.Runs) != 0 || m.Error != "" {
				t.Errorf("%s: status %q, skipped %q, error %q, %d runs; want skipped with a reason and no run", m.Method, m.Status, m.Skipped, m.Error, len(m.Runs))
			}
			if _, err := os.Stat(filepath.Join(out, m.Method)); err == nil {
				t.Errorf("%s was skipped but has a folder", m.Method)
			}
			if !strings.Contains(log.String(), "skipping "+m.Method+": it does not apply to causal-lm") || !strings.Contains(md, "**"+m.Method+"** skipped: it does not apply to causal-lm") {
				t.Errorf("%s: the skip is not explained in the console and report.md:\n%s", m.Method, log.String())
			}
			if row := mdRowOf(t, md, m.Method); !strings.HasSuffix(row, "| skipped |") {
				t.Errorf("report.md row of %s: %s", m.Method, row)
			}
			continue
		}
		if m.Status != StatusOK || len(m.Runs) != 2 {
			t.Fatalf("%s: status %s with %d runs (%s)\n%s", m.Method, m.Status, len(m.Runs), m.Error, log.String())
		}
		var losses, ppls []float64
		for _, r := range m.Runs {
			ev := readEval(t, r.Dir)
			if ev["task"] != gotune.TaskCausalLM || ev["metric_for_best"] != "loss" {
				t.Errorf("%s seed %d: eval.json task %v, metric_for_best %v", m.Method, r.Seed, ev["task"], ev["metric_for_best"])
			}
			loss, ppl := ev["eval_loss"].(float64), ev["eval_perplexity"].(float64)
			if r.Eval["loss"] != loss || r.Eval["perplexity"] != ppl {
				t.Errorf("%s seed %d: results.json loss %v, perplexity %v; eval.json %v, %v", m.Method, r.Seed, r.Eval["loss"], r.Eval["perplexity"], loss, ppl)
			}
			losses, ppls = append(losses, loss), append(ppls, ppl)
			recsM, err := runlog.ReadMetrics(filepath.Join(r.Dir, gotune.MetricsFile))
			if err != nil {
				t.Fatal(err)
			}
			var evals []float64
			for _, rec := range recsM {
				if rec["kind"] == "eval" {
					evals = append(evals, rec["eval_loss"].(float64))
				}
			}
			if len(evals) != len(r.Curve) || len(evals) != o.Base.Epochs || slices.Min(evals) != loss {
				t.Errorf("%s seed %d: curve %v, metrics.jsonl eval losses %v, kept %v", m.Method, r.Seed, r.Curve, evals, loss)
			}
			for k := range min(len(evals), len(r.Curve)) {
				if r.Curve[k].Value != evals[k] {
					t.Errorf("%s seed %d: curve point %d = %v, metrics.jsonl %v", m.Method, r.Seed, k, r.Curve[k].Value, evals[k])
				}
			}
			// 16 examples, 2 epochs: every example twice.
			if want := int64(o.Base.Epochs * lmTokens(t, o.Base.Model, recs, o.Base.MaxLen)); r.Tokens != want || r.TokensPerSecond <= 0 {
				t.Errorf("%s seed %d: %d tokens (%v/s), want %d", m.Method, r.Seed, r.Tokens, r.TokensPerSecond, want)
			}
		}
		mean, sd := meanSD(losses)
		pmean, psd := meanSD(ppls)
		means[m.Method] = mean
		if m.Metric.Mean != m.Loss.Mean || math.Abs(m.Loss.Mean-mean) > 1e-12 || math.Abs(m.Perplexity.Mean-pmean) > 1e-9 {
			t.Errorf("%s: metric %+v, loss %+v, perplexity %+v; eval.json gives loss %v, perplexity %v", m.Method, m.Metric, m.Loss, m.Perplexity, mean, pmean)
		}
		row := mdRowOf(t, md, m.Method)
		for _, want := range []string{fmt.Sprintf("%.4f ± %.4f", mean, sd), fmt.Sprintf("%.4f ± %.4f", pmean, psd)} {
			if !strings.Contains(row, want) {
				t.Errorf("report.md row of %s lacks %q (from eval.json): %s", m.Method, want, row)
			}
		}
	}
	best, other := "full", "lora"
	if means["lora"] < means["full"] {
		best, other = "lora", "full"
	}
	if strings.Join(saved.Ranking, ",") != best+","+other {
		t.Errorf("ranking %v; eval.json losses %v put %s first", saved.Ranking, means, best)
	}
	if row := mdRowOf(t, md, best); !strings.Contains(row, "| **"+fmt.Sprintf("%.4f", means[best])) {
		t.Errorf("the lowest loss is not marked best: %s", row)
	}
	if row := mdRowOf(t, md, other); strings.Contains(row, "**") {
		t.Errorf("a higher loss is marked best: %s", row)
	}
	for _, want := range []string{"Compared by **eval loss (lower is better)**", "| eval loss (lower is better) | perplexity |",
		"Ranking by mean eval loss (lower is better): 1. " + best} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	rec := rep.Recommendation
	if rec.Method != "full" && rec.Method != "lora" {
		t.Errorf("recommended %q", rec.Method)
	}
	if text := rec.Text(); !strings.Contains(text, "lower is better") || !strings.Contains(text, "best (lowest) eval loss among the rest: "+best) ||
		!strings.Contains(text, "feature is not compared") {
		t.Errorf("recommendation:\n%s", text)
	}
	page := readFile(t, filepath.Join(out, HTMLFile))
	checkHTML(t, page, 6)
	if !strings.Contains(page, ">eval loss (lower is better)</text>") || strings.Contains(page, "accuracy") {
		t.Errorf("report.html: the plots' axis should read eval loss (lower is better), and nothing accuracy")
	}
}

// TestRecommendLowerIsBetter ranks and recommends by a loss: the lowest
// mean wins, ties within the spread go to the cheaper method, and a
// better loss that breaks a constraint is named as the trade-off.
func TestRecommendLowerIsBetter(t *testing.T) {
	lossReport := func(c Constraints, fullLoss float64) *Report {
		rep := fakeReport(c)
		rep.Task, rep.Metric, rep.LowerIsBetter = gotune.TaskCausalLM, "loss", true
		for i, loss := range []float64{fullLoss, 2.60, 2.115, 2.40} { // full, freeze, lora, adapter
			m := rep.Methods[i]
			m.Metric, m.Loss, m.Accuracy = Stat{Mean: loss, SD: 0.01, N: 3}, Stat{Mean: loss, SD: 0.01, N: 3}, Stat{}
			m.Perplexity = Stat{Mean: math.Exp(loss), N: 3}
		}
		return rep
	}
	for _, tc := range []struct {
		name     string
		c        Constraints
		fullLoss float64
		want     string
		says     []string
		ranking  string
	}{
		{"clear winner has the lowest loss", Constraints{}, 1.50, "full", []string{"best (lowest) eval loss among the rest: full 1.5000", "recommend full: the lowest eval loss (1.5000 ± 0.0100, perplexity 4.4817"}, "full,lora,adapter,freeze"},
		{"tie goes to the smaller artefact", Constraints{}, 2.11, "lora", []string{"best (lowest) eval loss among the rest: full 2.1100", "as good as full within noise"}, "full,lora,adapter,freeze"},
		{"constraint names the trade-off", Constraints{MaxArtifact: 2 << 20}, 1.50, "lora", []string{"trade-off: full had a lower eval loss (1.5000 ± 0.0100) but breaks a constraint"}, "full,lora,adapter,freeze"},
	} {
		rep := lossReport(tc.c, tc.fullLoss)
		rec := Recommend(rep)
		text := rec.Text()
		if rec.Method != tc.want {
			t.Errorf("%s: recommended %q, want %q\n%s", tc.name, rec.Method, tc.want, text)
		}
		for _, s := range append(tc.says, "lower is better") {
			if !strings.Contains(text, s) {
				t.Errorf("%s: reasoning lacks %q:\n%s", tc.name, s, text)
			}
		}
		var got []string
		for _, m := range rep.Rank() {
			got = append(got, m.Method)
		}
		if strings.Join(got, ",") != tc.ranking {
			t.Errorf("%s: ranking %v, want %s", tc.name, got, tc.ranking)
		}
		rep.Recommendation = rec
		md := Markdown(rep)
		if !strings.Contains(md, "| eval loss (lower is better) | perplexity |") || !strings.Contains(md, "| full | **"+fmt.Sprintf("%.4f", tc.fullLoss)) {
			t.Errorf("%s: report.md results table:\n%s", tc.name, md)
		}
		checkHTML(t, HTML(rep), 6)
	}
}

// TestCompareCausalLMBudget plans a budget over causal-LM runs: a skipped
// method gets no probe and no share, and the probe times a method that
// applies in causal-LM batches (16 examples in batches of 8: 2 steps an
// epoch), whose real runs then do what the plan says.
func TestCompareCausalLMBudget(t *testing.T) {
	o := DefaultOptions()
	o.Base.Model = testmodel.NewDecoder(t)
	o.Base.Train, o.Base.Eval, _ = lmData(t, 16, 8)
	o.Base.Out = filepath.Join(t.TempDir(), "cmp")
	o.Base.BatchSize, o.Base.MaxLen, o.Base.Epochs, o.Seeds = 8, 32, 500, 1 // 1,000 steps a run: far over the budget
	o.Methods = []string{"feature", "full"}
	o.Budget = 1500 * time.Millisecond
	o.Runner = testChild(t)
	rep, _ := mustRun(t, o)
	bp := rep.Budget
	if bp == nil || len(bp.Methods) != 1 || bp.Methods[0].Method != "full" {
		t.Fatalf("budget plan %+v; want one line, full's", bp)
	}
	l := bp.Methods[0]
	if l.Failed != "" || l.Cost.StepsPerEpoch != 2 || l.WantSteps != 1000 || l.Steps >= l.WantSteps || l.Cut == "" || l.Cost.Step <= 0 {
		t.Errorf("full: plan %+v; want 2 steps an epoch, 1000 wanted, a cut", l)
	}
	if _, err := os.Stat(filepath.Join(o.Base.Out, "feature")); err == nil {
		t.Error("the skipped feature method was probed")
	}
	full := findMethod(rep, "full")
	if full.Status != StatusOK || len(full.Runs) != 1 {
		t.Fatalf("full: %s, %d runs (%s)", full.Status, len(full.Runs), full.Error)
	}
	if ev := readEval(t, full.Runs[0].Dir); int(ev["steps"].(float64)) != l.Steps {
		t.Errorf("full ran %v steps, plan %d", ev["steps"], l.Steps)
	}
	if findMethod(rep, "feature").Status != StatusSkipped {
		t.Errorf("feature: %+v", findMethod(rep, "feature"))
	}
}

// runAndRead runs a comparison and reads back its Markdown report and
// results.json; log is what it printed.
func runAndRead(t *testing.T, o Options) (rep *Report, md string, saved Report, log *strings.Builder) {
	t.Helper()
	rep, log = mustRun(t, o)
	md = readFile(t, filepath.Join(o.Base.Out, MarkdownFile))
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(o.Base.Out, ResultsFile))), &saved); err != nil {
		t.Fatal(err)
	}
	return rep, md, saved, log
}

// mustRun runs a comparison that must succeed; log is what it printed.
func mustRun(t *testing.T, o Options) (*Report, *strings.Builder) {
	t.Helper()
	log := &strings.Builder{}
	rep, err := Run(context.Background(), o, log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	return rep, log
}
