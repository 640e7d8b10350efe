"""Recommender models (DLRM, DCNv2): size, memory tiers, sharding, training and serving.

A recommender of the DLRM family has two halves [1]_ [2]_:

* **sparse** — embedding tables, one per categorical feature, looked up ``pooling_factor`` times
  per sample (multi-hot) and sum-pooled. Tables hold almost all parameters and are touched
  sparsely, so their cost is memory capacity and memory bandwidth, not FLOPs [3]_;
* **dense** — a bottom MLP over the dense features, a feature interaction (pairwise dot products
  [1]_ or DCNv2 cross layers [2]_) and a top MLP: few parameters, all the FLOPs.

Training shards the tables over the GPUs (model parallel: table-wise, column-wise, grid — column
shards each row-wise inside an NVLink domain — or row-wise, as the sizes require) and replicates
the dense half (data parallel) [1]_ [3]_ [4]_. One step of a global batch ``B`` on ``G`` GPUs
takes::

    t_step = t_dense + t_embedding(HBM) + t_embedding(host, SSD) + t_all_to_all
             + t_reduce_scatter/all_gather (grid, row-wise tables) + t_all_reduce(exposed)

with the pooled embeddings (``B/G × Σ dim`` per GPU) exchanged by an all-to-all forward and
backward, and the dense gradients all-reduced under the backward pass. Embedding time is the
bytes the lookups and the optimizer update move, at the achievable bandwidth of the tier the rows
sit in; rows are placed hottest first: HBM, then host DRAM (read over PCIe), then SSD.

Serving replicates the model on the fewest GPUs whose memory holds it (MLPerf Inference
submissions hold a whole int8 DLRM-DCNv2 on one H100; a model larger than a node's HBM is served
by a node-sized replica with its coldest rows in host DRAM or on SSD) and batches queries; each
query scores
``items_per_query`` user-item pairs. The largest batch whose p99 latency (batch fill + queue +
batch time) meets the SLO sets the queries per second a GPU sustains.

All model functions are pure and take scalars or numpy arrays that broadcast (GPU counts, batch
sizes); :func:`plan_recsys` is the one entry point; :func:`load_recsys_spec` and
:func:`validate_recsys_cases` are the only functions that read files.

References
----------
.. [1] Naumov et al. 2019, "Deep Learning Recommendation Model for Personalization and
   Recommendation Systems", arXiv 1906.00091: Section 2 (embeddings, MLPs, pairwise dot
   interaction of the F = T + 1 feature vectors), Section 3 (model-parallel embeddings with a
   personalised all-to-all, data-parallel MLPs with an all-reduce).
.. [2] Wang et al. 2021, "DCN V2: Improved Deep & Cross Network and Practical Lessons for
   Web-scale Learning to Rank Systems", arXiv 2008.13535, Eq. (1) (cross layer
   x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l) and Section 3.4 (low-rank W = U·Vᵀ).
.. [3] Mudigere et al. 2022, "Software-Hardware Co-design for Fast and Scalable Training of Deep
   Learning Recommendation Models", ISCA '22 (arXiv 2104.05158): embedding operators are
   memory-bandwidth bound; 4D parallelism (table-, row-, column-wise and data parallel);
   fused backward + optimizer; row-wise Adagrad; software-managed caching of hot rows.
.. [4] MLCommons training reference, mlcommons/training recommendation_v2/torchrec_dlrm
   (README.MD and dlrm_main.py): DLRM-DCNv2 on Criteo 1TB multi-hot, TorchRec
   EmbeddingShardingPlanner, Adagrad applied in the backward pass (FBGEMM EXACT_ADAGRAD).
.. [5] FBGEMM fbgemm_gpu table-batched embeddings: row-wise int8 rows carry an fp32 scale and bias
   (kINT8QparamsBytes = 8); sub-byte rows carry fp16 scale and bias (4 bytes).
.. [6] Kingman 1961, "The single server queue in heavy traffic", Proc. Camb. Phil. Soc. 57:
   mean wait ≈ ρ/(1−ρ) · (c_a² + c_s²)/2 · service time, exponential tail.
.. [7] Williams, Waterman, Patterson 2009, "Roofline", CACM 52(4).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.demand.arch import FLOPS_PER_MAC
from gpuplan.demand.comms import LinkParams, group_time_s, latency_at
from gpuplan.demand.memory import DTYPE_BYTES, RUNTIME_RESERVED_BYTES
from gpuplan.demand.training import (
    BACKWARD_OVER_FORWARD,
    DEFAULT_MATMUL_EFFICIENCY,
    ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE,
    Hardware,
    gemm_time_s,
    hardware_for,
)
from gpuplan.errors import UserError
from gpuplan.units import SECONDS_PER_HOUR

MS = 1e-3

# -- formats --------------------------------------------------------------------------------
#: Row-wise quantised rows carry their quantisation parameters [bytes per row] [5]_:
#: int8 rows an fp32 scale and bias (8 bytes), int4 rows an fp16 scale and bias (4 bytes).
QUANT_ROW_OVERHEAD_BYTES = {"int8": 8.0, "int4": 4.0}
#: Matmul efficiency used for int8 when the catalog has none: the fp8 figure (same tensor-core
#: rate on Hopper; judgement), else :data:`gpuplan.demand.training.DEFAULT_MATMUL_EFFICIENCY`.
INT8_EFFICIENCY_STAND_IN = "fp8"
#: Serving math formats tried, in order, when an accelerator has no tensor peak for the spec's
#: ``serving.dense_dtype`` (the plan then says so in its notes).
SERVE_DTYPE_FALLBACK = {"int8": ("fp8", "bf16", "fp16"), "fp8": ("bf16", "fp16"),
                        "bf16": ("fp16",), "fp16": ("bf16",)}

# -- optimizer state of the embedding tables --------------------------------------------------
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


# -- memory -----------------------------------------------------------------------------------
#: HBM kept free of embeddings for fragmentation, caches and kernels' scratch: TorchRec's
#: planner reserves 15 % by default (HeuristicalStorageReservation(percentage=0.15); the MLPerf
#: reference [4]_ lowers it to 5 %).
HBM_RESERVE_FRACTION = 0.15
#: Host DRAM available to embedding rows; the rest holds the OS, the data loader's shuffle
#: buffers and pinned staging (judgement).
HOST_MEMORY_FRACTION_FOR_EMBEDDINGS = 0.75
#: Activations kept for backward are written in forward and their gradients exist during
#: backward: two copies of the stored activations at peak (judgement, as for the elementwise
#: traffic in :mod:`gpuplan.demand.training`).
ACTIVATION_COPIES_TRAIN = 2.0
#: Serving keeps one layer's input and output alive, plus the pooled embeddings.
ACTIVATION_COPIES_SERVE = 1.0
#: Extra elementwise passes over the activations when serving: none — inference engines fuse
#: bias, ReLU and the DCN ``x₀ ⊙ (·) + x`` into GEMM epilogues, and the GEMM roofline already
#: counts reading its input and writing its output.
SERVE_ELEMENTWISE_PASSES = 0.0

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

# -- host and SSD tiers -----------------------------------------------------------------------
#: Host link per GPU, one direction [bytes/s]: PCIe Gen5 x16 = 32 GT/s × 16 lanes × 128/130
#: / 8 = 63 GB/s (PCI-SIG PCIe 5.0 base specification); Gen4 half of it. The catalog does not yet
#: carry a host-link figure per accelerator; A100-class parts are Gen4.
PCIE_GEN5_X16_BYTES_PER_S = 63.0e9
PCIE_GEN4_X16_BYTES_PER_S = 31.5e9
PCIE_GEN4_ACCELERATORS = ("a100-40gb", "a100-80gb", "l40s")
#: Achieved fraction of the link rate for embedding rows read from pinned host memory through
#: unified memory (UVM): several-hundred-byte random reads, not bulk copies (judgement).
HOST_LINK_EFFICIENCY = 0.6
#: Achieved fraction of the link rate for bulk pinned host-to-device copies (model inputs):
#: ~53-55 GB/s of 63 on PCIe Gen5 x16 is what bandwidth tests report (judgement).
HOST_COPY_EFFICIENCY = 0.85
#: NVMe tier: 4 KiB random-read and random-write operations per second of one datacenter Gen4
#: drive (vendor specifications of U.2 drives: ~1.0-1.5 M read, ~0.1-0.2 M write IOPS; judgement
#: at the low end), drives per node (DGX H100 has 8 × 3.84 TB U.2 NVMe, system description in
#: the MLPerf Training v4.0 logs [4]_), and the page a row read costs.
NVME_READ_IOPS = 1.0e6
NVME_WRITE_IOPS = 0.15e6
NVME_DRIVES_PER_NODE = 8
NVME_PAGE_BYTES = 4096.0

# -- sharding ---------------------------------------------------------------------------------
#: Narrowest column shard a planner cuts [columns]. TorchRec's planner defaults to 128
#: (torchrec/distributed/planner/constants.py MIN_CW_DIM; early versions 32) and takes a smaller
#: ``min_partition`` per table; we assume a planner that cuts down to 32 columns when a table is
#: too big for a GPU's share (judgement: with 128, a dim-128 table could only be row-wise split,
#: and NVIDIA's 128-GPU DLRM-DCNv2 throughput is out of reach of a row-wise layout).
MIN_COLUMN_SHARD_DIM = 32
#: Shards of a table larger than a GPU's even share may exceed that share by this much before a
#: table-wise placement is split (judgement).
SHARD_SLACK = 1.10

# -- end-to-end efficiency --------------------------------------------------------------------
#: Fraction of the measured matmul ceiling (MAMF) that the dense half of a recommender reaches
#: end to end (small, skinny GEMMs of a few thousand rows, DCN elementwise, loss, data loading,
#: launch gaps). Fitted by hand to ONE case, MLPerf Training v4.0 DLRM-DCNv2 on 8 × H100
#: (validation/recsys_cases.yaml, id mlperf-train-v4.0-dlrm-dcnv2-8xh100); every other case is
#: out of sample.
RECSYS_MATMUL_FRACTION_OF_MAMF = 0.55
#: Pooled embeddings travel in ``comm_dtype`` (spec), by default the dense compute format
#: (HugeCTR, and TorchRec with quantised comms, send fp16/bf16).

# -- serving ----------------------------------------------------------------------------------
#: Fixed time per served batch: host-side batching, launches and the result copy (judgement,
#: order of the launch latency of the ~30 kernels of a DLRM forward without CUDA graphs).
SERVE_BATCH_OVERHEAD_S = 200e-6
#: Queries per batch tried by the SLO search (powers of two and 1.5× between).
SERVE_BATCH_QUERY_OPTIONS = tuple(sorted({2**i for i in range(17)} | {3 * 2**i for i in range(16)}))
#: Largest batch a server builds [user-item pairs] (NVIDIA's MLPerf Inference v4.1 DLRMv2 offline
#: config uses 600,000 pairs per GPU batch; a round 2^20 bound).
MAX_SERVE_BATCH_PAIRS = 2**20
#: Utilisations tried per batch size by the SLO search.
_RHO_GRID = np.linspace(0.005, 0.995, 199)
#: Capacity kept spare above the offered load when sizing replicas (as in :mod:`gpuplan.demand.serving`).
DEFAULT_HEADROOM = 0.20
#: Standard normal quantile of 0.99 (batch-fill time of q Poisson arrivals, normal approximation).
Z_99 = 2.326
P99 = 0.99
#: Input bytes per user-item pair copied host → GPU: dense features in fp16, int32 indices.
DENSE_INPUT_BYTES = 2.0
INDEX_INPUT_BYTES = 4.0

#: Cross layers of a DCNv2 interaction when the spec gives none (the MLPerf DLRMv2 reference's
#: --dcn_num_layers default, 3 [4]_).
DEFAULT_CROSS_LAYERS = 3
#: Default global batch [samples] (MLPerf Training v4.0 DLRM-DCNv2, NVIDIA 8 × H100: 55,296).
DEFAULT_GLOBAL_BATCH = 55_296
#: Largest GPU count searched for ``gpus_for_memory`` [GPUs].
MAX_GPUS = 2**20
#: Largest spec file accepted [bytes].
MAX_SPEC_FILE_BYTES = 4 * 2**20
#: Row positions (fractions of a table's rows, hottest first) at which tables are cut into
#: segments for placement; log-spaced so that a skewed head is resolved.
SEGMENT_EDGES = np.concatenate([[0.0], np.logspace(-7, 0, 22)])

#: Codes of :func:`sharding_strategy` (0..3), in order.
STRATEGY_NAMES = ("table_wise", "column_wise", "grid", "row_wise")
BREAKDOWN_KEYS = ("dense_compute_s", "dense_memory_s", "embedding_hbm_s", "embedding_host_s",
                  "embedding_ssd_s", "all_to_all_s", "row_wise_comm_s", "all_reduce_exposed_s",
                  "dense_optimizer_s")
_LABELS = {"dense_compute_s": "MLP/interaction matmuls", "dense_memory_s": "dense elementwise",
           "embedding_hbm_s": "embedding lookups+updates in HBM",
           "embedding_host_s": "embedding rows over PCIe (host tier)",
           "embedding_ssd_s": "embedding rows on SSD",
           "all_to_all_s": "pooled-embedding all-to-all",
           "row_wise_comm_s": "grid/row-wise reduce-scatter + all-gather",
           "all_reduce_exposed_s": "dense all-reduce exposed",
           "dense_optimizer_s": "dense optimizer step"}


# ==============================================================================================
# Spec (typed input)
# ==============================================================================================


def _dtype_bytes(v: str | float) -> float:
    return DTYPE_BYTES[v] if isinstance(v, str) else float(v)


class TableSpec(BaseModel):
    """One embedding table (or ``count`` identical ones)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    rows: int = Field(ge=1, le=10**13)
    dim: int = Field(ge=1, le=65_536)
    dtype: Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4"] | float = "fp32"
    pooling_factor: float = Field(default=1.0, ge=0, le=100_000,
                                  description="lookups per sample (multi-hot size)")
    count: int = Field(default=1, ge=1, le=1_000_000, description="identical tables")
    zipf_alpha: float = Field(default=0.0, ge=0, le=5,
                              description="row popularity ~ rank^-alpha; 0 = uniform")

    @field_validator("dtype")
    @classmethod
    def _bytes(cls, v):
        if isinstance(v, str):
            return v
        if not (math.isfinite(v) and 0 < v <= 16):
            raise ValueError("dtype in bytes must be a number in (0, 16]")
        return v


