package board

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gotune/gotune"
)

//go:embed assets
var assets embed.FS

// Options configure a board.
type Options struct {
	// Runs is the folder holding run folders; new runs go there.
	Runs string
	// Data are the folders the new-run form may read models, data and
	// config files from (the runs folder is readable too). Default: the
	// current folder.
	Data []string
	// Lang is "en" or "ko"; empty follows the browser's Accept-Language.
	Lang string
	// Token, when set, must come with every request: as ?token=, which
	// sets a cookie, as that cookie, or as "Authorization: Bearer".
	Token string
	// Loopback restricts the Host header to localhost names, against DNS
	// rebinding, for a board bound to 127.0.0.1 or ::1.
	Loopback bool
	// Exe is the gotune binary new runs start (with "train" first).
	Exe string
	// TrainFlags binds `gotune train`'s flags, with their defaults and
	// help, to a flag set; the new-run form is built from it.
	TrainFlags func(*flag.FlagSet)
	// CheckTrain parses and validates `gotune train` arguments without
	// running anything, and returns the files and folders the run would
	// read (by setting name, after --config), so that the board can keep
	// them inside its folders. Relative paths are relative to the first
	// data folder, the child's working folder.
	CheckTrain func(args []string) (reads map[string]string, err error)
	// ReadPathFlags are the flags naming files or folders a run reads;
	// OutFlag names its run folder.
	ReadPathFlags []string
	OutFlag       string
}

// Server is the board's HTTP handler.
type Server struct {
	opts  Options
	pages map[string]*template.Template
	procs procs
	mux   *http.ServeMux
}

// New checks opts and returns a board.
func New(opts Options) (*Server, error) {
	if opts.TrainFlags == nil || opts.OutFlag == "" {
		return nil, errors.New("board: TrainFlags and OutFlag are required")
	}
	switch opts.Lang {
	case "", "en", "ko":
	default:
		return nil, fmt.Errorf("--lang %q: use ko or en", opts.Lang)
	}
	var err error
	if opts.Runs, err = realDir(opts.Runs, "--runs", true); err != nil {
		return nil, err
	}
	if len(opts.Data) == 0 {
		opts.Data = []string{"."}
	}
	for i, d := range opts.Data {
		if opts.Data[i], err = realDir(d, "--data", false); err != nil {
			return nil, err
		}
	}
	s := &Server{opts: opts, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	funcs := template.FuncMap{
		"add":  func(a, b int) int { return a + b },
		"join": strings.Join,
	}
	for _, page := range []string{"runs", "run", "compare", "new", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/parts.html", "assets/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("board: parsing %s template: %w", page, err)
		}
		s.pages[page] = t
	}
	static, _ := fs.Sub(assets, "assets/static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.handleRuns)
	s.mux.HandleFunc("GET /run/{name...}", s.handleRun)
	s.mux.HandleFunc("GET /live/{name...}", s.handleLive)
	s.mux.HandleFunc("GET /metrics/{name...}", s.handleMetrics)
	s.mux.HandleFunc("POST /stop/{name...}", s.handleStop)
	s.mux.HandleFunc("POST /resume/{name...}", s.handleResume)
	s.mux.HandleFunc("GET /compare", s.handleCompare)
	s.mux.HandleFunc("GET /new", s.handleNew)
	s.mux.HandleFunc("POST /new", s.handleNew)
	s.mux.HandleFunc("GET /files/{path...}", s.handleFile)
	return s, nil
}

// realDir returns dir as an absolute path with symbolic links resolved,
// creating it first when create is set.
func realDir(dir, what string, create bool) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("%s: no folder given", what)
	}
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if st, err := os.Stat(real); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s %s: not a folder", what, dir)
	}
	return real, nil
}

// Shutdown interrupts the trainings the board started and waits for them
// to save their checkpoints, or for ctx.
func (s *Server) Shutdown(ctx context.Context) { s.procs.stopAll(ctx) }

// Wait waits for the board's training of run name to end, or for ctx.
func (s *Server) Wait(ctx context.Context, name string) error { return s.procs.wait(ctx, name) }

// tokenCookie carries the access token after the first ?token= visit.
const tokenCookie = "gotune_board_token"

