package ptuning_test

import (
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gotune/gotune/classify"
	"github.com/gotune/gotune/internal/fixture"
	"github.com/gotune/gotune/method/ptuning"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/tokenizer"
)

// prependTokens returns the batch with ids in front of every row (token
// type 0, attended), as Hugging Face sees a soft prompt that equals those
// tokens' word embeddings.
func prependTokens(in []*tensors.Tensor, ids []int32) []*tensors.Tensor {
	b, l := in[0].Shape().Dimensions[0], in[0].Shape().Dimensions[1]
	P := len(ids)
	rows := func(t *tensors.Tensor, front func(j int) int32) *tensors.Tensor {
		src := make([]int32, b*l)
		t.ConstFlatData(func(f any) { copy(src, f.([]int32)) })
		out := make([]int32, 0, b*(l+P))
		for r := 0; r < b; r++ {
			for j := 0; j < P; j++ {
				out = append(out, front(j))
			}
			out = append(out, src[r*l:(r+1)*l]...)
		}
		return tensors.FromFlatDataAndDimensions(out, b, l+P)
	}
	return []*tensors.Tensor{
		rows(in[0], func(j int) int32 { return ids[j] }),
		rows(in[1], func(int) int32 { return 0 }),
		rows(in[2], func(int) int32 { return 1 }),
		in[3],
	}
}

func wordRows(t *testing.T, m *classify.Classifier, ids []int32) []float32 {
	t.Helper()
	w, err := m.P.Value("bert.embeddings.word_embeddings.weight")
	if err != nil {
		t.Fatal(err)
	}
	h := m.Cfg.HiddenSize
	var out []float32
	for _, id := range ids {
		out = append(out, w[int(id)*h:(int(id)+1)*h]...)
	}
	return out
}

