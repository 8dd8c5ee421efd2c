// Package data reads labelled text-classification data (JSON Lines, JSON,
// CSV, TSV), maps labels to ids, splits off evaluation data and makes padded
// batches whose shapes come from a small fixed set of length buckets.
//
// Errors name the file and line of the offending record, e.g.
//
//	train.jsonl:7: no "text" field (fields present: label, sentence)
package data

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Options names the fields of a record.
type Options struct {
	// TextField is the field with the text to classify ("text" if empty).
	TextField string
	// TextPairField is the field with the second text of a sentence pair
	// task; "" means single-text examples.
	TextPairField string
	// LabelField is the field with the label ("label" if empty).
	LabelField string
}

// DefaultOptions returns the default field names: "text", no pair, "label".
func DefaultOptions() Options {
	return Options{TextField: "text", LabelField: "label"}
}

// withDefaults fills empty field names.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.TextField == "" {
		o.TextField = d.TextField
	}
	if o.LabelField == "" {
		o.LabelField = d.LabelField
	}
	return o
}

// Field names of pre-tokenized records.
const (
	InputIDsField     = "input_ids"
	TokenTypeIDsField = "token_type_ids"
)

// Example is one record of a data file.
type Example struct {
	Text, TextPair string
	// HasPair is set when the record has a second segment: a JSON string,
	// even "" (Hugging Face encodes text_pair="" as an empty segment), or
	// a non-empty CSV/TSV cell (an empty cell is missing, as pandas reads
	// it). A null or absent field is no pair.
	HasPair bool
	// Label is the label as text; integer labels become their decimal
	// string. It is set only if HasLabel.
	Label    string
	HasLabel bool
	// InputIDs and TokenTypeIDs are set when the record carries
	// pre-tokenized input (TokenTypeIDs may then be nil: all zero).
	InputIDs, TokenTypeIDs []int32
	// Raw is the record as read (JSON values decoded with json.Number for
	// numbers; CSV/TSV values are strings), to echo back in predictions.
	Raw map[string]any
	// Source is "file:line" of the record.
	Source string
}

// ReadFile reads the examples of a data file, choosing the format by
// extension: .jsonl (JSON Lines), .json (JSON Lines, or one top-level JSON
// array of objects), .csv (comma-separated, quoted fields allowed) and .tsv
// (tab-separated, no quoting, as GLUE's files). CSV and TSV files start with
// a header row naming the fields. Blank lines are skipped. A record needs the
// text field or pre-tokenized "input_ids" (a JSON array of ints, or in CSV
// and TSV a string such as "[101, 2023, 102]"), and the label field if
// requireLabel. An empty label ("" or null) counts as no label.
//
// Untrusted text: a file must be UTF-8 (a leading byte order mark is
// dropped; a UTF-16 one is an error), with no invalid UTF-8, no NUL bytes,
// and no line longer than MaxLineBytes (except in a .json file, which may
// be one long line); CRLF line ends are read as LF. Each of these is
// checked in a first streaming pass that holds at most one line, before the
// file is read whole, so a hostile file fails with its line number after
// using at most MaxLineBytes of memory.
func ReadFile(path string, opts Options, requireLabel bool) ([]Example, error) {
	opts = opts.withDefaults()
	ext := strings.ToLower(filepath.Ext(path))
	if !slices.Contains([]string{".jsonl", ".json", ".csv", ".tsv"}, ext) {
		return nil, fmt.Errorf("data: %s: unknown extension %q (want .jsonl, .json, .csv or .tsv)", path, ext)
	}
	if err := CheckText(path, ext == ".json"); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	var recs []record
	switch ext {
	case ".jsonl":
		recs, err = readJSONLines(path, data)
	case ".json":
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
			recs, err = readJSONArray(path, data)
		} else {
			recs, err = readJSONLines(path, data)
		}
	case ".csv":
		recs, err = readCSV(path, data)
	case ".tsv":
		recs, err = readTSV(path, data)
	default:
		return nil, fmt.Errorf("data: %s: unknown extension %q (want .jsonl, .json, .csv or .tsv)", path, ext)
	}
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no examples", path)
	}
	out := make([]Example, len(recs))
	for i, r := range recs {
		src := fmt.Sprintf("%s:%d", path, r.line)
		if out[i], err = toExample(r.fields, src, opts, requireLabel, r.tabular); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MaxLineBytes is the longest line a data file may have (16 MiB), except
// in .json files.
const MaxLineBytes = 16 << 20

var utf8BOM = []byte("\xef\xbb\xbf")

// CheckText streams through a data file checking that it is UTF-8 text
// (a UTF-8 byte order mark allowed) without NUL bytes, with lines of at
// most MaxLineBytes (any length when anyLength); errors name the line. It
// holds at most one line in memory.
func CheckText(path string, anyLength bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	limit := MaxLineBytes
	if anyLength {
		if st, err := f.Stat(); err == nil && st.Size() >= int64(limit) {
			limit = int(st.Size()) + 1
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), limit)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			if bytes.HasPrefix(b, []byte("\xff\xfe")) || bytes.HasPrefix(b, []byte("\xfe\xff")) {
				return fmt.Errorf("%s: the file is UTF-16 (it starts with a UTF-16 byte order mark); convert it to UTF-8", path)
			}
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return fmt.Errorf("%s:%d: NUL byte at column %d: not a UTF-8 text file (UTF-16, or binary?)", path, line, i+1)
		}
		if !utf8.Valid(b) {
			i := 0
			for i < len(b) {
				r, n := utf8.DecodeRune(b[i:])
				if r == utf8.RuneError && n <= 1 {
					break
				}
				i += n
			}
			return fmt.Errorf("%s:%d: invalid UTF-8 at byte %d of the line (byte 0x%02x); the file must be UTF-8", path, line, i+1, b[i])
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("%s:%d: line longer than %d MiB", path, line+1, MaxLineBytes>>20)
	} else if err != nil {
		return fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	return nil
}

// record is one parsed record and its line.
type record struct {
	line   int
	fields map[string]any
	// tabular marks a CSV/TSV row (an empty cell is a missing value).
	tabular bool
}

// decodeObject decodes one JSON object, numbers as json.Number.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON: more than one JSON value on the line")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object but %s", describe(v))
	}
	return m, nil
}

