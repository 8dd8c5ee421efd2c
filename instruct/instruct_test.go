package instruct

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// byteTok is a byte-level tokenizer: byte b is id b+3; BOS 1, EOS 2.
var byteTok = Tokenizer{
	Encode: func(s string) ([]int32, error) {
		out := make([]int32, len(s))
		for i := 0; i < len(s); i++ {
			out[i] = int32(s[i]) + 3
		}
		return out, nil
	},
	BOS: 1, AddBOS: true, EOS: 2,
}

func ids(s string) []int32 { out, _ := byteTok.Encode(s); return out }

func ignore(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = IgnoreLabel
	}
	return out
}

func cat(parts ...[]int32) []int32 {
	var out []int32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadShapes(t *testing.T) {
	p := write(t, "d.jsonl", `{"instruction": "Add", "input": "1 2", "output": "3"}
{"prompt": "a", "completion": "b"}
{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
{"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}
{"text": "plain"}
{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}
`)
	recs, err := ReadFile(p, "")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	want := []string{KindAlpaca, KindPrompt, KindChat, KindChat, KindText, KindTokens}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if m := recs[3].Messages; len(m) != 3 || m[0].Role != "system" || m[1].Role != "user" || m[2].Role != "assistant" {
		t.Errorf("sharegpt roles: %+v", m)
	}
	for _, bad := range []string{`{"label": 1}`, `{"messages": [{"role": "user", "content": "x"}]}`, `{"conversations": [{"from": "bot", "value": "x"}]}`, `{"instruction": "x"}`} {
		if _, err := ReadFile(write(t, "bad.jsonl", bad+"\n"), ""); err == nil || !strings.Contains(err.Error(), "bad.jsonl:1") {
			t.Errorf("%s: error %v, want one naming bad.jsonl:1", bad, err)
		}
	}
}

// TestLabelMasks checks the exact ids and labels of an alpaca record and a
// chat record: BOS and prompts carry -100, responses and their EOS carry
// their ids.
func TestLabelMasks(t *testing.T) {
	alpaca := Record{Kind: KindAlpaca, Instruction: "Add", Input: "1 2", Output: "3"}
	ex, _, err := Encode([]Record{alpaca}, byteTok, Options{})
	if err != nil {
		t.Fatal(err)
	}
	prompt := AlpacaHeaderInput + "### Instruction:\nAdd\n\n### Input:\n1 2\n\n### Response:\n"
	wantIDs := cat([]int32{1}, ids(prompt), ids("3"), []int32{2})
	wantLabels := cat(ignore(1+len(prompt)), ids("3"), []int32{2})
	if !reflect.DeepEqual(ex[0].IDs, wantIDs) || !reflect.DeepEqual(ex[0].Labels, wantLabels) {
		t.Errorf("alpaca:\n ids    %v\n labels %v\nwant\n ids    %v\n labels %v", ex[0].IDs, ex[0].Labels, wantIDs, wantLabels)
	}

	chat := Record{Kind: KindChat, Messages: []Message{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}, {"assistant", "Ciao"}}}
	ex, _, err = Encode([]Record{chat}, byteTok, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs = cat([]int32{1}, ids("System: Be brief.\n"), ids("User: Hi\nAssistant:"), ids("Hello"), []int32{2}, ids("\n"),
		ids("User: Bye\nAssistant:"), ids("Ciao"), []int32{2})
	wantLabels = cat(ignore(1+len("System: Be brief.\n")+len("User: Hi\nAssistant:")), ids("Hello"), []int32{2}, ignore(1),
		ignore(len("User: Bye\nAssistant:")), ids("Ciao"), []int32{2})
	if !reflect.DeepEqual(ex[0].IDs, wantIDs) || !reflect.DeepEqual(ex[0].Labels, wantLabels) {
		t.Errorf("chat:\n ids    %v\n labels %v\nwant\n ids    %v\n labels %v", ex[0].IDs, ex[0].Labels, wantIDs, wantLabels)
	}

	// --train-on-prompt: every token but BOS carries its id.
	ex, _, _ = Encode([]Record{alpaca}, byteTok, Options{TrainOnPrompt: true})
	if !reflect.DeepEqual(ex[0].Labels[1:], ex[0].IDs[1:]) || ex[0].Labels[0] != IgnoreLabel {
		t.Errorf("train on prompt: labels %v", ex[0].Labels)
	}
	// Prompt/completion without a template; pre-tokenised labels kept.
	ex, _, _ = Encode([]Record{{Kind: KindPrompt, Prompt: "ab", Completion: "c"}, {Kind: KindTokens, IDs: []int32{5, 6, 7}, Labels: []int32{-100, 6, -100}}}, byteTok, Options{})
	if want := cat([]int32{1}, ids("ab"), ids("c"), []int32{2}); !reflect.DeepEqual(ex[0].IDs, want) {
		t.Errorf("prompt/completion ids %v, want %v", ex[0].IDs, want)
	}
	if want := cat(ignore(3), ids("c"), []int32{2}); !reflect.DeepEqual(ex[0].Labels, want) {
		t.Errorf("prompt/completion labels %v, want %v", ex[0].Labels, want)
	}
	if !reflect.DeepEqual(ex[1].Labels, []int32{-100, 6, -100}) {
		t.Errorf("pre-tokenised labels %v", ex[1].Labels)
	}
	// Truncation that leaves no response drops the example.
	ex, dropped, _ := Encode([]Record{alpaca}, byteTok, Options{MaxLen: 10})
	if len(ex) != 0 || dropped != 1 {
		t.Errorf("truncated: %d examples, %d dropped", len(ex), dropped)
	}
	// ChatML when the model's template is ChatML.
	tok := byteTok
	tok.ChatTemplate = "{% for m in messages %}<|im_start|>{{ m.role }}..."
	ex, _, _ = Encode([]Record{{Kind: KindChat, Messages: []Message{{"user", "Hi"}, {"assistant", "Yo"}}}}, tok, Options{})
	wantIDs = cat([]int32{1}, ids("<|im_start|>user\nHi<|im_end|>\n"), ids("<|im_start|>assistant\n"), ids("Yo<|im_end|>"))
	if !reflect.DeepEqual(ex[0].IDs, wantIDs) {
		t.Errorf("chatml ids %q", string(toBytes(ex[0].IDs)))
	}
}

func toBytes(ids []int32) []byte {
	var b []byte
	for _, id := range ids {
		if id >= 3 {
			b = append(b, byte(id-3))
		}
	}
	return b
}

func TestPackAndBatches(t *testing.T) {
	mk := func(n, idx int) Example {
		e := Example{Index: idx}
		for i := 0; i < n; i++ {
			e.IDs = append(e.IDs, int32(10+idx))
			e.Labels = append(e.Labels, int32(10+idx))
		}
		e.Labels[0] = IgnoreLabel
		return e
	}
	ex := []Example{mk(3, 0), mk(4, 1), mk(5, 2), mk(9, 3), mk(2, 4)}
	packed := Pack(ex, 8)
	var lens []int
	for _, p := range packed {
		lens = append(lens, len(p.IDs))
	}
	if !reflect.DeepEqual(lens, []int{7, 5, 9, 2}) {
		t.Fatalf("packed lengths %v, want [7 5 9 2]", lens)
	}
	if want := []int32{-100, 10, 10, -100, 11, 11, 11}; !reflect.DeepEqual(packed[0].Labels, want) {
		t.Errorf("packed labels %v, want %v (each example keeps its mask)", packed[0].Labels, want)
	}
	if Tokens(ex) != Tokens(packed) { // each example's first label is -100, so packing scores the same tokens
		t.Errorf("tokens with loss: %d before packing, %d after", Tokens(ex), Tokens(packed))
	}
	bs, err := Batches(packed[:2], 3, []int{4, 8, 16}, 0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := bs[0]
	if b.B != 3 || b.L != 8 || !reflect.DeepEqual(b.Index, []int{0, 2, -1}) {
		t.Fatalf("batch %dx%d index %v", b.B, b.L, b.Index)
	}
	if want := []int32{1, 1, 1, 1, 1, 0, 0, 0}; !reflect.DeepEqual(b.Mask[8:16], want) {
		t.Errorf("row 1 mask %v, want %v", b.Mask[8:16], want)
	}
	if b.Labels[8+6] != IgnoreLabel || b.IDs[8+6] != 0 || b.Labels[16] != IgnoreLabel {
		t.Errorf("padding must carry pad ids and -100 labels")
	}
}
