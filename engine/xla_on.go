//go:build xla

package engine

// This file links GoMLX's XLA backend (github.com/gomlx/go-xla, cgo: it
// loads a PJRT plugin with dlopen). Build with -tags xla and CGO_ENABLED=1.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

static const char* gotune_dlopen(const char* path) {
	void* h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		const char* e = dlerror();
		return e ? e : "unknown dlopen error";
	}
	return NULL;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	_ "github.com/gomlx/go-xla/compute/xla" // registers the "xla" backend
)

// xlaLinked reports whether this binary has the XLA backend.
const xlaLinked = true

// prepareXLA finds the PJRT plugin of an XLA backend spec (see
// FindPlugin), loads the NVIDIA libraries beside a Python package's plugin
// as JAX does, points XLA at their CUDA root, and returns the backend spec
// naming the plugin by its path, with any problems met on the way (to
// report if the backend then fails to start).
func prepareXLA(spec string) (resolved string, notes []string, err error) {
	name, cfg, _ := strings.Cut(spec, ":")
	pl, opts := pluginSpec(cfg)
	if pl == "" {
		pl = "cuda"
	}
	var p Plugin
	if strings.HasPrefix(pl, "/") {
		p = plugin(pl)
	} else if p, err = DefaultPluginSearch().FindPlugin(pl); err != nil {
		return "", nil, err
	}
	for _, lib := range p.NvidiaPreload() {
		cs := C.CString(lib)
		if e := C.gotune_dlopen(cs); e != nil {
			notes = append(notes, fmt.Sprintf("loading %s: %s", lib, C.GoString(e)))
		}
		C.free(unsafe.Pointer(cs))
	}
	if p.SitePackages != "" {
		// go-xla's own check looks for nvidia/ in go-xla's install layout
		// only; the libraries were handled above.
		if os.Getenv("GOPJRT_CUDA_CHECKS") == "" {
			os.Setenv("GOPJRT_CUDA_CHECKS", "0")
		}
		if d := p.CUDADataDir(); d != "" && !strings.Contains(os.Getenv("XLA_FLAGS"), "xla_gpu_cuda_data_dir") {
			os.Setenv("XLA_FLAGS", strings.TrimSpace(os.Getenv("XLA_FLAGS")+" --xla_gpu_cuda_data_dir="+d))
		}
	}
	return name + ":" + p.Path + opts, notes, nil
}
