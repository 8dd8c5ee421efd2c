package runlog

import (
	"cmp"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Size of the image [PlotMetrics] draws, in pixels.
const (
	PlotWidth  = 900
	PlotHeight = 600
)

// plotPalette returns the i-th colour of the "tab10" palette most plotting
// tools use, so the pictures look familiar; it wraps around after ten.

func plotPalette(i int) color.RGBA {
	p := [...]color.RGBA{
		{31, 119, 180, 255},  // blue
		{255, 127, 14, 255},  // orange
		{44, 160, 44, 255},   // green
		{214, 39, 40, 255},   // red
		{148, 103, 189, 255}, // purple
		{140, 86, 75, 255},   // brown
		{227, 119, 194, 255}, // pink
		{127, 127, 127, 255}, // grey
		{188, 189, 34, 255},  // olive
		{23, 190, 207, 255},  // cyan
	}
	return p[i%len(p)]
}

// Fixed plot colours as 0xRRGGBB (constants, so the package has no state).
const (
	colText  rgb = 0x222222
	colMuted rgb = 0x787878
	colAxis  rgb = 0x5a5a5a
	colGrid  rgb = 0xe4e4e4
	colWhite rgb = 0xffffff
)

// rgb is an opaque colour written as 0xRRGGBB.
type rgb uint32

// rgba converts c to a color.RGBA.
func (c rgb) rgba() color.RGBA {
	return color.RGBA{uint8(c >> 16), uint8(c >> 8), uint8(c), 255}
}

// PlotMetrics draws the metrics log at metricsPath (see [ReadMetrics]) as a
// PlotWidth×PlotHeight PNG at pngPath with two panels sharing the step axis:
//
//   - training loss against step, from records with "kind":"train" (or no
//     kind) that have numeric "step" and "loss": the raw values as a light
//     line and an exponential moving average as a bold line;
//   - evaluation metrics against step, from records with "kind":"eval": one
//     coloured line with point markers for every numeric key starting with
//     "eval_", named in a legend without the prefix.
//
// Records without a numeric step, and null (NaN) values, are skipped. A
// panel with no data says so; a single point is drawn as a marker. The PNG
// is written to a temporary file in the same directory and renamed into
// place, so a reader never sees half an image.
func PlotMetrics(metricsPath, pngPath string) error {
	recs, err := ReadMetrics(metricsPath)
	if err != nil {
		return fmt.Errorf("runlog: plotting metrics: %w", err)
	}
	img := renderMetrics(recs)
	if err := writePNGAtomic(pngPath, img); err != nil {
		return fmt.Errorf("runlog: plotting metrics %s: %w", metricsPath, err)
	}
	return nil
}

// writePNGAtomic encodes img to a temporary file beside path and renames it
// to path.
func writePNGAtomic(path string, img image.Image) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after a successful rename
	if err := png.Encode(tmp, img); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// plotLine is one curve of a panel.
type plotLine struct {
	name    string // legend label; "" for no legend entry
	xs, ys  []float64
	col     color.RGBA
	width   float64 // stroke width in pixels
	markers bool    // draw a dot at every point
}

// plotPanel is one framed chart.
type plotPanel struct {
	title, xLabel, yLabel string
	empty                 string // message shown when there is no data
	lines                 []plotLine
	integerX              bool // x ticks are whole numbers (steps)
}

// metricSeries collects the training and evaluation curves of recs.
func metricSeries(recs []map[string]any) (train plotLine, evals []plotLine) {
	type pt struct{ x, y float64 }
	var trainPts []pt
	evalPts := map[string][]pt{}
	for _, r := range recs {
		step, ok := number(r["step"])
		if !ok {
			continue
		}
		kind, _ := r["kind"].(string)
		switch kind {
		case "train", "":
			if loss, ok := number(r["loss"]); ok {
				trainPts = append(trainPts, pt{step, loss})
			}
		}
		if kind == "eval" {
			for k, v := range r {
				if y, ok := number(v); ok && strings.HasPrefix(k, "eval_") {
					evalPts[k] = append(evalPts[k], pt{step, y})
				}
			}
		}
	}
	byX := func(a, b pt) int { return cmp.Compare(a.x, b.x) }
	slices.SortStableFunc(trainPts, byX)
	for _, p := range trainPts {
		train.xs = append(train.xs, p.x)
		train.ys = append(train.ys, p.y)
	}
	keys := make([]string, 0, len(evalPts))
	for k := range evalPts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		pts := evalPts[k]
		slices.SortStableFunc(pts, byX)
		l := plotLine{name: strings.TrimPrefix(k, "eval_"), col: plotPalette(i), width: 2, markers: true}
		for _, p := range pts {
			l.xs = append(l.xs, p.x)
			l.ys = append(l.ys, p.y)
		}
		evals = append(evals, l)
	}
	return train, evals
}

