package instruct

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// IgnoreLabel marks a position without loss (transformers' -100).
const IgnoreLabel = -100

// Templates returns the template names Options.Template accepts ("" = auto).
func Templates() []string {
	return []string{"auto", "alpaca", "chat", "chatml", "none"}
}

// AlpacaHeader and AlpacaHeaderInput open Stanford Alpaca's prompt without
// and with an input.
const (
	AlpacaHeader      = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
	AlpacaHeaderInput = "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n"
)

// Options configure encoding.
type Options struct {
	// Template renders records: auto (""), alpaca, chat, chatml or none.
	Template string
	// TrainOnPrompt puts the loss on the prompt tokens too.
	TrainOnPrompt bool
	// MaxLen truncates examples (the end is cut).
	MaxLen int
}

// Tokenizer is what encoding needs of the model: text to ids (no special
// tokens), the BOS id to prepend when AddBOS, and the EOS id that ends
// every response (EOS < 0: none).
type Tokenizer struct {
	Encode func(text string) ([]int32, error)
	BOS    int32
	AddBOS bool
	EOS    int32
	// ChatTemplate is the model's tokenizer_config.json chat_template ("" if
	// none); auto uses chatml when it is ChatML.
	ChatTemplate string
}

// ReadChatTemplate returns the chat_template of a model folder's
// tokenizer_config.json ("" when there is none).
func ReadChatTemplate(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return ""
	}
	var c struct {
		ChatTemplate any `json:"chat_template"`
	}
	if jsonUnmarshal(b, &c) != nil {
		return ""
	}
	s, _ := c.ChatTemplate.(string)
	return s
}

// Example is an encoded training example.
type Example struct {
	// IDs are the tokens; Labels the same ids where the loss is taken and
	// IgnoreLabel elsewhere.
	IDs, Labels []int32
	// Index is the record's index in its file (the first one's for a
	// packed example).
	Index int
}

// segment is a piece of rendered text and whether it trains.
type segment struct {
	text  string
	train bool
	eos   bool // an EOS token follows (trained with the segment)
}

// CheckTemplate reports an unknown template name, listing the valid ones.
func CheckTemplate(name string) error {
	if name == "" || slices.Contains(Templates(), name) {
		return nil
	}
	return fmt.Errorf("unknown template %q (valid: %s)", name, strings.Join(Templates(), ", "))
}

// templateFor resolves "auto" for a record.
func templateFor(name string, r Record, tok Tokenizer) string {
	if name != "" && name != "auto" {
		return name
	}
	switch r.Kind {
	case KindAlpaca:
		return "alpaca"
	case KindChat:
		if strings.Contains(tok.ChatTemplate, "<|im_start|>") {
			return "chatml"
		}
		return "chat"
	}
	return "none"
}

// turns returns a record as a conversation.
func turns(r Record) []Message {
	switch r.Kind {
	case KindChat:
		return r.Messages
	case KindAlpaca:
		u := r.Instruction
		if r.Input != "" {
			u += "\n\n" + r.Input
		}
		return []Message{{"user", u}, {"assistant", r.Output}}
	case KindPrompt:
		return []Message{{"user", r.Prompt}, {"assistant", r.Completion}}
	}
	return nil
}

// render returns a record's segments under a template.
func render(tmpl string, r Record) ([]segment, error) {
	if r.Kind == KindText {
		return []segment{{text: r.Text, train: true, eos: true}}, nil
	}
	switch tmpl {
	case "none":
		var out []segment
		for _, m := range turns(r) {
			out = append(out, segment{text: m.Content, train: m.Role == "assistant", eos: m.Role == "assistant"})
		}
		return out, nil
	case "alpaca":
		if r.Kind == KindAlpaca {
			p := AlpacaHeader + "### Instruction:\n" + r.Instruction + "\n\n### Response:\n"
			if r.Input != "" {
				p = AlpacaHeaderInput + "### Instruction:\n" + r.Instruction + "\n\n### Input:\n" + r.Input + "\n\n### Response:\n"
			}
			return []segment{{text: p}, {text: r.Output, train: true, eos: true}}, nil
		}
		var out []segment
		header := AlpacaHeader
		for _, m := range turns(r) {
			switch m.Role {
			case "system":
				header = m.Content + "\n\n"
			case "user":
				out = append(out, segment{text: header + "### Instruction:\n" + m.Content + "\n\n### Response:\n"})
				header = "\n\n"
			case "assistant":
				out = append(out, segment{text: m.Content, train: true, eos: true})
			}
		}
		return out, nil
	case "chat":
		var out []segment
		for _, m := range turns(r) {
			switch m.Role {
			case "system":
				out = append(out, segment{text: "System: " + m.Content + "\n"})
			case "user":
				out = append(out, segment{text: "User: " + m.Content + "\nAssistant:"})
			case "assistant":
				out = append(out, segment{text: m.Content, train: true, eos: true}, segment{text: "\n"})
			}
		}
		return trimTrailing(out), nil
	case "chatml":
		var out []segment
		for _, m := range turns(r) {
			if m.Role == "assistant" {
				out = append(out, segment{text: "<|im_start|>assistant\n"}, segment{text: m.Content + "<|im_end|>", train: true}, segment{text: "\n"})
				continue
			}
			out = append(out, segment{text: "<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n"})
		}
		return trimTrailing(out), nil
	}
	return nil, CheckTemplate(tmpl)
}

// trimTrailing drops a final untrained newline segment.
func trimTrailing(s []segment) []segment {
	if n := len(s); n > 0 && !s[n-1].train && s[n-1].text == "\n" {
		return s[:n-1]
	}
	return s
}

