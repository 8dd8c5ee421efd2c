package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gotune/gotune/board"
)

// browser finds a Chromium to drive, or skips the test.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (apt-get install -y chromium): the board's browser test is skipped")
	return ""
}

// shotDir is where screenshots go: $GOTUNE_BOARD_SCREENSHOTS, else a test
// temporary folder.
func shotDir(t *testing.T) string {
	if d := os.Getenv("GOTUNE_BOARD_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBoardInBrowser opens the board in headless Chromium on a runs folder
// made by two tiny trainings: the runs table, a run's chart, a comparison,
// and a run started from the new-run form that the run page follows until
// it finishes. Each page is saved as a screenshot.
func TestBoardInBrowser(t *testing.T) {
	chrome := browser(t)
	if testing.Short() {
		t.Skip("-short: no browser test")
	}
	runs := t.TempDir()
	for _, m := range []string{"full", "lora"} {
		if code, _, errOut := gotuneCmd(t, "train", "--model", tinyModel, "--train", trainPath, "--eval", evalPath, "--out", filepath.Join(runs, "tiny-"+m),
			"--method", m, "--epochs", "3", "--batch-size", "16", "--lr", "1e-2", "--max-len", "16", "--logging-steps", "1"); code != 0 {
			t.Fatalf("training tiny-%s: %s", m, errOut)
		}
	}
	newBoard := func(lang string) string {
		srv, err := board.New(trainBoardOptions(board.Options{Runs: runs, Data: []string{fixes}, Lang: lang, Exe: binary, Loopback: true}))
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
			hs.Close()
		})
		return hs.URL
	}
	base, baseKo := newBoard("en"), newBoard("ko")
	shots := shotDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1280, 860),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The first run starts the browser, which lives as long as its context:
	// no timeout there, one per step after it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	shot := func(name string, full bool) {
		t.Helper()
		a := chromedp.CaptureScreenshot()
		if full {
			a = chromedp.FullScreenshot(100)
		}
		b, err := chromedp.Run(bctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 40*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			page, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 2000)`))
			shot("failed.png", false)
			t.Fatalf("%s: %v\npage: %s", what, err, page)
		}
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// The runs table.
	step("runs page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#runs")))
	if rows, finished := count("#runs tbody tr"), count(`#runs tr[data-status="finished"]`); rows != 2 || finished != 2 {
		t.Errorf("runs table: %d rows, %d finished; want 2 finished runs", rows, finished)
	}
	shot("runs.png", false)

	// A run: its charts are drawn with points.
	step("run page", chromedp.Navigate(base+"/run/tiny-lora"), chromedp.WaitVisible(css("figure.chart svg polyline")))
	points, err := chromedp.Run(bctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("figure.chart polyline")).reduce((n, p) => n + p.points.numberOfItems, 0)`))
	if err != nil {
		t.Fatal(err)
	}
	if dots := count("figure.chart circle"); points < 6 || dots < 6 {
		t.Errorf("run page charts: %d polyline points, %d dots; want the logged steps and evaluations drawn", points, dots)
	}
	shot("run.png", true)

	// Compare: both runs overlaid.
	step("compare page", chromedp.Navigate(base+"/compare?run=tiny-full&run=tiny-lora"), chromedp.WaitVisible(css("#compared")))
	if curves, rows := count("figure.chart g.series"), count("#compared tbody tr"); curves != 4 || rows != 2 {
		t.Errorf("compare: %d curves, %d table rows; want 2 charts × 2 runs and 2 rows", curves, rows)
	}
	shot("compare.png", true)

	// The Korean UI.
	step("Korean run page", chromedp.Navigate(baseKo+"/run/tiny-full"), chromedp.WaitVisible(css("figure.chart svg")))
	if nav := text("header nav"); !strings.Contains(nav, "실행 목록") {
		t.Errorf("Korean board's navigation: %q", nav)
	}
	shot("run-ko.png", false)

	// A bad form value: a clear message, nothing started.
	step("bad form", chromedp.Navigate(base+"/new"), chromedp.WaitVisible(css("#newrun")),
		chromedp.SetValue(css(`input[name="name"]`), "bad"), chromedp.SetValue(css(`input[name="model"]`), "../../etc"),
		chromedp.SetValue(css(`input[name="train"]`), "train.jsonl"), chromedp.SetValue(css(`input[name="lr"]`), "fast"),
		chromedp.Click(css("#start")), chromedp.WaitVisible(css("#errors")))
	if msg := text("#errors"); !strings.Contains(msg, "outside the folders") || !strings.Contains(msg, `invalid value "fast"`) {
		t.Errorf("form errors: %q", msg)
	}
	shot("new-errors.png", false)
	if _, err := os.Stat(filepath.Join(runs, "bad")); err == nil {
		t.Error("a bad form created a run folder")
	}

	// A run started from the form, followed until it finishes.
	start := time.Now()
	step("filling the form", chromedp.Navigate(base+"/new"), chromedp.WaitVisible(css("#newrun")),
		chromedp.SetValue(css(`input[name="name"]`), "from-form"), chromedp.SetValue(css(`input[name="model"]`), "tiny-bert"),
		chromedp.SetValue(css(`input[name="train"]`), "train.jsonl"), chromedp.SetValue(css(`input[name="eval"]`), "eval.jsonl"),
		chromedp.SetValue(css(`select[name="method"]`), "lora"),
		chromedp.SetValue(css(`input[name="epochs"]`), "3"), chromedp.SetValue(css(`input[name="batch-size"]`), "16"),
		chromedp.SetValue(css(`input[name="lr"]`), "1e-2"), chromedp.SetValue(css(`input[name="max-len"]`), "16"),
		chromedp.SetValue(css(`input[name="logging-steps"]`), "1"))
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.querySelector("select[name=method]").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	shot("new.png", false)
	step("the run from the form", chromedp.Click(css("#start")),
		chromedp.WaitVisible(css(`#live .livebox[data-status="finished"]`)),
		chromedp.WaitVisible(css("figure.chart svg circle")))
	shot("run-from-form.png", true)
	t.Logf("the run from the form finished in the browser after %s; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
	if b, err := os.ReadFile(filepath.Join(runs, "from-form", "command.txt")); err != nil || !strings.Contains(string(b), "--method lora") {
		t.Errorf("the form's run: command.txt %q, %v", b, err)
	}
}