class InteractionSpec(BaseModel):
    """``dot`` (pairwise dot products [1]_) or ``dcnv2`` (cross layers [2]_, maybe low-rank)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["dot", "dcnv2"]
    cross_layers: int | None = Field(default=None, ge=1, le=64,
                                     description=f"dcnv2 only; default {DEFAULT_CROSS_LAYERS}")
    low_rank: int | None = Field(default=None, ge=1, le=65_536,
                                 description="dcnv2 only: rank of W = U·Vᵀ; None = full rank")

    @model_validator(mode="after")
    def _dcn_fields(self) -> InteractionSpec:
        if self.type == "dot" and (self.cross_layers is not None or self.low_rank is not None):
            raise ValueError("cross_layers and low_rank are only for dcnv2")
        if self.type == "dcnv2" and self.cross_layers is None:
            self.cross_layers = DEFAULT_CROSS_LAYERS
        return self


class ServingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embedding_dtype: Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4"] | None = None
    dense_dtype: Literal["bf16", "fp16", "fp8", "int8"] = "fp16"
    items_per_query: float = Field(default=1.0, ge=1, le=1e6,
                                   description="user-item pairs scored per query")


class RecsysSpec(BaseModel):
    """A DLRM-family recommender: tables, dense features, MLPs, interaction, optimizer."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="recsys", min_length=1, max_length=200)
    source: str = ""
    dense_features: int = Field(ge=1, le=1_000_000)
    bottom_mlp: list[int] = Field(min_length=1, max_length=64)
    top_mlp: list[int] = Field(min_length=1, max_length=64)
    interaction: InteractionSpec
    optimizer: Literal["sgd", "adagrad", "exact_adagrad", "adam"] = "adagrad"
    dense_dtype: Literal["bf16", "fp16", "fp8"] = "bf16"
    comm_dtype: Literal["fp32", "fp16", "bf16", "fp8"] | None = None
    tables: list[TableSpec] = Field(min_length=1, max_length=100_000)
    serving: ServingSpec = Field(default_factory=ServingSpec)

    @field_validator("bottom_mlp", "top_mlp")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if any((not isinstance(w, int)) or w < 1 or w > 1_000_000 for w in v):
            raise ValueError("layer widths must be whole numbers from 1 to 1,000,000")
        return v

    @model_validator(mode="after")
    def _shapes(self) -> RecsysSpec:
        if self.interaction.type == "dot":
            d = self.bottom_mlp[-1]
            bad = [t.name for t in self.tables if t.dim != d]
            if bad:
                raise ValueError(f"dot interaction needs every table dim equal to the bottom MLP "
                                 f"output ({d}); differs: {', '.join(bad[:5])}")
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError("table names must be unique")
        return self


