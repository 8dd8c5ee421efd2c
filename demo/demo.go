// Package demo is `gotune demo`: an offline, few-minute tour of gotune that
// needs no download. No pretrained weights ship with gotune, so the demo
// makes its own small base model, honestly and in the open:
//
//  1. It generates English product, film and restaurant reviews from
//     templates (Reviews): positive and negative adjectives, intensifiers,
//     negation ("not bad"), concessions ("although the plot was dull, i
//     loved the acting") and neutral filler. The label is the review's
//     overall opinion, which no single word decides.
//  2. It builds a WordPiece vocabulary from the text (pretrain.BuildVocab) and a tiny
//     BERT config (2 layers, hidden 64 by default).
//  3. It pretrains that BERT from scratch with masked-language modelling
//     (BERT's 15% masking, 80/10/10) on unlabelled reviews and saves it as a
//     Hugging Face BertForMaskedLM folder.
//  4. It fine-tunes it on a small labelled set with gotune.Train, and the
//     same architecture from its random initialisation, and prints a table
//     comparing them: what pretraining bought.
//
// Everything is derived from Options.Seed, so a run is reproducible; every
// file it writes (data, vocabulary, both base models, each fine-tuning run
// folder) stays in Options.Out for inspection.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gotune/gotune"
	"github.com/gotune/gotune/augment"
	"github.com/gotune/gotune/pretrain"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/tokenizer"
)

// Options configure the demo. DefaultOptions is what `gotune demo` runs;
// QuickOptions is a seconds-long version for tests.
type Options struct {
	// Out is the work folder. It is created if needed and must be empty or
	// hold an earlier demo (which is replaced).
	Out string
	// Seed drives everything random: the corpus, initial weights, masking,
	// data order and dropout.
	Seed int64
	// Backend is the compute backend ("" for gotune's default).
	Backend string
	// Model is the size of the BERT pretrained from scratch.
	Model pretrain.ModelSize

	// PretrainReviews is the number of unlabelled reviews for masked-LM
	// pretraining; HeldOutReviews more measure its loss before and after.
	PretrainReviews, HeldOutReviews int
	// PretrainSteps, PretrainBatch and PretrainLR set the masked-LM
	// optimisation (AdamW, 10% warmup then linear decay).
	PretrainSteps, PretrainBatch int
	PretrainLR                   float64
	// MaskRate is the fraction of tokens masked (BERT: 0.15).
	MaskRate float64

	// TrainExamples and DevExamples are the sizes of the labelled sets.
	TrainExamples, DevExamples int
	// Methods are the fine-tuning methods compared, one table row each from
	// the pretrained base; "full" also runs from random initialisation, to
	// show what pretraining bought.
	Methods []string
	// Epochs, LR and BatchSize set fine-tuning (gotune.Train).
	Epochs    int
	LR        float64
	BatchSize int
}

// DefaultOptions returns the settings of `gotune demo`: about three minutes
// on two CPU cores.
func DefaultOptions() Options {
	return Options{
		Seed:            42,
		Model:           pretrain.ModelSize{Layers: 2, Hidden: 64, Heads: 4, Intermediate: 128, MaxPositions: 64},
		PretrainReviews: 20000, HeldOutReviews: 512,
		PretrainSteps: 400, PretrainBatch: 64, PretrainLR: 2e-3, MaskRate: 0.15,
		TrainExamples: 300, DevExamples: 600,
		Methods: []string{"full", "freeze", "feature", "lora", "adapter", "ptuning", "full+eda"},
		Epochs:  20, LR: 3e-3, BatchSize: 32,
	}
}

// QuickOptions returns a version of the demo small enough for tests (a few
// seconds): a 1-layer model, little pretraining, small data sets.
func QuickOptions() Options {
	o := DefaultOptions()
	o.Model = pretrain.ModelSize{Layers: 1, Hidden: 32, Heads: 2, Intermediate: 64, MaxPositions: 64}
	o.PretrainReviews, o.HeldOutReviews = 2000, 128
	o.PretrainSteps, o.PretrainBatch = 100, 32
	o.TrainExamples, o.DevExamples = 400, 200
	o.Epochs = 10
	o.Methods = []string{"full", "feature", "lora"} // each method has its own tests; this keeps the demo's test short
	return o
}

// Row is one fine-tuning run of the comparison table.
type Row struct {
	// Method is the fine-tuning method; Base "pretrained" or "random init".
	Method, Base string
	// TrainableParams counts the weights the method trained.
	TrainableParams int64
	// DevAccuracy is the dev-set accuracy of the kept (best) model.
	DevAccuracy float64
	// TrainTime is the wall time of training and evaluation.
	TrainTime time.Duration
	// PeakRSS is the process's peak resident memory during the run, in
	// bytes (0 where it cannot be measured).
	PeakRSS int64
	// RunDir is the run folder.
	RunDir string
}

