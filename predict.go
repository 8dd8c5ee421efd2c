package gotune

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/engine"
	"github.com/gotune/gotune/method/adapter"
	"github.com/gotune/gotune/method/feature"
	"github.com/gotune/gotune/method/lora"
	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/methods"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/tokenizer"
)

// Predictor runs a saved model (whatever method produced it) on data.
type Predictor struct {
	// Model is the loaded classifier.
	Model  *classify.Classifier
	tok    *tokenizer.Tokenizer
	runner *classify.Runner
	// MaxLen is the truncation length (default 128, capped by the model).
	MaxLen int
	// BatchSize is the inference batch size (default 32).
	BatchSize int
	// Progress, when not nil, receives Evaluate's progress bar.
	Progress io.Writer
	// be and adapters (LoRA or bottleneck adapters on the base, nil
	// otherwise) let Use switch adapters without reloading the base.
	be       compute.Backend
	adapters adapterSet
}

// adapterSet is a hook holding several adapters on one base (lora.Hook,
// adapter.Hook).
type adapterSet interface {
	Names() []string
	Use(setup string) error
}

// LoadPredictor loads a model saved by a run (or any Hugging Face
// sequence-classification folder) on the named backend ("" for default).
func LoadPredictor(dir, backend string) (*Predictor, error) {
	if hint := runFolderHint(dir); hint != "" {
		return nil, fmt.Errorf("%s", hint)
	}
	dir, err := checkpoint.Resolve(dir)
	if err != nil {
		return nil, err
	}
	mi, err := readMethodInfo(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, lora.ConfigFile)); err == nil && mi.Method == "full" {
		mi.Method = "lora" // a PEFT adapter folder
		if adapter.IsFolder(dir) {
			mi.Method = "adapter" // an AdapterHub bottleneck adapter folder
		}
		if k := ptuning.AdapterKind(dir); k != "" {
			mi.Method = k // a PEFT prefix or prompt adapter
		}
	}
	var m *classify.Classifier
	tokDir := dir
	switch mi.Method {
	case "lora", "adapter":
		return LoadAdapters("", []string{dir}, backend, nil)
	case ptuning.Prefix, ptuning.Prompt:
		return LoadPromptAdapter("", dir, backend, nil)
	case "full", "freeze":
		if m, err = classify.Load(dir, nil, 0); err != nil {
			return nil, err
		}
	case "feature":
		meth, base, id2label, head, err := feature.Load(dir)
		if err != nil {
			return nil, err
		}
		ls, err := data.LabelSetFromConfig(id2label)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, feature.ConfigFile), err)
		}
		if m, err = classify.Load(base, ls.Names, 0); err != nil {
			return nil, fmt.Errorf("loading the base model of %s: %w", dir, err)
		}
		if err := meth.Attach(m, head); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		m.NewHead = nil
		tokDir = base
	default:
		return nil, fmt.Errorf("%s was saved by method %q, which this build cannot load", dir, mi.Method)
	}
	if len(m.NewHead) > 0 {
		return nil, fmt.Errorf("%s has no trained classification head (missing %s): train it first", dir, m.NewHead[0])
	}
	return newPredictor(m, tokDir, backend)
}

func newPredictor(m *classify.Classifier, tokDir, backend string) (*Predictor, error) {
	var tok *tokenizer.Tokenizer
	var err error
	if hasTokenizer(tokDir) {
		if tok, err = tokenizer.Load(tokDir); err != nil {
			return nil, err
		}
	}
	be, err := engine.New(backend)
	if err != nil {
		return nil, err
	}
	r, err := m.NewRunner(be)
	if err != nil {
		return nil, err
	}
	return &Predictor{Model: m, tok: tok, runner: r, be: be, MaxLen: min(128, m.Cfg.MaxPositionEmbeddings), BatchSize: 32}, nil
}

// LoadPromptAdapter loads a base model (base "" = the adapter's
// base_model_name_or_path) with a prefix-tuning or prompt-tuning adapter
// folder (PEFT's, or a ptuning/prompt run's model folder) for prediction.
func LoadPromptAdapter(base, dir, backend string, warn func(string)) (*Predictor, error) {
	m, _, err := ptuning.LoadModel(base, dir, warn)
	if err != nil {
		return nil, err
	}
	if len(m.NewHead) > 0 {
		return nil, fmt.Errorf("adapter %s saves no classification head and the base model %s has none", dir, m.Dir)
	}
	return newPredictor(m, m.Dir, backend)
}

