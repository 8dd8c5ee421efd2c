package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/causallm"
	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/method"
)

// runFlags are the flags predict and eval share: the compute backend and
// how the data is read and batched.
type runFlags struct {
	backend       string
	data          data.Options
	maxLen, batch int
}

func (r *runFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&r.backend, "backend", "", "compute backend")
	fs.StringVar(&r.data.TextField, "text-field", "text", "field holding the text (default: the run's text_field when --model is a run's model folder)")
	fs.StringVar(&r.data.TextPairField, "text-pair-field", "", "field holding the second text of a pair (default: the run's)")
	fs.StringVar(&r.data.LabelField, "label-field", "label", "field holding the label (default: the run's)")
	fs.IntVar(&r.maxLen, "max-len", 128, "maximum tokens per example (default: the run's max_len)")
	fs.IntVar(&r.batch, "batch-size", 32, "examples per batch")
}

// classifier is a loaded classification model: an encoder's
// gotune.Predictor or a gotune.DecoderClassifier.
type classifier interface {
	Evaluate(path string, opts data.Options) (map[string]float64, error)
	PredictFile(in, out string, opts data.Options, progress io.Writer) error
}

// sized applies --max-len and --batch-size to a loaded classifier.
func (r *runFlags) sized(c classifier) classifier {
	switch m := c.(type) {
	case *gotune.Predictor:
		m.MaxLen, m.BatchSize = min(r.maxLen, m.Model.Cfg.MaxPositionEmbeddings), r.batch
	case *gotune.DecoderClassifier:
		m.MaxLen, m.BatchSize = r.maxLen, r.batch
	}
	return c
}

// load loads a saved classifier: a decoder classifier when dir holds one,
// an encoder's predictor otherwise.
func (r *runFlags) load(dir string) (classifier, error) {
	if gotune.IsDecoderClassifier(dir) {
		d, err := gotune.LoadDecoderClassifier(dir, r.backend)
		if err != nil {
			return nil, err
		}
		return r.sized(d), nil
	}
	p, err := gotune.LoadPredictor(dir, r.backend)
	if err != nil {
		return nil, err
	}
	return r.sized(p), nil
}

// evaluate evaluates c on the labelled data file path, with a progress
// bar on errOut, and prints the metrics as one JSON line.
func (r *runFlags) evaluate(c classifier, path string, out, errOut io.Writer) error {
	switch m := c.(type) {
	case *gotune.Predictor:
		m.Progress = errOut
	case *gotune.DecoderClassifier:
		m.Progress = errOut
	}
	met, err := r.sized(c).Evaluate(path, r.data)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(met)
	fmt.Fprintln(out, string(b))
	return nil
}

// predict writes c's predictions for the data file in to output.
func (r *runFlags) predict(c classifier, in, output string, out, errOut io.Writer) error {
	if err := r.sized(c).PredictFile(in, output, r.data, errOut); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s\n", output)
	return nil
}

// fromRun takes the data fields and max_len that were not given on the
// command line (fs) from the run whose model folder dir is (RUN/model,
// RUN/config.yaml), so nothing the run recorded needs restating.
func (r *runFlags) fromRun(fs *flag.FlagSet, dir string) error {
	cfg, ok, err := gotune.RunConfig(dir)
	if err != nil || !ok {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["text-field"] && cfg.TextField != "" {
		r.data.TextField = cfg.TextField
	}
	if !set["text-pair-field"] {
		r.data.TextPairField = cfg.TextPairField
	}
	if !set["label-field"] && cfg.LabelField != "" {
		r.data.LabelField = cfg.LabelField
	}
	if !set["max-len"] && cfg.MaxLen > 0 {
		r.maxLen = cfg.MaxLen
	}
	return nil
}

// runModel is the folder whose run settings eval/predict take: the first
// adapter, else --model.
func (a *adapterFlags) runModel() string {
	if len(a.adapters) > 0 {
		return a.adapters[0]
	}
	return a.model
}

// classifierFor loads what eval/predict run: the base with --adapter
// (--base, --use) when adapters are named, else the saved model --model.
func (r *runFlags) classifierFor(a *adapterFlags, errOut io.Writer) (classifier, error) {
	if len(a.adapters) > 0 || a.base != "" || a.use != "" {
		p, err := a.predictor(r.backend, errOut)
		if err != nil {
			return nil, err
		}
		return r.sized(p), nil
	}
	if a.model == "" {
		return nil, fmt.Errorf("need --model (or --adapter)")
	}
	return r.load(a.model)
}

func runEval(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var a adapterFlags
	a.bind(fs)
	path := fs.String("data", "", "labelled data file")
	var r runFlags
	r.bind(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("need --data")
	}
	if err := r.fromRun(fs, a.runModel()); err != nil {
		return err
	}
	c, err := r.classifierFor(&a, errOut)
	if err != nil {
		return err
	}
	return r.evaluate(c, *path, out, errOut)
}

func runPredict(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var a adapterFlags
	a.bind(fs)
	in := fs.String("input", "", "input data file (text or input_ids per record)")
	output := fs.String("output", "", "output JSONL file")
	var r runFlags
	r.bind(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *output == "" {
		return fmt.Errorf("need --input and --output")
	}
	if err := r.fromRun(fs, a.runModel()); err != nil {
		return err
	}
	c, err := r.classifierFor(&a, errOut)
	if err != nil {
		return err
	}
	return r.predict(c, *in, *output, out, errOut)
}

// weightedSpec splits an --adapter DIR:WEIGHT value (weight 1 when absent).
func weightedSpec(s string) (dir string, w float64, err error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return s, 1, nil
	}
	v, err := strconv.ParseFloat(s[i+1:], 64)
	if err != nil {
		return "", 0, fmt.Errorf("--adapter %s: weight %q is not a number", s, s[i+1:])
	}
	return s[:i], v, nil
}

// saveReplacing has save write a folder next to dst and then replaces dst
// with it, so that dst is never left half written.
func saveReplacing(dst string, save func(dir string) error) error {
	tmp := filepath.Clean(dst) + ".tmp"
	os.RemoveAll(tmp)
	defer os.RemoveAll(tmp)
	if err := save(tmp); err != nil {
		return err
	}
	return checkpoint.ReplaceDir(tmp, dst)
}

// loadForPlan loads the model named by --model (a folder or a Hub id) for
// a dry run; two placeholder labels give the model a head without needing
// its own.
func loadForPlan(modelDir string) (m method.Model, modelType string, err error) {
	if modelDir == "" {
		return nil, "", fmt.Errorf("need --model")
	}
	if causallm.IsDecoder(modelDir) {
		path := modelDir
		if !strings.HasSuffix(strings.ToLower(path), ".gguf") {
			if path, err = checkpoint.Resolve(path); err != nil {
				return nil, "", err
			}
		}
		d, err := causallm.Load(path, causallm.CausalLM, nil, 0)
		if err != nil {
			return nil, "", err
		}
		return d, d.ModelType(), nil
	}
	dir, err := checkpoint.Resolve(modelDir)
	if err != nil {
		return nil, "", err
	}
	c, err := classify.Load(dir, []string{"LABEL_0", "LABEL_1"}, 0)
	if err != nil {
		return nil, "", err
	}
	return c, c.Cfg.ModelType, nil
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
