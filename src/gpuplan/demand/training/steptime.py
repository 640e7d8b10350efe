"""Step time of a training step, term by term, for every candidate layout at once; FLOPs per token.

Every function here is vectorised over candidate layouts (a mapping of equal-length numpy
arrays), so the search is one pass of array arithmetic, not a Python loop per candidate.

Step time of one layout, per optimizer step::

    t_step = t_mb · (m + (p − 1)/v) + t_dp_exposed + t_optimizer

with ``m`` micro-batches per data-parallel rank, ``p`` pipeline stages, ``v`` virtual stages, and
the time of one micro-batch on one pipeline stage::

    t_mb = t_gemm + t_attention + t_elementwise + t_recompute + t_tp + t_ep + t_cp + t_p2p

References
----------
.. [1] Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters
   Using Megatron-LM", SC21: pipeline bubble (p−1)/(v·m) (Section 2.2), TP/PP communication
   volumes (Section 3), FLOPs per iteration (Section 5.1).
.. [2] Korthikanti et al. 2022, arXiv 2205.05198: sequence parallelism (all-gather +
   reduce-scatter replace the all-reduces), selective recompute.
.. [3] Rajbhandari et al. 2020 (ZeRO): communication of stages 1/2 equals an all-reduce; stage 3
   adds a parameter all-gather in forward and backward (1.5×).
.. [4] Liu et al. 2023, "Ring Attention with Blockwise Transformers", arXiv 2310.01889 (context
   parallelism: KV blocks passed around a ring, overlapped with attention).
.. [5] Lepikhin et al. 2020 (GShard) / Fedus et al. 2022: expert parallelism with all-to-all
   dispatch and combine per MoE layer, forward and backward.
.. [6] Chowdhery et al. 2022 (PaLM) Appendix B: MFU with 6N + 12·L·H·Q·T model FLOPs per token.
.. [7] Dao 2023, "FlashAttention-2", arXiv 2307.08691: 50-73 % of peak on A100 forward+backward;
   the backward (Algorithm 2) recomputes ``S = QKᵀ`` and ``P`` block by block.
.. [8] Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", arXiv 2106.09685.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpuplan.demand.arch import (
    FLOPS_PER_MAC,
    Arch,
    attention_span,
    forward_flops_per_token,
    param_counts,
    training_flops_per_token,
)
from gpuplan.demand.comms import group_time_s
from gpuplan.demand.hardware import Hardware, gemm_time_s, with_collective_size_model
from gpuplan.demand.memory import (
    ACT_BYTES,
    DEFAULT_LORA_RANK,
    FULL_RECOMPUTE,
    LOGIT_BYTES,
    LORA_BASE_BYTES,
    SELECTIVE_RECOMPUTE,
    TRAIN_WEIGHT_BYTES,
    ZERO_SHARDS_OPTIMIZER,
    ZERO_SHARDS_PARAMETERS,
    activation_bytes_per_layer,
    lora_params,
    weight_bytes,
)
from gpuplan.demand.training.frameworks import (
    FUSED_ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE,
    FrameworkProfile,
    framework_profile,
)

# -- efficiency parameters (named, documented; fitted values live in calibration) ------------
#: FlashAttention reaches this fraction of the dense-matmul ceiling (MAMF) on the attention core
#: (FlashAttention-2: 50-73 % of peak on A100 [7]_, i.e. ≈ 0.6-0.9 of MAMF; we take 0.75).
FLASH_ATTENTION_FRACTION_OF_MAMF = 0.75
#: HBM bytes per attention-score element of unfused attention (Megatron-LM before
#: FlashAttention, Narayanan et al. 2021): forward QKᵀ writes the fp16 scores (2), the fused
#: scale-mask-softmax reads and writes them (4), dropout reads them and writes probabilities
#: and its 1-byte mask (5), AV reads them (2); the backward pass reads and writes each of these
#: once more (2×). Counted from the kernels' inputs and outputs.
UNFUSED_SCORE_BYTES_FORWARD = 13.0
UNFUSED_SCORE_BYTES_BACKWARD = 26.0
#: Elementwise HBM traffic per byte of stored activation with fused kernels (the profile
#: default; kept here under its old name for the recsys trainer).
ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE = FUSED_ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE
#: Passes over the fp32 logits in the loss (write, softmax read, gradient write, gradient read).
LOSS_TRAFFIC_PASSES = 4.0
#: Bytes the optimizer step moves per local parameter: read fp32 master/m/v and bf16 grad, write
#: fp32 master/m/v and the bf16 weight (4·3 + 2 + 4·3 + 2).
OPTIMIZER_STEP_BYTES_PER_PARAM = 28.0
#: Gradient bucket of the data-parallel reduction [params] (Megatron-LM's default bucket is 40M
#: parameters; PyTorch DDP's bucket_cap_mb = 25 MiB). The bytes per gradient element are the
#: framework profile's (:mod:`gpuplan.demand.training.frameworks`).
GRAD_BUCKET_PARAMS = 40e6
#: ZeRO-3 gradient reduce-scatters run in buckets of at least this many parameters
#: (DeepSpeed's documented default reduce_bucket_size 5e8, deepspeed.ai/docs/config-json).
ZERO3_REDUCE_BUCKET_PARAMS = 5e8
#: Backward matmuls cost twice the forward (input and weight gradients) [1]_.
BACKWARD_OVER_FORWARD = 2.0
#: LoRA/QLoRA backward: only the input-gradient matmuls (the frozen base has no weight
#: gradient; the rank-r adapters' are negligible) — Hu et al. 2021 Section 4.2 [8]_.
LORA_BACKWARD_OVER_FORWARD = 1.0
#: FlashAttention's backward does 2.5× the forward's FLOPs: it recomputes the scores ``QKᵀ``
#: from the saved log-sum-exp instead of reading a stored score matrix, so five matmuls run
#: where the forward has two [7]_ (Algorithm 2; the FLOP count of its benchmark script,
#: ``benchmarks/benchmark_flash_attention.py``: bwd = 2.5 × fwd). Model FLOPs still count the
#: backward as 2× the forward; this is the kernel's work, which sets its time.
FLASH_BACKWARD_OVER_FORWARD = 2.5
#: Share of one micro-batch's time available to hide the gradient reduce-scatter/all-reduce
#: (overlapped with the backward of the last micro-batch) and the ZeRO parameter all-gather
#: (overlapped with the forward of the first): the backward is 2/3 of a micro-batch.
DP_OVERLAP_WINDOW_FRACTION = 2.0 / 3.0
#: DualPipe's bubble per pair of stages in micro-batch times (DeepSeek-AI 2024, DeepSeek-V3
#: Technical Report, Table 2: (PP/2 − 1)(F&B + B − 3W)), with F = 1/3, B = 2/3 of a
#: micro-batch, F&B = F + B and W = B/2 (weight gradients half the backward): 2/3.
DUALPIPE_BUBBLE_PER_STAGE = 2.0 / 3.0
#: TP collectives per layer with sequence parallelism: an all-gather and a reduce-scatter before
#: and after attention and MLP, forward and backward (4 pairs); full recompute repeats the
#: forward's 2 [2]_.
TP_COLLECTIVE_PAIRS_PER_LAYER = 4
TP_COLLECTIVE_PAIRS_RECOMPUTED = 2
#: MoE all-to-alls per MoE layer: dispatch and combine, forward and backward [5]_.
EP_ALL_TO_ALLS_PER_LAYER = 4
#: Training modes that freeze the base and train adapters only.
ADAPTER_MODES = ("lora", "qlora")
#: Weight format of QLoRA's frozen base (NF4, Dettmers et al. 2023).
QLORA_BASE_FORMAT = "nf4"

#: The terms of :func:`step_time`'s breakdown [s], and how reports name them.
BREAKDOWN_KEYS = ("compute_s", "attention_s", "memory_bound_s", "recompute_s", "tp_comm_s",
                  "ep_comm_s", "cp_comm_s", "pp_comm_s", "bubble_s", "dp_comm_exposed_s",
                  "optimizer_s")
BREAKDOWN_LABELS = {
    "compute_s": "matmul compute", "attention_s": "attention core",
    "memory_bound_s": "memory-bound kernels", "recompute_s": "recompute",
    "tp_comm_s": "TP collectives exposed", "ep_comm_s": "MoE all-to-all exposed",
    "cp_comm_s": "context-parallel ring exposed", "pp_comm_s": "pipeline sends exposed",
    "bubble_s": "pipeline bubble", "dp_comm_exposed_s": "DP gradient sync exposed",
    "optimizer_s": "optimizer step"}


@dataclass(frozen=True)
class _Candidates:
    """The candidate layouts as float arrays, with the quantities every term uses."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    mb: np.ndarray
    vpp: np.ndarray
    rc: np.ndarray
    zero: np.ndarray
    m: np.ndarray  # micro-batches per data-parallel rank
    tokens: np.ndarray  # tokens of one micro-batch on one CP rank
    layers: np.ndarray  # layers on the busiest pipeline stage


