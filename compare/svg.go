package compare

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// The report's plots are inline SVG written by hand: no scripts, no fonts,
// no external files, and well-formed XML (every element closed, every
// attribute quoted, all text escaped), so the HTML opens anywhere offline.

// colour returns the colour of method i (Tableau 10, repeating).
func colour(i int) string {
	palette := []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}
	return palette[i%len(palette)]
}

// esc escapes text for HTML and XML.
func esc(s string) string { return html.EscapeString(s) }

// num formats a coordinate.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// frame maps data to an SVG plot area.
type frame struct {
	w, h                     float64
	left, right, top, bottom float64
	x0, x1, y0, y1           float64
	logX                     bool
}

func newFrame(w, h float64) *frame {
	return &frame{w: w, h: h, left: 64, right: 20, top: 34, bottom: 46}
}

func (f *frame) px(x float64) float64 {
	if f.logX {
		x, x0, x1 := math.Log10(x), math.Log10(f.x0), math.Log10(f.x1)
		return f.left + (x-x0)/(x1-x0)*(f.w-f.left-f.right)
	}
	return f.left + (x-f.x0)/(f.x1-f.x0)*(f.w-f.left-f.right)
}

func (f *frame) py(y float64) float64 {
	return f.h - f.bottom - (y-f.y0)/(f.y1-f.y0)*(f.h-f.top-f.bottom)
}

// padRange widens [lo, hi] a little, or around a single value.
func padRange(lo, hi float64) (float64, float64) {
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) || lo > hi {
		return 0, 1
	}
	if lo == hi {
		d := math.Max(math.Abs(lo)*0.1, 0.05)
		return lo - d, hi + d
	}
	p := (hi - lo) * 0.08
	return lo - p, hi + p
}

// ticks returns about n round values in [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	raw := (hi - lo) / float64(max(n-1, 1))
	if raw <= 0 || math.IsNaN(raw) {
		return []float64{lo}
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag*(1+1e-9) {
			step = m * mag
			break
		}
	}
	var out []float64
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		v := i * step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		out = append(out, v)
	}
	return out
}

// logTicks returns the powers of ten in [lo, hi] (and lo, hi themselves
// when there are fewer than two).
func logTicks(lo, hi float64) []float64 {
	var out []float64
	for e := math.Ceil(math.Log10(lo) - 1e-9); math.Pow(10, e) <= hi*(1+1e-9); e++ {
		out = append(out, math.Pow(10, e))
	}
	if len(out) < 2 {
		out = []float64{lo, hi}
	}
	return out
}

func fmtTick(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// open starts an <svg> with a title (also the accessible name).
func (f *frame) open(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg class="plot" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img">`, f.w, f.h, f.w, f.h)
	fmt.Fprintf(b, `<title>%s</title>`, esc(title))
	fmt.Fprintf(b, `<rect x="0" y="0" width="%.0f" height="%.0f" fill="#ffffff"/>`, f.w, f.h)
	fmt.Fprintf(b, `<text x="%s" y="20" class="ptitle">%s</text>`, num(f.left), esc(title))
}

// axes draws the grid, ticks and axis labels.
func (f *frame) axes(b *strings.Builder, xLabel, yLabel string, xFmt, yFmt func(float64) string) {
	xt := ticks(f.x0, f.x1, 7)
	if f.logX {
		xt = logTicks(f.x0, f.x1)
	}
	for _, x := range xt {
		px := f.px(x)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, num(px), num(f.top), num(px), num(f.h-f.bottom))
		fmt.Fprintf(b, `<text x="%s" y="%s" class="tick" text-anchor="middle">%s</text>`, num(px), num(f.h-f.bottom+16), esc(xFmt(x)))
	}
	for _, y := range ticks(f.y0, f.y1, 6) {
		py := f.py(y)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, num(f.left), num(py), num(f.w-f.right), num(py))
		fmt.Fprintf(b, `<text x="%s" y="%s" class="tick" text-anchor="end">%s</text>`, num(f.left-6), num(py+4), esc(yFmt(y)))
	}
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" class="frame"/>`, num(f.left), num(f.top), num(f.w-f.left-f.right), num(f.h-f.top-f.bottom))
	fmt.Fprintf(b, `<text x="%s" y="%s" class="label" text-anchor="middle">%s</text>`, num(f.left+(f.w-f.left-f.right)/2), num(f.h-8), esc(xLabel))
	fmt.Fprintf(b, `<text x="14" y="%s" class="label" text-anchor="middle" transform="rotate(-90 14 %s)">%s</text>`,
		num(f.top+(f.h-f.top-f.bottom)/2), num(f.top+(f.h-f.top-f.bottom)/2), esc(yLabel))
}

// scatterPoint is one method in a scatter plot.
type scatterPoint struct {
	label  string
	colour string
	x, y   float64
	// lo and hi are the error bar (y ± sd); equal to y without one.
	lo, hi float64
}

