package runlog

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// PeakRSS returns the peak resident set size of this process in bytes, read
// from the VmHWM line of /proc/self/status. Where that file does not exist
// (anything but Linux) or cannot be parsed it returns 0.
func PeakRSS() int64 { return procStatusBytes("/proc/self/status", "VmHWM:") }

// ResetPeakRSS starts the peak PeakRSS reports anew from the current
// resident size (Linux: "5" written to /proc/self/clear_refs), so a phase's
// own peak can be measured; it reports whether that worked.
func ResetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// CurrentRSS returns the current resident set size of this process in bytes,
// read from the VmRSS line of /proc/self/status, or 0 where that is not
// available.
func CurrentRSS() int64 { return procStatusBytes("/proc/self/status", "VmRSS:") }

// procStatusBytes finds the line starting with key in a /proc status file
// (e.g. "VmHWM:   123456 kB") and returns its value in bytes, or 0.
func procStatusBytes(path, key string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return parseStatusBytes(data, key)
}

// parseStatusBytes is the parsing half of procStatusBytes, split out for tests.
func parseStatusBytes(data []byte, key string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(key)) {
			continue
		}
		fields := bytes.Fields(line[len(key):])
		if len(fields) == 0 {
			return 0
		}
		v, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil || v < 0 {
			return 0
		}
		mult := int64(1)
		if len(fields) > 1 {
			switch string(bytes.ToLower(fields[1])) {
			case "kb":
				mult = 1 << 10
			case "mb":
				mult = 1 << 20
			case "gb":
				mult = 1 << 30
			}
		}
		return v * mult
	}
	return 0
}
