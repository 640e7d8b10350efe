"""Workloads → demand: accelerators and accelerator-hours per year for one hardware option.

Each workload model of the scenario (:mod:`gpuplan.pipeline.scenario`) has one handler here,
registered with :func:`workload_handler`, that calls its demand-stage entry point (``train``,
``serve``, ``plan_recsys``) and returns a :class:`WorkloadDemand`. :func:`demand` looks the
handler up by the workload's model class, so a new workload kind is one model in the scenario's
``Workload`` union plus one registered handler — no ``isinstance`` chain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gpuplan.catalog import Catalog
from gpuplan.errors import UserError
from gpuplan.pipeline.scenario import (
    HardwareOption,
    RecsysWorkload,
    Scenario,
    ServeWorkload,
    TrainWorkload,
    Workload,
)
from gpuplan.units import HOURS_PER_MONTH, HOURS_PER_YEAR, MONTHS_PER_YEAR

if TYPE_CHECKING:
    from gpuplan.demand.training import TrainResult

#: Largest GPU count tried, as a power of two, when a training workload gives a deadline
#: instead of a count (1, 2, 4, ..., 2**20).
MAX_TRAIN_GPUS_LOG2 = 20
#: Relative slack before a training schedule is said not to fit a year [fraction] (rounding of
#: GPU-hours, not a modelling allowance).
SCHEDULE_TOLERANCE = 1e-9


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class WorkloadDemand(_Strict):
    """What one workload needs on one accelerator."""

    name: str
    kind: str
    gpus: int = Field(description="accelerators the workload occupies while it runs (peak year)")
    gpu_hours_per_year: float = Field(description="average over the horizon [GPU-hours/year]")
    always_on: bool
    detail: dict[str, Any]  # the demand stage's result, as JSON


class WorkloadProfile(_Strict):
    """One workload's monthly demand over the horizon."""

    name: str
    gpu_hours_per_month: list[float] = Field(description="[GPU-hours] per operating month")
    peak_gpus_per_month: list[int] = Field(description="GPUs held at once in the month [count]")


class DemandProfile(_Strict):
    """The scenario's monthly demand: what own and rent are both costed on."""

    months: int
    gpu_hours_per_month: list[float] = Field(description="all workloads [GPU-hours]")
    peak_gpus_per_month: list[int] = Field(
        description="GPUs needed at once: always-on GPUs + the widest training run of the "
                    "month (runs take turns on one track) [count]")
    workloads: list[WorkloadProfile]
    unscheduled_gpu_hours: float = Field(
        description="training GPU-hours the queue pushes past the horizon [GPU-hours]")


class OptionDemand(_Strict):
    """Every workload of a scenario on one hardware option, and the owned cluster they need."""

    gpu: str
    system: str | None
    workloads: list[WorkloadDemand]
    gpus: int = Field(description="owned cluster size: always-on peak + the largest training job")
    gpu_hours_per_year: float
    utilisation: float = Field(description="GPU-hours used / GPU-hours owned")
    bottlenecks: list[str]
    profile: DemandProfile | None = None


@dataclass(frozen=True)
class DemandContext:
    """What every workload handler is given besides its workload.

    Parameters
    ----------
    gpu : str
        Accelerator id of the hardware option.
    catalog : Catalog
        The catalog the demand stage reads.
    horizon_years : float
        Planning horizon [years]; traffic grows over it.
    base_dir : Path
        Folder that relative paths in the scenario (recsys specs) are resolved against.
    """

    gpu: str
    catalog: Catalog
    horizon_years: float
    base_dir: Path


W = TypeVar("W", TrainWorkload, ServeWorkload, RecsysWorkload)
Handler = Callable[[W, DemandContext], WorkloadDemand]

#: Workload model class → the function that turns such a workload into demand.
WORKLOAD_HANDLERS: dict[type[BaseModel], Callable[..., WorkloadDemand]] = {}


def workload_handler(model: type[W]) -> Callable[[Handler[W]], Handler[W]]:
    """Register the decorated function as the demand handler of workload model ``model``."""

    def register(fn: Handler[W]) -> Handler[W]:
        if model in WORKLOAD_HANDLERS:
            raise ValueError(f"a demand handler for {model.__name__} is already registered")
        WORKLOAD_HANDLERS[model] = fn
        return fn

    return register


# ----------------------------------------------------------------------------------------------
# Handlers, one per workload model
# ----------------------------------------------------------------------------------------------


