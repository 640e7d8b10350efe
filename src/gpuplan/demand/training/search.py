"""The training planner's entry point: search every feasible layout and size the run.

:func:`train` checks its inputs, builds the candidate grid (:func:`candidate_grid`), keeps the
layouts that fit in memory, times them all at once (:func:`~.steptime.step_time`), ranks them by
tokens per second, and turns the winner into GPU-hours, wall-clock days (with goodput) and
energy. It prices nothing: the pipeline adds ``cost_usd``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.catalog.systems import nodes_for_gpus
from gpuplan.checks import check_choice, check_number, check_whole
from gpuplan.demand.arch import Arch, arch_from_config, param_counts
from gpuplan.demand.hardware import Hardware, hardware_for
from gpuplan.demand.layouts import (
    LayoutOut,
    check_layout,
    cp_options,
    ep_options,
    filter_grid,
    grid,
    layout_at,
    make_layout,
    parse_layout,
    pp_options,
    tp_options,
)
from gpuplan.demand.memory import (
    RECOMPUTE_CODES,
    TRAIN_DTYPES,
    TRAIN_MODES,
    max_pipeline_chunks,
    training_memory,
)
from gpuplan.demand.training.batch import (
    check_ramp,
    choose_global_batch_tokens,
    microbatch_warning,
)
from gpuplan.demand.training.checkpointing import RunGoodput, checkpoint_bytes, job_goodput
from gpuplan.demand.training.frameworks import (
    FRAMEWORK_AXES,
    FrameworkProfile,
    check_layout_supported,
    framework_profile,
)
from gpuplan.demand.training.phases import Phase, phase_out, teacher_forward_share
from gpuplan.demand.training.results import (
    BatchStage,
    Candidate,
    PhaseOut,
    ReferenceLayout,
    TrainResult,
)
from gpuplan.demand.training.steptime import (
    BREAKDOWN_KEYS,
    BREAKDOWN_LABELS,
    hardware_flops_per_token,
    model_flops_per_token,
    step_time,
)
from gpuplan.errors import UserError
from gpuplan.units import BYTES_PER_GB, HOURS_PER_DAY, SECONDS_PER_HOUR

#: Options searched.
MB_OPTIONS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
VPP_OPTIONS = (1, 2, 3, 4, 6, 7, 8, 9, 12, 16)
ZERO_OPTIONS = (0, 1, 2, 3)
#: How far above the requested global batch a layout may round it (whole micro-batches on every
#: data-parallel rank); candidates are ranked by tokens/s so a larger batch gains nothing.
BATCH_ROUNDING_TOLERANCE = 0.10
DEFAULT_SEQ_LEN = 4096
#: Longest sequence at which the reference layout keeps context parallelism off: Llama 3 405B
#: trained 8K sequences at CP1 and 128K at CP16 (Llama Team 2024, Table 4) [tokens].
REFERENCE_MAX_SEQ_WITHOUT_CP = 8192
#: Highest ZeRO stage of the reference layout: Megatron's distributed optimizer shards the
#: optimizer state only (Narayanan et al. 2021; Megatron-Core ``--use-distributed-optimizer``).
REFERENCE_MAX_ZERO = 1
#: Step-time terms named in the reference comparison.
REFERENCE_TERMS_SHOWN = 2
#: Key order of a layout in messages.
LAYOUT_ORDER = ("tp", "pp", "dp", "cp", "ep", "mb", "vpp", "recompute", "zero")
#: Layouts reported beside the best.
TOP_N = 5
#: Upper bounds on the inputs; beyond them a request is a typo, not a plan.
MAX_GPUS = 2**24
MAX_TOKENS = 1e16
MAX_SEQ_LEN = 2**22
MAX_GLOBAL_BATCH_TOKENS = 1e10


def candidate_grid(arch: Arch, gpus: int, seq_len: int, global_batch: int, domain: int,
                   fixed: dict[str, int | str], fw: FrameworkProfile | None = None
                   ) -> dict[str, np.ndarray]:
    """Every layout of ``gpus`` accelerators consistent with ``fixed`` and the model's shape.

    Parameters
    ----------
    arch : Arch
        The model.
    gpus : int
        Accelerators in the job [accelerators].
    seq_len : int
        Sequence length [tokens].
    global_batch : int
        Sequences per optimizer step [sequences].
    domain : int
        Scale-up domain size (the TP limit) [accelerators].
    fixed : dict
        Pinned layout keys (``recompute`` by name).
    fw : FrameworkProfile, optional
        The framework: axes it does not implement stay at 1, only its ZeRO stages are
        searched, and ZeRO above its limit with pipeline parallelism is dropped.

    Returns
    -------
    dict of arrays
        The layout keys plus ``m``, micro-batches per data-parallel rank.
    """
    tps = tp_options(arch, domain)
    cps = cp_options(seq_len)
    axes: dict[str, list[int]] = dict(
        tp=tps, pp=pp_options(arch), cp=cps, ep=ep_options(arch), mb=list(MB_OPTIONS),
        vpp=list(VPP_OPTIONS), recompute=list(RECOMPUTE_CODES.values()), zero=list(ZERO_OPTIONS))
    for k, v in fixed.items():
        if k != "dp":
            axes[k] = [RECOMPUTE_CODES[str(v)] if k == "recompute" else int(v)]
    if fw is not None:
        for ax in FRAMEWORK_AXES:
            if fw.axes is not None and ax not in fw.axes:
                axes[ax] = [v for v in axes[ax] if v == 1]
        if fw.zero_stages is not None:
            axes["zero"] = [z for z in axes["zero"] if z in fw.zero_stages]
    # Built in three steps so that only structurally valid (tp, pp, cp, ep) and then valid
    # (mb, vpp) combinations are crossed with the rest (the result is the same set).
    g = grid(**{k: axes[k] for k in ("tp", "pp", "cp", "ep")})
    inner = g["tp"] * g["pp"] * g["cp"]
    ok = (gpus % inner == 0)
    g["dp"] = np.where(ok, gpus // np.maximum(inner, 1), 0)
    ok &= g["dp"] >= 1
    if "dp" in fixed:
        ok &= g["dp"] == fixed["dp"]
    ok &= (g["pp"] <= arch.num_layers)
    ok &= ((g["dp"] * g["cp"]) % g["ep"] == 0)
    g = _cross(filter_grid(g, ok), mb=axes["mb"], vpp=axes["vpp"])
    # Interleaving whenever pp·vpp ≤ layers + 2; stages may be uneven (Llama 3 405B: 126 layers
    # on 16 stages, the first and last holding one layer less; at vpp = 8 the embedding and the
    # head have a chunk each), the busiest rank holding ceil(L/pp) layers, which is what the
    # step time and memory models charge.
    ok = (g["vpp"] == 1) | ((g["pp"] > 1)
                            & (g["pp"] * g["vpp"] <= max_pipeline_chunks(arch.num_layers)))
    # The global batch is met to within BATCH_ROUNDING_TOLERANCE: m = ceil(B / (dp·mb)).
    per_step = np.maximum(g["dp"] * g["mb"], 1)
    g["m"] = -(-global_batch // per_step)
    ok &= g["m"] * per_step <= global_batch * (1 + BATCH_ROUNDING_TOLERANCE)
    g = _cross(filter_grid(g, ok), recompute=axes["recompute"], zero=axes["zero"])
    if fw is not None and fw.max_zero_with_pp is not None and g["tp"].size:
        g = filter_grid(g, (g["pp"] == 1) | (g["zero"] <= fw.max_zero_with_pp))
    return g


def _cross(g: dict[str, np.ndarray], **axes: list[int]) -> dict[str, np.ndarray]:
    """Every candidate of ``g`` combined with every combination of ``axes`` (grid order)."""
    n = int(next(iter(g.values())).size)
    extra = grid(**axes)
    k = int(next(iter(extra.values())).size)
    out = {key: np.repeat(v, k) for key, v in g.items()}
    out.update({key: np.tile(v, n) for key, v in extra.items()})
    return out


def _check_inputs(mode: str, dtype: str, gpus: int, tokens: float, seq_len: int | None,
                  global_batch_tokens: float | None) -> tuple[int, float | None]:
    """Check the inputs of :func:`train`; the sequence length defaulted, the batch if given."""
    check_choice("mode", mode, TRAIN_MODES)
    check_choice("dtype", dtype, TRAIN_DTYPES)
    check_whole("gpus", gpus, MAX_GPUS)
    check_number("tokens", tokens, 0.0, MAX_TOKENS, lo_open=True)
    seq = check_whole("seq_len", seq_len or DEFAULT_SEQ_LEN, MAX_SEQ_LEN)
    if global_batch_tokens is None:
        return seq, None
    gbt = check_number("global_batch_tokens", global_batch_tokens, seq, MAX_GLOBAL_BATCH_TOKENS)
    return seq, gbt


def _pinned(arch: Arch, gpus: int, layout: str | dict[str, int | str] | None
            ) -> dict[str, int | str]:
    """The layout keys the user pinned, checked against the model's shape."""
    fixed = parse_layout(layout) if isinstance(layout, str) or layout is None else dict(layout)
    if fixed:
        inner = int(fixed.get("tp", 1)) * int(fixed.get("pp", 1)) * int(fixed.get("cp", 1))
        probe = make_layout({"dp": max(gpus // inner, 1)} | fixed)
        check_layout(arch, probe)
    return fixed


@dataclass(frozen=True)
class _Feasible:
    """The candidates that fit in memory, and how many were looked at."""

    grid: dict[str, np.ndarray]
    memory_bytes: np.ndarray
    evaluated: int
    fitting: int


def _feasible(arch: Arch, name: str, acc_id: str, hw: Hardware, *, gpus: int, mode: str,
              seq_len: int, global_batch: int, fixed: dict[str, int | str],
              layout: str | dict[str, int | str] | None, fw: FrameworkProfile) -> _Feasible:
    """Every candidate layout that fits the accelerator's memory.

    Raises
    ------
    UserError
        No layout of ``gpus`` meets the constraints, or none fits in memory.
    """
    g = candidate_grid(arch, gpus, seq_len, global_batch, hw.domain, fixed, fw)
    n_cand = int(g["tp"].size)
    if n_cand == 0:
        raise UserError(f"no layout of {gpus} GPUs fits the constraints (tp·pp·cp must divide "
                        f"the GPU count, and whole micro-batches on every data-parallel rank "
                        f"must come within {BATCH_ROUNDING_TOLERANCE:.0%} of the global batch "
                        f"of {global_batch} sequences"
                        + (f", and the pinned {layout}" if layout else "")
                        + (f", and what {fw.id} implements" if fw.axes is not None else "")
                        + ")", field="gpus")
    mem = training_memory(arch, mode=mode, seq_len=seq_len, mb=g["mb"], tp=g["tp"], pp=g["pp"],
                          dp=g["dp"], cp=g["cp"], ep=g["ep"], zero=g["zero"],
                          recompute=g["recompute"], vpp=g["vpp"], microbatches=g["m"])
    total_mem = mem.total
    fits = total_mem <= hw.memory_bytes
    if not fits.any():
        i = int(np.argmin(total_mem))
        terms = mem.at(i)
        big = max((k for k in terms if k != "total"), key=lambda k: terms[k])
        need = (f"least needed {total_mem[i] / BYTES_PER_GB:,.1f} GB per GPU of "
                f"{hw.memory_bytes / BYTES_PER_GB:,.1f} GB, largest term {big} "
                f"{terms[big] / BYTES_PER_GB:,.1f} GB")
        if fixed:
            near = _nearest_fitting(arch, hw, gpus=gpus, mode=mode, seq_len=seq_len,
                                    global_batch=global_batch, fixed=fixed, fw=fw)
            raise UserError(f"layout {_layout_text(fixed)} does not fit {name} on {gpus} × "
                            f"{acc_id} ({need}); nearest layout that fits: {near}",
                            field="layout")
        raise UserError(f"no layout of {gpus} × {acc_id} fits {name} in memory ({need}); try "
                        f"more GPUs (fit in mode 'train' gives the fewest that fit)",
                        field="gpus")
    return _Feasible(grid=filter_grid(g, fits), memory_bytes=total_mem[fits], evaluated=n_cand,
                     fitting=int(fits.sum()))


def _layout_text(keys: dict[str, int | str]) -> str:
    return ",".join(f"{k}={v}" for k, v in keys.items())


def _nearest_fitting(arch: Arch, hw: Hardware, *, gpus: int, mode: str, seq_len: int,
                     global_batch: int, fixed: dict[str, int | str], fw: FrameworkProfile
                     ) -> str:
    """The fitting layout of ``gpus`` that changes the fewest pinned keys (then the fastest)."""
    g = candidate_grid(arch, gpus, seq_len, global_batch, hw.domain, {}, fw)
    if g["tp"].size == 0:
        return "none (no layout of this GPU count meets the batch)"
    mem = training_memory(arch, mode=mode, seq_len=seq_len, mb=g["mb"], tp=g["tp"], pp=g["pp"],
                          dp=g["dp"], cp=g["cp"], ep=g["ep"], zero=g["zero"],
                          recompute=g["recompute"], vpp=g["vpp"], microbatches=g["m"]).total
    fits = mem <= hw.memory_bytes
    if not fits.any():
        return "none at this GPU count (try more GPUs)"
    changed = np.zeros(g["tp"].shape, dtype=int)
    for k, v in fixed.items():
        want = RECOMPUTE_CODES[str(v)] if k == "recompute" else int(v)
        changed += (g[k] != want).astype(int)
    g = filter_grid(g, fits)
    changed, mem = changed[fits], mem[fits]
    t_step = step_time(arch, g, seq_len=seq_len, global_batch=global_batch, hw=hw,
                       mode=mode, framework=fw.id, dtype=fw.dtype)["step_time_s"]
    j = int(np.lexsort((t_step, changed))[0])
    lay = layout_at(g, j).as_dict()
    return (",".join(f"{k}={lay[k]}" for k in LAYOUT_ORDER if k in lay)
            + f" ({mem[j] / BYTES_PER_GB:,.1f} GB per GPU)")


def _reference(sr: _Searched, seq_len: int) -> ReferenceLayout | None:
    """The fastest feasible layout of the published kind and why the choice beats it.

    Notes
    -----
    The published kind (Megatron-LM, Llama 3 Table 4, MLPerf GPT-3): the largest TP the
    candidates offer (one scale-up domain), no context parallelism up to 8K sequences, ZeRO ≤ 1
    (distributed optimizer), pipeline, interleaving, micro-batch and recompute searched.
    """
    g = sr.feas.grid
    ok = (g["tp"] == g["tp"].max()) & (g["zero"] <= REFERENCE_MAX_ZERO)
    if seq_len <= REFERENCE_MAX_SEQ_WITHOUT_CP:
        ok &= g["cp"] == 1
    if not ok.any():
        return None
    rank = np.empty_like(sr.order)
    rank[sr.order] = np.arange(sr.order.size)
    j = int(np.argmin(np.where(ok, rank, np.iinfo(rank.dtype).max)))
    b = sr.best
    t_ref, t_best = float(sr.st["step_time_s"][j]), float(sr.st["step_time_s"][b])
    diffs = sorted(BREAKDOWN_KEYS, key=lambda k: -abs(float(sr.st[k][j] - sr.st[k][b])))
    why = "; ".join(f"{BREAKDOWN_LABELS[k]} {float(sr.st[k][b]):.2f} s vs "
                    f"{float(sr.st[k][j]):.2f} s" for k in diffs[:REFERENCE_TERMS_SHOWN])
    rule = (f"tp={int(g['tp'].max())} (one scale-up domain), zero≤{REFERENCE_MAX_ZERO}"
            + (", cp=1" if seq_len <= REFERENCE_MAX_SEQ_WITHOUT_CP else "")
            + ", the rest searched (Megatron-LM / Llama 3 Table 4 kind)")
    return ReferenceLayout(rule=rule, layout=_layout_out(g, j), step_time_s=t_ref,
                           mfu=float(sr.mfu[j]), memory_per_gpu_bytes=int(sr.feas.memory_bytes[j]),
                           chosen_speedup=t_ref / t_best - 1.0,
                           why=f"chosen vs reference per step: {why}" if j != b else
                           "the chosen layout is of the published kind")


def _why(bd: dict[str, float], step: float) -> str:
    worst = max((k for k in BREAKDOWN_KEYS if k not in ("compute_s",)), key=lambda k: bd[k])
    share = bd[worst] / step if step > 0 else 0.0
    compute_share = bd["compute_s"] / step if step > 0 else 0.0
    return (f"{BREAKDOWN_LABELS[worst]}: {share:.0%} of step (matmul compute "
            f"{compute_share:.0%})")


def _layout_out(g: dict[str, np.ndarray], i: int) -> LayoutOut:
    return LayoutOut(**layout_at(g, i).as_dict())


def _top(feas: _Feasible, st: dict[str, np.ndarray], mfu: np.ndarray, order: np.ndarray
         ) -> list[Candidate]:
    """The :data:`TOP_N` fastest layouts, each with its bottleneck."""
    top = []
    for j in (int(x) for x in order[:TOP_N]):
        bdj = {k: float(st[k][j]) for k in BREAKDOWN_KEYS}
        top.append(Candidate(layout=_layout_out(feas.grid, j),
                             step_time_s=float(st["step_time_s"][j]), mfu=float(mfu[j]),
                             memory_per_gpu_bytes=int(feas.memory_bytes[j]),
                             why=_why(bdj, float(st["step_time_s"][j]))))
    return top


def _run_goodput(cat: Catalog, arch: Arch, gpus: int, failures: bool, notes: list[str]
                 ) -> RunGoodput:
    """Goodput of the run from the catalog's reliability entry (1 for the ideal run)."""
    rel = cat.reliability.get("default")
    if not failures:
        return RunGoodput()
    if rel is None:
        notes.append("no reliability entry in the catalog: failures not modelled")
        return RunGoodput()
    return job_goodput(gpus, checkpoint_bytes(arch), rel)


@dataclass(frozen=True)
class _Searched:
    """The feasible candidates of one global batch, timed and ranked (best first)."""

    feas: _Feasible
    st: dict[str, np.ndarray]
    tokens_step: np.ndarray
    mfu: np.ndarray
    order: np.ndarray

    @property
    def best(self) -> int:
        return int(self.order[0])


def _search(arch: Arch, name: str, acc_id: str, hw: Hardware, *, gpus: int, mode: str,
            seq_len: int, global_batch: int, fixed: dict[str, int | str],
            layout: str | dict[str, int | str] | None, fw: FrameworkProfile) -> _Searched:
    """Every feasible layout at one global batch, timed and ordered by tokens/s."""
    feas = _feasible(arch, name, acc_id, hw, gpus=gpus, mode=mode, seq_len=seq_len,
                     global_batch=global_batch, fixed=fixed, layout=layout, fw=fw)
    gf = feas.grid
    st = step_time(arch, gf, seq_len=seq_len, global_batch=global_batch, hw=hw, mode=mode,
                   framework=fw.id, dtype=fw.dtype)
    tokens_step = (gf["m"] * gf["dp"] * gf["mb"] * seq_len).astype(float)
    rate = tokens_step / st["step_time_s"]
    order = np.lexsort((feas.memory_bytes, -rate))
    mfu = tokens_step * model_flops_per_token(arch, seq_len, mode) / (
        st["step_time_s"] * gpus * hw.peak_flops_per_s)
    return _Searched(feas=feas, st=st, tokens_step=tokens_step, mfu=mfu, order=order)


def _batch_stages(arch: Arch, name: str, acc_id: str, hw: Hardware, *, gpus: int, mode: str,
                  seq_len: int, fixed: dict[str, int | str],
                  layout: str | dict[str, int | str] | None,
                  ramp: list[tuple[float, float]], fw: FrameworkProfile
                  ) -> tuple[list[BatchStage], float]:
    """Each stage of a batch ramp searched at its own batch; the stages and their ideal time."""
    stages: list[BatchStage] = []
    total_s = 0.0
    for stage_tokens, batch_tokens in ramp:
        gb = max(int(round(batch_tokens / seq_len)), 1)
        sr = _search(arch, name, acc_id, hw, gpus=gpus, mode=mode, seq_len=seq_len,
                     global_batch=gb, fixed=fixed, layout=layout, fw=fw)
        b = sr.best
        step = float(sr.st["step_time_s"][b])
        steps = int(math.ceil(stage_tokens / sr.tokens_step[b]))
        total_s += steps * step
        stages.append(BatchStage(tokens=stage_tokens, global_batch_tokens=int(sr.tokens_step[b]),
                                 steps=steps, step_time_s=step, mfu=float(sr.mfu[b]),
                                 layout=_layout_out(sr.feas.grid, b)))
    return stages, total_s


def _train_phases(model: str, gpu: str, gpus: int, phases: list[Phase], *, dtype: str,
                  layout: str | dict[str, int | str] | None, failures: bool, catalog: Catalog,
                  mamf_fraction: float | None, mode: str, seq_len: int | None,
                  framework: str | None) -> TrainResult:
    """Each phase searched on its own; the longest phase's result carries the run's totals.

    Notes
    -----
    GPU-hours, wall-clock, energy, steps and tokens are sums over phases; a distillation
    phase's time is scaled by ``1 + F_teacher_fwd / F_student_hw`` (:mod:`~.phases`).
    """
    rows: list[PhaseOut] = []
    results: list[TrainResult] = []
    for ph in phases:
        r = train(model, gpu, ph.gpus or gpus, ph.tokens, seq_len=ph.seq_len or seq_len,
                  global_batch_tokens=ph.global_batch_tokens, dtype=dtype,
                  layout=ph.layout or layout, failures=failures, catalog=catalog,
                  mamf_fraction=mamf_fraction, mode=mode, framework=framework)
        share = 0.0
        if ph.teacher:
            share = teacher_forward_share(catalog, ph.teacher,
                                          r.hfu / r.mfu * r.model_flops_per_token, r.seq_len)
        rows.append(phase_out(ph, r, share))
        results.append(r)
    main = max(range(len(rows)), key=lambda i: rows[i].gpu_hours)
    base = results[main]
    ideal_days = sum(r.ideal_wall_days * (1 + p.teacher_forward_share)
                     for r, p in zip(results, rows, strict=True))
    energy = sum(r.energy_wh * (1 + p.teacher_forward_share)
                 for r, p in zip(results, rows, strict=True))
    notes = [*base.notes, f"run of {len(rows)} phases; layout, step time and MFU are those of "
             f"the longest phase ({rows[main].name})"]
    return base.model_copy(update=dict(
        tokens=sum(p.tokens for p in rows), steps=sum(r.steps for r in results),
        gpu_hours=sum(p.gpu_hours for p in rows), wall_days=sum(p.wall_days for p in rows),
        ideal_wall_days=ideal_days, energy_wh=energy, phases=rows, notes=notes))


def train(model: str, gpu: str, gpus: int, tokens: float, *, seq_len: int | None = None,
          global_batch_tokens: float | None = None, dtype: str = "bf16",
          layout: str | dict[str, int | str] | None = None, failures: bool = True,
          catalog: Catalog | None = None, mamf_fraction: float | None = None,
          mode: str = "train", batch_ramp: Sequence[tuple[float, float]] | None = None,
          phases: Sequence[Phase] | None = None, framework: str | None = None) -> TrainResult:
    """Best (or given) layout for training ``model`` on ``gpus`` × ``gpu`` for ``tokens`` tokens.

    Parameters
    ----------
    model, gpu : str
        As for :func:`gpuplan.demand.fitting.fit`.
    gpus : int
        Accelerators in the job [accelerators].
    tokens : float
        Training tokens [tokens].
    seq_len : int, optional
        Sequence length [tokens]; default 4096.
    global_batch_tokens : float, optional
        Tokens per optimizer step [tokens], rounded to whole sequences; default chosen by
        :func:`~.batch.choose_global_batch_tokens` (the rule is in ``notes``).
    dtype : {"bf16", "fp16", "fp8"}
        Matmul dtype; MFU is against the dense peak of this dtype.
    layout : str or dict, optional
        Keys pinned (``tp=8,pp=16``); the rest is searched.
    failures : bool
        Include time lost to interruptions and checkpoints (goodput); False for the ideal.
    catalog : Catalog, optional
        Default: the built-in catalog.
    mamf_fraction : float, optional
        Overrides the calibrated fraction of MAMF [fraction] (the calibration uses it).
    mode : {"train", "finetune", "lora", "qlora"}
        Pre-training and full fine-tuning are the same engine; LoRA/QLoRA freeze the base
        (memory and step time change; ``tokens`` is the fine-tuning token budget).
    batch_ramp : sequence of (float, float), optional
        ``(tokens_until, batch_tokens)`` stages [tokens, tokens] (Llama 3: 4M → 8M → 16M); the
        last stage's batch runs to the end and is the reported ``global_batch_tokens``.
    phases : sequence of Phase, optional
        The run as phases (:mod:`~.phases`: pre-training, long context, annealing,
        distillation), each searched on its own; ``tokens`` is then the sum of theirs.
    framework : str, optional
        Profile id or alias of the catalog's ``frameworks`` (:mod:`~.frameworks`): it bounds
        the layouts searched and sets its step-time terms; None: the generic profile.

    Returns
    -------
    TrainResult
        ``cost_usd`` is left empty: pricing is the pipeline's, not demand's.

    Raises
    ------
    UserError
        Bad values, unknown names, a layout the framework lacks, or none that fits in memory.

    Notes
    -----
    ``MFU = tokens_per_step · model_flops_per_token / (t_step · N · peak)``;
    ``gpu_hours = N · t_ideal / goodput / 3600``; energy = nodes · node power · wall time.
    With a ramp, ``t_ideal = Σ_stages ceil(T_i / B_i) · t_step,i``.
    """
    cat = catalog or load_catalog()
    if phases:
        return _train_phases(model, gpu, gpus, list(phases), dtype=dtype, layout=layout,
                             failures=failures, catalog=cat, mamf_fraction=mamf_fraction,
                             mode=mode, seq_len=seq_len, framework=framework)
    seq_len, gbt_given = _check_inputs(mode, dtype, gpus, tokens, seq_len, global_batch_tokens)
    name, cfg, _ = cat.model(model)
    arch = arch_from_config(cfg, name)
    notes: list[str] = list(arch.notes)
    if ramp := (check_ramp(batch_ramp, tokens) if batch_ramp else None):
        gbt = ramp[-1][1]
    elif gbt_given is None:
        gbt, rule = choose_global_batch_tokens(param_counts(arch).total, gpus)
        notes.append(rule)
    else:
        gbt = gbt_given
    global_batch = max(int(round(gbt / seq_len)), 1)
    acc = cat.accelerator(gpu)
    hw = hardware_for(cat, acc, dtype, mamf_fraction=mamf_fraction)
    fixed = _pinned(arch, gpus, layout)
    check_layout_supported(fw := framework_profile(framework, dtype), fixed)
    sr = _search(arch, name, acc.id, hw, gpus=gpus, mode=mode, seq_len=seq_len,
                 global_batch=global_batch, fixed=fixed, layout=layout, fw=fw)
    feas, gf, st, best = sr.feas, sr.feas.grid, sr.st, sr.best
    step = float(st["step_time_s"][best])
    tokens_per_step = int(sr.tokens_step[best])
    model_flops_token = model_flops_per_token(arch, seq_len, mode)
    hfu = float(tokens_per_step * hardware_flops_per_token(arch, seq_len, gf["recompute"][best],
                                                           mode) / (step * gpus
                                                                    * hw.peak_flops_per_s))
    steps = int(math.ceil(tokens / tokens_per_step))
    ideal_s = steps * step
    stages: list[BatchStage] = []
    if ramp:
        stages, ideal_s = _batch_stages(arch, name, acc.id, hw, gpus=gpus, mode=mode,
                                        seq_len=seq_len, fixed=fixed, layout=layout, ramp=ramp,
                                        fw=fw)
        steps = sum(x.steps for x in stages)
    if warn := microbatch_warning(int(gf["m"][best]), int(gf["pp"][best])):
        notes.append(warn)
    gp = _run_goodput(cat, arch, gpus, failures, notes)
    wall_s = ideal_s / gp.goodput
    nodes = int(nodes_for_gpus(gpus, hw.gpus_per_node))
    bd = {k: float(st[k][best]) for k in BREAKDOWN_KEYS}
    return TrainResult(
        model=name, gpu=acc.id, mode=mode, gpus=gpus, tokens=float(tokens), seq_len=seq_len,
        global_batch_tokens=tokens_per_step, dtype=dtype, layout=_layout_out(gf, best),
        step_time_s=step, steps=steps, tokens_per_s=tokens_per_step / step,
        mfu=float(sr.mfu[best]), hfu=hfu, model_flops_per_token=model_flops_token,
        gpu_hours=gpus * wall_s / SECONDS_PER_HOUR,
        wall_days=wall_s / SECONDS_PER_HOUR / HOURS_PER_DAY,
        ideal_wall_days=ideal_s / SECONDS_PER_HOUR / HOURS_PER_DAY,
        memory_per_gpu_bytes=int(feas.memory_bytes[best]), gpu_memory_bytes=int(hw.memory_bytes),
        energy_wh=nodes * hw.node_power_w * wall_s / SECONDS_PER_HOUR, goodput=gp.goodput,
        checkpoint_bytes=int(checkpoint_bytes(arch)), checkpoint_interval_s=gp.interval_s,
        mtbf_s=gp.mtbf_s, breakdown=bd, bottleneck=_why(bd, step),
        candidates_evaluated=feas.evaluated, feasible_candidates=feas.fitting,
        top=_top(feas, st, sr.mfu, sr.order), batch_stages=stages,
        reference=_reference(sr, seq_len), framework=fw.id, notes=notes)