// Report is what a demo run measured.
type Report struct {
	// Out is the work folder.
	Out string
	// VocabSize is the size of the generated WordPiece vocabulary.
	VocabSize int
	// PretrainParams is the size of the BertForMaskedLM that was pretrained.
	PretrainParams int64
	// Before and After score the masked-LM on held-out reviews before and
	// after pretraining.
	Before, After pretrain.Score
	// PretrainTime is the wall time of pretraining.
	PretrainTime time.Duration
	// PretrainedDir and RandomDir are the two base models (Hugging Face
	// folders).
	PretrainedDir, RandomDir string
	// Rows are the fine-tuning runs, in table order.
	Rows []Row
}

// markerFile marks a folder as a demo work folder (so it may be replaced).
const markerFile = "gotune-demo.json"

// Run runs the demo and narrates it to w.
func Run(ctx context.Context, o Options, w io.Writer) (*Report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := prepareOut(o.Out); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{Out: o.Out}
	say := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	say("gotune demo: everything runs offline on this machine; work folder %s\n\n", o.Out)

	// 1. Corpus.
	seed := uint64(o.Seed)
	pretrainText := Reviews(o.PretrainReviews, seed*4+1)
	heldOut := Reviews(o.HeldOutReviews, seed*4+2)
	trainSet := Reviews(o.TrainExamples, seed*4+3)
	devSet := Reviews(o.DevExamples, seed*4+4)
	dataDir := filepath.Join(o.Out, "data")
	trainPath, devPath := filepath.Join(dataDir, "train.jsonl"), filepath.Join(dataDir, "dev.jsonl")
	if err := writeJSONL(trainPath, trainSet); err != nil {
		return nil, err
	}
	if err := writeJSONL(devPath, devSet); err != nil {
		return nil, err
	}
	if err := writeLines(filepath.Join(dataDir, "pretrain.txt"), pretrainText); err != nil {
		return nil, err
	}
	say("1. Data: generated %d unlabelled reviews for pretraining and a labelled sentiment task\n", len(pretrainText))
	say("   (%d train, %d dev; positive/negative) from templates with negation and concessions, e.g.\n", len(trainSet), len(devSet))
	for _, r := range trainSet[:3] {
		say("     %-8s %s\n", r.Label(), r.Text)
	}
	say("   files: %s\n\n", dataDir)

	// 2. Vocabulary, config, initial weights.
	texts := make([]string, 0, len(pretrainText)+len(trainSet)+len(devSet))
	for _, set := range [][]Review{pretrainText, trainSet, devSet} {
		for _, r := range set {
			texts = append(texts, r.Text)
		}
	}
	tok := tokenizer.NewWordPiece(pretrain.BuildVocab(texts, pretrain.VocabOptions{LowerCase: true}), true)
	cfg := pretrain.NewConfig(o.Model, tok.VocabSize())
	rep.VocabSize = tok.VocabSize()
	p, err := pretrain.NewMLMParams(cfg, seed)
	if err != nil {
		return nil, err
	}
	rep.RandomDir = filepath.Join(o.Out, "base", "random-init")
	if err := pretrain.SaveMLM(rep.RandomDir, cfg, p, tok); err != nil {
		return nil, err
	}
	total, _ := p.Count()
	rep.PretrainParams = total
	say("2. Model: a WordPiece vocabulary of %d tokens (whole words plus single characters) and a tiny BERT:\n", tok.VocabSize())
	say("   %s, hidden %d, %d heads, intermediate %d, up to %d tokens — %s parameters with the MLM head.\n",
		count(cfg.NumHiddenLayers, "layer"), cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize, cfg.MaxPositionEmbeddings, thousands(total))
	say("   Its random initialisation is saved too, as the no-pretraining baseline: %s\n\n", rep.RandomDir)

	// 3. Masked-LM pretraining.
	say("3. Pretraining the %d-layer BERT from scratch with masked-language modelling on the %d unlabelled reviews\n", cfg.NumHiddenLayers, len(pretrainText))
	say("   (%.0f%% of tokens chosen; of those 80%% → [MASK], 10%% → a random word, 10%% unchanged), %d steps of %d reviews.\n",
		o.MaskRate*100, o.PretrainSteps, o.PretrainBatch)
	pre := time.Now()
	resetPeakRSS()
	po := pretrain.Options{Steps: o.PretrainSteps, Batch: o.PretrainBatch, LR: o.PretrainLR, MaskRate: o.MaskRate, Seed: o.Seed, Backend: o.Backend}
	if rep.Before, rep.After, err = pretrain.Train(ctx, po, cfg, p, tok, reviewTexts(pretrainText), reviewTexts(heldOut), indent(w)); err != nil {
		return nil, err
	}
	rep.PretrainTime = time.Since(pre)
	rep.PretrainedDir = filepath.Join(o.Out, "base", "pretrained")
	if err := pretrain.SaveMLM(rep.PretrainedDir, cfg, p, tok); err != nil {
		return nil, err
	}
	say("   held-out masked-token loss %.3f → %.3f, accuracy %.1f%% → %.1f%% (uniform guessing: loss %.2f)\n",
		rep.Before.Loss, rep.After.Loss, 100*rep.Before.Accuracy, 100*rep.After.Accuracy, math.Log(float64(tok.VocabSize())))
	say("   took %s; saved as a Hugging Face BertForMaskedLM folder: %s\n\n", runlog.FormatDuration(rep.PretrainTime), rep.PretrainedDir)

	// 4. Fine-tuning, from each base with each method.
	bases := []struct{ name, slug, dir string }{
		{"pretrained", "pretrained", rep.PretrainedDir},
		{"random init", "random-init", rep.RandomDir},
	}
	say("4. Fine-tuning on the %d labelled reviews (%d epochs, lr %g, batch %d), from the pretrained model and,\n", len(trainSet), o.Epochs, o.LR, o.BatchSize)
	say("   for comparison, from the same architecture's random initialisation — the same gotune.Train as `gotune train`:\n")
	for _, m := range o.Methods {
		for i, b := range bases {
			if i > 0 && m != "full" {
				continue // the random-init comparison is for full fine-tuning only
			}
			say("\n   == method %s, base %s ==\n", m, b.name)
			row, err := finetune(ctx, o, m, b.name, b.dir, filepath.Join(o.Out, "runs", m+"-"+b.slug), trainPath, devPath, w)
			if err != nil {
				return nil, fmt.Errorf("fine-tuning (%s, %s): %w", m, b.name, err)
			}
			rep.Rows = append(rep.Rows, row)
		}
	}

	say("\nResults on %d dev reviews (chance: 50%%):\n\n", len(devSet))
	writeTable(w, rep.Rows)
	say("\nDev accuracy is that of the kept model (best of the per-epoch evaluations); peak memory is the process's\n")
	say("resident peak during that run. Each run folder has its metrics, loss plot and the `gotune train` command\n")
	say("that reproduces it (command.txt). Total demo time %s.\n", runlog.FormatDuration(time.Since(start)))
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Out, markerFile), b, 0o644); err != nil {
		return nil, err
	}
	return rep, nil
}

