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


.. [11] Rajbhandari et al. 2022, "DeepSpeed-MoE: Advancing Mixture-of-Experts Inference and
   Training", ICML: expert parallelism places whole experts on GPUs and routes tokens to them
   with all-to-all, in place of slicing every expert by tensor parallelism.
.. [12] DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", arXiv:2412.19437, §3.4 (Inference
   and Deployment): attention with TP4 and data parallelism (DP80 in decode), routed experts
   with EP32 (prefill) / EP320 (decode), token dispatch and combine by all-to-all over NVLink
   and InfiniBand, and redundant experts to balance the expert load.
.. [13] vLLM team 2024-09-05, "vLLM v0.6.0: 2.7x Throughput Improvement and 5x Latency
   Reduction" (blog.vllm.ai/2024/09/05/perf-update.html), Performance Diagnosis: Llama 3 8B on
   one H100, 33 % of the time in the HTTP API server, 29 % scheduling and preparing requests.
.. [8] Osama et al. 2023, "Stream-K: Work-centric Parallel Decomposition for Dense
   Matrix-Matrix Multiplication on the GPU", PPoPP: splitting the K loop across CTAs removes
   the wave-quantisation loss of tile-parallel GEMMs whose tile count is not a multiple of the
   SM count (CUTLASS and cuBLAS ship it).

"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from gpuplan.demand.arch import (
    FLOPS_PER_MAC,
    Arch,
    attention_span,
    matmul_params_active,
    param_counts,
)
from gpuplan.demand.comms import group_time_s
from gpuplan.demand.hardware import Hardware
from gpuplan.demand.memory import ACT_BYTES, weight_bytes
from gpuplan.demand.serving.kernels import (
    attention_flops_per_s,
    attention_s,
    elementwise_bytes_per_row,
    linear_layers_s,
)

#: Weight formats and the tensor dtype their matmuls run in: weight-only int8/int4 (AWQ/GPTQ)
#: dequantise to bf16; fp8 is W8A8; fp4 is NVFP4 W4A4 (Blackwell).
COMPUTE_DTYPE = {"bf16": "bf16", "fp16": "fp16", "fp32": "fp32", "fp8": "fp8", "int8": "bf16",
                 "int4": "bf16", "fp4": "fp4"}
#: Tensor-parallel all-reduces per layer (after attention and after the MLP) [1]_.
TP_ALL_REDUCES_PER_LAYER = 2
#: MoE all-to-alls per MoE layer in inference: dispatch and combine.
EP_ALL_TO_ALLS_PER_LAYER = 2
#: Standard normal 99th percentile, for the p99 of a Poisson occupancy (normal approximation).
Z_P99 = 2.3263
#: p99 quantile used for latency targets.
P99 = 0.99
#: Utilisation is clipped below 1 (the M/M/1 wait diverges at 1), and floored above 0 under the
#: logarithm of :func:`p99_wait_s`.
MAX_QUEUE_UTILISATION = 0.999
MIN_LOG_UTILISATION = 1e-12


