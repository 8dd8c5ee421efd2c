package runlog

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeRecords(t *testing.T, path string, appendMode bool, recs ...map[string]any) {
	t.Helper()
	m, err := CreateMetricsLog(path, appendMode)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := m.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsLogRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "metrics.jsonl") // parent is created
	writeRecords(t, path, false,
		map[string]any{"step": 1, "loss": 0.6931, "lr": 2e-5, "kind": "train", "epoch": 0.5},
		map[string]any{"kind": "train", "step": 2, "loss": math.NaN(), "grad_norm": math.Inf(1), "f32": float32(0.25)},
		map[string]any{"kind": "eval", "step": 2, "eval_accuracy": 0.81, "nested": map[string]any{"x": math.Inf(-1)}, "list": []float64{1, math.NaN()}},
	)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantRaw := `{"epoch":0.5,"kind":"train","loss":0.6931,"lr":0.00002,"step":1}
{"f32":0.25,"grad_norm":null,"kind":"train","loss":null,"step":2}
{"eval_accuracy":0.81,"kind":"eval","list":[1,null],"nested":{"x":null},"step":2}
`
	if string(raw) != wantRaw {
		t.Errorf("file =\n%s\nwant\n%s", raw, wantRaw)
	}
	got, err := ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"epoch": 0.5, "kind": "train", "loss": 0.6931, "lr": 2e-5, "step": 1.0},
		{"f32": 0.25, "grad_norm": nil, "kind": "train", "loss": nil, "step": 2.0},
		{"eval_accuracy": 0.81, "kind": "eval", "list": []any{1.0, nil}, "nested": map[string]any{"x": nil}, "step": 2.0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadMetrics =\n%v\nwant\n%v", got, want)
	}
}

func TestReadMetrics(t *testing.T) {
	const good = `{"step":1,"loss":0.5}` + "\n" + `{"step":2,"loss":0.4}` + "\n"
	tests := []struct {
		name    string
		content string
		want    int    // records
		wantErr string // substring of the error, with "PATH" for the file
	}{
		{name: "empty", content: "", want: 0},
		{name: "good", content: good, want: 2},
		{name: "no final newline", content: strings.TrimSuffix(good, "\n"), want: 2},
		{name: "blank lines", content: "\n" + good + "\n  \n", want: 2},
		{name: "truncated last line", content: good + `{"step":3,"lo`, want: 2},
		{name: "truncated only line", content: `{"st`, want: 0},
		{name: "bad middle line", content: `{"step":1}` + "\n" + `{"step":2,,}` + "\n" + `{"step":3}` + "\n", wantErr: "PATH:2: malformed metrics record"},
		{name: "bad terminated last line", content: good + `{"step":3,"lo` + "\n", wantErr: "PATH:3:"},
		{name: "null record", content: "null\n" + good, wantErr: "PATH:1: malformed metrics record: record is not a JSON object"},
		{name: "array record", content: "[1,2]\n", wantErr: "PATH:1:"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("m%d.jsonl", i))
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadMetrics(path)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "PATH", path)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want it to contain %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("got %d records, want %d: %v", len(got), tt.want, got)
			}
		})
	}
	if _, err := ReadMetrics(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("missing file: want an error")
	}
}

func TestMetricsLogAppend(t *testing.T) {
	tests := []struct {
		name     string
		existing string
		append   bool
		want     string
	}{
		{"append after clean file", "{\"step\":1}\n", true, "{\"step\":1}\n{\"step\":9}\n"},
		{"append drops partial line", "{\"step\":1}\n{\"step\":2}\n{\"st", true, "{\"step\":1}\n{\"step\":2}\n{\"step\":9}\n"},
		{"append to only a partial line", "{\"st", true, "{\"step\":9}\n"},
		{"append to new file", "", true, "{\"step\":9}\n"},
		{"partial line longer than a read chunk", "{\"step\":1}\n" + strings.Repeat("x", 10000), true, "{\"step\":1}\n{\"step\":9}\n"},
		{"truncate mode", "{\"step\":1}\n", false, "{\"step\":9}\n"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("a%d.jsonl", i))
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			writeRecords(t, path, tt.append, map[string]any{"step": 9})
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("file = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMetricsLogErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	m, err := CreateMetricsLog(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Write(map[string]any{"bad": make(chan int)}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("unencodable record: err = %v, want one naming %s", err, path)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := m.Write(map[string]any{"step": 1}); err == nil {
		t.Error("Write after Close: want an error")
	}
	if _, err := CreateMetricsLog(filepath.Join(path, "sub", "m.jsonl"), false); err == nil {
		t.Error("parent is a file: want an error")
	}
}
