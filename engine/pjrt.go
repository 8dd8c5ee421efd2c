package engine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// PJRTPathEnv names the folders (":"-separated) searched first for a PJRT
// plugin; a plugin file may also be named directly.
const PJRTPathEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// xlaNames are the names github.com/gomlx/go-xla registers its backend as.
var xlaNames = map[string]bool{"xla": true, "stablehlo": true, "hlo": true, "shlo": true}

// IsXLA reports whether a backend spec ("xla:cuda", "stablehlo:cpu", ...)
// names GoMLX's XLA backend.
func IsXLA(spec string) bool {
	name, _, _ := strings.Cut(spec, ":")
	return xlaNames[name]
}

// PluginSearch describes where FindPlugin looks for a PJRT plugin. The zero
// value is not useful: use DefaultPluginSearch (tests set the fields to
// temporary folders).
type PluginSearch struct {
	// Env reads environment variables (PJRT_PLUGIN_LIBRARY_PATH,
	// LD_LIBRARY_PATH, VIRTUAL_ENV, CONDA_PREFIX, PATH).
	Env func(string) string
	// Home is the user's home folder ("" when unknown).
	Home string
	// LdSoConf is the dynamic linker's configuration file (its folders and
	// includes are searched, as go-xla does).
	LdSoConf string
	// SystemPrefixes are the Python installation prefixes searched after
	// the environments named by VIRTUAL_ENV, CONDA_PREFIX and PATH.
	SystemPrefixes []string
}

// DefaultPluginSearch is the search of the running process.
func DefaultPluginSearch() PluginSearch {
	home, _ := os.UserHomeDir()
	return PluginSearch{Env: os.Getenv, Home: home, LdSoConf: "/etc/ld.so.conf",
		SystemPrefixes: []string{"/usr/local", "/usr"}}
}

// Plugin is a PJRT plugin found on disk.
type Plugin struct {
	// Path is the plugin's absolute file name.
	Path string
	// SitePackages is the Python site-packages folder it was found in
	// ("" when it is not a Python package's plugin); NVIDIA's libraries
	// are looked for beside it, in site-packages/nvidia/*/lib.
	SitePackages string
}

// pluginFileNames are the file names go-xla loads a plugin called name
// from.
func pluginFileNames(name string) []string {
	return []string{"pjrt_c_api_" + name + "_plugin.so", "pjrt-plugin-" + name + ".so", "pjrt_plugin_" + name + ".so"}
}

// goXLADirs are go-xla's standard folders (its osDefaultLibraryPaths on
// Linux): the user's and the system's install folders, then
// LD_LIBRARY_PATH and the folders of the dynamic linker's configuration.
func (s PluginSearch) goXLADirs() []string {
	var dirs []string
	if s.Home != "" {
		local := filepath.Join(s.Home, ".local", "lib", "go-xla")
		dirs = append(dirs, local, filepath.Join(local, "nvidia"), filepath.Join(s.Home, ".local", "lib", "gomlx", "pjrt"))
	}
	dirs = append(dirs, "/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia", "/usr/local/lib/gomlx/pjrt")
	for _, d := range strings.Split(s.Env("LD_LIBRARY_PATH"), ":") {
		if filepath.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	if s.LdSoConf != "" {
		dirs = ldSoConfDirs(dirs, s.LdSoConf, 0)
	}
	return dirs
}

// ldSoConfDirs appends the folders listed in an ld.so.conf-format file,
// following its include lines.
func ldSoConfDirs(dirs []string, file string, depth int) []string {
	f, err := os.Open(file)
	if err != nil || depth > 8 {
		return dirs
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "include "):
			pat := strings.TrimSpace(strings.TrimPrefix(line, "include "))
			if !filepath.IsAbs(pat) {
				pat = filepath.Join(filepath.Dir(file), pat)
			}
			matches, _ := filepath.Glob(pat)
			sort.Strings(matches)
			for _, m := range matches {
				dirs = ldSoConfDirs(dirs, m, depth+1)
			}
		case filepath.IsAbs(line):
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// pythonPrefixes are the Python installations searched, in order: the
// active virtual environment ($VIRTUAL_ENV), conda's ($CONDA_PREFIX), the
// environment of each python3 on $PATH (the folder above its bin/), the
// user's ~/.local, then SystemPrefixes.
func (s PluginSearch) pythonPrefixes() []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" && filepath.IsAbs(p) && !seen[filepath.Clean(p)] {
			seen[filepath.Clean(p)] = true
			out = append(out, filepath.Clean(p))
		}
	}
	add(s.Env("VIRTUAL_ENV"))
	add(s.Env("CONDA_PREFIX"))
	for _, d := range strings.Split(s.Env("PATH"), ":") {
		if filepath.IsAbs(d) && filepath.Base(d) == "bin" {
			if _, err := os.Stat(filepath.Join(d, "python3")); err == nil {
				add(filepath.Dir(d))
			}
		}
	}
	if s.Home != "" {
		add(filepath.Join(s.Home, ".local"))
	}
	for _, p := range s.SystemPrefixes {
		add(p)
	}
	return out
}

