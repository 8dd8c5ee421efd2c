package data

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gotune/gotune/internal/memcheck"
)

// TestUntrustedText: malformed text fails with an error naming the file
// and line, in every format.
func TestUntrustedText(t *testing.T) {
	dir := t.TempDir()
	good := map[string]string{
		".jsonl": "{\"text\": \"a\", \"label\": \"x\"}\n",
		".json":  "[{\"text\": \"a\", \"label\": \"x\"},\n",
		".csv":   "text,label\na,x\n",
		".tsv":   "text\tlabel\na\tx\n",
	}
	tests := []struct {
		name, add, want string
	}{
		{"invalid UTF-8", "\xff\xfe\xfd", ": invalid UTF-8 at byte 1 "},
		{"Latin-1 text", "caf\xe9", ": invalid UTF-8 at byte 4 "},
		{"NUL byte", "a\x00b", ": NUL byte at column 2"},
	}
	for ext, head := range good {
		for _, tc := range tests {
			t.Run(ext+"/"+tc.name, func(t *testing.T) {
				p := filepath.Join(dir, "bad"+ext)
				if err := os.WriteFile(p, []byte(head+tc.add+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				_, err := ReadFile(p, DefaultOptions(), false)
				want := fmt.Sprintf("bad%s:%d%s", ext, strings.Count(head, "\n")+1, tc.want)
				if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line with %q", err, want)
				}
			})
		}
		t.Run(ext+"/empty", func(t *testing.T) {
			p := filepath.Join(dir, "empty"+ext)
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadFile(p, DefaultOptions(), false); err == nil || !strings.Contains(err.Error(), "no examples") {
				t.Fatalf("error %v, want no examples", err)
			}
		})
		t.Run(ext+"/UTF-16", func(t *testing.T) {
			p := filepath.Join(dir, "utf16"+ext)
			if err := os.WriteFile(p, []byte("\xff\xfet\x00e\x00"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadFile(p, DefaultOptions(), false); err == nil || !strings.Contains(err.Error(), "UTF-16") {
				t.Fatalf("error %v, want one saying UTF-16", err)
			}
		})
	}
}

// TestTextVariants: a UTF-8 byte order mark, CRLF line ends and escaped
// NUL characters in JSON read as documented: the same examples as the
// plain file (the \u0000 character kept in the text).
func TestTextVariants(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		".jsonl": "{\"text\": \"a b\", \"label\": \"x\"}\n{\"text\": \"c\\u0000d\", \"label\": \"y\"}\n",
		".json":  "[{\"text\": \"a b\", \"label\": \"x\"},\n{\"text\": \"c\\u0000d\", \"label\": \"y\"}]\n",
		".csv":   "text,label\n\"a b\",x\n\"c\u0000d\",y\n",
		".tsv":   "text\tlabel\na b\tx\nc\u0000d\ty\n",
	}
	for ext, plain := range files {
		if ext == ".csv" || ext == ".tsv" { // raw NUL bytes are refused; use a plain character there
			plain = strings.ReplaceAll(plain, "\u0000", "-")
		}
		write := func(name, content string) string {
			p := filepath.Join(dir, name+ext)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		want, err := ReadFile(write("plain", plain), DefaultOptions(), true)
		if err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		for name, content := range map[string]string{
			"bom":  "\xef\xbb\xbf" + plain,
			"crlf": strings.ReplaceAll(plain, "\n", "\r\n"),
		} {
			got, err := ReadFile(write(name, content), DefaultOptions(), true)
			if err != nil {
				t.Fatalf("%s %s: %v", ext, name, err)
			}
			for i := range got {
				got[i].Source, want[i].Source = "", ""
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: examples %+v, want %+v", ext, name, got, want)
			}
		}
	}
}

// repeat is a reader of n copies of b.
type repeat struct {
	b byte
	n int64
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.n))
	for i := range n {
		p[i] = r.b
	}
	r.n -= int64(n)
	return n, nil
}

// TestHugeLine: a 100 MB line fails with an error naming its line after
// reading at most MaxLineBytes of it; a 100 MB file of short blank lines
// and deep JSON nesting also stay within a bound.
func TestHugeLine(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100 MB file")
	}
	dir := t.TempDir()
	write := func(name, head string, r io.Reader, tail string) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := io.Copy(f, io.MultiReader(strings.NewReader(head), r, strings.NewReader(tail))); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, ext := range []string{".jsonl", ".csv", ".tsv"} {
		p := write("huge"+ext, "text,label\n", &repeat{'a', 100 << 20}, "\n")
		var err error
		alloc := memcheck.Allocated(func() { _, err = ReadFile(p, DefaultOptions(), false) })
		if err == nil || !strings.Contains(err.Error(), "huge"+ext+":2: line longer than 16 MiB") {
			t.Errorf("%s: error %v, want line 2 longer than 16 MiB", ext, err)
		}
		if alloc > 2*MaxLineBytes+1<<20 {
			t.Errorf("%s: reading a 100 MB line allocated %d MiB (bound %d MiB)", ext, alloc>>20, (2*MaxLineBytes+1<<20)>>20)
		}
		os.Remove(p)
	}
	// Deep nesting: encoding/json stops at depth 10000.
	var b bytes.Buffer
	b.WriteString(`{"text": `)
	b.WriteString(strings.Repeat("[", 1<<20))
	p := write("deep.jsonl", "", &b, "\n")
	var err error
	alloc := memcheck.Allocated(func() { _, err = ReadFile(p, DefaultOptions(), false) })
	if err == nil || !strings.Contains(err.Error(), "deep.jsonl:1: not valid JSON") {
		t.Errorf("deep nesting: error %v", err)
	}
	if alloc > 16<<20 {
		t.Errorf("deep nesting: a 1 MiB line allocated %d MiB", alloc>>20)
	}
}