// number returns v as a finite float64 if it is a JSON number.
func number(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// smoothEMA returns the debiased exponential moving average of ys and the
// weight it used. The weight grows with the length of the series, so short
// runs are barely smoothed (the sigmoid ramp is LLaMA-Factory's idea), and
// for long runs it averages over about 1/60 of the series, so the curve is
// as smooth at 20,000 steps as at 300.
func smoothEMA(ys []float64) ([]float64, float64) {
	w := 1.8 * (1/(1+math.Exp(-0.05*float64(len(ys)))) - 0.5)
	if n := float64(len(ys)); n > 0 {
		w = max(w, 1-60/n)
	}
	w = math.Round(min(max(w, 0), 0.999)*1000) / 1000
	out := make([]float64, len(ys))
	acc, norm := 0.0, 0.0
	for i, y := range ys {
		acc = w*acc + (1-w)*y
		norm = w*norm + (1 - w)
		out[i] = acc / norm
	}
	return out, w
}

// renderMetrics draws the two panels for recs.
func renderMetrics(recs []map[string]any) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, PlotWidth, PlotHeight))
	draw.Draw(img, img.Bounds(), image.NewUniform(colWhite.rgba()), image.Point{}, draw.Src)

	raw, evals := metricSeries(recs)
	trainPanel := plotPanel{
		title: "Training loss", xLabel: "step", yLabel: "loss",
		empty: "no training records", integerX: true,
	}
	if len(raw.xs) > 0 {
		smooth, w := smoothEMA(raw.ys)
		base := plotPalette(0)
		raw.name = "raw"
		raw.col = lighten(base, 0.5)
		raw.width = 1.2
		raw.markers = len(raw.xs) == 1
		trainPanel.lines = []plotLine{raw}
		if len(raw.xs) > 1 {
			trainPanel.lines = append(trainPanel.lines, plotLine{
				name: "smoothed (EMA " + strconv.FormatFloat(w, 'f', -1, 64) + ")", xs: raw.xs, ys: smooth,
				col: base, width: 2.6,
			})
			trainPanel.title = fmt.Sprintf("Training loss  (last %s at step %s)",
				strconv.FormatFloat(raw.ys[len(raw.ys)-1], 'g', 4, 64),
				strconv.FormatFloat(raw.xs[len(raw.xs)-1], 'f', -1, 64))
		}
	}
	evalPanel := plotPanel{
		title: "Evaluation metrics", xLabel: "step", yLabel: "value",
		empty: "no evaluation records", integerX: true, lines: evals,
	}

	// Both panels share the step range so that they line up vertically.
	xlo, xhi := math.Inf(1), math.Inf(-1)
	for _, p := range []plotPanel{trainPanel, evalPanel} {
		for _, l := range p.lines {
			for _, x := range l.xs {
				xlo, xhi = min(xlo, x), max(xhi, x)
			}
		}
	}
	half := PlotHeight / 2
	drawPanel(img, image.Rect(0, 0, PlotWidth, half), trainPanel, xlo, xhi)
	drawPanel(img, image.Rect(0, half, PlotWidth, PlotHeight), evalPanel, xlo, xhi)
	return img
}

