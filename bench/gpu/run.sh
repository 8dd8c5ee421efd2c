#!/usr/bin/env bash
# GPU measurement: gotune (XLA CUDA through the PJRT plugin) vs PyTorch eager on the same GPU, in one sitting.
# Runs on the GPU machine from the repository root, without Go: it needs the binary from bench/gpu/build.sh in
# .gpu/gotune (or $GOTUNE), a Python with torch + transformers + peft ($PY, default /opt/torch/.venv/bin/python3)
# and jax-cuda13-pjrt installed in that Python environment (found by gotune's plugin search, docs/scale.md).
#
#   OUT=/some/folder bash bench/gpu/run.sh            # the measurement (≈ 6 minutes at most)
#   OUT=/tmp/o bash bench/gpu/run.sh --dry-run        # CPU rehearsal: Go backend, tiny shapes, same steps
#                                                     # (GPU_DRY_RUN=1 does the same)
# Writes one JSON line per step to $OUT/gpu.jsonl (gotune's and PyTorch's bench lines with "step", "rc" and
# "gpu_mem_peak_mib" — the most GPU memory nvidia-smi saw in use during the step, less what was in use before it —
# added; a failed step gets {"step", "rc", "error"}) and everything printed to $OUT/log.txt.
# Each step has its own timeout, cut to what is left of the total budget ($GPU_BUDGET_S, default 345 s).
set -u
dry=${GPU_DRY_RUN:-0}
[ "${1:-}" = "--dry-run" ] && dry=1
OUT=${OUT:?set OUT to the output folder}
mkdir -p "$OUT"
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BIN=${GOTUNE:-$root/.gpu/gotune}
PY=${PY:-/opt/torch/.venv/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3)
BUDGET=${GPU_BUDGET_S:-345}
start=$(date +%s)
log=$OUT/log.txt
jsonl=$OUT/gpu.jsonl
: >"$jsonl"

# The Python environment's bin first on PATH, so gotune's plugin search finds its jax_plugins.
export PATH="$(dirname "$PY"):$PATH"
if [ "$dry" = 1 ]; then
  BACKEND=go; BERT=tiny; LLAMA=llama-tiny; DEV=cpu; BB="--batch 4 --seq 32"; LB="--batch 2 --seq 64"
else
  BACKEND=${BACKEND:-xla:cuda}; BERT=bert-base; LLAMA=llama-1b; DEV=cuda; BB="--batch 32 --seq 128"; LB="--batch 4 --seq 1024"
fi
has_smi=0
[ "$dry" = 0 ] && command -v nvidia-smi >/dev/null && has_smi=1

