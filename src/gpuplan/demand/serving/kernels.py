"""Kernel-level rooflines of one serving iteration: linear layers, attention, elementwise.

Pure, vectorised functions that :func:`~gpuplan.demand.serving.engine.decode_step_s` and
:func:`~gpuplan.demand.serving.engine.prefill_s` sum: the dense and grouped expert GEMMs with
their row padding and soft roofline, the attention kernels (the KV stream and their FLOPs at the
bf16 rate), and the memory-bound elementwise kernels between them.

References
----------
.. [1] Pope et al. 2023, "Efficiently Scaling Transformer Inference", MLSys: decode is
   memory-bandwidth-bound (weights + KV read every step) until the batch makes it compute-bound;
   prefill is compute-bound.
.. [2] NVIDIA CUTLASS, grouped GEMM (``examples/24_gemm_grouped``, Hopper
   ``57_hopper_grouped_gemm``): one problem per expert, each tiled by the CTA tile (128 rows
   here, :data:`GEMM_TILE_ROW_OPTIONS`).
.. [3] Osama et al. 2023, "Stream-K: Work-centric Parallel Decomposition for Dense
   Matrix-Matrix Multiplication on the GPU", PPoPP: splitting the K loop across CTAs removes
   the wave-quantisation loss of tile-parallel GEMMs whose tile count is not a multiple of the
   SM count (CUTLASS and cuBLAS ship it).
.. [4] Williams, Waterman, Patterson 2009, "Roofline: An Insightful Visual Performance Model
   for Multicore Architectures", CACM 52(4): attainable FLOP/s = min(peak, intensity × BW), an
   upper bound that real kernels approach smoothly near the ridge point.
.. [5] Ivanov et al. 2021, "Data Movement Is All You Need: A Case Study on Optimizing
   Transformers", MLSys: normalisation and elementwise operators are memory-bound and take a
   large share of transformer runtime beside the tensor contractions.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from gpuplan.demand.arch import (
    FLOPS_PER_MAC,
    Arch,
    attention_span,
    kv_elements_per_token_per_layer,
    matmul_params_active,
    param_counts,
)
from gpuplan.demand.hardware import Hardware
from gpuplan.demand.memory import ACT_BYTES, DTYPE_BYTES, kv_shards, weight_bytes

#: Row tiles a serving GEMM can pick from (CUTLASS tile configurations with 64- and 128-row
#: CTA tiles; TensorRT-LLM profiles the tactics per shape and keeps the fastest) [2]_.
GEMM_TILE_ROW_OPTIONS = (64, 128)
#: Activation passes of the memory-bound elementwise kernels per layer and row [1]_ [5]_:
#: two RMSNorms (read + write the hidden state: 4) and two residual adds (read 2, write 1:
#: 6), in units of ``hidden × ACT_BYTES``; the gated activation reads the gate and up
#: projections and writes their product (3 passes of the MLP width); a routed token is also
#: permuted to its experts and back (read + write, twice: 4 passes of the hidden state).
HIDDEN_PASSES_PER_LAYER = 10
GATED_MLP_PASSES = 3
UNGATED_MLP_PASSES = 2
MOE_PERMUTE_PASSES = 4


def expected_experts_touched(num_experts: int, top_k: int, tokens: npt.ArrayLike) -> np.ndarray:
    """Expected distinct experts a layer reads for ``tokens`` tokens [experts].

    Parameters
    ----------
    num_experts : int
        Routed experts per MoE layer E [experts].
    top_k : int
        Experts chosen per token k [experts].
    tokens : array_like
        Tokens routed together [tokens].

    Notes
    -----
    With uniform routing each expert is missed by one token with probability ``1 − k/E``:
    ``E·(1 − (1 − k/E)^tokens)``.
    """
    t = np.asarray(tokens, dtype=float)
    return np.asarray(num_experts * (1.0 - (1.0 - top_k / num_experts) ** t))


def attention_s(arch: Arch, hw: Hardware, *, kv_dtype: str, batch: np.ndarray,
                rows_per_sequence: np.ndarray, context: np.ndarray, prefill_tokens: np.ndarray,
                prefill_span: npt.ArrayLike, tp: np.ndarray, pp: np.ndarray,
                kv_read_efficiency: float) -> tuple[np.ndarray, np.ndarray]:
    """KV-stream time and attention-kernel time of one attention group's iteration [s].

    Parameters
    ----------
    arch : Arch
        The model.
    hw : Hardware
        The accelerator as serving sees it.
    kv_dtype : str
        KV-cache dtype.
    batch : ndarray
        Decoding sequences of the group [sequences].
    rows_per_sequence : ndarray
        Query rows per decoding sequence (1 + verified draft tokens) [rows].
    context : ndarray
        Mean context of a decoding sequence [tokens].
    prefill_tokens : ndarray
        Prompt tokens of the group in this pass [tokens].
    prefill_span : array_like
        Mean attended context of those prompt tokens [tokens].
    tp, pp : ndarray
        Tensor- and pipeline-parallel degree.
    kv_read_efficiency : float
        Paged KV reads' share of the achievable HBM bandwidth [fraction].

    Notes
    -----
    ``t_kv = b·span(ctx)·kv_elements·bytes/(shards·p)/(BW·ε_kv)``; the attention kernels take
    ``max(t_kv, F_decode/R_attn) + F_prefill/R_attn`` with ``F = 2·a·(d_qk + d_v)/(t·p)`` FLOPs
    per attended position [1]_ and ``R_attn`` of :func:`attention_flops_per_s`.
    """
    kv_read = batch * attention_span(arch, context) * kv_elements_per_token_per_layer(arch) \
        * DTYPE_BYTES[kv_dtype] / (kv_shards(arch, tp) * pp)
    rate = attention_flops_per_s(hw)
    per_pos = FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim) / (tp * pp)
    t_kv = kv_read / (hw.hbm_bytes_per_s * kv_read_efficiency)
    decode_flops = batch * rows_per_sequence * per_pos * attention_span(arch, context)
    prefill_flops = prefill_tokens * per_pos * attention_span(arch, prefill_span)
    t_attn = np.maximum(t_kv, decode_flops / rate) + prefill_flops / rate
    return np.asarray(t_kv), np.asarray(t_attn)


def linear_layers_s(arch: Arch, hw: Hardware, *, weight_format: str, rows: np.ndarray,
                    tp: np.ndarray, pp: np.ndarray, roofline_sharpness: float,
                    attention_dp: npt.ArrayLike = 1
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weight-stream, GEMM and roofline times of the linear layers of one pass [s].

    Parameters
    ----------
    arch : Arch
        The model.
    hw : Hardware
        The accelerator as serving sees it.
    weight_format : str
        Weight format.
    rows : ndarray
        Rows (tokens) through the layers [rows].
    tp, pp : ndarray
        Tensor- and pipeline-parallel degree.
    roofline_sharpness : float
        Exponent of :func:`soft_roofline_s` [—].
    attention_dp : array_like
        Attention data-parallel degree ``d`` [—]: the dense GEMMs see ``rows/d`` rows on
        ``tp·pp`` GPUs, the experts all ``rows`` on ``tp·d·pp`` GPUs.

    Notes
    -----
    Two kernels, two rooflines: the dense GEMMs (attention projections, dense and shared MLPs,
    LM head) see every row of their group; the routed experts run as one grouped GEMM over the
    experts the batch touches, each with ``rows·k/touched`` rows padded to whole tiles. Each
    GPU holds ``E/ep`` experts (sliced ``t·d/ep`` ways) and, with uniform routing, reads the
    ``touched/ep`` of them its share of the ``rows·k`` routed rows reaches: the expert bytes it
    streams are ``W_experts·touched/(E·t·d·p)`` whatever ``ep`` is. Decode GEMMs are
    skinny: serving kernels split K (stream-K) so the tiles fill every SM and wave
    quantisation vanishes [3]_; what remains is the row padding, as for the experts.
    """
    pc = param_counts(arch)
    w_total = weight_bytes(arch, weight_format)
    bytes_per_param = w_total / pc.total
    w_dense = w_total - bytes_per_param * pc.expert
    d = np.asarray(attention_dp, dtype=float)
    rows_g = rows / d
    w_exp = np.zeros_like(rows)
    expert_pad = np.ones_like(rows)
    if arch.is_moe:
        touched = expected_experts_touched(arch.num_experts, arch.experts_per_token, rows)
        w_exp = bytes_per_param * pc.expert * touched / arch.num_experts
        expert_pad = grouped_gemm_row_padding(rows * arch.experts_per_token / touched)
    achieved_flops = hw.peak_flops_per_s * hw.matmul_efficiency
    mm_flops = rows_g * FLOPS_PER_MAC * (matmul_params_active(arch) - pc.routed_active) \
        / (tp * pp)
    exp_flops = rows * FLOPS_PER_MAC * pc.routed_active / (tp * d * pp)
    t_w_dense = w_dense / (tp * pp) / hw.hbm_bytes_per_s
    t_w_exp = w_exp / (tp * d * pp) / hw.hbm_bytes_per_s
    t_g_dense = mm_flops * grouped_gemm_row_padding(rows_g) / achieved_flops
    t_g_exp = exp_flops * expert_pad / (achieved_flops * hw.grouped_gemm_efficiency)
    t_linear = soft_roofline_s(t_w_dense, t_g_dense, roofline_sharpness) \
        + soft_roofline_s(t_w_exp, t_g_exp, roofline_sharpness)
    return t_w_dense + t_w_exp, t_g_dense + t_g_exp, np.asarray(t_linear)