def _train_for_deadline(w: TrainWorkload, ctx: DemandContext, kw: dict[str, Any]
                        ) -> TrainResult:
    """The fewest power-of-two GPUs that fit and meet ``w.deadline_days`` (or the largest tried)."""
    from gpuplan.demand.training import train

    r: TrainResult | None = None
    last_err: UserError | None = None
    for e in range(MAX_TRAIN_GPUS_LOG2 + 1):
        try:
            r = train(w.model, ctx.gpu, 2**e, w.tokens, **kw)
        except UserError as err:  # too few GPUs to fit: try more
            last_err = err
            continue
        if w.deadline_days is None or r.wall_days <= w.deadline_days:
            break
    if r is None:
        raise UserError(f"workload {w.name!r}: no GPU count up to 2^{MAX_TRAIN_GPUS_LOG2} "
                        f"fits on {ctx.gpu}: {last_err}")
    return r


@workload_handler(TrainWorkload)
def train_demand(w: TrainWorkload, ctx: DemandContext) -> WorkloadDemand:
    """A pre-training or fine-tuning run (``kind`` is the training mode), ``runs_per_year`` times.

    With ``gpus`` given the run uses that many; otherwise the fewest power of two that fits and
    finishes within ``deadline_days``.
    """
    from gpuplan.demand.training import train

    kw: dict[str, Any] = dict(seq_len=w.seq_len, global_batch_tokens=w.global_batch_tokens,
                              dtype=w.dtype, mode=w.kind, catalog=ctx.catalog,
                              framework=w.framework)
    r = train(w.model, ctx.gpu, w.gpus, w.tokens, **kw) if w.gpus else \
        _train_for_deadline(w, ctx, kw)
    return WorkloadDemand(
        name=w.name, kind=w.kind, gpus=r.gpus, gpu_hours_per_year=r.gpu_hours * w.runs_per_year,
        always_on=False,
        detail={"wall_days": r.wall_days, "mfu": r.mfu, "layout": r.layout.model_dump(),
                "gpu_hours_per_run": r.gpu_hours, "bottleneck": r.bottleneck,
                "energy_wh_per_run": r.energy_wh})


def growth_peak(growth_per_year: float, years: float) -> float:
    """Traffic multiplier of the last year of the horizon [1].

    Parameters
    ----------
    growth_per_year : float
        Yearly traffic growth [fraction per year].
    years : float
        Horizon [years]; a started year counts whole.

    Notes
    -----
    ``(1 + g)^(⌈years⌉ − 1)``: year 1 is the scenario's stated traffic.
    """
    return (1 + growth_per_year) ** max(math.ceil(years) - 1, 0)


def growth_mean(growth_per_year: float, years: float) -> float:
    """Traffic multiplier averaged over the years of the horizon [1].

    Parameters
    ----------
    growth_per_year : float
        Yearly traffic growth [fraction per year].
    years : float
        Horizon [years]; a started year counts whole.

    Notes
    -----
    ``Σ_{y=0}^{n−1} (1 + g)^y / n`` with ``n = max(⌈years⌉, 1)``.
    """
    n = max(math.ceil(years), 1)
    return sum((1 + growth_per_year) ** y for y in range(n)) / n


@workload_handler(ServeWorkload)
def serve_demand(w: ServeWorkload, ctx: DemandContext) -> WorkloadDemand:
    """LLM serving, sized for the peak year's traffic; GPU-hours follow the mean traffic."""
    from gpuplan.demand.serving import serve

    peak = growth_peak(w.growth_per_year, ctx.horizon_years)
    peak_rate = w.rate * peak
    r = serve(w.model, ctx.gpu, quant=w.quant, input_tokens=w.input_tokens,
              output_tokens=w.output_tokens, rate=peak_rate, ttft_ms=w.ttft_ms, tpot_ms=w.tpot_ms,
              catalog=ctx.catalog)
    mean_share = growth_mean(w.growth_per_year, ctx.horizon_years) / peak
    return WorkloadDemand(
        name=w.name, kind=w.kind, gpus=r.gpus,
        gpu_hours_per_year=r.gpus * HOURS_PER_YEAR * mean_share, always_on=True,
        detail={"replica": r.replica.model_dump(), "replicas": r.replicas,
                "peak_rate_requests_per_s": peak_rate, "meets_slo": r.meets_slo,
                "output_tokens_per_s_per_gpu": r.output_tokens_per_s_per_gpu,
                "bottleneck": r.bottleneck})


