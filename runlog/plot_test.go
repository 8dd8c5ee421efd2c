package runlog

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// trainAndEvalJSONL returns a metrics log with n training steps and an
// evaluation every 10 steps.
func trainAndEvalJSONL(n int) string {
	var b strings.Builder
	for s := 1; s <= n; s++ {
		fmt.Fprintf(&b, `{"kind":"train","step":%d,"epoch":%g,"loss":%g,"lr":2e-5}`+"\n",
			s, float64(s)/20, 0.3+0.4*math.Exp(-float64(s)/15)+0.05*math.Sin(float64(s)))
		if s%10 == 0 {
			fmt.Fprintf(&b, `{"kind":"eval","step":%d,"epoch":%g,"eval_loss":%g,"eval_accuracy":%g,"eval_macro_f1":%g,"note":"x"}`+"\n",
				s, float64(s)/20, 0.6-float64(s)/500, 0.7+float64(s)/400, 0.65+float64(s)/400)
		}
	}
	return b.String()
}

// regionStats counts non-white pixels, and those close to c, in r.
func regionStats(img image.Image, r image.Rectangle, c color.RGBA) (nonWhite, near int) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			r8, g8, b8 := int(pr>>8), int(pg>>8), int(pb>>8)
			if r8 < 250 || g8 < 250 || b8 < 250 {
				nonWhite++
			}
			d := abs(r8-int(c.R)) + abs(g8-int(c.G)) + abs(b8-int(c.B))
			if d < 30 {
				near++
			}
		}
	}
	return nonWhite, near
}

func abs(x int) int { return max(x, -x) }

func TestPlotMetrics(t *testing.T) {
	// Plot areas of the two panels, shrunk to stay off the frame.
	half := PlotHeight / 2
	trainArea := image.Rect(marginLeft+2, marginTop+2, PlotWidth-marginRight-2, half-marginBottom-2)
	evalArea := trainArea.Add(image.Pt(0, half))
	blue, orange := plotPalette(0), plotPalette(1)

	tests := []struct {
		name      string
		content   string
		trainLine bool // the smoothed loss line (bold blue) is drawn
		evalLines bool // an orange eval line is drawn (second metric)
		minInk    int  // non-white pixels expected in each plot area
	}{
		{name: "normal", content: trainAndEvalJSONL(120), trainLine: true, evalLines: true, minInk: 2000},
		{name: "empty", content: "", minInk: 100}, // grid and "no data" text
		{name: "single points", content: `{"kind":"train","step":5,"loss":0.7}` + "\n" +
			`{"kind":"eval","step":5,"eval_accuracy":0.5,"eval_loss":0.9}` + "\n", evalLines: true, minInk: 100},
		{name: "nulls and missing steps", content: `{"kind":"train","step":1,"loss":null}` + "\n" +
			`{"kind":"train","loss":0.5}` + "\n" + `{"kind":"train","step":2,"loss":0.4}` + "\n" +
			`{"kind":"train","step":3,"loss":0.3}` + "\n" + `{"kind":"eval","step":3,"eval_accuracy":null}` + "\n",
			trainLine: true, minInk: 100},
		{name: "constant loss", content: `{"kind":"train","step":1,"loss":0.5}` + "\n" +
			`{"kind":"train","step":2,"loss":0.5}` + "\n", trainLine: true, minInk: 100},
		{name: "truncated last line", content: trainAndEvalJSONL(30) + `{"kind":"tr`, trainLine: true, evalLines: true, minInk: 1000},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := filepath.Join(dir, fmt.Sprint(i))
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			mp, pp := filepath.Join(sub, "metrics.jsonl"), filepath.Join(sub, "loss.png")
			if err := os.WriteFile(mp, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := PlotMetrics(mp, pp); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(pp)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("decoding PNG: %v", err)
			}
			if got := img.Bounds().Size(); got != image.Pt(PlotWidth, PlotHeight) {
				t.Errorf("size = %v, want %dx%d", got, PlotWidth, PlotHeight)
			}
			if r, g, b, _ := img.At(2, 2).RGBA(); r>>8 != 255 || g>>8 != 255 || b>>8 != 255 {
				t.Errorf("background at (2,2) is not white")
			}
			for _, c := range []struct {
				name string
				area image.Rectangle
				col  color.RGBA
				want bool
			}{
				{"training", trainArea, blue, tt.trainLine},
				{"evaluation", evalArea, orange, tt.evalLines},
			} {
				ink, near := regionStats(img, c.area, c.col)
				if ink < tt.minInk {
					t.Errorf("%s panel: %d non-white pixels, want at least %d", c.name, ink, tt.minInk)
				}
				if has := near > 20; has != c.want {
					t.Errorf("%s panel: %d pixels of the curve colour; want curve drawn = %v", c.name, near, c.want)
				}
			}
			entries, err := os.ReadDir(sub)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 2 {
				t.Errorf("temporary file left behind: %v", entries)
			}
		})
	}
}

