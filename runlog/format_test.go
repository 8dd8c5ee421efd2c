package runlog

import (
	"math"
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0:00"},
		{16 * time.Second, "0:16"},
		{1500 * time.Millisecond, "0:02"},
		{12*time.Minute + 3*time.Second, "12:03"},
		{59*time.Minute + 59*time.Second, "59:59"},
		{time.Hour, "1:00:00"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1:02:03"},
		{27*time.Hour + 5*time.Second, "27:00:05"},
		{-5 * time.Second, "-0:05"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{12*1024*1024 + 300*1024, "12.3 MiB"},
		{1300 * 1024 * 1024, "1.27 GiB"},
		{2 << 40, "2.00 TiB"},
		{-2048, "-2.0 KiB"},
		{math.MinInt64, "-8388608.00 TiB"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.n); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestFormatThousands(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {294912, "294,912"},
		{110076674, "110,076,674"}, {-1234567, "-1,234,567"},
	}
	for _, tt := range tests {
		if got := formatThousands(tt.n); got != tt.want {
			t.Errorf("formatThousands(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestParseStatusBytes(t *testing.T) {
	status := "Name:\tgotune\nVmPeak:\t  900 kB\nVmHWM:\t  123456 kB\nVmRSS:\t   2048 kB\n"
	tests := []struct {
		key  string
		want int64
	}{
		{"VmHWM:", 123456 << 10},
		{"VmRSS:", 2048 << 10},
		{"VmSwap:", 0},
	}
	for _, tt := range tests {
		if got := parseStatusBytes([]byte(status), tt.key); got != tt.want {
			t.Errorf("parseStatusBytes(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestRSS(t *testing.T) {
	cur := CurrentRSS()
	peak := PeakRSS() // read second: memory may grow in between
	if peak < 0 || cur < 0 {
		t.Fatalf("PeakRSS() = %d, CurrentRSS() = %d; want >= 0", peak, cur)
	}
	if peak > 0 && cur > peak {
		t.Errorf("CurrentRSS() = %d > PeakRSS() = %d", cur, peak)
	}
	if got := procStatusBytes("/nonexistent/status", "VmHWM:"); got != 0 {
		t.Errorf("missing file: got %d, want 0", got)
	}
}
