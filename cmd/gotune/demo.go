package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gotune/gotune/demo"
)

const demoUsage = `Usage: gotune demo [--out DIR] [--seed N] [--quick]

The built-in offline demo, a few minutes on a laptop CPU. It generates a
corpus of English reviews, builds a WordPiece vocabulary and a tiny BERT,
pretrains it from scratch with masked-language modelling, then fine-tunes
it on a labelled sentiment task — and, for comparison, the same model from
random initialisation — and prints a table of the results. Nothing is
downloaded. With --out the runs stay in that folder; without it they go to
a temporary folder that is removed at the end.

Flags:
`

func runDemo(ctx context.Context, args []string, out io.Writer) error {
	o := demo.DefaultOptions()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), demoUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Out, "out", "", "work folder, kept (default: a temporary folder under "+os.TempDir()+", removed at the end)")
	fs.Int64Var(&o.Seed, "seed", o.Seed, "random seed for the corpus, weights, masking and data order")
	quick := fs.Bool("quick", false, "a seconds-long version with a smaller model and data (for tests)")
	fs.StringVar(&o.Backend, "backend", "", "compute backend (default $GOMLX_BACKEND or go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *quick {
		q := demo.QuickOptions()
		q.Out, q.Seed, q.Backend = o.Out, o.Seed, o.Backend
		o = q
	}
	if o.Out == "" {
		dir, err := os.MkdirTemp("", "gotune-demo-")
		if err != nil {
			return err
		}
		defer func() {
			os.RemoveAll(dir)
			fmt.Fprintf(out, "removed the work folder %s (pass --out DIR to keep the runs)\n", dir)
		}()
		o.Out = dir
	}
	_, err := demo.Run(ctx, o, out)
	return err
}
