package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/methods"
)

// bindPTuningFlags binds the settings of --method ptuning (prefix tuning /
// P-Tuning v2) and --method prompt (prompt tuning).
func bindPTuningFlags(fs *flag.FlagSet, c *ptuning.Config) {
	fs.IntVar(&c.NumVirtualTokens, "num-virtual-tokens", c.NumVirtualTokens, "ptuning, prompt: virtual tokens (prefix length per layer, or soft-prompt length); they take positions from the model (default 20)")
	fs.BoolVar(&c.PrefixProjection, "prefix-projection", c.PrefixProjection, "ptuning: compute the prefix with a two-layer tanh MLP (reparameterisation); PEFT files get its output")
	fs.IntVar(&c.EncoderHiddenSize, "encoder-hidden-size", c.EncoderHiddenSize, "ptuning: hidden width of --prefix-projection's MLP (default 512)")
	fs.Float64Var(&c.Dropout, "prefix-dropout", c.Dropout, "ptuning, prompt: dropout on the prefix keys/values or the soft prompt while training (P-Tuning v2 uses 0.1; PEFT none)")
	fs.StringVar(&c.Init, "prompt-init", c.Init, "prompt: initialise the soft prompt randomly (random, default) or from --prompt-init-text's word embeddings (text)")
	fs.StringVar(&c.InitText, "prompt-init-text", c.InitText, "prompt: text whose tokens initialise the soft prompt (with --prompt-init text)")
}

// methodDefaults describes the per-method defaults of "lr" or "epochs" for
// flag help: "default: the method's: 2e-5; ptuning 0.005, prompt 0.03".
func methodDefaults(what string) string {
	get := func(name string) string {
		d := methods.DefaultsFor(name)
		if what == "lr" {
			return fmt.Sprint(d.LR)
		}
		return fmt.Sprint(d.Epochs)
	}
	full := get("full")
	var others []string
	for _, n := range methods.Names() {
		if v := get(n); v != full {
			others = append(others, n+" "+v)
		}
	}
	s := "default: the method's: " + full
	if len(others) > 0 {
		s += "; " + strings.Join(others, ", ")
	}
	return s
}
