"""Training planner: step time, MFU, the full layout search, GPU-hours and goodput.

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
.. [7] Young 1974, "A first order approximation to the optimum checkpoint interval", CACM 17(9);
   Daly 2006, "A higher order estimate of the optimum checkpoint interval for restart dumps",
   FGCS 22(3).
.. [8] Williams, Waterman, Patterson 2009, "Roofline", CACM 52(4): time = max(FLOPs/peak,
   bytes/bandwidth).
.. [9] Dao 2023, "FlashAttention-2", arXiv 2307.08691: 50-73 % of peak on A100 forward+backward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.demand.arch import (
    FLOPS_PER_MAC,
    Arch,
    arch_from_config,
    attention_span,
    forward_flops_per_token,
    param_counts,
    training_flops_per_token,
)
from gpuplan.demand.comms import group_time_s, link_params
from gpuplan.demand.layouts import (
    RECOMPUTE_NAMES,
    LayoutOut,
    check_layout,
    ep_options,
    filter_grid,
    grid,
    layout_at,
    parse_layout,
    pp_options,
    tp_options,
)
from gpuplan.demand.memory import (
    ACT_BYTES,
    DEFAULT_LORA_RANK,
    LOGIT_BYTES,
    LORA_BASE_BYTES,
    RECOMPUTE_CODES,
    TRAIN_OPTIMIZER_BYTES,
    TRAIN_WEIGHT_BYTES,
    activation_bytes_per_layer,
    lora_params,
    training_memory,
    weight_bytes,
)
from gpuplan.errors import UserError
from gpuplan.units import HOURS_PER_DAY, SECONDS_PER_HOUR

TRAIN_DTYPES = ("bf16", "fp16", "fp8")
TRAIN_MODES = ("train", "finetune", "lora", "qlora")

# -- efficiency parameters (named, documented; fitted values live in calibration) ------------
#: FlashAttention reaches this fraction of the dense-matmul ceiling (MAMF) on the attention core
#: (FlashAttention-2: 50-73 % of peak on A100 [9]_, i.e. ≈ 0.6-0.9 of MAMF; we take 0.75).
FLASH_ATTENTION_FRACTION_OF_MAMF = 0.75
#: Without a measured MAMF in the catalog, matmuls reach this fraction of dense peak
#: (MAMF tables: 0.70-0.93 of peak across A100/H100/MI300X).
DEFAULT_MATMUL_EFFICIENCY = 0.75
#: Without a measured copy bandwidth, this fraction of nominal HBM bandwidth.
DEFAULT_HBM_EFFICIENCY = 0.85
#: HBM traffic of the elementwise kernels (norms, activation functions, residual adds, rotary,
#: dropout) per byte of stored activations, forward + backward: each stored tensor is written
#: in forward, read in backward, and its gradient written and read once more.
ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE = 3.0
#: Passes over the fp32 logits in the loss (write, softmax read, gradient write, gradient read).
LOSS_TRAFFIC_PASSES = 4.0
#: Bytes the optimizer step moves per local parameter: read fp32 master/m/v and bf16 grad, write
#: fp32 master/m/v and the bf16 weight (4·3 + 2 + 4·3 + 2).
OPTIMIZER_STEP_BYTES_PER_PARAM = 28.0
#: Gradients are reduced in bf16 (Megatron default without fp32 grad accumulation all-reduce).
GRAD_COMM_BYTES = 2.0
#: Gradient bucket size for the data-parallel reduction [bytes] (PyTorch DDP's default
#: bucket_cap_mb = 25 MiB; Megatron-LM's default bucket is 40M parameters ≈ 80 MB in bf16).
GRAD_BUCKET_BYTES = 40e6 * GRAD_COMM_BYTES
#: Backward matmuls cost twice the forward (input and weight gradients) [1]_.
BACKWARD_OVER_FORWARD = 2.0
#: LoRA/QLoRA backward: only the input-gradient matmuls (the frozen base has no weight
#: gradient; the rank-r adapters' are negligible) — Hu et al. 2021 Section 4.2.
LORA_BACKWARD_OVER_FORWARD = 1.0
#: Share of one micro-batch's time available to hide the gradient reduce-scatter/all-reduce
#: (overlapped with the backward of the last micro-batch) and the ZeRO parameter all-gather
#: (overlapped with the forward of the first): the backward is 2/3 of a micro-batch.
DP_OVERLAP_WINDOW_FRACTION = 2.0 / 3.0
#: Options searched.
CP_OPTIONS = (1, 2, 4, 8, 16, 32)
MB_OPTIONS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
VPP_OPTIONS = (1, 2, 3, 4, 6, 7, 8, 9, 12, 16)
MIN_TOKENS_PER_CP_RANK = 1024
#: How far above the requested global batch a layout may round it (whole micro-batches on every
#: data-parallel rank); candidates are ranked by tokens/s so a larger batch gains nothing.
BATCH_ROUNDING_TOLERANCE = 0.10
#: Default global batch when none is given [tokens] (Llama 2/3 pre-training used 4M tokens).
DEFAULT_GLOBAL_BATCH_TOKENS = 4 * 2**20
DEFAULT_SEQ_LEN = 4096
TOP_N = 5

BREAKDOWN_KEYS = ("compute_s", "attention_s", "memory_bound_s", "recompute_s", "tp_comm_s",
                  "ep_comm_s", "cp_comm_s", "pp_comm_s", "bubble_s", "dp_comm_exposed_s",
                  "optimizer_s")
_LABELS = {"compute_s": "matmul compute", "attention_s": "attention core",
           "memory_bound_s": "memory-bound kernels", "recompute_s": "recompute",
           "tp_comm_s": "TP collectives exposed", "ep_comm_s": "MoE all-to-all exposed",
           "cp_comm_s": "context-parallel ring exposed", "pp_comm_s": "pipeline sends exposed",
           "bubble_s": "pipeline bubble", "dp_comm_exposed_s": "DP gradient sync exposed",
           "optimizer_s": "optimizer step"}


@dataclass(frozen=True)
class Hardware:
    """What the step-time model needs of an accelerator and its fabrics."""

    peak_flops_per_s: float
    matmul_efficiency: float
    hbm_bytes_per_s: float
    memory_bytes: float
    domain: int
    up: object
    out: object
    gpus_per_node: int
    node_power_w: float
    compute_units: int | None = None


CALIBRATION_FILE = Path(__file__).parent / "calibration.yaml"


@lru_cache(maxsize=1)
def _calibration() -> dict:
    if not CALIBRATION_FILE.exists():
        return {}
    return yaml.safe_load(CALIBRATION_FILE.read_text(encoding="utf-8")) or {}


def training_mamf_fraction(accelerator_id: str) -> float:
    """End-to-end fraction of the matmul ceiling (MAMF) that training kernels reach.

    Fitted once per accelerator generation on the steady-state throughput cases of
    ``validation/train_cases.yaml`` by ``benchmarks/calibrate.py`` (see docs/training.md);
    accelerators of no fitted generation take the ``default`` entry.
    """
    cal = _calibration()
    for gen in cal.get("generations", {}).values():
        if accelerator_id in gen.get("accelerators", []):
            return float(gen["training_mamf_fraction"])
    return float(cal.get("default", {}).get("training_mamf_fraction", 1.0))


def hardware_for(cat: Catalog, acc, dtype: str, system=None,
                 mamf_fraction: float | None = None) -> Hardware:
    """Assemble :class:`Hardware` from catalog entries (measured efficiencies where present).

    ``mamf_fraction`` overrides the calibrated end-to-end fraction (used by the calibration).
    """
    try:
        peak = acc.peak(dtype)
    except KeyError:
        raise UserError(f"{acc.id} has no {dtype} tensor peak in the catalog; "
                        f"it has: {', '.join(acc.peak_flops_per_s)}") from None
    eff = acc.matmul_efficiency.get(dtype) or acc.matmul_efficiency.get(
        {"fp16": "bf16", "bf16": "fp16"}.get(dtype, dtype))
    hbm_eff = acc.hbm_efficiency.value if acc.hbm_efficiency else DEFAULT_HBM_EFFICIENCY
    domain = int(acc.scale_up_domain_size.value) if acc.scale_up_domain_size else 1
    systems = cat.systems_for(acc.id)
    sys_ = system or (systems[0] if systems else None)
    gpn = int(sys_.accelerators_per_node.value) if sys_ else max(domain, 1)
    if sys_ is not None:
        typical = sys_.node_typical_power_w or sys_.node_max_power_w
        node_w = typical.value
    else:
        node_w = (acc.tdp_w.value if acc.tdp_w else 0.0) * gpn
    return Hardware(
        peak_flops_per_s=peak,
        matmul_efficiency=(eff.value if eff else DEFAULT_MATMUL_EFFICIENCY) * (
            mamf_fraction if mamf_fraction is not None else training_mamf_fraction(acc.id)),
        hbm_bytes_per_s=acc.hbm_bandwidth_bytes_per_s.value * hbm_eff,
        memory_bytes=acc.memory_bytes.value,
        domain=domain,
        up=link_params(acc, cat.fabric_for(acc.id, "scale_up"), "scale_up"),
        out=link_params(acc, cat.fabric_for(acc.id, "scale_out"), "scale_out"),
        gpus_per_node=gpn, node_power_w=node_w,
        compute_units=int(acc.compute_units.value) if acc.compute_units else None)


# ----------------------------------------------------------------------------------------------
# Pure step-time model
# ----------------------------------------------------------------------------------------------


def gemm_time_s(m, k, n, peak_flops_per_s, matmul_efficiency, hbm_bytes_per_s,
                bytes_per_element: float = ACT_BYTES) -> np.ndarray:
    """Roofline time of an ``m×k @ k×n`` matmul [s] [8]_.

    Notes
    -----
    ``max(2mkn / (peak·η), b·(mk + kn + mn) / BW_hbm)``; η is the measured maximum achievable
    matmul fraction (MAMF) of the dtype.
    """
    m, k, n = (np.asarray(x, dtype=float) for x in (m, k, n))
    flops = FLOPS_PER_MAC * m * k * n
    traffic = bytes_per_element * (m * k + k * n + m * n)
    return np.maximum(flops / (peak_flops_per_s * matmul_efficiency), traffic / hbm_bytes_per_s)


#: Output tile of one thread block in large tensor-core GEMMs [rows, columns] (a common
#: cuBLAS/CUTLASS Hopper/Ampere tile, 128×256): a judgement for wave quantisation.
GEMM_TILE_ROWS = 128
GEMM_TILE_COLS = 256


def wave_efficiency(m, n, compute_units: int | None) -> np.ndarray:
    """Share of the SMs a GEMM with an ``m × n`` output keeps busy [fraction].

    Notes
    -----
    The output splits into ``tiles = ⌈m/128⌉·⌈n/256⌉`` blocks run in waves of ``units`` (one
    per SM): efficiency ``tiles / (⌈tiles/units⌉·units)``. A 2,048 × 1,280 output on 132 SMs is
    80 tiles in one wave of 132: 0.61. Without a unit count the efficiency is 1.
    """
    if not compute_units:
        return np.ones(np.broadcast(np.asarray(m), np.asarray(n)).shape)
    tiles = np.ceil(np.asarray(m, dtype=float) / GEMM_TILE_ROWS) * np.ceil(
        np.asarray(n, dtype=float) / GEMM_TILE_COLS)
    return tiles / (np.ceil(tiles / compute_units) * compute_units)


def layer_gemm_time_s(arch: Arch, tokens, tp, ep, hw: Hardware, moe_layer: bool) -> np.ndarray:
    """Forward matmul time of one layer on one rank for ``tokens`` local tokens [s].

    Notes
    -----
    Column/row-parallel shards over TP: QKV ``tokens × h × (a·d + 2k·d)/t``, output
    ``tokens × a·d_v/t × h``, MLP ``tokens × h × m·f/t`` split into up(+gate) and down. MoE layers
    run ``top_k`` experts per token; with EP each rank holds ``E/e`` experts and receives
    ``tokens·top_k`` rows spread over them.
    """
    h, a, k, d, dv = arch.hidden_size, arch.num_heads, arch.num_kv_heads, arch.head_dim, \
        arch.v_head_dim
    t = np.asarray(tp, dtype=float)
    T = np.asarray(tokens, dtype=float)
    args = (hw.peak_flops_per_s, hw.matmul_efficiency, hw.hbm_bytes_per_s)
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
    return attn + mlp


def step_time(arch: Arch, g: dict[str, np.ndarray], *, seq_len: int, global_batch: int,
              hw: Hardware, mode: str = "train") -> dict[str, np.ndarray]:
    """Step time and its breakdown for every candidate layout in ``g`` [s].

    Parameters
    ----------
    arch : Arch
    g : dict of arrays
        Candidate layouts: tp, pp, dp, cp, ep, mb, vpp, recompute, zero.
    seq_len : int
        Sequence length [tokens].
    global_batch : int
        Sequences per optimizer step.
    hw : Hardware
    mode : {"train", "finetune", "lora", "qlora"}
        LoRA/QLoRA skip the weight-gradient matmuls of the frozen base, and only the adapters'
        gradients are reduced and stepped.

    Returns
    -------
    dict
        ``step_time_s`` and each of :data:`BREAKDOWN_KEYS` [s], plus ``microbatches``.

    Notes
    -----
    See the module docstring for the composition; each term's formula is in the code comments
    and the references [1]_-[5]_.
    """
    tp, pp, dp, cp, ep, mb, vpp, rc, zero = (g[k].astype(float) for k in (
        "tp", "pp", "dp", "cp", "ep", "mb", "vpp", "recompute", "zero"))
    s = float(seq_len)
    L = arch.num_layers
    m = g["m"].astype(float) if "m" in g else global_batch / (dp * mb)  # micro-batches per rank
    tokens = mb * s / cp  # tokens of one micro-batch on one CP rank
    layers = np.ceil(L / pp)  # layers on the busiest stage
    frac_moe = arch.num_moe_layers / L

    # Matmuls: forward + backward (2×) of the stage's layers, plus the LM head on the last stage.
    gemm_dense = layer_gemm_time_s(arch, tokens, tp, ep, hw, moe_layer=False)
    gemm = gemm_dense
    if arch.is_moe:
        gemm = (1 - frac_moe) * gemm_dense + frac_moe * layer_gemm_time_s(arch, tokens, tp, ep,
                                                                          hw, moe_layer=True)
    head = gemm_time_s(tokens, arch.hidden_size, arch.vocab_size / tp, hw.peak_flops_per_s,
                       hw.matmul_efficiency, hw.hbm_bytes_per_s)
    fwd_gemm = layers * gemm + head / pp  # head spread: it sits on one of p stages
    adapters = mode in ("lora", "qlora")
    gemm_backward = LORA_BACKWARD_OVER_FORWARD if adapters else BACKWARD_OVER_FORWARD
    compute = fwd_gemm * (1 + gemm_backward)

    # Attention core (FlashAttention): 2·a·(d_qk + d_v) FLOPs per token per attended position.
    span_per_layer = attention_span(arch, s) / L
    attn_flops_fwd = FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim) \
        * span_per_layer * tokens / tp
    attn_rate = hw.peak_flops_per_s * hw.matmul_efficiency * FLASH_ATTENTION_FRACTION_OF_MAMF
    attn_fwd = layers * attn_flops_fwd / attn_rate
    attention = attn_fwd * (1 + BACKWARD_OVER_FORWARD)

    # Memory-bound kernels: traffic proportional to the stored activations (no recompute).
    act_layer = activation_bytes_per_layer(arch, seq_len=s, mb=mb, tp=tp, cp=cp,
                                           sp=(tp > 1).astype(float), recompute=0)
    elementwise = layers * act_layer * ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE / hw.hbm_bytes_per_s
    # Loss: fp32 logits written, read by the softmax/cross-entropy, gradient written and read by
    # the LM-head backward (LOSS_TRAFFIC_PASSES passes over tokens·V/t·4 bytes, last stage).
    loss = LOSS_TRAFFIC_PASSES * tokens * arch.vocab_size / tp * LOGIT_BYTES / hw.hbm_bytes_per_s
    elementwise = elementwise + loss / pp

    # Recompute: selective re-runs the attention core forward; full re-runs the whole forward.
    full_fwd = fwd_gemm + attn_fwd + elementwise / (1 + BACKWARD_OVER_FORWARD)
    recompute = np.where(rc >= 2, full_fwd, np.where(rc >= 1, attn_fwd, 0.0))

    # TP with sequence parallelism: per layer 2 all-gathers + 2 reduce-scatters forward and the
    # same backward, each of the full activation tensor tokens·h·2 bytes [2]_; full recompute
    # repeats the forward ones.
    act_msg = tokens * arch.hidden_size * ACT_BYTES
    tp_one = (group_time_s("all_gather", act_msg, tp, 1, hw.domain, hw.up, hw.out)
              + group_time_s("reduce_scatter", act_msg, tp, 1, hw.domain, hw.up, hw.out))
    tp_comm = layers * tp_one * (4 + np.where(rc >= 2, 2, 0))

    # MoE all-to-all: dispatch + combine, forward and backward, of tokens·top_k·h·2 bytes [5]_.
    a2a_msg = tokens * max(arch.experts_per_token, 1) * arch.hidden_size * ACT_BYTES
    ep_one = group_time_s("all_to_all", a2a_msg, ep, tp * cp, hw.domain, hw.up, hw.out)
    ep_comm = layers * frac_moe * ep_one * 4 if arch.is_moe else np.zeros_like(tp)

    # Context parallel ring: (cp−1) KV blocks forward, twice that backward, hidden behind the
    # attention core of each block [4]_.
    kv_block = tokens * 2 * arch.num_kv_heads * arch.head_dim * ACT_BYTES / np.minimum(
        tp, arch.num_kv_heads)
    ring = (cp - 1) * group_time_s("send_recv", kv_block, cp, tp, hw.domain, hw.up, hw.out)
    cp_comm = layers * (np.maximum(ring - attn_fwd / layers, 0)
                        + np.maximum(2 * ring - 2 * attn_fwd / layers, 0))
    cp_comm = np.where(cp > 1, cp_comm, 0.0)

    # Pipeline: send activations forward and gradients back per micro-batch and virtual stage.
    p2p_msg = tokens * arch.hidden_size * ACT_BYTES / tp
    p2p = group_time_s("send_recv", p2p_msg, 2 * np.ones_like(pp), tp * cp * dp, hw.domain,
                       hw.up, hw.out)
    pp_comm = np.where(pp > 1, 2 * vpp * p2p, 0.0)

    t_mb = compute + attention + elementwise + recompute + tp_comm + ep_comm + cp_comm + pp_comm
    bubble = t_mb * (pp - 1) / vpp

    # Data parallel: gradient reduction (all-reduce volume for ZeRO 0-2), ZeRO-3 adds parameter
    # all-gathers forward and backward for every micro-batch [3]_. Experts sync over dp·cp/ep.
    pc = param_counts(arch)
    dense_local = pc.non_expert / (tp * pp)
    expert_local = pc.expert / (tp * pp * ep)
    base_bytes_per_param = TRAIN_WEIGHT_BYTES
    if adapters:  # only the adapters train; the frozen base is gathered under ZeRO-3
        base_local = dense_local + expert_local
        base_bytes_per_param = (weight_bytes(arch, "nf4") / pc.total if mode == "qlora"
                                else LORA_BASE_BYTES)
        dense_local = lora_params(arch, DEFAULT_LORA_RANK) / (tp * pp)
        expert_local = np.zeros_like(dense_local)
    dp_group = dp * cp

    def bucketed(kind, nbytes, ranks, stride, pieces):
        # gradients are reduced in buckets (or per layer): `pieces` collectives of nbytes/pieces
        return pieces * group_time_s(kind, nbytes / pieces, ranks, stride, hw.domain, hw.up,
                                     hw.out)

    dense_bytes = GRAD_COMM_BYTES * dense_local
    expert_bytes = GRAD_COMM_BYTES * expert_local
    buckets_dense = np.maximum(np.ceil(dense_bytes / GRAD_BUCKET_BYTES), 1.0)
    buckets_expert = np.maximum(np.ceil(expert_bytes / GRAD_BUCKET_BYTES), 1.0)
    grads = bucketed("all_reduce", dense_bytes, dp_group, tp, buckets_dense)
    grads = grads + np.where(expert_local > 0, bucketed(
        "all_reduce", np.maximum(expert_bytes, 1.0), np.maximum(dp_group / ep, 1), tp * ep,
        buckets_expert), 0.0)
    window = DP_OVERLAP_WINDOW_FRACTION * t_mb
    dp_exposed = np.maximum(grads - window, 0.0)
    # ZeRO-3 / FSDP: one parameter all-gather per layer in forward and again in backward, for
    # every micro-batch, overlapped with that layer's compute (prefetch of the next layer).
    gathered = base_local if adapters else dense_local + expert_local
    gather_layer = group_time_s("all_gather", base_bytes_per_param * gathered / layers, dp_group,
                                tp, hw.domain, hw.up, hw.out)
    compute_layer = (compute + attention) / layers
    zero3 = m * layers * (np.maximum(gather_layer - compute_layer / (1 + BACKWARD_OVER_FORWARD),
                                     0.0)
                          + np.maximum(gather_layer - compute_layer * BACKWARD_OVER_FORWARD
                                       / (1 + BACKWARD_OVER_FORWARD), 0.0))
    dp_exposed = dp_exposed + np.where(zero >= 3, zero3, 0.0)

    local_params = (dense_local + expert_local) / np.where(zero >= 1, dp_group, 1.0)
    optimizer = local_params * OPTIMIZER_STEP_BYTES_PER_PARAM / hw.hbm_bytes_per_s

    total = t_mb * m + bubble + dp_exposed + optimizer
    return {"step_time_s": total, "compute_s": compute * m, "attention_s": attention * m,
            "memory_bound_s": elementwise * m, "recompute_s": recompute * m,
            "tp_comm_s": tp_comm * m, "ep_comm_s": ep_comm * m, "cp_comm_s": cp_comm * m,
            "pp_comm_s": pp_comm * m, "bubble_s": bubble, "dp_comm_exposed_s": dp_exposed,
            "optimizer_s": optimizer, "microbatches": m}


def model_flops_per_token(arch: Arch, seq_len: float, mode: str = "train") -> float:
    """Model FLOPs per trained token [FLOP] (the MFU numerator).

    Notes
    -----
    Full training / fine-tuning: ``6·N + 12·L·H·Q·T`` (PaLM Appendix B). LoRA/QLoRA skip the
    weight gradients of the frozen base: the matmuls cost ``(1 + 1)·2N`` and the attention core
    still its full backward: ``4·N + 12·L·H·Q·T``.
    """
    if mode not in ("lora", "qlora"):
        return float(training_flops_per_token(arch, seq_len))
    fwd = float(forward_flops_per_token(arch, seq_len))
    attn = float(FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim)
                 * attention_span(arch, seq_len))
    return (fwd - attn) * (1 + LORA_BACKWARD_OVER_FORWARD) + attn * (1 + BACKWARD_OVER_FORWARD)


def hardware_flops_per_token(arch: Arch, seq_len: float, recompute, mode: str = "train"
                             ) -> np.ndarray:
    """FLOPs executed per trained token including recompute [FLOP].

    Selective recompute re-runs the attention core forward; full recompute the whole forward.
    """
    fwd = forward_flops_per_token(arch, seq_len)
    attn_fwd = FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim) * \
        attention_span(arch, seq_len)
    rc = np.asarray(recompute, dtype=float)
    extra = np.where(rc >= 2, fwd, np.where(rc >= 1, attn_fwd, 0.0))
    return model_flops_per_token(arch, seq_len, mode) + extra


# ----------------------------------------------------------------------------------------------
# Goodput
# ----------------------------------------------------------------------------------------------


def checkpoint_bytes(arch: Arch) -> float:
    """Bytes of a training checkpoint: bf16 weights + fp32 master, momentum and variance."""
    return param_counts(arch).total * (TRAIN_WEIGHT_BYTES + TRAIN_OPTIMIZER_BYTES)


def goodput(gpus, interruptions_per_gpu_hour: float, checkpoint_write_s, restart_s: float
            ) -> dict[str, np.ndarray]:
    """Fraction of wall-clock time that advances training, with the optimal checkpoint interval.

    Parameters
    ----------
    gpus : array_like
        Accelerators in the job.
    interruptions_per_gpu_hour : float
        Job interruptions per accelerator-hour [1/h].
    checkpoint_write_s : array_like
        Time to write one checkpoint δ [s].
    restart_s : float
        Time from an interruption to training again R [s].

    Returns
    -------
    dict
        ``goodput`` (fraction), ``interval_s`` (optimal checkpoint interval τ), ``mtbf_s`` (job
        mean time between interruptions M).

    Notes
    -----
    ``M = 1/(λ·N)``; Daly's interval ``τ = sqrt(2δM) − δ`` (Young's first-order ``sqrt(2δM)``
    when δ ≪ M) [7]_, floored at δ; expected overhead per unit of useful work
    ``δ/τ + ((τ + δ)/2 + R)/M``; goodput = 1 / (1 + overhead).
    """
    n = np.asarray(gpus, dtype=float)
    delta = np.asarray(checkpoint_write_s, dtype=float)
    mtbf = SECONDS_PER_HOUR / (interruptions_per_gpu_hour * n)
    tau = np.maximum(np.sqrt(2 * delta * mtbf) - delta, delta)
    overhead = delta / tau + ((tau + delta) / 2 + restart_s) / mtbf
    return {"goodput": 1.0 / (1.0 + overhead), "interval_s": tau, "mtbf_s": mtbf}


# ----------------------------------------------------------------------------------------------
# Typed result and the search
# ----------------------------------------------------------------------------------------------




class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layout: LayoutOut
    step_time_s: float
    mfu: float
    memory_per_gpu_bytes: int
    why: str


class CostOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    own: float | None
    rent: float | None


class TrainResult(BaseModel):
    """Result of :func:`train`; ``model_dump()`` is the CLI's ``--json``."""

    model_config = ConfigDict(extra="forbid")
    model: str
    gpu: str
    mode: str
    gpus: int
    tokens: float
    seq_len: int
    global_batch_tokens: int
    dtype: str
    layout: LayoutOut
    step_time_s: float
    steps: int
    tokens_per_s: float
    mfu: float
    hfu: float
    model_flops_per_token: float
    gpu_hours: float
    wall_days: float
    ideal_wall_days: float
    memory_per_gpu_bytes: int
    gpu_memory_bytes: int
    energy_wh: float
    goodput: float
    checkpoint_bytes: int
    checkpoint_interval_s: float | None
    mtbf_s: float | None
    breakdown: dict[str, float]
    bottleneck: str
    candidates_evaluated: int
    feasible_candidates: int
    top: list[Candidate]
    cost_usd: CostOut
    notes: list[str]