// readJSONLines parses one JSON object per non-blank line.
func readJSONLines(path string, data []byte) ([]record, error) {
	var recs []record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		m, err := decodeObject(b)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		recs = append(recs, record{line: line, fields: m})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	return recs, nil
}

// readJSONArray parses a top-level JSON array of objects.
func readJSONArray(path string, data []byte) ([]record, error) {
	lineAt := func(off int64) int {
		off = min(off, int64(len(data)))
		// Skip separators to the start of the next value.
		for off < int64(len(data)) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
			off++
		}
		return bytes.Count(data[:off], []byte("\n")) + 1
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '['
		return nil, fmt.Errorf("%s:1: not valid JSON: %v", path, err)
	}
	var recs []record
	for dec.More() {
		line := lineAt(dec.InputOffset())
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s:%d: not valid JSON: %v", path, line, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s:%d: array element %d is not a JSON object but %s", path, line, len(recs), describe(v))
		}
		recs = append(recs, record{line: line, fields: m})
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, fmt.Errorf("%s:%d: not valid JSON: %v", path, lineAt(dec.InputOffset()), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s:%d: not valid JSON: data after the top-level array", path, lineAt(dec.InputOffset()))
	}
	return recs, nil
}

// readCSV parses comma-separated values with a header row.
func readCSV(path string, data []byte) ([]record, error) {
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: no examples (empty file)", path)
	}
	if err != nil {
		return nil, csvError(path, err)
	}
	if err := checkHeader(path, 1, header); err != nil {
		return nil, err
	}
	var recs []record
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(path, err)
		}
		line, _ := r.FieldPos(0)
		recs = append(recs, record{line: line, fields: rowFields(header, row), tabular: true})
	}
	return recs, nil
}

