"""LLM serving planner: throughput and latency under SLOs, and capacity for a traffic level.

Open :mod:`~gpuplan.demand.serving.search` first: :func:`serve` is the entry point. Beside it:

* :mod:`~gpuplan.demand.serving.engine`: the vectorised engine model (decode iteration with
  chunked prefill, prefill, M/M/1 admission wait, speculative decoding) and the fitted
  overheads of ``calibration.yaml``;
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
    expected_experts_touched,
    p99_wait_s,
    prefill_s,
    serving_kv_read_efficiency,
    serving_overhead_per_iteration_s,
    serving_overhead_per_layer_s,
    speculative_speedup,
)
from gpuplan.demand.serving.results import ReplicaOut, ServeCost, ServeResult
from gpuplan.demand.serving.search import (
    BATCH_OPTIONS,
    DEFAULT_DRAFT_TOKENS,
    DEFAULT_HEADROOM,
    MAX_BATCH_DEFAULT,
    serve,
)

__all__ = [
    "BATCH_OPTIONS", "COMPUTE_DTYPE", "DEFAULT_DRAFT_TOKENS", "DEFAULT_HEADROOM", "KV_DTYPES",
    "MAX_BATCH_DEFAULT", "WEIGHT_FORMAT_BITS", "ReplicaOut", "ServeCost", "ServeResult",
    "decode_step_s", "expected_experts_touched", "p99_wait_s", "prefill_s", "serve",
    "serving_kv_read_efficiency", "serving_overhead_per_iteration_s",
    "serving_overhead_per_layer_s", "speculative_speedup",
]