// ServeHTTP checks the request's Host, token and origin, then serves it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := s.lang(r)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	if s.opts.Loopback && !loopbackHost(r.Host) {
		http.Error(w, t.T("err.host", r.Host), http.StatusForbidden)
		return
	}
	if s.opts.Token != "" {
		if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet && s.tokenOK(q) {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			u := *r.URL
			qs := u.Query()
			qs.Del("token")
			u.RawQuery = qs.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		if !s.authorized(r) {
			http.Error(w, t.T("err.forbidden"), http.StatusForbidden)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
		http.Error(w, t.T("err.crossorigin"), http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) tokenOK(v string) bool {
	return subtle.ConstantTimeCompare([]byte(v), []byte(s.opts.Token)) == 1
}

func (s *Server) authorized(r *http.Request) bool {
	if c, err := r.Cookie(tokenCookie); err == nil && s.tokenOK(c.Value) {
		return true
	}
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.tokenOK(a) {
		return true
	}
	return false
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin refuses state-changing requests that a browser marks as
// coming from another site (Sec-Fetch-Site, else Origin). Requests from
// other programs carry neither and pass.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// page is what every page template gets.
type page struct {
	T     translator
	Title string
	Nav   string
	Runs  string
	Data  any
}

// render executes a page template into a buffer first, so a template
// error gives a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name, nav, title string, code int, data any) {
	s.renderPart(w, r, name, "layout.html", nav, title, code, data)
}

// renderPart executes one template of a page's set.
func (s *Server) renderPart(w http.ResponseWriter, r *http.Request, name, tmpl, nav, title string, code int, data any) {
	t := s.lang(r)
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, tmpl, page{T: t, Title: title, Nav: nav, Runs: s.opts.Runs, Data: data}); err != nil {
		http.Error(w, "board: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

// fail shows an error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, "error", "", s.lang(r).T("title"), code, msg)
}

// listRuns loads every run under the runs folder, with the board's own
// knowledge of the trainings it started.
func (s *Server) listRuns() ([]Run, []string) {
	names, err := findRuns(s.opts.Runs)
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	}
	for _, n := range s.procs.names() {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var runs []Run
	for _, n := range names {
		r, err := s.loadRun(n)
		if err != nil {
			problems = append(problems, err.Error())
		}
		runs = append(runs, r)
	}
	return runs, problems
}

// loadRun loads one run; the status of a training the board started comes
// from its process.
func (s *Server) loadRun(name string) (Run, error) {
	r, err := loadRun(s.opts.Runs, name)
	if st := s.procs.status(name); st == StatusRunning || st == StatusInterrupted || st == StatusFailed {
		r.Status = st
	}
	if pid := s.procs.pid(name); pid > 0 && r.PeakRSS == 0 {
		r.PeakRSS = peakRSS(pid)
	}
	return r, err
}

// column is a sortable column of the runs table.
type column struct {
	Key, Label string
	// Href sorts by the column (the other way when it is the current one).
	Href  string
	Arrow string
}

func (s *Server) handleRuns(w http.ResponseWriter, r *http.Request) {
	t := s.lang(r)
	runs, problems := s.listRuns()
	key, desc := r.URL.Query().Get("sort"), r.URL.Query().Get("desc") == "1"
	if key == "" {
		key, desc = "started", true
	}
	sortRuns(runs, key, desc)
	var cols []column
	for _, c := range [][2]string{{"name", "col.run"}, {"status", "col.status"}, {"method", "col.method"}, {"model", "col.model"},
		{"task", "col.task"}, {"best", "col.best"}, {"trainable", "col.trainable"}, {"steps", "col.steps"},
		{"time", "col.time"}, {"memory", "col.memory"}, {"started", "col.started"}} {
		col := column{Key: c[0], Label: t.T(c[1]), Href: "/?sort=" + c[0]}
		if c[0] == key {
			if desc {
				col.Arrow = "▼"
			} else {
				col.Arrow, col.Href = "▲", col.Href+"&desc=1"
			}
		}
		cols = append(cols, col)
	}
	s.render(w, r, "runs", "runs", t.T("nav.runs"), http.StatusOK, map[string]any{"Runs": runs, "Columns": cols, "Problems": problems})
}

// runName returns the request's run name if it names a run folder (or a
// training the board started) under the runs folder; else it answers 404.
func (s *Server) runName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if runName.MatchString(name) {
		if s.procs.status(name) != "" || isRunDir(filepath.Join(s.opts.Runs, filepath.FromSlash(name))) {
			return name, true
		}
	}
	s.fail(w, r, http.StatusNotFound, s.lang(r).T("run.notfound", name, s.opts.Runs))
	return "", false
}

// fileEntry is an artefact of a run.
type fileEntry struct {
	Path, Href, Size string
}

// runFiles lists the files in a run folder (model, checkpoints, logs).
func runFiles(dir, name string) []fileEntry {
	var out []fileEntry
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		out = append(out, fileEntry{Path: rel, Href: "/files/" + name + "/" + rel, Size: formatSize(info.Size())})
		return nil
	})
	return out
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// liveView is the part of a run page that updates while it trains.
type liveView struct {
	Run     Run
	Running bool
	Charts  []chart
	Evals   []map[string]string
	EvalCol []string
	Log     string
	Error   string
}

// live reads what changes while a run trains.
func (s *Server) live(t translator, name string) liveView {
	run, err := s.loadRun(name)
	v := liveView{Run: run, Running: run.Status == StatusRunning}
	if err != nil {
		v.Error = err.Error()
	}
	recs, err := readMetrics(run.Dir)
	if err != nil {
		v.Error = err.Error()
	}
	loss, evals := runSeries(recs, "")
	last := lastStep(loss, evals)
	v.Charts = []chart{
		drawChart(t.T("run.loss"), t.T("run.step"), t.T("run.nodata"), loss, last),
		drawChart(t.T("run.eval"), t.T("run.step"), t.T("run.nodata"), evals, last),
	}
	cols := map[string]bool{}
	for _, rec := range recs {
		if k, _ := rec["kind"].(string); k != "eval" {
			continue
		}
		row := map[string]string{}
		for k, val := range rec {
			if f, ok := val.(float64); ok && k != "epoch" {
				row[k] = trimFloat(f)
				if k != "step" {
					cols[k] = true
				}
			}
		}
		v.Evals = append(v.Evals, row)
	}
	for k := range cols {
		v.EvalCol = append(v.EvalCol, k)
	}
	sort.Strings(v.EvalCol)
	v.Log = tail(run.Dir+".log", 12<<10)
	return v
}

func trimFloat(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.4f", f)
}

// tail returns the last n bytes of a file, from a line start.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	// Progress lines redrawn with \r show their last state.
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if j := strings.LastIndexByte(strings.TrimRight(l, "\r"), '\r'); j >= 0 {
			lines[i] = l[j+1:]
		}
	}
	return strings.Join(lines, "\n")
}