// TestPromptEqualsPrependedTokens checks prompt tuning against its
// definition in PEFT and transformers: a soft prompt equal to the word
// embeddings of some tokens gives the logits of the base model run on
// those tokens prepended to the input (token type 0, positions from 0,
// attended by every token; BERT's pooler reads the first virtual token).
func TestPromptEqualsPrependedTokens(t *testing.T) {
	in := fixture.Encoder(t, fixtures).Tensors()
	ids := []int32{7, 2, 42}
	base, err := classify.Load(baseDir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := logits(t, base, prependTokens(in, ids))

	m, err := classify.Load(baseDir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	meth, err := ptuning.New(ptuning.Prompt, ptuning.Config{NumVirtualTokens: len(ids)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := meth.Prepare(m); err != nil {
		t.Fatal(err)
	}
	if err := m.P.Set(ptuning.ParamEmbedding, []int{len(ids), m.Cfg.HiddenSize}, wordRows(t, m, ids)); err != nil {
		t.Fatal(err)
	}
	got := logits(t, m, in)
	if d := fixture.MaxDiff(got, want); d > 1e-5 {
		t.Errorf("soft prompt vs prepended tokens: max |diff| %g", d)
	} else {
		t.Logf("soft prompt vs prepended tokens: max |diff| %.3g", d)
	}
	// PEFT's trainable count: the prompt and the classifier copy.
	if _, tr := m.P.Count(); tr != int64(len(ids)*32+99) || meth.TrainableCount(m) != tr {
		t.Errorf("trainable %d (method %d), want %d", tr, meth.TrainableCount(m), len(ids)*32+99)
	}

	// Saved in PEFT's PROMPT_TUNING layout and reloaded: the same outputs.
	dir := filepath.Join(t.TempDir(), "prompt")
	if err := meth.Save(m, dir); err != nil {
		t.Fatal(err)
	}
	conf := readJSON(t, filepath.Join(dir, ptuning.ConfigFile))
	var keys []string
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	wantKeys := []string{"auto_mapping", "base_model_name_or_path", "inference_mode", "num_attention_heads", "num_layers",
		"num_transformer_submodules", "num_virtual_tokens", "peft_type", "prompt_tuning_init", "prompt_tuning_init_text",
		"revision", "task_type", "token_dim", "tokenizer_kwargs", "tokenizer_name_or_path"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("adapter_config.json keys %v, PEFT 0.12 writes %v", keys, wantKeys)
	}
	if conf["peft_type"] != "PROMPT_TUNING" || conf["token_dim"] != 32.0 || conf["num_attention_heads"] != 4.0 || conf["prompt_tuning_init"] != "RANDOM" {
		t.Errorf("adapter_config.json: %v", conf)
	}
	f, err := safetensors.ReadFile(filepath.Join(dir, ptuning.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tt := range f.Tensors {
		names = append(names, tt.Name)
	}
	if !slices.Equal(names, []string{"base_model.classifier.bias", "base_model.classifier.weight", "prompt_embeddings"}) ||
		!slices.Equal(f.Get("prompt_embeddings").Shape, []int{len(ids), 32}) {
		t.Errorf("adapter tensors %v", names)
	}
	m2, l, err := ptuning.LoadModel("", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Kind != ptuning.Prompt {
		t.Errorf("reloaded kind %s", l.Kind)
	}
	if d := fixture.MaxDiff(logits(t, m2, in), got); d > 1e-6 {
		t.Errorf("reloaded prompt adapter: logits differ by %g", d)
	}
}

// TestPromptTextInit checks PEFT's TEXT init: the word embeddings of the
// init text's tokens, special tokens included, repeated to the length.
func TestPromptTextInit(t *testing.T) {
	m, err := classify.Load(baseDir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	meth, err := ptuning.New(ptuning.Prompt, ptuning.Config{NumVirtualTokens: 6, Init: "text", InitText: "The cat"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := meth.Prepare(m); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("The cat", "", 100).IDs // [CLS] the cat [SEP]
	if len(ids) != 4 {
		t.Fatalf("init text tokens %v", ids)
	}
	want := wordRows(t, m, append(append([]int32{}, ids...), ids[:2]...))
	got, err := m.P.Value(ptuning.ParamEmbedding)
	if err != nil {
		t.Fatal(err)
	}
	if d := fixture.MaxDiff(got, want); d != 0 {
		t.Errorf("text init differs from the word embeddings by %g", d)
	}
	dir := filepath.Join(t.TempDir(), "a")
	if err := meth.Save(m, dir); err != nil {
		t.Fatal(err)
	}
	conf := readJSON(t, filepath.Join(dir, ptuning.ConfigFile))
	if conf["prompt_tuning_init"] != "TEXT" || conf["prompt_tuning_init_text"] != "The cat" || conf["tokenizer_name_or_path"] == nil {
		t.Errorf("adapter_config.json: %v", conf)
	}
}

// TestConfigErrors checks that misplaced and bad settings are errors that
// name the setting.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		kind string
		cfg  ptuning.Config
		want string
	}{
		{ptuning.Prompt, ptuning.Config{PrefixProjection: true}, "prompt: prefix_projection: only for --method ptuning"},
		{ptuning.Prefix, ptuning.Config{Init: "text", InitText: "x"}, "ptuning: init, init_text: only for --method prompt"},
		{ptuning.Prompt, ptuning.Config{Init: "text"}, "non-empty init_text"},
		{ptuning.Prompt, ptuning.Config{Init: "vocab"}, `init "vocab" is not one of random, text`},
		{ptuning.Prefix, ptuning.Config{NumVirtualTokens: -1}, "num_virtual_tokens must be ≥ 1"},
		{ptuning.Prefix, ptuning.Config{Dropout: 1}, "dropout must be in [0, 1)"},
	} {
		_, err := ptuning.New(tc.kind, tc.cfg, 0)
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: want an error containing %q, got %v", tc.kind, tc.cfg, tc.want, err)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
