package board

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/gotune/gotune/methods"
)

// field is one input of the new-run form, made from one training flag.
type field struct {
	Name, Usage, Default string
	// Kind is bool, number, path, select or text.
	Kind    string
	Value   string
	Checked bool
	Choices []string
}

// group is a fieldset of the form: the general flags, or one method's
// (or task's) options, named by the prefix of their help text.
type group struct {
	Name string
	// Methods are the methods (or tasks) the group applies to, for the
	// page's script to show only the chosen method's options.
	Methods string
	Fields  []field
}

// groupPrefix matches a help text's "lora: ", "ptuning, prompt: " or
// "adapter (pfeiffer): " prefix.
var groupPrefix = regexp.MustCompile(`^([a-z-]+(?:, [a-z-]+)*)(?: \([^)]*\))?: `)

// flagGroup returns the methods a flag's help text says it belongs to, or
// nil for a general flag.
func flagGroup(usage string) []string {
	m := groupPrefix.FindStringSubmatch(usage)
	if m == nil {
		return nil
	}
	names := strings.Split(m[1], ", ")
	for _, n := range names {
		if !slices.Contains(methods.Names(), n) && n != "causal-lm" {
			return nil
		}
	}
	return names
}

// formFields lists the training flags as form fields in groups, in the
// order they are defined, values from vals (the defaults where absent).
func (s *Server) formFields(vals url.Values) []group {
	fset := flag.NewFlagSet("train", flag.ContinueOnError)
	s.opts.TrainFlags(fset)
	groups := []group{{Name: ""}}
	index := map[string]int{"": 0}
	fset.VisitAll(func(f *flag.Flag) {
		if f.Name == s.opts.OutFlag {
			return // the run name field stands for it
		}
		fd := field{Name: f.Name, Usage: f.Usage, Default: f.DefValue, Kind: flagKind(f)}
		if slices.Contains(s.opts.ReadPathFlags, f.Name) {
			fd.Kind = "path"
		}
		if f.Name == "method" {
			fd.Kind, fd.Choices = "select", methods.Names()
		}
		v, posted := vals[f.Name]
		switch {
		case fd.Kind == "bool" && vals != nil:
			fd.Checked = posted && v[0] != "" && v[0] != "false"
		case fd.Kind == "bool":
			fd.Checked = f.DefValue == "true"
		case posted:
			fd.Value = v[0]
		default:
			fd.Value = f.DefValue
		}
		g := strings.Join(flagGroup(f.Usage), ", ")
		i, ok := index[g]
		if !ok {
			i = len(groups)
			index[g] = i
			groups = append(groups, group{Name: g, Methods: strings.ReplaceAll(g, ",", "")})
		}
		groups[i].Fields = append(groups[i].Fields, fd)
	})
	// The flags that name what to train on come first, in their order.
	first := append(slices.Clone(s.opts.ReadPathFlags), "method", "task")
	rank := func(f field) int {
		if i := slices.Index(first, f.Name); i >= 0 {
			return i
		}
		return len(first)
	}
	slices.SortStableFunc(groups[0].Fields, func(a, b field) int { return rank(a) - rank(b) })
	return groups
}

// flagKind tells a boolean or numeric flag from a text one.
func flagKind(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "bool"
	}
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case int, int64, uint, uint64, float64:
			return "number"
		}
	}
	return "text"
}