def _dense_step_bytes(optimizer: str) -> float:
    """Bytes one optimizer step moves per dense parameter: read weight, grad and states, write
    weight and states [bytes]."""
    return 2 * DENSE_WEIGHT_BYTES + DENSE_GRAD_BYTES + 2 * DENSE_OPTIMIZER_BYTES[optimizer]


def _format_error(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first.get("loc", ()))
    return f"{path}: field {loc or '(top level)'}: {first.get('msg')}"


def _read_yaml_mapping(path: str | Path, what: str) -> tuple[Path, dict]:
    from gpuplan.textfile import read_yaml_mapping

    return read_yaml_mapping(path, max_bytes=MAX_SPEC_FILE_BYTES, what=what)


def load_recsys_spec(path: str | Path) -> RecsysSpec:
    """Read and validate a recommender spec (YAML).

    Raises
    ------
    UserError
        Missing, oversized or malformed file, or a field that breaks the schema (the message
        names the file and the field).
    """
    p, data = _read_yaml_mapping(path, "recsys spec")
    try:
        return RecsysSpec.model_validate(data)
    except ValidationError as e:
        raise UserError(_format_error(p, e)) from None


# ==============================================================================================
# Derived arrays (pure)
# ==============================================================================================


@dataclass(frozen=True)
class RecsysArrays:
    """Per-table arrays (one element per distinct table entry) and the dense layer shapes."""

    names: tuple[str, ...]
    rows: np.ndarray
    dim: np.ndarray
    count: np.ndarray
    pooling: np.ndarray
    zipf_alpha: np.ndarray
    elem_bytes: np.ndarray
    row_bytes: np.ndarray            # stored row (training format), incl. quantisation params
    state_row_bytes: np.ndarray      # optimizer state per row
    serve_row_bytes: np.ndarray
    gemms: tuple[tuple[int, int, bool], ...]   # (k, n, bias) per sample, forward
    dot_features: int                # F for a dot interaction (0 for DCNv2)
    dot_dim: int
    act_elems_per_sample: float      # activations stored per sample [elements]
    dense_features: int
    optimizer: str
    dense_dtype: str
    comm_bytes: float
    serve_dense_dtype: str


def row_bytes(dim, elem_bytes, overhead=0.0) -> np.ndarray:
    """Bytes of one stored embedding row [bytes]: ``dim·elem_bytes + overhead`` [5]_."""
    return np.asarray(dim, dtype=float) * np.asarray(elem_bytes, dtype=float) + overhead


def optimizer_state_row_bytes(dim, optimizer: str) -> np.ndarray:
    """Optimizer state per embedding row [bytes] (:data:`OPTIMIZER_STATE_BYTES`)."""
    per_row, per_elem = OPTIMIZER_STATE_BYTES[optimizer]
    return per_row + per_elem * np.asarray(dim, dtype=float)


def mlp_gemms(in_features: int, widths: list[int]) -> list[tuple[int, int, bool]]:
    """``(k, n, bias)`` of each linear layer of an MLP of ``in_features`` inputs."""
    out, k = [], in_features
    for n in widths:
        out.append((k, n, True))
        k = n
    return out


def interaction_shape(spec: RecsysSpec) -> tuple[int, list[tuple[int, int, bool]], int, int]:
    """Top-MLP input width, cross-layer GEMMs, and (F, d) of a dot interaction.

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
    per_layer = [(D, r, False), (r, D, True)] if r else [(D, D, True)]
    return D, per_layer * spec.interaction.cross_layers, 0, 0


def recsys_arrays(spec: RecsysSpec) -> RecsysArrays:
    """Arrays the model functions need, derived from a spec (no I/O)."""
    t = spec.tables
    rows = np.array([x.rows for x in t], dtype=float)
    dim = np.array([x.dim for x in t], dtype=float)
    elem = np.array([_dtype_bytes(x.dtype) for x in t], dtype=float)
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


# ==============================================================================================
# Sizes and work per sample (pure)
# ==============================================================================================


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


def gather_bytes(row_bytes_) -> np.ndarray:
    """DRAM bytes moved to read one row: whole 32-byte sectors [bytes]."""
    return np.ceil(np.asarray(row_bytes_, dtype=float) / HBM_SECTOR_BYTES) * HBM_SECTOR_BYTES


def embedding_bytes_per_sample(a: RecsysArrays, *, serving: bool = False) -> float:
    """Embedding bytes read per sample in forward ``Σ count·pooling·row_bytes`` [bytes]."""
    rb = a.serve_row_bytes if serving else a.row_bytes
    return float(np.sum(a.count * a.pooling * rb))


def unique_rows(rows, lookups) -> np.ndarray:
    """Expected distinct rows among ``lookups`` uniform draws from ``rows`` rows [rows].

    Notes
    -----
    ``R·(1 − exp(−L/R))`` (occupancy of R bins by L balls). Skewed access touches fewer, so this
    is an upper bound on the rows a step updates.
    """
    R = np.asarray(rows, dtype=float)
    L = np.asarray(lookups, dtype=float)
    return R * -np.expm1(-L / R)


def train_embedding_bytes_per_step(a: RecsysArrays, global_batch) -> dict[str, np.ndarray]:
    """Embedding memory traffic of one training step, whole job [bytes], and rows touched.

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
    rows = a.count * (L * gb + U * 2 * (gb + gs))
    other = a.count * (L * INDEX_BYTES * INDEX_PASSES + B * a.dim * a.comm_bytes
                       + L * a.dim * a.comm_bytes)
    return {"row_bytes": rows.sum(-1), "hbm_bytes": other.sum(-1),
            "lookups": (a.count * L).sum(-1), "unique_rows": (a.count * U).sum(-1)}


# ==============================================================================================
# Placement across HBM / host DRAM / SSD (pure)
# ==============================================================================================


def zipf_cdf(x, rows, alpha) -> np.ndarray:
    """Share of lookups that hit the hottest fraction ``x`` of a table's rows.

    Parameters
    ----------
    x : array_like
        Fraction of rows, hottest first, in [0, 1].
    rows : array_like
        Rows N.
    alpha : array_like
        Popularity exponent α (row of rank r is read ∝ r^−α); 0 = uniform.

    Notes
    -----
    Midpoint-rule integral of r^−α: ``(G(xN + ½) − G(½)) / (G(N + ½) − G(½))`` with
    ``G(u) = u^(1−α)/(1−α)`` (``ln u`` at α = 1). α = 0 gives ``x``.
    """
    x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    N = np.asarray(rows, dtype=float)
    al = np.asarray(alpha, dtype=float)
    one = np.isclose(al, 1.0)
    e = np.where(one, 0.5, 1.0 - al)  # placeholder exponent where alpha == 1

    def G(u):
        return np.where(one, np.log(u), u**e / e)

    num = G(x * N + 0.5) - G(0.5)
    den = G(N + 0.5) - G(0.5)
    return np.clip(num / den, 0.0, 1.0)


