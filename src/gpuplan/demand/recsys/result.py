"""Typed result of :func:`~gpuplan.demand.recsys.planner.plan_recsys`; ``model_dump()`` is the
JSON of ``gpuplan recsys --json``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PlacementOut(BaseModel):
    """Embedding rows (+ optimizer state when training) per tier, whole job [bytes], and the
    share of lookups each tier serves [fraction]."""

    model_config = ConfigDict(extra="forbid")
    hbm_bytes: float
    host_bytes: float
    ssd_bytes: float
    hbm_lookup_fraction: float
    host_lookup_fraction: float
    ssd_lookup_fraction: float


class ShardingOut(BaseModel):
    """Tables (counting copies) per sharding strategy, and the embedding rows + optimizer state
    one GPU must hold when all of them are balanced over the job's GPUs [bytes]."""

    model_config = ConfigDict(extra="forbid")
    table_wise: int
    column_wise: int
    grid: int
    row_wise: int
    per_gpu_embedding_bytes: float


class ServeOut(BaseModel):
    """One serving replica: GPUs, embedding placement, the chosen batch and its latency.

    Attributes
    ----------
    replica_gpus : int
        GPUs per replica [GPUs].
    items_per_query : float
        User-item pairs per query [pairs].
    embedding_bytes : float
        Embedding rows in the serving format [bytes].
    placement : PlacementOut
        Where the replica's rows live.
    batch_queries : float
        Queries per batch chosen [queries].
    batch_s, p99_s, p99_slo_s : float
        Batch time, p99 latency at the sized load, and the SLO (None offline) [s].
    offline_qps_per_gpu : float
        Maximum throughput per GPU without an SLO [queries/s].
    """

    model_config = ConfigDict(extra="forbid")
    replica_gpus: int
    items_per_query: float
    embedding_bytes: float
    placement: PlacementOut
    batch_queries: float
    batch_s: float
    p99_s: float | None
    p99_slo_s: float | None
    offline_qps_per_gpu: float


class RecsysResult(BaseModel):
    """Result of :func:`~gpuplan.demand.recsys.planner.plan_recsys`; ``model_dump()`` is the JSON
    a CLI prints. Sizes in bytes, times in seconds, rates per second, FLOPs per sample."""

    model_config = ConfigDict(extra="forbid")
    model: str
    gpu: str
    gpus: int
    global_batch: int
    embedding_params: float
    embedding_bytes: float
    embedding_optimizer_bytes: float
    dense_params: float
    dense_bytes: float
    lookups_per_sample: float
    embedding_bytes_per_sample: float
    flops_per_sample: float
    train_flops_per_sample: float
    placement: PlacementOut
    sharding: ShardingOut
    gpus_for_memory: int
    memory_per_gpu_bytes: float
    gpu_memory_bytes: float
    step_time_s: float
    train_samples_per_s: float
    train_samples_per_s_per_gpu: float
    breakdown: dict[str, float]
    bottleneck: str
    retrain_samples: float | None
    retrain_wall_s: float | None
    retrain_gpu_hours: float | None
    serve_qps_per_gpu: float
    serve_qps: float | None
    serve_gpus: int | None
    serve: ServeOut
    notes: list[str]
