package hfconfig_test

import (
	"os"
	"strings"
	"testing"

	"github.com/gotune/gotune/internal/memcheck"
	"github.com/gotune/gotune/models/bert"
	"github.com/gotune/gotune/models/gpt2"
	"github.com/gotune/gotune/models/llama"
)

// FuzzParseConfig feeds arbitrary config.json bytes to the parser of every
// architecture: each must return a config or an error, never panic; a
// config it accepts must marshal and parse back.
func FuzzParseConfig(f *testing.F) {
	for _, p := range []string{"bert-seqcls", "llama-causal", "gpt2-causal", "llama-causal/seqcls"} {
		if b, err := os.ReadFile("../../../testdata/fixtures/" + p + "/config.json"); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"model_type":"roberta","vocab_size":10,"hidden_size":4,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":8,"max_position_embeddings":8,"id2label":{"0":"a","1":"b"}}`))
	f.Add([]byte(`{"model_type":"qwen2","vocab_size":10,"hidden_size":4,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"hidden_act":"silu","rope_scaling":{"rope_type":"default"}}`))
	type parsed interface{ Marshal() ([]byte, error) }
	parsers := map[string]func([]byte, string) (parsed, error){
		"bert":  func(b []byte, p string) (parsed, error) { return bert.ParseConfig(b, p) },
		"llama": func(b []byte, p string) (parsed, error) { return llama.ParseConfig(b, p) },
		"gpt2":  func(b []byte, p string) (parsed, error) { return gpt2.ParseConfig(b, p) },
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for arch, parse := range parsers {
			c, err := parse(b, "config.json")
			if err != nil {
				continue
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatalf("%s: an accepted config does not marshal: %v", arch, err)
			}
			if _, err := parse(out, "config.json"); err != nil {
				t.Fatalf("%s: a marshalled config does not parse back: %v\n%s", arch, err, out)
			}
		}
	})
}

// TestDeepNesting: a config.json nested a million levels deep fails with an
// error naming the file (encoding/json stops at depth 10,000), within a
// bounded allocation.
func TestDeepNesting(t *testing.T) {
	b := []byte(`{"model_type": "bert", "x": ` + strings.Repeat("[", 1<<20))
	var err error
	alloc := memcheck.Allocated(func() { _, err = bert.ParseConfig(b, "config.json") })
	if err == nil || !strings.Contains(err.Error(), "config.json: not a valid config.json") {
		t.Fatalf("error %v", err)
	}
	if alloc > 4<<20 {
		t.Errorf("allocated %d MiB for a 1 MiB file", alloc>>20)
	}
}
