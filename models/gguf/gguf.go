// Package gguf loads LLaMA-architecture GGUF files (llama.cpp's format) as
// a llama.Config, nn.Params under Hugging Face names and layouts, and the
// SentencePiece vocabulary stored in the file's metadata. The container is
// parsed with go-huggingface's models/gguf reader.
//
// Tensor names map to Hugging Face's:
//
//	token_embd.weight         model.embed_tokens.weight
//	output_norm.weight        model.norm.weight
//	output.weight             lm_head.weight (absent: tied embeddings)
//	blk.N.attn_norm.weight    model.layers.N.input_layernorm.weight
//	blk.N.attn_{q,k,v}.weight model.layers.N.self_attn.{q,k,v}_proj.weight
//	blk.N.attn_output.weight  model.layers.N.self_attn.o_proj.weight
//	blk.N.ffn_norm.weight     model.layers.N.post_attention_layernorm.weight
//	blk.N.ffn_{gate,up,down}.weight model.layers.N.mlp.{gate,up,down}_proj.weight
//
// llama.cpp's converter permutes the rows of q and k so that RoPE rotates
// adjacent pairs (Meta's / llama2.c's layout); Load permutes them back, so
// the model runs with Hugging Face's rotate_half like any HF checkpoint.
// Only F32 and F16 tensors are read; quantised types are refused with an
// error naming the tensor and its type.
package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	hf "github.com/gomlx/go-huggingface/models/gguf"

	"github.com/gotune/gotune/models/llama"
	"github.com/gotune/gotune/nn"
	"github.com/gotune/gotune/safetensors"
	"github.com/gotune/gotune/tokenizer/spm"
)

// Model is a loaded GGUF file.
type Model struct {
	Config    *llama.Config
	Params    *nn.Params
	Tokenizer *spm.Tokenizer // nil when the file has no "llama" vocabulary
	// AddBOS reports whether prompts start with BOS (tokenizer.ggml.add_bos_token, default true).
	AddBOS bool
}

// Load reads a LLaMA-architecture GGUF file.
func Load(path string) (*Model, error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	f, err := hf.Open(path)
	if err != nil {
		return nil, err
	}
	arch := f.Architecture()
	if arch != "llama" && arch != "mistral" {
		return nil, fmt.Errorf("%s: GGUF architecture %q is not supported (only llama)", path, arch)
	}
	cfg, err := config(f, path, arch)
	if err != nil {
		return nil, err
	}
	r, err := hf.NewReader(f)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p := nn.NewParams()
	for _, ti := range f.TensorInfos {
		name, ok := hfName(ti.Name)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q has no Hugging Face LLaMA equivalent", path, ti.Name)
		}
		if ti.Type != hf.TensorTypeF32 && ti.Type != hf.TensorTypeF16 {
			return nil, fmt.Errorf("%s: tensor %q has type %s: quantised GGUF tensors are not supported yet (only F32 and F16)", path, ti.Name, ti.Type)
		}
		raw, info, err := r.ReadTensorRaw(ti.Name)
		if err != nil {
			return nil, err
		}
		_, dims := info.GoMLXShape()
		data := decode(raw, info.Type)
		if strings.HasSuffix(name, "q_proj.weight") || strings.HasSuffix(name, "k_proj.weight") {
			heads := cfg.NumAttentionHeads
			if strings.HasSuffix(name, "k_proj.weight") {
				heads = cfg.NumKeyValueHeads
			}
			if len(dims) != 2 || dims[0]%(2*heads) != 0 {
				return nil, fmt.Errorf("%s: tensor %q has shape %v, want 2 dimensions with rows a multiple of 2×%d heads", path, ti.Name, dims, heads)
			}
		}
		switch {
		case strings.HasSuffix(name, "q_proj.weight"):
			data = unpermute(data, dims, cfg.NumAttentionHeads)
		case strings.HasSuffix(name, "k_proj.weight"):
			data = unpermute(data, dims, cfg.NumKeyValueHeads)
		}
		if err := p.Set(name, dims, data); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if !p.Has("model.embed_tokens.weight") {
		return nil, fmt.Errorf("%s: no token_embd.weight tensor", path)
	}
	cfg.VocabSize = p.Shape("model.embed_tokens.weight")[0]
	cfg.TieWordEmbeddings = !p.Has("lm_head.weight")
	m := &Model{Config: cfg, Params: p, AddBOS: true}
	if kv, ok := f.GetKeyValue("tokenizer.ggml.add_bos_token"); ok {
		m.AddBOS = kv.Bool()
	}
	if m.Tokenizer, err = vocab(f, path); err != nil {
		return nil, err
	}
	return m, nil
}