// lighten mixes c with white; t=0 is c, t=1 is white.
func lighten(c color.RGBA, t float64) color.RGBA {
	mix := func(v uint8) uint8 { return uint8(float64(v) + (255-float64(v))*t + 0.5) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 255}
}

// axisRange turns a data range into a padded, non-empty axis range.
func axisRange(lo, hi float64, integer bool) (float64, float64) {
	switch {
	case math.IsInf(lo, 0) || math.IsInf(hi, 0) || lo > hi: // no data
		return 0, 1
	case lo == hi:
		d := math.Max(math.Abs(lo)*0.1, 0.5)
		if integer {
			d = math.Max(d, 1)
		}
		return lo - d, hi + d
	}
	pad := (hi - lo) * 0.04
	return lo - pad, hi + pad
}

// niceTicks returns round tick values within [lo, hi], about n of them,
// spaced 1, 2 or 5 times a power of ten, and that spacing.
func niceTicks(lo, hi float64, n int, integer bool) ([]float64, float64) {
	raw := (hi - lo) / float64(max(n-1, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m == 2.5 && integer && mag < 10 { // 2.5 is not a whole number
			continue
		}
		if raw <= m*mag*(1+1e-9) {
			step = m * mag
			break
		}
	}
	if integer {
		step = math.Max(step, 1)
	}
	var ticks []float64
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		v := i * step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, v)
	}
	return ticks, step
}