def placement_segments(a: RecsysArrays, bytes_per_row, lookups_per_sample_
                       ) -> dict[str, np.ndarray]:
    """Cut every table into row segments and order them hottest first.

    Parameters
    ----------
    bytes_per_row : array_like
        Per table, the bytes one row occupies in this use (weights + optimizer state when
        training, the serving row when serving) [bytes].
    lookups_per_sample_ : array_like
        Per table ``count·pooling`` [lookups per sample].

    Returns
    -------
    dict
        ``cum_bytes`` and ``cum_lookups`` (cumulative over segments sorted by lookups per byte,
        starting at 0) — the inputs of :func:`tier_split`.
    """
    edges = SEGMENT_EDGES
    share = np.diff(zipf_cdf(edges[None, :], a.rows[:, None], a.zipf_alpha[:, None]), axis=1)
    seg_rows = a.rows[:, None] * np.diff(edges)[None, :]
    seg_bytes = (a.count * np.asarray(bytes_per_row, dtype=float))[:, None] * seg_rows
    seg_lookups = np.asarray(lookups_per_sample_, dtype=float)[:, None] * share
    sb, sl = seg_bytes.ravel(), seg_lookups.ravel()
    density = np.where(sb > 0, sl / np.maximum(sb, 1e-300), 0.0)
    order = np.argsort(-density, kind="stable")
    return {"cum_bytes": np.concatenate([[0.0], np.cumsum(sb[order])]),
            "cum_lookups": np.concatenate([[0.0], np.cumsum(sl[order])])}


def tier_split(segments: dict[str, np.ndarray], hbm_capacity_bytes, host_capacity_bytes
               ) -> dict[str, np.ndarray]:
    """Bytes and lookup shares per tier when the hottest rows fill HBM, then host, then SSD.

    Parameters
    ----------
    segments : dict
        From :func:`placement_segments`.
    hbm_capacity_bytes, host_capacity_bytes : array_like
        Capacity of each tier available to embedding rows [bytes] (any shape; broadcast).

    Returns
    -------
    dict
        ``hbm_bytes``, ``host_bytes``, ``ssd_bytes`` [bytes] and ``hbm_lookup_fraction``,
        ``host_lookup_fraction``, ``ssd_lookup_fraction``.

    Notes
    -----
    Greedy by lookups per byte (the fractional-knapsack optimum for lookup time when each tier
    is faster than the next); within a segment rows are equally hot (linear interpolation).
    """
    cb, cl = segments["cum_bytes"], segments["cum_lookups"]
    total_b, total_l = cb[-1], max(cl[-1], 1e-300)
    c1 = np.clip(np.asarray(hbm_capacity_bytes, dtype=float), 0.0, total_b)
    c2 = np.clip(c1 + np.clip(np.asarray(host_capacity_bytes, dtype=float), 0.0, None), 0.0,
                 total_b)
    l1, l2 = np.interp(c1, cb, cl), np.interp(c2, cb, cl)
    return {"hbm_bytes": c1, "host_bytes": c2 - c1, "ssd_bytes": total_b - c2,
            "hbm_lookup_fraction": l1 / total_l, "host_lookup_fraction": (l2 - l1) / total_l,
            "ssd_lookup_fraction": (cl[-1] - l2) / total_l}


# ==============================================================================================
# Sharding (pure)
# ==============================================================================================


def per_gpu_embedding_bytes(rows, bytes_per_row, count, gpus) -> np.ndarray:
    """Embedding bytes on the fullest GPU when the tables are balanced over ``gpus`` [bytes].

    Notes
    -----
    ``Σ count·⌈R/G⌉·bytes_per_row`` — what row-wise sharding of every table reaches, and the
    balance a planner that mixes table-, column- and row-wise shards aims for [3]_. Non-increasing
    in G (a planner with more GPUs can always leave some empty).
    """
    G = np.asarray(gpus, dtype=float)[..., None]
    return np.sum(np.asarray(count) * np.ceil(np.asarray(rows) / G) * np.asarray(bytes_per_row),
                  axis=-1)


def sharding_strategy(table_bytes, dim, gpus, domain: int, count=1.0
                      ) -> dict[str, np.ndarray]:
    """Sharding of each table over ``gpus`` GPUs: table-, column-, grid- or row-wise.

    Parameters
    ----------
    table_bytes : array_like
        Per table, bytes to place (rows + optimizer state) [bytes].
    dim : array_like
        Per table embedding width.
    gpus : array_like
        GPU counts (broadcast against a trailing table axis).
    domain : int
        GPUs per scale-up (NVLink) domain: an 8-GPU HGX node, 72 for NVL72.
    count : array_like
        Identical copies of each table (they share its strategy).

    Returns
    -------
    dict
        ``strategy`` (0 table-wise, 1 column-wise, 2 grid, 3 row-wise; shape
        ``gpus.shape + (T,)``) and ``shards`` (pieces per table).

    Notes
    -----
    With ``S = Σ count·bytes / G`` a GPU's even share and ``S_n = domain·S`` a domain's, and
    ``c_max = dim / MIN_COLUMN_SHARD_DIM`` the most column shards a table allows [3]_ [4]_:

    * ``bytes ≤ SHARD_SLACK·S``: table-wise (whole on one GPU);
    * else ``k = ⌈bytes/S⌉ ≤ c_max``: column-wise, k shards of ``dim/k`` columns on k GPUs;
    * else, beyond one domain, ``c = ⌈bytes/S_n⌉ ≤ c_max``: grid (TorchRec GRID_SHARD;
      table-row-wise when c = 1): c column shards, each row-wise over one domain's GPUs — partial
      sums reduce-scatter inside the domain;
    * else row-wise over all G GPUs (partial sums reduce-scatter over the job).

    Column-, grid- and table-wise pooled outputs travel by the all-to-all.
    """
    tb = np.asarray(table_bytes, dtype=float)
    d = np.asarray(dim, dtype=float)
    G = np.asarray(gpus, dtype=float)[..., None]
    gpn = float(max(domain, 1))
    share = np.sum(np.asarray(count, dtype=float) * tb) / G
    c_max = np.maximum(np.floor(d / MIN_COLUMN_SHARD_DIM), 1.0)
    k = np.minimum(np.ceil(tb / share), G)
    whole = (tb <= SHARD_SLACK * share) | (G <= 1)
    col = ~whole & (k <= c_max)
    c_grid = np.ceil(tb / (share * np.minimum(gpn, G)))
    grid = ~whole & ~col & (gpn < G) & (c_grid <= c_max)
    strategy = np.where(whole, 0, np.where(col, 1, np.where(grid, 2, 3)))
    shards = np.where(whole, 1.0, np.where(col, k, np.where(grid, c_grid * gpn, G)))
    return {"strategy": strategy, "shards": shards}


# ==============================================================================================
# Communication (pure)
# ==============================================================================================


def all_to_all_time_s(message_bytes, ranks, domain: int, up: LinkParams, out: LinkParams
                      ) -> np.ndarray:
    """All-to-all over ``ranks`` GPUs, ``domain`` per scale-up domain [s].

    Parameters
    ----------
    message_bytes : array_like
        nccl-tests size S: the buffer each rank sends out (S/n to every rank) [bytes].

    Notes
    -----
    A rank sends ``S·(n_in − 1)/n`` over the scale-up fabric (``n_in = min(n, domain)``) and
    ``S·(n − n_in)/n`` over its own NIC, concurrently:
    ``t = α(n) + max(S(n_in − 1)/n / B_up, S(n − n_in)/n / B_out)`` with the measured all-to-all
    bus bandwidths (per rank) of each tier; ``α`` grows with the peers (n − 1).
    """
    S = np.asarray(message_bytes, dtype=float)
    n = np.maximum(np.asarray(ranks, dtype=float), 1.0)
    n_in = np.minimum(n, domain)
    t_up = S * (n_in - 1) / n / up.busbw_bytes_per_s["all_to_all"]
    t_out = S * (n - n_in) / n / out.busbw_bytes_per_s["all_to_all"]
    alpha = np.where(n <= domain,
                     latency_at("all_to_all", n, up.latency_s["all_to_all"], up.measured_ranks),
                     latency_at("all_to_all", n, out.latency_s["all_to_all"], out.measured_ranks))
    return np.where(n > 1, alpha + np.maximum(t_up, t_out), 0.0)


