// Package instruct turns instruction-tuning data into causal-LM training
// examples: token ids and labels, with the loss on the response tokens
// only (labels -100 elsewhere) unless TrainOnPrompt.
//
// Record shapes (JSON Lines, or a JSON array of objects), detected per
// record:
//
//	alpaca             {"instruction": ..., "input": ... (optional), "output": ...}
//	prompt/completion  {"prompt": ..., "completion": ...}
//	chat (OpenAI)      {"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}
//	chat (ShareGPT)    {"conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}
//	plain text         {"text": ...}                  (every token trains)
//	pre-tokenised      {"input_ids": [...], "labels": [...] (optional; default: input_ids)}
//
// A template renders a record as segments of text, each tokenized on its
// own and marked trained (responses, and the EOS after each) or not
// (prompts): "alpaca" (Stanford Alpaca's prompt), "chat" (plain "User:" /
// "Assistant:" turns), "chatml" (<|im_start|>role ... <|im_end|>, the
// model's own template when its tokenizer_config.json uses ChatML) and
// "none" (prompt and completion as they are). The default ("auto") picks
// alpaca for alpaca records, the model's ChatML template or chat for
// conversations, and none for prompt/completion and text.
//
// Pack concatenates short examples into sequences of at most MaxLen
// tokens (whole examples only; attention is not blocked between packed
// examples, as in transformers' ConstantLengthDataset), and Batches pads
// examples into the (ids, mask, labels) batches the causal-LM graph takes.
package instruct

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gotune/gotune/data"
)

// Kinds of record.
const (
	KindAlpaca = "alpaca"
	KindPrompt = "prompt/completion"
	KindChat   = "chat"
	KindText   = "text"
	KindTokens = "tokens"
)

// Message is one turn of a conversation; Role is system, user or
// assistant.
type Message struct {
	Role, Content string
}

// Record is one training record, read from a data file.
type Record struct {
	// Kind is one of the Kind constants.
	Kind string
	// Instruction, Input and Output are an alpaca record's fields.
	Instruction, Input, Output string
	// Prompt and Completion are a prompt/completion record's fields.
	Prompt, Completion string
	// Messages is a conversation (chat records).
	Messages []Message
	// Text is a plain-text record's text.
	Text string
	// IDs and Labels are a pre-tokenised record's ids and labels (Labels
	// nil: every token trains).
	IDs, Labels []int32
	// Source is "file:line" of the record.
	Source string
}

// ReadFile reads the records of a .jsonl or .json file (JSON Lines, or one
// array of objects). textField names the plain-text field ("text" if
// empty). Errors name the file and line.
func ReadFile(path, textField string) ([]Record, error) {
	if textField == "" {
		textField = "text"
	}
	if err := data.CheckText(path, strings.ToLower(filepath.Ext(path)) == ".json"); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	type rec struct {
		line int
		obj  map[string]json.RawMessage
	}
	var recs []rec
	switch ext := strings.ToLower(filepath.Ext(path)); {
	case ext == ".json" && len(bytes.TrimSpace(raw)) > 0 && bytes.TrimSpace(raw)[0] == '[':
		var arr []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &arr); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for i, o := range arr {
			recs = append(recs, rec{i + 1, o})
		}
	case ext == ".json" || ext == ".jsonl":
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 1<<20), 1<<28)
		for n := 1; sc.Scan(); n++ {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var o map[string]json.RawMessage
			if err := json.Unmarshal(line, &o); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			recs = append(recs, rec{n, o})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("data: %s: instruction data must be .jsonl or .json (got %q)", path, ext)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no examples", path)
	}
	out := make([]Record, len(recs))
	for i, r := range recs {
		src := fmt.Sprintf("%s:%d", path, r.line)
		if out[i], err = parse(r.obj, src, textField); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Shape names the kind of a record's fields, or "" when it is not
// instruction-shaped (alpaca, prompt/completion or chat).
func Shape(fields map[string]json.RawMessage) string {
	switch {
	case fields["messages"] != nil, fields["conversations"] != nil:
		return KindChat
	case fields["instruction"] != nil:
		return KindAlpaca
	case fields["prompt"] != nil && fields["completion"] != nil:
		return KindPrompt
	}
	return ""
}

// FirstRecord returns the fields of the first record of a .jsonl/.json
// file (nil when the file cannot be read that way), for choosing a task.
func FirstRecord(path string) map[string]json.RawMessage {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	raw = bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))
	if len(raw) > 0 && raw[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil || !dec.More() {
			return nil
		}
		var o map[string]json.RawMessage
		if dec.Decode(&o) != nil {
			return nil
		}
		return o
	}
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	var o map[string]json.RawMessage
	if json.Unmarshal(line, &o) != nil {
		return nil
	}
	return o
}

