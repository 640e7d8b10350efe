"""The inference engine model: decode and prefill time, queueing, speculative decoding.

Pure, vectorised functions over candidate replica shapes (TP, PP, batch); the search over them
is :mod:`~gpuplan.demand.serving.search`.

Per replica, with continuous batching at ``b`` concurrent sequences of ``I`` input and ``O``
output tokens, one scheduler iteration takes::

    T(b) = t_decode(b) + (b / O) · t_prefill(I)

(every iteration decodes one token for each of the ``b`` sequences, and on average ``b/O`` new
sequences arrive and are prefilled), so the replica emits ``b / T(b)`` output tokens per second,
TPOT ≈ ``T(b)`` and TTFT = ``t_prefill(I)`` + the wait in the prefill queue.

References
----------
.. [1] Pope et al. 2023, "Efficiently Scaling Transformer Inference", MLSys: decode is
   memory-bandwidth-bound (weights + KV read every step) until the batch makes it compute-bound;
   prefill is compute-bound.
.. [2] Kwon et al. 2023, "Efficient Memory Management for LLM Serving with PagedAttention", SOSP:
   concurrency bounded by KV-cache memory; gpu_memory_utilization.
.. [3] Yu et al. 2022, "Orca: A Distributed Serving System for Transformer-Based Generative
   Models", OSDI: iteration-level (continuous) batching.
.. [4] Agrawal et al. 2024, "Taming Throughput-Latency Tradeoff in LLM Inference with
   Sarathi-Serve", OSDI: prefill interference with decode (chunked prefill).
.. [5] Kleinrock 1975, "Queueing Systems" Vol. 1: M/M/1 waiting-time distribution,
   P(W > t) = ρ·exp(−μ(1−ρ)t).
.. [6] Leviathan et al. 2023, "Fast Inference from Transformers via Speculative Decoding", ICML:
   expected tokens per verification step (1 − α^(γ+1)) / (1 − α).
"""

from __future__ import annotations

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
from gpuplan.demand.comms import group_time_s
from gpuplan.demand.hardware import Hardware, wave_efficiency
from gpuplan.demand.memory import ACT_BYTES, DTYPE_BYTES, kv_shards, weight_bytes

#: Weight formats and the tensor dtype their matmuls run in: weight-only int8/int4 (AWQ/GPTQ)
#: dequantise to bf16; fp8 is W8A8; fp4 is NVFP4 W4A4 (Blackwell).
COMPUTE_DTYPE = {"bf16": "bf16", "fp16": "fp16", "fp32": "fp32", "fp8": "fp8", "int8": "bf16",
                 "int4": "bf16", "fp4": "fp4"}
#: Tensor-parallel all-reduces per layer (after attention and after the MLP) [1]_.
TP_ALL_REDUCES_PER_LAYER = 2
#: MoE all-to-alls per MoE layer in inference: dispatch and combine.
EP_ALL_TO_ALLS_PER_LAYER = 2
#: p99 quantile used for latency targets.
P99 = 0.99
#: Utilisation is clipped below 1 (the M/M/1 wait diverges at 1), and floored above 0 under the
#: logarithm of :func:`p99_wait_s`.
MAX_QUEUE_UTILISATION = 0.999
MIN_LOG_UTILISATION = 1e-12


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