# ==============================================================================================
# Hardware
# ==============================================================================================


@dataclass(frozen=True)
class RecsysHardware:
    """What the recommender model needs of an accelerator, its node and fabrics."""

    hw: Hardware                     # matmul rate already × RECSYS_MATMUL_FRACTION_OF_MAMF
    host_link_bytes_per_s: float     # achievable for UVM row reads, per GPU, one direction
    host_copy_bytes_per_s: float     # achievable for bulk input copies, per GPU, one direction
    host_memory_bytes_per_node: float
    ssd_read_iops_per_gpu: float
    ssd_write_iops_per_gpu: float


def recsys_hardware(cat: Catalog, acc, dtype: str, *, host_link_bytes_per_s: float | None = None,
                    matmul_fraction: float = RECSYS_MATMUL_FRACTION_OF_MAMF) -> RecsysHardware:
    """Assemble :class:`RecsysHardware` from the catalog (defaults named in this module).

    ``host_link_bytes_per_s`` is the raw one-direction host link per GPU; default PCIe x16 of
    the accelerator's generation.
    """
    base = hardware_for(cat, acc, dtype, mamf_fraction=1.0)
    eff = base.matmul_efficiency
    if dtype == "int8" and "int8" not in acc.matmul_efficiency:
        stand_in = acc.matmul_efficiency.get(INT8_EFFICIENCY_STAND_IN)
        eff = stand_in.value if stand_in else DEFAULT_MATMUL_EFFICIENCY
    hw = dataclasses.replace(base, matmul_efficiency=eff * matmul_fraction)
    systems = cat.systems_for(acc.id)
    host = 0.0
    for s in systems:
        if s.host_memory_bytes is not None:
            host = s.host_memory_bytes.value
            break
    raw = PCIE_GEN4_X16_BYTES_PER_S if acc.id in PCIE_GEN4_ACCELERATORS \
        else PCIE_GEN5_X16_BYTES_PER_S
    raw = host_link_bytes_per_s or raw
    gpn = max(hw.gpus_per_node, 1)
    return RecsysHardware(hw=hw, host_link_bytes_per_s=raw * HOST_LINK_EFFICIENCY,
                          host_copy_bytes_per_s=raw * HOST_COPY_EFFICIENCY,
                          host_memory_bytes_per_node=host,
                          ssd_read_iops_per_gpu=NVME_READ_IOPS * NVME_DRIVES_PER_NODE / gpn,
                          ssd_write_iops_per_gpu=NVME_WRITE_IOPS * NVME_DRIVES_PER_NODE / gpn)


# ==============================================================================================
# Memory per GPU (pure)
# ==============================================================================================


def dense_train_bytes(a: RecsysArrays) -> float:
    """Replicated dense state per GPU for training: weights, grads, optimizer [bytes]."""
    return dense_params(a) * (DENSE_WEIGHT_BYTES + DENSE_GRAD_BYTES
                              + DENSE_OPTIMIZER_BYTES[a.optimizer])


def activation_bytes(a: RecsysArrays, local_batch, *, serving: bool = False) -> np.ndarray:
    """Activation memory for ``local_batch`` samples on one GPU [bytes]."""
    b = np.asarray(local_batch, dtype=float)
    if serving:
        return b * a.act_elems_per_sample * DTYPE_BYTES[a.serve_dense_dtype] \
            * ACTIVATION_COPIES_SERVE
    return b * a.act_elems_per_sample * DTYPE_BYTES[a.dense_dtype] * ACTIVATION_COPIES_TRAIN


def usable_hbm_bytes(memory_bytes: float) -> float:
    """HBM a GPU offers to model state: less the planner reserve and the runtime [bytes]."""
    return memory_bytes * (1 - HBM_RESERVE_FRACTION) - RUNTIME_RESERVED_BYTES


def train_embedding_capacity_bytes(a: RecsysArrays, memory_bytes: float, gpus, global_batch
                                   ) -> np.ndarray:
    """HBM left for embedding rows + state over all GPUs of a training job [bytes] (may be < 0)."""
    G = np.asarray(gpus, dtype=float)
    per = usable_hbm_bytes(memory_bytes) - dense_train_bytes(a) \
        - activation_bytes(a, np.asarray(global_batch, dtype=float) / G)
    return per * G


def gpus_for_memory(a: RecsysArrays, memory_bytes: float, global_batch: float,
                    max_gpus: int = 1 << 20) -> int:
    """Fewest GPUs whose HBM holds every embedding row and its optimizer state [GPUs].

    Notes
    -----
    Smallest G with ``per_gpu_embedding_bytes(G) ≤ usable − dense − activations(B/G)``;
    searched over a doubling bracket then bisected (per-GPU need falls and room grows with G).
    Returns ``max_gpus + 1`` when even ``max_gpus`` is not enough.
    """
    per_row = a.row_bytes + a.state_row_bytes

    def fits(g: int) -> bool:
        need = float(per_gpu_embedding_bytes(a.rows, per_row, a.count, g))
        room = float(train_embedding_capacity_bytes(a, memory_bytes, g, global_batch)) / g
        return need <= room

    hi = 1
    while not fits(hi):
        if hi >= max_gpus:
            return max_gpus + 1
        hi = min(hi * 2, max_gpus)
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


# ==============================================================================================
# Training step (pure, vectorised over gpus and global_batch)
# ==============================================================================================


def dense_time_s(a: RecsysArrays, hw: Hardware, local_batch, *, dtype: str,
                 training: bool = True) -> dict[str, np.ndarray]:
    """Matmul and elementwise time of the dense half for ``local_batch`` samples [s].

    Notes
    -----
    Each GEMM ``b×k @ k×n`` at roofline ``max(2bkn / (peak·η), bytes/BW)`` [7]_ (via
    :func:`gpuplan.demand.training.gemm_time_s`), backward 2× forward; a dot interaction as a batched
    F×d @ d×F roofline; elementwise traffic ``b·acts·bytes·c`` with c from
    :data:`gpuplan.demand.training.ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE` (training) or
    :data:`SERVE_ELEMENTWISE_PASSES` (serving).
    """
    b = np.asarray(local_batch, dtype=float)
    eb = DTYPE_BYTES[dtype]
    args = (hw.peak_flops_per_s, hw.matmul_efficiency, hw.hbm_bytes_per_s, eb)
    fwd = np.zeros_like(b)
    for k, n, _ in a.gemms:
        fwd = fwd + gemm_time_s(b, k, n, *args)
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


