"""LLM serving planner: throughput and latency under SLOs, and capacity for a traffic level.

Open :mod:`~gpuplan.demand.serving.search` first: :func:`serve` is the entry point. Beside it:

* :mod:`~gpuplan.demand.serving.engine`: the vectorised engine model (decode iteration with
  chunked prefill, operator by operator; prefill; M/M/1 admission wait; speculative decoding);
* :mod:`~gpuplan.demand.serving.fitted`: serving's view of an accelerator (measured matmul
  ceiling × the serving fraction, allocatable memory) and the figures of ``calibration.yaml``
  fitted on serving cases only (``benchmarks/calibrate_serving.py``);
* :mod:`~gpuplan.demand.serving.results`: the typed :class:`ServeResult` (and
  :class:`ServeCost`, which the pipeline fills).

Per replica, with continuous batching at ``b`` concurrent sequences of ``I`` input and ``O``
output tokens, one scheduler iteration takes ``T(b) = t_decode(b) + (b / O) · t_prefill(I)``,
so the replica emits ``b / T(b)`` output tokens per second, TPOT ≈ ``T(b)`` and TTFT =
``t_prefill(I)`` + the wait in the prefill queue.
"""

from __future__ import annotations

from gpuplan.demand.memory import KV_DTYPES, WEIGHT_FORMAT_BITS
from gpuplan.demand.serving.engine import (
    COMPUTE_DTYPE,
    decode_step_s,
    p99_wait_s,
    prefill_s,
    server_mean_concurrency,
    speculative_speedup,
)
from gpuplan.demand.serving.fitted import (
    allocatable_memory_bytes,
    measured_matmul_efficiency,
    serving_fraction,
    serving_hardware,
    serving_kv_read_efficiency,
    serving_overhead_per_iteration_s,
    serving_overhead_per_layer_s,
    serving_roofline_sharpness,
    serving_tp_comm_efficiency,
)
from gpuplan.demand.serving.kernels import expected_experts_touched
from gpuplan.demand.serving.results import ReplicaOut, ServeCost, ServeResult
from gpuplan.demand.serving.search import (
    BATCH_OPTIONS,
    DEFAULT_DRAFT_TOKENS,
    DEFAULT_HEADROOM,
    MAX_BATCH_DEFAULT,
    SCENARIOS,
    serve,
)

__all__ = [
    "BATCH_OPTIONS", "COMPUTE_DTYPE", "DEFAULT_DRAFT_TOKENS", "DEFAULT_HEADROOM", "KV_DTYPES",
    "MAX_BATCH_DEFAULT", "SCENARIOS", "WEIGHT_FORMAT_BITS", "ReplicaOut", "ServeCost",
    "ServeResult", "allocatable_memory_bytes", "decode_step_s", "expected_experts_touched",
    "measured_matmul_efficiency", "p99_wait_s", "prefill_s", "serve", "server_mean_concurrency",
    "serving_fraction", "serving_hardware", "serving_kv_read_efficiency",
    "serving_overhead_per_iteration_s", "serving_overhead_per_layer_s",
    "serving_roofline_sharpness", "serving_tp_comm_efficiency", "speculative_speedup",
]