// scatterSVG plots points with error bars and labels.
func scatterSVG(title, xLabel, yLabel string, pts []scatterPoint, logX bool, xFmt func(float64) string) string {
	if len(pts) == 0 {
		return emptySVG(title)
	}
	f := newFrame(560, 340)
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		xlo, xhi = min(xlo, p.x), max(xhi, p.x)
		ylo, yhi = min(ylo, p.lo), max(yhi, p.hi)
	}
	if logX {
		f.logX = true
		xlo, xhi = max(xlo, 1e-6), max(xhi, 1e-6)
		f.x0, f.x1 = math.Pow(10, math.Floor(math.Log10(xlo))), math.Pow(10, math.Ceil(math.Log10(xhi)))
		if f.x0 == f.x1 {
			f.x1 = f.x0 * 10
		}
	} else {
		f.x0, f.x1 = padRange(min(xlo, 0), xhi)
		f.x0 = max(f.x0, 0)
	}
	f.y0, f.y1 = padRange(ylo, yhi)
	var b strings.Builder
	f.open(&b, title)
	f.axes(&b, xLabel, yLabel, xFmt, fmtTick)
	for _, p := range pts {
		x := p.x
		if logX {
			x = max(x, 1e-6)
		}
		px := f.px(x)
		if p.hi > p.lo {
			fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>`, num(px), num(f.py(p.lo)), num(px), num(f.py(p.hi)), p.colour)
		}
		fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="5" fill="%s"/>`, num(px), num(f.py(p.y)), p.colour)
		anchor, dx := "start", 8.0
		if px > f.w-f.right-90 {
			anchor, dx = "end", -8
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="pt" text-anchor="%s">%s</text>`, num(px+dx), num(f.py(p.y)-6), anchor, esc(p.label))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// bar is one bar of a bar chart.
type bar struct {
	label, colour, text string
	value               float64
}

// barsSVG draws horizontal bars of byte sizes, one per method, with their
// values.
func barsSVG(title, xLabel string, bars []bar, xFmt func(float64) string) string {
	if len(bars) == 0 {
		return emptySVG(title)
	}
	const rowH = 26.0
	f := newFrame(560, 34+46+rowH*float64(len(bars)))
	f.left = 110
	f.right = 90
	hi := 0.0
	for _, b := range bars {
		hi = max(hi, b.value)
	}
	f.x0, f.x1 = 0, hi*1.05
	if f.x1 <= 0 {
		f.x1 = 1
	}
	f.y0, f.y1 = 0, float64(len(bars))
	var b strings.Builder
	f.open(&b, title)
	for _, x := range byteTicks(f.x0, f.x1, 5) {
		px := f.px(x)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, num(px), num(f.top), num(px), num(f.h-f.bottom))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">%s</text>`, num(px), num(f.h-f.bottom+16), esc(xFmt(x)))
	}
	for i, r := range bars {
		y := f.top + rowH*float64(i) + 4
		w := f.px(r.value) - f.px(0)
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, num(f.px(0)), num(y), num(max(w, 1)), num(rowH-8), r.colour)
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="end">%s</text>`, num(f.left-6), num(y+rowH/2), esc(r.label))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick">%s</text>`, num(f.px(0)+max(w, 1)+4), num(y+rowH/2), esc(r.text))
	}
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" class="frame"/>`, num(f.left), num(f.top), num(f.w-f.left-f.right), num(f.h-f.top-f.bottom))
	fmt.Fprintf(&b, `<text x="%s" y="%s" class="label" text-anchor="middle">%s</text>`, num(f.left+(f.w-f.left-f.right)/2), num(f.h-8), esc(xLabel))
	b.WriteString(`</svg>`)
	return b.String()
}

// series is one line of a line plot.
type series struct {
	name, colour string
	xs, ys       []float64
	// legend is false for the second and later seeds of a method.
	legend bool
}

// linesSVG plots lines (one per run) with a legend per method.
func linesSVG(title, xLabel, yLabel string, ss []series) string {
	f := newFrame(560, 340)
	f.right = 120
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	n := 0
	for _, s := range ss {
		for i := range s.xs {
			xlo, xhi, ylo, yhi = min(xlo, s.xs[i]), max(xhi, s.xs[i]), min(ylo, s.ys[i]), max(yhi, s.ys[i])
			n++
		}
	}
	if n == 0 {
		return emptySVG(title)
	}
	f.x0, f.x1 = padRange(min(xlo, 0), xhi)
	f.x0 = max(f.x0, 0)
	f.y0, f.y1 = padRange(ylo, yhi)
	var b strings.Builder
	f.open(&b, title)
	f.axes(&b, xLabel, yLabel, fmtTick, fmtTick)
	ly := f.top + 6
	for _, s := range ss {
		var pts []string
		for i := range s.xs {
			pts = append(pts, num(f.px(s.xs[i]))+","+num(f.py(s.ys[i])))
		}
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, num(f.px(s.xs[0])), num(f.py(s.ys[0])), s.colour)
		} else {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.8" stroke-opacity="0.85"/>`, strings.Join(pts, " "), s.colour)
		}
		if s.legend {
			lx := f.w - f.right + 10
			fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"/>`, num(lx), num(ly), num(lx+16), num(ly), s.colour)
			fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick">%s</text>`, num(lx+20), num(ly+4), esc(s.name))
			ly += 16
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func emptySVG(title string) string {
	f := newFrame(560, 120)
	var b strings.Builder
	f.open(&b, title)
	b.WriteString(`<text x="280" y="70" class="label" text-anchor="middle">no data</text></svg>`)
	return b.String()
}

// byteTicks are round ticks for a byte axis: round numbers of the largest
// binary unit (KiB, MiB, GiB) the range reaches.
func byteTicks(lo, hi float64, n int) []float64 {
	unit := 1.0
	for unit*1024 <= hi {
		unit *= 1024
	}
	t := ticks(lo/unit, hi/unit, n)
	for i := range t {
		t[i] *= unit
	}
	return t
}
