package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/data"
)

func dataFlags(fs *flag.FlagSet, o *data.Options, maxLen, batch *int) {
	fs.StringVar(&o.TextField, "text-field", "text", "field holding the text")
	fs.StringVar(&o.TextPairField, "text-pair-field", "", "field holding the second text of a pair")
	fs.StringVar(&o.LabelField, "label-field", "label", "field holding the label")
	fs.IntVar(maxLen, "max-len", 128, "maximum tokens per example")
	fs.IntVar(batch, "batch-size", 32, "examples per batch")
}

func runEval(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(errOut)
	modelDir := fs.String("model", "", "saved model folder")
	path := fs.String("data", "", "labelled data file")
	backend := fs.String("backend", "", "compute backend")
	var o data.Options
	var maxLen, batch int
	dataFlags(fs, &o, &maxLen, &batch)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelDir == "" || *path == "" {
		return fmt.Errorf("need --model and --data")
	}
	p, err := gotune.LoadPredictor(*modelDir, *backend)
	if err != nil {
		return err
	}
	p.MaxLen, p.BatchSize = min(maxLen, p.Model.Cfg.MaxPositionEmbeddings), batch
	met, err := p.Evaluate(*path, o)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(met)
	fmt.Fprintln(out, string(b))
	return nil
}

func runPredict(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.SetOutput(errOut)
	modelDir := fs.String("model", "", "saved model folder")
	in := fs.String("input", "", "input data file (text or input_ids per record)")
	output := fs.String("output", "", "output JSONL file")
	backend := fs.String("backend", "", "compute backend")
	var o data.Options
	var maxLen, batch int
	dataFlags(fs, &o, &maxLen, &batch)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelDir == "" || *in == "" || *output == "" {
		return fmt.Errorf("need --model, --input and --output")
	}
	p, err := gotune.LoadPredictor(*modelDir, *backend)
	if err != nil {
		return err
	}
	p.MaxLen, p.BatchSize = min(maxLen, p.Model.Cfg.MaxPositionEmbeddings), batch
	if err := p.PredictFile(*in, *output, o, errOut); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s\n", *output)
	return nil
}

func runInspect(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	modelDir := fs.String("model", "", "model folder or Hub id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelDir == "" {
		return fmt.Errorf("need --model")
	}
	return gotune.Inspect(*modelDir, out)
}