def decode_step_s(arch: Arch, hw: Hardware, *, weight_format: str, kv_dtype: str,
                  batch: npt.ArrayLike, context: npt.ArrayLike, tp: npt.ArrayLike,
                  pp: npt.ArrayLike, overhead_per_layer_s: float,
                  prefill_tokens: npt.ArrayLike = 0.0, prefill_span: npt.ArrayLike = 1.0,
                  kv_read_efficiency: float = 1.0, overhead_per_iteration_s: float = 0.0,
                  verify_tokens: npt.ArrayLike = 0.0, tp_comm_efficiency: float = 1.0,
                  roofline_sharpness: float = math.inf, ep: npt.ArrayLike = 1,
                  attention_dp: npt.ArrayLike = 1, overhead_per_sequence_s: float = 0.0
                  ) -> dict[str, np.ndarray]:
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
    overhead_per_sequence_s : float
        Host time per running sequence per iteration that the GPU waits for (scheduling it,
        preparing its inputs, sampling) [s] [13]_.
    verify_tokens : array_like
        Draft tokens each sequence verifies in this pass (speculative decoding's γ): every
        sequence then runs ``1 + γ`` query rows through the GEMMs and attention, while its KV
        cache is still read once [tokens].
    tp_comm_efficiency : float
        Share of the collective model's all-reduce bandwidth the engine's tensor-parallel
        all-reduces reach on the decode critical path [fraction].
    roofline_sharpness : float
        Exponent of :func:`soft_roofline_s` for the linear layers [—]; ``inf`` = the hard
        ``max`` roofline.
    ep, attention_dp : array_like
        Expert-parallel degree (``E/ep`` experts per GPU, each sliced ``tp·attention_dp/ep``
        ways; ``ep > 1`` routes tokens by all-to-all, :func:`moe_comm_s`) and attention
        data-parallel degree (``attention_dp`` groups of TP=``tp``, each with its share of the
        sequences and their KV; DeepSeek-V3 §3.4 [12]_) [—].

    Returns
    -------
    dict
        ``weights_s`` (weight streaming), ``gemm_s`` (GEMM FLOPs), ``kv_read_s``,
        ``attention_s`` (the attention kernels' roofline), ``tp_comm_s``, ``ep_comm_s``,
        ``pp_comm_s`` (the stage-to-stage send), ``overhead_s`` and ``step_s``, each [s].

    Notes
    -----
    The GEMMs and the attention kernels are different kernels, so their rooflines add [1]_::

        T = smax(W_dense/BW, F_dense/(peak·η))                       # dense linear layers
          + smax(W_touched/BW, F_expert·pad/(peak·η·η_moe))          # MoE grouped GEMM
          + max(KV_read/(BW·ε_kv), F_attn,decode/R_attn)             # decode attention
          + F_attn,prefill/R_attn                                    # prefill attention
          + (b+P)·B_elementwise/(p·BW)                                 # norms, adds, act.
          + 2·(L/p)·t_allreduce((b+P)·h·2)/ε_tp + t_EP + [p > 1] t_sendrecv((b+P)·h·2)
          + (L/p)·t_layer + t_iteration + b·t_sequence

    With attention data parallelism ``d`` the dense terms, attention and elementwise kernels
    see the ``(b+P)/d`` rows of one group, the expert terms all ``b+P`` rows over ``t·d``
    GPUs, and the communication is :func:`moe_comm_s`'s; ``d = 1`` is the formula above.
    The kernel terms are :mod:`~gpuplan.demand.serving.kernels`'s: ``R_attn`` the bf16 rate
    when the GEMMs run in FP8/FP4, ``η_moe`` the grouped expert GEMMs' share of the dense
    rate, W_touched the experts the batch touches, ``pad`` the row padding of the tiles
    (stream-K leaves no wave-quantisation loss [8]_). Bandwidth shows twice: in the weight
    stream and in the KV stream, which dominates at long contexts and large batches.
    """
    b, ctx, tp, pp = (np.asarray(x, dtype=float) for x in (batch, context, tp, pp))
    dp = np.asarray(attention_dp, dtype=float)
    ptok = np.asarray(prefill_tokens, dtype=float)
    q = 1.0 + np.asarray(verify_tokens, dtype=float)  # query rows per decoding sequence
    rows = b * q + ptok
    b_g, ptok_g, rows_g = b / dp, ptok / dp, rows / dp  # one attention group's share
    t_weights, t_gemm, t_linear = linear_layers_s(arch, hw, weight_format=weight_format,
                                                  rows=rows, tp=tp, pp=pp,
                                                  roofline_sharpness=roofline_sharpness,
                                                  attention_dp=dp)
    t_kv, t_attn = attention_s(arch, hw, kv_dtype=kv_dtype, batch=b_g, rows_per_sequence=q,
                               context=ctx, prefill_tokens=ptok_g, prefill_span=prefill_span,
                               tp=tp, pp=pp, kv_read_efficiency=kv_read_efficiency)
    layers = np.ceil(arch.num_layers / pp)
    t_tp, t_ep = moe_comm_s(arch, hw, rows_group=rows_g, rows_moe=rows, tp=tp,
                            attention_dp=dp, ep=ep, layers=layers,
                            tp_comm_efficiency=tp_comm_efficiency)
    # pipeline: each group sends its rows to the next stage (NVLink while the replica fits)
    msg = rows_g * arch.hidden_size * ACT_BYTES
    t_pp = np.where(pp > 1, group_time_s("send_recv", msg, 2, tp * dp, hw.domain, hw.up,
                                         hw.out), 0.0)
    t_over = layers * overhead_per_layer_s + overhead_per_iteration_s \
        + b * overhead_per_sequence_s
    t_elem = rows_g * elementwise_bytes_per_row(arch, tp) / (pp * hw.hbm_bytes_per_s)
    zero = 0 * rows
    return {"weights_s": t_weights + zero, "gemm_s": t_gemm + zero, "linear_s": t_linear + zero,
            "kv_read_s": t_kv + zero, "attention_s": t_attn + zero, "tp_comm_s": t_tp + zero,
            "ep_comm_s": t_ep + zero, "pp_comm_s": t_pp + zero, "overhead_s": t_over + zero,
            "elementwise_s": t_elem + zero,
            "step_s": t_linear + t_attn + t_elem + t_tp + t_ep + t_pp + t_over}


def moe_comm_s(arch: Arch, hw: Hardware, *, rows_group: npt.ArrayLike,
               rows_moe: npt.ArrayLike, tp: npt.ArrayLike, attention_dp: npt.ArrayLike,
               ep: npt.ArrayLike, layers: npt.ArrayLike, tp_comm_efficiency: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-parallel and expert-parallel communication of one pass on one stage [s].

    Parameters
    ----------
    arch : Arch
        The model.
    hw : Hardware
        The accelerator (its scale-up domain and both tiers' collective figures).
    rows_group : array_like
        Rows (tokens) of one attention group [rows].
    rows_moe : array_like
        Rows reaching each MoE layer from all ``attention_dp`` groups of the stage [rows].
    tp, attention_dp, ep : array_like
        Tensor-parallel degree of the dense part, attention data-parallel degree, and the
        expert-parallel degree (dividing ``tp·attention_dp``) [—].
    layers : array_like
        Layers on the stage [layers].
    tp_comm_efficiency : float
        Share of the modelled collective bandwidth reached on the critical path [fraction].

    Returns
    -------
    tuple of ndarray
        ``(tp_comm_s, ep_comm_s)`` [s].

    Notes
    -----
    Ranks are laid out TP innermost, then the attention groups, so the ``ep`` GPUs of an
    expert group are consecutive and stay on NVLink while ``ep`` ≤ the scale-up domain; past
    it :func:`~gpuplan.demand.comms.group_time_s` takes the scale-out figures at one NIC per
    GPU (each GPU's tokens for other domains leave through its own NIC; DeepSeek-V3 §3.4
    bounds its cross-node dispatch by the InfiniBand bandwidth [12]_). Per layer:

    * attention (and a dense MLP): one all-reduce of ``rows_group·h·2`` bytes over ``t``;
    * MoE layer, ``ep = 1``: the experts are sliced over all ``t·d`` GPUs, so every token is
      gathered to them and the partial sums reduced: one all-reduce of ``rows_moe·h·2``
      bytes over ``t·d`` (``d = 1``: the TP all-reduce of the dense MLP);
    * MoE layer, ``ep > 1``: dispatch and combine, two all-to-alls over ``ep`` GPUs of
      ``rows_group·k·h·2/t`` bytes per GPU (the TP ranks of a group hold the same tokens,
      so each dispatches its ``1/t`` share) and, when ``t > 1``, an all-gather of the
      group's ``rows_group·h·2`` combined rows over its ``t`` GPUs (both in ``ep_comm_s``),
      plus an all-reduce of ``rows_group·h·2`` over the ``t·d/ep`` GPUs that share each
      expert's slices (in ``tp_comm_s``) [11]_ [12]_.

    Experts are assumed evenly loaded: no public per-layer imbalance figure for inference was
    found to cite (DeepSeek-V3 §3.4 [12]_ replicates hot experts to balance the load instead);
    the all-to-all runs at the catalog's all-to-all bus bandwidth (DeepEP's, where measured).
    """
    rg, rm = np.asarray(rows_group, dtype=float), np.asarray(rows_moe, dtype=float)
    t, d, e = (np.asarray(x, dtype=float) for x in (tp, attention_dp, ep))
    h, L = arch.hidden_size, np.asarray(layers, dtype=float)
    moe_share = arch.num_moe_layers / arch.num_layers if arch.is_moe else 0.0
    use_ep = e > 1
    reduces = TP_ALL_REDUCES_PER_LAYER - moe_share
    t_tp = reduces * L * group_time_s("all_reduce", rg * h * ACT_BYTES, t, 1, hw.domain, hw.up,
                                      hw.out)
    if arch.is_moe:
        expert_group = t * d / e
        moe_rows = np.where(use_ep, rg, rm)
        t_tp = t_tp + moe_share * L * group_time_s(
            "all_reduce", moe_rows * h * ACT_BYTES, np.where(use_ep, expert_group, t * d), 1,
            hw.domain, hw.up, hw.out)
    a2a = rg * arch.experts_per_token * h * ACT_BYTES / t
    # past the domain every GPU's cross-domain share leaves through its own NIC: stride = domain
    # makes group_time_s price one NIC per GPU rather than a ring's pooled NICs
    a2a_stride = np.where(e > hw.domain, hw.domain, 1)
    t_ep = np.where(use_ep, L * moe_share * (EP_ALL_TO_ALLS_PER_LAYER * group_time_s(
        "all_to_all", a2a, np.maximum(e, 2), a2a_stride, hw.domain, hw.up, hw.out) + group_time_s(
        "all_gather", rg * h * ACT_BYTES, t, 1, hw.domain, hw.up, hw.out)), 0.0)
    return (np.asarray(t_tp / tp_comm_efficiency),
            np.asarray(t_ep / tp_comm_efficiency))


def prefill_s(arch: Arch, hw: Hardware, *, weight_format: str, input_tokens: npt.ArrayLike,
              tp: npt.ArrayLike, pp: npt.ArrayLike, overhead_per_layer_s: float,
              tp_comm_efficiency: float = 1.0, ep: npt.ArrayLike = 1,
              attention_dp: npt.ArrayLike = 1) -> np.ndarray:
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
    tp_comm_efficiency : float
        Share of the modelled all-reduce bandwidth reached [fraction].
    ep, attention_dp : array_like
        Expert-parallel and attention data-parallel degree (:func:`decode_step_s`) [—]: the
        prompt runs in one attention group, its routed tokens on the experts of all
        ``t·d`` GPUs.

    Notes
    -----
    ``(max(I·2N_dense/(t·peak·η) + I·2N_routed/(t·d·peak·η·η_moe), W_dense/(t·BW) +
    W_experts/(t·d·BW)) + I·F_attn(I/2)/(t·R_attn)) · p`` (the attention kernels at mean span
    I/2 and :func:`attention_flops_per_s`, after the GEMMs) plus the communication of
    :func:`moe_comm_s` at ``I`` rows (TP all-reduces of ``I·h·2`` bytes, two per layer, when
    ``ep = d = 1``) [1]_.
    """
    i, tp, pp = (np.asarray(x, dtype=float) for x in (input_tokens, tp, pp))
    d = np.asarray(attention_dp, dtype=float)
    pc = param_counts(arch)
    attn = FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim) * attention_span(
        arch, np.maximum(i / 2, 1))
    flops = i * FLOPS_PER_MAC * (matmul_params_active(arch) - pc.routed_active) / (tp * pp) \
        + i * FLOPS_PER_MAC * pc.routed_active / (tp * d * pp * hw.grouped_gemm_efficiency)
    w_total = weight_bytes(arch, weight_format)
    w_exp = w_total / pc.total * pc.expert
    w = (w_total - w_exp) / (tp * pp) + w_exp / (tp * d * pp)
    t = np.maximum(flops / (hw.peak_flops_per_s * hw.matmul_efficiency), w / hw.hbm_bytes_per_s) \
        + i * attn / (tp * pp * attention_flops_per_s(hw))
    layers = np.ceil(arch.num_layers / pp)
    t_tp, t_ep = moe_comm_s(arch, hw, rows_group=i, rows_moe=i, tp=tp, attention_dp=d, ep=ep,
                            layers=layers, tp_comm_efficiency=tp_comm_efficiency)
    return np.asarray((t + t_tp + t_ep + layers * overhead_per_layer_s) * pp)


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


def server_mean_concurrency(cap: npt.ArrayLike) -> np.ndarray:
    """Largest mean concurrency whose p99 stays within ``cap`` under Poisson arrivals [sequences].

    Parameters
    ----------
    cap : array_like
        Sequences the replica can hold at once (memory, engine cap) [sequences].

    Notes
    -----
    With Poisson arrivals and no admission wait, the number of sequences in service is Poisson
    with mean ``N̄ = λ·(TTFT + O·TPOT)`` (Little's law; M/G/∞ occupancy [5]_). Its p99 is
    ``N̄ + z·√N̄`` (normal approximation, z = 2.326); solving ``N̄ + z√N̄ = cap`` gives
    ``N̄ = ((√(z² + 4·cap) − z)/2)²``. For cap = 896: 829.
    """
    c = np.asarray(cap, dtype=float)
    return np.asarray(((np.sqrt(Z_P99**2 + 4 * c) - Z_P99) / 2) ** 2)


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