def layer_gemm_time_s(arch: Arch, tokens: npt.ArrayLike, tp: npt.ArrayLike, ep: npt.ArrayLike,
                      hw: Hardware, moe_layer: bool) -> np.ndarray:
    """Forward matmul time of one layer on one rank for ``tokens`` local tokens [s].

    Parameters
    ----------
    arch : Arch
        The model.
    tokens : array_like
        Tokens of one micro-batch on one rank [tokens].
    tp, ep : array_like
        Tensor- and expert-parallel degree.
    hw : Hardware
        The accelerator.
    moe_layer : bool
        Time the MoE block instead of the dense MLP.

    Notes
    -----
    Each GEMM's compute time includes wave quantisation of its output tiles over the SMs
    (:func:`gpuplan.demand.hardware.wave_efficiency`). Column/row-parallel shards over TP:
    QKV ``tokens × h × (a·d + 2k·d)/t``, output ``tokens × a·d_v/t × h``, MLP
    ``tokens × h × m·f/t`` split into up(+gate) and down. MoE layers run ``top_k`` experts per
    token; with EP each rank holds ``E/e`` experts and receives
    ``tokens·top_k`` rows spread over them.
    """
    h, a, k, d, dv = arch.hidden_size, arch.num_heads, arch.num_kv_heads, arch.head_dim, \
        arch.v_head_dim
    t = np.asarray(tp, dtype=float)
    T = np.asarray(tokens, dtype=float)
    args = (hw.peak_flops_per_s, hw.matmul_efficiency, hw.hbm_bytes_per_s, ACT_BYTES,
            hw.compute_units, hw.gemm_k_fill_elements)
    if arch.is_mla:
        qkv_out = (a * d + a * (d - arch.qk_rope_head_dim) + a * dv) / t
        attn = (gemm_time_s(T, h, (arch.q_lora_rank or a * d) + arch.kv_lora_rank
                            + arch.qk_rope_head_dim, *args)
                + gemm_time_s(T, arch.q_lora_rank or h, qkv_out, *args))
    else:
        attn = gemm_time_s(T, h, (a * d + 2 * k * d) / t, *args)
    attn = attn + gemm_time_s(T, a * dv / t, h, *args)
    up_mats = 2 if arch.gated_mlp else 1
    if moe_layer:
        e = np.asarray(ep, dtype=float)
        experts_local = arch.num_experts / e
        rows_per_expert = T * arch.experts_per_token * e / arch.num_experts
        f = arch.moe_intermediate_size / t
        mlp = experts_local * (gemm_time_s(rows_per_expert, h, up_mats * f, *args)
                               + gemm_time_s(rows_per_expert, f, h, *args))
        if arch.num_shared_experts:
            fs = arch.num_shared_experts * arch.shared_intermediate_size / t
            mlp = mlp + gemm_time_s(T, h, up_mats * fs, *args) + gemm_time_s(T, fs, h, *args)
        mlp = mlp + gemm_time_s(T, h, arch.num_experts, *args)  # router
    else:
        f = arch.intermediate_size / t
        mlp = gemm_time_s(T, h, up_mats * f, *args) + gemm_time_s(T, f, h, *args)
    return np.asarray(attn + mlp)


