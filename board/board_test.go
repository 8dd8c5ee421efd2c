package board

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/internal/testmodel"
)

// The test binary doubles as a stand-in for `gotune train` when
// fakeTrainEnv is set (see fakeTrain), so that starting and stopping runs
// is tested in milliseconds; cmd/gotune's browser test starts the real
// one.
const fakeTrainEnv = "GOTUNE_BOARD_FAKE_TRAIN"

// Made once by TestMain: a runs folder with one real tiny training, the
// model and data it used.
var fixture struct {
	runs, data, model, train, eval string
}

func TestMain(m *testing.M) {
	if os.Getenv(fakeTrainEnv) == "1" {
		os.Exit(fakeTrain(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "board-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := makeFixture(dir); err != nil {
			fmt.Fprintln(os.Stderr, "board test fixture:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func makeFixture(dir string) error {
	f := &fixture
	f.runs, f.data = filepath.Join(dir, "runs"), filepath.Join(dir, "data")
	f.model, f.train, f.eval = filepath.Join(f.data, "tiny-bert"), filepath.Join(f.data, "train.jsonl"), filepath.Join(f.data, "eval.jsonl")
	if err := testmodel.Write(f.model, testmodel.Default()); err != nil {
		return err
	}
	if err := testmodel.WriteJSONL(f.train, testmodel.Examples(32, 1)); err != nil {
		return err
	}
	if err := testmodel.WriteJSONL(f.eval, testmodel.Examples(16, 2)); err != nil {
		return err
	}
	cfg := gotune.DefaultConfig()
	cfg.Model, cfg.Train, cfg.Eval, cfg.Out = f.model, f.train, f.eval, filepath.Join(f.runs, "tiny")
	cfg.Epochs, cfg.BatchSize, cfg.LR, cfg.MaxLen, cfg.LoggingSteps = 2, 8, 1e-3, 16, 1
	_, err := gotune.Train(context.Background(), cfg, io.Discard)
	return err
}

// fakeTrain acts as `gotune train --out DIR [--max-steps N] [--resume]`:
// it writes a run folder's files; with --max-steps 1 it finishes at once,
// else it logs a step every 50 ms until SIGINT, then saves a checkpoint
// and exits 130 with gotune's message, as the real one does.
func fakeTrain(args []string) int {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	cfg := gotune.DefaultConfig()
	bindTestFlags(fs, &cfg)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	must := func(err error) {
		if err != nil {
			fmt.Println("gotune train:", err)
			os.Exit(1)
		}
	}
	must(os.MkdirAll(filepath.Join(cfg.Out, gotune.CheckpointDirName), 0o755))
	must(os.WriteFile(filepath.Join(cfg.Out, gotune.ConfigFile), []byte("model: "+cfg.Model+"\ntrain: "+cfg.Train+"\nout: "+cfg.Out+"\nmethod: "+cfg.Method+"\nepochs: 1\nlr: 0.001\n"), 0o644))
	must(os.WriteFile(filepath.Join(cfg.Out, gotune.CommandFile), []byte("gotune train "+strings.Join(args[1:], " ")+"\n"), 0o644))
	metrics, err := os.OpenFile(filepath.Join(cfg.Out, gotune.MetricsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(err)
	fmt.Println("trainable params: 10 || all params: 40 || trainable%: 25.0000")
	for step := 1; ; step++ {
		fmt.Fprintf(metrics, `{"kind":"train","step":%d,"loss":%g}`+"\n", step, 1/float64(step))
		if cfg.MaxSteps == 1 {
			must(os.WriteFile(filepath.Join(cfg.Out, gotune.EvalFile), []byte(`{"eval_accuracy":0.75,"metric_for_best":"accuracy","steps":1,"total_params":40,"trainable_params":10}`), 0o644))
			fmt.Println("done")
			return 0
		}
		select {
		case <-sig:
			fmt.Printf("interrupted at step %d\ngotune train: %v\n", step, gotune.ErrInterrupted)
			return 130
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// bindTestFlags binds a few of gotune train's flags, with the same names
// and help style, for the form tests.
func bindTestFlags(fs *flag.FlagSet, c *gotune.Config) {
	var config string
	fs.StringVar(&config, "config", "", "YAML file with the run's settings")
	fs.StringVar(&c.Model, "model", c.Model, "Hugging Face model folder")
	fs.StringVar(&c.Train, "train", c.Train, "training data")
	fs.StringVar(&c.Eval, "eval", c.Eval, "evaluation data")
	fs.StringVar(&c.Out, "out", c.Out, "run folder")
	fs.StringVar(&c.Method, "method", c.Method, "fine-tuning method")
	fs.IntVar(&c.Epochs, "epochs", c.Epochs, "training epochs")
	fs.IntVar(&c.MaxSteps, "max-steps", c.MaxSteps, "stop after this many optimizer steps")
	fs.Float64Var(&c.LR, "lr", c.LR, "peak learning rate")
	fs.IntVar(&c.LoRA.R, "lora-r", c.LoRA.R, "lora: rank r")
	fs.BoolVar(&c.Resume, "resume", false, "continue the run in --out from its last checkpoint")
	fs.BoolVar(&c.Overwrite, "overwrite", false, "replace an existing run in --out")
}

// newServer returns a board over a copy-free view of the fixture: runs is
// its runs folder (the fixture's when ""), the data folder is the
// fixture's, and new runs start this test binary as a fake trainer.
func newServer(t *testing.T, runs string, mod func(*Options)) *Server {
	t.Helper()
	if runs == "" {
		runs = fixture.runs
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeTrainEnv, "1")
	o := Options{Runs: runs, Data: []string{fixture.data}, Lang: "en", Exe: exe, OutFlag: "out",
		ReadPathFlags: []string{"config", "model", "train", "eval"},
		TrainFlags: func(fs *flag.FlagSet) {
			c := gotune.DefaultConfig()
			bindTestFlags(fs, &c)
		},
		CheckTrain: func(args []string) (map[string]string, error) {
			fs := flag.NewFlagSet("train", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c := gotune.DefaultConfig()
			bindTestFlags(fs, &c)
			if err := fs.Parse(args); err != nil {
				return nil, err
			}
			if p := fs.Lookup("config").Value.String(); p != "" {
				var err error
				if c, err = gotune.LoadConfigFile(p, gotune.DefaultConfig()); err != nil {
					return nil, err
				}
				fs = flag.NewFlagSet("train", flag.ContinueOnError)
				bindTestFlags(fs, &c)
				if err := fs.Parse(args); err != nil {
					return nil, err
				}
			}
			if err := c.Validate(); err != nil {
				return nil, err
			}
			return map[string]string{"model": c.Model, "train": c.Train, "eval": c.Eval}, nil
		},
	}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// do serves one request and returns the status and body.
func do(s http.Handler, method, target string, form url.Values, hdr ...string) (int, string, http.Header) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:7860"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Code, w.Body.String(), w.Header()
}

func TestRunsPage(t *testing.T) {
	s := newServer(t, "", nil)
	code, body, _ := do(s, "GET", "/", nil)
	if code != 200 {
		t.Fatalf("GET / = %d:\n%s", code, body)
	}
	row := regexp.MustCompile(`(?s)<tr data-run="tiny" data-status="finished">.*?</tr>`).FindString(body)
	if row == "" {
		t.Fatalf("runs table has no finished row for the run tiny:\n%s", body)
	}
	for _, want := range []string{">full<", ">tiny-bert<", "accuracy 0.", ">100.0000<", ">8<"} {
		if !strings.Contains(row, want) {
			t.Errorf("run row lacks %q:\n%s", want, row)
		}
	}
}

func TestRunsSorting(t *testing.T) {
	runs := t.TempDir()
	for _, n := range []string{"b", "a", "c/nested"} {
		dir := filepath.Join(runs, filepath.FromSlash(n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, gotune.ConfigFile), []byte("method: lora\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := newServer(t, runs, nil)
	order := func(q string) string {
		_, body, _ := do(s, "GET", "/?"+q, nil)
		var names []string
		for _, m := range regexp.MustCompile(`<tr data-run="([^"]+)"`).FindAllStringSubmatch(body, -1) {
			names = append(names, m[1])
		}
		return strings.Join(names, " ")
	}
	for _, tc := range []struct{ q, want string }{
		{"sort=name", "a b c/nested"},
		{"sort=name&desc=1", "c/nested b a"},
	} {
		if got := order(tc.q); got != tc.want {
			t.Errorf("/?%s lists %q, want %q", tc.q, got, tc.want)
		}
	}
}

func TestRunPage(t *testing.T) {
	s := newServer(t, "", nil)
	code, body, _ := do(s, "GET", "/run/tiny", nil)
	if code != 200 {
		t.Fatalf("GET /run/tiny = %d:\n%s", code, body)
	}
	for _, want := range []string{"config.yaml", "gotune train", "<polyline", "<circle", `data-running="false"`,
		"trainable params:", `href="/files/tiny/model/config.json"`, `src="/files/tiny/loss.png"`, "eval_accuracy"} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	// The training loss curve has one point per logged step (8 steps).
	m := regexp.MustCompile(`data-name="train loss"><polyline [^>]*points="([^"]+)"`).FindStringSubmatch(body)
	if m == nil || len(strings.Fields(m[1])) != 8 {
		t.Errorf("train loss curve: %v, want 8 points", m)
	}
	code, body, _ = do(s, "GET", "/live/tiny", nil)
	if code != 200 || !strings.Contains(body, "<svg") || strings.Contains(body, "<html") {
		t.Errorf("GET /live/tiny = %d, want the chart fragment without the page:\n%s", code, body)
	}
	code, body, _ = do(s, "GET", "/metrics/tiny", nil)
	if code != 200 || !strings.Contains(body, `"kind":"eval"`) {
		t.Errorf("GET /metrics/tiny = %d %s", code, body)
	}
}

func TestComparePage(t *testing.T) {
	runs := t.TempDir()
	for i, n := range []string{"x", "y"} {
		dir := filepath.Join(runs, n)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m := fmt.Sprintf(`{"kind":"train","step":1,"loss":1}`+"\n"+`{"kind":"train","step":2,"loss":0.%d}`+"\n"+`{"kind":"eval","step":2,"eval_accuracy":0.%d}`+"\n", 5+i, 6+i)
		if err := os.WriteFile(filepath.Join(dir, gotune.MetricsFile), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(runs, "cmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runs, "cmp", "report.html"), []byte("<html><script>alert(1)</script>report</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, runs, nil)
	code, body, _ := do(s, "GET", "/compare?run=x&run=y", nil)
	if code != 200 {
		t.Fatalf("GET /compare = %d:\n%s", code, body)
	}
	for _, want := range []string{`data-name="x"`, `data-name="y"`, `<tr data-run="x">`, `<tr data-run="y">`, "accuracy 0.7000", `href="/files/cmp/report.html"`} {
		if !strings.Contains(body, want) {
			t.Errorf("compare page lacks %q", want)
		}
	}
	code, body, hdr := do(s, "GET", "/files/cmp/report.html", nil)
	if code != 200 || !strings.Contains(body, "report") || !strings.Contains(hdr.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("report: %d, CSP %q", code, hdr.Get("Content-Security-Policy"))
	}
}

// forms returns a valid new-run form with some fields changed.
func form(kv ...string) url.Values {
	v := url.Values{"name": {"new"}, "model": {"tiny-bert"}, "train": {"train.jsonl"}, "eval": {fixture.eval}, "epochs": {"1"}, "lr": {"0.001"}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<del>" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

func TestPathTraversal(t *testing.T) {
	runs := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A run folder with a link pointing out of the runs folder.
	if err := os.MkdirAll(filepath.Join(runs, "r"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runs, "r", gotune.ConfigFile), []byte("method: full\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(runs, "r", "link.txt")); err != nil {
		t.Fatal(err)
	}
	// A link in the data folder pointing outside.
	link := filepath.Join(fixture.data, "escape.jsonl")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(link)
	// A config file inside the data folder that points outside.
	cfgFile := filepath.Join(fixture.data, "outside.yaml")
	if err := os.WriteFile(cfgFile, []byte("model: "+fixture.model+"\ntrain: "+secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(cfgFile)
	s := newServer(t, runs, nil)
	rel, _ := filepath.Rel(fixture.data, secret)
	for _, target := range []string{
		"/files/r/link.txt", "/files/..%2f" + filepath.Base(outside) + "%2fsecret.txt", "/files/r/..%2f..%2f" + filepath.Base(outside) + "%2fsecret.txt",
		"/files/" + strings.TrimPrefix(secret, "/"), "/run/..%2f" + filepath.Base(outside), "/files/r/%2e%2e/%2e%2e/etc/passwd",
	} {
		code, body, _ := do(s, "GET", target, nil)
		if code == 200 || strings.Contains(body, "secret") && !strings.Contains(body, "secret.txt") {
			t.Errorf("GET %s = %d, read outside the runs folder:\n%s", target, code, body)
		}
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"model outside", form("model", outside), "outside the folders"},
		{"relative escape", form("train", rel), "outside the folders"},
		{"dotdot", form("model", "../../../../etc"), "outside the folders"},
		{"link escape", form("train", "escape.jsonl"), "outside the folders"},
		{"config outside", form("config", secret), "outside the folders"},
		{"name escape", form("name", "../evil"), "run name"},
		{"name absolute", form("name", "/tmp/evil"), "run name"},
		{"name dotdot inside", form("name", "a/../../evil"), "run name"},
		{"out is not a field", form("out", outside), `unknown field "out"`},
		{"config naming data outside", form("config", "outside.yaml", "train", "<del>"), "train: \"" + secret + "\" is outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := do(s, "POST", "/new", tc.form)
			if code != http.StatusBadRequest || !strings.Contains(body, escaped(tc.want)) {
				t.Errorf("POST /new = %d, want 400 with %q:\n%s", code, tc.want, errorsOf(body))
			}
			if n := s.procs.names(); len(n) != 0 {
				t.Fatalf("started %v", n)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(runs), "evil")); err == nil {
		t.Error("a folder was created outside the runs folder")
	}
}

// errorsOf returns the error list of a form page, for failure messages.
func errorsOf(body string) string {
	if m := regexp.MustCompile(`(?s)<div class="errors".*?</div>`).FindString(body); m != "" {
		return m
	}
	return body
}

func TestBadFormValues(t *testing.T) {
	runs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(runs, "taken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runs, "taken", gotune.ConfigFile), []byte("method: full\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, runs, nil)
	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"not a number", form("lr", "fast"), []string{`invalid value "fast" for flag -lr`}},
		{"bad method", form("method", "magic"), []string{"magic"}},
		{"negative lr", form("lr", "-1"), []string{"lr must be > 0"}},
		{"no name", form("name", ""), []string{"run name: required"}},
		{"no model", form("model", "<del>"), []string{"no model"}},
		{"missing data", form("train", "nope.jsonl"), []string{`train: "nope.jsonl" does not exist`}},
		{"unknown field", form("bogus", "1"), []string{`unknown field "bogus"`}},
		{"existing run", form("name", "taken"), []string{"exists and is not empty"}},
		{"two problems", form("train", "nope.jsonl", "name", "../x"), []string{"does not exist", "run name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := do(s, "POST", "/new", tc.form)
			if code != http.StatusBadRequest {
				t.Fatalf("POST /new = %d, want 400", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, escaped(w)) {
					t.Errorf("the page lacks %q:\n%s", w, errorsOf(body))
				}
			}
			// The form keeps what was typed.
			if v := tc.form.Get("train"); v != "" && !strings.Contains(body, `value="`+escaped(v)+`"`) {
				t.Errorf("the form lost train=%q", v)
			}
			if n := s.procs.names(); len(n) != 0 {
				t.Fatalf("started %v", n)
			}
			if _, err := os.Stat(filepath.Join(runs, "new")); err == nil {
				t.Fatal("the run folder was created")
			}
		})
	}
}

// escaped escapes s as html/template does in text.
func escaped(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

func TestNewRunForm(t *testing.T) {
	s := newServer(t, t.TempDir(), nil)
	code, body, _ := do(s, "GET", "/new", nil)
	if code != 200 {
		t.Fatalf("GET /new = %d", code)
	}
	// Every flag but --out is a field, with its help and default; lora's
	// options are a group of their own; method is a choice of methods.
	for _, want := range []string{`name="model"`, `name="lr"`, "peak learning rate", `name="resume"`, `data-methods="lora"`,
		`<option selected>full</option>`, `<option>lora</option>`, `name="max-steps"`} {
		if !strings.Contains(body, want) {
			t.Errorf("form lacks %q", want)
		}
	}
	if strings.Contains(body, `name="out"`) {
		t.Error("form has an out field; the run name stands for it")
	}
}

func TestStartStopResume(t *testing.T) {
	runs := t.TempDir()
	s := newServer(t, runs, nil)
	code, body, hdr := do(s, "POST", "/new", form("name", "exp/one"))
	if code != http.StatusSeeOther || hdr.Get("Location") != "/run/exp/one" {
		t.Fatalf("POST /new = %d %q:\n%s", code, hdr.Get("Location"), errorsOf(body))
	}
	dir := filepath.Join(runs, "exp", "one")
	waitFor(t, "the run's metrics", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, gotune.MetricsFile))
		return strings.Count(string(b), "\n") >= 2
	})
	_, body, _ = do(s, "GET", "/run/exp/one", nil)
	if !strings.Contains(body, `data-running="true"`) || !strings.Contains(body, `action="/stop/exp/one"`) {
		t.Fatalf("a started run's page is not live with a stop button:\n%s", body)
	}
	b, _ := os.ReadFile(filepath.Join(dir, gotune.CommandFile))
	for _, want := range []string{"--model=" + fixture.model, "--train=" + fixture.train, "--out=" + dir, "--epochs=1"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the run was started without %q: %s", want, b)
		}
	}
	if code, _, _ := do(s, "POST", "/stop/exp/one", nil, "Origin", "http://evil.example"); code != http.StatusForbidden {
		t.Errorf("cross-site stop = %d, want 403", code)
	}
	if code, _, _ := do(s, "POST", "/stop/exp/one", nil, "Origin", "http://127.0.0.1:7860"); code != http.StatusSeeOther {
		t.Fatalf("POST /stop = %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx, "exp/one"); err != nil {
		t.Fatal(err)
	}
	_, body, _ = do(s, "GET", "/", nil)
	if !strings.Contains(body, `<tr data-run="exp/one" data-status="interrupted">`) {
		t.Errorf("a stopped run is not interrupted in the runs table:\n%s", body)
	}
	_, body, _ = do(s, "GET", "/run/exp/one", nil)
	if !strings.Contains(body, `action="/resume/exp/one"`) || !strings.Contains(body, "interrupted; resume with --resume") {
		t.Errorf("an interrupted run's page offers no resume or lacks the log:\n%s", body)
	}
	if code, _, _ := do(s, "POST", "/stop/exp/one", nil); code != http.StatusConflict {
		t.Errorf("stopping an ended run = %d, want 409", code)
	}
	// Resuming starts `gotune train --config RUN/config.yaml --out RUN --resume`.
	if code, body, _ := do(s, "POST", "/resume/exp/one", nil); code != http.StatusSeeOther {
		t.Fatalf("POST /resume = %d:\n%s", code, body)
	}
	waitFor(t, "the resumed run", func() bool { return s.procs.running("exp/one") })
	log, _ := os.ReadFile(dir + ".log")
	if !strings.Contains(string(log), "--resume") || !strings.Contains(string(log), "interrupted at step") {
		t.Errorf("the log was not appended to by a resumed run:\n%s", log)
	}
	if code, _, _ := do(s, "POST", "/stop/exp/one", nil); code != http.StatusSeeOther {
		t.Fatalf("POST /stop = %d", code)
	}
	if err := s.Wait(ctx, "exp/one"); err != nil {
		t.Fatal(err)
	}
	// A run that finishes is finished.
	if code, _, _ := do(s, "POST", "/new", form("name", "two", "max-steps", "1")); code != http.StatusSeeOther {
		t.Fatal("could not start a second run")
	}
	if err := s.Wait(ctx, "two"); err != nil {
		t.Fatal(err)
	}
	_, body, _ = do(s, "GET", "/", nil)
	if !strings.Contains(body, `<tr data-run="two" data-status="finished">`) {
		t.Errorf("a finished run is not finished:\n%s", body)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestToken(t *testing.T) {
	s := newServer(t, "", func(o *Options) { o.Token = "s3cret" })
	for _, tc := range []struct {
		name   string
		target string
		hdr    []string
		want   int
	}{
		{"none", "/", nil, 403},
		{"wrong", "/?token=nope", nil, 403},
		{"static needs it too", "/static/board.js", nil, 403},
		{"query sets cookie", "/?token=s3cret", nil, 303},
		{"cookie", "/", []string{"Cookie", tokenCookie + "=s3cret"}, 200},
		{"wrong cookie", "/", []string{"Cookie", tokenCookie + "=x"}, 403},
		{"bearer", "/run/tiny", []string{"Authorization", "Bearer s3cret"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, hdr := do(s, "GET", tc.target, nil, tc.hdr...)
			if code != tc.want {
				t.Errorf("GET %s = %d, want %d", tc.target, code, tc.want)
			}
			if code == 303 && (hdr.Get("Location") != "/" || !strings.Contains(hdr.Get("Set-Cookie"), "HttpOnly")) {
				t.Errorf("token redirect: %q, cookie %q", hdr.Get("Location"), hdr.Get("Set-Cookie"))
			}
		})
	}
}

func TestHostAndOrigin(t *testing.T) {
	s := newServer(t, "", func(o *Options) { o.Loopback = true })
	for _, tc := range []struct {
		method string
		hdr    []string
		want   int
	}{
		{"GET", []string{"Host", "evil.example:7860"}, 403}, // DNS rebinding
		{"GET", []string{"Host", "localhost:7860"}, 200},
		{"GET", []string{"Host", "[::1]:7860"}, 200},
		{"POST", []string{"Origin", "http://evil.example"}, 403},
		{"POST", []string{"Sec-Fetch-Site", "cross-site"}, 403},
	} {
		code, _, _ := do(s, tc.method, "/new", url.Values{}, tc.hdr...)
		if code != tc.want {
			t.Errorf("%s /new %v = %d, want %d", tc.method, tc.hdr, code, tc.want)
		}
	}
}

func TestLanguage(t *testing.T) {
	auto := newServer(t, "", func(o *Options) { o.Lang = "" })
	fixed := newServer(t, "", func(o *Options) { o.Lang = "en" })
	for _, tc := range []struct {
		s      *Server
		accept string
		want   string
	}{
		{auto, "ko-KR,ko;q=0.9,en;q=0.5", "실행 목록"},
		{auto, "en-US,en;q=0.9", ">Runs<"},
		{auto, "fr-FR", ">Runs<"},
		{auto, "", ">Runs<"},
		{fixed, "ko", ">Runs<"},
	} {
		_, body, _ := do(tc.s, "GET", "/", nil, "Accept-Language", tc.accept)
		if !strings.Contains(body, tc.want) {
			t.Errorf("Accept-Language %q: page lacks %q", tc.accept, tc.want)
		}
	}
	if _, err := New(Options{Runs: t.TempDir(), Lang: "fr", OutFlag: "out", TrainFlags: func(*flag.FlagSet) {}}); err == nil || !strings.Contains(err.Error(), "ko or en") {
		t.Errorf("--lang fr: %v", err)
	}
}

func TestKoreanMessagesComplete(t *testing.T) {
	for k := range messages["en"] {
		if _, ok := messages["ko"][k]; !ok {
			t.Errorf("no Korean text for %q", k)
		}
	}
}

func TestFolderStatus(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name  string
		files map[string]string
		log   string
		want  string
	}{
		{"lock with live pid", map[string]string{"lock": fmt.Sprintf("pid %d\n", os.Getpid()), gotune.CheckpointDirName + "/x": ""}, "", StatusRunning},
		{"lock with dead pid", map[string]string{"lock": "999999999", gotune.CheckpointDirName + "/x": ""}, "", StatusInterrupted},
		{"gotune's lock, live", map[string]string{".gotune.lock": fmt.Sprintf("%d\n", os.Getpid()), gotune.EvalFile: "{}"}, "", StatusRunning},
		{"gotune's lock, emptied", map[string]string{".gotune.lock": "", gotune.EvalFile: "{}"}, "", StatusFinished},
		{"eval.json", map[string]string{gotune.EvalFile: "{}", gotune.MetricsFile: ""}, "", StatusFinished},
		{"interrupted log", map[string]string{gotune.MetricsFile: ""}, "step 3\ngotune train: interrupted; resume with --resume\n", StatusInterrupted},
		{"error log", map[string]string{gotune.MetricsFile: ""}, "gotune train: reading data: no such file\n", StatusFailed},
		{"old checkpoint", map[string]string{gotune.CheckpointDirName + "/x": "", gotune.MetricsFile: ""}, "", StatusInterrupted},
		{"old, nothing saved", map[string]string{gotune.MetricsFile: ""}, "", StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			for f, c := range tc.files {
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
				_ = os.Chtimes(p, old, old)
				_ = os.Chtimes(filepath.Dir(p), old, old)
			}
			if tc.log != "" {
				if err := os.WriteFile(dir+".log", []byte(tc.log), 0o644); err != nil {
					t.Fatal(err)
				}
				_ = os.Chtimes(dir+".log", old, old)
			}
			if got := folderStatus(dir); got != tc.want {
				t.Errorf("status = %s, want %s", got, tc.want)
			}
		})
	}
	// A folder still changing, without a lock, is running.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, gotune.MetricsFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := folderStatus(dir); got != StatusRunning {
		t.Errorf("fresh folder: %s, want running", got)
	}
}

func TestDrawChart(t *testing.T) {
	c := drawChart("t", "step", "empty", []series{{Name: "a", X: []float64{1, 2, 3}, Y: []float64{3, 2, 1}}, {Name: "b", X: []float64{2}, Y: []float64{5}}}, 0)
	if c.Empty != "" || len(c.Lines) != 2 || len(c.Lines[0].Dots) != 3 || len(c.Lines[1].Dots) != 1 {
		t.Fatalf("chart: %+v", c)
	}
	// Larger y is higher up (smaller SVG y); points stay in the plot area.
	d := c.Lines[0].Dots
	if !(d[0].Y < d[1].Y && d[1].Y < d[2].Y) || !(d[0].X < d[1].X) {
		t.Errorf("dots %v not placed by value", d)
	}
	for _, p := range append(d, c.Lines[1].Dots...) {
		if p.X < c.Left || p.X > c.Right || p.Y < c.Top || p.Y > c.Bottom {
			t.Errorf("dot %v outside the plot area", p)
		}
	}
	// A shared step axis starts at 0: step 2 of [0, 4] is in the middle.
	if one := drawChart("t", "step", "", []series{{Name: "e", X: []float64{2}, Y: []float64{1}}}, 4); one.Lines[0].Dots[0].X != (one.Left+one.Right)/2 {
		t.Errorf("step 2 on a [0, 4] axis at x=%g, want %g", one.Lines[0].Dots[0].X, (one.Left+one.Right)/2)
	}
	if e := drawChart("t", "step", "empty", nil, 0); e.Empty != "empty" || len(e.Lines) != 0 {
		t.Errorf("empty chart: %+v", e)
	}
	for _, tc := range []struct{ lo, hi float64 }{{0, 1}, {3, 97}, {0.6931, 0.6932}, {-5, 1e6}} {
		ticks := niceTicks(tc.lo, tc.hi, 5)
		if ticks[0] > tc.lo || ticks[len(ticks)-1] < tc.hi {
			t.Errorf("ticks %v do not cover [%g, %g]", ticks, tc.lo, tc.hi)
		}
	}
}