def elementwise_bytes_per_row(arch: Arch, tp: npt.ArrayLike) -> np.ndarray:
    """HBM bytes the elementwise kernels (norms, residual adds, activation, MoE permute) move
    per row of one iteration, summed over the layers, per GPU [bytes].

    Parameters
    ----------
    arch : Arch
        The model.
    tp : array_like
        Tensor-parallel degree (the MLP width is sharded, the hidden state is not).

    Notes
    -----
    ``L·10·h·2 + L_dense·3·f/t·2 + L_moe·(k·3·f_e/t + 4·k·h)·2`` bytes (gated MLP; 2 passes
    ungated). These kernels are memory-bound and run between the GEMMs, so at large batch
    they cost as much as a GEMM's weight stream: Llama 3.1 8B at 2,048 rows moves ~0.34 GB
    per layer, ~0.11 ms on H100 [5]_.
    """
    t = np.asarray(tp, dtype=float)
    passes = GATED_MLP_PASSES if arch.gated_mlp else UNGATED_MLP_PASSES
    dense_layers = arch.num_layers - arch.num_moe_layers
    h = arch.hidden_size
    per = arch.num_layers * HIDDEN_PASSES_PER_LAYER * h \
        + dense_layers * passes * arch.intermediate_size / t
    if arch.is_moe:
        k = arch.experts_per_token
        per = per + arch.num_moe_layers * (k * passes * arch.moe_intermediate_size / t
                                           + MOE_PERMUTE_PASSES * k * h)
    return np.asarray(per * ACT_BYTES)