def decode_step_s(arch: Arch, hw: Hardware, *, weight_format: str, kv_dtype: str,
                  batch: npt.ArrayLike, context: npt.ArrayLike, tp: npt.ArrayLike,
                  pp: npt.ArrayLike, overhead_per_layer_s: float,
                  prefill_tokens: npt.ArrayLike = 0.0, prefill_span: npt.ArrayLike = 1.0,
                  kv_read_efficiency: float = 1.0, overhead_per_iteration_s: float = 0.0,
                  verify_tokens: npt.ArrayLike = 0.0) -> dict[str, np.ndarray]:
    """Time of one scheduler iteration on one pipeline stage, operator by operator [s].

    The iteration decodes one token for each of ``batch`` sequences and, with chunked prefill
    [4]_, also runs ``prefill_tokens`` prompt tokens in the same forward pass.

    Parameters
    ----------
    arch : Arch
        The model.
    hw : Hardware
        The accelerator as serving sees it (its peak and serving matmul efficiency in the
        format's compute dtype, :func:`~gpuplan.demand.serving.fitted.serving_hardware`).
    weight_format : str
        Weight format (:data:`~gpuplan.demand.memory.WEIGHT_FORMAT_BITS`).
    kv_dtype : str
        KV-cache dtype.
    batch : array_like
        Sequences decoded together [sequences].
    context : array_like
        Average context per sequence [tokens].
    tp, pp : array_like
        Tensor- and pipeline-parallel degree.
    overhead_per_layer_s : float
        Fixed per-layer time [s].
    prefill_tokens : array_like
        Prompt tokens processed in the same pass [tokens].
    prefill_span : array_like
        Mean attended context of those prompt tokens [tokens].
    kv_read_efficiency : float
        Fraction of achievable HBM bandwidth that paged decode-attention kernels reach
        [fraction].
    overhead_per_iteration_s : float
        Fixed time per scheduler iteration (batch bookkeeping, sampling, host sync) [s].
    verify_tokens : array_like
        Draft tokens each sequence verifies in this pass (speculative decoding's γ): every
        sequence then runs ``1 + γ`` query rows through the GEMMs and attention, while its KV
        cache is still read once [tokens].

    Returns
    -------
    dict
        ``weights_s`` (weight streaming), ``gemm_s`` (GEMM FLOPs), ``kv_read_s``,
        ``attention_s`` (the attention kernels' roofline), ``tp_comm_s``, ``ep_comm_s``,
        ``pp_comm_s`` (the stage-to-stage send), ``overhead_s`` and ``step_s``, each [s].

    Notes
    -----
    The GEMMs and the attention kernels are different kernels, so their rooflines add [1]_::

        T = max(W_read/BW, F_gemm/(peak·η))                          # linear layers
          + max(KV_read/(BW·ε_kv), F_attn,decode/(peak·η))           # decode attention
          + F_attn,prefill/(peak·η)                                  # prefill attention
          + 2·(L/p)·t_allreduce((b+P)·h·2) + t_EP + [p > 1] t_sendrecv((b+P)·h·2)
          + (L/p)·t_layer + t_iteration

    W_read counts, for MoE, only the experts the batch touches; F_gemm is weighted by each
    GEMM's wave efficiency. Bandwidth shows twice: in the weight stream and in the KV stream,
    which grows with batch × context and so dominates at long contexts and large batches.
    """
    b, ctx, tp, pp = (np.asarray(x, dtype=float) for x in (batch, context, tp, pp))
    pc = param_counts(arch)
    w_total = weight_bytes(arch, weight_format)
    bytes_per_param = w_total / pc.total
    ptok = np.asarray(prefill_tokens, dtype=float)
    q = 1.0 + np.asarray(verify_tokens, dtype=float)  # query rows per decoding sequence
    if arch.is_moe:
        touched = expected_experts_touched(arch.num_experts, arch.experts_per_token,
                                           (b * q + ptok) * pp) / arch.num_experts
        w_read = bytes_per_param * (pc.non_expert + pc.expert * touched)
    else:
        w_read = w_total * np.ones_like(b)
    w_read = w_read / (tp * pp)
    kv_read = b * attention_span(arch, ctx) * kv_elements_per_token_per_layer(arch) \
        * DTYPE_BYTES[kv_dtype] / (kv_shards(arch, tp) * pp)
    achieved_flops = hw.peak_flops_per_s * hw.matmul_efficiency
    attn_per_pos = FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim) / (tp * pp)
    rows = b * q + ptok
    mm_flops = rows * FLOPS_PER_MAC * matmul_params_active(arch) / (tp * pp)
    # Tensor-parallel shards make thin GEMMs that leave SMs idle (wave quantisation): weight
    # each dense GEMM's share of the matmul FLOPs by 1 / its wave efficiency.
    t_weights = w_read / hw.hbm_bytes_per_s
    t_gemm = mm_flops * _wave_penalty(arch, rows, tp, hw) / achieved_flops
    t_kv = kv_read / (hw.hbm_bytes_per_s * kv_read_efficiency)
    t_attn = np.maximum(t_kv, b * q * attn_per_pos * attention_span(arch, ctx) / achieved_flops) \
        + ptok * attn_per_pos * attention_span(arch, prefill_span) / achieved_flops
    layers = np.ceil(arch.num_layers / pp)
    msg = rows * arch.hidden_size * ACT_BYTES
    t_tp = TP_ALL_REDUCES_PER_LAYER * layers * group_time_s("all_reduce", msg, tp, 1, hw.domain,
                                                            hw.up, hw.out)
    t_ep = np.zeros_like(b)
    if arch.is_moe:
        a2a = rows * arch.experts_per_token * arch.hidden_size * ACT_BYTES
        t_ep = EP_ALL_TO_ALLS_PER_LAYER * layers * (arch.num_moe_layers / arch.num_layers) \
            * group_time_s("all_to_all", a2a, tp, 1, hw.domain, hw.up, hw.out)
    # pipeline: each stage hands its (b + P) rows of activations to the next once per iteration
    # (send/recv on the scale-up domain while tp·pp fits in it, else across the scale-out link)
    t_pp = np.where(pp > 1, group_time_s("send_recv", msg, 2, tp, hw.domain, hw.up, hw.out), 0.0)
    t_over = layers * overhead_per_layer_s + overhead_per_iteration_s
    zero = 0 * rows
    return {"weights_s": t_weights + zero, "gemm_s": t_gemm + zero, "kv_read_s": t_kv + zero,
            "attention_s": t_attn + zero, "tp_comm_s": t_tp + zero, "ep_comm_s": t_ep + zero,
            "pp_comm_s": t_pp + zero, "overhead_s": t_over + zero,
            "step_s": np.maximum(t_weights, t_gemm) + t_attn + t_tp + t_ep + t_pp + t_over}