// sitePattern is the glob, under a Python prefix, of a JAX plugin
// package's PJRT library (jax-cuda13-pjrt installs
// site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so).
func sitePattern(prefix, name string) string {
	return filepath.Join(prefix, "lib*", "python3*", "*-packages", "jax_plugins", "xla_"+name+"*", "xla_"+name+"_plugin.so")
}

// FindPlugin finds the PJRT plugin for a platform name ("cuda", "cpu",
// "rocm", ...) without loading it, in this order:
//
//  1. the folders in $PJRT_PLUGIN_LIBRARY_PATH (or a plugin file named
//     there directly);
//  2. go-xla's standard folders: ~/.local/lib/go-xla{,/nvidia},
//     ~/.local/lib/gomlx/pjrt, /usr/local/lib/go-xla{,/nvidia},
//     /usr/local/lib/gomlx/pjrt, $LD_LIBRARY_PATH and the folders of
//     /etc/ld.so.conf; file names pjrt_c_api_NAME_plugin.so,
//     pjrt-plugin-NAME.so, pjrt_plugin_NAME.so;
//  3. Python environments (see pythonPrefixes):
//     lib*/python3*/{site,dist}-packages/jax_plugins/xla_NAME*/xla_NAME_plugin.so,
//     as installed by pip install jax-cuda13-pjrt (or -cuda12-).
//
// Nothing is downloaded. When no plugin is found the error is one line
// naming every place searched.
func (s PluginSearch) FindPlugin(name string) (Plugin, error) {
	var searched []string
	try := func(dir string) (string, bool) {
		for _, f := range pluginFileNames(name) {
			p := filepath.Join(dir, f)
			if isFile(p) {
				return p, true
			}
		}
		return "", false
	}
	env := s.Env(PJRTPathEnv)
	for _, d := range strings.Split(env, ":") {
		if d == "" {
			continue
		}
		if isFile(d) {
			return plugin(d), nil
		}
		if p, ok := try(d); ok {
			return plugin(p), nil
		}
	}
	if env == "" {
		searched = append(searched, "$"+PJRTPathEnv+" (unset)")
	} else {
		searched = append(searched, "$"+PJRTPathEnv+"="+env)
	}
	var dirs []string
	for _, d := range s.goXLADirs() {
		if p, ok := try(d); ok {
			return plugin(p), nil
		}
		dirs = append(dirs, d)
	}
	searched = append(searched, strings.Join(dirs, ", ")+" (as "+strings.Join(pluginFileNames(name), " or ")+")")
	var pats []string
	for _, pre := range s.pythonPrefixes() {
		pat := sitePattern(pre, name)
		matches, _ := filepath.Glob(pat)
		sort.Sort(sort.Reverse(sort.StringSlice(matches))) // xla_cuda13 before xla_cuda12
		for _, m := range matches {
			if isFile(m) {
				return plugin(m), nil
			}
		}
		pats = append(pats, pat)
	}
	searched = append(searched, strings.Join(pats, ", "))
	hint := ""
	if strings.Contains(name, "cuda") {
		hint = " (e.g. pip install jax-cuda13-pjrt)"
	}
	return Plugin{}, fmt.Errorf("no PJRT plugin for %q found (searched %s); install one%s or set %s to its folder, see docs/scale.md",
		name, strings.Join(searched, "; "), hint, PJRTPathEnv)
}

