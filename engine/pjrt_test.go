package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// touch creates an empty file (and its folders) under root.
func touch(t *testing.T, root, rel string) string {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFindPluginOrder(t *testing.T) {
	const venvPlugin = "venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"
	tests := []struct {
		name string
		// files to create under the temporary root.
		files []string
		// env, with "$R" standing for the root.
		env  map[string]string
		conf string // ld.so.conf content ("$R" for the root)
		want string // file found, relative to the root; "" for an error
		// sitePackages expected, relative to the root.
		site string
	}{
		{name: "PJRT_PLUGIN_LIBRARY_PATH first",
			files: []string{"env/pjrt_c_api_cuda_plugin.so", "home/.local/lib/go-xla/pjrt_c_api_cuda_plugin.so", venvPlugin},
			env:   map[string]string{"PJRT_PLUGIN_LIBRARY_PATH": "$R/none:$R/env", "VIRTUAL_ENV": "$R/venv"},
			want:  "env/pjrt_c_api_cuda_plugin.so"},
		{name: "plugin file named in PJRT_PLUGIN_LIBRARY_PATH",
			files: []string{"x/my.so"},
			env:   map[string]string{"PJRT_PLUGIN_LIBRARY_PATH": "$R/x/my.so"},
			want:  "x/my.so"},
		{name: "go-xla user folder before Python",
			files: []string{"home/.local/lib/go-xla/nvidia/pjrt_c_api_cuda_plugin.so", venvPlugin},
			env:   map[string]string{"VIRTUAL_ENV": "$R/venv"},
			want:  "home/.local/lib/go-xla/nvidia/pjrt_c_api_cuda_plugin.so"},
		{name: "LD_LIBRARY_PATH, other file name",
			files: []string{"ld/pjrt-plugin-cuda.so"},
			env:   map[string]string{"LD_LIBRARY_PATH": "relative:$R/ld"},
			want:  "ld/pjrt-plugin-cuda.so"},
		{name: "ld.so.conf include",
			files: []string{"conf/lib/pjrt_plugin_cuda.so"},
			conf:  "# comment\ninclude $R/ld.so.conf.d/*.conf\n",
			want:  "conf/lib/pjrt_plugin_cuda.so"},
		{name: "virtual environment",
			files: []string{venvPlugin, "venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcudart.so.13"},
			env:   map[string]string{"VIRTUAL_ENV": "$R/venv"},
			want:  venvPlugin, site: "venv/lib/python3.12/site-packages"},
		{name: "python3 on PATH",
			files: []string{"opt/venv/bin/python3", "opt/venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"},
			env:   map[string]string{"PATH": "/nonexistent/bin:$R/opt/venv/bin"},
			want:  "opt/venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so",
			site:  "opt/venv/lib/python3.12/site-packages"},
		{name: "cuda13 before cuda12",
			files: []string{"venv/lib/python3.12/site-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so", venvPlugin},
			env:   map[string]string{"VIRTUAL_ENV": "$R/venv"},
			want:  venvPlugin, site: "venv/lib/python3.12/site-packages"},
		{name: "wrong platform's plugin only",
			files: []string{"env/pjrt_c_api_cpu_plugin.so", "venv/lib/python3.12/site-packages/jax_plugins/xla_rocm/xla_rocm_plugin.so"},
			env:   map[string]string{"PJRT_PLUGIN_LIBRARY_PATH": "$R/env", "VIRTUAL_ENV": "$R/venv"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tc.files {
				touch(t, root, f)
			}
			conf := filepath.Join(root, "ld.so.conf")
			os.WriteFile(conf, []byte(strings.ReplaceAll(tc.conf, "$R", root)), 0o644)
			touch(t, root, "ld.so.conf.d/a.conf")
			os.WriteFile(filepath.Join(root, "ld.so.conf.d/a.conf"), []byte(root+"/conf/lib\n"), 0o644)
			s := PluginSearch{Home: filepath.Join(root, "home"), LdSoConf: conf, SystemPrefixes: []string{filepath.Join(root, "usr")},
				Env: func(k string) string { return strings.ReplaceAll(tc.env[k], "$R", root) }}
			p, err := s.FindPlugin("cuda")
			if tc.want == "" {
				if err == nil {
					t.Fatalf("found %s, want an error", p.Path)
				}
				msg := err.Error()
				for _, place := range []string{"$PJRT_PLUGIN_LIBRARY_PATH=" + root + "/env", filepath.Join(root, "home/.local/lib/go-xla"),
					"/usr/local/lib/go-xla", "pjrt_c_api_cuda_plugin.so", filepath.Join(root, "venv") + "/lib*/python3*/*-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so",
					filepath.Join(root, "usr") + "/lib*"} {
					if !strings.Contains(msg, place) {
						t.Errorf("error does not name %q: %s", place, msg)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("error is not one line: %q", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tc.want); p.Path != want {
				t.Errorf("found %s, want %s", p.Path, want)
			}
			wantSite := ""
			if tc.site != "" {
				wantSite = filepath.Join(root, tc.site)
			}
			if p.SitePackages != wantSite {
				t.Errorf("site-packages %q, want %q", p.SitePackages, wantSite)
			}
		})
	}
}

func TestNvidiaLibraries(t *testing.T) {
	root := t.TempDir()
	site := filepath.Join(root, "lib/python3.12/site-packages")
	pl := touch(t, site, "jax_plugins/xla_cuda13/xla_cuda_plugin.so")
	for _, f := range []string{"nvidia/cu13/lib/libcudart.so.13", "nvidia/cu13/lib/libcublas.so.13", "nvidia/cu13/lib/libcublasLt.so.13",
		"nvidia/cudnn/lib/libcudnn.so.9", "nvidia/nccl/lib/libnccl.so.2", "nvidia/cu13/nvvm/libdevice/libdevice.10.bc"} {
		touch(t, site, f)
	}
	p := plugin(pl)
	if p.SitePackages != site {
		t.Fatalf("site-packages %q, want %q", p.SitePackages, site)
	}
	var got []string
	for _, f := range p.NvidiaPreload() {
		rel, _ := filepath.Rel(site, f)
		got = append(got, rel)
	}
	want := []string{"nvidia/cu13/lib/libcudart.so.13", "nvidia/cu13/lib/libcublasLt.so.13", "nvidia/cu13/lib/libcublas.so.13",
		"nvidia/nccl/lib/libnccl.so.2", "nvidia/cudnn/lib/libcudnn.so.9"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("preload order %v, want %v", got, want)
	}
	if d := p.CUDADataDir(); d != filepath.Join(site, "nvidia/cu13") {
		t.Errorf("CUDA data dir %q", d)
	}
	if n := len(p.NvidiaLibDirs()); n != 3 {
		t.Errorf("%d NVIDIA lib folders, want 3", n)
	}
	// A plugin outside a Python environment has none of these.
	other := plugin(touch(t, root, "go-xla/nvidia/pjrt_c_api_cuda_plugin.so"))
	if other.SitePackages != "" || other.NvidiaPreload() != nil || other.CUDADataDir() != "" {
		t.Errorf("plugin outside Python: %+v", other)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		spec string
		want []string
	}{
		{"nosuch:x", []string{`unknown backend "nosuch"`, "go"}},
	}
	if !xlaLinked {
		tests = append(tests,
			struct {
				spec string
				want []string
			}{"xla:cuda", []string{`"xla:cuda"`, "-tags xla", "CGO_ENABLED=1"}},
			struct {
				spec string
				want []string
			}{"stablehlo", []string{"-tags xla"}})
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			b, err := New(tc.spec) // must not panic
			if err == nil {
				t.Fatalf("New(%q) = %v, want an error", tc.spec, b)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestIsXLA(t *testing.T) {
	for spec, want := range map[string]bool{"xla:cuda": true, "xla": true, "stablehlo:cpu": true, "go": false, "go:ops_sequential": false, "xlax": false} {
		if got := IsXLA(spec); got != want {
			t.Errorf("IsXLA(%q) = %v", spec, got)
		}
	}
}
