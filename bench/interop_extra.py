"""Interop cases beyond ../shared/peer/interop's, for defects fixed since (run by bench/interop.sh after
run_all.sh, with the same environment): on a base without a pooler (minibert, a masked-LM checkpoint),
gotune's AdapterHub adapters and prompt-tuning adapters must carry the pooler gotune initialised so that
`adapters` / PEFT reproduce gotune's logits. Results are appended to $PERF/interop/results.jsonl.
usage: PYTHONPATH=$PERF/pylib:$PERF/adapterlib /usr/bin/python3 interop_extra.py (cwd: $PERF/interop)"""
import os, sys
sys.path.insert(0, os.path.join(os.environ["PERF"], "interop"))
import common as C
import gotune_to_hf as G
import adapters_interop as A

# PEFT: prompt tuning on the base without a pooler (prefix tuning's case is in the peer's set).
G.CASES["prompt-nopooler"] = (C.MINIBERT, ["--method", "prompt", "--lr", "3e-2", "--num-virtual-tokens", "5"])
G.case_prompt_learning("prompt-nopooler", False)

# AdapterHub: gotune's adapter on the base without a pooler, loaded by adapters (part 1's checks).
C.POOLERBASE = C.MINIBERT
A.PART1 = {"adapter-pfeiffer-nopooler": ["--adapter-placement", "pfeiffer"],
           "adapter-parallel-nopooler": ["--adapter-placement", "parallel"]}
A.part1(False)
