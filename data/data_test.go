package data

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gotune/gotune/tokenizer"
)

// writeFile writes content to a file called name in a fresh folder.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// brief is the part of an Example the format tests compare.
type brief struct {
	Text, Pair, Label string
	HasPair, HasLabel bool
	IDs, Types        []int32
	Line              string
}

func briefs(exs []Example, path string) []brief {
	var out []brief
	for _, e := range exs {
		out = append(out, brief{e.Text, e.TextPair, e.Label, e.HasPair, e.HasLabel, e.InputIDs, e.TokenTypeIDs, strings.TrimPrefix(e.Source, path)})
	}
	return out
}

func TestReadFormats(t *testing.T) {
	pairOpts := Options{TextField: "premise", TextPairField: "hypothesis", LabelField: "label"}
	tests := []struct {
		name, file, content string
		opts                Options
		requireLabel        bool
		want                []brief
	}{
		{
			name: "jsonl", file: "a.jsonl",
			content: "{\"text\": \"good film\", \"label\": \"positive\"}\n\n{\"text\": \"bad\", \"label\": 0, \"id\": 7}\r\n  \n{\"text\": \"no label\"}\n",
			opts:    DefaultOptions(),
			want: []brief{
				{Text: "good film", Label: "positive", HasLabel: true, Line: ":1"},
				{Text: "bad", Label: "0", HasLabel: true, Line: ":3"},
				{Text: "no label", Line: ":5"},
			},
		},
		{
			name: "json lines in .json", file: "a.json",
			content: "{\"text\": \"x\", \"label\": -3}\n{\"text\": \"y\", \"label\": null}",
			opts:    Options{}, // empty fields mean the defaults
			want:    []brief{{Text: "x", Label: "-3", HasLabel: true, Line: ":1"}, {Text: "y", Line: ":2"}},
		},
		{
			name: "json array", file: "a.json",
			content: "[\n  {\"premise\": \"p1\", \"hypothesis\": \"h1\", \"label\": 1},\n  {\"premise\": \"p2\",\n   \"hypothesis\": \"h2\", \"label\": 2}\n]\n",
			opts:    pairOpts, requireLabel: true,
			want: []brief{
				{Text: "p1", Pair: "h1", HasPair: true, Label: "1", HasLabel: true, Line: ":2"},
				{Text: "p2", Pair: "h2", HasPair: true, Label: "2", HasLabel: true, Line: ":3"},
			},
		},
		{
			name: "empty and null pair", file: "a.jsonl",
			content: "{\"premise\": \"p\", \"hypothesis\": \"\"}\n{\"premise\": \"q\", \"hypothesis\": null}\n",
			opts:    pairOpts,
			want: []brief{
				{Text: "p", Pair: "", HasPair: true, Line: ":1"}, // "" is an empty segment, as in Hugging Face
				{Text: "q", Line: ":2"},
			},
		},
		{
			name: "pre-tokenized jsonl", file: "a.jsonl",
			content: "{\"input_ids\": [101, 7, 102], \"label\": \"a\"}\n{\"input_ids\": [101, 8, 102, 9, 102], \"token_type_ids\": [0, 0, 0, 1, 1], \"label\": \"b\"}\n",
			opts:    DefaultOptions(), requireLabel: true,
			want: []brief{
				{Label: "a", HasLabel: true, IDs: []int32{101, 7, 102}, Line: ":1"},
				{Label: "b", HasLabel: true, IDs: []int32{101, 8, 102, 9, 102}, Types: []int32{0, 0, 0, 1, 1}, Line: ":2"},
			},
		},
		{
			name: "csv with quotes", file: "a.csv",
			content: "\xef\xbb\xbftext,label\n\"Hello, \"\"world\"\"\",pos\n\n\"multi\nline\",neg\nplain,\n",
			opts:    DefaultOptions(),
			want: []brief{
				{Text: `Hello, "world"`, Label: "pos", HasLabel: true, Line: ":2"},
				{Text: "multi\nline", Label: "neg", HasLabel: true, Line: ":4"},
				{Text: "plain", Line: ":6"},
			},
		},
		{
			name: "csv pair and ids", file: "a.csv",
			content: "premise,hypothesis,label,input_ids\np,h,0,\n,,1,\"[101, 5, 102]\"\n",
			opts:    pairOpts,
			want: []brief{
				{Text: "p", Pair: "h", HasPair: true, Label: "0", HasLabel: true, Line: ":2"},
				{Text: "", Pair: "", Label: "1", HasLabel: true, IDs: []int32{101, 5, 102}, Line: ":3"},
			},
		},
		{
			name: "glue sst-2 tsv", file: "train.tsv",
			content: "sentence\tlabel\nhide new secretions from the parental units \t0\nthe film 's \" twist \" works \t1\r\n\n",
			opts:    Options{TextField: "sentence"}, requireLabel: true,
			want: []brief{
				{Text: "hide new secretions from the parental units ", Label: "0", HasLabel: true, Line: ":2"},
				{Text: `the film 's " twist " works `, Label: "1", HasLabel: true, Line: ":3"},
			},
		},
	}
	for _, tc := range tests {
		path := writeFile(t, tc.file, tc.content)
		exs, err := ReadFile(path, tc.opts, tc.requireLabel)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := briefs(exs, path); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestReadRaw(t *testing.T) {
	path := writeFile(t, "a.jsonl", `{"text": "x", "label": 1, "id": 12345678901234567890, "score": 0.5}`+"\n")
	exs, err := ReadFile(path, DefaultOptions(), true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(exs[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":12345678901234567890,"label":1,"score":0.5,"text":"x"}`; string(b) != want {
		t.Errorf("Raw marshals as %s, want %s", b, want)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, file, content string
		opts                Options
		requireLabel        bool
		want                string // error after the path
	}{
		{"not json", "d.jsonl", "{\"text\": \"a\"}\n\n{\"text\": oops}\n", DefaultOptions(), false, ":3: not valid JSON: "},
		{"two values", "d.jsonl", "{\"text\": \"a\"} {}\n", DefaultOptions(), false, ":1: not valid JSON: more than one JSON value"},
		{"not an object", "d.jsonl", "[1, 2]\n", DefaultOptions(), false, ":1: not a JSON object but an array"},
		{"missing text", "d.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"sentence\": \"b\", \"label\": 0}\n", DefaultOptions(), true, `:2: no "text" field (fields present: label, sentence)`},
		{"missing pair", "d.jsonl", "{\"a\": \"x\", \"label\": 1}\n", Options{TextField: "a", TextPairField: "b"}, false, `:1: no "b" field (fields present: a, label)`},
		{"missing label", "d.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\"}\n", DefaultOptions(), true, `:2: no "label" field`},
		{"empty csv label", "d.csv", "text,label\na,1\nb,\n", DefaultOptions(), true, `:3: no "label" field`},
		{"float label", "d.jsonl", "{\"text\": \"a\", \"label\": 0.5}\n", DefaultOptions(), false, `:1: field "label": 0.5 is neither a string nor an integer`},
		{"bool label", "d.jsonl", "{\"text\": \"a\", \"label\": true}\n", DefaultOptions(), false, `:1: field "label": a boolean is neither a string nor an integer`},
		{"number text", "d.jsonl", "{\"text\": 3}\n", DefaultOptions(), false, `:1: field "text": want a string, got the number 3`},
		{"bad input_ids", "d.jsonl", "{\"input_ids\": [1, \"x\"]}\n", DefaultOptions(), false, `:1: field "input_ids"[1]: want an integer, got a string`},
		{"type ids length", "d.jsonl", "{\"input_ids\": [1, 2], \"token_type_ids\": [0]}\n", DefaultOptions(), false, `:1: "token_type_ids" has 1 values but "input_ids" has 2`},
		{"empty jsonl", "d.jsonl", "\n  \n", DefaultOptions(), false, ": no examples"},
		{"empty csv", "d.csv", "", DefaultOptions(), false, ": no examples"},
		{"header only tsv", "d.tsv", "sentence\tlabel\n", DefaultOptions(), false, ": no examples"},
		{"tsv field count", "d.tsv", "sentence\tlabel\na\t1\nb\t1\t2\n", Options{TextField: "sentence"}, false, ":3: 3 tab-separated fields, the header has 2"},
		{"csv field count", "d.csv", "text,label\na,1\nb\n", DefaultOptions(), false, ":3: wrong number of fields"},
		{"csv bad quote", "d.csv", "text,label\n\"a\"b,1\n", DefaultOptions(), false, `:2: extraneous or missing " in quoted-field`},
		{"duplicate header", "d.csv", "text,text\na,b\n", DefaultOptions(), false, `:1: header names field "text" twice`},
		{"json array element", "d.json", "[\n {\"text\": \"a\"},\n 5\n]", DefaultOptions(), false, ":3: array element 1 is not a JSON object but the number 5"},
		{"json array broken", "d.json", "[\n {\"text\": \"a\"},\n {\"text\" \"b\"}\n]", DefaultOptions(), false, ":3: not valid JSON"},
		{"unknown extension", "d.txt", "hello\n", DefaultOptions(), false, `: unknown extension ".txt"`},
	}
	for _, tc := range tests {
		path := writeFile(t, tc.file, tc.content)
		_, err := ReadFile(path, tc.opts, tc.requireLabel)
		if err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%s: error %v\nwant it to contain %q", tc.name, err, path+tc.want)
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.jsonl"), DefaultOptions(), false); err == nil {
		t.Error("missing file: no error")
	}
}

func labelled(labels ...string) []Example {
	var exs []Example
	for i, l := range labels {
		exs = append(exs, Example{Label: l, HasLabel: l != "", Source: fmt.Sprintf("dev.jsonl:%d", i+1)})
	}
	return exs
}

func TestLabelSet(t *testing.T) {
	tests := []struct {
		name   string
		labels []string
		want   []string
	}{
		{"ints numeric", []string{"10", "2", "-1", "2", ""}, []string{"-1", "2", "10"}},
		{"strings sorted", []string{"positive", "negative", "neutral", "negative"}, []string{"negative", "neutral", "positive"}},
		{"mixed sorts as strings", []string{"10", "2", "x"}, []string{"10", "2", "x"}},
	}
	for _, tc := range tests {
		ls, err := NewLabelSet(labelled(tc.labels...))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(ls.Names, tc.want) {
			t.Errorf("%s: Names = %q, want %q", tc.name, ls.Names, tc.want)
		}
		back, err := LabelSetFromConfig(ls.ID2Label())
		if err != nil || !slices.Equal(back.Names, ls.Names) {
			t.Errorf("%s: LabelSetFromConfig(ID2Label()) = %v, %v", tc.name, back, err)
		}
		for i, n := range tc.want {
			if id, ok := ls.ID(n); !ok || id != i || ls.Label2ID()[n] != i {
				t.Errorf("%s: ID(%q) = %d, %v; want %d", tc.name, n, id, ok, i)
			}
		}
	}
	ls, _ := NewLabelSet(labelled("b", "a"))
	if ls.Len() != 2 || !reflect.DeepEqual(ls.ID2Label(), map[string]string{"0": "a", "1": "b"}) || !reflect.DeepEqual(ls.Label2ID(), map[string]int{"a": 0, "b": 1}) {
		t.Errorf("config maps: %v %v", ls.ID2Label(), ls.Label2ID())
	}
	if _, ok := ls.ID("c"); ok {
		t.Error(`ID("c") found`)
	}
	if _, err := NewLabelSet(labelled("", "")); err == nil {
		t.Error("NewLabelSet without labels: no error")
	}
	for _, bad := range []map[string]string{{}, {"1": "a"}, {"0": "a", "x": "b"}, {"00": "a"}} {
		if _, err := LabelSetFromConfig(bad); err == nil {
			t.Errorf("LabelSetFromConfig(%v): no error", bad)
		}
	}
}

func TestCheckLabels(t *testing.T) {
	ls, _ := NewLabelSet(labelled("positive", "negative"))
	dev := labelled("positive", "", "negative", "positive", "negative", "positive", "neutral", "other")
	err := CheckLabels(dev, ls, "dev.jsonl")
	want := `dev.jsonl:7: label "neutral" does not occur in the training data (known labels: negative, positive)`
	if err == nil || err.Error() != want {
		t.Errorf("CheckLabels = %v\nwant %s", err, want)
	}
	if err := CheckLabels(dev[:6], ls, "dev.jsonl"); err != nil {
		t.Errorf("CheckLabels on known labels: %v", err)
	}
}

func TestSplit(t *testing.T) {
	var exs []Example
	for i := range 100 {
		exs = append(exs, Example{Text: fmt.Sprint(i)})
	}
	texts := func(e []Example) []string {
		var s []string
		for _, x := range e {
			s = append(s, x.Text)
		}
		return s
	}
	tests := []struct {
		n        int
		frac     float64
		wantEval int
	}{{100, 0.1, 10}, {100, 0, 0}, {100, 0.004, 1}, {100, 1, 99}, {1, 0.5, 0}, {0, 0.5, 0}, {7, 0.5, 4}}
	for _, tc := range tests {
		tr, ev := Split(exs[:tc.n], tc.frac, 42)
		if len(ev) != tc.wantEval || len(tr)+len(ev) != tc.n {
			t.Errorf("Split(%d, %v): %d train, %d eval; want %d eval", tc.n, tc.frac, len(tr), len(ev), tc.wantEval)
		}
		all := append(texts(tr), texts(ev)...)
		slices.Sort(all)
		want := texts(exs[:tc.n])
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Errorf("Split(%d, %v) lost or duplicated examples", tc.n, tc.frac)
		}
	}
	tr1, ev1 := Split(exs, 0.2, 7)
	tr2, ev2 := Split(exs, 0.2, 7)
	_, ev3 := Split(exs, 0.2, 8)
	if !slices.Equal(texts(tr1), texts(tr2)) || !slices.Equal(texts(ev1), texts(ev2)) {
		t.Error("Split is not deterministic for a seed")
	}
	if slices.Equal(texts(ev1), texts(ev3)) {
		t.Error("Split gives the same eval set for different seeds")
	}
}

func TestDefaultBuckets(t *testing.T) {
	tests := []struct {
		maxLen int
		want   []int
	}{{512, []int{32, 64, 128, 256, 512}}, {128, []int{32, 64, 128}}, {100, []int{32, 64, 100}}, {16, []int{16}}, {32, []int{32}}, {1024, []int{32, 64, 128, 256, 512, 1024}}, {0, nil}}
	for _, tc := range tests {
		if got := DefaultBuckets(tc.maxLen); !slices.Equal(got, tc.want) {
			t.Errorf("DefaultBuckets(%d) = %v, want %v", tc.maxLen, got, tc.want)
		}
	}
}

// synth makes n examples with lengths 1..maxLen, ids = index+1.
func synth(n, maxLen int) []Encoded {
	ex := make([]Encoded, n)
	for i := range ex {
		l := 1 + (i*37)%maxLen
		ids := slices.Repeat([]int32{int32(i + 1)}, l)
		types := make([]int32, l)
		types[l-1] = 1
		ex[i] = Encoded{IDs: ids, TypeIDs: types, Label: int32(i % 3), Index: i}
	}
	return ex
}

func TestMakeBatches(t *testing.T) {
	const pad = int32(-7)
	tests := []struct {
		name           string
		n, batch       int
		shuffle, group bool
	}{
		{"ordered", 103, 8, false, false},
		{"shuffled", 103, 8, true, false},
		{"grouped", 1000, 4, true, true},
		{"grouped unshuffled", 250, 16, false, true},
		{"exact fit", 64, 16, true, false},
		{"empty", 0, 4, true, true},
	}
	buckets := []int{64, 16, 32, 16}
	for _, tc := range tests {
		ex := synth(tc.n, 60)
		batches, err := MakeBatches(ex, tc.batch, buckets, pad, tc.shuffle, 1, tc.group)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		again, _ := MakeBatches(ex, tc.batch, buckets, pad, tc.shuffle, 1, tc.group)
		if !reflect.DeepEqual(batches, again) {
			t.Errorf("%s: not deterministic", tc.name)
		}
		if want := (tc.n + tc.batch - 1) / tc.batch; len(batches) != want {
			t.Errorf("%s: %d batches, want %d", tc.name, len(batches), want)
		}
		seen := make([]int, tc.n)
		padding := 0
		for bi, b := range batches {
			if b.B != tc.batch || !slices.Contains([]int{16, 32, 64}, b.L) || len(b.IDs) != b.B*b.L || len(b.TypeIDs) != b.B*b.L || len(b.Mask) != b.B*b.L || len(b.Labels) != b.B || len(b.Index) != b.B {
				t.Fatalf("%s: batch %d has shape B=%d L=%d sizes %d %d %d %d %d", tc.name, bi, b.B, b.L, len(b.IDs), len(b.TypeIDs), len(b.Mask), len(b.Labels), len(b.Index))
			}
			longest := 0
			for r := range b.B {
				row, mask, types := b.IDs[r*b.L:(r+1)*b.L], b.Mask[r*b.L:(r+1)*b.L], b.TypeIDs[r*b.L:(r+1)*b.L]
				if r >= b.N {
					padding++
					if b.Index[r] != -1 || b.Labels[r] != -1 || slices.ContainsFunc(mask, func(m int32) bool { return m != 0 }) || slices.ContainsFunc(row, func(v int32) bool { return v != pad }) {
						t.Errorf("%s: batch %d padding row %d is not empty", tc.name, bi, r)
					}
					continue
				}
				e := ex[b.Index[r]]
				seen[b.Index[r]]++
				longest = max(longest, len(e.IDs))
				l := len(e.IDs)
				if !slices.Equal(row[:l], e.IDs) || slices.ContainsFunc(row[l:], func(v int32) bool { return v != pad }) {
					t.Errorf("%s: batch %d row %d ids wrong", tc.name, bi, r)
				}
				if !slices.Equal(types[:l], e.TypeIDs) || slices.ContainsFunc(types[l:], func(v int32) bool { return v != 0 }) {
					t.Errorf("%s: batch %d row %d type ids wrong", tc.name, bi, r)
				}
				if !slices.Equal(mask, append(slices.Repeat([]int32{1}, l), make([]int32, b.L-l)...)) {
					t.Errorf("%s: batch %d row %d mask wrong", tc.name, bi, r)
				}
				if b.Labels[r] != e.Label {
					t.Errorf("%s: batch %d row %d label %d, want %d", tc.name, bi, r, b.Labels[r], e.Label)
				}
			}
			wantL := 64
			for _, bk := range []int{16, 32, 64} {
				if bk >= longest {
					wantL = bk
					break
				}
			}
			if b.L != wantL {
				t.Errorf("%s: batch %d L=%d for longest %d, want %d", tc.name, bi, b.L, longest, wantL)
			}
		}
		for i, c := range seen {
			if c != 1 {
				t.Errorf("%s: example %d appears %d times", tc.name, i, c)
			}
		}
		if want := len(batches)*tc.batch - tc.n; padding != want {
			t.Errorf("%s: %d padding rows, want %d", tc.name, padding, want)
		}
	}
}

func TestMakeBatchesOrder(t *testing.T) {
	ex := synth(1000, 60)
	first := func(bs []Batch) []int {
		var idx []int
		for _, b := range bs {
			idx = append(idx, b.Index[0])
		}
		return idx
	}
	plain, _ := MakeBatches(ex, 10, []int{64}, 0, false, 1, false)
	if got := first(plain)[:3]; !slices.Equal(got, []int{0, 10, 20}) {
		t.Errorf("unshuffled batches start with %v", got)
	}
	s1, _ := MakeBatches(ex, 10, []int{64}, 0, true, 1, false)
	s2, _ := MakeBatches(ex, 10, []int{64}, 0, true, 2, false)
	if slices.Equal(first(s1), first(s2)) || slices.Equal(first(s1), first(plain)) {
		t.Error("shuffling ignores the seed")
	}
	// Grouping by length cuts padding.
	padded := func(bs []Batch) int {
		n := 0
		for _, b := range bs {
			for _, m := range b.Mask {
				n += int(1 - m)
			}
		}
		return n
	}
	buckets := DefaultBuckets(64)
	rand, _ := MakeBatches(ex, 10, buckets, 0, true, 1, false)
	grouped, _ := MakeBatches(ex, 10, buckets, 0, true, 1, true)
	if padded(grouped) >= padded(rand)/2 {
		t.Errorf("group by length: %d padding tokens, shuffled: %d", padded(grouped), padded(rand))
	}
	// Within a batch of a grouped run, lengths are non-increasing.
	for _, b := range grouped {
		for r := 1; r < b.N; r++ {
			if len(ex[b.Index[r]].IDs) > len(ex[b.Index[r-1]].IDs) {
				t.Fatalf("grouped batch not sorted by length: %v", b.Index)
			}
		}
	}
}

func TestMakeBatchesErrors(t *testing.T) {
	ex := synth(10, 60)
	tests := []struct {
		name    string
		ex      []Encoded
		batch   int
		buckets []int
		want    string
	}{
		{"too long", ex, 4, []int{32}, "more than the largest bucket 32"},
		{"zero batch", ex, 0, []int{64}, "batch size 0"},
		{"no buckets", ex, 4, nil, "want positive lengths"},
		{"type ids mismatch", []Encoded{{IDs: []int32{1, 2}, TypeIDs: []int32{0}}}, 4, []int{8}, "2 token ids but 1 type ids"},
	}
	for _, tc := range tests {
		_, err := MakeBatches(tc.ex, tc.batch, tc.buckets, 0, false, 0, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestEncode(t *testing.T) {
	tok := tokenizer.NewWordPiece([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"}, true)
	exs := []Example{
		{Text: "Good film", Label: "pos", HasLabel: true, Source: "t.jsonl:1"},
		{Text: "bad", TextPair: "film", HasPair: true, Source: "t.jsonl:2"},
		{InputIDs: []int32{2, 7, 3}, Label: "neg", HasLabel: true, Source: "t.jsonl:3"},
		{Text: "bad", TextPair: "", HasPair: true, Source: "t.jsonl:4"},
	}
	ls := &LabelSet{Names: []string{"neg", "pos"}}
	got, err := Encode(exs, tok, ls, 8)
	if err != nil {
		t.Fatal(err)
	}
	want := []Encoded{
		{IDs: []int32{2, 5, 7, 3}, TypeIDs: []int32{0, 0, 0, 0}, Label: 1, Index: 0},
		{IDs: []int32{2, 6, 3, 7, 3}, TypeIDs: []int32{0, 0, 0, 1, 1}, Label: -1, Index: 1},
		{IDs: []int32{2, 7, 3}, Label: 0, Index: 2},
		{IDs: []int32{2, 6, 3, 3}, TypeIDs: []int32{0, 0, 0, 1}, Label: -1, Index: 3}, // [CLS] bad [SEP] [SEP]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Encode =\n%+v\nwant\n%+v", got, want)
	}
	if _, err := Encode(exs, tok, ls, 2); err == nil || !strings.Contains(err.Error(), `t.jsonl:3: "input_ids" has 3 tokens, more than the maximum length 2`) {
		t.Errorf("long input_ids: %v", err)
	}
	exs[0].Label = "meh"
	if _, err := Encode(exs, tok, ls, 8); err == nil || !strings.Contains(err.Error(), `t.jsonl:1: label "meh" does not occur`) {
		t.Errorf("unknown label: %v", err)
	}
}