@workload_handler(RecsysWorkload)
def recsys_demand(w: RecsysWorkload, ctx: DemandContext) -> WorkloadDemand:
    """A recommender: serving GPUs for the peak year's queries plus its retraining cycles."""
    from gpuplan.demand.recsys import plan_recsys

    spec = Path(w.spec)
    if not spec.is_absolute():
        spec = ctx.base_dir / spec
    peak_qps = w.qps * growth_peak(w.growth_per_year, ctx.horizon_years)
    r = plan_recsys(str(spec), ctx.gpu, gpus=w.train_gpus, qps=peak_qps, p99_ms=w.p99_ms,
                    days_of_data=w.days_of_data, samples_per_day=w.samples_per_day,
                    catalog=ctx.catalog)
    serve_gpus = r.serve_gpus or 0
    retrain_hours = (r.retrain_gpu_hours or 0.0) * w.cycles_per_year
    mean_share = growth_mean(w.growth_per_year, ctx.horizon_years) / growth_peak(
        w.growth_per_year, ctx.horizon_years)          # serving sized for the peak year
    return WorkloadDemand(
        name=w.name, kind=w.kind, gpus=serve_gpus + w.train_gpus,
        gpu_hours_per_year=serve_gpus * HOURS_PER_YEAR * mean_share + retrain_hours,
        always_on=True,
        detail={"serve_gpus": serve_gpus, "train_gpus": w.train_gpus,
                "retrain_gpu_hours_per_cycle": r.retrain_gpu_hours,
                "train_samples_per_s": r.train_samples_per_s, "bottleneck": r.bottleneck})


# ----------------------------------------------------------------------------------------------
# The scenario on one option
# ----------------------------------------------------------------------------------------------


def workload_demand(w: Workload, ctx: DemandContext) -> WorkloadDemand:
    """Demand of one workload, by the handler registered for its model class."""
    handler = WORKLOAD_HANDLERS.get(type(w))
    if handler is None:  # a model added to the scenario's Workload union without a handler
        raise TypeError(f"no demand handler registered for {type(w).__name__}")
    return handler(w, ctx)


def demand(scenario: Scenario, option: HardwareOption, cat: Catalog,
           base_dir: Path | None = None) -> OptionDemand:
    """Accelerators and accelerator-hours the scenario's workloads need on ``option``.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario.
    option : HardwareOption
        The accelerator (and system) to size for.
    cat : Catalog
        The catalog.
    base_dir : Path, optional
        Folder of the scenario file, for relative paths in it; default the working directory.

    Notes
    -----
    The owned cluster is sized for the always-on workloads at their peak-year traffic plus the
    largest training job (training runs take turns on that share). Utilisation =
    GPU-hours used per year / (cluster GPUs × HOURS_PER_YEAR), before any backfill; a training
    schedule that does not fit a year on its share is a UserError
    (:func:`check_schedule_fits`), never clipped.
    """
    ctx = DemandContext(gpu=option.gpu, catalog=cat, horizon_years=scenario.horizon_years,
                        base_dir=base_dir or Path.cwd())
    rows: list[WorkloadDemand] = []
    for w in scenario.workloads:
        try:
            rows.append(workload_demand(w, ctx))
        except UserError as e:
            raise UserError(f"workload {w.name!r} on {option.gpu}: {e}") from None
    always = sum(r.gpus for r in rows if r.always_on)
    training = max((r.gpus for r in rows if not r.always_on), default=0)
    gpus = max(always + training, 1)
    hours = sum(r.gpu_hours_per_year for r in rows)
    check_schedule_fits(rows, always, training, option.gpu)
    bottlenecks = [f"{r.name}: {r.detail.get('bottleneck', '')}" for r in rows]
    return OptionDemand(gpu=option.gpu, system=option.system, workloads=rows, gpus=gpus,
                        gpu_hours_per_year=hours,
                        utilisation=hours / (gpus * HOURS_PER_YEAR),
                        bottlenecks=bottlenecks,
                        profile=demand_profile(scenario.workloads, rows, scenario.horizon_years))