func config(f *hf.File, path, arch string) (*llama.Config, error) {
	get := func(key string) (hf.Value, bool) {
		kv, ok := f.GetKeyValue(arch + "." + key)
		return kv.Value, ok
	}
	num := func(key string) int {
		v, _ := get(key)
		return int(v.Int64())
	}
	c := &llama.Config{ModelType: "llama", HiddenAct: "silu", RopeTheta: 10000, RMSNormEps: 1e-5, InitializerRange: 0.02,
		HiddenSize: num("embedding_length"), IntermediateSize: num("feed_forward_length"),
		NumHiddenLayers: num("block_count"), NumAttentionHeads: num("attention.head_count"),
		NumKeyValueHeads: num("attention.head_count_kv"), MaxPositionEmbeddings: num("context_length"),
		VocabSize: 1}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if v, ok := get("attention.layer_norm_rms_epsilon"); ok {
		c.RMSNormEps = v.Float64()
	}
	if v, ok := get("rope.freq_base"); ok {
		c.RopeTheta = v.Float64()
	}
	if d := num("rope.dimension_count"); d > 0 && c.NumAttentionHeads > 0 && d != c.HiddenSize/c.NumAttentionHeads {
		c.HeadDim = d
	}
	if err := c.Validate(path); err != nil {
		return nil, err
	}
	if kv, ok := f.GetKeyValue("tokenizer.ggml.bos_token_id"); ok {
		id := int(kv.Int64())
		c.BOSTokenID = &id
	}
	if kv, ok := f.GetKeyValue("tokenizer.ggml.eos_token_id"); ok {
		c.EOSTokenID = []byte(fmt.Sprint(kv.Int64()))
	}
	c.Raw = map[string]any{"model_type": "llama", "architectures": []string{"LlamaForCausalLM"}}
	return c, nil
}

// hfName maps a GGUF tensor name to its Hugging Face name.
func hfName(g string) (string, bool) {
	switch g {
	case "token_embd.weight":
		return "model.embed_tokens.weight", true
	case "output_norm.weight":
		return "model.norm.weight", true
	case "output.weight":
		return "lm_head.weight", true
	}
	var n int
	var rest string
	if _, err := fmt.Sscanf(g, "blk.%d.%s", &n, &rest); err != nil {
		return "", false
	}
	part, suffix, _ := strings.Cut(rest, ".")
	m := map[string]string{
		"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
		"attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
		"ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
	}[part]
	if m == "" {
		return "", false
	}
	return fmt.Sprintf("model.layers.%d.%s.%s", n, m, suffix), true
}

func decode(raw []byte, t hf.TensorType) []float32 {
	if t == hf.TensorTypeF16 {
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = safetensors.HalfToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// unpermute undoes llama.cpp's q/k row permutation for heads: GGUF row
// h*d + 2i + j holds Hugging Face row h*d + j*d/2 + i.
func unpermute(w []float32, dims []int, heads int) []float32 {
	rows, cols := dims[0], 1
	if len(dims) > 1 {
		cols = dims[1]
	}
	d := rows / heads
	out := make([]float32, len(w))
	for h := 0; h < heads; h++ {
		for i := 0; i < d/2; i++ {
			for j := 0; j < 2; j++ {
				src := h*d + 2*i + j
				dst := h*d + j*d/2 + i
				copy(out[dst*cols:(dst+1)*cols], w[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

// vocab builds the SentencePiece tokenizer from tokenizer.ggml.* metadata.
func vocab(f *hf.File, path string) (*spm.Tokenizer, error) {
	kv, ok := f.GetKeyValue("tokenizer.ggml.model")
	if !ok {
		return nil, nil
	}
	if kv.String() != "llama" {
		return nil, fmt.Errorf("%s: tokenizer.ggml.model %q is not supported (only \"llama\", SentencePiece)", path, kv.String())
	}
	tk, _ := f.GetKeyValue("tokenizer.ggml.tokens")
	pieces := tk.Strings()
	scores := make([]float32, len(pieces))
	if sc, ok := f.GetKeyValue("tokenizer.ggml.scores"); ok {
		for i, s := range sc.Float64s() {
			if i < len(scores) {
				scores[i] = float32(s)
			}
		}
	}
	var types []int32
	if ty, ok := f.GetKeyValue("tokenizer.ggml.token_type"); ok {
		for _, t := range ty.Int64s() {
			types = append(types, int32(t))
		}
	}
	id := func(key string, def int) int {
		if kv, ok := f.GetKeyValue(key); ok {
			if v := kv.Int64(); v >= 0 && v < int64(len(pieces)) {
				return int(v)
			}
		}
		return def
	}
	return spm.New(pieces, scores, types, id("tokenizer.ggml.bos_token_id", 1), id("tokenizer.ggml.eos_token_id", 2), id("tokenizer.ggml.unknown_token_id", 0))
}