def _compute_terms(arch: Arch, c: _Candidates, s: float, hw: Hardware, mode: str,
                   fw: FrameworkProfile) -> dict[str, np.ndarray]:
    """Matmuls, attention core, memory-bound kernels and recompute of one micro-batch [s]."""
    L = arch.num_layers
    frac_moe = arch.num_moe_layers / L
    # Matmuls: forward + backward (2×) of the stage's layers, plus the LM head on the last stage.
    gemm_dense = layer_gemm_time_s(arch, c.tokens, c.tp, c.ep, hw, moe_layer=False)
    gemm = gemm_dense
    if arch.is_moe:
        gemm = (1 - frac_moe) * gemm_dense + frac_moe * layer_gemm_time_s(
            arch, c.tokens, c.tp, c.ep, hw, moe_layer=True)
    head = gemm_time_s(c.tokens, arch.hidden_size, arch.vocab_size / c.tp, hw.peak_flops_per_s,
                       hw.matmul_efficiency, hw.hbm_bytes_per_s, ACT_BYTES, hw.compute_units,
                       hw.gemm_k_fill_elements)
    fwd_gemm = c.layers * gemm + head / c.pp  # head spread: it sits on one of p stages
    gemm_backward = LORA_BACKWARD_OVER_FORWARD if mode in ADAPTER_MODES \
        else BACKWARD_OVER_FORWARD
    compute = fwd_gemm * (1 + gemm_backward)

    # Attention core (FlashAttention): 2·a·(d_qk + d_v) FLOPs per token per attended position.
    span_per_layer = attention_span(arch, s) / L
    attn_flops_fwd = FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim) \
        * span_per_layer * c.tokens / c.tp
    # FlashAttention runs in bf16 under FP8 GEMMs (Transformer Engine keeps attention in bf16).
    gemm_rate = hw.peak_flops_per_s * hw.matmul_efficiency
    attn_rate = (hw.attention_flops_per_s or gemm_rate) * FLASH_ATTENTION_FRACTION_OF_MAMF
    # ... never above what the framework's attention kernel reaches on this generation
    cap = fw.attention_peak_fraction.get(hw.generation or "")
    if cap is not None and hw.half_peak_flops_per_s:
        attn_rate = min(attn_rate, cap * hw.half_peak_flops_per_s)
    attn_fwd = c.layers * attn_flops_fwd / attn_rate
    # fused kernels recompute the scores in the backward; unfused ones read them back from HBM
    attn_backward = BACKWARD_OVER_FORWARD if fw.materialises_scores \
        else FLASH_BACKWARD_OVER_FORWARD
    attention = attn_fwd * (1 + attn_backward)
    if fw.materialises_scores:  # unfused attention: the a·s² score matrix goes through HBM
        scores = c.layers * arch.num_heads / c.tp * c.tokens * s
        attn_fwd = attn_fwd + scores * UNFUSED_SCORE_BYTES_FORWARD / hw.hbm_bytes_per_s
        attention = attention + scores * (UNFUSED_SCORE_BYTES_FORWARD
                                          + UNFUSED_SCORE_BYTES_BACKWARD) / hw.hbm_bytes_per_s

    # Memory-bound kernels: traffic proportional to the stored activations (no recompute).
    act_layer = activation_bytes_per_layer(arch, seq_len=s, mb=c.mb, tp=c.tp, cp=c.cp,
                                           sp=(c.tp > 1).astype(float), recompute=0)
    elementwise = c.layers * act_layer * fw.elementwise_traffic_per_activation_byte \
        / hw.hbm_bytes_per_s
    # Loss: fp32 logits written, read by the softmax/cross-entropy, gradient written and read by
    # the LM-head backward (LOSS_TRAFFIC_PASSES passes over tokens·V/t·4 bytes, last stage).
    loss = LOSS_TRAFFIC_PASSES * c.tokens * arch.vocab_size / c.tp * LOGIT_BYTES \
        / hw.hbm_bytes_per_s
    elementwise = elementwise + loss / c.pp + c.layers * fw.layer_overhead_s

    # Recompute: selective re-runs the attention core forward; full re-runs the whole forward.
    full_fwd = fwd_gemm + attn_fwd + elementwise / (1 + BACKWARD_OVER_FORWARD)
    recompute = np.where(c.rc >= FULL_RECOMPUTE, full_fwd,
                         np.where(c.rc >= SELECTIVE_RECOMPUTE, attn_fwd, 0.0))
    return {"compute": compute, "attention": attention, "attn_fwd": attn_fwd,
            "elementwise": elementwise, "recompute": recompute}