// maxLen is the truncation length: MaxLen, less the positions virtual
// tokens take.
func (p *Predictor) maxLen() int {
	limit := p.Model.Cfg.MaxPositionEmbeddings
	for _, h := range p.Model.Hooks {
		if v, ok := h.(interface{ VirtualTokens() int }); ok {
			limit -= v.VirtualTokens()
		}
	}
	return max(1, min(p.MaxLen, limit))
}

// LoadAdapters loads a base model with LoRA adapter folders (each "DIR" or
// "NAME=DIR"; a PEFT adapter or a LoRA run's model folder) for prediction;
// base "" takes the first adapter's base_model_name_or_path. The first
// adapter is active; Use switches. warn, when not nil, receives warnings
// (unknown adapter_config.json keys).
func LoadAdapters(base string, adapters []string, backend string, warn func(string)) (*Predictor, error) {
	if len(adapters) == 0 {
		return nil, fmt.Errorf("no adapter given")
	}
	kinds := make([]string, len(adapters))
	for i, s := range adapters {
		var err error
		if kinds[i], err = AdapterKind(s); err != nil {
			return nil, err
		}
		if kinds[i] != kinds[0] {
			return nil, fmt.Errorf("adapters %s (%s) and %s (%s) are of different kinds; load them separately", adapters[0], kinds[0], s, kinds[i])
		}
	}
	var m *classify.Classifier
	var h adapterSet
	var err error
	switch kinds[0] {
	case ptuning.Prefix, ptuning.Prompt:
		if len(adapters) > 1 {
			return nil, fmt.Errorf("%s adapters load one at a time (given %d)", kinds[0], len(adapters))
		}
		_, dir := adapter.Spec(adapters[0])
		return LoadPromptAdapter(base, dir, backend, warn)
	case "adapter": // AdapterHub bottleneck adapters
		m, h, err = adapter.LoadModel(base, adapters, methods.AdapterModules, warn)
	default:
		m, h, err = lora.LoadModel(base, adapters, warn)
	}
	if err != nil {
		return nil, err
	}
	if len(m.NewHead) > 0 {
		return nil, fmt.Errorf("adapter %s saves no classification head and the base model %s has none", adapters[0], m.Dir)
	}
	p, err := newPredictor(m, m.Dir, backend)
	if err != nil {
		return nil, err
	}
	p.adapters = h
	return p, nil
}

// AdapterKind tells what an adapter folder ("DIR" or "NAME=DIR") holds:
// "lora", "adapter" (AdapterHub bottleneck adapters), or a PEFT prefix- or
// prompt-tuning adapter (ptuning.Prefix, ptuning.Prompt), from
// adapter_config.json's peft_type or AdapterHub's "config" object. A folder
// without adapter_config.json is an error saying what it is instead (a run
// folder, a whole model).
func AdapterKind(spec string) (string, error) {
	_, dir := adapter.Spec(spec)
	if _, err := os.Stat(filepath.Join(dir, lora.ConfigFile)); err != nil {
		if _, err := os.Stat(dir); err != nil {
			return "", fmt.Errorf("adapter folder %s does not exist", dir)
		}
		if hint := runFolderHint(dir); hint != "" {
			return "", fmt.Errorf("%s", hint)
		}
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
			return "", fmt.Errorf("%s is a whole model, not an adapter folder (no %s): pass it as --model", dir, lora.ConfigFile)
		}
		return "", fmt.Errorf("%s is not an adapter folder (no %s)", dir, lora.ConfigFile)
	}
	if adapter.IsFolder(dir) {
		return "adapter", nil
	}
	if k := ptuning.AdapterKind(dir); k != "" {
		return k, nil
	}
	return "lora", nil
}

// runFolderHint returns a message when dir is a run folder (config.yaml
// and model/) rather than the model folder inside it, else "".
func runFolderHint(dir string) string {
	_, errCfg := os.Stat(filepath.Join(dir, ConfigFile))
	_, errModel := os.Stat(filepath.Join(dir, ModelDirName))
	if errCfg == nil && errModel == nil {
		return fmt.Sprintf("%s is a run folder: pass its model folder, %s", dir, filepath.Join(dir, ModelDirName))
	}
	return ""
}