func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	name, ok := s.runName(w, r)
	if !ok {
		return
	}
	t := s.lang(r)
	v := s.live(t, name)
	dir := v.Run.Dir
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		return string(b)
	}
	result := read(gotune.EvalFile)
	_, plotErr := os.Stat(filepath.Join(dir, gotune.PlotFile))
	s.render(w, r, "run", "", name, http.StatusOK, map[string]any{
		"Name": name, "Live": v, "Config": read(gotune.ConfigFile), "Command": read(gotune.CommandFile),
		"Result": result, "Files": runFiles(dir, name), "Plot": plotErr == nil,
		"Stoppable": s.procs.running(name), "Resumable": v.Run.Status == StatusInterrupted && !s.procs.running(name),
	})
}

// handleLive serves the updating part of a run page.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	name, ok := s.runName(w, r)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.renderPart(w, r, "run", "live", "", name, http.StatusOK, map[string]any{"Name": name, "Live": s.live(s.lang(r), name)})
}

// handleMetrics serves a run's metrics records as a JSON array.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	name, ok := s.runName(w, r)
	if !ok {
		return
	}
	recs, err := readMetrics(filepath.Join(s.opts.Runs, filepath.FromSlash(name)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if recs == nil {
		recs = []map[string]any{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(recs)
}

func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.procs.interrupt(name); err != nil {
		s.fail(w, r, http.StatusConflict, s.lang(r).T("err.notrunning", name))
		return
	}
	http.Redirect(w, r, "/run/"+name, http.StatusSeeOther)
}

// handleResume continues an interrupted run from its checkpoint with the
// settings its config.yaml recorded, after checking that they read only
// inside the board's folders.
func (s *Server) handleResume(w http.ResponseWriter, r *http.Request) {
	name, ok := s.runName(w, r)
	if !ok {
		return
	}
	t := s.lang(r)
	if s.procs.running(name) {
		s.fail(w, r, http.StatusConflict, t.T("err.busy", name))
		return
	}
	dir := filepath.Join(s.opts.Runs, filepath.FromSlash(name))
	cfgPath := filepath.Join(dir, gotune.ConfigFile)
	args := []string{"--config=" + cfgPath, "--" + s.opts.OutFlag + "=" + dir, "--resume"}
	if errs := s.checkTrain(t, args); len(errs) > 0 {
		s.fail(w, r, http.StatusBadRequest, strings.Join(errs, "; "))
		return
	}
	if err := s.procs.start(name, s.opts.Exe, s.opts.Data[0], append([]string{"train"}, args...), dir+".log", true); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	http.Redirect(w, r, "/run/"+name, http.StatusSeeOther)
}

// report is a gotune compare report under the runs folder.
type report struct{ Name, Href string }

// findReports lists the gotune compare reports (report.html) under root.
func findReports(root string) []report {
	var out []report
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || strings.Count(rel, string(filepath.Separator)) >= maxDepth || isRunDir(p)) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "report.html" {
			dir := filepath.ToSlash(filepath.Dir(rel))
			out = append(out, report{Name: dir, Href: "/files/" + filepath.ToSlash(rel)})
		}
		return nil
	})
	return out
}

