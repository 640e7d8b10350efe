"""LLM serving planner: throughput and latency under SLOs, and capacity for a traffic level.

Pure, vectorised functions over candidate replica shapes (TP, PP, batch); one entry point
:func:`serve` that searches them and sizes the fleet.

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

import math

import numpy as np
from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.demand.arch import (
    FLOPS_PER_MAC,
    Arch,
    arch_from_config,
    attention_span,
    kv_elements_per_token_per_layer,
    matmul_params_active,
    param_counts,
)
from gpuplan.demand.comms import group_time_s
from gpuplan.demand.layouts import pp_options, tp_options
from gpuplan.demand.memory import (
    ACT_BYTES,
    DTYPE_BYTES,
    RUNTIME_RESERVED_BYTES,
    WEIGHT_FORMAT_BITS,
    inference_memory,
    kv_shards,
    weight_bytes,
)
from gpuplan.demand.training import Hardware, hardware_for, wave_efficiency
from gpuplan.errors import UserError
from gpuplan.units import SECONDS_PER_DAY

MS = 1e-3
#: Weight formats and the tensor dtype their matmuls run in: weight-only int8/int4 (AWQ/GPTQ)
#: dequantise to bf16; fp8 is W8A8; fp4 is NVFP4 W4A4 (Blackwell).
COMPUTE_DTYPE = {"bf16": "bf16", "fp16": "fp16", "fp32": "fp32", "fp8": "fp8", "int8": "bf16",
                 "int4": "bf16", "fp4": "fp4"}
KV_DTYPES = ("bf16", "fp16", "fp8", "int8")
#: Fraction of the memory left after weights and runtime that the engine gives to KV cache and
#: activations (TensorRT-LLM's kv_cache_free_gpu_mem_fraction default, 0.9) [2]_.
FREE_MEMORY_FRACTION = 0.90
#: Fixed time per layer per scheduler iteration that is neither bandwidth nor FLOPs: kernel
#: launches and tails of the ~10 small kernels of a layer (norms, rotary, sampling share),
#: scheduler work. Our H100 decode of a 1B Llama-style model at batch 1 (CUDA graphs) took
#: 2.10 ms for 16 layers vs 0.82 ms to stream its weights: ≈ 80 µs per layer in plain PyTorch;
#: fused engines (TensorRT-LLM, vLLM) are leaner. Fitted value in calibration.yaml (serving).
DEFAULT_DECODE_OVERHEAD_PER_LAYER_S = 30e-6
#: Scheduler/sampling time per iteration before calibration [s].
DEFAULT_OVERHEAD_PER_ITERATION_S = 0.0
#: Paged decode-attention kernels read the KV cache below the copy bandwidth (scattered blocks,
#: per-head reductions); default before calibration.
DEFAULT_KV_READ_EFFICIENCY = 1.0
#: Tokens one iteration may process (TensorRT-LLM / vLLM max_num_tokens default 8192) and the
#: least prompt chunk taken beside a full decode batch.
PREFILL_CHUNK_TOKENS = 8192
MIN_PREFILL_CHUNK_TOKENS = 512
#: Batch sizes tried per replica (powers of two and their 1.5x between).
BATCH_OPTIONS = tuple(sorted({2**i for i in range(13)} | {3 * 2**i for i in range(12)}))
#: Engines cap concurrent sequences (TensorRT-LLM's trtllm-bench default max_batch_size, 2048;
#: vLLM's max_num_seqs default is 256 for online serving): the larger, for throughput runs.
MAX_BATCH_DEFAULT = 2048
#: Capacity kept spare above the offered load when sizing replicas.
DEFAULT_HEADROOM = 0.20
#: p99 quantile used for latency targets.
P99 = 0.99
PP_OPTIONS_MAX = 8


class ReplicaOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gpus: int
    tp: int
    pp: int
    ep: int
    quant: str
    kv_dtype: str
    batch: int
    max_concurrency: int
    output_tokens_per_s: float
    total_tokens_per_s: float
    ttft_s: float
    tpot_s: float
    memory_per_gpu_bytes: int


class ServeResult(BaseModel):
    """Result of :func:`serve`; ``model_dump()`` is the CLI's ``--json``."""

    model_config = ConfigDict(extra="forbid")
    model: str
    gpu: str
    input_tokens: int
    output_tokens: int
    rate_requests_per_s: float | None
    ttft_target_s: float | None
    tpot_target_s: float | None
    replica: ReplicaOut
    replicas: int
    gpus: int
    output_tokens_per_s_per_gpu: float
    demand_output_tokens_per_s: float | None
    headroom: float
    breakdown_s: dict[str, float]
    bottleneck: str
    candidates_evaluated: int
    meets_slo: bool
    notes: list[str]
    cost_usd: dict[str, float | None] | None = None


