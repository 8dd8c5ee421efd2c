package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/data"
	"github.com/gotune/gotune/pretrain"
	"github.com/gotune/gotune/runlog"
	"github.com/gotune/gotune/tokenizer"
)

const pretrainUsage = `gotune pretrain trains a small BERT from scratch with masked-language modelling
on unlabelled text and saves it as a Hugging Face BertForMaskedLM folder, a base
that every method (and contextual augmentation) can use. It is for text no
pretrained base you have can read: a language (say, Korean with an English-only
BERT), or a domain's jargon. It is not a substitute for a real pretrained model.

  gotune pretrain --text corpus.txt --out ko-bert [--layers 2 --hidden 128 --steps 2000]

Flags:
`

// pretrainInfo is what gotune_pretrain.json records in the saved folder.
type pretrainInfo struct {
	Text          string             `json:"text"`
	TrainTexts    int                `json:"train_texts"`
	HeldOutTexts  int                `json:"held_out_texts"`
	VocabSize     int                `json:"vocab_size"`
	LowerCase     bool               `json:"lower_case"`
	Model         pretrain.ModelSize `json:"model"`
	Options       pretrain.Options   `json:"options"`
	Params        int64              `json:"params"`
	HeldOutBefore pretrain.Score     `json:"held_out_before"`
	HeldOutAfter  pretrain.Score     `json:"held_out_after"`
	Seconds       float64            `json:"seconds"`
}

