#!/usr/bin/env python3
"""PyTorch eager peer for bench/gpu/run.sh: one training configuration on one GPU (or the CPU for a dry run).

Same settings as gotune's `bench` command (bench/bench.go) and the CPU peer (shared/peer/bench_torch.py): random
init, all-ones attention mask, AdamW lr 2e-5 weight decay 0.01; BERT: BertForSequenceClassification (2 labels);
llama: LlamaForCausalLM with labels = ids, LoRA r 16 alpha 32 on all linear layers (PEFT "all-linear").

Prints one JSON line: per-step times (ms, the GPU synchronised before and after each step), median, tokens/s,
torch.cuda.max_memory_allocated / max_memory_reserved over the whole run.

--dtype f32 keeps everything in float32 (TF32 matmuls with --tf32, as XLA's default on CUDA); --dtype bf16 runs the
forward under torch.autocast(bfloat16) with float32 weights and optimizer state (Hugging Face Trainer's --bf16).
"""
import argparse, json, statistics, sys, time

import torch

p = argparse.ArgumentParser()
p.add_argument("--model", choices=["bert-base", "tiny", "llama-1b", "llama-tiny"], required=True)
p.add_argument("--method", choices=["full", "lora"], required=True)
p.add_argument("--batch", type=int, default=0)
p.add_argument("--seq", type=int, default=0)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--dropout", type=float, default=0.1)
p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls in float32 (XLA's default on CUDA)")
p.add_argument("--device", default="cuda")
args = p.parse_args()

torch.manual_seed(0)
dev = torch.device(args.device)
cuda = dev.type == "cuda"
if cuda:
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32

import transformers
from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

dp = args.dropout
is_llama = args.model.startswith("llama")
if args.model == "bert-base":
    cfg = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, num_labels=2, hidden_dropout_prob=dp, attention_probs_dropout_prob=dp)
    B, T = 32, 128
elif args.model == "tiny":
    cfg = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=128, num_labels=2, hidden_dropout_prob=dp, attention_probs_dropout_prob=dp)
    B, T = 8, 32
elif args.model == "llama-1b":
    # Llama-3.2-1B's shape, without its llama3 rope scaling (gotune's bench has none either).
    cfg = LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                      num_attention_heads=32, num_key_value_heads=8, head_dim=64, hidden_act="silu",
                      max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
                      tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001, attention_dropout=0.0)
    B, T = 4, 1024
else:
    cfg = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                      rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True, bos_token_id=1,
                      eos_token_id=2)
    B, T = 2, 32
B, T = args.batch or B, args.seq or T

t_build = time.perf_counter()
if hasattr(dev, "__enter__"):  # torch >= 2.0: build the weights on the device directly
    with dev:
        model = LlamaForCausalLM(cfg) if is_llama else BertForSequenceClassification(cfg)
else:
    model = LlamaForCausalLM(cfg) if is_llama else BertForSequenceClassification(cfg)
model.to(dev)
n_total = sum(p.numel() for p in model.parameters())
if args.method == "lora":
    from peft import LoraConfig, TaskType, get_peft_model
    if is_llama:
        lc = LoraConfig(task_type=TaskType.CAUSAL_LM, r=16, lora_alpha=32, lora_dropout=dp, target_modules="all-linear")
    else:
        lc = LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=dp, target_modules=["query", "value"])
    model = get_peft_model(model, lc)
trainable = [p for p in model.parameters() if p.requires_grad]
n_train = sum(p.numel() for p in trainable)
build_s = time.perf_counter() - t_build

g = torch.Generator().manual_seed(1)
ids = torch.randint(0, cfg.vocab_size, (B, T), generator=g).to(dev)
mask = torch.ones(B, T, dtype=torch.long, device=dev)
labels = ids.clone() if is_llama else torch.randint(0, 2, (B,), generator=g).to(dev)


def sync():
    if cuda:
        torch.cuda.synchronize()


if cuda:
    torch.cuda.reset_peak_memory_stats()
model.train()
opt = torch.optim.AdamW(trainable, lr=2e-5, weight_decay=0.01)
times, losses = [], []
for i in range(args.warmup + args.steps):
    sync()
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    opt.step()
    losses.append(out.loss.item())
    sync()
    times.append((time.perf_counter() - t0) * 1e3)

meas = times[args.warmup:]
med = statistics.median(meas)
res = {
    "impl": "pytorch", "torch": torch.__version__, "transformers": transformers.__version__,
    "model": args.model, "method": args.method, "batch": B, "seq": T, "dropout": dp, "dtype": args.dtype,
    "tf32": bool(args.tf32), "attn_implementation": getattr(model.config, "_attn_implementation", None),
    "params_total": n_total, "params_trainable": n_train, "build_s": round(build_s, 1),
    "warmup_ms": [round(t, 1) for t in times[:args.warmup]], "step_ms": [round(t, 1) for t in meas],
    "median_ms": round(med, 1), "tokens_per_s": round(B * T / (med / 1e3), 1),
    "loss_first": losses[0], "loss_last": losses[-1],
    "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
}
if cuda:
    res["peak_alloc_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    res["peak_reserved_mib"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
print(json.dumps(res))