// csvError formats an encoding/csv error as path:line.
func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("%s:%d: wrong number of fields (the header names a different number)", path, pe.StartLine)
		}
		return fmt.Errorf("%s:%d: %v", path, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// readTSV parses tab-separated values with a header row. Fields are not
// unquoted (GLUE's TSV files contain bare quote characters).
func readTSV(path string, data []byte) ([]record, error) {
	var header []string
	var recs []record
	for i, ln := range strings.Split(string(data), "\n") {
		line := i + 1
		ln = strings.TrimSuffix(ln, "\r")
		if strings.TrimSpace(ln) == "" {
			continue
		}
		row := strings.Split(ln, "\t")
		if header == nil {
			if err := checkHeader(path, line, row); err != nil {
				return nil, err
			}
			header = row
			continue
		}
		if len(row) != len(header) {
			return nil, fmt.Errorf("%s:%d: %d tab-separated fields, the header has %d", path, line, len(row), len(header))
		}
		recs = append(recs, record{line: line, fields: rowFields(header, row), tabular: true})
	}
	return recs, nil
}

// checkHeader rejects empty and duplicate field names.
func checkHeader(path string, line int, header []string) error {
	seen := map[string]bool{}
	for i, h := range header {
		if h == "" {
			return fmt.Errorf("%s:%d: header field %d is empty", path, line, i+1)
		}
		if seen[h] {
			return fmt.Errorf("%s:%d: header names field %q twice", path, line, h)
		}
		seen[h] = true
	}
	return nil
}

// rowFields pairs a CSV/TSV row with the header.
func rowFields(header, row []string) map[string]any {
	m := make(map[string]any, len(header))
	for i, h := range header {
		m[h] = row[i]
	}
	return m
}

// describe names the JSON type of v for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "the number " + v.String()
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// fieldNames lists the fields of a record, sorted.
func fieldNames(m map[string]any) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// toExample interprets one record.
func toExample(m map[string]any, src string, opts Options, requireLabel, tabular bool) (Example, error) {
	ex := Example{Raw: m, Source: src}
	ids, hasIDs, err := intsField(m, InputIDsField, src)
	if err != nil {
		return ex, err
	}
	if hasIDs {
		if len(ids) == 0 {
			return ex, fmt.Errorf("%s: field %q is empty", src, InputIDsField)
		}
		ex.InputIDs = ids
		types, hasTypes, err := intsField(m, TokenTypeIDsField, src)
		if err != nil {
			return ex, err
		}
		if hasTypes {
			if len(types) != len(ids) {
				return ex, fmt.Errorf("%s: %q has %d values but %q has %d", src, TokenTypeIDsField, len(types), InputIDsField, len(ids))
			}
			ex.TokenTypeIDs = types
		}
	}

	text, hasText, err := stringField(m, opts.TextField, src)
	if err != nil {
		return ex, err
	}
	switch {
	case hasText:
		ex.Text = text
		if opts.TextPairField != "" {
			pair, hasPair, err := stringField(m, opts.TextPairField, src)
			if err != nil {
				return ex, err
			}
			if _, present := m[opts.TextPairField]; !present && !hasIDs {
				return ex, fmt.Errorf("%s: no %q field (fields present: %s)", src, opts.TextPairField, fieldNames(m))
			}
			if hasPair && (pair != "" || !tabular) {
				ex.TextPair, ex.HasPair = pair, true
			}
		}
	case !hasIDs:
		return ex, fmt.Errorf("%s: no %q field (fields present: %s)", src, opts.TextField, fieldNames(m))
	}

	switch v := m[opts.LabelField].(type) {
	case nil:
	case string:
		ex.Label, ex.HasLabel = v, v != ""
	case json.Number:
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			return ex, fmt.Errorf("%s: field %q: %s is neither a string nor an integer", src, opts.LabelField, v)
		}
		ex.Label, ex.HasLabel = strconv.FormatInt(n, 10), true
	default:
		return ex, fmt.Errorf("%s: field %q: %s is neither a string nor an integer", src, opts.LabelField, describe(v))
	}
	if requireLabel && !ex.HasLabel {
		return ex, fmt.Errorf("%s: no %q field", src, opts.LabelField)
	}
	return ex, nil
}

// stringField returns field name of m if it is a non-null string; a field of
// another type is an error.
func stringField(m map[string]any, name, src string) (string, bool, error) {
	switch v := m[name].(type) {
	case nil:
		return "", false, nil
	case string:
		return v, true, nil
	default:
		return "", false, fmt.Errorf("%s: field %q: want a string, got %s", src, name, describe(v))
	}
}

// intsField returns field name of m as token ids: a JSON array of integers,
// or (from CSV/TSV) a string holding one, with or without brackets and
// commas. An absent, null or empty-string field is not there.
func intsField(m map[string]any, name, src string) ([]int32, bool, error) {
	var items []any
	switch v := m[name].(type) {
	case nil:
		return nil, false, nil
	case []any:
		items = v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return nil, false, nil
		}
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			items = append(items, json.Number(f))
		}
	default:
		return nil, false, fmt.Errorf("%s: field %q: want an array of integers, got %s", src, name, describe(v))
	}
	out := make([]int32, len(items))
	for i, it := range items {
		num, ok := it.(json.Number)
		if !ok {
			return nil, false, fmt.Errorf("%s: field %q[%d]: want an integer, got %s", src, name, i, describe(it))
		}
		n, err := strconv.ParseInt(num.String(), 10, 32)
		if err != nil || n < 0 {
			return nil, false, fmt.Errorf("%s: field %q[%d]: %s is not a token id", src, name, i, num)
		}
		out[i] = int32(n)
	}
	return out, true, nil
}
