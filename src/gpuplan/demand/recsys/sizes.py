"""Sizes and work per sample of a recommender: the arrays every model function takes.

:func:`recsys_arrays` turns a :class:`~gpuplan.demand.recsys.spec.RecsysSpec` into per-table
numpy arrays (:class:`RecsysArrays`); the functions below count parameters, bytes, FLOPs and
lookups from them, and the embedding memory traffic of one training step. All pure.

References
----------
.. [1] Naumov et al. 2019, "Deep Learning Recommendation Model for Personalization and
   Recommendation Systems", arXiv 1906.00091, Section 2.
.. [2] Wang et al. 2021, "DCN V2", arXiv 2008.13535, Eq. (1), Section 3.4.
.. [3] Mudigere et al. 2022, "Software-Hardware Co-design for Fast and Scalable Training of Deep
   Learning Recommendation Models", ISCA '22 (arXiv 2104.05158): fused backward + optimizer,
   row-wise Adagrad.
.. [4] MLCommons training reference, mlcommons/training recommendation_v2/torchrec_dlrm
   (torch.optim.Adagrad, FBGEMM EXACT_ADAGRAD).
.. [5] FBGEMM fbgemm_gpu table-batched embeddings: row-wise int8 rows carry an fp32 scale and
   bias (kINT8QparamsBytes = 8); sub-byte rows carry fp16 scale and bias (4 bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpuplan.demand.arch import FLOPS_PER_MAC
from gpuplan.demand.memory import DTYPE_BYTES
from gpuplan.demand.recsys.spec import DEFAULT_CROSS_LAYERS, RecsysSpec
from gpuplan.demand.training import BACKWARD_OVER_FORWARD

# -- formats --------------------------------------------------------------------------------
#: Row-wise quantised rows carry their quantisation parameters [bytes per row] [5]_:
#: int8 rows an fp32 scale and bias (8 bytes), int4 rows an fp16 scale and bias (4 bytes).
QUANT_ROW_OVERHEAD_BYTES = {"int8": 8.0, "int4": 4.0}

# -- optimizer state ------------------------------------------------------------------------
#: Optimizer state per embedding row: (bytes per row, bytes per element), fp32 states.
#: ``sgd`` none; ``adagrad`` row-wise Adagrad, one fp32 accumulator per row (FBGEMM
#: ROWWISE_ADAGRAD, the TorchRec default [3]_); ``exact_adagrad`` one accumulator per element
#: (torch.optim.Adagrad, the MLPerf reference [4]_); ``adam`` two moments per element.
OPTIMIZER_STATE_BYTES: dict[str, tuple[float, float]] = {
    "sgd": (0.0, 0.0), "adagrad": (4.0, 0.0), "exact_adagrad": (0.0, 4.0), "adam": (0.0, 8.0)}
#: Dense (MLP) parameters are trained with fp32 master weights, fp32 gradients and the same
#: optimizer kind element-wise (TorchRec DDP keeps dense parameters in fp32): bytes/parameter.
DENSE_WEIGHT_BYTES = 4.0
DENSE_GRAD_BYTES = 4.0
DENSE_OPTIMIZER_BYTES = {"sgd": 0.0, "adagrad": 4.0, "exact_adagrad": 4.0, "adam": 8.0}
#: An optimizer step reads and writes each weight and state once (read + write = 2 passes).
READ_WRITE_PASSES = 2.0

# -- embedding kernels ------------------------------------------------------------------------
#: DRAM is read in 32-byte sectors: a row gather moves ceil(row_bytes / 32) sectors (CUDA C++
#: Best Practices Guide, "Coalesced access to global memory": 32-byte memory transactions).
HBM_SECTOR_BYTES = 32.0
#: Index bytes per lookup (int64) and the passes over them: one read in forward; the backward
#: sorts (segmented radix sort: read and write keys and values twice) and reads them again.
#: The backward also reads the pooled-output gradient once per lookup (``dim·b_comm`` bytes;
#: FBGEMM accumulates each unique row's gradient from its bags' gradients).
INDEX_BYTES = 8.0
INDEX_PASSES = 6.0


@dataclass(frozen=True)
class RecsysArrays:
    """Per-table arrays (one element per distinct table entry) and the dense layer shapes.

    Attributes
    ----------
    names : tuple of str
        Table names.
    rows, dim, count, pooling, zipf_alpha : numpy.ndarray
        Per table: rows [rows], width [elements], identical copies [tables], lookups per
        sample [lookups], popularity exponent [1].
    elem_bytes : numpy.ndarray
        Bytes per stored element (training format) [bytes].
    row_bytes : numpy.ndarray
        Stored row (training format), incl. quantisation parameters [bytes].
    state_row_bytes : numpy.ndarray
        Optimizer state per row [bytes].
    serve_row_bytes : numpy.ndarray
        Stored row in the serving format [bytes].
    gemms : tuple of (int, int, bool)
        ``(k, n, bias)`` per dense layer, forward, per sample.
    dot_features, dot_dim : int
        F and d of a dot interaction (0 for DCNv2).
    act_elems_per_sample : float
        Activations stored per sample [elements].
    dense_features : int
        Dense input features [features].
    optimizer, dense_dtype, serve_dense_dtype : str
        Optimizer and the training and serving formats of the dense half.
    comm_bytes : float
        Bytes per pooled-embedding element on the wire [bytes].
    """

    names: tuple[str, ...]
    rows: np.ndarray
    dim: np.ndarray
    count: np.ndarray
    pooling: np.ndarray
    zipf_alpha: np.ndarray
    elem_bytes: np.ndarray
    row_bytes: np.ndarray
    state_row_bytes: np.ndarray
    serve_row_bytes: np.ndarray
    gemms: tuple[tuple[int, int, bool], ...]
    dot_features: int
    dot_dim: int
    act_elems_per_sample: float
    dense_features: int
    optimizer: str
    dense_dtype: str
    comm_bytes: float
    serve_dense_dtype: str


def dtype_bytes(v: str | float) -> float:
    """Bytes per element of a format name, or the number itself [bytes]."""
    return DTYPE_BYTES[v] if isinstance(v, str) else float(v)


def row_bytes(dim: npt.ArrayLike, elem_bytes: npt.ArrayLike,
              overhead: npt.ArrayLike = 0.0) -> np.ndarray:
    """Bytes of one stored embedding row: ``dim·elem_bytes + overhead`` [bytes] [5]_.

    Parameters
    ----------
    dim : array_like
        Row width [elements].
    elem_bytes : array_like
        Bytes per element [bytes].
    overhead : array_like
        Quantisation parameters per row [bytes].
    """
    return np.asarray(dim, dtype=float) * np.asarray(elem_bytes, dtype=float) + overhead


def optimizer_state_row_bytes(dim: npt.ArrayLike, optimizer: str) -> np.ndarray:
    """Optimizer state per embedding row [bytes] (:data:`OPTIMIZER_STATE_BYTES`).

    Parameters
    ----------
    dim : array_like
        Row width [elements].
    optimizer : str
        A key of :data:`OPTIMIZER_STATE_BYTES`.
    """
    per_row, per_elem = OPTIMIZER_STATE_BYTES[optimizer]
    return per_row + per_elem * np.asarray(dim, dtype=float)


def dense_step_bytes(optimizer: str) -> float:
    """Bytes one optimizer step moves per dense parameter [bytes].

    Notes
    -----
    Read and write the weight and the states, read the gradient:
    ``2·w + g + 2·s`` (:data:`DENSE_WEIGHT_BYTES`, :data:`DENSE_GRAD_BYTES`,
    :data:`DENSE_OPTIMIZER_BYTES`).
    """
    return (READ_WRITE_PASSES * DENSE_WEIGHT_BYTES + DENSE_GRAD_BYTES
            + READ_WRITE_PASSES * DENSE_OPTIMIZER_BYTES[optimizer])


def mlp_gemms(in_features: int, widths: list[int]) -> list[tuple[int, int, bool]]:
    """``(k, n, bias)`` of each linear layer of an MLP of ``in_features`` inputs.

    Parameters
    ----------
    in_features : int
        Inputs of the first layer [features].
    widths : list of int
        Output width of each layer [features].
    """
    out, k = [], in_features
    for n in widths:
        out.append((k, n, True))
        k = n
    return out


def interaction_shape(spec: RecsysSpec) -> tuple[int, list[tuple[int, int, bool]], int, int]:
    """Top-MLP input width, cross-layer GEMMs, and (F, d) of a dot interaction.

    Parameters
    ----------
    spec : RecsysSpec
        The model.

    Notes
    -----
    Dot [1]_: the F = T + 1 vectors (T sparse features and the bottom-MLP output, all of width d)
    give F(F−1)/2 pairwise dot products, concatenated with the bottom output: top input
    ``d + F(F−1)/2``. DCNv2 [2]_: ``x₀`` is the concatenation, width ``D = d_bottom + Σ dim``;
    each cross layer is ``x₀ ⊙ (U(Vᵀx) + b) + x`` (low rank r: GEMMs D×r and r×D) or
    ``x₀ ⊙ (Wx + b) + x`` (full rank: D×D); top input ``D``.
    """
    features = sum(t.count for t in spec.tables)
    d_bottom = spec.bottom_mlp[-1]
    if spec.interaction.type == "dot":
        F = features + 1
        return d_bottom + F * (F - 1) // 2, [], F, d_bottom
    D = d_bottom + sum(t.count * t.dim for t in spec.tables)
    r = spec.interaction.low_rank
    layers = spec.interaction.cross_layers
    per_layer = [(D, r, False), (r, D, True)] if r else [(D, D, True)]
    return D, per_layer * (layers if layers is not None else DEFAULT_CROSS_LAYERS), 0, 0


def recsys_arrays(spec: RecsysSpec) -> RecsysArrays:
    """Arrays the model functions need, derived from a spec (no I/O).

    Parameters
    ----------
    spec : RecsysSpec
        The model.
    """
    t = spec.tables
    rows = np.array([x.rows for x in t], dtype=float)
    dim = np.array([x.dim for x in t], dtype=float)
    elem = np.array([dtype_bytes(x.dtype) for x in t], dtype=float)
    over = np.array([QUANT_ROW_OVERHEAD_BYTES.get(x.dtype, 0.0) if isinstance(x.dtype, str)
                     else 0.0 for x in t])
    sdt = spec.serving.embedding_dtype
    if sdt is None:
        s_elem, s_over = elem, over
    else:
        s_elem = np.full_like(elem, DTYPE_BYTES[sdt])
        s_over = np.full_like(elem, QUANT_ROW_OVERHEAD_BYTES.get(sdt, 0.0))
    top_in, cross, F, d_dot = interaction_shape(spec)
    gemms = (mlp_gemms(spec.dense_features, spec.bottom_mlp) + cross
             + mlp_gemms(top_in, spec.top_mlp))
    pooled = float(sum(x.count * x.dim for x in t))
    cross_acts = sum(n for _, n, _ in cross) + (len(cross) // 2 if spec.interaction.low_rank
                                                else len(cross)) * top_in
    acts = (spec.dense_features + sum(spec.bottom_mlp) + pooled + top_in + cross_acts
            + (F * F if F else 0) + sum(spec.top_mlp))
    comm = DTYPE_BYTES[spec.comm_dtype] if spec.comm_dtype else DTYPE_BYTES[spec.dense_dtype]
    return RecsysArrays(
        names=tuple(x.name for x in t), rows=rows, dim=dim,
        count=np.array([x.count for x in t], dtype=float),
        pooling=np.array([x.pooling_factor for x in t], dtype=float),
        zipf_alpha=np.array([x.zipf_alpha for x in t], dtype=float),
        elem_bytes=elem, row_bytes=row_bytes(dim, elem, over),
        state_row_bytes=optimizer_state_row_bytes(dim, spec.optimizer),
        serve_row_bytes=row_bytes(dim, s_elem, s_over), gemms=tuple(gemms), dot_features=F,
        dot_dim=d_dot, act_elems_per_sample=float(acts), dense_features=spec.dense_features,
        optimizer=spec.optimizer, dense_dtype=spec.dense_dtype, comm_bytes=comm,
        serve_dense_dtype=spec.serving.dense_dtype)


def embedding_params(a: RecsysArrays) -> float:
    """Embedding parameters ``Σ count·rows·dim`` [parameters]."""
    return float(np.sum(a.count * a.rows * a.dim))


def embedding_bytes(a: RecsysArrays, *, serving: bool = False) -> float:
    """Bytes of all embedding rows (training or serving format) [bytes]."""
    rb = a.serve_row_bytes if serving else a.row_bytes
    return float(np.sum(a.count * a.rows * rb))


def embedding_optimizer_bytes(a: RecsysArrays) -> float:
    """Bytes of the embedding optimizer state [bytes]."""
    return float(np.sum(a.count * a.rows * a.state_row_bytes))


def dense_params(a: RecsysArrays) -> float:
    """Parameters of the MLPs and cross layers ``Σ (k·n + n·bias)`` [parameters]."""
    return float(sum(k * n + (n if b else 0) for k, n, b in a.gemms))


def dense_flops_per_sample(a: RecsysArrays) -> float:
    """Forward FLOPs of the dense half per sample [FLOP].

    Notes
    -----
    ``2·Σ k·n`` over the MLP and cross-layer GEMMs, plus ``2·F²·d`` for a dot interaction
    (the F×F Gram matrix as computed by a batched matmul) [1]_ [2]_.
    """
    gemm = sum(k * n for k, n, _ in a.gemms)
    dot = a.dot_features**2 * a.dot_dim
    return float(FLOPS_PER_MAC * (gemm + dot))


def train_flops_per_sample(a: RecsysArrays) -> float:
    """Dense FLOPs per trained sample, forward + backward [FLOP] (backward = 2 × forward)."""
    return dense_flops_per_sample(a) * (1 + BACKWARD_OVER_FORWARD)


def lookups_per_sample(a: RecsysArrays) -> float:
    """Embedding rows read per sample ``Σ count·pooling`` [lookups]."""
    return float(np.sum(a.count * a.pooling))


def gather_bytes(row_bytes_: npt.ArrayLike) -> np.ndarray:
    """DRAM bytes moved to read one row: whole 32-byte sectors [bytes].

    Parameters
    ----------
    row_bytes_ : array_like
        Bytes of the row [bytes].
    """
    return np.ceil(np.asarray(row_bytes_, dtype=float) / HBM_SECTOR_BYTES) * HBM_SECTOR_BYTES


def embedding_bytes_per_sample(a: RecsysArrays, *, serving: bool = False) -> float:
    """Embedding bytes read per sample in forward ``Σ count·pooling·row_bytes`` [bytes]."""
    rb = a.serve_row_bytes if serving else a.row_bytes
    return float(np.sum(a.count * a.pooling * rb))


def unique_rows(rows: npt.ArrayLike, lookups: npt.ArrayLike) -> np.ndarray:
    """Expected distinct rows among ``lookups`` uniform draws from ``rows`` rows [rows].

    Parameters
    ----------
    rows : array_like
        Rows of the table R [rows].
    lookups : array_like
        Draws L [lookups].

    Notes
    -----
    ``R·(1 − exp(−L/R))`` (occupancy of R bins by L balls). Skewed access touches fewer, so this
    is an upper bound on the rows a step updates.
    """
    R = np.asarray(rows, dtype=float)
    L = np.asarray(lookups, dtype=float)
    return np.asarray(R * -np.expm1(-L / R))


def train_embedding_bytes_per_step(a: RecsysArrays, global_batch: npt.ArrayLike
                                   ) -> dict[str, np.ndarray]:
    """Embedding memory traffic of one training step, whole job [bytes], and rows touched.

    Parameters
    ----------
    a : RecsysArrays
        The model.
    global_batch : array_like
        Samples per step B [samples].

    Returns
    -------
    dict
        ``row_bytes`` (row gathers in forward; per unique row, weight and optimizer state read
        and written by the fused backward + optimizer) — traffic to wherever the rows live;
        ``hbm_bytes`` (indices, pooled outputs, their gradients) — always in HBM; ``lookups`` and
        ``unique_rows`` of the whole batch. Each shaped like ``global_batch``.

    Notes
    -----
    Per table ``L = B·pooling`` lookups and ``U = unique_rows(R, L)``:
    rows ``L·sector(row) + U·2·(sector(row) + sector(state))``;
    HBM-only ``L·idx·passes + B·dim·b + L·dim·b`` (pooled output written, its gradient read once
    per lookup), with ``b`` the pooled-embedding format — FBGEMM's fused backward [3]_.
    """
    B = np.asarray(global_batch, dtype=float)[..., None]
    L = B * a.pooling
    U = unique_rows(a.rows, L)
    gb, gs = gather_bytes(a.row_bytes), gather_bytes(a.state_row_bytes) * (a.state_row_bytes > 0)
    rows = a.count * (L * gb + U * READ_WRITE_PASSES * (gb + gs))
    other = a.count * (L * INDEX_BYTES * INDEX_PASSES + B * a.dim * a.comm_bytes
                       + L * a.dim * a.comm_bytes)
    return {"row_bytes": rows.sum(-1), "hbm_bytes": other.sum(-1),
            "lookups": (a.count * L).sum(-1), "unique_rows": (a.count * U).sum(-1)}
