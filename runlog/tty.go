package runlog

import (
	"io"
	"os"
)

// isTerminal reports whether w is an *os.File open on a character device,
// which is how a terminal looks to stat(2). It needs no cgo and no ioctl;
// the price is that /dev/null also counts as a terminal, which is harmless
// since nothing there is read.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}