def attention_flops_per_s(hw: Hardware) -> float:
    """Rate of the attention cores [FLOP/s]: ``hw.attention_flops_per_s``, else the GEMM rate.

    Parameters
    ----------
    hw : Hardware
        The accelerator as serving sees it (:func:`~gpuplan.demand.serving.fitted.serving_hardware`
        sets the bf16 rate when the GEMMs run in FP8 or FP4).
    """
    gemm = hw.peak_flops_per_s * hw.matmul_efficiency
    return float(hw.attention_flops_per_s or gemm)


def soft_roofline_s(memory_s: npt.ArrayLike, compute_s: npt.ArrayLike, sharpness: float
                    ) -> np.ndarray:
    """A kernel's time from its memory and compute times, with a soft roofline corner [s].

    Parameters
    ----------
    memory_s, compute_s : array_like
        Time to stream its bytes at the achievable bandwidth, and to do its FLOPs at the
        achievable FLOP/s [s].
    sharpness : float
        Exponent ``n`` [—]; ``inf`` gives the hard roofline ``max``.

    Notes
    -----
    ``smax(a, b) = (aⁿ + bⁿ)^(1/n)``: far from the ridge it is the larger term; at the ridge
    (``a = b``) a kernel overlaps its loads and its MMAs imperfectly and takes ``2^(1/n)`` times
    either (Williams et al. 2009's roofline is the bound it approaches) [4]_. Decode expert
    GEMMs sit near the ridge (Mixtral on H200 at batch ~600: ~160 rows per expert, ~320
    FLOP/B in FP8, against a ridge of ~240 FLOP/B), dense decode GEMMs well away from it.
    """
    a = np.asarray(memory_s, dtype=float)
    b = np.asarray(compute_s, dtype=float)
    if math.isinf(sharpness):
        return np.asarray(np.maximum(a, b))
    hi = np.maximum(np.maximum(a, b), np.finfo(float).tiny)
    return np.asarray(hi * ((a / hi) ** sharpness + (b / hi) ** sharpness) ** (1 / sharpness))


def grouped_gemm_row_padding(rows_per_expert: npt.ArrayLike) -> np.ndarray:
    """FLOP inflation of a grouped expert GEMM from padding each expert's rows to whole tiles.

    Parameters
    ----------
    rows_per_expert : array_like
        Mean rows (tokens) routed to each touched expert [rows].

    Notes
    -----
    A grouped GEMM tiles each expert's ``m_e × n`` output separately, so an expert with
    ``m_e`` rows costs ``⌈m_e/128⌉·128`` rows of tensor-core work [2]_:
    ``min_T ⌈m_e/T⌉·T / m_e`` (≥ 1) over the row tiles of :data:`GEMM_TILE_ROW_OPTIONS`. At
    decode an expert often gets tens of rows (Mixtral, batch 384, top-2 of 8: 96 rows, 1.33×
    with 64-row tiles); in prefill the padding vanishes.
    """
    m = np.maximum(np.asarray(rows_per_expert, dtype=float), 1.0)
    pads = [np.ceil(m / t) * t / m for t in GEMM_TILE_ROW_OPTIONS]
    return np.asarray(np.minimum.reduce(pads))