// runPretrain is `gotune pretrain`.
func runPretrain(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), pretrainUsage)
		fs.PrintDefaults()
	}
	textPath := fs.String("text", "", "unlabelled text: a .txt file (one text a line) or a data file (.jsonl, .json, .csv, .tsv) with --text-field")
	textField := fs.String("text-field", "text", "field holding the text in a data file")
	outDir := fs.String("out", "", "folder to write the model to (must not exist, or be empty)")
	heldOut := fs.Int("held-out", 1000, "texts held out to score the masked LM before and after (at most a tenth of the texts)")
	size := pretrain.ModelSize{Layers: 2, Hidden: 128, Heads: 4, Intermediate: 512, MaxPositions: 64}
	fs.IntVar(&size.Layers, "layers", size.Layers, "encoder layers")
	fs.IntVar(&size.Hidden, "hidden", size.Hidden, "hidden size (a multiple of --heads)")
	fs.IntVar(&size.Heads, "heads", size.Heads, "attention heads")
	fs.IntVar(&size.Intermediate, "intermediate", size.Intermediate, "feed-forward size")
	fs.IntVar(&size.MaxPositions, "max-len", size.MaxPositions, "longest input in tokens (max_position_embeddings); longer texts are truncated")
	var vo pretrain.VocabOptions
	fs.IntVar(&vo.Size, "vocab-size", 16000, "vocabulary size cap (special tokens and characters always fit; the most frequent words fill the rest)")
	fs.IntVar(&vo.MinCharCount, "min-char-count", 2, "characters seen fewer times become [UNK]")
	fs.BoolVar(&vo.LowerCase, "lower-case", false, "uncased model (lower-case, strip accents); leave off for Korean and other scripts accent stripping breaks up")
	o := pretrain.Options{Steps: 2000, Batch: 64, LR: 1e-3, MaskRate: 0.15, Seed: 42}
	fs.IntVar(&o.Steps, "steps", o.Steps, "optimisation steps")
	fs.IntVar(&o.Batch, "batch-size", o.Batch, "texts per step")
	fs.Float64Var(&o.LR, "lr", o.LR, "peak learning rate (AdamW; 10% warmup, then linear decay)")
	fs.Float64Var(&o.MaskRate, "mask-rate", o.MaskRate, "fraction of tokens masked")
	fs.Int64Var(&o.Seed, "seed", o.Seed, "random seed (held-out split, weights, masking, data order)")
	fs.StringVar(&o.Backend, "backend", "", "compute backend (default $GOMLX_BACKEND or go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *textPath == "" || *outDir == "" {
		return errors.New("set --text and --out")
	}
	if err := checkModelSize(size); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if entries, err := os.ReadDir(*outDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("--out %s exists and is not empty; choose a new folder", *outDir)
	}
	texts, err := readTexts(*textPath, *textField)
	if err != nil {
		return err
	}
	if len(texts) < 20 {
		return fmt.Errorf("%s: %d non-empty texts; pretraining needs at least 20", *textPath, len(texts))
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x707265)) //nolint:gosec // reproducible split
	rng.Shuffle(len(texts), func(i, j int) { texts[i], texts[j] = texts[j], texts[i] })
	n := min(*heldOut, len(texts)/10)
	if n < 1 {
		return fmt.Errorf("--held-out %d: want at least 1", *heldOut)
	}
	held, trainTexts := texts[:n], texts[n:]

	start := time.Now()
	tok := tokenizer.NewWordPiece(pretrain.BuildVocab(trainTexts, vo), vo.LowerCase)
	cfg := pretrain.NewConfig(size, tok.VocabSize())
	p, err := pretrain.NewMLMParams(cfg, uint64(o.Seed))
	if err != nil {
		return err
	}
	total, _ := p.Count()
	fmt.Fprintf(out, "%d texts from %s (%d held out); WordPiece vocabulary of %d tokens (%s)\n",
		len(texts), *textPath, n, tok.VocabSize(), map[bool]string{true: "uncased", false: "cased"}[vo.LowerCase])
	fmt.Fprintf(out, "BERT: %d layers, hidden %d, %d heads, intermediate %d, up to %d tokens: %d parameters with the MLM head\n",
		size.Layers, size.Hidden, size.Heads, size.Intermediate, size.MaxPositions, total)
	before, after, err := pretrain.Train(ctx, o, cfg, p, tok, trainTexts, held, out)
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted; nothing was saved (pretraining is not resumable: rerun it)")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "held-out masked-token loss %.3f → %.3f, accuracy %.1f%% → %.1f%% (uniform guessing: loss %.2f); %s\n",
		before.Loss, after.Loss, 100*before.Accuracy, 100*after.Accuracy, math.Log(float64(tok.VocabSize())), runlog.FormatDuration(time.Since(start)))

	// Write into a temporary folder beside --out, then rename it into place.
	abs, err := filepath.Abs(*outDir)
	if err != nil {
		return err
	}
	tmp := abs + ".tmp"
	os.RemoveAll(tmp)
	if err := pretrain.SaveMLM(tmp, cfg, p, tok); err != nil {
		return err
	}
	info := pretrainInfo{Text: *textPath, TrainTexts: len(trainTexts), HeldOutTexts: n, VocabSize: tok.VocabSize(), LowerCase: vo.LowerCase,
		Model: size, Options: o, Params: total, HeldOutBefore: before, HeldOutAfter: after, Seconds: time.Since(start).Seconds()}
	if err := checkpoint.WriteJSON(filepath.Join(tmp, "gotune_pretrain.json"), info); err != nil {
		return err
	}
	if err := checkpoint.ReplaceDir(tmp, abs); err != nil {
		return err
	}
	fmt.Fprintf(out, "saved a Hugging Face BertForMaskedLM folder: %s\n", *outDir)
	return nil
}

// checkModelSize checks the flags that shape the model.
func checkModelSize(s pretrain.ModelSize) error {
	switch {
	case s.Layers < 1 || s.Hidden < 1 || s.Heads < 1 || s.Intermediate < 1:
		return fmt.Errorf("--layers, --hidden, --heads and --intermediate must be positive (got %d, %d, %d, %d)", s.Layers, s.Hidden, s.Heads, s.Intermediate)
	case s.Hidden%s.Heads != 0:
		return fmt.Errorf("--hidden %d is not a multiple of --heads %d", s.Hidden, s.Heads)
	case s.MaxPositions < 8:
		return fmt.Errorf("--max-len %d: want at least 8", s.MaxPositions)
	}
	return nil
}

// readTexts reads the non-empty texts of a .txt file (one a line) or of a
// data file's text field.
func readTexts(path, field string) ([]string, error) {
	if !strings.EqualFold(filepath.Ext(path), ".txt") {
		ex, err := data.ReadFile(path, data.Options{TextField: field}, false)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, e := range ex {
			if t := strings.TrimSpace(e.Text); t != "" {
				out = append(out, t)
			}
		}
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading text: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if !utf8.ValidString(t) {
			return nil, fmt.Errorf("%s:%d: not UTF-8 text", path, line)
		}
		if t != "" {
			out = append(out, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
