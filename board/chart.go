package board

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// series is one curve: y against x (optimizer step).
type series struct {
	Name string
	X, Y []float64
}

// palette colours the curves of a chart in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// Chart geometry (SVG user units).
const (
	chartW, chartH                     = 580, 280
	padLeft, padRight, padTop, padBott = 56, 16, 16, 40
)

// chart is a drawn line chart, laid out for the "chart" template.
type chart struct {
	Title, XLabel, Empty string
	W, H                 int
	// Plot area.
	Left, Top, Right, Bottom float64
	XTicks, YTicks           []tick
	Lines                    []line
}

type tick struct {
	Pos   float64
	Label string
}

type line struct {
	Name, Color string
	// Points is the polyline's points attribute; Dots are its vertices.
	Points string
	Dots   []dot
}

type dot struct{ X, Y float64 }

// maxDots is the most vertices a curve marks with a dot.
const maxDots = 300

// drawChart lays out the series; empty is the text shown when no series
// has a point. A positive xmax fixes the step axis to [0, xmax], so that a
// run's charts share it.
func drawChart(title, xLabel, empty string, ss []series, xmax float64) chart {
	c := chart{Title: title, XLabel: xLabel, Empty: empty, W: chartW, H: chartH,
		Left: padLeft, Top: padTop, Right: chartW - padRight, Bottom: chartH - padBott}
	axisMax := xmax
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	n := 0
	for _, s := range ss {
		for i := range s.X {
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
			n++
		}
	}
	if n == 0 {
		return c
	}
	c.Empty = ""
	if axisMax > 0 && axisMax >= xmax && xmin >= 0 { // the caller's range holds every point
		xmin, xmax = 0, axisMax
	} else {
		xmin, xmax = span(xmin, xmax)
	}
	ymin, ymax = span(ymin, ymax)
	xt, yt := niceTicks(xmin, xmax, 6), niceTicks(ymin, ymax, 5)
	xmin, xmax = math.Min(xmin, xt[0]), math.Max(xmax, xt[len(xt)-1])
	ymin, ymax = math.Min(ymin, yt[0]), math.Max(ymax, yt[len(yt)-1])
	px := func(x float64) float64 { return round1(c.Left + (x-xmin)/(xmax-xmin)*(c.Right-c.Left)) }
	py := func(y float64) float64 { return round1(c.Bottom - (y-ymin)/(ymax-ymin)*(c.Bottom-c.Top)) }
	for _, v := range xt {
		c.XTicks = append(c.XTicks, tick{px(v), label(v)})
	}
	for _, v := range yt {
		c.YTicks = append(c.YTicks, tick{py(v), label(v)})
	}
	for i, s := range ss {
		if len(s.X) == 0 {
			continue
		}
		l := line{Name: s.Name, Color: palette[i%len(palette)]}
		var b strings.Builder
		for j := range s.X {
			x, y := px(s.X[j]), py(s.Y[j])
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatFloat(x, 'f', -1, 64) + "," + strconv.FormatFloat(y, 'f', -1, 64))
			if len(s.X) <= maxDots {
				l.Dots = append(l.Dots, dot{x, y})
			}
		}
		l.Points = b.String()
		c.Lines = append(c.Lines, l)
	}
	return c
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// span widens a degenerate range so it can be drawn.
func span(lo, hi float64) (float64, float64) {
	if hi > lo {
		return lo, hi
	}
	d := math.Max(math.Abs(lo)*0.05, 0.5)
	return lo - d, hi + d
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Floor(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	if out[len(out)-1] < hi {
		out = append(out, out[len(out)-1]+step)
	}
	return out
}

// label formats a tick value briefly.
func label(v float64) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// runSeries splits a run's metrics records into the loss curves (training
// loss and evaluation loss) and the other evaluation metrics, each sorted
// by step; prefix names the curves (a run name in comparisons).
func runSeries(recs []map[string]any, prefix string) (loss, evals []series) {
	train := series{Name: prefix + "train loss"}
	byKey := map[string]*series{}
	for _, r := range recs {
		step, ok := num(r, "step")
		if !ok {
			continue
		}
		kind, _ := r["kind"].(string)
		switch kind {
		case "train", "":
			if v, ok := num(r, "loss"); ok {
				train.X, train.Y = append(train.X, step), append(train.Y, v)
			}
		case "eval":
			for k := range r {
				if !strings.HasPrefix(k, "eval_") {
					continue
				}
				if v, ok := num(r, k); ok {
					s := byKey[k]
					if s == nil {
						s = &series{Name: prefix + strings.TrimPrefix(k, "eval_")}
						byKey[k] = s
					}
					s.X, s.Y = append(s.X, step), append(s.Y, v)
				}
			}
		}
	}
	if len(train.X) > 0 {
		loss = append(loss, train)
	}
	if s := byKey["eval_loss"]; s != nil {
		s.Name = prefix + "eval loss"
		loss = append(loss, *s)
		delete(byKey, "eval_loss")
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		evals = append(evals, *byKey[k])
	}
	return loss, evals
}

// lastStep is the largest step of the series.
func lastStep(ss ...[]series) float64 {
	m := 0.0
	for _, l := range ss {
		for _, s := range l {
			for _, x := range s.X {
				m = max(m, x)
			}
		}
	}
	return m
}

// metricSeries is one run's curve of eval_<metric>, or of the training
// loss when metric is "train_loss".
func metricSeries(recs []map[string]any, name, metric string) series {
	s := series{Name: name}
	for _, r := range recs {
		step, ok := num(r, "step")
		if !ok {
			continue
		}
		kind, _ := r["kind"].(string)
		key := "eval_" + metric
		if metric == "train_loss" {
			if kind != "train" && kind != "" {
				continue
			}
			key = "loss"
		} else if kind != "eval" {
			continue
		}
		if v, ok := num(r, key); ok {
			s.X, s.Y = append(s.X, step), append(s.Y, v)
		}
	}
	return s
}
