"""Recommender serving: batch time, p99 latency under dynamic batching, and the GPUs a load needs.

A replica holds the model on the fewest GPUs whose memory holds it (MLPerf Inference submissions
hold a whole int8 DLRM-DCNv2 on one H100; a model larger than a node's HBM is served by a
node-sized replica with its coldest rows in host DRAM or on SSD) and batches queries; each query
scores ``items_per_query`` user-item pairs. The largest batch whose p99 latency (batch fill +
queue + batch time) meets the SLO, at a load whose Poisson arrivals during one batch fit the
next batch at p99, sets the queries per second a replica sustains (MLPerf Server scenario).

References
----------
.. [1] Kingman 1961, "The single server queue in heavy traffic", Proc. Camb. Phil. Soc. 57:
   mean wait ≈ ρ/(1−ρ) · (c_a² + c_s²)/2 · service time, exponential tail.
.. [2] NVIDIA MLPerf Inference v4.1 DLRMv2 offline configuration (600,000 pairs per GPU batch).
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import numpy.typing as npt

from gpuplan.demand.memory import DTYPE_BYTES
from gpuplan.demand.recsys.hardware import NVME_PAGE_BYTES, RecsysHardware, all_to_all_time_s
from gpuplan.demand.recsys.sizes import RecsysArrays, gather_bytes, lookups_per_sample
from gpuplan.demand.recsys.training import dense_time_s
from gpuplan.demand.serving.engine import server_mean_concurrency

#: Serving math formats tried, in order, when an accelerator has no tensor peak for the spec's
#: ``serving.dense_dtype`` (the plan then says so in its notes).
SERVE_DTYPE_FALLBACK = {"int8": ("fp8", "bf16", "fp16"), "fp8": ("bf16", "fp16"),
                        "bf16": ("fp16",), "fp16": ("bf16",)}
#: Fixed time per served batch: host-side batching, launches and the result copy (judgement,
#: order of the launch latency of the ~30 kernels of a DLRM forward without CUDA graphs) [s].
SERVE_BATCH_OVERHEAD_S = 200e-6
#: Queries per batch tried by the SLO search (powers of two and 1.5× between).
SERVE_BATCH_QUERY_OPTIONS = tuple(sorted({2**i for i in range(17)} | {3 * 2**i for i in range(16)}))
#: Largest batch a server builds [user-item pairs] (NVIDIA's MLPerf Inference v4.1 DLRMv2 offline
#: config uses 600,000 pairs per GPU batch [2]_; a round 2^20 bound).
MAX_SERVE_BATCH_PAIRS = 2**20
#: Utilisations tried per batch size by the SLO search [fraction].
RHO_GRID = np.linspace(0.005, 0.995, 199)
#: Capacity kept spare above the offered load when sizing replicas (as in
#: :mod:`gpuplan.demand.serving`) [fraction].
DEFAULT_HEADROOM = 0.20
#: Standard normal quantile of 0.99 (batch-fill time of q Poisson arrivals, normal approximation).
Z_99 = 2.326
P99 = 0.99
#: Utilisation bounds the queueing formula is evaluated within (ρ ≥ 1 is infinite latency).
RHO_MIN, RHO_MAX = 1e-9, 0.999999
#: Input bytes per user-item pair copied host → GPU: dense features in fp16, int32 indices.
DENSE_INPUT_BYTES = 2.0
INDEX_INPUT_BYTES = 4.0


class ServeCapacity(TypedDict):
    """What one replica sustains (see :func:`serve_capacity`)."""

    qps: float
    batch_queries: float
    p99_s: float | None
    batch_s: float
    offline_qps: float


def serve_batch_time_s(a: RecsysArrays, rh: RecsysHardware, pairs: npt.ArrayLike,
                       replica_gpus: float, tiers: dict[str, float]) -> dict[str, np.ndarray]:
    """Time of one batch of ``pairs`` user-item pairs on a replica of ``replica_gpus`` [s].

    Parameters
    ----------
    a : RecsysArrays
        The model (serving formats).
    rh : RecsysHardware
        The accelerator in the serving format.
    pairs : array_like
        User-item pairs in the batch [pairs].
    replica_gpus : float
        GPUs of the replica k [GPUs].
    tiers : dict
        Lookup fractions per tier (:func:`~gpuplan.demand.recsys.tables.tier_split`).

    Returns
    -------
    dict
        ``gpu_s`` (dense forward + embedding gathers + intra-replica all-to-all + fixed
        overhead), ``h2d_s`` (inputs over the host link; a separate copy stream), ``compute_s``,
        ``embedding_s`` [s].

    Notes
    -----
    Per GPU ``p/k`` pairs: dense forward roofline
    (:func:`~gpuplan.demand.recsys.training.dense_time_s`, serving dtype); gathers
    ``Σ count·pooling·sector(row)`` per pair at HBM bandwidth for the HBM share, over the host
    link for the host share, one 4 KiB read per row for the SSD share; inputs
    ``dense·2 + lookups·4`` bytes per pair over the host link.
    """
    hw = rh.hw
    p = np.asarray(pairs, dtype=float)
    k = float(replica_gpus)
    b = p / k
    dense = dense_time_s(a, hw, b, dtype=a.serve_dense_dtype, training=False)
    per_pair = float(np.sum(a.count * a.pooling * gather_bytes(a.serve_row_bytes)))
    lookups = lookups_per_sample(a)
    emb = b * per_pair * (tiers["hbm_lookup_fraction"] / hw.hbm_bytes_per_s
                          + tiers["host_lookup_fraction"] / rh.host_link_bytes_per_s) \
        + b * lookups * tiers["ssd_lookup_fraction"] \
        * np.ceil(np.max(a.serve_row_bytes) / NVME_PAGE_BYTES) / rh.ssd_read_iops_per_gpu
    pooled = float(np.sum(a.count * a.dim)) * DTYPE_BYTES[a.serve_dense_dtype]
    a2a = all_to_all_time_s(b * pooled, k, hw.domain, hw.up, hw.out)
    h2d = b * (a.dense_features * DENSE_INPUT_BYTES + lookups * INDEX_INPUT_BYTES) \
        / rh.host_copy_bytes_per_s
    gpu = dense["compute_s"] + dense["memory_s"] + emb + a2a + SERVE_BATCH_OVERHEAD_S
    return {"gpu_s": gpu, "h2d_s": h2d, "compute_s": dense["compute_s"], "embedding_s": emb}


def serve_p99_latency_s(batch_queries: npt.ArrayLike, qps: npt.ArrayLike,
                        gpu_s: npt.ArrayLike, h2d_s: npt.ArrayLike) -> np.ndarray:
    """p99 latency of a query under dynamic batching at ``qps`` queries/s per replica [s].

    Parameters
    ----------
    batch_queries : array_like
        Queries per batch q [queries].
    qps : array_like
        Offered load λ per replica [queries/s].
    gpu_s, h2d_s : array_like
        Batch time on the GPU and of its input copy [s].

    Notes
    -----
    Batches of q queries leave every ``T = max(t_gpu, t_h2d)`` at most (copy and compute
    streams pipeline). Latency = batch fill (q Poisson arrivals: ``q/λ·(1 + z₉₉/√q)``) + queue
    wait + ``t_gpu + t_h2d``. Queue: Kingman [1]_ with batch inter-formation CV² ``1/q`` and
    deterministic service, ``W̄ = ρ/(1−ρ)·(1/q)/2·T``, exponential tail
    ``t₉₉ = (W̄/ρ)·ln(ρ/0.01)``; ``ρ = λT/q`` (≥ 1: infinite).
    """
    q = np.asarray(batch_queries, dtype=float)
    lam = np.asarray(qps, dtype=float)
    g = np.asarray(gpu_s, dtype=float)
    h = np.asarray(h2d_s, dtype=float)
    T = np.maximum(g, h)
    rho = lam * T / q
    fill = q / lam * (1 + Z_99 / np.sqrt(q))
    rho_c = np.clip(rho, RHO_MIN, RHO_MAX)
    w_mean = rho_c / (1 - rho_c) * (1 / q) / 2 * T
    w99 = np.where(rho_c > 1 - P99, w_mean / rho_c * np.log(rho_c / (1 - P99)), 0.0)
    lat = fill + w99 + g + h
    return np.asarray(np.where(rho < 1, lat, np.inf))


def serve_capacity(a: RecsysArrays, rh: RecsysHardware, *, items_per_query: float,
                   replica_gpus: int, tiers: dict[str, float], max_pairs: float,
                   p99_s: float | None) -> ServeCapacity:
    """Queries per second one replica sustains, offline or under a p99 latency SLO.

    Parameters
    ----------
    a : RecsysArrays
        The model (serving formats).
    rh : RecsysHardware
        The accelerator in the serving format.
    items_per_query : float
        User-item pairs per query n [pairs].
    replica_gpus : int
        GPUs of the replica [GPUs].
    tiers : dict
        Lookup fractions per tier of the replica's embeddings.
    max_pairs : float
        Largest batch the replica's memory allows [pairs].
    p99_s : float or None
        p99 latency SLO [s]; None = offline (maximum throughput).

    Returns
    -------
    ServeCapacity
        ``qps`` (per replica) [queries/s], ``batch_queries``, ``p99_s`` (at that load; None
        offline) [s], ``batch_s`` [s], ``offline_qps`` [queries/s].

    Notes
    -----
    Offline: ``max_q q / T(q·n)``. Under an SLO (MLPerf Server: Poisson arrivals, p99 bound):
    over batch caps q and utilisations ρ, the largest ``λ = ρ·q/T`` such that

    1. :func:`serve_p99_latency_s` ≤ SLO, and
    2. the queries that arrive while one batch runs fit the next batch at p99: the arrivals in
       one cycle T are Poisson with mean ``λT = ρq``, so ``ρq + z₉₉√(ρq) ≤ q``, i.e.
       ``ρ ≤ N̄(q)/q`` with ``N̄`` from :func:`~gpuplan.demand.serving.engine.server_mean_concurrency`
       (the rule the LLM Server scenario uses for its sequence cap [3]_). A load above it makes
       the backlog grow batch after batch, whatever the latency bound.

    Rule 2 is what puts Server below Offline when the latency bound is loose (DLRM-v2's 60 ms):
    for q = 1536 queries ``N̄/q`` = 0.94.

    References
    ----------
    .. [3] MLPerf Inference rules, Server scenario: Poisson query arrivals, the result is the
       highest arrival rate whose p99 latency meets the bound (mlcommons/inference_policies
       inference_rules.adoc, "Server"); M/G/∞ occupancy as in
       :func:`~gpuplan.demand.serving.engine.server_mean_concurrency`.
    """
    n = items_per_query
    q = np.array([x for x in SERVE_BATCH_QUERY_OPTIONS if x * n <= max_pairs] or [1], float)
    bt = serve_batch_time_s(a, rh, q * n, replica_gpus, tiers)
    T = np.maximum(bt["gpu_s"], bt["h2d_s"])
    thr = q / T
    i_off = int(np.argmax(thr))
    offline = float(thr[i_off])
    if p99_s is None:
        return {"qps": offline, "batch_queries": float(q[i_off]), "p99_s": None,
                "batch_s": float(bt["gpu_s"][i_off] + bt["h2d_s"][i_off]),
                "offline_qps": offline}
    lam = RHO_GRID[None, :] * thr[:, None]
    lat = serve_p99_latency_s(q[:, None], lam, bt["gpu_s"][:, None], bt["h2d_s"][:, None])
    fits = RHO_GRID[None, :] <= (server_mean_concurrency(q) / q)[:, None]
    ok = (lat <= p99_s) & fits
    if not ok.any():
        return {"qps": 0.0, "batch_queries": 0.0, "p99_s": float(np.min(lat)), "batch_s": 0.0,
                "offline_qps": offline}
    lam_ok = np.where(ok, lam, -1.0)
    i, j = np.unravel_index(int(np.argmax(lam_ok)), lam_ok.shape)
    return {"qps": float(lam[i, j]), "batch_queries": float(q[i]), "p99_s": float(lat[i, j]),
            "batch_s": float(bt["gpu_s"][i] + bt["h2d_s"][i]), "offline_qps": offline}


def serve_gpus(qps: npt.ArrayLike, replica_qps: npt.ArrayLike, replica_gpus: npt.ArrayLike,
               headroom: float = DEFAULT_HEADROOM) -> np.ndarray:
    """GPUs to serve ``qps`` with ``headroom`` spare: ``⌈qps(1+h)/replica_qps⌉ · k`` [GPUs].

    Parameters
    ----------
    qps : array_like
        Offered load [queries/s].
    replica_qps : array_like
        What one replica sustains [queries/s].
    replica_gpus : array_like
        GPUs per replica k [GPUs].
    headroom : float
        Spare capacity (0.2 = 20 %) [fraction].
    """
    q = np.asarray(qps, dtype=float)
    reps = np.maximum(np.ceil(q * (1 + headroom) / np.asarray(replica_qps, dtype=float)), 1)
    return np.asarray(reps * np.asarray(replica_gpus))
