"""Checks of :func:`~gpuplan.demand.serving.serve`'s inputs (messages start with the
parameter's name, which the CLI shows as its flag)."""

from __future__ import annotations

from gpuplan.checks import check_choice, check_number, check_optional_number, check_whole
from gpuplan.demand.memory import KV_DTYPES
from gpuplan.errors import UserError

#: Upper bounds on the inputs; beyond them a request is a typo, not a plan.
MAX_TOKENS_PER_REQUEST = 2**22
MAX_PARALLEL_DEGREE = 2**16
MAX_RATE_REQUESTS_PER_S = 1e9
MAX_TOKENS_PER_DAY = 1e18
MAX_LATENCY_TARGET_MS = 1e7
MAX_HEADROOM = 10.0
#: Least token budget per iteration accepted [tokens] (TensorRT-LLM's trtllm-bench never
#: builds below 2,048; 1 token would be decode-only).
MIN_MAX_NUM_TOKENS = 64


def check_serve_inputs(*, input_tokens: int, output_tokens: int, rate: float | None,
           tokens_per_day: float | None, ttft_ms: float | None, tpot_ms: float | None,
           max_batch: int, headroom: float, speculative_acceptance: float | None,
           draft_tokens: int, kv_dtype: str | None, max_num_tokens: int | None = None,
           kv_memory_fraction: float | None = None) -> None:
    """Check the inputs of :func:`serve` (messages start with the parameter's name)."""
    for field, v in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                     ("max_batch", max_batch), ("draft_tokens", draft_tokens)):
        check_whole(field, v, MAX_TOKENS_PER_REQUEST)
    for field, x, hi in (("rate", rate, MAX_RATE_REQUESTS_PER_S),
                         ("tokens_per_day", tokens_per_day, MAX_TOKENS_PER_DAY),
                         ("ttft_ms", ttft_ms, MAX_LATENCY_TARGET_MS),
                         ("tpot_ms", tpot_ms, MAX_LATENCY_TARGET_MS)):
        check_optional_number(field, x, 0.0, hi, lo_open=True)
    if rate is not None and tokens_per_day is not None:
        raise UserError("rate or tokens_per_day: give one, not both", field="rate")
    check_number("headroom", headroom, 0.0, MAX_HEADROOM)
    check_optional_number("speculative_acceptance", speculative_acceptance, 0.0, 1.0)
    if kv_dtype is not None:
        check_choice("kv_dtype", kv_dtype, KV_DTYPES)
    if max_num_tokens is not None:
        check_whole("max_num_tokens", max_num_tokens, MAX_TOKENS_PER_REQUEST)
        if max_num_tokens < MIN_MAX_NUM_TOKENS:
            raise UserError(f"max_num_tokens must be at least {MIN_MAX_NUM_TOKENS}, got "
                            f"{max_num_tokens}", field="max_num_tokens")
    check_optional_number("kv_memory_fraction", kv_memory_fraction, 0.0, 1.0, lo_open=True)
