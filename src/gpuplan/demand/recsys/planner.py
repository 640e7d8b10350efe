"""The recommender entry point: :func:`plan_recsys` (memory, sharding, training, retraining,
serving) and the input checks it applies.

The plan runs the stage's pure functions in order: the spec's arrays
(:mod:`~gpuplan.demand.recsys.sizes`), the fewest GPUs that hold the embeddings and the placement
and sharding on the GPUs trained on (:mod:`~gpuplan.demand.recsys.tables`), the training step
(:mod:`~gpuplan.demand.recsys.training`), then the serving replica, its capacity under the p99
SLO and the fleet for the load (:mod:`~gpuplan.demand.recsys.serving`). Errors name the
parameter (``field=``), never a CLI flag.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.catalog.schema import Accelerator
from gpuplan.checks import check_number, check_optional_number, check_whole
from gpuplan.demand.memory import DTYPE_BYTES, RUNTIME_RESERVED_BYTES
from gpuplan.demand.recsys.hardware import RecsysHardware, recsys_hardware
from gpuplan.demand.recsys.result import PlacementOut, RecsysResult, ServeOut, ShardingOut
from gpuplan.demand.recsys.serving import (
    DEFAULT_HEADROOM,
    MAX_SERVE_BATCH_PAIRS,
    SERVE_DTYPE_FALLBACK,
    serve_capacity,
    serve_gpus,
)
from gpuplan.demand.recsys.sizes import (
    DENSE_WEIGHT_BYTES,
    RecsysArrays,
    dense_flops_per_sample,
    dense_params,
    embedding_bytes,
    embedding_bytes_per_sample,
    embedding_optimizer_bytes,
    embedding_params,
    lookups_per_sample,
    recsys_arrays,
    train_flops_per_sample,
)
from gpuplan.demand.recsys.spec import RecsysSpec, load_recsys_spec
from gpuplan.demand.recsys.tables import (
    HOST_MEMORY_FRACTION_FOR_EMBEDDINGS,
    MAX_GPUS,
    STRATEGY_NAMES,
    activation_bytes,
    dense_train_bytes,
    gpus_for_memory,
    placement_segments,
    tier_split,
    usable_hbm_bytes,
)
from gpuplan.demand.recsys.training import (
    BREAKDOWN_KEYS,
    BREAKDOWN_LABELS,
    retrain_gpu_hours,
    train_step_time,
)
from gpuplan.errors import UserError
from gpuplan.units import BYTES_PER_GB

#: Seconds per millisecond (the SLO is given in ms) [s].
SECONDS_PER_MS = 1e-3
#: Default global batch [samples] (MLPerf Training v4.0 DLRM-DCNv2, NVIDIA 8 × H100: 55,296).
DEFAULT_GLOBAL_BATCH = 55_296
#: Bounds of the inputs (generous: they catch typos and overflow, not unusual plans).
MAX_GLOBAL_BATCH = 10**9
MAX_TRAIN_GPUS = 2**24
MAX_QPS = 1e12
MAX_P99_MS = 1e6
MAX_DAYS_OF_DATA = 1e5
MAX_SAMPLES_PER_DAY = 1e15
MAX_ITEMS_PER_QUERY = 1e6
MAX_HEADROOM = 10.0
MAX_HOST_LINK_BYTES_PER_S = 1e13


def _check_inputs(*, global_batch: int, gpus: int | None, qps: float | None,
                  p99_ms: float | None, days_of_data: float | None,
                  samples_per_day: float | None, items_per_query: float | None,
                  headroom: float, host_link_bytes_per_s: float | None) -> None:
    """Bounds of :func:`plan_recsys`'s inputs (a :class:`UserError` names the parameter)."""
    check_whole("global_batch", global_batch, MAX_GLOBAL_BATCH)
    if gpus is not None:
        check_whole("gpus", gpus, MAX_TRAIN_GPUS)
    check_optional_number("qps", qps, 0.0, MAX_QPS, lo_open=True)
    check_optional_number("p99_ms", p99_ms, 0.0, MAX_P99_MS, lo_open=True)
    if (days_of_data is None) != (samples_per_day is None):
        missing = "samples_per_day" if samples_per_day is None else "days_of_data"
        raise UserError(f"{missing} is needed too: a retraining cycle trains one pass over the "
                        f"days of data × the samples per day (give both, or neither)",
                        field=missing)
    check_optional_number("days_of_data", days_of_data, 0.0, MAX_DAYS_OF_DATA, lo_open=True)
    check_optional_number("samples_per_day", samples_per_day, 0.0, MAX_SAMPLES_PER_DAY,
                          lo_open=True)
    check_optional_number("items_per_query", items_per_query, 0.0, MAX_ITEMS_PER_QUERY,
                          lo_open=True)
    check_number("headroom", headroom, 0.0, MAX_HEADROOM)
    check_optional_number("host_link_bytes_per_s", host_link_bytes_per_s, 0.0,
                          MAX_HOST_LINK_BYTES_PER_S, lo_open=True)


