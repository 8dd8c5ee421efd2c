package runlog

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// Field is one extra value shown on a progress line, e.g.
// Field{Key: "loss", Value: "0.4321"}, printed as "loss 0.4321".
type Field struct {
	// Key is the label, e.g. "loss" or "lr".
	Key string
	// Value is the already-formatted value, e.g. "0.4321" or "2.0e-05".
	Value string
}

// Defaults for [Progress].
const (
	// DefaultLogInterval is the least time between two lines a Progress
	// prints when its writer is not a terminal (CI logs, files, pipes).
	DefaultLogInterval = 10 * time.Second
	// DefaultRedrawInterval is the least time between two redraws of the
	// line when the writer is a terminal.
	DefaultRedrawInterval = 250 * time.Millisecond
	// progressBarWidth is the number of cells between the brackets.
	progressBarWidth = 30
	// stepTimeSmoothing is the weight of one new step in the exponential
	// moving average of the step time: about the last 10 steps matter.
	stepTimeSmoothing = 0.1
)

// ProgressOption configures a [Progress] at construction time.
type ProgressOption func(*Progress)

// WithClock makes the Progress read the time from now instead of
// time.Now; tests use it to drive the bar with a fake clock.
func WithClock(now func() time.Time) ProgressOption {
	return func(p *Progress) { p.now = now }
}

// WithLogInterval sets the least time between two plain lines when the
// writer is not a terminal (default [DefaultLogInterval]). Zero or a
// negative value prints every update.
func WithLogInterval(d time.Duration) ProgressOption {
	return func(p *Progress) { p.logInterval = d }
}

// WithTerminal overrides terminal detection: true redraws a single line
// with '\r', false prints plain throttled lines.
func WithTerminal(tty bool) ProgressOption {
	return func(p *Progress) { p.tty = tty }
}

// Progress is a progress bar for a long loop, such as training steps or
// evaluation batches. A line looks like
//
//	train  [#########.....................] 37/120 31% | loss 0.4321 | 2.31 it/s | elapsed 0:16 | ETA 0:36
//
// The rate and the ETA come from an exponentially smoothed time per step.
// The first interval (from NewProgress to the first update that advances)
// usually includes graph compilation, so it is used only until a second
// interval has been measured and never enters the average.
//
// On a terminal the line is redrawn in place with '\r' at most every
// [DefaultRedrawInterval]; on anything else a plain line is printed at the
// first update, then at most every [DefaultLogInterval] (see
// [WithLogInterval]), and once more by Done, so CI logs are not flooded.
//
// Write errors are ignored: progress output is cosmetic and must not stop a
// run. A Progress is safe for concurrent use.
type Progress struct {
	mu sync.Mutex

	w              io.Writer
	label          string
	total          int
	tty            bool
	now            func() time.Time
	logInterval    time.Duration
	redrawInterval time.Duration
	start          time.Time
	done           int
	fields         []Field
	lastTime       time.Time // time of the last update that advanced done
	lastDone       int
	samples        int     // number of measured intervals
	warmup         float64 // seconds per step of the first interval
	stepEMA        float64 // smoothed seconds per step, from the second interval on
	lastPrint      time.Time
	printed        bool // a line has been printed
	dirty          bool // the state changed since the last printed line
	lastLen        int  // length of the last terminal line, to blank leftovers
	finished       bool
}

// NewProgress returns a progress bar labelled label for a loop of total
// steps, writing to w. A total of 0 or less means unknown: no bar,
// percentage or ETA is shown. The elapsed time counts from this call.
// A nil w gives a nil *Progress, whose methods do nothing.
func NewProgress(w io.Writer, label string, total int, opts ...ProgressOption) *Progress {
	if w == nil {
		return nil
	}
	p := &Progress{
		w:              w,
		label:          label,
		total:          total,
		tty:            isTerminal(w),
		now:            time.Now,
		logInterval:    DefaultLogInterval,
		redrawInterval: DefaultRedrawInterval,
	}
	for _, o := range opts {
		o(p)
	}
	p.start = p.now()
	p.lastTime = p.start
	return p
}

// Update records that done steps are finished (a count, not an increment)
// and sets the fields shown after the counter; it prints if the throttling
// interval has passed. Fields are copied. Updates after Done are ignored.
func (p *Progress) Update(done int, fields ...Field) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	now := p.now()
	p.observe(now, done)
	p.done = done
	p.fields = append(p.fields[:0], fields...)
	p.dirty = true

	interval := p.logInterval
	if p.tty {
		interval = p.redrawInterval
	}
	if p.printed && now.Sub(p.lastPrint) < interval {
		return
	}
	p.print(now, false)
}