func parse(o map[string]json.RawMessage, src, textField string) (Record, error) {
	r := Record{Source: src}
	str := func(key string, required bool) (string, error) {
		v, ok := o[key]
		if !ok || string(v) == "null" {
			if required {
				return "", fmt.Errorf("%s: no %q field (fields present: %s)", src, key, fields(o))
			}
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("%s: field %q: want a string", src, key)
		}
		return s, nil
	}
	var err error
	switch {
	case o["input_ids"] != nil:
		r.Kind = KindTokens
		if err := json.Unmarshal(o["input_ids"], &r.IDs); err != nil || len(r.IDs) == 0 {
			return r, fmt.Errorf("%s: field \"input_ids\": want a non-empty list of integers", src)
		}
		if v, ok := o["labels"]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &r.Labels); err != nil {
				return r, fmt.Errorf("%s: field \"labels\": want a list of integers (-100 for no loss)", src)
			}
			if len(r.Labels) != len(r.IDs) {
				return r, fmt.Errorf("%s: \"labels\" has %d entries, \"input_ids\" %d", src, len(r.Labels), len(r.IDs))
			}
		}
	case o["messages"] != nil || o["conversations"] != nil:
		r.Kind = KindChat
		r.Messages, err = messages(o, src)
	case o["instruction"] != nil:
		r.Kind = KindAlpaca
		if r.Instruction, err = str("instruction", true); err != nil {
			return r, err
		}
		if r.Input, err = str("input", false); err != nil {
			return r, err
		}
		r.Output, err = str("output", true)
	case o["prompt"] != nil:
		r.Kind = KindPrompt
		if r.Prompt, err = str("prompt", true); err != nil {
			return r, err
		}
		r.Completion, err = str("completion", true)
	case o[textField] != nil:
		r.Kind = KindText
		r.Text, err = str(textField, true)
	default:
		err = fmt.Errorf("%s: not a causal-LM record: want instruction/output (alpaca), prompt/completion, messages, conversations, %q or input_ids (fields present: %s)", src, textField, fields(o))
	}
	return r, err
}

// messages reads "messages" (role/content) or "conversations" (ShareGPT's
// from/value; human → user, gpt → assistant).
func messages(o map[string]json.RawMessage, src string) ([]Message, error) {
	key, roleKey, textKey := "messages", "role", "content"
	if o["messages"] == nil {
		key, roleKey, textKey = "conversations", "from", "value"
	}
	var turns []map[string]any
	if err := json.Unmarshal(o[key], &turns); err != nil {
		return nil, fmt.Errorf("%s: field %q: want a list of {%q, %q} objects", src, key, roleKey, textKey)
	}
	roles := map[string]string{"system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant"}
	var out []Message
	for i, t := range turns {
		rs, _ := t[roleKey].(string)
		role, ok := roles[rs]
		if !ok {
			return nil, fmt.Errorf("%s: %s[%d]: %s %q is not one of system, user (human), assistant (gpt)", src, key, i, roleKey, rs)
		}
		text, ok := t[textKey].(string)
		if !ok {
			return nil, fmt.Errorf("%s: %s[%d]: no string %q", src, key, i, textKey)
		}
		out = append(out, Message{Role: role, Content: text})
	}
	hasAssistant := false
	for _, m := range out {
		hasAssistant = hasAssistant || m.Role == "assistant"
	}
	if !hasAssistant {
		return nil, fmt.Errorf("%s: the conversation has no assistant turn to train on", src)
	}
	return out, nil
}

func fields(o map[string]json.RawMessage) string {
	var ks []string
	for k := range o {
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		return "none"
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