# ----------------------------------------------------------------------------------------------
# Pure model
# ----------------------------------------------------------------------------------------------


def expected_experts_touched(num_experts: int, top_k: int, tokens) -> np.ndarray:
    """Expected distinct experts a layer reads for ``tokens`` tokens [experts].

    Notes
    -----
    With uniform routing each expert is missed by one token with probability ``1 − k/E``:
    ``E·(1 − (1 − k/E)^tokens)``.
    """
    t = np.asarray(tokens, dtype=float)
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** t)


def decode_step_s(arch: Arch, hw: Hardware, *, weight_format: str, kv_dtype: str, batch, context,
                  tp, pp, overhead_per_layer_s: float, prefill_tokens=0.0, prefill_span=1.0,
                  kv_read_efficiency: float = 1.0, overhead_per_iteration_s: float = 0.0
                  ) -> dict[str, np.ndarray]:
    """Time of one scheduler iteration on one pipeline stage [s].

    The iteration decodes one token for each of ``batch`` sequences and, with chunked prefill
    [4]_, also runs ``prefill_tokens`` prompt tokens in the same forward pass.

    Parameters
    ----------
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
        Fraction of achievable HBM bandwidth that paged decode-attention kernels reach.
    overhead_per_iteration_s : float
        Fixed time per scheduler iteration (batch bookkeeping, sampling, host sync) [s].

    Notes
    -----
    ``max(W_read/BW + KV_read/(BW·ε_kv), FLOPs/(peak·η)) + 2·(L/p)·t_allreduce((b+P)·h·2)
    + (L/p)·t_0`` [1]_, where W_read counts, for MoE, only the experts the batch touches.
    """
    b, ctx, tp, pp = (np.asarray(x, dtype=float) for x in (batch, context, tp, pp))
    pc = param_counts(arch)
    w_total = weight_bytes(arch, weight_format)
    bytes_per_param = w_total / pc.total
    ptok = np.asarray(prefill_tokens, dtype=float)
    if arch.is_moe:
        touched = expected_experts_touched(arch.num_experts, arch.experts_per_token,
                                           (b + ptok) * pp) / arch.num_experts
        w_read = bytes_per_param * (pc.non_expert + pc.expert * touched)
    else:
        w_read = w_total * np.ones_like(b)
    w_read = w_read / (tp * pp)
    kv_read = b * attention_span(arch, ctx) * kv_elements_per_token_per_layer(arch) \
        * DTYPE_BYTES[kv_dtype] / (kv_shards(arch, tp) * pp)
    t_mem = w_read / hw.hbm_bytes_per_s + kv_read / (hw.hbm_bytes_per_s * kv_read_efficiency)
    attn_per_pos = FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim)
    attn_flops = (b * attn_per_pos * attention_span(arch, ctx)
                  + ptok * attn_per_pos * attention_span(arch, prefill_span)) / (tp * pp)
    rows = b + ptok
    mm_flops = rows * FLOPS_PER_MAC * matmul_params_active(arch) / (tp * pp)
    # Tensor-parallel shards make thin GEMMs that leave SMs idle (wave quantisation): weight
    # each dense GEMM's share of the matmul FLOPs by 1 / its wave efficiency.
    t_flops = (mm_flops * _wave_penalty(arch, rows, tp, hw) + attn_flops) / (
        hw.peak_flops_per_s * hw.matmul_efficiency)
    layers = np.ceil(arch.num_layers / pp)
    msg = (b + ptok) * arch.hidden_size * ACT_BYTES
    t_tp = 2 * layers * group_time_s("all_reduce", msg, tp, 1, hw.domain, hw.up, hw.out)
    t_ep = np.zeros_like(b)
    if arch.is_moe:
        a2a = (b + ptok) * arch.experts_per_token * arch.hidden_size * ACT_BYTES
        t_ep = 2 * layers * (arch.num_moe_layers / arch.num_layers) * group_time_s(
            "all_to_all", a2a, tp, 1, hw.domain, hw.up, hw.out)
    t_over = layers * overhead_per_layer_s + overhead_per_iteration_s
    return {"memory_s": t_mem, "compute_s": t_flops, "tp_comm_s": t_tp, "ep_comm_s": t_ep,
            "overhead_s": t_over + 0 * b,
            "step_s": np.maximum(t_mem, t_flops) + t_tp + t_ep + t_over}


