package runlog

import (
	"fmt"
	"strconv"
	"time"
)

// FormatDuration formats d as m:ss below one hour and h:mm:ss from one hour
// on, rounded to the nearest second, e.g. "0:16", "12:03", "1:02:03".
// Negative durations get a leading minus sign.
func FormatDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign = "-"
		d = -d
	}
	secs := int64(d.Round(time.Second) / time.Second)
	h, m, s := secs/3600, secs/60%60, secs%60
	if h > 0 {
		return fmt.Sprintf("%s%d:%02d:%02d", sign, h, m, s)
	}
	return fmt.Sprintf("%s%d:%02d", sign, m, s)
}

// FormatBytes formats n bytes with binary units: "512 B", "1.5 KiB",
// "12.3 MiB", "1.21 GiB", "2.00 TiB". Values of 1 GiB and more get two
// decimals, since memory budgets are usually discussed at that scale.
func FormatBytes(n int64) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign = "-"
		u = uint64(-(n + 1)) + 1 // safe for math.MinInt64
	}
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
		tib = 1 << 40
	)
	f := float64(u)
	switch {
	case u < kib:
		return sign + strconv.FormatUint(u, 10) + " B"
	case u < mib:
		return fmt.Sprintf("%s%.1f KiB", sign, f/kib)
	case u < gib:
		return fmt.Sprintf("%s%.1f MiB", sign, f/mib)
	case u < tib:
		return fmt.Sprintf("%s%.2f GiB", sign, f/gib)
	default:
		return fmt.Sprintf("%s%.2f TiB", sign, f/tib)
	}
}

// formatThousands writes n with a comma every three digits, as Python's
// "{:,d}" does: 110076674 -> "110,076,674".
func formatThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
