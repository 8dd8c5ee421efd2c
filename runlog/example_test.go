package runlog_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gotune/gotune/runlog"
)

func ExampleFormatParamReport() {
	fmt.Println(runlog.FormatParamReport(110076674, 294912))
	// Output: trainable params: 294,912 || all params: 110,076,674 || trainable%: 0.2679
}

func ExampleFormatModuleReport() {
	fmt.Print(runlog.FormatModuleReport([]runlog.ParamCount{
		{Name: "bert.encoder.layer.0.attention.self.query.lora_A", Total: 6144, Trainable: 6144},
		{Name: "classifier", Total: 1538, Trainable: 1538},
	}))
	// Output:
	// module                                            trainable  total
	// bert.encoder.layer.0.attention.self.query.lora_A      6,144  6,144
	// classifier                                            1,538  1,538
}

func ExampleFormatDuration() {
	fmt.Println(runlog.FormatDuration(16*time.Second), runlog.FormatDuration(3723*time.Second))
	// Output: 0:16 1:02:03
}

func ExampleFormatBytes() {
	fmt.Println(runlog.FormatBytes(512), runlog.FormatBytes(1536), runlog.FormatBytes(3<<30))
	// Output: 512 B 1.5 KiB 3.00 GiB
}

func ExampleProgress() {
	// A fake clock makes the output reproducible; real code leaves it out.
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	// Not a terminal: a line at the first step, then every 10 s, then at the end.
	p := runlog.NewProgress(os.Stdout, "train", 40, runlog.WithClock(clock), runlog.WithTerminal(false))
	for step := 1; step <= 40; step++ {
		now = now.Add(500 * time.Millisecond)
		if step == 1 {
			now = now.Add(10 * time.Second) // the first step compiles the graph
		}
		p.Update(step, runlog.Field{Key: "loss", Value: fmt.Sprintf("%.4f", 1/float64(step))})
	}
	p.Done()
	// Output:
	// train  [..............................] 1/40 3% | loss 1.0000 | 10.50 s/it | elapsed 0:11 | ETA 6:50
	// train  [###############...............] 21/40 53% | loss 0.0476 | 2.00 it/s | elapsed 0:21 | ETA 0:10
	// train  [##############################] 40/40 100% | loss 0.0250 | 2.00 it/s | elapsed 0:30 | ETA 0:00
}

func ExampleMetricsLog() {
	dir, err := os.MkdirTemp("", "runlog-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "metrics.jsonl")

	log, err := runlog.CreateMetricsLog(path, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = log.Write(map[string]any{"kind": "train", "step": 1, "loss": 0.6931, "lr": 2e-5})
	_ = log.Write(map[string]any{"kind": "eval", "step": 1, "eval_accuracy": 0.5})
	if err := log.Close(); err != nil {
		fmt.Println(err)
		return
	}
	data, _ := os.ReadFile(path)
	fmt.Print(string(data))

	recs, err := runlog.ReadMetrics(path)
	fmt.Println(len(recs), recs[0]["loss"], err)

	if err := runlog.PlotMetrics(path, filepath.Join(dir, "metrics.png")); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"kind":"train","loss":0.6931,"lr":0.00002,"step":1}
	// {"eval_accuracy":0.5,"kind":"eval","step":1}
	// 2 0.6931 <nil>
}