def train_step_time(a: RecsysArrays, rh: RecsysHardware, gpus, global_batch
                    ) -> dict[str, np.ndarray]:
    """Step time of data-parallel MLPs + model-parallel embeddings, and its breakdown [s].

    Parameters
    ----------
    a : RecsysArrays
    rh : RecsysHardware
    gpus : array_like
        GPUs in the job G.
    global_batch : array_like
        Samples per step B (broadcast against ``gpus``).

    Returns
    -------
    dict
        ``step_time_s``, each of :data:`BREAKDOWN_KEYS`, ``samples_per_s``, the placement
        (``hbm_bytes``, ``host_bytes``, ``ssd_bytes`` and lookup fractions) and
        ``per_gpu_embedding_bytes``.

    Notes
    -----
    ``t = t_dense + t_emb,HBM + t_emb,host + t_emb,SSD + t_a2a + t_rw + max(0, t_AR − t_bwd)
    + t_opt`` (see the module docstring). Embedding traffic from
    :func:`train_embedding_bytes_per_step` split over G GPUs, each tier's share by
    :func:`tier_split`; HBM at achievable bandwidth, host rows over the GPU's PCIe link
    (read forward, read + write in the update), SSD rows at 4 KiB random IOPS. All-to-all of
    ``(B/G)·Σ dim·b_comm`` per GPU forward and backward [1]_ (all but row-wise tables); row-wise
    tables reduce-scatter (forward) and all-gather (backward) ``B·Σ dim·b_comm`` over the job,
    grid tables ``B·Σ dim·b_comm / domains`` inside each NVLink domain
    (:func:`sharding_strategy`); the dense all-reduce of ``N_dense·4`` bytes hides under the
    dense backward [3]_.
    """
    hw = rh.hw
    G = np.asarray(gpus, dtype=float)
    B = np.asarray(global_batch, dtype=float)
    G, B = np.broadcast_arrays(G, B)
    b = B / G
    dense = dense_time_s(a, hw, b, dtype=a.dense_dtype, training=True)

    # placement of rows + state over HBM / host / SSD
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

    # communication: all-to-all of pooled outputs (table-, column-, grid-wise), reduce-scatter
    # (forward) + all-gather (backward) of partial sums inside a node (grid) or over the job
    # (row-wise), all-reduce of the dense gradients
    dom = max(hw.domain, 1)
    strat = sharding_strategy(a.rows * per_row, a.dim, G, dom, a.count)["strategy"]
    cd = a.count * a.dim
    rw_dim = np.sum(np.where(strat == 3, cd, 0.0), axis=-1)
    grid_dim = np.sum(np.where(strat == 2, cd, 0.0), axis=-1)
    a2a_dim = cd.sum() - rw_dim
    a2a = 2 * all_to_all_time_s(b * a2a_dim * a.comm_bytes, G, hw.domain, hw.up, hw.out)
    rw_bytes = B * rw_dim * a.comm_bytes
    grid_bytes = B * grid_dim * a.comm_bytes / np.maximum(np.ceil(G / dom), 1.0)
    n_grid = np.minimum(G, dom)

    def rs_ag(size, ranks):
        return np.where(size > 0,
                        group_time_s("reduce_scatter", size, ranks, 1, hw.domain, hw.up, hw.out)
                        + group_time_s("all_gather", size, ranks, 1, hw.domain, hw.up, hw.out),
                        0.0)

    rw = rs_ag(rw_bytes, G) + rs_ag(grid_bytes, n_grid)
    ar = group_time_s("all_reduce", dense_params(a) * DENSE_GRAD_BYTES, G, 1, hw.domain,
                      hw.up, hw.out)
    backward_window = dense["compute_s"] * BACKWARD_OVER_FORWARD / (1 + BACKWARD_OVER_FORWARD)
    ar_exposed = np.maximum(ar - backward_window, 0.0)
    opt = dense_params(a) * _dense_step_bytes(a.optimizer) / hw.hbm_bytes_per_s + 0 * G

    parts = {"dense_compute_s": dense["compute_s"], "dense_memory_s": dense["memory_s"],
             "embedding_hbm_s": emb_hbm, "embedding_host_s": emb_host,
             "embedding_ssd_s": emb_ssd, "all_to_all_s": a2a, "row_wise_comm_s": rw,
             "all_reduce_exposed_s": ar_exposed, "dense_optimizer_s": opt}
    parts = {k: np.broadcast_to(v, G.shape).astype(float) for k, v in parts.items()}
    step = sum(parts.values())
    out = dict(parts)
    out["step_time_s"] = step
    out["samples_per_s"] = B / step
    out.update({k: np.broadcast_to(v, G.shape) for k, v in tiers.items()})
    out["per_gpu_embedding_bytes"] = per_gpu_embedding_bytes(a.rows, per_row, a.count, G)
    out["strategy_counts"] = np.stack([np.where(strat == i, a.count, 0).sum(-1)
                                       for i in range(len(STRATEGY_NAMES))], axis=-1)
    return out


def retrain_gpu_hours(samples, samples_per_s, gpus) -> np.ndarray:
    """GPU-hours to train ``samples`` at ``samples_per_s`` on ``gpus`` GPUs [GPU·h].

    Notes
    -----
    ``G · samples / throughput / 3600`` (steady state; no failures or evaluation).
    """
    return np.asarray(gpus, dtype=float) * np.asarray(samples, dtype=float) \
        / np.asarray(samples_per_s, dtype=float) / SECONDS_PER_HOUR


# ==============================================================================================
# Serving (pure)
# ==============================================================================================


