"""Typed result of a serving plan: what :func:`~gpuplan.demand.serving.serve` returns.

``ServeResult.model_dump()`` is the ``gpuplan serve --json`` object. Demand never prices a
fleet: ``cost_usd`` stays None until the pipeline (:mod:`gpuplan.pipeline`) fills it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReplicaOut(BaseModel):
    """One replica: its shape, throughput [tokens/s], latencies [s] and memory [bytes].

    ``gpus`` = ``tp·attention_dp·pp``; ``ep`` GPUs share the routed experts
    (:mod:`~gpuplan.demand.serving.replica`).
    """

    model_config = ConfigDict(extra="forbid")
    gpus: int
    tp: int
    pp: int
    ep: int
    attention_dp: int = 1
    quant: str
    kv_dtype: str
    batch: int
    max_concurrency: int
    output_tokens_per_s: float
    total_tokens_per_s: float
    ttft_s: float
    tpot_s: float
    memory_per_gpu_bytes: int


class ServeCost(BaseModel):
    """Cost of a serving fleet, to own and to rent; None where a price is unknown.

    Filled by the pipeline from :func:`gpuplan.money.serve_cost` (whose mapping it validates),
    never by :func:`~gpuplan.demand.serving.serve`.

    Attributes
    ----------
    own_usd_per_gpu_hour, rent_usd_per_gpu_hour : float or None
        Price of one accelerator-hour [USD/h].
    own_usd_per_hour, rent_usd_per_hour : float or None
        The whole fleet, per hour [USD/h].
    own_usd_per_million_output_tokens, rent_usd_per_million_output_tokens : float or None
        Per million output tokens at the fleet's throughput [USD].
    """

    model_config = ConfigDict(extra="forbid")
    own_usd_per_gpu_hour: float | None = None
    own_usd_per_hour: float | None = None
    own_usd_per_million_output_tokens: float | None = None
    rent_usd_per_gpu_hour: float | None = None
    rent_usd_per_hour: float | None = None
    rent_usd_per_million_output_tokens: float | None = None


class ServeResult(BaseModel):
    """Result of :func:`~gpuplan.demand.serving.serve`; ``model_dump()`` is the ``--json``.

    ``cost_usd`` is None until the pipeline prices the fleet; assigning the money stage's
    mapping to it validates it into :class:`ServeCost`.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    model: str
    gpu: str
    input_tokens: int
    output_tokens: int
    rate_requests_per_s: float | None
    ttft_target_s: float | None
    tpot_target_s: float | None
    replica: ReplicaOut
    replicas: int
    gpus: int
    output_tokens_per_s_per_gpu: float
    demand_output_tokens_per_s: float | None
    headroom: float
    breakdown_s: dict[str, float]
    bottleneck: str
    candidates_evaluated: int
    meets_slo: bool
    notes: list[str]
    cost_usd: ServeCost | None = None
