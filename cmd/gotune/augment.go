package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gotune/gotune/augment"
	"github.com/gotune/gotune/data"
)

// runAugment is `gotune augment`: it writes a data file's examples and
// their augmented copies as JSON Lines.
func runAugment(args []string, out, errOut io.Writer) error {
	o := augment.DefaultOptions()
	fs := flag.NewFlagSet("augment", flag.ContinueOnError)
	fs.SetOutput(errOut)
	input := fs.String("input", "", "data file to augment (.jsonl, .json, .csv, .tsv)")
	output := fs.String("output", "", "JSON Lines file to write: every original record, then the augmented copies (labels and other fields kept)")
	textField := fs.String("text-field", "text", "field holding the text (the field augmented)")
	pairField := fs.String("text-pair-field", "", "field holding the second text of a pair (copied unchanged)")
	labelField := fs.String("label-field", "label", "field holding the label (copied unchanged)")
	seed := fs.Int64("seed", 1, "random seed (same seed, same output)")
	fs.StringVar(&o.Method, "method", o.Method, "eda, aeda (punctuation insertion only) or contextual (masked-LM substitution)")
	fs.StringVar(&o.Lang, "lang", o.Lang, "en, ko or auto (Korean when ≥30% of letters are Hangul); Korean keeps every script and defaults to RS+RD+AEDA")
	fs.Float64Var(&o.AlphaSR, "alpha-sr", o.AlphaSR, "eda: synonym replacement rate (-1: the EDA paper's recommendation for the data size)")
	fs.Float64Var(&o.AlphaRI, "alpha-ri", o.AlphaRI, "eda: random insertion rate (-1: recommended)")
	fs.Float64Var(&o.AlphaRS, "alpha-rs", o.AlphaRS, "eda: random swap rate (-1: recommended)")
	fs.Float64Var(&o.PRD, "p-rd", o.PRD, "eda: random deletion probability per word (-1: recommended)")
	fs.IntVar(&o.NumAug, "num-aug", 0, "augmented copies per example (0: recommended for eda, 1 otherwise)")
	aeda := fs.String("aeda", "", "eda: also insert random punctuation (true/false; default true for Korean, false for English)")
	fs.StringVar(&o.Synonyms, "synonyms", "", "synonym dictionary (.tsv/.txt: one group of synonyms per line; .json: word → [synonyms]); needed for Korean SR/RI, replaces WordNet for English")
	fs.StringVar(&o.WordNet, "wordnet", "", "WordNet 3.0 database folder (default: $WNSEARCHDIR or /usr/share/wordnet, from apt-get install wordnet-base)")
	fs.StringVar(&o.Model, "model", "", "contextual: BERT masked-LM folder (with its cls.predictions head)")
	fs.Float64Var(&o.P, "p", o.P, "contextual: fraction of words masked and replaced")
	fs.IntVar(&o.K, "k", o.K, "contextual: draw each replacement from the top-k whole-word predictions")
	fs.StringVar(&o.Backend, "backend", "", "contextual: compute backend (default $GOMLX_BACKEND or go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *input == "" || *output == "" {
		return fmt.Errorf("set --input and --output")
	}
	switch *aeda {
	case "":
	case "true", "1":
		o.AEDA = 1
	case "false", "0":
		o.AEDA = 0
	default:
		return fmt.Errorf("--aeda %q: want true or false", *aeda)
	}
	ex, err := data.ReadFile(*input, data.Options{TextField: *textField, TextPairField: *pairField, LabelField: *labelField}, false)
	if err != nil {
		return err
	}
	a, err := augment.New(o, augment.Texts(ex))
	if err != nil {
		return err
	}
	all, err := augment.Examples(ex, a, *textField, *seed)
	if err != nil {
		return err
	}
	f, err := os.Create(*output)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range all {
		if err := enc.Encode(e.Raw); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", e.Source, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s, %d copies each: %d → %d examples written to %s\n", a.Name(), a.Copies(), len(ex), len(all), *output)
	return nil
}
