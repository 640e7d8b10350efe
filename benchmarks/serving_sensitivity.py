"""How the serving fit and the cross-system ratios move with TensorRT-LLM's host time per sequence.

Usage: python benchmarks/serving_sensitivity.py. Holds the fitted shared figures of
``src/gpuplan/demand/serving/calibration.yaml`` and scans, for the TensorRT-LLM throughput cases,
the host time per running sequence per iteration (fitted at 0) against the time per iteration,
printing the throughput fit (mean |log error|, the fit's objective; median and worst
|relative error|) and the four ratios to H100 that
the per-sequence term moves most (docs/serving.md, Calibration). Prints; never fails.
"""

from __future__ import annotations

import itertools
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibrate_serving import KEYS, engines_of_cases, log_errors

from gpuplan.catalog import load_catalog
from gpuplan.demand.serving.fitted import serving_calibration

#: Host time per running sequence per iteration to scan [s].
SEQUENCE_GRID_S = (0.0, 5e-6, 10e-6, 20e-6)
#: Fixed time per iteration to scan [s].
ITERATION_GRID_S = (0.0, 2e-3)
#: (system, H100 reference) case pairs whose ratio the scan prints.
RATIO_PAIRS = (
    ("trtllm017-llama31-70b-tp1-128-2048-h200-fp8", "trtllm017-llama31-70b-tp1-128-2048-h100-fp8"),
    ("trtllm017-llama31-8b-tp1-128-2048-h200-fp8", "trtllm017-llama31-8b-tp1-128-2048-h100-fp8"),
    ("mlperf-inf41-llama2-70b-b200x1-offline", "mlperf-inf41-llama2-70b-h100x8-offline"),
    ("trtllm017-llama31-8b-tp1-20000-2000-a100-fp16",
     "trtllm017-llama31-8b-tp1-20000-2000-h100-fp8"),
)


def main() -> None:
    cat = load_catalog()
    cal = serving_calibration()
    shared = {k: float(cal[k]) for k in KEYS}
    engine = engines_of_cases()
    print("seq us  iter ms  mean|log|  median  worst   ratio errors (70B TP1 H200, 8B H200, "
          "B200 MLPerf, 8B 20k A100)")
    for q, it in itertools.product(SEQUENCE_GRID_S, ITERATION_GRID_S):
        ids, e = log_errors(cat, {**shared, "overhead_per_iteration_s": it,
                                  "overhead_per_sequence_s": q})
        err = dict(zip(ids, e, strict=True))
        logs = [abs(x) for i, x in err.items() if engine[i] == "trtllm"]
        rel = [abs(math.exp(x) - 1) for i, x in err.items() if engine[i] == "trtllm"]
        ratios = " ".join(f"{math.exp(err[a] - err[b]) - 1:+6.1%}" for a, b in RATIO_PAIRS)
        print(f"{q * 1e6:6.0f}  {it * 1e3:7.0f}  {statistics.fmean(logs):9.4f}  "
              f"{statistics.median(rel):6.1%}  {max(rel):6.1%}   {ratios}", flush=True)


if __name__ == "__main__":
    main()
