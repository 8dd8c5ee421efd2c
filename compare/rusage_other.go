//go:build !unix

package compare

import "os"

func maxRSS(ps *os.ProcessState) int64 { return 0 }

func exitSignal(ps *os.ProcessState) (string, bool) { return "", false }
