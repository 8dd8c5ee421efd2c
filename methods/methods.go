// Package methods maps method names to implementations.
package methods

import (
	"fmt"
	"strings"

	"github.com/gotune/gotune/method"
	"github.com/gotune/gotune/method/feature"
	"github.com/gotune/gotune/method/freeze"
	"github.com/gotune/gotune/method/full"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/models/bert"
)

// Names lists the available methods.
func Names() []string { return []string{"full", "feature", "freeze", "lora"} }

// Options are the methods' settings; each method reads its own field.
type Options struct {
	// Seed seeds a method's new weights.
	Seed uint64
	// Feature configures "feature".
	Feature feature.Config
	// Freeze chooses what trains under "freeze".
	Freeze freeze.Config
	// LoRA configures "lora".
	LoRA lora.Config
}

// New returns the named method configured by o.
func New(name string, o Options) (method.Method, error) {
	if name != "freeze" && !o.Freeze.IsZero() {
		// A misplaced selection flag is an error, not silently ignored.
		return nil, fmt.Errorf("%s: only --method freeze chooses what trains (method is %q)", strings.Join(o.Freeze.SetFlags(), ", "), name)
	}
	switch name {
	case "full", "":
		return full.New(), nil
	case "feature":
		return feature.New(o.Feature, o.Seed)
	case "freeze":
		return freeze.New(o.Freeze, bertModules)
	case "lora":
		return lora.New(o.LoRA, o.Seed)
	}
	return nil, fmt.Errorf("unknown method %q (available: %s)", name, strings.Join(Names(), ", "))
}

// bertModules is the module map of the BERT family, the one architecture
// gotune trains.
func bertModules(names []string) (freeze.Modules, error) {
	m, err := bert.ModulesOf(names)
	if err != nil {
		return nil, err
	}
	return m, nil
}
