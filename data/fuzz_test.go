package data

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadFile feeds arbitrary bytes to ReadFile as a .jsonl, .json, .csv
// and .tsv file: it must return examples or an error, never panic, and
// every example it returns must carry text or input ids, and its source.
func FuzzReadFile(f *testing.F) {
	seeds := []string{
		"{\"text\": \"good film\", \"label\": \"pos\"}\n{\"text\": \"bad\", \"label\": 0}\n",
		"[{\"text\": \"a\", \"label\": 1}, {\"input_ids\": [101, 7, 102], \"label\": 2}]",
		"text,label\n\"a, quoted \"\"field\"\"\",pos\r\nb,neg\r\n",
		"sentence\tlabel\nit's \"fine\"\t1\n\n",
		"\xef\xbb\xbftext,label\nx,1\n",
		"{\"text\": \"\\u0000\", \"label\": null}\n",
		"input_ids,label\n\"[1, 2, 3]\",a\n",
	}
	for _, s := range seeds {
		for ext := range 4 {
			f.Add([]byte(s), uint8(ext))
		}
	}
	dir := f.TempDir()
	exts := []string{".jsonl", ".json", ".csv", ".tsv"}
	f.Fuzz(func(t *testing.T, b []byte, ext uint8) {
		p := filepath.Join(dir, "fuzz"+exts[int(ext)%len(exts)])
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, opts := range []Options{DefaultOptions(), {TextField: "text", TextPairField: "label", LabelField: "input_ids"}} {
			ex, err := ReadFile(p, opts, false)
			if err != nil {
				continue
			}
			if len(ex) == 0 {
				t.Fatal("no examples and no error")
			}
			for _, e := range ex {
				if e.Source == "" || e.Raw == nil {
					t.Fatalf("example without source or record: %+v", e)
				}
			}
		}
	})
}