// tickLabel formats v with just enough decimals for tick spacing step.
func tickLabel(v, step float64) string {
	dec := 0
	if step > 0 && step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
		if s := step * math.Pow(10, float64(dec)); math.Abs(s-math.Round(s)) > 1e-6 {
			dec++ // 0.25 needs two decimals
		}
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// Panel margins, in pixels, between the panel's edge and its plot area.
const (
	marginLeft   = 72
	marginRight  = 24
	marginTop    = 32
	marginBottom = 44
)

// drawPanel draws p into the rectangle r of img, with x axis [xlo, xhi]
// before padding.
func drawPanel(img *image.RGBA, r image.Rectangle, p plotPanel, xlo, xhi float64) {
	pa := image.Rect(r.Min.X+marginLeft, r.Min.Y+marginTop, r.Max.X-marginRight, r.Max.Y-marginBottom)

	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, l := range p.lines {
		for _, y := range l.ys {
			ylo, yhi = min(ylo, y), max(yhi, y)
		}
	}
	x0, x1 := axisRange(xlo, xhi, p.integerX)
	y0, y1 := axisRange(ylo, yhi, false)
	toPx := func(x, y float64) (float64, float64) {
		px := float64(pa.Min.X) + (x-x0)/(x1-x0)*float64(pa.Dx())
		py := float64(pa.Max.Y) - (y-y0)/(y1-y0)*float64(pa.Dy())
		return px, py
	}

	// Grid and ticks.
	xt, xs := niceTicks(x0, x1, 9, p.integerX)
	yt, ys := niceTicks(y0, y1, 6, false)
	for _, x := range xt {
		px, _ := toPx(x, y0)
		ix := int(px)
		fillRect(img, image.Rect(ix, pa.Min.Y, ix+1, pa.Max.Y), colGrid.rgba())
		fillRect(img, image.Rect(ix, pa.Max.Y, ix+1, pa.Max.Y+5), colAxis.rgba())
		lbl := tickLabel(x, xs)
		drawText(img, ix-textWidth(lbl)/2, pa.Max.Y+18, lbl, colText.rgba())
	}
	for _, y := range yt {
		_, py := toPx(x0, y)
		iy := int(py)
		fillRect(img, image.Rect(pa.Min.X, iy, pa.Max.X, iy+1), colGrid.rgba())
		fillRect(img, image.Rect(pa.Min.X-5, iy, pa.Min.X, iy+1), colAxis.rgba())
		lbl := tickLabel(y, ys)
		drawText(img, pa.Min.X-8-textWidth(lbl), iy+5, lbl, colText.rgba())
	}

	// Curves, clipped to the plot area.
	mask := newCoverage(pa)
	for _, l := range p.lines {
		mask.clear()
		for i := 1; i < len(l.xs); i++ {
			ax, ay := toPx(l.xs[i-1], l.ys[i-1])
			bx, by := toPx(l.xs[i], l.ys[i])
			mask.segment(ax, ay, bx, by, l.width/2)
		}
		if l.markers {
			for i := range l.xs {
				cx, cy := toPx(l.xs[i], l.ys[i])
				mask.segment(cx, cy, cx, cy, 3.5)
			}
		}
		mask.paint(img, l.col)
	}

	// Frame, titles and labels.
	strokeRect(img, pa.Inset(-1), colAxis.rgba())
	drawText(img, pa.Min.X, r.Min.Y+20, p.title, colText.rgba())
	drawText(img, pa.Min.X+pa.Dx()/2-textWidth(p.xLabel)/2, pa.Max.Y+36, p.xLabel, colText.rgba())
	drawTextUp(img, r.Min.X+6, pa.Min.Y+pa.Dy()/2+textWidth(p.yLabel)/2, p.yLabel, colText.rgba())
	if len(p.lines) == 0 {
		drawText(img, pa.Min.X+pa.Dx()/2-textWidth(p.empty)/2, pa.Min.Y+pa.Dy()/2+4, p.empty, colMuted.rgba())
		return
	}
	drawLegend(img, pa, p.lines, toPx)
}

// drawLegend draws a framed legend in the corner of pa that covers the
// fewest data points.
func drawLegend(img *image.RGBA, pa image.Rectangle, lines []plotLine, toPx func(x, y float64) (float64, float64)) {
	var named []plotLine
	w := 0
	for _, l := range lines {
		if l.name != "" {
			named = append(named, l)
			w = max(w, textWidth(l.name))
		}
	}
	if len(named) == 0 {
		return
	}
	const rowH, swatch, pad = 17, 22, 7
	bw, bh := pad+swatch+6+w+pad, pad+len(named)*rowH+pad-4
	corners := []image.Rectangle{
		image.Rect(pa.Max.X-10-bw, pa.Min.Y+10, pa.Max.X-10, pa.Min.Y+10+bh), // top right
		image.Rect(pa.Min.X+10, pa.Min.Y+10, pa.Min.X+10+bw, pa.Min.Y+10+bh), // top left
		image.Rect(pa.Max.X-10-bw, pa.Max.Y-10-bh, pa.Max.X-10, pa.Max.Y-10), // bottom right
		image.Rect(pa.Min.X+10, pa.Max.Y-10-bh, pa.Min.X+10+bw, pa.Max.Y-10), // bottom left
	}
	best, bestHits := corners[0], -1
	for _, c := range corners {
		hits := 0
		for _, l := range lines {
			for i := range l.xs {
				px, py := toPx(l.xs[i], l.ys[i])
				if image.Pt(int(px), int(py)).In(c.Inset(-4)) {
					hits++
				}
			}
		}
		if bestHits < 0 || hits < bestHits {
			best, bestHits = c, hits
		}
	}
	fillRect(img, best, colWhite.rgba())
	strokeRect(img, best, colGrid.rgba())
	mask := newCoverage(best)
	for i, l := range named {
		cy := float64(best.Min.Y + pad + i*rowH + 6)
		sx := float64(best.Min.X + pad)
		mask.clear()
		mask.segment(sx, cy, sx+swatch, cy, l.width/2)
		if l.markers {
			mask.segment(sx+swatch/2, cy, sx+swatch/2, cy, 3.5)
		}
		mask.paint(img, l.col)
		drawText(img, best.Min.X+pad+swatch+6, int(cy)+5, l.name, colText.rgba())
	}
}

// coverage is an anti-aliasing mask over a rectangle: how much of each
// pixel a shape covers, from 0 to 1. Shapes are combined with max, so
// overlapping segments of one polyline do not darken their joints.
type coverage struct {
	r image.Rectangle
	a []float32
}

func newCoverage(r image.Rectangle) *coverage {
	return &coverage{r: r, a: make([]float32, r.Dx()*r.Dy())}
}

func (c *coverage) clear() { clear(c.a) }

// segment adds a capsule of half-width hw around the segment (ax,ay)-(bx,by);
// a zero-length segment is a disc.
func (c *coverage) segment(ax, ay, bx, by, hw float64) {
	if math.IsNaN(ax + ay + bx + by) {
		return
	}
	ext := hw + 1
	box := image.Rect(
		int(math.Floor(min(ax, bx)-ext)), int(math.Floor(min(ay, by)-ext)),
		int(math.Ceil(max(ax, bx)+ext)), int(math.Ceil(max(ay, by)+ext)),
	).Intersect(c.r)
	dx, dy := bx-ax, by-ay
	ll := dx*dx + dy*dy
	for y := box.Min.Y; y < box.Max.Y; y++ {
		py := float64(y) + 0.5
		row := (y - c.r.Min.Y) * c.r.Dx()
		for x := box.Min.X; x < box.Max.X; x++ {
			px := float64(x) + 0.5
			t := 0.0
			if ll > 0 {
				t = min(max(((px-ax)*dx+(py-ay)*dy)/ll, 0), 1)
			}
			ex, ey := px-(ax+t*dx), py-(ay+t*dy)
			cov := float32(min(max(hw+0.5-math.Sqrt(ex*ex+ey*ey), 0), 1))
			i := row + x - c.r.Min.X
			c.a[i] = max(c.a[i], cov)
		}
	}
}

// paint blends col into img wherever the mask covers.
func (c *coverage) paint(img *image.RGBA, col color.RGBA) {
	for y := c.r.Min.Y; y < c.r.Max.Y; y++ {
		row := (y - c.r.Min.Y) * c.r.Dx()
		for x := c.r.Min.X; x < c.r.Max.X; x++ {
			a := c.a[row+x-c.r.Min.X]
			if a <= 0 {
				continue
			}
			off := img.PixOffset(x, y)
			px := img.Pix[off : off+4 : off+4]
			blend := func(dst, src uint8) uint8 {
				return uint8(float32(dst)*(1-a) + float32(src)*a + 0.5)
			}
			px[0], px[1], px[2], px[3] = blend(px[0], col.R), blend(px[1], col.G), blend(px[2], col.B), 255
		}
	}
}

func fillRect(img *image.RGBA, r image.Rectangle, col color.RGBA) {
	draw.Draw(img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

// strokeRect draws the one-pixel outline of r, inside r.
func strokeRect(img *image.RGBA, r image.Rectangle, col color.RGBA) {
	fillRect(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+1), col)
	fillRect(img, image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), col)
	fillRect(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y), col)
	fillRect(img, image.Rect(r.Max.X-1, r.Min.Y, r.Max.X, r.Max.Y), col)
}

// textWidth is the width in pixels of s in the 7×13 fixed font.
func textWidth(s string) int { return len([]rune(s)) * basicfont.Face7x13.Advance }

// drawText draws s with its baseline at y and its left edge at x.
func drawText(img draw.Image, x, y int, s string, col color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(col), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// drawTextUp draws s rotated 90° counter-clockwise (reading bottom to top)
// with the text's top edge at x and its start at y.
func drawTextUp(img *image.RGBA, x, y int, s string, col color.RGBA) {
	f := basicfont.Face7x13
	w, h := textWidth(s), f.Height
	tmp := image.NewAlpha(image.Rect(0, 0, w, h))
	d := font.Drawer{Dst: tmp, Src: image.Opaque, Face: f, Dot: fixed.P(0, f.Ascent)}
	d.DrawString(s)
	rot := image.NewAlpha(image.Rect(0, 0, h, w))
	for ty := range h {
		for tx := range w {
			rot.SetAlpha(ty, w-1-tx, tmp.AlphaAt(tx, ty))
		}
	}
	dst := image.Rect(x, y-w, x+h, y)
	draw.DrawMask(img, dst, image.NewUniform(col), image.Point{}, rot, image.Point{}, draw.Over)
}