main() {
echo "== gotune GPU bench $(date -u +%FT%TZ) dry_run=$dry backend=$BACKEND bin=$BIN py=$PY budget=${BUDGET}s"
[ -x "$BIN" ] || { echo "missing $BIN: run bash bench/gpu/build.sh on a machine with Go first"; return 1; }
if [ "$has_smi" = 1 ]; then nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; fi
"$PY" - <<'PYEOF' || true
import glob, importlib.util, os, sys, sysconfig
print("python", sys.version.split()[0], sys.prefix)
for m in ("torch", "transformers", "peft"):
    s = importlib.util.find_spec(m)
    if s is None:
        print(m, "missing"); continue
    try:
        mod = __import__(m); print(m, getattr(mod, "__version__", "?"))
    except Exception as e:
        print(m, "import failed:", e)
sp = sysconfig.get_paths()["purelib"]
print("jax plugins:", glob.glob(os.path.join(sp, "jax_plugins", "xla_cuda*", "*.so")))
print("nvidia libs:", sorted(os.path.basename(os.path.dirname(d)) for d in glob.glob(os.path.join(sp, "nvidia", "*", "lib"))))
PYEOF

# step NAME TIMEOUT CMD...: runs CMD with a timeout (cut to the budget left), polls GPU memory meanwhile, and
# appends its JSON line (or an error line) to $jsonl.
step() {
  local name=$1 limit=$2; shift 2
  # ONLY (an extended regular expression) runs just the steps whose names match it.
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then LAST_RC=0; return; fi
  local left=$(( BUDGET - ($(date +%s) - start) - 5 ))
  if [ "$left" -lt 20 ]; then
    echo "== $name: skipped, ${left}s of the budget left"
    printf '{"step":"%s","rc":-1,"error":"skipped: budget spent"}\n' "$name" >>"$jsonl"; return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (timeout ${limit}s): $*"
  local slog smi base=0 poll=""
  slog=$(mktemp); smi=$(mktemp)
  if [ "$has_smi" = 1 ]; then
    base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -1)
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 100 >"$smi" 2>/dev/null &
    poll=$!
  fi
  local t0=$(date +%s.%N)
  timeout -k 10 "$limit" "$@" >"$slog" 2>&1
  local rc=$?
  LAST_RC=$rc
  local secs; secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  [ -n "$poll" ] && { kill "$poll" 2>/dev/null; wait "$poll" 2>/dev/null; }
  cat "$slog"
  local peak=null
  if [ "$has_smi" = 1 ] && [ -s "$smi" ]; then peak=$(sort -n "$smi" | tail -1); peak=$((peak - base)); fi
  local line; line=$(grep '^{' "$slog" | tail -1)
  if [ -n "$line" ] && [ "$rc" = 0 ]; then
    echo "${line%\}},\"step\":\"$name\",\"rc\":$rc,\"wall_s\":$secs,\"gpu_mem_peak_mib\":$peak}" >>"$jsonl"
  else
    local err; err=$(grep -v '^\s*$' "$slog" | tail -3 | tr '\n"\\\t' "    " | cut -c1-600)
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && err="timed out after ${limit}s; $err"
    printf '{"step":"%s","rc":%s,"wall_s":%s,"gpu_mem_peak_mib":%s,"error":"%s"}\n' "$name" "$rc" "$secs" "$peak" "$err" >>"$jsonl"
  fi
  echo "== $name: rc=$rc ${secs}s gpu_mem_peak_mib=$peak"
  rm -f "$slog" "$smi"
}

G="$BIN bench --backend $BACKEND"
T="$PY bench/gpu/bench_torch_gpu.py --device $DEV"
# (a) smoke: the plugin loads and a tiny training step runs; the JSON line's "device" names the GPU.
step smoke 90 $G --model tiny --method full --warmup 1 --steps 2
if [ "$LAST_RC" != 0 ] && [ "$dry" = 0 ]; then
  # gotune loads the NVIDIA libraries beside the plugin itself (docs/scale.md); in case that did not suffice,
  # retry once with them on LD_LIBRARY_PATH, and keep it for the other steps if that works.
  nvlib=$("$PY" -c 'import glob,os,sysconfig; print(":".join(sorted(glob.glob(os.path.join(sysconfig.get_paths()["purelib"],"nvidia","*","lib")))))' 2>/dev/null)
  if [ -n "$nvlib" ]; then
    old_ld=${LD_LIBRARY_PATH:-}
    export LD_LIBRARY_PATH="$nvlib${old_ld:+:$old_ld}"
    step smoke-ld-library-path 90 $G --model tiny --method full --warmup 1 --steps 2
    [ "$LAST_RC" = 0 ] || export LD_LIBRARY_PATH="$old_ld"
  fi
fi
# (b) BERT-base full fine-tuning 32×128, float32 (TF32 matmuls on both sides: XLA's CUDA default).
step gotune-bert-full 90 $G --model $BERT --method full $BB --warmup 2 --steps 5
step torch-bert-full 60 $T --model $BERT --method full $BB --warmup 2 --steps 5 --dtype f32 --tf32
# (c) Llama-3.2-1B shape, LoRA r16 all-linear, 4×1024, float32 on both (gotune has no bf16 yet), no dropout.
step gotune-llama1b-lora 170 $G --model $LLAMA --method lora $LB --warmup 2 --steps 5 --dropout 0
step torch-llama1b-lora 75 $T --model $LLAMA --method lora $LB --warmup 2 --steps 5 --dropout 0 --dtype f32 --tf32
# Reference only: PyTorch with bf16 autocast (what gotune's future --bf16 is to be compared with).
step torch-llama1b-lora-bf16 50 $T --model $LLAMA --method lora $LB --warmup 2 --steps 5 --dropout 0 --dtype bf16
# bf16 on both sides: gotune --bf16 (bf16 matrix products, f32 weights/optimizer/norms) vs PyTorch autocast(bf16).
step gotune-llama1b-lora-bf16 170 $G --model $LLAMA --method lora $LB --warmup 2 --steps 5 --dropout 0 --bf16
step gotune-bert-full-bf16 90 $G --model $BERT --method full $BB --warmup 2 --steps 5 --bf16
step torch-bert-full-bf16 60 $T --model $BERT --method full $BB --warmup 2 --steps 5 --dtype bf16
# QLoRA: the same LoRA on a base quantised to NF4 (bitsandbytes' 4-bit layout), bf16 matrix products.
step gotune-llama1b-qlora-nf4-bf16 170 $G --model $LLAMA --method lora $LB --warmup 2 --steps 5 --dropout 0 --bf16 --quantize-base nf4
# Gradient checkpointing's memory/time trade on BERT-base full (f32).
step gotune-bert-full-gc 90 $G --model $BERT --method full $BB --warmup 2 --steps 5 --gradient-checkpointing