// Adapters lists the LoRA or bottleneck adapters loaded on the
// predictor's base (nil for other models).
func (p *Predictor) Adapters() []string {
	if p.adapters == nil {
		return nil
	}
	return p.adapters.Names()
}

// Use switches the active adapter (bottleneck adapters also take a stack,
// "a+b"); the base weights stay loaded, only the graphs are rebuilt.
func (p *Predictor) Use(name string) error {
	if p.adapters == nil {
		return fmt.Errorf("--use %s: the model has no adapters", name)
	}
	if err := p.adapters.Use(name); err != nil {
		return err
	}
	r, err := p.Model.NewRunner(p.be)
	if err != nil {
		return err
	}
	p.runner = r
	return nil
}

func hasTokenizer(dir string) bool {
	for _, f := range []string{"tokenizer.json", "vocab.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

func (p *Predictor) labels() (*data.LabelSet, error) {
	return data.LabelSetFromConfig(p.Model.Cfg.ID2Label)
}

func (p *Predictor) pad() int32 {
	if p.tok != nil {
		return p.tok.PadID()
	}
	return int32(p.Model.Cfg.PadTokenID)
}

// Evaluate computes loss, accuracy and macro-F1 on a labelled data file.
func (p *Predictor) Evaluate(path string, opts data.Options) (map[string]float64, error) {
	ex, err := data.ReadFile(path, opts, true)
	if err != nil {
		return nil, err
	}
	ls, err := p.labels()
	if err != nil {
		return nil, err
	}
	if err := data.CheckLabels(ex, ls, path); err != nil {
		return nil, err
	}
	enc, err := encode(p.tok, ex, ls, p.maxLen())
	if err != nil {
		return nil, err
	}
	met, _, err := evaluateEncoded(p.runner, enc, data.DefaultBuckets(p.maxLen()), p.pad(), p.BatchSize, ls.Len(), p.Progress)
	return met, err
}

// Prediction is one output record of Predict.
type Prediction struct {
	Label  string
	Probs  map[string]float64
	Logits []float32
}

// PredictFile classifies every record of in and writes JSONL to out: each
// input record with "label", "probs" and "logits" added. progress, when not
// nil, receives a progress bar.
func (p *Predictor) PredictFile(in, out string, opts data.Options, progress io.Writer) error {
	ex, err := data.ReadFile(in, opts, false)
	if err != nil {
		return err
	}
	ls, err := p.labels()
	if err != nil {
		return err
	}
	enc, err := encode(p.tok, ex, nil, p.maxLen())
	if err != nil {
		return err
	}
	logits, err := predictLogits(p.runner, enc, data.DefaultBuckets(p.maxLen()), p.pad(), p.BatchSize, ls.Len(), progress)
	if err != nil {
		return err
	}
	return writePredictions(ex, logits, ls.Names, out)
}

// predictLogits returns the logits of every encoded example, in order,
// running batches of batchSize; progress, when not nil, receives a
// progress bar.
func predictLogits(ev evaluator, enc []data.Encoded, buckets []int, pad int32, batchSize, numLabels int, progress io.Writer) ([][]float32, error) {
	var prog *runlog.Progress
	if progress != nil {
		prog = runlog.NewProgress(progress, "predict", len(enc))
	}
	logits := make([][]float32, len(enc))
	for start := 0; start < len(enc); start += batchSize * 8 {
		end := min(len(enc), start+batchSize*8)
		_, l, err := evaluateEncoded(ev, enc[start:end], buckets, pad, batchSize, numLabels, nil)
		if err != nil {
			return nil, err
		}
		copy(logits[start:end], l)
		if prog != nil {
			prog.Update(end)
		}
	}
	if prog != nil {
		prog.Done()
	}
	return logits, nil
}

// writePredictions writes JSONL to out (through a temporary file renamed
// into place): each input record with "label", "probs" and "logits" added.
func writePredictions(ex []data.Example, logits [][]float32, labels []string, out string) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	for i, e := range ex {
		rec := map[string]any{}
		for k, v := range e.Raw {
			rec[k] = v
		}
		probs := softmax(logits[i])
		pm := map[string]float64{}
		for c, pr := range probs {
			pm[labels[c]] = pr
		}
		rec["label"] = labels[argmax(logits[i])]
		rec["probs"] = pm
		rec["logits"] = logits[i]
		b, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Source, err)
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), checkpoint.FileMode); err != nil { // CreateTemp makes it 0600
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return os.Rename(tmp.Name(), out)
}
