package gotune

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gotune/gotune/checkpoint"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/runlog"
)

// Inspect prints a model's architecture, labels and parameter counts per
// module.
func Inspect(modelArg string, w io.Writer) error {
	dir, err := checkpoint.Resolve(modelArg)
	if err != nil {
		return err
	}
	mt, raw, err := checkpoint.ReadConfig(dir)
	if err != nil {
		return err
	}
	ts, err := checkpoint.ReadWeights(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "model: %s\nmodel_type: %s\n", dir, mt)
	if slices.Contains(bert.ModelTypes(), mt) {
		cfg, err := bert.ParseConfig(raw, dir+"/config.json")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "architecture: %d layers, hidden %d, %d heads, intermediate %d, vocab %d, max positions %d, activation %s\n",
			cfg.NumHiddenLayers, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize, cfg.VocabSize, cfg.MaxPositionEmbeddings, cfg.HiddenAct)
		if n := cfg.NumLabels(); n > 0 {
			fmt.Fprintf(w, "labels (%d): %s\n", n, strings.Join(cfg.Labels(), ", "))
		}
	}
	groups := map[string]*runlog.ParamCount{}
	var order []string
	var total int64
	for _, t := range ts {
		parts := strings.Split(t.Name, ".")
		key := strings.Join(parts[:min(2, len(parts)-1)], ".")
		for i, s := range parts {
			if (s == "layer" || s == "layers" || s == "h") && i+1 < len(parts) {
				key = strings.Join(parts[:i+2], ".")
				break
			}
		}
		g := groups[key]
		if g == nil {
			g = &runlog.ParamCount{Name: key}
			groups[key] = g
			order = append(order, key)
		}
		n := int64(t.NumElements())
		g.Total += n
		g.Trainable += n
		total += n
	}
	slices.Sort(order)
	rows := make([]runlog.ParamCount, len(order))
	for i, k := range order {
		rows[i] = *groups[k]
	}
	fmt.Fprintf(w, "tensors: %d, parameters: %s\n", len(ts), formatInt(total))
	fmt.Fprint(w, runlog.FormatModuleReport(rows))
	return nil
}

func formatInt(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