def _has_peak(acc: Accelerator, dtype: str) -> bool:
    try:
        acc.peak(dtype)
    except KeyError:
        return False
    return True


def _round_gpus(n: int, per_node: int) -> int:
    """Round a GPU count up to a power of two within a node, whole nodes beyond [GPUs]."""
    if n <= per_node:
        return 1 << max(n - 1, 0).bit_length()
    return -(-n // per_node) * per_node


def _bottleneck(bd: dict[str, float], step: float) -> str:
    worst = max(bd, key=lambda k: bd[k])
    second = sorted(bd, key=lambda k: -bd[k])[1]
    return (f"{BREAKDOWN_LABELS[worst]}: {bd[worst] / step:.0%} of the step "
            f"(next: {BREAKDOWN_LABELS[second]} {bd[second] / step:.0%})")


@dataclass(frozen=True)
class _Training:
    """The training half of a plan (internal)."""

    gpus: int
    gpus_for_memory: int
    step_time_s: float
    samples_per_s: float
    breakdown: dict[str, float]
    placement: PlacementOut
    sharding: ShardingOut
    memory_per_gpu_bytes: float


def _plan_training(a: RecsysArrays, rh: RecsysHardware, acc_id: str, model: str,
                   gpus: int | None, global_batch: int, notes: list[str]) -> _Training:
    """GPUs (given, or the fewest that hold the embeddings), step time, placement, sharding."""
    hw = rh.hw
    g_mem = gpus_for_memory(a, hw.memory_bytes, global_batch, max_gpus=MAX_GPUS)
    if g_mem > MAX_GPUS and gpus is None:
        raise UserError(f"gpus must be given: the embeddings of {model} need more than "
                        f"{MAX_GPUS:,} × {acc_id} to fit in HBM (give gpus to plan with host/SSD "
                        f"tiers)", field="gpus")
    G = gpus if gpus is not None else _round_gpus(g_mem, max(hw.gpus_per_node, 1))
    if global_batch < G:
        raise UserError(f"global_batch {global_batch} is smaller than the {G} GPUs trained on; "
                        f"each GPU needs at least one sample", field="global_batch")
    per_gpu_fixed = dense_train_bytes(a) + float(activation_bytes(a, global_batch / G))
    usable = usable_hbm_bytes(hw.memory_bytes)
    if per_gpu_fixed > usable:
        raise UserError(f"global_batch {global_batch} gives a local batch of "
                        f"{global_batch / G:,.0f} samples that needs "
                        f"{per_gpu_fixed / BYTES_PER_GB:,.1f} GB per GPU for dense state and "
                        f"activations, more than the {usable / BYTES_PER_GB:,.1f} GB usable on "
                        f"{acc_id}; lower it or add GPUs", field="global_batch")
    st = train_step_time(a, rh, G, global_batch)
    step = float(st["step_time_s"])
    placement = PlacementOut(**{k: float(st[k]) for k in PlacementOut.model_fields})
    spilled = placement.host_bytes > 0 or placement.ssd_bytes > 0
    if spilled and rh.host_memory_bytes_per_node <= 0:
        notes.append(f"no system with host memory for {acc_id} in the catalog: rows that do not "
                     f"fit in HBM go to SSD")
    if spilled:
        notes.append(f"embeddings exceed the HBM of {G} GPUs: "
                     f"{placement.host_bytes / BYTES_PER_GB:,.1f} GB in host DRAM, "
                     f"{placement.ssd_bytes / BYTES_PER_GB:,.1f} GB on SSD (hottest rows kept in "
                     f"HBM); {g_mem} GPUs hold everything in HBM")
    counts = st["strategy_counts"]
    per_gpu_emb = float(st["per_gpu_embedding_bytes"])
    sharding = ShardingOut(**{name: int(counts[i]) for i, name in enumerate(STRATEGY_NAMES)},
                           per_gpu_embedding_bytes=per_gpu_emb)
    mem_per_gpu = min(per_gpu_emb, placement.hbm_bytes / G) + per_gpu_fixed \
        + RUNTIME_RESERVED_BYTES
    return _Training(gpus=int(G), gpus_for_memory=int(g_mem), step_time_s=step,
                     samples_per_s=float(st["samples_per_s"]),
                     breakdown={k: float(st[k]) for k in BREAKDOWN_KEYS}, placement=placement,
                     sharding=sharding, memory_per_gpu_bytes=mem_per_gpu)


def _serving_dtype(acc: Accelerator, want: str, notes: list[str]) -> str:
    """The spec's serving format, or the first fallback the accelerator has a peak for."""
    serve_dtype = next((d for d in (want, *SERVE_DTYPE_FALLBACK[want]) if _has_peak(acc, d)),
                       None)
    if serve_dtype is None:
        raise UserError(f"gpu {acc.id} has no tensor peak for serving in {want} or "
                        f"{'/'.join(SERVE_DTYPE_FALLBACK[want])}; the catalog lists "
                        f"{', '.join(acc.peak_flops_per_s)}", field="gpu")
    if serve_dtype != want:
        notes.append(f"serving: {acc.id} has no {want} tensor peak in the catalog; the dense "
                     f"layers are served in {serve_dtype}")
    return serve_dtype


def _plan_serving(a: RecsysArrays, rh: RecsysHardware, rh_s: RecsysHardware, acc_id: str, *,
                  n_items: float, p99_ms: float | None, notes: list[str]
                  ) -> tuple[ServeOut, float]:
    """The serving replica (its GPUs, the placement of its rows, its capacity under the SLO) and
    the queries per second it sustains [queries/s]."""
    hw = rh.hw
    serve_bytes = embedding_bytes(a, serving=True)
    dense_serve = dense_params(a) * DTYPE_BYTES[a.serve_dense_dtype]
    min_act = float(activation_bytes(a, n_items, serving=True))
    usable = usable_hbm_bytes(hw.memory_bytes) - dense_serve - min_act
    if usable <= 0:
        raise UserError(f"gpu {acc_id} cannot hold the dense layers and one query's activations",
                        field="gpu")
    gpn = max(hw.gpus_per_node, 1)
    k = max(1, math.ceil(serve_bytes / usable))
    k = min(_round_gpus(k, gpn), gpn)
    seg = placement_segments(a, a.serve_row_bytes, a.count * a.pooling)
    emb_room = np.array(k * usable)
    s_tiers = {kk: float(v) for kk, v in tier_split(
        seg, emb_room, rh.host_memory_bytes_per_node * HOST_MEMORY_FRACTION_FOR_EMBEDDINGS
    ).items()}
    if s_tiers["host_bytes"] > 0 or s_tiers["ssd_bytes"] > 0:
        notes.append(f"serving: a {k}-GPU replica holds {s_tiers['hbm_bytes'] / BYTES_PER_GB:,.1f}"
                     f" GB of {serve_bytes / BYTES_PER_GB:,.1f} GB of embeddings in HBM; the rest "
                     f"is read from host DRAM/SSD")
    left = k * usable_hbm_bytes(hw.memory_bytes) - min(serve_bytes, float(emb_room)) \
        - k * dense_serve
    per_pair_act = float(activation_bytes(a, 1.0, serving=True))
    max_pairs = float(min(MAX_SERVE_BATCH_PAIRS, max(left / per_pair_act, n_items)))
    p99_slo_s = p99_ms * SECONDS_PER_MS if p99_ms is not None else None
    cap = serve_capacity(a, rh_s, items_per_query=n_items, replica_gpus=k, tiers=s_tiers,
                         max_pairs=max_pairs, p99_s=p99_slo_s)
    if p99_ms is not None and cap["qps"] <= 0:
        least_ms = (cap["p99_s"] or 0.0) / SECONDS_PER_MS
        raise UserError(f"p99_ms: no batch meets a p99 of {p99_ms} ms on {acc_id} (least p99 "
                        f"{least_ms:,.2f} ms for one query of {n_items:g} items)", field="p99_ms")
    return ServeOut(replica_gpus=k, items_per_query=n_items, embedding_bytes=serve_bytes,
                    placement=PlacementOut(**s_tiers), batch_queries=cap["batch_queries"],
                    batch_s=cap["batch_s"], p99_s=cap["p99_s"], p99_slo_s=p99_slo_s,
                    offline_qps_per_gpu=cap["offline_qps"] / k), cap["qps"]


def plan_recsys(spec: RecsysSpec | str | Path, gpu: str, *, gpus: int | None = None,
                global_batch: int = DEFAULT_GLOBAL_BATCH, qps: float | None = None,
                p99_ms: float | None = None, days_of_data: float | None = None,
                samples_per_day: float | None = None, items_per_query: float | None = None,
                headroom: float = DEFAULT_HEADROOM, host_link_bytes_per_s: float | None = None,
                catalog: Catalog | None = None) -> RecsysResult:
    """Memory, sharding, training throughput, retraining cost and serving capacity.

    Parameters
    ----------
    spec : RecsysSpec or path
        The model (a path is read with :func:`~gpuplan.demand.recsys.spec.load_recsys_spec`).
    gpu : str
        Accelerator (catalog id or accelerator YAML).
    gpus : int, optional
        GPUs for training [GPUs]; default the fewest that hold the embeddings in HBM, rounded to
        a power of two within a node or whole nodes.
    global_batch : int
        Samples per training step [samples].
    qps : float, optional
        Serving load to size the fleet for [queries/s].
    p99_ms : float, optional
        Serving p99 latency SLO [ms]; without it serving capacity is offline (max throughput).
    days_of_data, samples_per_day : float, optional
        A retraining cycle trains one pass over ``days_of_data`` days of ``samples_per_day``
        samples [days], [samples/day].
    items_per_query : float, optional
        User-item pairs scored per query [pairs]; default the spec's
        ``serving.items_per_query``.
    headroom : float
        Spare capacity when sizing the serving fleet (0.2 = 20 %) [fraction].
    host_link_bytes_per_s : float, optional
        Host link per GPU, one direction [bytes/s] (e.g. 450e9 for GH200's NVLink-C2C); default
        the catalog's figure for the accelerator, else PCIe Gen5 x16.
        :data:`~gpuplan.demand.recsys.hardware.HOST_LINK_EFFICIENCY` (row reads) and
        :data:`~gpuplan.demand.recsys.hardware.HOST_COPY_EFFICIENCY` (input copies) apply.
    catalog : Catalog, optional
        Default the built-in catalog.

    Raises
    ------
    UserError
        Bad values, unknown GPU, or a batch too large for the GPUs' memory (``field`` names the
        parameter).
    """
    if not isinstance(spec, RecsysSpec):
        spec = load_recsys_spec(spec)
    cat = catalog or load_catalog()
    _check_inputs(global_batch=global_batch, gpus=gpus, qps=qps, p99_ms=p99_ms,
                  days_of_data=days_of_data, samples_per_day=samples_per_day,
                  items_per_query=items_per_query, headroom=headroom,
                  host_link_bytes_per_s=host_link_bytes_per_s)
    a = recsys_arrays(spec)
    acc = cat.accelerator(gpu)
    rh = recsys_hardware(cat, acc, spec.dense_dtype, host_link_bytes_per_s=host_link_bytes_per_s)
    notes: list[str] = []
    tr = _plan_training(a, rh, acc.id, spec.name, gpus, global_batch, notes)
    G, rate = tr.gpus, tr.samples_per_s

    retrain_samples = retrain_wall = retrain_hours = None
    if days_of_data is not None and samples_per_day is not None:
        retrain_samples = float(days_of_data * samples_per_day)
        retrain_wall = retrain_samples / rate
        retrain_hours = float(retrain_gpu_hours(retrain_samples, rate, G))

    n_items = items_per_query if items_per_query is not None else spec.serving.items_per_query
    serve_dtype = _serving_dtype(acc, spec.serving.dense_dtype, notes)
    a_serve = dataclasses.replace(a, serve_dense_dtype=serve_dtype)
    rh_s = recsys_hardware(cat, acc, serve_dtype, host_link_bytes_per_s=host_link_bytes_per_s)
    serve, replica_qps = _plan_serving(a_serve, rh, rh_s, acc.id, n_items=n_items,
                                       p99_ms=p99_ms, notes=notes)
    qps_per_gpu = replica_qps / serve.replica_gpus
    n_serve = (int(serve_gpus(qps, replica_qps, serve.replica_gpus, headroom))
               if qps is not None else None)
    if rh.host_link_assumed:
        notes.append(f"the catalog has no host link for {acc.id}: PCIe Gen5 x16 assumed "
                     f"(give host_link_bytes_per_s to set it)")

    return RecsysResult(
        model=spec.name, gpu=acc.id, gpus=G, global_batch=int(global_batch),
        embedding_params=embedding_params(a), embedding_bytes=embedding_bytes(a),
        embedding_optimizer_bytes=embedding_optimizer_bytes(a), dense_params=dense_params(a),
        dense_bytes=dense_params(a) * DENSE_WEIGHT_BYTES, lookups_per_sample=lookups_per_sample(a),
        embedding_bytes_per_sample=embedding_bytes_per_sample(a),
        flops_per_sample=dense_flops_per_sample(a),
        train_flops_per_sample=train_flops_per_sample(a), placement=tr.placement,
        sharding=tr.sharding, gpus_for_memory=tr.gpus_for_memory,
        memory_per_gpu_bytes=tr.memory_per_gpu_bytes, gpu_memory_bytes=rh.hw.memory_bytes,
        step_time_s=tr.step_time_s, train_samples_per_s=rate, train_samples_per_s_per_gpu=rate / G,
        breakdown=tr.breakdown, bottleneck=_bottleneck(tr.breakdown, tr.step_time_s),
        retrain_samples=retrain_samples, retrain_wall_s=retrain_wall,
        retrain_gpu_hours=retrain_hours, serve_qps_per_gpu=qps_per_gpu, serve_qps=qps,
        serve_gpus=n_serve, serve=serve, notes=notes)