// plugin describes the plugin file at path, noting the site-packages
// folder of a Python package's plugin.
func plugin(path string) Plugin {
	abs, err := filepath.Abs(path)
	if err == nil {
		path = abs
	}
	pl := Plugin{Path: path}
	// site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so
	if dir := filepath.Dir(filepath.Dir(path)); filepath.Base(filepath.Dir(filepath.Dir(path))) == "jax_plugins" {
		pl.SitePackages = filepath.Dir(dir)
	}
	return pl
}

// NvidiaLibDirs returns the lib folders of the NVIDIA Python packages
// (site-packages/nvidia/*/lib) beside a Python package's plugin, sorted;
// none for other plugins.
func (p Plugin) NvidiaLibDirs() []string {
	if p.SitePackages == "" {
		return nil
	}
	dirs, _ := filepath.Glob(filepath.Join(p.SitePackages, "nvidia", "*", "lib"))
	sort.Strings(dirs)
	return dirs
}

// CUDADataDir returns the folder XLA should use as its CUDA root
// (--xla_gpu_cuda_data_dir: libdevice under nvvm/libdevice, ptxas under
// bin/) among the NVIDIA Python packages beside the plugin: nvidia/cu13
// (CUDA 13 wheels) or nvidia/cuda_nvcc (CUDA 12); "" when neither has
// libdevice.
func (p Plugin) CUDADataDir() string {
	if p.SitePackages == "" {
		return ""
	}
	for _, sub := range []string{"cu13", "cuda_nvcc"} {
		d := filepath.Join(p.SitePackages, "nvidia", sub)
		if m, _ := filepath.Glob(filepath.Join(d, "nvvm", "libdevice", "libdevice*.bc")); len(m) > 0 {
			return d
		}
	}
	return ""
}

// NvidiaPreload lists, in loading order, the NVIDIA libraries found beside
// a Python package's plugin, as JAX's CUDA plugin loads them before the
// plugin (jax_plugins/cuda/__init__.py): the CUDA runtime, NVRTC, cuBLAS,
// NCCL, CUPTI, cuSPARSE, cuSOLVER, cuFFT, NVSHMEM and cuDNN, from the CUDA 13
// (nvidia/cu13/lib) or CUDA 12 (nvidia/<package>/lib) wheels. Missing ones
// are skipped.
func (p Plugin) NvidiaPreload() []string {
	if p.SitePackages == "" {
		return nil
	}
	order := [][2]string{
		{"cuda_runtime", "libcudart.so.12"}, {"cu13", "libcudart.so.13"},
		{"cuda_nvrtc", "libnvrtc.so.12"}, {"cu13", "libnvrtc.so.13"},
		{"nvjitlink", "libnvJitLink.so.12"}, {"cu13", "libnvJitLink.so.13"},
		{"cublas", "libcublasLt.so.12"}, {"cublas", "libcublas.so.12"},
		{"cu13", "libcublasLt.so.13"}, {"cu13", "libcublas.so.13"},
		{"nccl", "libnccl.so.2"},
		{"cuda_cupti", "libcupti.so.12"}, {"cu13", "libcupti.so.13"},
		{"cusparse", "libcusparse.so.12"}, {"cu13", "libcusparse.so.12"},
		{"cusolver", "libcusolver.so.11"}, {"cu13", "libcusolver.so.12"},
		{"cufft", "libcufft.so.11"}, {"cu13", "libcufft.so.12"},
		{"nvshmem", "libnvshmem_host.so.3"},
		{"cudnn", "libcudnn.so.9"},
	}
	var out []string
	seen := map[string]bool{}
	for _, o := range order {
		f := filepath.Join(p.SitePackages, "nvidia", o[0], "lib", o[1])
		if !seen[f] && isFile(f) {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// pluginSpec splits an XLA backend config ("cuda", "cuda,notf32",
// "/abs/plugin.so,preallocate=false") into the plugin name or path and
// the options after it ("" or ",opt,...").
func pluginSpec(cfg string) (name, opts string) {
	name, rest, found := strings.Cut(cfg, ",")
	if found {
		opts = "," + rest
	}
	return name, opts
}
