"""The training planner's entry point: search every feasible layout and size the run.

:func:`train` checks its inputs, builds the candidate grid (:func:`candidate_grid`), keeps the
layouts that fit in memory, times them all at once (:func:`~.steptime.step_time`), ranks them by
tokens per second, and turns the winner into GPU-hours, wall-clock days (with goodput) and
energy. It prices nothing: the pipeline adds ``cost_usd``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.catalog.systems import nodes_for_gpus
from gpuplan.checks import check_choice, check_number, check_whole
from gpuplan.demand.arch import Arch, arch_from_config
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
from gpuplan.demand.memory import RECOMPUTE_CODES, TRAIN_DTYPES, TRAIN_MODES, training_memory
from gpuplan.demand.training.checkpointing import RunGoodput, checkpoint_bytes, job_goodput
from gpuplan.demand.training.results import Candidate, TrainResult
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
#: Default global batch when none is given [tokens] (Llama 2/3 pre-training used 4M tokens).
DEFAULT_GLOBAL_BATCH_TOKENS = 4 * 2**20
DEFAULT_SEQ_LEN = 4096
#: Layouts reported beside the best.
TOP_N = 5
#: Upper bounds on the inputs; beyond them a request is a typo, not a plan.
MAX_GPUS = 2**24
MAX_TOKENS = 1e16
MAX_SEQ_LEN = 2**22
MAX_GLOBAL_BATCH_TOKENS = 1e10


def candidate_grid(arch: Arch, gpus: int, seq_len: int, global_batch: int, domain: int,
                   fixed: dict[str, int | str]) -> dict[str, np.ndarray]:
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


def _check_inputs(mode: str, dtype: str, gpus: int, tokens: float, seq_len: int | None,
                  global_batch_tokens: float | None) -> tuple[int, float]:
    """Check the inputs of :func:`train`; the sequence length and global batch, defaulted."""
    check_choice("mode", mode, TRAIN_MODES)
    check_choice("dtype", dtype, TRAIN_DTYPES)
    check_whole("gpus", gpus, MAX_GPUS)
    check_number("tokens", tokens, 0.0, MAX_TOKENS, lo_open=True)
    seq = check_whole("seq_len", seq_len or DEFAULT_SEQ_LEN, MAX_SEQ_LEN)
    gbt = check_number("global_batch_tokens", global_batch_tokens or DEFAULT_GLOBAL_BATCH_TOKENS,
                       seq, MAX_GLOBAL_BATCH_TOKENS)
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
              layout: str | dict[str, int | str] | None) -> _Feasible:
    """Every candidate layout that fits the accelerator's memory.

    Raises
    ------
    UserError
        No layout of ``gpus`` meets the constraints, or none fits in memory.
    """
    g = candidate_grid(arch, gpus, seq_len, global_batch, hw.domain, fixed)
    n_cand = int(g["tp"].size)
    if n_cand == 0:
        raise UserError(f"no layout of {gpus} GPUs fits the constraints (tp·pp·cp must divide "
                        f"the GPU count, and whole micro-batches on every data-parallel rank "
                        f"must come within {BATCH_ROUNDING_TOLERANCE:.0%} of the global batch "
                        f"of {global_batch} sequences"
                        + (f", and the pinned {layout}" if layout else "") + ")", field="gpus")
    mem = training_memory(arch, mode=mode, seq_len=seq_len, mb=g["mb"], tp=g["tp"], pp=g["pp"],
                          dp=g["dp"], cp=g["cp"], ep=g["ep"], zero=g["zero"],
                          recompute=g["recompute"], vpp=g["vpp"], microbatches=g["m"])
    total_mem = mem.total
    fits = total_mem <= hw.memory_bytes
    if not fits.any():
        i = int(np.argmin(total_mem))
        raise UserError(f"no layout of {gpus} × {acc_id} fits {name} in memory (least needed: "
                        f"{total_mem[i] / BYTES_PER_GB:,.1f} GB per GPU of "
                        f"{hw.memory_bytes / BYTES_PER_GB:,.1f} GB); try more GPUs (fit in "
                        f"mode 'train' gives the fewest that fit)", field="gpus")
    return _Feasible(grid=filter_grid(g, fits), memory_bytes=total_mem[fits], evaluated=n_cand,
                     fitting=int(fits.sum()))


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


def train(model: str, gpu: str, gpus: int, tokens: float, *, seq_len: int | None = None,
          global_batch_tokens: float | None = None, dtype: str = "bf16",
          layout: str | dict[str, int | str] | None = None, failures: bool = True,
          catalog: Catalog | None = None, mamf_fraction: float | None = None,
          mode: str = "train") -> TrainResult:
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
        Tokens per optimizer step [tokens]; default 4M, rounded to whole sequences.
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

    Returns
    -------
    TrainResult
        ``cost_usd`` is left empty: pricing is the pipeline's
        (:mod:`gpuplan.pipeline`), not demand's.

    Raises
    ------
    UserError
        Bad values, unknown names, or no layout that fits in memory.

    Notes
    -----
    ``MFU = tokens_per_step · model_flops_per_token / (t_step · N · peak)``;
    ``gpu_hours = N · t_ideal / goodput / 3600``; energy = nodes · node power · wall time.
    """
    cat = catalog or load_catalog()
    seq_len, gbt = _check_inputs(mode, dtype, gpus, tokens, seq_len, global_batch_tokens)
    global_batch = max(int(round(gbt / seq_len)), 1)
    name, cfg, _ = cat.model(model)
    arch = arch_from_config(cfg, name)
    acc = cat.accelerator(gpu)
    hw = hardware_for(cat, acc, dtype, mamf_fraction=mamf_fraction)
    fixed = _pinned(arch, gpus, layout)
    feas = _feasible(arch, name, acc.id, hw, gpus=gpus, mode=mode, seq_len=seq_len,
                     global_batch=global_batch, fixed=fixed, layout=layout)
    gf = feas.grid
    st = step_time(arch, gf, seq_len=seq_len, global_batch=global_batch, hw=hw, mode=mode)
    tokens_step_all = (gf["m"] * gf["dp"] * gf["mb"] * seq_len).astype(float)
    rate = tokens_step_all / st["step_time_s"]
    order = np.lexsort((feas.memory_bytes, -rate))
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
    gp = _run_goodput(cat, arch, gpus, failures, notes)
    wall_s = ideal_s / gp.goodput
    gpu_hours = gpus * wall_s / SECONDS_PER_HOUR
    nodes = int(nodes_for_gpus(gpus, hw.gpus_per_node))
    bd = {k: float(st[k][best]) for k in BREAKDOWN_KEYS}
    return TrainResult(
        model=name, gpu=acc.id, mode=mode, gpus=gpus, tokens=float(tokens), seq_len=seq_len,
        global_batch_tokens=tokens_per_step, dtype=dtype, layout=_layout_out(gf, best),
        step_time_s=step, steps=steps, tokens_per_s=tokens_per_step / step,
        mfu=float(mfu_all[best]), hfu=hfu, model_flops_per_token=model_flops_token,
        gpu_hours=gpu_hours, wall_days=wall_s / SECONDS_PER_HOUR / HOURS_PER_DAY,
        ideal_wall_days=ideal_s / SECONDS_PER_HOUR / HOURS_PER_DAY,
        memory_per_gpu_bytes=int(feas.memory_bytes[best]), gpu_memory_bytes=int(hw.memory_bytes),
        energy_wh=nodes * hw.node_power_w * wall_s / SECONDS_PER_HOUR, goodput=gp.goodput,
        checkpoint_bytes=int(checkpoint_bytes(arch)), checkpoint_interval_s=gp.interval_s,
        mtbf_s=gp.mtbf_s, breakdown=bd, bottleneck=_why(bd, step),
        candidates_evaluated=feas.evaluated, feasible_candidates=feas.fitting,
        top=_top(feas, st, mfu_all, order), notes=notes)