def _why(bd: dict[str, float], step: float) -> str:
    worst = max((k for k in BREAKDOWN_KEYS if k not in ("compute_s",)), key=lambda k: bd[k])
    share = bd[worst] / step if step > 0 else 0.0
    compute_share = bd["compute_s"] / step if step > 0 else 0.0
    return (f"{_LABELS[worst]}: {share:.0%} of step (matmul compute {compute_share:.0%})")


def candidate_grid(arch: Arch, gpus: int, seq_len: int, global_batch: int, domain: int,
                   fixed: dict) -> dict[str, np.ndarray]:
    """Every layout of ``gpus`` accelerators consistent with ``fixed`` and the model's shape."""
    tps = tp_options(arch, domain)
    cps = [c for c in CP_OPTIONS if seq_len % (2 * c) == 0 and seq_len / c >=
           MIN_TOKENS_PER_CP_RANK] or [1]
    axes = dict(tp=tps, pp=pp_options(arch), cp=cps, ep=ep_options(arch), mb=list(MB_OPTIONS),
                vpp=list(VPP_OPTIONS), recompute=list(RECOMPUTE_CODES.values()),
                zero=[0, 1, 2, 3])
    for k, v in fixed.items():
        if k != "dp":
            axes[k] = [RECOMPUTE_CODES[v] if k == "recompute" else v]
    g = grid(**axes)
    inner = g["tp"] * g["pp"] * g["cp"]
    ok = (gpus % inner == 0)
    g["dp"] = np.where(ok, gpus // np.maximum(inner, 1), 0)
    ok &= g["dp"] >= 1
    if "dp" in fixed:
        ok &= g["dp"] == fixed["dp"]
    ok &= (g["pp"] <= arch.num_layers)
    ok &= (g["vpp"] == 1) | ((g["pp"] > 1) & (arch.num_layers % np.maximum(g["pp"] * g["vpp"], 1)
                                               == 0))
    ok &= ((g["dp"] * g["cp"]) % g["ep"] == 0)
    # The global batch is met to within BATCH_ROUNDING_TOLERANCE: m = ceil(B / (dp·mb)).
    per_step = np.maximum(g["dp"] * g["mb"], 1)
    g["m"] = -(-global_batch // per_step)
    ok &= g["m"] * per_step <= global_batch * (1 + BATCH_ROUNDING_TOLERANCE)
    return filter_grid(g, ok)


def train(model: str, gpu: str, gpus: int, tokens: float, *, seq_len: int | None = None,
          global_batch_tokens: float | None = None, dtype: str = "bf16",
          layout: str | dict | None = None, failures: bool = True,
          rent_usd_per_gpu_hour: float | None = None, own_usd_per_gpu_hour: float | None = None,
          catalog: Catalog | None = None, mamf_fraction: float | None = None,
          mode: str = "train") -> TrainResult:
    """Best (or given) layout for training ``model`` on ``gpus`` × ``gpu`` for ``tokens`` tokens.

    Parameters
    ----------
    model, gpu : str
        As for :func:`gpuplan.demand.fitting.fit`.
    gpus : int
        Accelerators in the job.
    tokens : float
        Training tokens [tokens].
    seq_len : int, optional
        Sequence length [tokens]; default 4096.
    global_batch_tokens : float, optional
        Tokens per optimizer step; default 4M tokens, rounded to whole sequences.
    dtype : {"bf16", "fp16", "fp8"}
        Matmul dtype; MFU is against the dense peak of this dtype.
    mode : {"train", "finetune", "lora", "qlora"}
        Pre-training and full fine-tuning are the same engine; LoRA/QLoRA freeze the base
        (memory and step time change; ``tokens`` is the fine-tuning token budget).
    layout : str or dict, optional
        Keys pinned (``tp=8,pp=16``); the rest is searched.
    failures : bool
        Include time lost to interruptions and checkpoints (goodput); False for the ideal.
    rent_usd_per_gpu_hour, own_usd_per_gpu_hour : float, optional
        Prices for ``cost_usd`` [USD per GPU-hour].

    Raises
    ------
    UserError
        Bad values, unknown names, or no layout that fits in memory.
    """
    cat = catalog or load_catalog()
    if mode not in TRAIN_MODES:
        raise UserError(f"--mode {mode!r} unknown for train; accepted: {', '.join(TRAIN_MODES)}")
    if dtype not in TRAIN_DTYPES:
        raise UserError(f"--dtype {dtype!r} unknown for training; accepted: {', '.join(TRAIN_DTYPES)}")
    _positive_int("--gpus", gpus, 2**24)
    if not isinstance(tokens, (int, float)) or not math.isfinite(tokens) or tokens <= 0 \
            or tokens > 1e16:
        raise UserError(f"--tokens must be a positive number up to 1e16, got {tokens!r}")
    seq_len = seq_len or DEFAULT_SEQ_LEN
    _positive_int("--seq-len", seq_len, 2**22)
    gbt = global_batch_tokens or DEFAULT_GLOBAL_BATCH_TOKENS
    if not math.isfinite(gbt) or gbt < seq_len or gbt > 1e10:
        raise UserError(f"--global-batch-tokens must be between --seq-len and 1e10, got {gbt!r}")
    for name, price in (("--rent-usd-per-gpu-hour", rent_usd_per_gpu_hour),
                        ("--own-usd-per-gpu-hour", own_usd_per_gpu_hour)):
        if price is not None and (not math.isfinite(price) or price < 0 or price > 1e4):
            raise UserError(f"{name} must be between 0 and 10,000, got {price!r}")
    global_batch = max(int(round(gbt / seq_len)), 1)
    name, cfg, _ = cat.model(model)
    arch = arch_from_config(cfg, name)
    acc = cat.accelerator(gpu)
    hw = hardware_for(cat, acc, dtype, mamf_fraction=mamf_fraction)
    fixed = parse_layout(layout) if isinstance(layout, str) or layout is None else dict(layout)
    if fixed:
        from gpuplan.demand.layouts import Layout

        inner = int(fixed.get("tp", 1)) * int(fixed.get("pp", 1)) * int(fixed.get("cp", 1))
        probe = Layout(**({"dp": max(gpus // inner, 1)} | fixed))
        check_layout(arch, probe)
    g = candidate_grid(arch, gpus, seq_len, global_batch, hw.domain, fixed)
    n_cand = int(g["tp"].size)
    if n_cand == 0:
        raise UserError(f"no layout of {gpus} GPUs fits the constraints (tp·pp·cp must divide "
                        f"--gpus, and whole micro-batches on every data-parallel rank must come "
                        f"within {BATCH_ROUNDING_TOLERANCE:.0%} of the global batch of "
                        f"{global_batch} sequences"
                        + (f", and the pinned {layout}" if layout else "") + ")")
    mem = training_memory(arch, mode=mode, seq_len=seq_len, mb=g["mb"], tp=g["tp"], pp=g["pp"],
                          dp=g["dp"], cp=g["cp"], ep=g["ep"], zero=g["zero"],
                          recompute=g["recompute"], vpp=g["vpp"],
                          microbatches=g["m"])
    total_mem = mem.total
    fits = total_mem <= hw.memory_bytes
    if not fits.any():
        i = int(np.argmin(total_mem))
        raise UserError(f"no layout of {gpus} × {acc.id} fits {name} in memory (least needed: "
                        f"{total_mem[i] / 1e9:,.1f} GB per GPU of {hw.memory_bytes / 1e9:,.1f} GB); "
                        f"try more GPUs (`gpuplan fit {name} --gpu {acc.id} --mode train`)")
    gf = filter_grid(g, fits)
    mem_f = total_mem[fits]
    st = step_time(arch, gf, seq_len=seq_len, global_batch=global_batch, hw=hw, mode=mode)
    tokens_step_all = (gf["m"] * gf["dp"] * gf["mb"] * seq_len).astype(float)
    rate = tokens_step_all / st["step_time_s"]
    order = np.lexsort((mem_f, -rate))
    best = int(order[0])
    step = float(st["step_time_s"][best])
    tokens_per_step = int(tokens_step_all[best])
    model_flops_token = model_flops_per_token(arch, seq_len, mode)
    peak_total = gpus * hw.peak_flops_per_s
    mfu_all = tokens_step_all * model_flops_token / (st["step_time_s"] * peak_total)
    hfu = float(tokens_per_step * hardware_flops_per_token(arch, seq_len, gf["recompute"][best],
                                                           mode) / (step * peak_total))
    steps = int(math.ceil(tokens / tokens_per_step))
    ideal_s = steps * step

    notes: list[str] = list(arch.notes)
    rel = cat.reliability.get("default")
    ck_bytes = checkpoint_bytes(arch)
    gp, interval, mtbf = 1.0, None, None
    if failures:
        if rel is None:
            notes.append("no reliability entry in the catalog: failures not modelled")
        else:
            delta = ck_bytes / (gpus * rel.checkpoint_write_bytes_per_s_per_gpu.value)
            gres = goodput(gpus, rel.interruptions_per_gpu_hour.value, delta, rel.restart_s.value)
            gp = float(gres["goodput"])
            interval = float(gres["interval_s"])
            mtbf = float(gres["mtbf_s"])
    wall_s = ideal_s / gp
    gpu_hours = gpus * wall_s / SECONDS_PER_HOUR
    nodes = math.ceil(gpus / hw.gpus_per_node)
    energy_wh = nodes * hw.node_power_w * wall_s / SECONDS_PER_HOUR
    bd = {k: float(st[k][best]) for k in BREAKDOWN_KEYS}
    top = []
    for j in order[:TOP_N]:
        j = int(j)
        bdj = {k: float(st[k][j]) for k in BREAKDOWN_KEYS}
        top.append(Candidate(layout=_layout_out(gf, j), step_time_s=float(st["step_time_s"][j]),
                             mfu=float(mfu_all[j]), memory_per_gpu_bytes=int(mem_f[j]),
                             why=_why(bdj, float(st["step_time_s"][j]))))
    cost = CostOut(own=gpu_hours * own_usd_per_gpu_hour if own_usd_per_gpu_hour is not None
                   else None,
                   rent=gpu_hours * rent_usd_per_gpu_hour if rent_usd_per_gpu_hour is not None
                   else None)
    return TrainResult(
        model=name, gpu=acc.id, mode=mode, gpus=gpus, tokens=float(tokens), seq_len=seq_len,
        global_batch_tokens=tokens_per_step, dtype=dtype, layout=_layout_out(gf, best),
        step_time_s=step, steps=steps, tokens_per_s=tokens_per_step / step,
        mfu=float(mfu_all[best]), hfu=hfu, model_flops_per_token=model_flops_token,
        gpu_hours=gpu_hours, wall_days=wall_s / SECONDS_PER_HOUR / HOURS_PER_DAY,
        ideal_wall_days=ideal_s / SECONDS_PER_HOUR / HOURS_PER_DAY,
        memory_per_gpu_bytes=int(mem_f[best]), gpu_memory_bytes=int(hw.memory_bytes),
        energy_wh=energy_wh, goodput=gp, checkpoint_bytes=int(ck_bytes),
        checkpoint_interval_s=interval, mtbf_s=mtbf, breakdown=bd, bottleneck=_why(bd, step),
        candidates_evaluated=n_cand, feasible_candidates=int(fits.sum()), top=top,
        cost_usd=cost, notes=notes)


def _layout_out(g: dict[str, np.ndarray], i: int) -> LayoutOut:
    lay = layout_at(g, i)
    return LayoutOut(**lay.as_dict())


def _positive_int(name: str, v, hi: int) -> None:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1 or v > hi:
        raise UserError(f"{name} must be a whole number from 1 to {hi:,}, got {v!r}")


__all__ = ["train", "TrainResult", "step_time", "goodput", "gemm_time_s", "hardware_for",
           "RECOMPUTE_NAMES"]