def _model_parallel_comm(arch: Arch, c: _Candidates, hw: Hardware, attn_fwd: np.ndarray
                         ) -> dict[str, np.ndarray]:
    """Exposed TP, EP, CP and pipeline communication of one micro-batch [s]."""
    frac_moe = arch.num_moe_layers / arch.num_layers
    tp, cp, ep, layers = c.tp, c.cp, c.ep, c.layers
    # TP with sequence parallelism: per layer 2 all-gathers + 2 reduce-scatters forward and the
    # same backward, each of the full activation tensor tokens·h·2 bytes [2]_; full recompute
    # repeats the forward ones.
    act_msg = c.tokens * arch.hidden_size * ACT_BYTES
    tp_one = (group_time_s("all_gather", act_msg, tp, 1, hw.domain, hw.up, hw.out)
              + group_time_s("reduce_scatter", act_msg, tp, 1, hw.domain, hw.up, hw.out))
    tp_comm = layers * tp_one * (TP_COLLECTIVE_PAIRS_PER_LAYER + np.where(
        c.rc >= FULL_RECOMPUTE, TP_COLLECTIVE_PAIRS_RECOMPUTED, 0))

    # MoE all-to-all: dispatch + combine, forward and backward, of tokens·top_k·h·2 bytes [5]_.
    a2a_msg = c.tokens * max(arch.experts_per_token, 1) * arch.hidden_size * ACT_BYTES
    ep_one = group_time_s("all_to_all", a2a_msg, ep, tp * cp, hw.domain, hw.up, hw.out)
    ep_comm = layers * frac_moe * ep_one * EP_ALL_TO_ALLS_PER_LAYER if arch.is_moe \
        else np.zeros_like(tp)

    # Context parallel ring: (cp−1) KV blocks forward, twice that backward, hidden behind the
    # attention core of each block [4]_.
    kv_block = c.tokens * 2 * arch.num_kv_heads * arch.head_dim * ACT_BYTES / np.minimum(
        tp, arch.num_kv_heads)
    ring = (cp - 1) * group_time_s("send_recv", kv_block, cp, tp, hw.domain, hw.up, hw.out)
    cp_comm = layers * (np.maximum(ring - attn_fwd / layers, 0)
                        + np.maximum(2 * ring - 2 * attn_fwd / layers, 0))
    cp_comm = np.where(cp > 1, cp_comm, 0.0)

    # Pipeline: send activations forward and gradients back per micro-batch and virtual stage.
    p2p_msg = c.tokens * arch.hidden_size * ACT_BYTES / tp
    p2p = group_time_s("send_recv", p2p_msg, 2 * np.ones_like(c.pp), tp * cp * c.dp, hw.domain,
                       hw.up, hw.out)
    pp_comm = np.where(c.pp > 1, 2 * c.vpp * p2p, 0.0)
    return {"tp": tp_comm, "ep": ep_comm, "cp": cp_comm, "pp": pp_comm}