def demand_profile(workloads: list[Workload], rows: list[WorkloadDemand], years: float
                   ) -> DemandProfile:
    """The monthly demand of every workload over ``years`` [GPU-hours; GPUs].

    Parameters
    ----------
    workloads : list of Workload
        The scenario's workloads (runs per year, traffic growth).
    rows : list of WorkloadDemand
        Their demand on one option, in the same order.
    years : float
        Horizon [years].

    Notes
    -----
    Training: :func:`gpuplan.money.profile.training_schedule` (runs due every ``1/runs_per_year``
    years, taking turns on one track). Serving: :func:`gpuplan.money.profile.always_on_gpus`
    every hour, growing year by year. Recommender: its serving GPUs the same way, plus its
    retraining GPU-hours spread evenly (cycles are daily) on ``train_gpus`` held at once.
    Summed over the months, each workload's hours are ``gpu_hours_per_year`` x ``years`` (less
    what the training queue pushes past the horizon).
    """
    from gpuplan.money.profile import always_on_gpus, training_schedule

    months = max(int(round(years * MONTHS_PER_YEAR)), 1)
    hours = np.zeros((len(rows), months))
    peak = np.zeros((len(rows), months))
    train = [i for i, w in enumerate(workloads) if isinstance(w, TrainWorkload)]
    unscheduled = 0.0
    if train:
        g = np.array([rows[i].gpus for i in train], dtype=float)
        rate = np.array([cast(TrainWorkload, workloads[i]).runs_per_year for i in train])
        run_h = np.array([rows[i].gpu_hours_per_year for i in train]) / rate / g
        th, tp, past = training_schedule(g, run_h, rate, months)
        hours[train], peak[train] = th, tp
        unscheduled = float(past.sum())
    for i, w in enumerate(workloads):
        if isinstance(w, ServeWorkload):
            n = always_on_gpus(rows[i].gpus, w.growth_per_year, months)[0]
            hours[i], peak[i] = n * HOURS_PER_MONTH, np.ceil(n - 1e-9)
        elif isinstance(w, RecsysWorkload):
            d = rows[i].detail
            n = always_on_gpus(d["serve_gpus"], w.growth_per_year, months)[0]
            retrain = (d["retrain_gpu_hours_per_cycle"] or 0.0) * w.cycles_per_year
            hours[i] = n * HOURS_PER_MONTH + retrain / MONTHS_PER_YEAR
            peak[i] = np.ceil(n - 1e-9) + w.train_gpus
    always = np.array([not isinstance(w, TrainWorkload) for w in workloads])
    total_peak = peak[always].sum(axis=0) + (peak[~always].max(axis=0) if train else 0.0)
    return DemandProfile(
        months=months, gpu_hours_per_month=[float(x) for x in hours.sum(axis=0)],
        peak_gpus_per_month=[int(x) for x in total_peak],
        workloads=[WorkloadProfile(name=r.name, gpu_hours_per_month=[float(x) for x in h],
                                   peak_gpus_per_month=[int(x) for x in pk])
                   for r, h, pk in zip(rows, hours, peak)],
        unscheduled_gpu_hours=unscheduled)


def check_schedule_fits(rows: list[WorkloadDemand], always_gpus: int, training_gpus: int,
                        gpu: str) -> None:
    r"""A one-line UserError when the training runs cannot take turns within a year.

    Parameters
    ----------
    rows : list of WorkloadDemand
        Every workload's demand [GPUs; GPU-hours/year].
    always_gpus : int
        GPUs of the always-on workloads [count].
    training_gpus : int
        GPUs of the training share: the largest training job [count].
    gpu : str
        Accelerator id (for the message).

    Notes
    -----
    Training runs take turns on the training share, so they fit when
    :math:`\sum_i H_i \le N_{train} \cdot 8766` h, with :math:`H_i` the GPU-hours a year of
    training workload :math:`i`. Always-on workloads use their own GPUs (their mean traffic is
    at most the peak they are sized for), so only the training share can overflow.
    """
    train_hours = sum(r.gpu_hours_per_year for r in rows if not r.always_on)
    capacity = training_gpus * HOURS_PER_YEAR
    if train_hours > capacity * (1.0 + SCHEDULE_TOLERANCE):
        need = math.ceil(train_hours / HOURS_PER_YEAR)
        raise UserError(
            f"workloads: the training runs need {train_hours:,.0f} GPU-hours a year on {gpu} "
            f"but take turns on {training_gpus:,} GPUs ({capacity:,.0f} GPU-hours a year; "
            f"{always_gpus:,} more GPUs are always on): the schedule does not fit a year; "
            f"lower runs_per_year or give the largest job at least {need:,} gpus",
            field="workloads")