// runName checks a run name: a relative path of plain components.
var runName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$`)

// newRun is a checked request to start a training.
type newRun struct {
	Name string
	Args []string
}

// parseForm turns the posted form into `gotune train` arguments: every
// field that differs from its flag's default, paths resolved and kept
// inside the board's folders, the run folder inside the runs folder; then
// the training flags' own parsing and validation. All problems found are
// returned, each a clear one-line message.
func (s *Server) parseForm(t translator, vals url.Values) (newRun, []string) {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, t.T(format, args...)) }
	fset := flag.NewFlagSet("train", flag.ContinueOnError)
	s.opts.TrainFlags(fset)
	for k := range vals {
		if k != "name" && (fset.Lookup(k) == nil || k == s.opts.OutFlag) {
			fail("err.unknown", k)
		}
	}
	var run newRun
	var resume, overwrite bool
	fset.VisitAll(func(f *flag.Flag) {
		if f.Name == s.opts.OutFlag {
			return
		}
		v := strings.TrimSpace(vals.Get(f.Name))
		if flagKind(f) == "bool" {
			_, posted := vals[f.Name]
			on := posted && v != "" && v != "false"
			if on != (f.DefValue == "true") {
				run.Args = append(run.Args, fmt.Sprintf("--%s=%t", f.Name, on))
			}
			resume = resume || (f.Name == "resume" && on)
			overwrite = overwrite || (f.Name == "overwrite" && on)
			return
		}
		if v == "" || v == f.DefValue {
			return
		}
		if err := fset.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Sprintf("invalid value %q for flag -%s: %v", v, f.Name, err))
			return
		}
		if slices.Contains(s.opts.ReadPathFlags, f.Name) {
			p, err := s.readablePath(t, f.Name, v)
			if err != nil {
				errs = append(errs, err.Error())
				return
			}
			v = p
		}
		run.Args = append(run.Args, "--"+f.Name+"="+v)
	})
	name := strings.TrimSpace(vals.Get("name"))
	switch {
	case name == "":
		fail("err.noname")
	case !runName.MatchString(name) || len(name) > 200:
		fail("err.name", name)
	default:
		run.Name = name
		dir := filepath.Join(s.opts.Runs, filepath.FromSlash(name))
		if s.procs.running(name) {
			fail("err.busy", name)
		} else if entries, err := os.ReadDir(dir); err == nil && slices.ContainsFunc(entries, notLock) && !resume && !overwrite {
			fail("err.exists", dir)
		}
		run.Args = append(run.Args, "--"+s.opts.OutFlag+"="+dir)
	}
	if len(errs) == 0 {
		errs = s.checkTrain(t, run.Args)
	}
	return run, errs
}

// checkTrain validates train arguments and keeps what the run would read
// (with --config's settings applied) inside the board's folders.
func (s *Server) checkTrain(t translator, args []string) []string {
	if s.opts.CheckTrain == nil {
		return nil
	}
	reads, err := s.opts.CheckTrain(args)
	if err != nil {
		return []string{err.Error()}
	}
	var errs []string
	names := slices.Sorted(maps.Keys(reads))
	for _, name := range names {
		if p := reads[name]; p != "" {
			if _, err := s.readablePath(t, name, p); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	return errs
}

// roots are the folders the form may read from: the data folders and the
// runs folder (a finished run's model can be fine-tuned again).
func (s *Server) roots() []string { return append(slices.Clone(s.opts.Data), s.opts.Runs) }

// readablePath resolves a form path (absolute, or relative to the first
// data folder) and checks that it exists inside one of the board's
// folders once symbolic links are followed.
func (s *Server) readablePath(t translator, name, v string) (string, error) {
	p := v
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.opts.Data[0], p)
	}
	p = filepath.Clean(p)
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		if !s.inside(p) {
			return "", errors.New(t.T("err.outside", name, v, strings.Join(s.roots(), ", ")))
		}
		return "", errors.New(t.T("err.missing", name, v))
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if !s.inside(real) {
		return "", errors.New(t.T("err.outside", name, v, strings.Join(s.roots(), ", ")))
	}
	return real, nil
}

// inside reports whether path p lies in one of the roots.
func (s *Server) inside(p string) bool {
	for _, r := range s.roots() {
		rel, err := filepath.Rel(r, p)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel) {
			return true
		}
	}
	return false
}

// notLock tells a run folder's content from a lock file left in it.
func notLock(e os.DirEntry) bool { return !slices.Contains(lockFiles, e.Name()) }