def _wave_penalty(arch: Arch, rows: npt.ArrayLike, tp: npt.ArrayLike, hw: Hardware) -> np.ndarray:
    """FLOP-weighted mean of 1 / wave efficiency over a layer's dense GEMMs (≥ 1).

    GEMM outputs per TP rank: QKV ``(a·d + 2k·d)/t``, output ``h``, MLP up(+gate) ``m·f/t``,
    down ``h`` columns; ``rows`` tokens. MoE experts and the LM head are taken as fully
    efficient (their share is weighted 1).
    """
    h, a, k, d = arch.hidden_size, arch.num_heads, arch.num_kv_heads, arch.head_dim
    t = np.asarray(tp, dtype=float)
    up = (2 if arch.gated_mlp else 1) * arch.intermediate_size
    shapes = [((a * d + 2 * k * d) / t, h * (a * d + 2 * k * d)),  # (columns, weights)
              (np.full_like(t, h), a * arch.v_head_dim * h),
              (up / t, h * up), (np.full_like(t, h), arch.intermediate_size * h)]
    dense_layers = arch.num_layers - arch.num_moe_layers
    total = float(matmul_params_active(arch))
    penalty = np.zeros(np.broadcast(np.asarray(rows, dtype=float), t).shape)
    covered = 0.0
    for cols, weights in shapes:
        n_layers = arch.num_layers if weights in (shapes[0][1], shapes[1][1]) else dense_layers
        share = weights * n_layers / total
        covered += share
        penalty = penalty + share / wave_efficiency(rows, cols, hw.compute_units)
    return np.asarray(penalty + max(1.0 - covered, 0.0))


def prefill_s(arch: Arch, hw: Hardware, *, weight_format: str, input_tokens: npt.ArrayLike,
              tp: npt.ArrayLike, pp: npt.ArrayLike, overhead_per_layer_s: float) -> np.ndarray:
    """Time to prefill one prompt of ``input_tokens`` tokens through all stages [s].

    Parameters
    ----------
    arch : Arch
        The model.
    hw : Hardware
        The accelerator.
    weight_format : str
        Weight format.
    input_tokens : array_like
        Prompt length [tokens].
    tp, pp : array_like
        Tensor- and pipeline-parallel degree.
    overhead_per_layer_s : float
        Fixed per-layer time [s].

    Notes
    -----
    ``max(I·(2N + attention at mean span I/2)/(t·peak·η), W/(t·BW)) · p`` plus TP all-reduces of
    ``I·h·2`` bytes, two per layer [1]_.
    """
    i, tp, pp = (np.asarray(x, dtype=float) for x in (input_tokens, tp, pp))
    attn = FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim) * attention_span(
        arch, np.maximum(i / 2, 1))
    flops = i * (FLOPS_PER_MAC * matmul_params_active(arch) + attn) / (tp * pp)
    w = weight_bytes(arch, weight_format) / (tp * pp)
    t = np.maximum(flops / (hw.peak_flops_per_s * hw.matmul_efficiency), w / hw.hbm_bytes_per_s)
    layers = np.ceil(arch.num_layers / pp)
    t_tp = TP_ALL_REDUCES_PER_LAYER * layers * group_time_s(
        "all_reduce", i * arch.hidden_size * ACT_BYTES, tp, 1, hw.domain, hw.up, hw.out)
    return np.asarray((t + t_tp + layers * overhead_per_layer_s) * pp)


def p99_wait_s(service_s: npt.ArrayLike, utilisation: npt.ArrayLike) -> np.ndarray:
    """p99 waiting time of an M/M/1 queue [s] [5]_.

    Parameters
    ----------
    service_s : array_like
        Mean service time [s].
    utilisation : array_like
        Server utilisation ρ [fraction]; clipped below 1.

    Notes
    -----
    ``P(W > t) = ρ·exp(−μ(1−ρ)t)`` ⇒ ``t₉₉ = ln(ρ/0.01) / (μ(1−ρ))`` for ρ > 0.01, else 0.
    """
    s = np.asarray(service_s, dtype=float)
    rho = np.clip(np.asarray(utilisation, dtype=float), 0.0, MAX_QUEUE_UTILISATION)
    mu = 1.0 / s
    t = np.log(np.maximum(rho, MIN_LOG_UTILISATION) / (1 - P99)) / (mu * (1 - rho))
    return np.asarray(np.where(rho > 1 - P99, t, 0.0))


def speculative_speedup(acceptance: float, draft_tokens: int) -> float:
    """Expected tokens per target-model step with speculative decoding [6]_ [tokens].

    Parameters
    ----------
    acceptance : float
        Per-token acceptance rate α [fraction].
    draft_tokens : int
        Draft tokens per step γ [tokens].

    Notes
    -----
    ``(1 − α^(γ+1)) / (1 − α)`` tokens per step. The step's cost is priced elsewhere: the
    target verifies ``γ + 1`` rows per sequence (``verify_tokens`` of :func:`decode_step_s`)
    and the draft model runs ``γ`` decode steps of its own.
    """
    if acceptance >= 1:
        return float(draft_tokens + 1)
    return (1 - acceptance ** (draft_tokens + 1)) / (1 - acceptance)
