#!/usr/bin/env python3
"""The machine's float32 matrix-multiply peak through numpy's BLAS (OpenBLAS on
Debian with libopenblas0-pthread), as a yardstick for a training step's
share of it: median GFLOP/s of 2048x2048x2048 products on N threads.

Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/sgemm_peak.py [N] [REPEATS]
Prints one JSON line.
"""
import json, statistics, sys, time

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 7
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
a @ b  # warm-up
rates = []
for _ in range(reps):
    t0 = time.perf_counter()
    a @ b
    rates.append(2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
try:
    from threadpoolctl import threadpool_info
    blas = [(i.get("internal_api"), i.get("num_threads"), i.get("architecture")) for i in threadpool_info()]
except ImportError:
    blas = None
print(json.dumps({"n": n, "median_gflops": round(statistics.median(rates), 1), "max_gflops": round(max(rates), 1),
                  "numpy": np.__version__, "blas": blas}))
