"""Recommender training: the step of data-parallel MLPs and model-parallel embeddings, and the
GPU-hours of a retraining cycle.

One step of a global batch ``B`` on ``G`` GPUs takes::

    t_step = t_dense + t_embedding(HBM) + t_embedding(host, SSD) + t_all_to_all
             + t_reduce_scatter/all_gather (grid, row-wise tables) + t_all_reduce(exposed)
             + t_dense_optimizer

with the pooled embeddings (``B/G × Σ dim`` per GPU) exchanged by an all-to-all forward and
backward, and the dense gradients all-reduced under the backward pass [1]_ [2]_. Embedding time
is the bytes the lookups and the optimizer update move, at the achievable bandwidth of the tier
the rows sit in (:mod:`gpuplan.demand.recsys.tables`). Everything broadcasts over ``gpus`` and
``global_batch``.

References
----------
.. [1] Naumov et al. 2019, arXiv 1906.00091, Section 3: model-parallel embeddings with a
   personalised all-to-all, data-parallel MLPs with an all-reduce.
.. [2] Mudigere et al. 2022, ISCA '22 (arXiv 2104.05158): embedding operators are
   memory-bandwidth bound; fused backward + optimizer; overlap of the dense all-reduce.
.. [3] Williams, Waterman, Patterson 2009, "Roofline", CACM 52(4).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gpuplan.demand.arch import FLOPS_PER_MAC
from gpuplan.demand.comms import group_time_s
from gpuplan.demand.hardware import Hardware, gemm_time_s
from gpuplan.demand.memory import DTYPE_BYTES
from gpuplan.demand.recsys.hardware import NVME_PAGE_BYTES, RecsysHardware, all_to_all_time_s
from gpuplan.demand.recsys.sizes import (
    DENSE_GRAD_BYTES,
    RecsysArrays,
    dense_params,
    dense_step_bytes,
    train_embedding_bytes_per_step,
)
from gpuplan.demand.recsys.tables import (
    GRID,
    HOST_MEMORY_FRACTION_FOR_EMBEDDINGS,
    ROW_WISE,
    STRATEGY_NAMES,
    per_gpu_embedding_bytes,
    placement_segments,
    sharding_strategy,
    tier_split,
    train_embedding_capacity_bytes,
)
from gpuplan.demand.training import BACKWARD_OVER_FORWARD, ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE
from gpuplan.units import SECONDS_PER_HOUR

#: Extra elementwise passes over the activations when serving: none — inference engines fuse
#: bias, ReLU and the DCN ``x₀ ⊙ (·) + x`` into GEMM epilogues, and the GEMM roofline already
#: counts reading its input and writing its output.
SERVE_ELEMENTWISE_PASSES = 0.0
#: Pooled embeddings cross the all-to-all twice a step: outputs forward, gradients backward.
ALL_TO_ALL_PER_STEP = 2.0

#: Parts of a training step, in the order of :func:`train_step_time`'s breakdown.
BREAKDOWN_KEYS = ("dense_compute_s", "dense_memory_s", "embedding_hbm_s", "embedding_host_s",
                  "embedding_ssd_s", "all_to_all_s", "row_wise_comm_s", "all_reduce_exposed_s",
                  "dense_optimizer_s")
#: What each part is, for people.
BREAKDOWN_LABELS = {"dense_compute_s": "MLP/interaction matmuls",
                    "dense_memory_s": "dense elementwise",
                    "embedding_hbm_s": "embedding lookups+updates in HBM",
                    "embedding_host_s": "embedding rows over PCIe (host tier)",
                    "embedding_ssd_s": "embedding rows on SSD",
                    "all_to_all_s": "pooled-embedding all-to-all",
                    "row_wise_comm_s": "grid/row-wise reduce-scatter + all-gather",
                    "all_reduce_exposed_s": "dense all-reduce exposed",
                    "dense_optimizer_s": "dense optimizer step"}


def dense_time_s(a: RecsysArrays, hw: Hardware, local_batch: npt.ArrayLike, *, dtype: str,
                 training: bool = True) -> dict[str, np.ndarray]:
    """Matmul and elementwise time of the dense half for ``local_batch`` samples [s].

    Parameters
    ----------
    a : RecsysArrays
        The model.
    hw : Hardware
        The accelerator.
    local_batch : array_like
        Samples (serving: user-item pairs) on one GPU [samples].
    dtype : str
        Format the dense layers compute in.
    training : bool
        Forward + backward (True) or forward only.

    Returns
    -------
    dict
        ``compute_s`` and ``memory_s`` [s], shaped like ``local_batch``.

    Notes
    -----
    Each GEMM ``b×k @ k×n`` at roofline ``max(2bkn / (peak·η), bytes/BW)`` [3]_ (via
    :func:`gpuplan.demand.hardware.gemm_time_s`), backward 2× forward; a dot interaction as a
    batched F×d @ d×F roofline; elementwise traffic ``b·acts·bytes·c`` with c from
    :data:`gpuplan.demand.training.ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE` (training) or
    :data:`SERVE_ELEMENTWISE_PASSES` (serving).
    """
    b = np.asarray(local_batch, dtype=float)
    eb = DTYPE_BYTES[dtype]
    fwd = np.zeros_like(b)
    for k, n, _ in a.gemms:
        fwd = fwd + gemm_time_s(b, k, n, hw.peak_flops_per_s, hw.matmul_efficiency,
                                hw.hbm_bytes_per_s, eb)
    if a.dot_features:
        F, d = a.dot_features, a.dot_dim
        flops = FLOPS_PER_MAC * b * F * F * d
        traffic = b * (F * d + F * F) * eb
        fwd = fwd + np.maximum(flops / (hw.peak_flops_per_s * hw.matmul_efficiency),
                               traffic / hw.hbm_bytes_per_s)
    passes = ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE if training else SERVE_ELEMENTWISE_PASSES
    mem = b * a.act_elems_per_sample * eb * passes / hw.hbm_bytes_per_s
    factor = 1 + BACKWARD_OVER_FORWARD if training else 1.0
    return {"compute_s": fwd * factor, "memory_s": mem}


def _embedding_times(a: RecsysArrays, rh: RecsysHardware, G: np.ndarray, B: np.ndarray
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Placement of rows + state over HBM / host / SSD, and the embedding time per tier [s]."""
    hw = rh.hw
    per_row = a.row_bytes + a.state_row_bytes
    seg = placement_segments(a, per_row, a.count * a.pooling)
    cap_hbm = np.maximum(train_embedding_capacity_bytes(a, hw.memory_bytes, G, B), 0.0)
    nodes = np.ceil(G / max(hw.gpus_per_node, 1))
    cap_host = nodes * rh.host_memory_bytes_per_node * HOST_MEMORY_FRACTION_FOR_EMBEDDINGS
    tiers = tier_split(seg, cap_hbm, cap_host)

    traffic = train_embedding_bytes_per_step(a, B)
    emb_hbm = (tiers["hbm_lookup_fraction"] * traffic["row_bytes"] + traffic["hbm_bytes"]) \
        / G / hw.hbm_bytes_per_s
    emb_host = tiers["host_lookup_fraction"] * traffic["row_bytes"] / G / rh.host_link_bytes_per_s
    ssd_reads = tiers["ssd_lookup_fraction"] * (traffic["lookups"] + traffic["unique_rows"]) / G
    ssd_writes = tiers["ssd_lookup_fraction"] * traffic["unique_rows"] / G
    pages = np.ceil(np.max(per_row) / NVME_PAGE_BYTES)
    emb_ssd = pages * (ssd_reads / rh.ssd_read_iops_per_gpu
                       + ssd_writes / rh.ssd_write_iops_per_gpu)
    times = {"embedding_hbm_s": emb_hbm, "embedding_host_s": emb_host, "embedding_ssd_s": emb_ssd}
    return tiers, times