def serve_batch_time_s(a: RecsysArrays, rh: RecsysHardware, pairs, replica_gpus,
                       tiers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Time of one batch of ``pairs`` user-item pairs on a replica of ``replica_gpus`` [s].

    Returns
    -------
    dict
        ``gpu_s`` (dense forward + embedding gathers + intra-replica all-to-all + fixed
        overhead), ``h2d_s`` (inputs over PCIe; a separate copy stream), ``compute_s``,
        ``embedding_s``.

    Notes
    -----
    Per GPU ``p/k`` pairs: dense forward roofline (:func:`dense_time_s`, serving dtype);
    gathers ``Σ count·pooling·sector(row)`` per pair at HBM bandwidth for the HBM share,
    over PCIe for the host share, one 4 KiB read per row for the SSD share; inputs
    ``dense·2 + lookups·4`` bytes per pair over PCIe.
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


def serve_p99_latency_s(batch_queries, qps, gpu_s, h2d_s) -> np.ndarray:
    """p99 latency of a query under dynamic batching at ``qps`` queries/s per replica [s].

    Notes
    -----
    Batches of q queries leave every ``T = max(t_gpu, t_h2d)`` at most (copy and compute
    streams pipeline). Latency = batch fill (q Poisson arrivals: ``q/λ·(1 + z₉₉/√q)``) + queue
    wait + ``t_gpu + t_h2d``. Queue: Kingman [6]_ with batch inter-formation CV² ``1/q`` and
    deterministic service, ``W̄ = ρ/(1−ρ)·(1/q)/2·T``, exponential tail
    ``t₉₉ = (W̄/ρ)·ln(ρ/0.01)``; ``ρ = λT/q`` (≥ 1: infinite).
    """
    q = np.asarray(batch_queries, dtype=float)
    lam = np.asarray(qps, dtype=float)
    T = np.maximum(gpu_s, h2d_s)
    rho = lam * T / q
    fill = q / lam * (1 + Z_99 / np.sqrt(q))
    rho_c = np.clip(rho, 1e-9, 0.999999)
    w_mean = rho_c / (1 - rho_c) * (1 / q) / 2 * T
    w99 = np.where(rho_c > 1 - P99, w_mean / rho_c * np.log(rho_c / (1 - P99)), 0.0)
    lat = fill + w99 + gpu_s + h2d_s
    return np.where(rho < 1, lat, np.inf)


def serve_capacity(a: RecsysArrays, rh: RecsysHardware, *, items_per_query: float,
                   replica_gpus: int, tiers: dict, max_pairs: float,
                   p99_s: float | None) -> dict[str, float]:
    """Queries per second one replica sustains, offline or under a p99 latency SLO.

    Returns
    -------
    dict
        ``qps`` (per replica), ``batch_queries``, ``p99_s`` (at that load; None offline),
        ``batch_s``, ``offline_qps``.

    Notes
    -----
    Offline: ``max_q q / T(q·n)``. Under an SLO: over batch sizes q and utilisations ρ, the
    largest ``λ = ρ·q/T`` with :func:`serve_p99_latency_s` ≤ SLO — the largest batch that meets
    the SLO at the highest load it can carry.
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
    lam = _RHO_GRID[None, :] * thr[:, None]
    lat = serve_p99_latency_s(q[:, None], lam, bt["gpu_s"][:, None], bt["h2d_s"][:, None])
    ok = lat <= p99_s
    if not ok.any():
        return {"qps": 0.0, "batch_queries": 0.0, "p99_s": float(np.min(lat)), "batch_s": 0.0,
                "offline_qps": offline}
    lam_ok = np.where(ok, lam, -1.0)
    i, j = np.unravel_index(int(np.argmax(lam_ok)), lam_ok.shape)
    return {"qps": float(lam[i, j]), "batch_queries": float(q[i]), "p99_s": float(lat[i, j]),
            "batch_s": float(bt["gpu_s"][i] + bt["h2d_s"][i]), "offline_qps": offline}


def serve_gpus(qps, replica_qps, replica_gpus, headroom=DEFAULT_HEADROOM) -> np.ndarray:
    """GPUs to serve ``qps`` with ``headroom`` spare: ``⌈qps(1+h)/replica_qps⌉ · k`` [GPUs]."""
    q = np.asarray(qps, dtype=float)
    reps = np.maximum(np.ceil(q * (1 + headroom) / np.asarray(replica_qps, dtype=float)), 1)
    return reps * replica_gpus


# ==============================================================================================
# Typed result and the entry point
# ==============================================================================================


class PlacementOut(BaseModel):
    """Embedding rows (+ optimizer state when training) per tier, whole job [bytes], and the
    share of lookups each tier serves."""

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
    """One serving replica: GPUs, embedding placement, the chosen batch and its latency."""

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
    """Result of :func:`plan_recsys`; ``model_dump()`` is the JSON a CLI would print."""

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


def _bottleneck(bd: dict[str, float], step: float) -> str:
    worst = max(bd, key=lambda k: bd[k])
    second = sorted(bd, key=lambda k: -bd[k])[1]
    return (f"{_LABELS[worst]}: {bd[worst] / step:.0%} of the step "
            f"(next: {_LABELS[second]} {bd[second] / step:.0%})")


def _positive(name: str, v, hi: float, integer: bool = False) -> None:
    ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
        and math.isfinite(v) and 0 < v <= hi and (not integer or float(v) == int(v))
    if not ok:
        kind = "a whole number" if integer else "a number"
        raise UserError(f"{name} must be {kind} above 0 and at most {hi:,.0f}, got {v!r}")


def _has_peak(acc, dtype: str) -> bool:
    try:
        acc.peak(dtype)
    except KeyError:
        return False
    return True


def _round_gpus(n: int, per_node: int) -> int:
    """Round a GPU count up to a power of two within a node, whole nodes beyond."""
    if n <= per_node:
        return 1 << max(n - 1, 0).bit_length()
    return -(-n // per_node) * per_node


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
        The model (a path is read with :func:`load_recsys_spec`).
    gpu : str
        Accelerator (catalog id or accelerator YAML).
    gpus : int, optional
        GPUs for training; default the fewest that hold the embeddings in HBM, rounded to a
        power of two within a node or whole nodes.
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
        User-item pairs scored per query; default the spec's ``serving.items_per_query``.
    headroom : float
        Spare capacity when sizing the serving fleet (0.2 = 20 %).
    host_link_bytes_per_s : float, optional
        Host link per GPU, one direction [bytes/s] (e.g. 450e9 for GH200's NVLink-C2C); default
        PCIe x16 of the accelerator's generation. :data:`HOST_LINK_EFFICIENCY` (row reads) and
        :data:`HOST_COPY_EFFICIENCY` (input copies) apply.

    Raises
    ------
    UserError
        Bad values, unknown GPU, or a batch too large for the GPUs' memory.
    """
    if not isinstance(spec, RecsysSpec):
        spec = load_recsys_spec(spec)
    cat = catalog or load_catalog()
    _positive("--global-batch", global_batch, 1e9, integer=True)
    if gpus is not None:
        _positive("--gpus", gpus, 2**24, integer=True)
    if qps is not None:
        _positive("--qps", qps, 1e12)
    if p99_ms is not None:
        _positive("--p99-ms", p99_ms, 1e6)
    if (days_of_data is None) != (samples_per_day is None):
        raise UserError("give both --days-of-data and --samples-per-day (a retraining cycle "
                        "trains one pass over days × samples per day), or neither")
    if days_of_data is not None:
        _positive("--days-of-data", days_of_data, 1e5)
        _positive("--samples-per-day", samples_per_day, 1e15)
    if items_per_query is not None:
        _positive("--items-per-query", items_per_query, 1e6)
    if not (isinstance(headroom, (int, float)) and math.isfinite(headroom) and 0 <= headroom <= 10):
        raise UserError(f"--headroom must be between 0 and 10, got {headroom!r}")
    if host_link_bytes_per_s is not None:
        _positive("--host-link-bytes-per-s", host_link_bytes_per_s, 1e13)

    a = recsys_arrays(spec)
    acc = cat.accelerator(gpu)
    rh = recsys_hardware(cat, acc, spec.dense_dtype, host_link_bytes_per_s=host_link_bytes_per_s)
    hw = rh.hw
    notes: list[str] = []

    g_mem = gpus_for_memory(a, hw.memory_bytes, global_batch, max_gpus=MAX_GPUS)
    if g_mem > MAX_GPUS and gpus is None:
        raise UserError(f"the embeddings of {spec.name} need more than {MAX_GPUS:,} × {acc.id} "
                        f"to fit in HBM; give --gpus to plan with host/SSD tiers")
    G = gpus if gpus is not None else _round_gpus(g_mem, max(hw.gpus_per_node, 1))
    if global_batch < G:
        raise UserError(f"--global-batch {global_batch} is smaller than --gpus {G}; each GPU needs "
                        f"at least one sample")
    per_gpu_fixed = dense_train_bytes(a) + float(activation_bytes(a, global_batch / G))
    if per_gpu_fixed > usable_hbm_bytes(hw.memory_bytes):
        raise UserError(f"a local batch of {global_batch / G:,.0f} samples needs "
                        f"{per_gpu_fixed / 1e9:,.1f} GB per GPU for dense state and activations, "
                        f"more than the {usable_hbm_bytes(hw.memory_bytes) / 1e9:,.1f} GB usable "
                        f"on {acc.id}; lower --global-batch or add GPUs")
    st = train_step_time(a, rh, G, global_batch)
    step = float(st["step_time_s"])
    rate = float(st["samples_per_s"])
    bd = {k: float(st[k]) for k in BREAKDOWN_KEYS}
    placement = PlacementOut(**{k: float(st[k]) for k in PlacementOut.model_fields})
    if (placement.host_bytes > 0 or placement.ssd_bytes > 0) \
            and rh.host_memory_bytes_per_node <= 0:
        notes.append(f"no system with host memory for {acc.id} in the catalog: rows that do not "
                     f"fit in HBM go to SSD")
    if placement.host_bytes > 0 or placement.ssd_bytes > 0:
        notes.append(f"embeddings exceed the HBM of {G} GPUs: "
                     f"{placement.host_bytes / 1e9:,.1f} GB in host DRAM, "
                     f"{placement.ssd_bytes / 1e9:,.1f} GB on SSD (hottest rows kept in HBM); "
                     f"{g_mem} GPUs hold everything in HBM")
    counts = st["strategy_counts"]
    per_gpu_emb = float(st["per_gpu_embedding_bytes"])
    sharding = ShardingOut(**{name: int(counts[i]) for i, name in enumerate(STRATEGY_NAMES)},
                           per_gpu_embedding_bytes=per_gpu_emb)
    mem_per_gpu = min(per_gpu_emb, placement.hbm_bytes / G) + per_gpu_fixed \
        + RUNTIME_RESERVED_BYTES

    retrain_samples = retrain_wall = retrain_hours = None
    if days_of_data is not None:
        retrain_samples = float(days_of_data * samples_per_day)
        retrain_wall = retrain_samples / rate
        retrain_hours = float(retrain_gpu_hours(retrain_samples, rate, G))

    # ---- serving ----
    n_items = items_per_query if items_per_query is not None else spec.serving.items_per_query
    want = spec.serving.dense_dtype
    serve_dtype = next((d for d in (want, *SERVE_DTYPE_FALLBACK[want])
                        if _has_peak(acc, d)), None)
    if serve_dtype is None:
        raise UserError(f"{acc.id} has no tensor peak for serving in {want} or "
                        f"{'/'.join(SERVE_DTYPE_FALLBACK[want])}; the catalog lists "
                        f"{', '.join(acc.peak_flops_per_s)}")
    if serve_dtype != want:
        notes.append(f"serving: {acc.id} has no {want} tensor peak in the catalog; the dense "
                     f"layers are served in {serve_dtype}")
        a = dataclasses.replace(a, serve_dense_dtype=serve_dtype)
    rh_s = recsys_hardware(cat, acc, serve_dtype, host_link_bytes_per_s=host_link_bytes_per_s)
    serve_bytes = embedding_bytes(a, serving=True)
    dense_serve = dense_params(a) * DTYPE_BYTES[serve_dtype]
    min_act = float(activation_bytes(a, n_items, serving=True))
    usable = usable_hbm_bytes(hw.memory_bytes) - dense_serve - min_act
    if usable <= 0:
        raise UserError(f"{acc.id} cannot hold the dense layers and one query's activations")
    gpn = max(hw.gpus_per_node, 1)
    k = max(1, math.ceil(serve_bytes / usable))
    k = min(_round_gpus(k, gpn), gpn)
    seg = placement_segments(a, a.serve_row_bytes, a.count * a.pooling)
    emb_room = np.array(k * usable)
    s_tiers = tier_split(seg, emb_room, rh.host_memory_bytes_per_node
                         * HOST_MEMORY_FRACTION_FOR_EMBEDDINGS)
    s_tiers = {kk: float(v) for kk, v in s_tiers.items()}
    if s_tiers["host_bytes"] > 0 or s_tiers["ssd_bytes"] > 0:
        notes.append(f"serving: a {k}-GPU replica holds {s_tiers['hbm_bytes'] / 1e9:,.1f} GB of "
                     f"{serve_bytes / 1e9:,.1f} GB of embeddings in HBM; the rest is read from "
                     f"host DRAM/SSD")
    left = k * usable_hbm_bytes(hw.memory_bytes) - min(serve_bytes, float(emb_room)) \
        - k * dense_serve
    per_pair_act = float(activation_bytes(a, 1.0, serving=True))
    max_pairs = float(min(MAX_SERVE_BATCH_PAIRS, max(left / per_pair_act, n_items)))
    cap = serve_capacity(a, rh_s, items_per_query=n_items, replica_gpus=k, tiers=s_tiers,
                         max_pairs=max_pairs, p99_s=p99_ms * MS if p99_ms is not None else None)
    if p99_ms is not None and cap["qps"] <= 0:
        raise UserError(f"no batch meets a p99 of {p99_ms} ms on {acc.id} (least p99 "
                        f"{cap['p99_s'] * 1e3:,.2f} ms for one query of {n_items:g} items)")
    qps_per_gpu = cap["qps"] / k
    n_serve = int(serve_gpus(qps, cap["qps"], k, headroom)) if qps is not None else None
    serve = ServeOut(replica_gpus=k, items_per_query=n_items, embedding_bytes=serve_bytes,
                     placement=PlacementOut(**s_tiers), batch_queries=cap["batch_queries"],
                     batch_s=cap["batch_s"], p99_s=cap["p99_s"],
                     p99_slo_s=p99_ms * MS if p99_ms is not None else None,
                     offline_qps_per_gpu=cap["offline_qps"] / k)

    return RecsysResult(
        model=spec.name, gpu=acc.id, gpus=int(G), global_batch=int(global_batch),
        embedding_params=embedding_params(a), embedding_bytes=embedding_bytes(a),
        embedding_optimizer_bytes=embedding_optimizer_bytes(a), dense_params=dense_params(a),
        dense_bytes=dense_params(a) * DENSE_WEIGHT_BYTES, lookups_per_sample=lookups_per_sample(a),
        embedding_bytes_per_sample=embedding_bytes_per_sample(a),
        flops_per_sample=dense_flops_per_sample(a),
        train_flops_per_sample=train_flops_per_sample(a), placement=placement, sharding=sharding,
        gpus_for_memory=int(g_mem), memory_per_gpu_bytes=mem_per_gpu,
        gpu_memory_bytes=hw.memory_bytes, step_time_s=step, train_samples_per_s=rate,
        train_samples_per_s_per_gpu=rate / G, breakdown=bd, bottleneck=_bottleneck(bd, step),
        retrain_samples=retrain_samples, retrain_wall_s=retrain_wall,
        retrain_gpu_hours=retrain_hours, serve_qps_per_gpu=qps_per_gpu, serve_qps=qps,
        serve_gpus=n_serve, serve=serve, notes=notes)


# ==============================================================================================
# Validation cases (reads files: the edge)
# ==============================================================================================

RECSYS_CASES_FILE = Path(__file__).resolve().parents[1] / "validation" / "recsys_cases.yaml"
_REPO_ROOT = Path(__file__).resolve().parents[3]


class RecsysCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    kind: Literal["recsys"] = "recsys"
    source_record: str
    citation: str
    confidence: str = ""
    spec: str
    gpu: str
    gpus: int = Field(ge=1)
    global_batch: int | None = Field(default=None, ge=1)
    quantity: Literal["train_samples_per_s", "serve_qps"]
    scenario: Literal["train", "offline", "server"] = "train"
    p99_ms: float | None = Field(default=None, gt=0)
    items_per_query: float | None = Field(default=None, ge=1)
    measured: float = Field(gt=0)
    derivation: str = ""
    notes: str = ""


class RecsysCaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = 1
    cases: list[RecsysCase]


def _resolve_spec(spec: str, case_file: Path) -> Path:
    p = Path(spec)
    for base in (case_file.parent, Path.cwd(), _REPO_ROOT):
        q = p if p.is_absolute() else base / p
        if q.is_file():
            return q
    raise UserError(f"{case_file}: spec {spec!r} not found (looked beside the case file, in the "
                    f"working directory and in the repository root)")


def validate_recsys_cases(path: str | Path | None = None, catalog: Catalog | None = None
                          ) -> list[dict[str, Any]]:
    """Run every case of a recsys case file; one row per case with the relative error.

    Returns
    -------
    list of dict
        ``id``, ``quantity``, ``predicted``, ``published``, ``relative_error``
        (predicted / published − 1), ``citation``.
    """
    p, data = _read_yaml_mapping(path or RECSYS_CASES_FILE, "recsys case file")
    try:
        cf = RecsysCaseFile.model_validate(data)
    except ValidationError as e:
        raise UserError(_format_error(p, e)) from None
    out = []
    for c in cf.cases:
        spec = load_recsys_spec(_resolve_spec(c.spec, p))
        if c.quantity == "train_samples_per_s":
            r = plan_recsys(spec, c.gpu, gpus=c.gpus,
                            global_batch=c.global_batch or DEFAULT_GLOBAL_BATCH, catalog=catalog)
            pred = r.train_samples_per_s
        else:
            r = plan_recsys(spec, c.gpu, gpus=c.gpus, p99_ms=c.p99_ms if c.scenario == "server"
                            else None, items_per_query=c.items_per_query, catalog=catalog)
            pred = r.serve_qps_per_gpu * c.gpus
        out.append({"id": c.id, "quantity": c.quantity, "predicted": pred,
                    "published": c.measured, "relative_error": pred / c.measured - 1,
                    "citation": c.citation})
    return out


__all__ = ["RecsysSpec", "TableSpec", "InteractionSpec", "ServingSpec", "RecsysResult",
           "load_recsys_spec", "plan_recsys", "recsys_arrays", "train_step_time",
           "serve_capacity", "tier_split", "placement_segments", "per_gpu_embedding_bytes",
           "sharding_strategy", "gpus_for_memory", "retrain_gpu_hours", "serve_gpus",
           "validate_recsys_cases"]
