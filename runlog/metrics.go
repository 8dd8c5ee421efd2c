package runlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
)

// MetricsLog appends one JSON object per line to a file (JSON Lines), the
// per-step record of a run. Each record is written with a single write
// call and nothing is buffered, so a process killed with SIGKILL loses at
// most the line being written. A MetricsLog is safe for concurrent use.
type MetricsLog struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// CreateMetricsLog opens path for writing metrics records, creating its
// parent directory if needed. With appendMode false the file is truncated;
// with appendMode true records are added after the existing ones, and a
// partial last line left by a killed process is cut off first so the new
// records do not run into it.
func CreateMetricsLog(path string, appendMode bool) (*MetricsLog, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("runlog: creating directory for metrics log: %w", err)
		}
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendMode {
		flag = os.O_RDWR | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("runlog: opening metrics log: %w", err)
	}
	if appendMode {
		if err := dropPartialLine(f); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("runlog: repairing metrics log %s: %w", path, err)
		}
	}
	return &MetricsLog{f: f, path: path}, nil
}

// dropPartialLine truncates f after its last '\n', removing an unterminated
// last line. A file that is empty or ends in '\n' is left alone.
func dropPartialLine(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	const chunk = 4096
	buf := make([]byte, chunk)
	for pos := end; pos > 0; {
		n := int64(min(chunk, pos))
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		i := bytes.LastIndexByte(buf[:n], '\n')
		if i < 0 {
			continue
		}
		keep := pos + int64(i) + 1
		if keep == end {
			return nil
		}
		return f.Truncate(keep)
	}
	if end == 0 {
		return nil
	}
	return f.Truncate(0) // a single partial line and nothing else
}

// Path returns the file the log writes to.
func (m *MetricsLog) Path() string { return m.path }

// Write appends rec as one line of JSON. Keys are sorted, numbers are JSON
// numbers, and NaN or ±Inf floats (also inside nested maps and slices) are
// written as null, since JSON has no spelling for them. The record is
// handed to the operating system before Write returns.
func (m *MetricsLog) Write(rec map[string]any) error {
	line, err := json.Marshal(sanitizeJSON(rec))
	if err != nil {
		return fmt.Errorf("runlog: encoding metrics record for %s: %w", m.path, err)
	}
	line = append(line, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return fmt.Errorf("runlog: writing metrics record to %s: log is closed", m.path)
	}
	if _, err := m.f.Write(line); err != nil {
		return fmt.Errorf("runlog: writing metrics record to %s: %w", m.path, err)
	}
	return nil
}

// Close syncs the file to disk and closes it. Closing twice is a no-op.
func (m *MetricsLog) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return nil
	}
	f := m.f
	m.f = nil
	syncErr := f.Sync()
	if err := f.Close(); err != nil {
		return fmt.Errorf("runlog: closing metrics log %s: %w", m.path, err)
	}
	if syncErr != nil {
		return fmt.Errorf("runlog: syncing metrics log %s: %w", m.path, syncErr)
	}
	return nil
}

// sanitizeJSON returns v with non-finite floats replaced by nil, copying
// only the maps and slices it has to look into. Values of other types are
// returned unchanged for encoding/json to handle.
func sanitizeJSON(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = sanitizeJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sanitizeJSON(e)
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sanitizeJSON(e)
		}
		return out
	case []float32:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sanitizeJSON(e)
		}
		return out
	}
	return v
}

// ReadMetrics reads a JSON Lines metrics file written by [MetricsLog].
// Numbers come back as float64, null as nil. Blank lines are skipped. A
// last line that is not valid JSON and has no terminating newline is taken
// to be a record cut short by a killed process and is dropped silently;
// any other bad line is an error naming path:line.
func ReadMetrics(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("runlog: reading metrics: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var recs []map[string]any
	for lineNo := 1; ; lineNo++ {
		line, readErr := r.ReadBytes('\n')
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return nil, fmt.Errorf("runlog: reading metrics %s:%d: %w", path, lineNo, readErr)
		}
		terminated := readErr == nil
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var rec map[string]any
			err := json.Unmarshal(trimmed, &rec)
			if err == nil && rec == nil {
				err = errors.New("record is not a JSON object")
			}
			switch {
			case err == nil:
				recs = append(recs, rec)
			case !terminated:
				// Truncated last line: the writer was killed mid-record.
			default:
				return nil, fmt.Errorf("runlog: %s:%d: malformed metrics record: %w", path, lineNo, err)
			}
		}
		if !terminated {
			return recs, nil
		}
	}
}