func TestPlotMetricsErrors(t *testing.T) {
	dir := t.TempDir()
	if err := PlotMetrics(filepath.Join(dir, "missing.jsonl"), filepath.Join(dir, "p.png")); err == nil {
		t.Error("missing metrics file: want an error")
	}
	mp := filepath.Join(dir, "metrics.jsonl")
	if err := os.WriteFile(mp, []byte(trainAndEvalJSONL(3)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := PlotMetrics(mp, filepath.Join(dir, "no", "such", "p.png")); err == nil {
		t.Error("missing output directory: want an error")
	}
}

func TestMetricSeries(t *testing.T) {
	recs := []map[string]any{
		{"kind": "train", "step": 2.0, "loss": 0.4},
		{"kind": "train", "step": 1.0, "loss": 0.5}, // out of order
		{"step": 3.0, "loss": 0.3},                  // no kind: training
		{"kind": "eval", "step": 2.0, "eval_loss": 0.6, "eval_accuracy": 0.7, "eval_name": "x", "loss": 9.0},
		{"kind": "eval", "step": 4.0, "eval_accuracy": 0.8},
		{"kind": "other", "step": 5.0, "loss": 1.0, "eval_loss": 1.0},
	}
	train, evals := metricSeries(recs)
	if want := []float64{1, 2, 3}; !reflect.DeepEqual(train.xs, want) {
		t.Errorf("train steps = %v, want %v", train.xs, want)
	}
	if want := []float64{0.5, 0.4, 0.3}; !reflect.DeepEqual(train.ys, want) {
		t.Errorf("train losses = %v, want %v", train.ys, want)
	}
	var names []string
	for _, e := range evals {
		names = append(names, fmt.Sprintf("%s%v%v", e.name, e.xs, e.ys))
	}
	if want := []string{"accuracy[2 4][0.7 0.8]", "loss[2][0.6]"}; !reflect.DeepEqual(names, want) {
		t.Errorf("eval series = %v, want %v", names, want)
	}
}

func TestAxisRange(t *testing.T) {
	tests := []struct {
		name           string
		lo, hi         float64
		integer        bool
		wantLo, wantHi float64
	}{
		{"no data", math.Inf(1), math.Inf(-1), false, 0, 1},
		{"one value", 0.5, 0.5, false, 0, 1},
		{"one zero", 0, 0, false, -0.5, 0.5},
		{"one step", 7, 7, true, 6, 8},
		{"big value", 100, 100, false, 90, 110},
		{"range", 0, 100, false, -4, 104},
	}
	for _, tt := range tests {
		lo, hi := axisRange(tt.lo, tt.hi, tt.integer)
		if math.Abs(lo-tt.wantLo) > 1e-9 || math.Abs(hi-tt.wantHi) > 1e-9 {
			t.Errorf("%s: axisRange = [%g, %g], want [%g, %g]", tt.name, lo, hi, tt.wantLo, tt.wantHi)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi  float64
		n       int
		integer bool
		want    []string
	}{
		{0, 1, 6, false, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{-4.8, 124.8, 9, true, []string{"0", "20", "40", "60", "80", "100", "120"}},
		{0, 2, 9, true, []string{"0", "1", "2"}},
		{0, 20, 9, true, []string{"0", "5", "10", "15", "20"}},
		{0.18, 0.82, 6, false, []string{"0.2", "0.4", "0.6", "0.8"}},
		{0.495, 0.505, 6, false, []string{"0.496", "0.498", "0.500", "0.502", "0.504"}},
		{-1, 1, 5, false, []string{"-1.0", "-0.5", "0.0", "0.5", "1.0"}},
		{0, 1, 5, false, []string{"0.00", "0.25", "0.50", "0.75", "1.00"}},
	}
	for _, tt := range tests {
		ticks, step := niceTicks(tt.lo, tt.hi, tt.n, tt.integer)
		var got []string
		for _, v := range ticks {
			got = append(got, tickLabel(v, step))
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("niceTicks(%g, %g, %d) = %v, want %v", tt.lo, tt.hi, tt.n, got, tt.want)
		}
	}
}

func TestSmoothEMA(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
	}{
		{"empty", nil},
		{"one", []float64{0.7}},
		{"constant", []float64{0.5, 0.5, 0.5, 0.5}},
		{"noisy", []float64{1, 0, 1, 0, 1, 0, 1, 0}},
	}
	for _, tt := range tests {
		got, w := smoothEMA(tt.in)
		if len(got) != len(tt.in) || w < 0 || w >= 1 {
			t.Fatalf("%s: smoothEMA returned %d values, weight %g", tt.name, len(got), w)
		}
		if len(got) > 0 && got[0] != tt.in[0] {
			t.Errorf("%s: first smoothed value %g, want the first value %g (debiased)", tt.name, got[0], tt.in[0])
		}
		for i, v := range got {
			if math.IsNaN(v) || v < 0 || v > 1 {
				t.Errorf("%s: smoothed[%d] = %g outside the input range", tt.name, i, v)
			}
		}
	}
}
