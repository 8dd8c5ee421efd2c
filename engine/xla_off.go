//go:build !xla

package engine

import "fmt"

// xlaLinked reports whether this binary has the XLA backend.
const xlaLinked = false

// prepareXLA fails: this build has no XLA backend.
func prepareXLA(spec string) (string, []string, error) {
	return "", nil, fmt.Errorf("backend %q is not in this gotune binary (built without XLA); build one with: CGO_ENABLED=1 go build -tags xla ./cmd/gotune (see docs/scale.md)", spec)
}