func (s *Server) handleCompare(w http.ResponseWriter, r *http.Request) {
	t := s.lang(r)
	all, problems := s.listRuns()
	sortRuns(all, "name", false)
	picked := r.URL.Query()["run"]
	var chosen []Run
	var loss, metric []series
	metricName := ""
	type pick struct {
		Run
		Picked bool
	}
	var options []pick
	for _, run := range all {
		options = append(options, pick{run, slices.Contains(picked, run.Name)})
		if !slices.Contains(picked, run.Name) {
			continue
		}
		chosen = append(chosen, run)
		recs, err := readMetrics(run.Dir)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if metricName == "" {
			metricName = run.Metric
		}
		loss = append(loss, metricSeries(recs, run.Name, "train_loss"))
		metric = append(metric, metricSeries(recs, run.Name, metricName))
	}
	var charts []chart
	if len(chosen) > 0 {
		last := lastStep(loss, metric)
		charts = []chart{
			drawChart(t.T("run.loss"), t.T("run.step"), t.T("run.nodata"), loss, last),
			drawChart(t.T("run.eval")+" "+metricName, t.T("run.step"), t.T("run.nodata"), metric, last),
		}
	}
	s.render(w, r, "compare", "compare", t.T("compare.heading"), http.StatusOK, map[string]any{
		"All": options, "Chosen": chosen, "Charts": charts, "Reports": findReports(s.opts.Runs), "Problems": problems,
	})
}

func (s *Server) handleNew(w http.ResponseWriter, r *http.Request) {
	t := s.lang(r)
	data := map[string]any{"Data": strings.Join(s.opts.Data, ", ")}
	if r.Method == http.MethodGet {
		data["Groups"], data["Name"] = s.formFields(nil), ""
		s.render(w, r, "new", "new", t.T("new.heading"), http.StatusOK, data)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	run, errs := s.parseForm(t, r.PostForm)
	if len(errs) == 0 {
		dir := filepath.Join(s.opts.Runs, filepath.FromSlash(run.Name))
		appendLog := slices.Contains(run.Args, "--resume=true")
		if err := s.procs.start(run.Name, s.opts.Exe, s.opts.Data[0], append([]string{"train"}, run.Args...), dir+".log", appendLog); err != nil {
			errs = append(errs, err.Error())
		} else {
			http.Redirect(w, r, "/run/"+run.Name, http.StatusSeeOther)
			return
		}
	}
	data["Groups"], data["Name"], data["Errors"] = s.formFields(r.PostForm), r.PostForm.Get("name"), errs
	s.render(w, r, "new", "new", t.T("new.heading"), http.StatusBadRequest, data)
}

// handleFile serves a file under the runs folder through an os.Root, so
// neither ".." nor a symbolic link can reach outside it. HTML (gotune
// compare's reports) is served with a policy that lets no script run.
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	rel := r.PathValue("path")
	t := s.lang(r)
	root, err := os.OpenRoot(s.opts.Runs)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	defer root.Close()
	clean := path.Clean("/" + rel)[1:]
	f, err := root.Open(filepath.FromSlash(clean))
	if clean == "" || err != nil {
		s.fail(w, r, http.StatusNotFound, t.T("err.missing", "file", rel))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		s.fail(w, r, http.StatusNotFound, t.T("err.missing", "file", rel))
		return
	}
	ctype := mime.TypeByExtension(path.Ext(clean))
	switch path.Ext(clean) {
	case ".html", ".png", ".svg":
	case ".json", ".jsonl", ".yaml", ".txt", ".log", ".md", ".csv", ".tsv":
		ctype = "text/plain; charset=utf-8"
	default:
		ctype = "application/octet-stream"
		w.Header().Set("Content-Disposition", "attachment")
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; sandbox")
	http.ServeContent(w, r, st.Name(), st.ModTime(), f)
}