# (d) Device mesh: one GPU is a mesh of one; the losses of the same steps must match the run without a mesh.
step mesh-none 45 $G --model tiny --method full --warmup 1 --steps 3 --dropout 0
step mesh-dp1 45 $G --model tiny --method full --warmup 1 --steps 3 --dropout 0 --sharding dp --devices 1
step mesh-fsdp1 45 $G --model tiny --method full --warmup 1 --steps 3 --dropout 0 --sharding fsdp --devices 1
ngpu=0
[ "$has_smi" = 1 ] && ngpu=$(nvidia-smi -L | grep -c '^GPU')
if [ "$ngpu" -gt 1 ]; then
  step "mesh-dp$ngpu" 60 $G --model tiny --method full --batch $((8 * ngpu)) --warmup 1 --steps 3 --dropout 0 --sharding dp --devices "$ngpu"
  step "gotune-bert-full-dp$ngpu" 90 $G --model $BERT --method full --batch $((32 * ngpu)) --seq 128 --warmup 2 --steps 5 --sharding dp --devices "$ngpu"
fi

echo "== done in $(( $(date +%s) - start ))s; $jsonl:"
cat "$jsonl"
"$PY" - "$jsonl" <<'PYEOF' || true
import json, sys
rows = {}
for l in open(sys.argv[1]):
    try:
        r = json.loads(l)
    except ValueError:
        continue
    rows[r.get("step")] = r
for model, g, t in (("bert-base full 32x128", "gotune-bert-full", "torch-bert-full"),
                    ("llama-1b lora r16 4x1024", "gotune-llama1b-lora", "torch-llama1b-lora"),
                    ("bert-base full 32x128 bf16", "gotune-bert-full-bf16", "torch-bert-full-bf16"),
                    ("llama-1b lora r16 4x1024 bf16", "gotune-llama1b-lora-bf16", "torch-llama1b-lora-bf16")):
    a, b = rows.get(g, {}), rows.get(t, {})
    if a.get("median_ms") and b.get("median_ms"):
        print(f"{model}: gotune {a['median_ms']:.1f} ms, pytorch {b['median_ms']:.1f} ms, "
              f"ratio gotune/pytorch {a['median_ms'] / b['median_ms']:.2f}; "
              f"GPU memory (nvidia-smi) gotune {a.get('gpu_mem_peak_mib')} MiB, pytorch {b.get('gpu_mem_peak_mib')} MiB")
    else:
        print(f"{model}: no ratio ({g}: {a.get('error', 'ok')}; {t}: {b.get('error', 'ok')})")
ref = rows.get("mesh-none", {}).get("losses")
for name in ("mesh-dp1", "mesh-fsdp1"):
    got = rows.get(name, {}).get("losses")
    if ref and got and len(ref) == len(got):
        d = max(abs(x - y) for x, y in zip(ref, got))
        print(f"{name}: losses {got} vs no mesh {ref}: max |diff| {d:.3g} ({'same' if d <= 1e-5 else 'DIFFERENT'} at 1e-5)")
    else:
        print(f"{name}: not compared ({rows.get(name, {}).get('error', 'no losses')})")
PYEOF
}

main 2>&1 | tee -a "$log"
exit "${PIPESTATUS[0]}"
