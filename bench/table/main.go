// Command table turns the JSON lines of bench/compare.sh into a Markdown
// table: per configuration, the peer's and gotune's median step time and
// peak RSS, and their ratios (gotune / PyTorch); when the lines include an
// older gotune build (impl "gotune-old", bench/compare.sh's $OLD_GOTUNE), its
// time and the new/old ratio too, and the load average of each pair.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

type result struct {
	Impl     string  `json:"impl"`
	Model    string  `json:"model"`
	Method   string  `json:"method"`
	Batch    int     `json:"batch"`
	Seq      int     `json:"seq"`
	MedianMS float64 `json:"median_ms"`
	RSSKB    int64   `json:"time_peak_rss_kb"`
	Load     float64 `json:"load1"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: table RESULTS.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
	defer f.Close()
	type key struct{ model, method string }
	var order []key
	byKey := map[key]map[string]result{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			fmt.Fprintf(os.Stderr, "table: %s:%d: %v\n", os.Args[1], line, err)
			os.Exit(1)
		}
		k := key{r.Model, r.Method}
		if byKey[k] == nil {
			byKey[k] = map[string]result{}
			order = append(order, k)
		}
		byKey[k][r.Impl] = r
	}
	old := false
	for _, k := range order {
		_, o := byKey[k]["gotune-old"]
		old = old || o
	}
	if old {
		fmt.Println("| model (batch × seq) | method | PyTorch ms | gotune ms | time ratio | PyTorch peak RSS | gotune peak RSS | RSS ratio | old gotune ms | new/old | load |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	} else {
		fmt.Println("| model (batch × seq) | method | PyTorch ms | gotune ms | time ratio | PyTorch peak RSS | gotune peak RSS | RSS ratio |")
		fmt.Println("|---|---|---|---|---|---|---|---|")
	}
	for _, k := range order {
		p, okP := byKey[k]["pytorch"]
		g, okG := byKey[k]["gotune"]
		if !okP || !okG {
			continue
		}
		fmt.Printf("| %s (%d × %d) | %s | %.0f | %.0f | %.2f× | %.2f GB | %.2f GB | %.2f×", k.model, g.Batch, g.Seq, k.method,
			p.MedianMS, g.MedianMS, g.MedianMS/p.MedianMS, float64(p.RSSKB)/1e6, float64(g.RSSKB)/1e6, float64(g.RSSKB)/float64(p.RSSKB))
		if old {
			if o, ok := byKey[k]["gotune-old"]; ok {
				fmt.Printf(" | %.0f | %.2f× | %.1f–%.1f", o.MedianMS, g.MedianMS/o.MedianMS, min(p.Load, g.Load, o.Load), max(p.Load, g.Load, o.Load))
			} else {
				fmt.Printf(" | – | – | %.1f–%.1f", min(p.Load, g.Load), max(p.Load, g.Load))
			}
		}
		fmt.Println(" |")
	}
}