// Prompt renders the prompt part of an instruction under a template, for
// generation: what a model trained with that template expects before its
// response ("" template: none).
func Prompt(template, instruction, input string) string {
	r := Record{Kind: KindAlpaca, Instruction: instruction, Input: input}
	if template != "alpaca" {
		r = Record{Kind: KindPrompt, Prompt: strings.TrimSpace(instruction + "\n\n" + input)}
	}
	segs, err := render(templateFor(template, r, Tokenizer{}), r)
	if err != nil || len(segs) == 0 {
		return instruction
	}
	return segs[0].text
}

// Encode tokenizes records into examples: BOS (when the tokenizer adds
// one), then each segment's tokens, with an EOS after every response;
// labels are the ids on trained segments (all but BOS with TrainOnPrompt)
// and IgnoreLabel elsewhere. Examples are truncated to MaxLen; those left
// without a trained token are dropped and counted.
func Encode(recs []Record, tok Tokenizer, o Options) (out []Example, dropped int, err error) {
	if err := CheckTemplate(o.Template); err != nil {
		return nil, 0, err
	}
	for i, r := range recs {
		var ids, labels []int32
		if r.Kind == KindTokens {
			ids, labels = r.IDs, r.Labels
			if labels == nil {
				labels = ids
			}
			ids, labels = slices.Clone(ids), slices.Clone(labels)
		} else {
			if tok.AddBOS {
				ids, labels = append(ids, tok.BOS), append(labels, IgnoreLabel)
			}
			segs, err := render(templateFor(o.Template, r, tok), r)
			if err != nil {
				return nil, 0, err
			}
			for _, s := range segs {
				var part []int32
				if s.text != "" {
					if part, err = tok.Encode(s.text); err != nil {
						return nil, 0, fmt.Errorf("%s: %w", r.Source, err)
					}
				}
				if s.eos && tok.EOS >= 0 {
					part = append(part, tok.EOS)
				}
				ids = append(ids, part...)
				for _, id := range part {
					if s.train || o.TrainOnPrompt {
						labels = append(labels, id)
					} else {
						labels = append(labels, IgnoreLabel)
					}
				}
			}
		}
		if o.MaxLen > 0 && len(ids) > o.MaxLen {
			ids, labels = ids[:o.MaxLen], labels[:o.MaxLen]
		}
		trained := 0
		for _, l := range labels[min(1, len(labels)):] { // position 0 is never predicted
			if l >= 0 {
				trained++
			}
		}
		if trained == 0 {
			dropped++
			continue
		}
		out = append(out, Example{IDs: ids, Labels: labels, Index: i})
	}
	return out, dropped, nil
}

// Pack concatenates consecutive examples into sequences of at most maxLen
// tokens (an example never splits; one longer than maxLen stays alone).
// Labels keep each example's mask; attention is not blocked between the
// packed examples, and positions run on across them.
func Pack(ex []Example, maxLen int) []Example {
	var out []Example
	var cur *Example
	for _, e := range ex {
		if cur != nil && len(cur.IDs)+len(e.IDs) <= maxLen {
			cur.IDs = append(cur.IDs, e.IDs...)
			cur.Labels = append(cur.Labels, e.Labels...)
			continue
		}
		out = append(out, Example{IDs: slices.Clone(e.IDs), Labels: slices.Clone(e.Labels), Index: e.Index})
		cur = &out[len(out)-1]
	}
	return out
}

// Batch is a padded causal-LM batch: IDs, Mask and Labels are row-major
// B×L; Index gives each row's example (-1 for padding rows).
type Batch struct {
	B, L              int
	IDs, Mask, Labels []int32
	Index             []int
}

// Batches cuts examples into batches of size rows (the last one padded
// with empty rows), each padded on the right with pad to the smallest
// bucket length holding its longest example. With shuffle the examples are
// first put in an order drawn from seed.
func Batches(ex []Example, size int, buckets []int, pad int32, shuffle bool, seed int64) ([]Batch, error) {
	if size < 1 {
		return nil, fmt.Errorf("instruct: batch size %d, want ≥ 1", size)
	}
	order := make([]int, len(ex))
	for i := range order {
		order[i] = i
	}
	if shuffle {
		r := rand.New(rand.NewPCG(uint64(seed), 0x1275c7))
		r.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	}
	maxB := buckets[len(buckets)-1]
	var out []Batch
	for s := 0; s < len(order); s += size {
		rows := order[s:min(s+size, len(order))]
		longest := 0
		for _, i := range rows {
			longest = max(longest, len(ex[i].IDs))
		}
		if longest > maxB {
			return nil, fmt.Errorf("instruct: an example has %d tokens, more than the longest batch length %d", longest, maxB)
		}
		l := maxB
		for _, b := range buckets {
			if b >= longest {
				l = b
				break
			}
		}
		b := Batch{B: size, L: l, IDs: make([]int32, size*l), Mask: make([]int32, size*l), Labels: make([]int32, size*l), Index: make([]int, size)}
		for r := 0; r < size; r++ {
			for j := 0; j < l; j++ {
				b.IDs[r*l+j], b.Labels[r*l+j] = pad, IgnoreLabel
			}
			if r >= len(rows) {
				b.Index[r] = -1
				continue
			}
			e := ex[rows[r]]
			copy(b.IDs[r*l:], e.IDs)
			copy(b.Labels[r*l:], e.Labels)
			for j := range e.IDs {
				b.Mask[r*l+j] = 1
			}
			b.Index[r] = e.Index
		}
		out = append(out, b)
	}
	return out, nil
}

// Tokens counts the trained label positions (the ones the loss sees:
// every labelled position after the first of its row).
func Tokens(ex []Example) int {
	n := 0
	for _, e := range ex {
		for _, l := range e.Labels[min(1, len(e.Labels)):] {
			if l >= 0 {
				n++
			}
		}
	}
	return n
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