def _zero3_exposed(c: _Candidates, hw: Hardware, fw: FrameworkProfile,
                   gathered_layer: np.ndarray, trained_layer: np.ndarray,
                   gather_bytes_per_param: float, compute_layer: np.ndarray,
                   recompute_layer: np.ndarray) -> np.ndarray:
    """Exposed ZeRO-3 / FSDP communication of one step, layer by layer and micro-batch [s].

    Parameters
    ----------
    c : _Candidates
        The layouts.
    hw : Hardware
        The accelerator, with the message-size model of its fabrics.
    fw : FrameworkProfile
        Its fitted parameters per collective and overlap share, and gradient bytes.
    gathered_layer, trained_layer : ndarray
        Parameters of one layer on one model-parallel rank that are gathered / whose
        gradients are reduce-scattered [params].
    gather_bytes_per_param : float
        Bytes per gathered parameter [bytes].
    compute_layer, recompute_layer : ndarray
        Matmul + attention time (forward + backward) and recompute time of one layer and
        micro-batch [s].

    Notes
    -----
    Per layer and micro-batch: the forward all-gather ``G`` (prefetched behind the layer's
    forward ``c/3``), then in backward the re-gather, a second one under full recompute, and the
    gradient reduce-scatter ``R``, all sharing the NIC in the backward window ``2c/3 + r``
    (Rajbhandari et al. 2020 [3]_, Section 7; ZeRO-3 moves 1.5× the data-parallel volume, plus
    the recompute re-gather)::

        exposed = m · L · (max(G − c/3, (1−η)·G) + max(k·G + R − (2c/3 + r), (1−η)·(k·G + R)))

    with ``k`` = 1 (+1 under full recompute) and ``η`` the framework's overlap share. The
    collectives carry ``fw.zero3_message_params`` parameters each (reduce-scatters at least
    :data:`ZERO3_REDUCE_BUCKET_PARAMS`) over the whole data-parallel group, at the bus
    bandwidth of that message size on that many ranks (:func:`gpuplan.demand.comms.group_time_s`
    with the fitted size model): on hundreds of ranks a 100-300 MB message reaches a small
    share of the plateau, so the exposed time grows as compute per GPU shrinks at fixed batch.
    """
    dp_group = c.dp * c.cp

    def bucketed(kind: str, params: np.ndarray, bytes_per_param: float, bucket: float
                 ) -> np.ndarray:
        pieces = np.maximum(np.ceil(params / bucket), 1.0)
        return pieces * group_time_s(kind, bytes_per_param * params / pieces, dp_group, c.tp,
                                     hw.domain, hw.up, hw.out)

    gather = bucketed("all_gather", gathered_layer, gather_bytes_per_param,
                      fw.zero3_message_params)
    scatter = bucketed("reduce_scatter", trained_layer, fw.grad_reduce_bytes,
                       max(fw.zero3_message_params, ZERO3_REDUCE_BUCKET_PARAMS))
    forward_window = compute_layer / (1 + BACKWARD_OVER_FORWARD)
    backward_window = compute_layer - forward_window + recompute_layer
    regathers = 1.0 + (c.rc >= FULL_RECOMPUTE)
    backward_load = regathers * gather + scatter
    hidden = fw.zero3_overlap_fraction
    per_layer = (np.maximum(gather - forward_window, (1.0 - hidden) * gather)
                 + np.maximum(backward_load - backward_window, (1.0 - hidden) * backward_load))
    return np.asarray(c.m * c.layers * per_layer)