func (o *Options) validate() error {
	switch {
	case o.Out == "":
		return errors.New("demo: no work folder (Options.Out)")
	case o.Model.Layers < 1 || o.Model.Hidden < 1 || o.Model.Heads < 1 || o.Model.Intermediate < 1 || o.Model.MaxPositions < 16:
		return fmt.Errorf("demo: model size %+v: every field must be positive and MaxPositions ≥ 16", o.Model)
	case o.Model.Hidden%o.Model.Heads != 0:
		return fmt.Errorf("demo: hidden size %d is not a multiple of heads %d", o.Model.Hidden, o.Model.Heads)
	case o.PretrainReviews < 1 || o.HeldOutReviews < 1 || o.TrainExamples < 2 || o.DevExamples < 1:
		return errors.New("demo: every data set needs at least one review (two for training)")
	case o.PretrainSteps < 1 || o.PretrainBatch < 1 || o.PretrainLR <= 0:
		return errors.New("demo: pretraining needs positive steps, batch size and learning rate")
	case o.MaskRate <= 0 || o.MaskRate >= 1:
		return fmt.Errorf("demo: mask rate must be in (0, 1), got %g", o.MaskRate)
	case len(o.Methods) == 0:
		return errors.New("demo: no fine-tuning methods")
	}
	return nil
}

// prepareOut makes dir an empty work folder, replacing an earlier demo's.
func prepareOut(dir string) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
			return fmt.Errorf("demo: %s is not empty and is not an earlier demo's work folder (no %s); choose another --out", dir, markerFile)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("demo: clearing %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	// Mark it at once, so an interrupted demo's folder can be reused.
	return os.WriteFile(filepath.Join(dir, markerFile), []byte("{}\n"), 0o644)
}