// Done prints the final state (on a terminal it also ends the line) and
// stops further output. It is safe to call more than once.
func (p *Progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	now := p.now()
	if p.tty || p.dirty || !p.printed {
		p.print(now, true)
	}
}

// observe folds the time since the last advancing update into the step-time
// average.
func (p *Progress) observe(now time.Time, done int) {
	n := done - p.lastDone
	if n <= 0 {
		if n < 0 { // the caller restarted the count: measure from here
			p.lastDone, p.lastTime = done, now
		}
		return
	}
	perStep := now.Sub(p.lastTime).Seconds() / float64(n)
	switch p.samples {
	case 0:
		p.warmup = perStep
	case 1:
		p.stepEMA = perStep
	default:
		// n steps at once weigh as much as n single-step updates would.
		a := 1 - math.Pow(1-stepTimeSmoothing, float64(n))
		p.stepEMA += a * (perStep - p.stepEMA)
	}
	p.samples++
	p.lastDone, p.lastTime = done, now
}

// stepTime returns the current estimate of seconds per step.
func (p *Progress) stepTime() (float64, bool) {
	switch {
	case p.samples >= 2:
		return p.stepEMA, true
	case p.samples == 1:
		return p.warmup, true
	}
	return 0, false
}

// print writes the current line; final ends a terminal line with '\n'.
func (p *Progress) print(now time.Time, final bool) {
	line := p.line(now, final)
	var out string
	if p.tty {
		pad := ""
		if n := p.lastLen - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		out = "\r" + line + pad
		if final {
			out += "\n"
		}
		p.lastLen = len(line)
	} else {
		out = line + "\n"
	}
	_, _ = io.WriteString(p.w, out)
	p.lastPrint = now
	p.printed = true
	p.dirty = false
}

// line renders the progress line without any terminal control characters.
func (p *Progress) line(now time.Time, final bool) string {
	var b strings.Builder
	b.WriteString(p.label)
	b.WriteString("  ")
	if p.total > 0 {
		frac := min(max(float64(p.done)/float64(p.total), 0), 1)
		fill := int(frac * progressBarWidth)
		b.WriteByte('[')
		b.WriteString(strings.Repeat("#", fill))
		b.WriteString(strings.Repeat(".", progressBarWidth-fill))
		b.WriteString("] ")
		pct := int(math.Round(frac * 100))
		if p.done < p.total && pct == 100 {
			pct = 99 // never claim 100% before the end
		}
		fmt.Fprintf(&b, "%d/%d %d%%", p.done, p.total, pct)
	} else {
		fmt.Fprintf(&b, "%d", p.done)
	}
	for _, f := range p.fields {
		fmt.Fprintf(&b, " | %s %s", f.Key, f.Value)
	}
	st, ok := p.stepTime()
	switch {
	case !ok || st <= 0:
		b.WriteString(" | ? it/s")
	case st <= 1:
		fmt.Fprintf(&b, " | %.2f it/s", 1/st)
	default:
		fmt.Fprintf(&b, " | %.2f s/it", st)
	}
	b.WriteString(progressMark + FormatDuration(now.Sub(p.start)))
	if p.total > 0 {
		remaining := p.total - p.done
		switch {
		case remaining <= 0:
			b.WriteString(" | ETA 0:00")
		case final:
			// Stopped early: an ETA would be misleading.
		case !ok:
			b.WriteString(" | ETA ?")
		default:
			eta := time.Duration(st * float64(remaining) * float64(time.Second))
			fmt.Fprintf(&b, " | ETA %s", FormatDuration(eta))
		}
	}
	return b.String()
}

// progressMark is in every line a Progress prints.
const progressMark = " | elapsed "

// ProgressLines returns a writer that passes on to w, each prefixed with
// prefix, only the complete lines of what it is given that are progress
// lines (a Progress's output; a line redrawn with '\r' counts once it
// ends), for showing a child process's progress while its full output goes
// to a log.
func ProgressLines(w io.Writer, prefix string) io.Writer {
	return &progressLines{w: w, prefix: prefix}
}

type progressLines struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

// Write implements io.Writer; it never fails (the log is what matters).
func (f *progressLines) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = append(f.buf, b...)
	for {
		i := bytes.IndexAny(f.buf, "\r\n")
		if i < 0 {
			break
		}
		line := string(f.buf[:i])
		f.buf = f.buf[i+1:]
		if strings.Contains(line, progressMark) {
			fmt.Fprintf(f.w, "%s%s\n", f.prefix, strings.TrimSpace(line))
		}
	}
	if len(f.buf) > 1<<16 { // a long line without an end: not a progress line
		f.buf = f.buf[:0]
	}
	return len(b), nil
}