// TestBoardCommand runs `gotune board`: on loopback it serves without a
// token; on another address it prints a token that every request needs;
// SIGINT ends it with status 0; bad flags are one clear line.
func TestBoardCommand(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		token bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		t.Run(tc.addr, func(t *testing.T) {
			cmd := exec.Command(binary, "board", "--runs", t.TempDir(), "--data", fixes, "--addr", tc.addr)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			// The line with the URL, read with a deadline.
			lines := make(chan string, 4)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var line string
			for line == "" || strings.HasPrefix(line, "board: listening") {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatal("board ended without printing its address")
					}
					line = l
				case <-time.After(20 * time.Second):
					t.Fatal("board printed no address in 20 s")
				}
			}
			u := regexp.MustCompile(`http://\S+`).FindString(line)
			if tc.token != strings.Contains(u, "?token=") {
				t.Fatalf("start line %q: token shown = %v, want %v", line, !tc.token, tc.token)
			}
			bare, _, _ := strings.Cut(u, "?")
			bare = strings.Replace(bare, "0.0.0.0", "127.0.0.1", 1)
			get := func(url string) int {
				res, err := http.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			want := 200
			if tc.token {
				want = 403
				jar, _ := cookiejar.New(nil)
				http.DefaultClient.Jar = jar
				defer func() { http.DefaultClient.Jar = nil }()
				if code := get(strings.Replace(u, "0.0.0.0", "127.0.0.1", 1)); code != 200 {
					t.Errorf("GET with the token = %d, want 200", code)
				}
				http.DefaultClient.Jar = nil
			}
			if code := get(bare); code != want {
				t.Errorf("GET %s = %d, want %d", bare, code, want)
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("board after SIGINT: %v", err)
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--lang", "fr"}, `--lang "fr": use ko or en`},
		{[]string{"--addr", "nonsense"}, `--addr "nonsense"`},
		{[]string{"--data", "/no/such/folder"}, "--data"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		code, _, errOut := gotuneCmd(t, append([]string{"board", "--runs", t.TempDir()}, tc.args...)...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("board %v: exit %d, stderr %q; want 1 and one line with %q", tc.args, code, errOut, tc.want)
		}
	}
}