func reviewTexts(rs []Review) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Text
	}
	return out
}

// finetune runs gotune.Train for one table row.
func finetune(ctx context.Context, o Options, method, base, baseDir, out, trainPath, devPath string, w io.Writer) (Row, error) {
	cfg := gotune.DefaultConfig()
	cfg.Model, cfg.Train, cfg.Eval, cfg.Out = baseDir, trainPath, devPath, out
	name, aug, _ := strings.Cut(method, "+") // "full+eda": full fine-tuning on EDA-augmented data
	cfg.Method, cfg.Epochs, cfg.LR, cfg.BatchSize = name, o.Epochs, o.LR, o.BatchSize
	cfg.MaxLen, cfg.Seed, cfg.Backend = o.Model.MaxPositions, o.Seed, o.Backend
	cfg.WarmupRatio, cfg.WeightDecay, cfg.Overwrite = 0.1, 0.01, true
	switch method {
	case "freeze": // train the top layer, pooler and head; embeddings and the layers below stay frozen
		cfg.TrainLast = 1
	case "feature": // a linear head on the mean of the frozen encoder's last hidden states
		cfg.Feature.Pooling = "mean"
		cfg.Epochs *= 2
		cfg.LR *= 3
	case "lora": // rank 8 on query and value, PEFT's default targets
		cfg.LoRA.R, cfg.LoRA.Alpha = 8, 16
	case "adapter": // Pfeiffer bottleneck adapters, reduction factor 16 (AdapterHub's seq_bn)
		cfg.Adapter.Placement = "pfeiffer"
	case "ptuning": // P-Tuning v2: 10 virtual key/value positions in every layer
		cfg.PTuning.NumVirtualTokens = 10
		cfg.LR *= 3
	}
	if aug == "eda" {
		// EDA; synonym replacement/insertion need WordNet (Debian
		// wordnet-base) and are left out when it is not installed.
		// 4 copies per review (the paper's 16 would make this row 17× the
		// others' work), and a fifth of the epochs, so it trains as many
		// steps as the plain full row.
		cfg.Augment = "eda:n=4"
		if _, err := augment.FindWordNet(""); err != nil {
			cfg.Augment = "eda:n=4,sr=0,ri=0"
		}
		cfg.Epochs = max(1, cfg.Epochs/5)
	}
	resetPeakRSS()
	res, err := gotune.Train(ctx, cfg, indent(w))
	if err != nil {
		return Row{}, err
	}
	if cfg.Augment != "" {
		method += " (" + cfg.Augment + ")"
	}
	return Row{Method: method, Base: base, TrainableParams: res.TrainableParams, DevAccuracy: res.Best["accuracy"],
		TrainTime: res.TrainTime, PeakRSS: res.PeakRSS, RunDir: out}, nil
}

// writeTable prints the comparison, one row per run.
func writeTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "  method\tbase\ttrainable params\tdev accuracy\ttrain time\tpeak memory")
	for _, r := range rows {
		mem := "n/a"
		if r.PeakRSS > 0 {
			mem = runlog.FormatBytes(r.PeakRSS)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%.1f%%\t%s\t%s\n", r.Method, r.Base, thousands(r.TrainableParams),
			100*r.DevAccuracy, runlog.FormatDuration(r.TrainTime), mem)
	}
	tw.Flush()
}

// count returns "1 layer", "2 layers".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// resetPeakRSS restarts the kernel's peak-RSS counter (Linux; elsewhere it
// does nothing), so that runlog.PeakRSS measures from now on.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// indent returns a writer that prefixes each line written to w.
func indent(w io.Writer) io.Writer { return &indenter{w: w, prefix: "     ", bol: true} }

type indenter struct {
	w      io.Writer
	prefix string
	bol    bool
}

func (d *indenter) Write(b []byte) (int, error) {
	var sb strings.Builder
	for _, c := range string(b) {
		if d.bol && c != '\n' {
			sb.WriteString(d.prefix)
		}
		sb.WriteRune(c)
		d.bol = c == '\n'
	}
	if _, err := io.WriteString(d.w, sb.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// writeJSONL writes labelled reviews as {"text": ..., "label": ...} lines.
func writeJSONL(path string, rs []Review) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var sb strings.Builder
	for _, r := range rs {
		b, err := json.Marshal(map[string]string{"text": r.Text, "label": r.Label()})
		if err != nil {
			return err
		}
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// writeLines writes the reviews' texts, one a line.
func writeLines(path string, rs []Review) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Join(reviewTexts(rs), "\n")+"\n"), 0o644)
}
