"""The serving planner's entry point: the best replica shape under SLOs, and the fleet.

:func:`serve` checks its inputs, evaluates every replica shape (TP × attention DP × EP × PP ×
batch, :mod:`~gpuplan.demand.serving.replica`) of every weight
format asked for with the engine model (:mod:`~gpuplan.demand.serving.engine`), keeps those that
fit in memory, picks the one that meets the latency targets with the fewest fleet GPUs, and
sizes the fleet for the offered load. It prices nothing: the pipeline adds ``cost_usd``.

References
----------
.. [2] Kwon et al. 2023, "Efficient Memory Management for LLM Serving with PagedAttention", SOSP:
   concurrency bounded by KV-cache memory; gpu_memory_utilization.
.. [3] Yu et al. 2022, "Orca: A Distributed Serving System for Transformer-Based Generative
   Models", OSDI: iteration-level (continuous) batching.
.. [4] Agrawal et al. 2024, "Taming Throughput-Latency Tradeoff in LLM Inference with
   Sarathi-Serve", OSDI: prefill interference with decode (chunked prefill).
.. [5] Kleinrock 1975, "Queueing Systems" Vol. 1: M/M/1 waiting-time distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, NoReturn

import numpy as np

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.catalog.schema import Accelerator
from gpuplan.checks import check_choice
from gpuplan.demand.arch import Arch, arch_from_config, param_counts
from gpuplan.demand.hardware import Hardware
from gpuplan.demand.layouts import pp_options
from gpuplan.demand.serving.engine import (
    COMPUTE_DTYPE,
    MAX_QUEUE_UTILISATION,
    Z_P99,
    decode_step_s,
    p99_wait_s,
    prefill_s,
    server_mean_concurrency,
    speculative_speedup,
)
from gpuplan.demand.serving.engines import (
    EngineProfile,
    engine_for,
    kv_reserved_tokens,
)
from gpuplan.demand.serving.engines import attention_dtype as resolve_attention_dtype
from gpuplan.demand.serving.fitted import fitted_figures, serving_hardware
from gpuplan.demand.serving.inputs import check_serve_inputs
from gpuplan.demand.serving.replica import (
    check_replica_pins,
    moe_shape_text,
    replica_layouts,
    replica_memory,
)
from gpuplan.demand.serving.results import ReplicaOut, ServeResult
from gpuplan.errors import UserError
from gpuplan.units import SECONDS_PER_DAY

#: Milliseconds [s].
MS = 1e-3
#: Fraction of the memory left after weights and runtime that the engine gives to KV cache and
#: activations (TensorRT-LLM's kv_cache_free_gpu_mem_fraction default, 0.9) [2]_.
FREE_MEMORY_FRACTION = 0.90
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
#: Draft tokens per speculative step when none is given [tokens].
DEFAULT_DRAFT_TOKENS = 4
#: Largest pipeline degree searched for a replica.
PP_OPTIONS_MAX = 8
#: Formats tried by ``quant="auto"``, in order.
AUTO_FORMATS = ("bf16", "fp8", "int8", "int4", "fp4")
#: Compute dtypes every accelerator runs (the catalog requires a bf16 or fp16 peak).
HALF_PRECISION = ("bf16", "fp16")
#: Formats that run on fp8-or-narrower tensor cores and so default the KV cache to fp8.
FP8_KV_FORMATS = ("fp8", "fp4")
#: MLPerf's scenarios: Offline (every query at once, no latency bound; targets, if given, are
#: checked at the chosen batch) and Server (Poisson arrivals, p99 TTFT/TPOT bounds).
SCENARIOS = ("offline", "server")
#: Iteration components reported in ``breakdown_s`` (see :func:`decode_step_s`).
BREAKDOWN_KEYS = ("weights_s", "gemm_s", "linear_s", "attention_s", "elementwise_s",
                  "tp_comm_s", "ep_comm_s", "pp_comm_s", "overhead_s")


@dataclass(frozen=True)
class _Request:
    """What a search is asked: traffic shape [tokens], pins, targets [ms] and fitted overheads."""

    input_tokens: int
    output_tokens: int
    tp: int | None
    pp: int | None
    max_batch: int
    ttft_ms: float | None
    tpot_ms: float | None
    speculative_acceptance: float | None
    draft_tokens: int
    overhead_per_layer_s: float
    kv_read_efficiency: float
    overhead_per_iteration_s: float
    need_tokens_per_s: float | None  # offered output tokens/s including headroom
    scenario: str = "offline"
    draft: Arch | None = None  # the speculative draft model, when one is used
    engine: EngineProfile | None = None  # None: KV held at the mean context (vLLM's rule)
    tp_comm_efficiency: float = 1.0  # share of the modelled all-reduce bandwidth reached
    roofline_sharpness: float = math.inf  # soft-roofline exponent of the linear layers
    ep: int | None = None  # pinned expert-parallel degree (None: searched)
    attention_dp: int | None = None  # pinned attention data-parallel degree
    moe_gemm_efficiency: float | None = None  # override of the fitted grouped-GEMM figure
    overhead_per_sequence_s: float = 0.0  # host time per running sequence per iteration
    attention_dtype: str = "bf16"  # dtype of the attention cores (fp8: FP8 context FMHA)
    max_num_tokens: int = PREFILL_CHUNK_TOKENS  # the engine's token budget per iteration
    kv_memory_fraction: float = FREE_MEMORY_FRACTION  # share of free memory the KV pool takes


@dataclass(frozen=True)
class _Shape:
    """The chosen replica shape of one weight format, with its figures (SI units)."""

    fmt: str
    kv: str
    tp: int
    pp: int
    ep: int
    dp: int
    batch: int
    max_conc: int
    out_tps: float
    ttft: float
    tpot: float
    per_gpu: float
    fleet_gpus: float
    mem: int
    meets: bool
    breakdown: dict[str, float]
    iteration: float


def serve(model: str, gpu: str, *, quant: str = "bf16", kv_dtype: str | None = None,
          input_tokens: int = 1024, output_tokens: int = 256, rate: float | None = None,
          tokens_per_day: float | None = None, ttft_ms: float | None = None,
          tpot_ms: float | None = None, tp: int | None = None, pp: int | None = None,
          max_batch: int | None = None, headroom: float = DEFAULT_HEADROOM,
          speculative_acceptance: float | None = None,
          draft_tokens: int = DEFAULT_DRAFT_TOKENS,
          catalog: Catalog | None = None, overhead_per_layer_s: float | None = None,
          kv_read_efficiency: float | None = None,
          overhead_per_iteration_s: float | None = None, scenario: str = "offline",
          serving_fraction: float | None = None, draft_model: str | None = None,
          engine: str | None = None, tp_comm_efficiency: float | None = None,
          require_slo: bool = False, roofline_sharpness: float | None = None,
          ep: int | None = None, attention_dp: int | None = None,
          moe_gemm_efficiency: float | None = None,
          overhead_per_sequence_s: float | None = None,
          attention_dtype: str | None = None, max_num_tokens: int | None = None,
          kv_memory_fraction: float | None = None) -> ServeResult:
    """Best replica shape under the latency targets, and the fleet for a traffic level.

    Parameters
    ----------
    model, gpu, catalog :
        As for :func:`gpuplan.demand.fitting.fit` (catalog default: the built-in one).
    quant : str
        Weight format: bf16, fp16, fp8 (W8A8), int8 / int4 (weight-only), fp4 (W4A4), or
        ``auto`` to search every format the accelerator runs.
    kv_dtype : str, optional
        KV-cache dtype; default bf16 (fp8 when quant is fp8/fp4).
    input_tokens, output_tokens : int
        Mean prompt and completion lengths [tokens].
    rate, tokens_per_day : float, optional
        Offered load [requests/s], or as output tokens per day [tokens/day].
    ttft_ms, tpot_ms : float, optional
        p99 time-to-first-token and time-per-output-token targets [ms].
    tp, pp : int, optional
        Pin the replica's tensor / pipeline degree (searched otherwise).
    max_batch : int, optional
        Cap on concurrent sequences per replica [sequences]; default the engine's (2048, 256).
    headroom : float
        Spare capacity above the offered load [fraction] (0.2 = 20 %).
    speculative_acceptance, draft_tokens, draft_model : optional
        Per-token acceptance rate α of a draft model [fraction], draft tokens per step γ
        [tokens], and the draft (default the smallest catalog model with the target's
        vocabulary); decode advances ``(1 − α^(γ+1))/(1 − α)`` tokens per step, each step the
        target's pass over ``γ + 1`` rows per sequence plus ``γ`` draft-model steps.
    overhead_per_layer_s, overhead_per_iteration_s, overhead_per_sequence_s : float, optional
        Fixed times per layer and per scheduler iteration, and host time per running sequence
        per iteration [s]; default the fitted values (the last two are the engine's).
    kv_read_efficiency, serving_fraction, tp_comm_efficiency, moe_gemm_efficiency : float, optional
        Paged-attention KV read efficiency, the share of the measured matmul ceiling serving
        GEMMs reach, that of the modelled all-reduce bandwidth TP all-reduces reach, and the
        grouped expert GEMMs' share of the dense GEMM rate [fraction]; default the fitted values.
    scenario : str
        ``offline`` (all requests queued, the largest batch) or ``server`` (Poisson arrivals:
        the mean concurrency's p99 fits and meets the targets), MLPerf's two scenarios.
    engine : str, optional
        ``trtllm``, ``vllm`` or ``sglang``; default per vendor (NVIDIA: TensorRT-LLM, else
        vLLM): KV admission and the fixed time per iteration (:mod:`~.engines`).
    require_slo : bool
        Raise when no shape meets the latency targets (naming the nearest feasible ones)
        instead of returning the closest shape with ``meets_slo`` False.
    roofline_sharpness : float, optional
        Soft-roofline exponent of the linear layers [—]; default the fitted value.
    ep, attention_dp : int, optional
        Pin an MoE replica's expert and attention data-parallel degrees [—] (``tp·attention_dp
        ·pp`` GPUs a replica; :mod:`~.replica`).
    attention_dtype : str, optional
        ``bf16`` (default) or ``fp8`` attention cores (TensorRT-LLM's FP8 context FMHA) [—].
    max_num_tokens, kv_memory_fraction : optional
        The engine's token budget per iteration [tokens] (default 8,192) and the share of the
        memory left after weights and workspace its KV pool takes [fraction] (default 0.90).

    Returns
    -------
    ServeResult
        ``cost_usd`` is left None: pricing is the pipeline's, not demand's.

    Raises
    ------
    UserError
        Bad values, unknown names, no shape that fits, or a format the accelerator lacks.
    """
    cat = catalog or load_catalog()
    acc = cat.accelerator(gpu)
    eng = engine_for(acc, engine)
    max_batch = eng.max_batch if max_batch is None else max_batch
    check_serve_inputs(input_tokens=input_tokens, output_tokens=output_tokens, rate=rate,
                       tokens_per_day=tokens_per_day, ttft_ms=ttft_ms, tpot_ms=tpot_ms,
                       max_batch=max_batch, headroom=headroom,
                       speculative_acceptance=speculative_acceptance,
                       draft_tokens=draft_tokens, kv_dtype=kv_dtype,
                       max_num_tokens=max_num_tokens, kv_memory_fraction=kv_memory_fraction)
    check_choice("scenario", scenario, SCENARIOS)
    name, cfg, _ = cat.model(model)
    arch, formats = arch_from_config(cfg, name), _formats(acc, quant)
    check_replica_pins(arch, tp, pp, ep, attention_dp)
    demand = _demand(rate, tokens_per_day, output_tokens)
    figures = fitted_figures(eng.name, dict(
        overhead_per_layer_s=overhead_per_layer_s, kv_read_efficiency=kv_read_efficiency,
        overhead_per_iteration_s=overhead_per_iteration_s, tp_comm_efficiency=tp_comm_efficiency,
        roofline_sharpness=roofline_sharpness, overhead_per_sequence_s=overhead_per_sequence_s))
    req = _Request(
        input_tokens=input_tokens, output_tokens=output_tokens, tp=tp, pp=pp,
        max_batch=max_batch, ttft_ms=ttft_ms, tpot_ms=tpot_ms,
        speculative_acceptance=speculative_acceptance, draft_tokens=draft_tokens,
        need_tokens_per_s=None if demand is None else demand * (1 + headroom),
        scenario=scenario, engine=eng, ep=ep, attention_dp=attention_dp,
        moe_gemm_efficiency=moe_gemm_efficiency, **figures,
        attention_dtype=resolve_attention_dtype(attention_dtype, acc),
        max_num_tokens=max_num_tokens or PREFILL_CHUNK_TOKENS,
        kv_memory_fraction=kv_memory_fraction or FREE_MEMORY_FRACTION,
        draft=None if speculative_acceptance is None else _draft(cat, arch, name, draft_model))
    best, n_eval = _best_shape(cat, acc, arch, formats, kv_dtype, serving_fraction, req)
    if best is None:
        _raise_no_fit(cat, acc, arch, name, quant, kv_dtype, serving_fraction, req)
    if require_slo and not best.meets:
        _raise_unmet(best, req, name, acc.id)
    return _result(arch, name, acc.id, best, req, rate=rate, demand=demand, headroom=headroom,
                   n_eval=n_eval)


def _demand(rate: float | None, tokens_per_day: float | None, output_tokens: int
            ) -> float | None:
    """Offered output tokens/s from a request rate or a daily token volume [tokens/s]."""
    if rate is not None:
        return rate * output_tokens
    if tokens_per_day is not None:
        return tokens_per_day / SECONDS_PER_DAY
    return None


def _best_shape(cat: Catalog, acc: Accelerator, arch: Arch, formats: list[str],
                kv_dtype: str | None, serving_fraction: float | None, req: _Request
                ) -> tuple[_Shape | None, int]:
    """The best shape over the weight formats (None if none fits), and shapes evaluated."""
    best: _Shape | None = None
    n_eval = 0
    for fmt in formats:
        kv = kv_dtype or ("fp8" if fmt in FP8_KV_FORMATS and "fp8" in acc.peak_flops_per_s
                          else "bf16")
        hw = serving_hardware(cat, acc, COMPUTE_DTYPE[fmt], serving_fraction,
                              req.moe_gemm_efficiency,
                              attention_dtype=req.attention_dtype)
        n, shape = _search(arch, hw, fmt, kv, req)
        n_eval += n
        if shape is not None and (best is None or _better(shape, best)):
            best = shape
    return best, n_eval


def _raise_no_fit(cat: Catalog, acc: Accelerator, arch: Arch, name: str, quant: str,
                  kv_dtype: str | None, serving_fraction: float | None, req: _Request
                  ) -> NoReturn:
    """One-line error for a model that fits no shape searched, naming the nearest that fits:
    the best shape of the same format unpinned (if tp/pp were pinned), else the widest format
    that fits."""
    where = f"{name} does not fit on {acc.id}"
    pins = {k: getattr(req, k) for k in ("tp", "pp", "ep", "attention_dp")
            if getattr(req, k) is not None}
    if pins:
        field = next(iter(pins))
        pinned = ", ".join([f"tp={req.tp or 1}, pp={req.pp or 1}"] + [
            f"{k}={v}" for k, v in pins.items() if k in ("ep", "attention_dp")])
        free = replace(req, tp=None, pp=None, ep=None, attention_dp=None)
        alt, _ = _best_shape(cat, acc, arch, _formats(acc, quant), kv_dtype, serving_fraction,
                             free)
        if alt is not None:
            raise UserError(f"{field} {getattr(req, field)}: {where} at {pinned}; the best "
                            f"shape that fits is tp={alt.tp}, pp={alt.pp}"
                            f"{moe_shape_text(alt.ep, alt.dp)} ({alt.fmt})",
                            field=field)
    for fmt in [f for f in AUTO_FORMATS if f in _formats(acc, "auto")]:
        alt, _ = _best_shape(cat, acc, arch, [fmt], kv_dtype, serving_fraction, req)
        if alt is not None:
            raise UserError(f"quant {quant}: {where} in {quant} with the shapes searched; the "
                            f"nearest that fits is quant {alt.fmt} at tp={alt.tp}, "
                            f"pp={alt.pp}", field="quant")
    raise UserError(f"quant {quant}: {where} in any weight format with tp up to the scale-up "
                    f"domain and pp up to {PP_OPTIONS_MAX}; see fit for {name} on {acc.id}",
                    field="quant")


def _raise_unmet(best: _Shape, req: _Request, name: str, gpu: str) -> None:
    """One-line error for targets nothing meets, with the nearest feasible targets [ms]."""
    misses = [(f, t, v) for f, t, v in (("tpot_ms", req.tpot_ms, best.tpot / MS),
                                         ("ttft_ms", req.ttft_ms, best.ttft / MS))
              if t is not None and v > t]
    field, target, _ = misses[0] if misses else ("tpot_ms", req.tpot_ms, 0.0)
    near = ", ".join(f"{f} {math.ceil(v)}" for f, t, v in (
        ("ttft_ms", req.ttft_ms, best.ttft / MS), ("tpot_ms", req.tpot_ms, best.tpot / MS))
        if t is not None)
    raise UserError(f"{field} {target:g}: no replica shape of {name} on {gpu} meets the "
                    f"latency targets; the nearest feasible is {near} (tp={best.tp}, "
                    f"pp={best.pp}{moe_shape_text(best.ep, best.dp)}, batch {best.batch}, "
                    f"{best.fmt})",
                    field=field)


def _result(arch: Arch, name: str, gpu: str, best: _Shape, req: _Request, *,
            rate: float | None, demand: float | None, headroom: float, n_eval: int
            ) -> ServeResult:
    """The :class:`ServeResult` of the chosen shape: replica, fleet, bottleneck and notes."""
    notes: list[str] = list(arch.notes)
    if not best.meets:
        reach = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v, t in (
            ("TTFT", best.ttft, req.ttft_ms), ("TPOT", best.tpot, req.tpot_ms)) if t)
        notes.append("no shape meets the latency targets; the shape closest to them is shown: "
                     f"it reaches {reach}, the nearest feasible targets")
    if (req.max_num_tokens, req.kv_memory_fraction) != (PREFILL_CHUNK_TOKENS,
                                                         FREE_MEMORY_FRACTION):
        notes.append(f"engine settings: {req.max_num_tokens} tokens per iteration, KV pool "
                     f"{req.kv_memory_fraction:.0%} of the memory left after weights and "
                     "workspace")
    if req.attention_dtype != "bf16":
        notes.append(f"attention cores in {req.attention_dtype} at the chip's "
                     f"{req.attention_dtype} matmul rate (the linear layers in {best.fmt})")
    if req.scenario == "server":
        p99 = math.ceil(best.batch + Z_P99 * math.sqrt(best.batch))
        notes.append(f"server scenario: Poisson arrivals at a mean of {best.batch} sequences in "
                     f"service per stage; its p99 ({p99}) fits the replica, and TTFT/TPOT are "
                     "taken at that p99")
    replicas = 1 if demand is None else max(1, math.ceil(demand * (1 + headroom)
                                                        / best.out_tps))
    if demand is not None and best.meets and (req.ttft_ms or req.tpot_ms):
        notes.append("latency targets are checked at the replica's chosen batch; the fleet runs "
                     f"each replica at ≤ {1 / (1 + headroom):.0%} of that load")
    I, O = req.input_tokens, req.output_tokens
    rep = ReplicaOut(gpus=best.tp * best.dp * best.pp, tp=best.tp, pp=best.pp,
                     ep=best.ep, attention_dp=best.dp, quant=best.fmt, kv_dtype=best.kv,
                     batch=best.batch, max_concurrency=best.max_conc,
                     output_tokens_per_s=best.out_tps,
                     total_tokens_per_s=best.out_tps * (I + O) / O, ttft_s=best.ttft,
                     tpot_s=best.tpot, memory_per_gpu_bytes=best.mem)
    bd = best.breakdown
    worst = max(bd, key=lambda k: bd[k])
    bottleneck = (f"{worst.removesuffix('_s').replace('_', ' ')} bound: "
                  f"{bd[worst] / best.iteration:.0%} of an iteration at batch {best.batch}")
    return ServeResult(
        model=name, gpu=gpu, input_tokens=I, output_tokens=O, rate_requests_per_s=rate,
        ttft_target_s=req.ttft_ms * MS if req.ttft_ms else None,
        tpot_target_s=req.tpot_ms * MS if req.tpot_ms else None, replica=rep, replicas=replicas,
        gpus=replicas * rep.gpus, output_tokens_per_s_per_gpu=best.per_gpu,
        demand_output_tokens_per_s=demand, headroom=headroom, breakdown_s=bd,
        bottleneck=bottleneck, candidates_evaluated=n_eval, meets_slo=best.meets, notes=notes)


def _draft(cat: Catalog, target: Arch, name: str, draft_model: str | None) -> Arch:
    """The speculative draft model: the one given, or the smallest catalog model that shares
    the target's vocabulary (and so its tokenizer)."""
    if draft_model is not None:
        d_name, d_cfg, _ = cat.model(draft_model)
        return arch_from_config(d_cfg, d_name)
    pool = [arch_from_config(cfg, m) for m, cfg in
            ((m, cat.model(m)[1]) for m in cat.models if m != name)]
    same = [a for a in pool if a.vocab_size == target.vocab_size
            and param_counts(a).total < param_counts(target).total]
    if not same:
        raise UserError(f"draft_model: no catalog model smaller than {name} shares its "
                        f"{target.vocab_size}-token vocabulary; name the draft model",
                        field="draft_model")
    return min(same, key=lambda a: param_counts(a).total)


def _formats(acc: Accelerator, quant: str) -> list[str]:
    """Weight formats to search: ``quant``, or with ``auto`` every one the accelerator runs."""
    if quant == "auto":
        return [f for f in AUTO_FORMATS
                if COMPUTE_DTYPE[f] in acc.peak_flops_per_s or COMPUTE_DTYPE[f] == "bf16"]
    check_choice("quant", quant, (*COMPUTE_DTYPE, "auto"))
    need = COMPUTE_DTYPE[quant]
    if need not in HALF_PRECISION and need not in acc.peak_flops_per_s:
        raise UserError(f"quant {quant} needs {need} tensor cores, which {acc.id} lacks; it has "
                        f"{', '.join(acc.peak_flops_per_s)}", field="quant")
    return [quant]


def _better(a: _Shape, b: _Shape) -> bool:
    """Shape ``a`` beats ``b``: meets the targets, then fewest fleet GPUs, then tokens/s/GPU."""
    return (not a.meets, a.fleet_gpus, -a.per_gpu) < (not b.meets, b.fleet_gpus, -b.per_gpu)


def _batches(arch: Arch, hw: Hardware, fmt: str, kv: str, req: _Request
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate (tp, pp, batch, ep, attention_dp) rows: the batch grid, plus each shape's
    memory-bound cap.

    Offline runs a shape at the most sequences its KV memory (or the engine cap) holds; Server
    at the mean concurrency whose p99 fits that cap (:func:`server_mean_concurrency`). An MoE
    model is tried at every (tp, attention_dp, ep) of
    :func:`~gpuplan.demand.serving.replica.replica_layouts`; a dense one at ep = dp = 1.
    """
    Tl, Dl, El = replica_layouts(arch, hw.domain, req.tp, req.ep, req.attention_dp)
    pps = [req.pp] if req.pp else [p for p in pp_options(arch, PP_OPTIONS_MAX)
                                   if p & (p - 1) == 0]
    li, pi = (x.ravel() for x in np.meshgrid(np.arange(Tl.size), np.arange(len(pps)),
                                             indexing="ij"))
    T0, D0, E0 = Tl[li], Dl[li], El[li]
    P0 = np.asarray(pps, dtype=float)[pi]
    grid = np.array([b for b in BATCH_OPTIONS if b <= req.max_batch], dtype=float)
    probe = _capacity(arch, hw, fmt, kv, req, T0, P0, D0)
    cap = np.minimum(probe, req.max_batch * D0)  # the engine cap holds per attention group
    extra = np.stack([cap, server_mean_concurrency(cap)], axis=1)
    B = np.concatenate([np.broadcast_to(grid, (T0.size, grid.size)), extra], axis=1)
    B = np.maximum(np.floor(B), 1.0)
    n = B.shape[1]
    return (np.repeat(T0, n), np.repeat(P0, n), B.ravel(), np.repeat(E0, n),
            np.repeat(D0, n))


def _memory_model(arch: Arch, hw: Hardware, fmt: str, kv: str, req: _Request, T: np.ndarray,
                  P: np.ndarray, DP: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-GPU memory of each shape as ``static + workspace + per_seq · b`` [bytes], and the KV
    budget [bytes] (:func:`~gpuplan.demand.serving.replica.replica_memory`): the workspace
    is allocated before the KV pool, which gets ``kv_memory_fraction`` of the rest (default
    ``FREE_MEMORY_FRACTION``) [2]_; the workspace holds ``max_num_tokens`` tokens.
    """
    I, O = req.input_tokens, req.output_tokens
    ctx = kv_reserved_tokens(req.engine, I, O) if req.engine else I + O / 2
    models = [arch] if req.draft is None else [arch, req.draft]
    static, work, slope = replica_memory(models, fmt, kv, ctx, T, P, DP,
                                         probe_batch=float(req.max_num_tokens),
                                         prefill_chunk_tokens=float(req.max_num_tokens))
    budget = req.kv_memory_fraction * np.maximum(hw.memory_bytes - static - work, 0.0)
    return static, work, slope, budget


def _capacity(arch: Arch, hw: Hardware, fmt: str, kv: str, req: _Request, T: np.ndarray,
              P: np.ndarray, DP: np.ndarray) -> np.ndarray:
    """Most sequences each shape holds: their reserved KV within the KV pool [sequences]."""
    _, _, slope, budget = _memory_model(arch, hw, fmt, kv, req, T, P, DP)
    return np.asarray(np.floor(budget / slope))


def _shapes(arch: Arch, hw: Hardware, fmt: str, kv: str, req: _Request) -> dict[str, np.ndarray]:
    """Memory, throughput and latency of every replica shape (tp × pp × batch) [SI units]."""
    T, P, B, EP, DP = _batches(arch, hw, fmt, kv, req)
    I, O = req.input_tokens, req.output_tokens
    ctx_avg = I + O / 2
    static, work, slope, budget = _memory_model(arch, hw, fmt, kv, req, T, P, DP)
    total = static + work + slope * B
    # largest concurrency each shape holds: the engine's reserved KV per sequence in the pool
    max_conc = np.floor(budget / slope)
    alpha = req.speculative_acceptance
    gamma = req.draft_tokens if req.draft is not None else 0
    tokens_per_step = speculative_speedup(alpha or 0.0, gamma) if gamma else 1.0
    # Continuous batching with chunked prefill: each iteration decodes the b running sequences
    # and prefills the b/steps new ones arriving in their place, in one forward pass [3]_ [4]_.
    kw: dict[str, Any] = dict(weight_format=fmt, kv_dtype=kv, context=ctx_avg, tp=T,
                              pp=P, overhead_per_layer_s=req.overhead_per_layer_s,
                              kv_read_efficiency=req.kv_read_efficiency,
                              overhead_per_iteration_s=req.overhead_per_iteration_s,
                              overhead_per_sequence_s=req.overhead_per_sequence_s,
                              tp_comm_efficiency=req.tp_comm_efficiency,
                              roofline_sharpness=req.roofline_sharpness, ep=EP,
                              attention_dp=DP)
    per_seq = I / (O / tokens_per_step)

    def step(batch: np.ndarray, prefill: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One iteration: the target (verifying γ+1 rows) plus γ draft steps [6]_."""
        pre_kw: dict[str, Any] = (dict(prefill_tokens=batch * per_seq, prefill_span=I / 2)
                                  if prefill else {})
        target = decode_step_s(arch, hw, batch=batch, verify_tokens=gamma, **pre_kw, **kw)
        t = target["step_s"]
        if req.draft is not None:
            t = t + gamma * decode_step_s(req.draft, hw, batch=batch, **pre_kw, **kw)["step_s"]
        return t, target

    iteration, dec = step(B, True)
    alone, _ = step(B, False)
    fits = (static + work <= hw.memory_bytes) & (max_conc >= B)
    # Server: the batch is the mean of a Poisson occupancy; its p99 must fit, and TPOT is the
    # iteration at that p99 batch (Little's law, M/G/∞) [5]_.
    peak_b = B
    if req.scenario == "server":
        peak_b = np.ceil(B + Z_P99 * np.sqrt(B))
        fits &= (peak_b <= max_conc) & (peak_b <= req.max_batch * DP)
    slow = iteration if req.scenario != "server" else step(peak_b, True)[0]
    # TTFT: the prompt is split into chunks of what an iteration can take beside the decodes;
    # plus the p99 wait for admission (M/M/1 on the prefill share of the iteration) [5]_.
    chunks = np.ceil(I / np.maximum(req.max_num_tokens - peak_b / DP,
                                    MIN_PREFILL_CHUNK_TOKENS))
    pre = prefill_s(arch, hw, weight_format=fmt, input_tokens=I, tp=T, pp=P,
                    overhead_per_layer_s=req.overhead_per_layer_s,
                    tp_comm_efficiency=req.tp_comm_efficiency, ep=EP, attention_dp=DP)
    first = np.maximum(chunks * slow * P, pre)
    rho = np.clip((iteration - alone) / iteration, 0, MAX_QUEUE_UTILISATION)
    # pipeline: p micro-batches of b in flight; a token crosses all p stages
    out_tps = B * tokens_per_step / iteration
    return {"T": T, "P": P, "B": B, "EP": EP, "DP": DP, "mem": total, "max_conc": max_conc,
            "fits": fits,
            "out_tps": out_tps, "tpot": slow * P / tokens_per_step,
            "ttft": first + p99_wait_s(first, rho), "per_gpu": out_tps / (T * DP * P),
            "iteration": iteration, "alone": alone,
            **{k: dec[k] for k in BREAKDOWN_KEYS}}


def _search(arch: Arch, hw: Hardware, fmt: str, kv: str, req: _Request
            ) -> tuple[int, _Shape | None]:
    """Shapes evaluated, and the best for one weight format (None if none fits).

    With a demand (``need`` output tokens/s incl. headroom) the winner needs the fewest GPUs for
    it, a small model at low traffic takes one small replica rather than the shape with the
    best throughput per GPU; without one, the most output tokens/s per GPU wins.
    """
    a = _shapes(arch, hw, fmt, kv, req)
    T, P, ok = a["T"], a["P"], a["fits"]
    G = T * a["DP"] * P  # GPUs per replica
    slo = np.ones_like(ok)
    if req.ttft_ms:
        slo &= a["ttft"] <= req.ttft_ms * MS
    if req.tpot_ms:
        slo &= a["tpot"] <= req.tpot_ms * MS
    n = int(T.size)
    if not ok.any():
        return n, None
    meets = bool((ok & slo).any())
    idx = np.flatnonzero(ok & slo if meets else ok)
    need = req.need_tokens_per_s
    if meets:
        fleet = (np.ceil(need / a["out_tps"]) * G) if need else np.zeros_like(T)
        i = int(idx[np.lexsort((a["tpot"][idx], -a["per_gpu"][idx], fleet[idx]))[0]])
    else:  # nothing meets: the shape closest to the targets
        miss = np.zeros(T.size)
        if req.ttft_ms:
            miss = np.maximum(miss, a["ttft"] / (req.ttft_ms * MS))
        if req.tpot_ms:
            miss = np.maximum(miss, a["tpot"] / (req.tpot_ms * MS))
        i = int(idx[np.argmin(miss[idx])])
    linear = "weights_read_s" if a["weights_s"][i] >= a["gemm_s"][i] else "gemm_compute_s"
    bd = {linear: float(a["linear_s"][i]),
          "attention_s": float(a["attention_s"][i]),
          "elementwise_s": float(a["elementwise_s"][i]), "tp_comm_s": float(a["tp_comm_s"][i]),
          "ep_comm_s": float(a["ep_comm_s"][i]), "pp_comm_s": float(a["pp_comm_s"][i]),
          "fixed_overhead_s": float(a["overhead_s"][i])}
    out_i = float(a["out_tps"][i])
    return n, _Shape(
        fmt=fmt, kv=kv, tp=int(T[i]), pp=int(P[i]), ep=int(a["EP"][i]), dp=int(a["DP"][i]),
        batch=int(a["B"][i]),
        max_conc=int(min(a["max_conc"][i], req.max_batch * a["DP"][i]) * P[i]), out_tps=out_i,
        ttft=float(a["ttft"][i]), tpot=float(a["tpot"][i]), per_gpu=float(a["per_gpu"][i]),
        fleet_gpus=float(np.ceil(need / out_i) * G[i]) if need else 0.0,
        mem=int(a["mem"][i]), meets=meets, breakdown=bd, iteration=float(a["iteration"][i]))
