package runlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock for Progress tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

// step is one Update call in a scripted loop: wait, then report done.
type step struct {
	wait time.Duration
	done int
}

// loop returns total single-step updates, the first taking first and the
// rest each.
func loop(total int, first, each time.Duration) []step {
	s := []step{{first, 1}}
	for i := 2; i <= total; i++ {
		s = append(s, step{each, i})
	}
	return s
}

func TestProgressPlainLines(t *testing.T) {
	tests := []struct {
		name      string
		total     int
		interval  time.Duration
		steps     []step
		fields    []Field
		wantLines int      // including Done's, printed only if something changed
		wantIn    []string // substrings of the last line before Done
		wantFinal []string // substrings of Done's line
	}{
		{
			name:  "throttled with slow first step",
			total: 120, interval: 10 * time.Second,
			// 20 s compile, then 0.5 s per step: 59.5 s of steps after the
			// first print -> prints at 1, then every 10 s (6 more), plus Done.
			steps:     loop(120, 20*time.Second, 500*time.Millisecond),
			fields:    []Field{{"loss", "0.4321"}, {"lr", "2.0e-05"}},
			wantLines: 1 + 5 + 1,
			wantIn:    []string{"| loss 0.4321 | lr 2.0e-05 |", "2.00 it/s", "ETA 0:"},
			wantFinal: []string{"train  [##############################] 120/120 100%", "2.00 it/s", "elapsed 1:20", "ETA 0:00"},
		},
		{
			name:  "every update when interval is zero",
			total: 5, interval: 0,
			steps:     loop(5, time.Second, time.Second),
			wantLines: 5, // Done has nothing new to print
			wantIn:    []string{"5/5 100%", "1.00 it/s"},
			wantFinal: []string{"5/5 100%", "elapsed 0:05"},
		},
		{
			name:  "slow steps shown as s/it",
			total: 10, interval: time.Minute,
			steps:     loop(3, 5*time.Second, 4*time.Second),
			wantLines: 1 + 1,
			wantIn:    []string{"1/10 10%", "5.00 s/it", "ETA 0:45"},
			wantFinal: []string{"3/10 30%", "4.00 s/it", "elapsed 0:13"},
		},
		{
			name:  "unknown total",
			total: 0, interval: 0,
			steps:     loop(2, time.Second, time.Second),
			wantLines: 2,
			wantIn:    []string{"train  2 |"},
			wantFinal: []string{"train  2 |", "elapsed 0:02"},
		},
		{
			name:  "several steps per update",
			total: 100, interval: 0,
			steps:     []step{{30 * time.Second, 10}, {5 * time.Second, 20}, {5 * time.Second, 30}},
			wantLines: 3,
			wantIn:    []string{"30/100 30%", "2.00 it/s", "ETA 0:35"},
			wantFinal: []string{"30/100 30%"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			clk := newFakeClock()
			p := NewProgress(&b, "train", tt.total, WithClock(clk.now), WithLogInterval(tt.interval))
			for _, s := range tt.steps {
				clk.advance(s.wait)
				p.Update(s.done, tt.fields...)
			}
			before := b.String()
			p.Done()
			p.Done()      // idempotent
			p.Update(999) // ignored after Done
			out := b.String()
			if strings.Contains(out, "\r") {
				t.Errorf("plain output contains \\r:\n%s", out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != tt.wantLines {
				t.Errorf("got %d lines, want %d:\n%s", len(lines), tt.wantLines, out)
			}
			beforeLines := strings.Split(strings.TrimSuffix(before, "\n"), "\n")
			last := beforeLines[len(beforeLines)-1]
			for _, s := range tt.wantIn {
				if !strings.Contains(last, s) {
					t.Errorf("last line before Done %q lacks %q", last, s)
				}
			}
			final := lines[len(lines)-1]
			for _, s := range tt.wantFinal {
				if !strings.Contains(final, s) {
					t.Errorf("final line %q lacks %q", final, s)
				}
			}
		})
	}
}

func TestProgressWarmupDoesNotDominate(t *testing.T) {
	var b strings.Builder
	clk := newFakeClock()
	p := NewProgress(&b, "train", 120, WithClock(clk.now), WithLogInterval(0))
	clk.advance(60 * time.Second) // compilation
	p.Update(1)
	if got := b.String(); !strings.Contains(got, "60.00 s/it") || !strings.Contains(got, "ETA 1:59:00") {
		t.Errorf("after the first step the only estimate is the first step: %q", got)
	}
	for i := 2; i <= 20; i++ {
		clk.advance(time.Second)
		p.Update(i)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	last := lines[len(lines)-1]
	// 100 steps left at 1 s each.
	for _, want := range []string{"20/120 17%", "1.00 it/s", "elapsed 1:19", "ETA 1:40"} {
		if !strings.Contains(last, want) {
			t.Errorf("line %q lacks %q", last, want)
		}
	}
}

func TestProgressTerminal(t *testing.T) {
	var b strings.Builder
	clk := newFakeClock()
	p := NewProgress(&b, "eval", 20, WithClock(clk.now), WithTerminal(true))
	for i := 1; i <= 20; i++ {
		clk.advance(100 * time.Millisecond)
		p.Update(i, Field{"loss", "0.5"})
	}
	if strings.Contains(b.String(), "\n") {
		t.Fatalf("terminal output has a newline before Done: %q", b.String())
	}
	p.Done()
	out := b.String()
	// Redraws at 0.1 s, then every 0.3 s (the first update at least 0.25 s
	// later): 0.1, 0.4, ..., 1.9 -> 7 redraws, plus Done's.
	if got, want := strings.Count(out, "\r"), 8; got != want {
		t.Errorf("got %d redraws, want %d: %q", got, want, out)
	}
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("Done should end the line exactly once: %q", out)
	}
	final := out[strings.LastIndex(out, "\r")+1:]
	for _, want := range []string{"eval  [", "20/20 100%", "| loss 0.5 |", "10.00 it/s", "ETA 0:00"} {
		if !strings.Contains(final, want) {
			t.Errorf("final line %q lacks %q", final, want)
		}
	}
}

func TestProgressTerminalBlanksShorterLine(t *testing.T) {
	var b strings.Builder
	clk := newFakeClock()
	p := NewProgress(&b, "x", 10, WithClock(clk.now), WithTerminal(true))
	clk.advance(time.Second)
	p.Update(1, Field{"note", "a long value that will go away"})
	clk.advance(time.Second)
	p.Update(2)
	redraws := strings.Split(b.String(), "\r")[1:]
	if len(redraws) != 2 {
		t.Fatalf("got %d redraws, want 2: %q", len(redraws), b.String())
	}
	if len(redraws[1]) != len(redraws[0]) {
		t.Errorf("shorter line not padded to erase the longer one: %q then %q", redraws[0], redraws[1])
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name string
		w    any
		want bool
	}{
		{"regular file", f, false},
		{"builder", &strings.Builder{}, false},
		{"nil file", (*os.File)(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := tt.w.(interface{ Write([]byte) (int, error) })
			if got := isTerminal(w); got != tt.want {
				t.Errorf("isTerminal = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestProgressLines: only a Progress's lines pass, prefixed, whole, even
// when written in pieces; a nil Progress does nothing.
func TestProgressLines(t *testing.T) {
	var child, shown strings.Builder
	clock := newFakeClock()
	p := NewProgress(&child, "train", 4, WithClock(clock.now), WithTerminal(false))
	for i := 1; i <= 4; i++ {
		clock.advance(11 * time.Second)
		p.Update(i)
	}
	p.Done()
	out := "model: bert\n" + child.String() + "eval step 4: loss 0.1\n"
	w := ProgressLines(&shown, "    ")
	for i := 0; i < len(out); i += 7 { // in pieces that split lines
		w.Write([]byte(out[i:min(i+7, len(out))]))
	}
	lines := strings.Split(strings.TrimRight(shown.String(), "\n"), "\n")
	if len(lines) != strings.Count(child.String(), "\n") || len(lines) < 2 {
		t.Fatalf("passed %d lines of %d progress lines:\n%s", len(lines), strings.Count(child.String(), "\n"), shown.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "    train  [") || !strings.Contains(l, "s/it") || !strings.Contains(l, "ETA") {
			t.Errorf("line %q", l)
		}
	}
	var none *Progress = NewProgress(nil, "x", 3)
	none.Update(1)
	none.Done()
	if none != nil {
		t.Error("NewProgress(nil) is not nil")
	}
}