def _data_parallel_terms(arch: Arch, c: _Candidates, hw: Hardware, fw: FrameworkProfile,
                         mode: str, t_mb: np.ndarray, compute_layers: np.ndarray,
                         recompute: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exposed data-parallel communication and the optimizer step of one step [s].

    Gradient all-reduce (ZeRO 0) or reduce-scatter + parameter all-gather (ZeRO 1-2) hidden
    behind the last micro-batch's backward (and the next forward where the framework overlaps
    the gather); ZeRO-3 per layer and micro-batch (:func:`_zero3_exposed`) [3]_. Experts sync over
    dp·cp/ep. ``compute_layers`` is the matmul + attention time of the stage's layers per
    micro-batch, ``recompute`` their recompute time.
    """
    tp, pp, ep, layers = c.tp, c.pp, c.ep, c.layers
    adapters = mode in ADAPTER_MODES
    pc = param_counts(arch)
    dense_local = pc.non_expert / (tp * pp)
    expert_local = pc.expert / (tp * pp * ep)
    base_local = dense_local + expert_local
    base_bytes_per_param = TRAIN_WEIGHT_BYTES
    if adapters:  # only the adapters train; the frozen base is gathered under ZeRO-3
        base_bytes_per_param = (weight_bytes(arch, QLORA_BASE_FORMAT) / pc.total
                                if mode == "qlora" else LORA_BASE_BYTES)
        dense_local = lora_params(arch, DEFAULT_LORA_RANK) / (tp * pp)
        expert_local = np.zeros_like(dense_local)
    dp_group = c.dp * c.cp

    def bucketed(kind: str, nbytes: np.ndarray, ranks: np.ndarray, stride: np.ndarray,
                 pieces: np.ndarray) -> np.ndarray:
        # gradients are reduced in buckets (or per layer): `pieces` collectives of nbytes/pieces
        return pieces * group_time_s(kind, nbytes / pieces, ranks, stride, hw.domain, hw.up,
                                     hw.out)

    buckets_dense = np.maximum(np.ceil(dense_local / GRAD_BUCKET_PARAMS), 1.0)
    buckets_expert = np.maximum(np.ceil(expert_local / GRAD_BUCKET_PARAMS), 1.0)

    def sync(kind: str, bytes_per_param: float) -> np.ndarray:
        # dense gradients over dp·cp; expert gradients over the ranks holding the same experts
        t = bucketed(kind, bytes_per_param * dense_local, dp_group, tp, buckets_dense)
        return t + np.where(expert_local > 0, bucketed(
            kind, np.maximum(bytes_per_param * expert_local, 1.0), np.maximum(dp_group / ep, 1),
            tp * ep, buckets_expert), 0.0)

    backward_window = DP_OVERLAP_WINDOW_FRACTION * t_mb
    forward_window = (1.0 - DP_OVERLAP_WINDOW_FRACTION) * t_mb if fw.param_gather_overlap \
        else np.zeros_like(t_mb)
    zero3_on = c.zero >= ZERO_SHARDS_PARAMETERS
    sharded = (c.zero >= ZERO_SHARDS_OPTIMIZER) & ~zero3_on
    # Replicated optimizer: one all-reduce of the gradients behind the last backward. Sharded
    # optimizer (ZeRO 1-2, Megatron's distributed optimizer): a reduce-scatter of the gradients
    # behind the last backward, then an all-gather of the updated parameters, behind the next
    # forward where the framework overlaps it, else exposed. Under ZeRO-3 the gradients are
    # reduce-scattered layer by layer in every micro-batch's backward (below).
    replicated = np.maximum(sync("all_reduce", fw.grad_reduce_bytes) - backward_window, 0.0)
    split = (np.maximum(sync("reduce_scatter", fw.grad_reduce_bytes) - backward_window, 0.0)
             + np.maximum(sync("all_gather", TRAIN_WEIGHT_BYTES) - forward_window, 0.0))
    dp_exposed = np.where(zero3_on, 0.0, np.where(sharded, split, replicated))
    gathered = base_local if adapters else dense_local + expert_local
    zero3 = _zero3_exposed(c, hw, fw, gathered / layers, (dense_local + expert_local) / layers,
                           base_bytes_per_param, compute_layers / layers, recompute / layers)
    dp_exposed = dp_exposed + np.where(zero3_on, zero3, 0.0)

    local_params = (dense_local + expert_local) / np.where(c.zero >= ZERO_SHARDS_OPTIMIZER,
                                                           dp_group, 1.0)
    optimizer = local_params * OPTIMIZER_STEP_BYTES_PER_PARAM / hw.hbm_bytes_per_s
    return dp_exposed, optimizer


def _candidates(arch: Arch, g: dict[str, np.ndarray], seq_len: float, global_batch: int
                ) -> _Candidates:
    tp, pp, dp, cp, ep, mb, vpp, rc, zero = (g[k].astype(float) for k in (
        "tp", "pp", "dp", "cp", "ep", "mb", "vpp", "recompute", "zero"))
    m = g["m"].astype(float) if "m" in g else global_batch / (dp * mb)
    return _Candidates(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, mb=mb, vpp=vpp, rc=rc, zero=zero, m=m,
                       tokens=mb * seq_len / cp, layers=np.ceil(arch.num_layers / pp))


def step_time(arch: Arch, g: dict[str, np.ndarray], *, seq_len: int, global_batch: int,
              hw: Hardware, mode: str = "train", message_size_model: bool = True,
              framework: str | None = None, dtype: str = "bf16") -> dict[str, np.ndarray]:
    """Step time and its breakdown for every candidate layout in ``g`` [s].

    Parameters
    ----------
    arch : Arch
        The model.
    g : dict of arrays
        Candidate layouts: tp, pp, dp, cp, ep, mb, vpp, recompute, zero, and optionally ``m``
        (micro-batches per data-parallel rank; default ``global_batch / (dp·mb)``).
    seq_len : int
        Sequence length [tokens].
    global_batch : int
        Sequences per optimizer step [sequences].
    hw : Hardware
        The accelerator.
    mode : {"train", "finetune", "lora", "qlora"}
        LoRA/QLoRA skip the weight-gradient matmuls of the frozen base, and only the adapters'
        gradients are reduced and stepped.
    message_size_model : bool
        Time collectives with the fitted message-size-dependent bus bandwidth of
        :func:`gpuplan.demand.hardware.with_collective_size_model` (default); False keeps the
        plateau bandwidth at every size.
    framework : str, optional
        Framework profile name or alias (:func:`~.frameworks.framework_profile`): gradient
        reduction bytes and the ZeRO-3 settings; default the generic profile.
    dtype : str
        Training dtype (fp16 runs reduce gradients in fp16 whatever the framework).

    Returns
    -------
    dict
        ``step_time_s`` and each of :data:`BREAKDOWN_KEYS` [s], plus ``microbatches``.

    Notes
    -----
    See the module docstring for the composition; each term's formula is in the code comments
    and the references [1]_-[5]_.
    """
    if message_size_model:
        hw = with_collective_size_model(hw)
    c = _candidates(arch, g, float(seq_len), global_batch)
    fw = framework_profile(framework, dtype)
    work = _compute_terms(arch, c, float(seq_len), hw, mode, fw)
    comm = _model_parallel_comm(arch, c, hw, work["attn_fwd"])
    # a framework that overlaps TP collectives with the GEMMs they feed hides a fitted share of
    # them, never more than the GEMM time itself
    comm["tp"] = comm["tp"] - np.minimum(fw.tp_comm_overlap_fraction * comm["tp"],
                                         work["compute"])
    if fw.dualpipe:  # EP and PP traffic of one micro-batch runs behind the other's compute,
        # on SMs taken from it
        if fw.communication_sms and hw.compute_units and hw.compute_units > fw.communication_sms:
            slow = hw.compute_units / (hw.compute_units - fw.communication_sms)
            for key in ("compute", "attention", "recompute", "attn_fwd"):
                work[key] = work[key] * slow
        busy = work["compute"] + work["attention"]
        comm["ep"] = np.maximum(comm["ep"] - busy, 0.0)
        comm["pp"] = np.maximum(comm["pp"] - np.maximum(busy - comm["ep"], 0.0), 0.0)
    t_mb = (work["compute"] + work["attention"] + work["elementwise"] + work["recompute"]
            + comm["tp"] + comm["ep"] + comm["cp"] + comm["pp"])
    bubble = t_mb * np.where(fw.dualpipe, np.maximum(c.pp / 2 - 1, 0) * DUALPIPE_BUBBLE_PER_STAGE,
                             (c.pp - 1) / c.vpp)
    dp_exposed, optimizer = _data_parallel_terms(arch, c, hw, fw, mode, t_mb,
                                                 work["compute"] + work["attention"],
                                                 work["recompute"])
    m = c.m
    total = t_mb * m + bubble + dp_exposed + optimizer
    return {"step_time_s": total, "compute_s": work["compute"] * m,
            "attention_s": work["attention"] * m, "memory_bound_s": work["elementwise"] * m,
            "recompute_s": work["recompute"] * m, "tp_comm_s": comm["tp"] * m,
            "ep_comm_s": comm["ep"] * m, "cp_comm_s": comm["cp"] * m,
            "pp_comm_s": comm["pp"] * m, "bubble_s": bubble, "dp_comm_exposed_s": dp_exposed,
            "optimizer_s": optimizer, "microbatches": m}


def _attention_core_flops_per_token(arch: Arch, seq_len: float) -> float:
    """Forward FLOPs of the attention core (QKᵀ and AV) per token [FLOP]."""
    return float(FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim)
                 * attention_span(arch, seq_len))


def model_flops_per_token(arch: Arch, seq_len: float, mode: str = "train") -> float:
    """Model FLOPs per trained token [FLOP] (the MFU numerator).

    Parameters
    ----------
    arch : Arch
        The model.
    seq_len : float
        Sequence length [tokens].
    mode : {"train", "finetune", "lora", "qlora"}
        Training mode.

    Notes
    -----
    Full training / fine-tuning: ``6·N + 12·L·H·Q·T`` (PaLM Appendix B [6]_). LoRA/QLoRA skip
    the weight gradients of the frozen base: the matmuls cost ``(1 + 1)·2N`` and the attention
    core still its full backward: ``4·N + 12·L·H·Q·T``.
    """
    if mode not in ADAPTER_MODES:
        return float(training_flops_per_token(arch, seq_len))
    fwd = float(forward_flops_per_token(arch, seq_len))
    attn = _attention_core_flops_per_token(arch, seq_len)
    return (fwd - attn) * (1 + LORA_BACKWARD_OVER_FORWARD) + attn * (1 + BACKWARD_OVER_FORWARD)


def hardware_flops_per_token(arch: Arch, seq_len: float, recompute: npt.ArrayLike,
                             mode: str = "train") -> np.ndarray:
    """FLOPs executed per trained token including recompute [FLOP].

    Parameters
    ----------
    arch : Arch
        The model.
    seq_len : float
        Sequence length [tokens].
    recompute : array_like
        Recompute code (0 none, 1 selective, 2 full).
    mode : {"train", "finetune", "lora", "qlora"}
        Training mode.

    Notes
    -----
    Selective recompute re-runs the attention core forward; full recompute the whole forward.
    """
    fwd = forward_flops_per_token(arch, seq_len)
    attn_fwd = _attention_core_flops_per_token(arch, seq_len)
    rc = np.asarray(recompute, dtype=float)
    extra = np.where(rc >= FULL_RECOMPUTE, fwd, np.where(rc >= SELECTIVE_RECOMPUTE, attn_fwd, 0.0))
    return np.asarray(model_flops_per_token(arch, seq_len, mode) + extra)