def _rs_ag_time_s(hw: Hardware, size: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Reduce-scatter + all-gather of ``size`` bytes over ``ranks`` GPUs; 0 where no bytes [s]."""
    return np.where(size > 0,
                    group_time_s("reduce_scatter", size, ranks, 1, hw.domain, hw.up, hw.out)
                    + group_time_s("all_gather", size, ranks, 1, hw.domain, hw.up, hw.out),
                    0.0)


def _comm_times(a: RecsysArrays, hw: Hardware, G: np.ndarray, B: np.ndarray,
                dense_compute_s: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All-to-all, grid/row-wise partial sums, exposed dense all-reduce [s]; and the strategies.

    The pooled outputs of table-, column- and grid-wise tables go by the all-to-all; partial sums
    reduce-scatter (forward) and all-gather (backward) inside a domain (grid) or over the job
    (row-wise); the dense gradients all-reduce under the dense backward.
    """
    b = B / G
    per_row = a.row_bytes + a.state_row_bytes
    dom = max(hw.domain, 1)
    strat = sharding_strategy(a.rows * per_row, a.dim, G, dom, a.count)["strategy"]
    cd = a.count * a.dim
    rw_dim = np.sum(np.where(strat == ROW_WISE, cd, 0.0), axis=-1)
    grid_dim = np.sum(np.where(strat == GRID, cd, 0.0), axis=-1)
    a2a_dim = cd.sum() - rw_dim
    a2a = ALL_TO_ALL_PER_STEP * all_to_all_time_s(b * a2a_dim * a.comm_bytes, G, hw.domain,
                                                  hw.up, hw.out)
    rw_bytes = B * rw_dim * a.comm_bytes
    grid_bytes = B * grid_dim * a.comm_bytes / np.maximum(np.ceil(G / dom), 1.0)
    n_grid = np.minimum(G, dom)
    rw = _rs_ag_time_s(hw, rw_bytes, G) + _rs_ag_time_s(hw, grid_bytes, n_grid)
    ar = group_time_s("all_reduce", dense_params(a) * DENSE_GRAD_BYTES, G, 1, hw.domain,
                      hw.up, hw.out)
    backward_window = dense_compute_s * BACKWARD_OVER_FORWARD / (1 + BACKWARD_OVER_FORWARD)
    ar_exposed = np.maximum(ar - backward_window, 0.0)
    return {"all_to_all_s": a2a, "row_wise_comm_s": rw, "all_reduce_exposed_s": ar_exposed}, strat


def train_step_time(a: RecsysArrays, rh: RecsysHardware, gpus: npt.ArrayLike,
                    global_batch: npt.ArrayLike) -> dict[str, np.ndarray]:
    """Step time of data-parallel MLPs + model-parallel embeddings, and its breakdown [s].

    Parameters
    ----------
    a : RecsysArrays
        The model.
    rh : RecsysHardware
        The accelerator, its node and fabrics.
    gpus : array_like
        GPUs in the job G [GPUs].
    global_batch : array_like
        Samples per step B [samples] (broadcast against ``gpus``).

    Returns
    -------
    dict
        ``step_time_s``, each of :data:`BREAKDOWN_KEYS` [s], ``samples_per_s``, the placement
        (``hbm_bytes``, ``host_bytes``, ``ssd_bytes`` and lookup fractions),
        ``per_gpu_embedding_bytes`` and ``strategy_counts`` (tables per strategy).

    Notes
    -----
    ``t = t_dense + t_emb,HBM + t_emb,host + t_emb,SSD + t_a2a + t_rw + max(0, t_AR − t_bwd)
    + t_opt`` (see the module docstring). Embedding traffic from
    :func:`~gpuplan.demand.recsys.sizes.train_embedding_bytes_per_step` split over G GPUs, each
    tier's share by :func:`~gpuplan.demand.recsys.tables.tier_split`; HBM at achievable
    bandwidth, host rows over the GPU's host link (read forward, read + write in the update),
    SSD rows at 4 KiB random IOPS. All-to-all of ``(B/G)·Σ dim·b_comm`` per GPU forward and
    backward [1]_ (all but row-wise tables); row-wise tables reduce-scatter (forward) and
    all-gather (backward) ``B·Σ dim·b_comm`` over the job, grid tables ``B·Σ dim·b_comm /
    domains`` inside each NVLink domain
    (:func:`~gpuplan.demand.recsys.tables.sharding_strategy`); the dense all-reduce of
    ``N_dense·4`` bytes hides under the dense backward [2]_.
    """
    hw = rh.hw
    G, B = np.broadcast_arrays(np.asarray(gpus, dtype=float), np.asarray(global_batch,
                                                                         dtype=float))
    dense = dense_time_s(a, hw, B / G, dtype=a.dense_dtype, training=True)
    tiers, emb = _embedding_times(a, rh, G, B)
    comm, strat = _comm_times(a, hw, G, B, dense["compute_s"])
    opt = dense_params(a) * dense_step_bytes(a.optimizer) / hw.hbm_bytes_per_s + 0 * G

    parts = {"dense_compute_s": dense["compute_s"], "dense_memory_s": dense["memory_s"],
             **emb, "all_to_all_s": comm["all_to_all_s"],
             "row_wise_comm_s": comm["row_wise_comm_s"],
             "all_reduce_exposed_s": comm["all_reduce_exposed_s"], "dense_optimizer_s": opt}
    parts = {k: np.broadcast_to(v, G.shape).astype(float) for k, v in parts.items()}
    step = sum(parts.values())
    out = dict(parts)
    out["step_time_s"] = np.asarray(step)
    out["samples_per_s"] = B / step
    out.update({k: np.broadcast_to(v, G.shape) for k, v in tiers.items()})
    out["per_gpu_embedding_bytes"] = per_gpu_embedding_bytes(a.rows, a.row_bytes
                                                             + a.state_row_bytes, a.count, G)
    out["strategy_counts"] = np.stack([np.where(strat == i, a.count, 0).sum(-1)
                                       for i in range(len(STRATEGY_NAMES))], axis=-1)
    return out


def retrain_gpu_hours(samples: npt.ArrayLike, samples_per_s: npt.ArrayLike,
                      gpus: npt.ArrayLike) -> np.ndarray:
    """GPU-hours to train ``samples`` at ``samples_per_s`` on ``gpus`` GPUs [GPU·h].

    Parameters
    ----------
    samples : array_like
        Samples of the cycle [samples].
    samples_per_s : array_like
        Training throughput of the job [samples/s].
    gpus : array_like
        GPUs of the job [GPUs].

    Notes
    -----
    ``G · samples / throughput / 3600`` (steady state; no failures or evaluation).
    """
    return np.asarray(np.asarray(gpus, dtype=float) * np.asarray(samples, dtype=float)
                      / np.asarray(samples_per_s, dtype=float) / SECONDS_PER_HOUR)
