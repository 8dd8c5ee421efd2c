// Package methods maps method names to implementations.
package methods

import (
	"fmt"
	"strings"

	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/method/full"
)

// Names lists the available methods.
func Names() []string { return []string{"full"} }

// New returns the named method.
func New(name string) (method.Method, error) {
	switch name {
	case "full", "":
		return full.New(), nil
	}
	return nil, fmt.Errorf("unknown method %q (available: %s)", name, strings.Join(Names(), ", "))
}