def _wave_penalty(arch: Arch, rows, tp, hw: Hardware) -> np.ndarray:
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
    return penalty + max(1.0 - covered, 0.0)


def prefill_s(arch: Arch, hw: Hardware, *, weight_format: str, input_tokens, tp, pp,
              overhead_per_layer_s: float) -> np.ndarray:
    """Time to prefill one prompt of ``input_tokens`` tokens through all stages [s].

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
    t_tp = 2 * layers * group_time_s("all_reduce", i * arch.hidden_size * ACT_BYTES, tp, 1,
                                     hw.domain, hw.up, hw.out)
    return (t + t_tp + layers * overhead_per_layer_s) * pp


def p99_wait_s(service_s, utilisation) -> np.ndarray:
    """p99 waiting time of an M/M/1 queue [s] [5]_.

    Notes
    -----
    ``P(W > t) = ρ·exp(−μ(1−ρ)t)`` ⇒ ``t₉₉ = ln(ρ/0.01) / (μ(1−ρ))`` for ρ > 0.01, else 0.
    """
    s = np.asarray(service_s, dtype=float)
    rho = np.clip(np.asarray(utilisation, dtype=float), 0.0, 0.999)
    mu = 1.0 / s
    t = np.log(np.maximum(rho, 1e-12) / (1 - P99)) / (mu * (1 - rho))
    return np.where(rho > 1 - P99, t, 0.0)


def speculative_speedup(acceptance: float, draft_tokens: int) -> float:
    """Expected tokens per target-model step with speculative decoding [6]_.

    ``(1 − α^(γ+1)) / (1 − α)``; the draft model's own cost is not subtracted.
    """
    if acceptance >= 1:
        return float(draft_tokens + 1)
    return (1 - acceptance ** (draft_tokens + 1)) / (1 - acceptance)


# ----------------------------------------------------------------------------------------------
# Search
# ----------------------------------------------------------------------------------------------


def serving_overhead_per_layer_s() -> float:
    """Fixed per-layer iteration time, fitted on the published serving cases (calibration.yaml)."""
    from gpuplan.demand.training import _calibration

    return float(_calibration().get("serving", {}).get(
        "decode_overhead_per_layer_s", DEFAULT_DECODE_OVERHEAD_PER_LAYER_S))


def serving_overhead_per_iteration_s() -> float:
    """Fixed per-iteration time, fitted on the published serving cases (calibration.yaml)."""
    from gpuplan.demand.training import _calibration

    return float(_calibration().get("serving", {}).get(
        "overhead_per_iteration_s", DEFAULT_OVERHEAD_PER_ITERATION_S))


def serving_kv_read_efficiency() -> float:
    """Paged-attention KV read efficiency, fitted on the published serving cases."""
    from gpuplan.demand.training import _calibration

    return float(_calibration().get("serving", {}).get(
        "kv_read_efficiency", DEFAULT_KV_READ_EFFICIENCY))


def serve(model: str, gpu: str, *, quant: str = "bf16", kv_dtype: str | None = None,
          input_tokens: int = 1024, output_tokens: int = 256, rate: float | None = None,
          tokens_per_day: float | None = None, ttft_ms: float | None = None,
          tpot_ms: float | None = None, tp: int | None = None, pp: int | None = None,
          max_batch: int = MAX_BATCH_DEFAULT, headroom: float = DEFAULT_HEADROOM,
          speculative_acceptance: float | None = None, draft_tokens: int = 4,
          catalog: Catalog | None = None, overhead_per_layer_s: float | None = None,
          kv_read_efficiency: float | None = None,
          overhead_per_iteration_s: float | None = None) -> ServeResult:
    """Best replica shape under the latency targets, and the fleet for a traffic level.

    Parameters
    ----------
    model, gpu : str
        As for :func:`gpuplan.demand.fitting.fit`.
    quant : str
        Weight format: bf16, fp16, fp8 (W8A8), int8 / int4 (weight-only), fp4 (W4A4), or
        ``auto`` to search every format the accelerator runs.
    kv_dtype : str, optional
        KV-cache dtype; default bf16 (fp8 when quant is fp8/fp4).
    input_tokens, output_tokens : int
        Mean prompt and completion lengths [tokens].
    rate : float, optional
        Offered load [requests/s]. ``tokens_per_day`` (output tokens) is the alternative.
    ttft_ms, tpot_ms : float, optional
        p99 time-to-first-token and time-per-output-token targets [ms].
    tp, pp : int, optional
        Pin the replica's tensor / pipeline degree (searched otherwise).
    max_batch : int
        Engine cap on concurrent sequences per replica.
    headroom : float
        Spare capacity above the offered load (0.2 = 20 %).
    speculative_acceptance : float, optional
        Per-token acceptance rate α of a draft model; decode advances
        ``(1 − α^(γ+1))/(1 − α)`` tokens per step (``draft_tokens`` = γ).

    Raises
    ------
    UserError
        Bad values, unknown names, no shape that fits, or a format the accelerator lacks.
    """
    cat = catalog or load_catalog()
    _check(input_tokens, output_tokens, rate, tokens_per_day, ttft_ms, tpot_ms, max_batch,
           headroom, speculative_acceptance, draft_tokens)
    name, cfg, _ = cat.model(model)
    arch = arch_from_config(cfg, name)
    acc = cat.accelerator(gpu)
    overhead = serving_overhead_per_layer_s() if overhead_per_layer_s is None \
        else overhead_per_layer_s
    kv_eff = serving_kv_read_efficiency() if kv_read_efficiency is None else kv_read_efficiency
    iter_over = serving_overhead_per_iteration_s() if overhead_per_iteration_s is None \
        else overhead_per_iteration_s
    formats = _formats(acc, quant)
    if tp is not None or pp is not None:
        from gpuplan.demand.layouts import Layout, check_layout

        for name_, v in (("--tp", tp), ("--pp", pp)):
            if v is not None and (not isinstance(v, (int, np.integer)) or v < 1 or v > 2**16):
                raise UserError(f"{name_} must be a whole number from 1 to 65,536, got {v!r}")
        check_layout(arch, Layout(tp=tp or 1, pp=pp or 1))
    notes: list[str] = list(arch.notes)
    demand = None
    if rate is not None:
        demand = rate * output_tokens
    elif tokens_per_day is not None:
        demand = tokens_per_day / SECONDS_PER_DAY
    need = None if demand is None else demand * (1 + headroom)
    best = None
    n_eval = 0
    for fmt in formats:
        kv = kv_dtype or ("fp8" if fmt in ("fp8", "fp4") and "fp8" in acc.peak_flops_per_s
                          else "bf16")
        if kv not in KV_DTYPES:
            raise UserError(f"--kv-dtype {kv!r} unknown; accepted: {', '.join(KV_DTYPES)}")
        hw = hardware_for(cat, acc, COMPUTE_DTYPE[fmt])
        res = _search(arch, hw, fmt, kv, input_tokens, output_tokens, tp, pp, max_batch,
                      ttft_ms, tpot_ms, overhead, speculative_acceptance, draft_tokens,
                      kv_eff, iter_over, need)
        n_eval += res["n"]
        if res["best"] is not None and (best is None or _better(res["best"], best)):
            best = res["best"]
    if best is None:
        raise UserError(f"{name} does not fit on {acc.id} with the shapes searched (tp up to "
                        f"the scale-up domain, pp up to {PP_OPTIONS_MAX}); try a smaller --quant "
                        f"or see `gpuplan fit {name} --gpu {acc.id}`")
    meets = best["meets"]
    if not meets:
        notes.append("no shape meets the latency targets; the fastest-responding shape is shown")
    replicas = 1 if demand is None else max(1, math.ceil(demand * (1 + headroom)
                                                        / best["out_tps"]))
    if demand is not None and best["meets"] and (ttft_ms or tpot_ms):
        notes.append("latency targets are checked at the replica's chosen batch; the fleet runs "
                     f"each replica at ≤ {1 / (1 + headroom):.0%} of that load")
    rep = ReplicaOut(gpus=best["tp"] * best["pp"], tp=best["tp"], pp=best["pp"],
                     ep=best["tp"] if arch.is_moe else 1, quant=best["fmt"], kv_dtype=best["kv"],
                     batch=best["batch"], max_concurrency=best["max_conc"],
                     output_tokens_per_s=best["out_tps"],
                     total_tokens_per_s=best["out_tps"] * (input_tokens + output_tokens)
                     / output_tokens, ttft_s=best["ttft"], tpot_s=best["tpot"],
                     memory_per_gpu_bytes=best["mem"])
    bd = best["breakdown"]
    worst = max(bd, key=bd.get)
    bottleneck = (f"{worst.removesuffix('_s').replace('_', ' ')} bound: "
                  f"{bd[worst] / best['iteration']:.0%} of an iteration at batch {best['batch']}")
    return ServeResult(
        model=name, gpu=acc.id, input_tokens=input_tokens, output_tokens=output_tokens,
        rate_requests_per_s=rate, ttft_target_s=ttft_ms * MS if ttft_ms else None,
        tpot_target_s=tpot_ms * MS if tpot_ms else None, replica=rep, replicas=replicas,
        gpus=replicas * rep.gpus, output_tokens_per_s_per_gpu=best["per_gpu"],
        demand_output_tokens_per_s=demand, headroom=headroom, breakdown_s=bd,
        bottleneck=bottleneck, candidates_evaluated=n_eval, meets_slo=meets, notes=notes)


def _formats(acc, quant: str) -> list[str]:
    if quant == "auto":
        return [f for f in ("bf16", "fp8", "int8", "int4", "fp4")
                if COMPUTE_DTYPE[f] in acc.peak_flops_per_s or COMPUTE_DTYPE[f] == "bf16"]
    if quant not in COMPUTE_DTYPE:
        raise UserError(f"--quant {quant!r} unknown; accepted: {', '.join(COMPUTE_DTYPE)}, auto")
    need = COMPUTE_DTYPE[quant]
    if need not in ("bf16", "fp16") and need not in acc.peak_flops_per_s:
        raise UserError(f"--quant {quant} needs {need} tensor cores, which {acc.id} lacks; it has "
                        f"{', '.join(acc.peak_flops_per_s)}")
    return [quant]


def _better(a: dict, b: dict) -> bool:
    """Shape ``a`` beats ``b``: meets the targets, then fewest fleet GPUs, then tokens/s/GPU."""
    return (not a["meets"], a["fleet_gpus"], -a["per_gpu"]) < \
        (not b["meets"], b["fleet_gpus"], -b["per_gpu"])


def _search(arch, hw, fmt, kv, I, O, tp_pin, pp_pin, max_batch, ttft_ms, tpot_ms, overhead,
            spec_alpha, draft_tokens, kv_eff, iter_over, need=None):
    """Best shape for one weight format.

    With a demand (``need`` output tokens/s incl. headroom) the winner needs the fewest GPUs for
    it, a small model at low traffic takes one small replica rather than the shape with the
    best throughput per GPU; without one, the most output tokens/s per GPU wins.
    """
    tps = [tp_pin] if tp_pin else tp_options(arch, hw.domain)
    pps = [pp_pin] if pp_pin else [p for p in pp_options(arch, PP_OPTIONS_MAX)
                                   if p & (p - 1) == 0]
    batches = [b for b in BATCH_OPTIONS if b <= max_batch]
    T, P, B = np.meshgrid(tps, pps, batches, indexing="ij")
    T, P, B = T.ravel().astype(float), P.ravel().astype(float), B.ravel().astype(float)
    ctx_avg = I + O / 2
    mem = inference_memory(arch, weight_format=fmt, kv_dtype=kv, batch=B, context_tokens=ctx_avg,
                           tp=T, pp=P)
    static = mem.weights + RUNTIME_RESERVED_BYTES
    budget = FREE_MEMORY_FRACTION * np.maximum(hw.memory_bytes - static, 0.0)
    dynamic = mem.total - static
    fits = (static <= hw.memory_bytes) & (dynamic <= budget)
    # largest concurrency each shape holds (for reporting): KV and workspace scale with batch
    per_seq = dynamic / B
    max_conc = np.floor(budget / per_seq)
    tokens_per_step = speculative_speedup(spec_alpha, draft_tokens) if spec_alpha else 1.0
    steps_per_seq = O / tokens_per_step
    # Continuous batching with chunked prefill: each iteration decodes the b running sequences
    # and prefills the b/steps new ones arriving in their place, in one forward pass [3]_ [4]_.
    new_tokens = B / steps_per_seq * I
    dec = decode_step_s(arch, hw, weight_format=fmt, kv_dtype=kv, batch=B, context=ctx_avg, tp=T,
                        pp=P, overhead_per_layer_s=overhead, prefill_tokens=new_tokens,
                        prefill_span=I / 2, kv_read_efficiency=kv_eff,
                        overhead_per_iteration_s=iter_over)
    alone = decode_step_s(arch, hw, weight_format=fmt, kv_dtype=kv, batch=B, context=ctx_avg,
                          tp=T, pp=P, overhead_per_layer_s=overhead, kv_read_efficiency=kv_eff,
                          overhead_per_iteration_s=iter_over)
    iteration = dec["step_s"]
    # pipeline: p micro-batches of b in flight; a token crosses all p stages
    out_tps = B * tokens_per_step / iteration
    tpot = iteration * P / tokens_per_step
    # TTFT: the prompt is split into chunks of what an iteration can take beside the decodes;
    # plus the p99 wait for admission (M/M/1 on the prefill share of the iteration) [5]_.
    chunks = np.ceil(I / np.maximum(PREFILL_CHUNK_TOKENS - B, MIN_PREFILL_CHUNK_TOKENS))
    pre = prefill_s(arch, hw, weight_format=fmt, input_tokens=I, tp=T, pp=P,
                    overhead_per_layer_s=overhead)
    first = np.maximum(chunks * iteration * P, pre)
    rho = np.clip((iteration - alone["step_s"]) / iteration, 0, 0.999)
    ttft = first + p99_wait_s(first, rho)
    per_gpu = out_tps / (T * P)
    ok = fits.copy()
    slo = np.ones_like(ok)
    if ttft_ms:
        slo &= ttft <= ttft_ms * MS
    if tpot_ms:
        slo &= tpot <= tpot_ms * MS
    n = int(T.size)
    if not ok.any():
        return {"n": n, "best": None}
    meets = bool((ok & slo).any())
    pool = ok & slo if meets else ok
    idx = np.flatnonzero(pool)
    if meets:
        fleet = (np.ceil(need / out_tps) * T * P) if need else np.zeros_like(T)
        i = int(idx[np.lexsort((tpot[idx], -per_gpu[idx], fleet[idx]))[0]])
    else:  # nothing meets: the shape closest to the targets
        miss = np.zeros(T.size)
        if ttft_ms:
            miss = np.maximum(miss, ttft / (ttft_ms * MS))
        if tpot_ms:
            miss = np.maximum(miss, tpot / (tpot_ms * MS))
        i = int(idx[np.argmin(miss[idx])])
    bd = {"weights_and_kv_memory_s": float(dec["memory_s"][i]),
          "matmul_compute_s": float(dec["compute_s"][i]),
          "tp_comm_s": float(dec["tp_comm_s"][i]), "ep_comm_s": float(dec["ep_comm_s"][i]),
          "fixed_overhead_s": float(dec["overhead_s"][i]),
          "prefill_share_s": float(iteration[i] - alone["step_s"][i])}
    if bd["weights_and_kv_memory_s"] < bd["matmul_compute_s"]:
        bd["weights_and_kv_memory_s"] = 0.0
        bd["prefill_share_s"] = 0.0  # counted inside the compute-bound pass
    else:
        bd["matmul_compute_s"] = 0.0
    best = {"fmt": fmt, "kv": kv, "tp": int(T[i]), "pp": int(P[i]), "batch": int(B[i]),
            "max_conc": int(min(max_conc[i], max_batch) * P[i]), "out_tps": float(out_tps[i]),
            "ttft": float(ttft[i]), "tpot": float(tpot[i]), "per_gpu": float(per_gpu[i]),
            "fleet_gpus": float(np.ceil(need / out_tps[i]) * T[i] * P[i]) if need else 0.0,
            "mem": int(mem.total[i]), "meets": meets, "breakdown": bd,
            "iteration": float(iteration[i])}
    return {"n": n, "best": best}


def _check(I, O, rate, tpd, ttft, tpot, max_batch, headroom, alpha, gamma) -> None:
    for name, v in (("--input-tokens", I), ("--output-tokens", O), ("--max-batch", max_batch),
                    ("--draft-tokens", gamma)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 1 <= v <= 2**22:
            raise UserError(f"{name} must be a whole number from 1 to {2**22:,}, got {v!r}")
    for name, v, hi in (("--rate", rate, 1e9), ("--tokens-per-day", tpd, 1e18),
                        ("--ttft-ms", ttft, 1e7), ("--tpot-ms", tpot, 1e7)):
        if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0
                              or v > hi):
            raise UserError(f"{name} must be a positive number up to {hi:g}, got {v!r}")
    if rate is not None and tpd is not None:
        raise UserError("give --rate or --tokens-per-day, not both")
    if not (isinstance(headroom, (int, float)) and math.isfinite(headroom)
            and 0 <= headroom <= 10):
        raise UserError(f"--headroom must be between 0 and 10, got {headroom!r}")
    if alpha is not None and not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1):
        raise UserError(f"--speculative-acceptance must be between 0 and 1, got {alpha!r}")


__all__ = ["serve", "ServeResult", "decode_step_s", "prefill_s", "p99_wait_s",
           "expected_experts_touched", "speculative_speedup", "WEIGHT_FORMAT_BITS"]
