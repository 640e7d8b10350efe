"""Scenario files: an organisation's plan as one validated YAML document.

A scenario names workloads (pre-training, fine-tuning incl. LoRA, LLM serving with traffic
growth, recommender retraining and serving), the hardware options to compare, the region and
facility, financing, the cloud alternative, the horizon, the discount rate and the risk
distributions. :func:`load_scenario` validates it and reports errors with file, line and field.
:func:`demand` turns the workloads into accelerators and accelerator-hours per year for one
hardware option — the demand stage of the pipeline.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpuplan.errors import UserError
from gpuplan.money.finance import LoanTerms
from gpuplan.money.risk import Dist
from gpuplan.textfile import NoAliasSafeLoader
from gpuplan.units import HOURS_PER_YEAR

#: Largest scenario file accepted [bytes].
MAX_SCENARIO_BYTES = 2 * 2**20
#: GPU counts tried when a training workload gives a deadline instead of a count: powers of two.
MAX_TRAIN_GPUS_LOG2 = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class TrainWorkload(_Strict):
    """A pre-training or fine-tuning run repeated ``runs_per_year`` times."""

    kind: Literal["train", "finetune", "lora", "qlora"]
    name: str = Field(min_length=1, max_length=200)
    model: str
    tokens: float = Field(gt=0, le=1e16, description="tokens per run [tokens]")
    seq_len: int = Field(default=4096, ge=128, le=2**22)
    global_batch_tokens: float | None = Field(default=None, gt=0, le=1e10)
    runs_per_year: float = Field(default=1.0, gt=0, le=1e4)
    gpus: int | None = Field(default=None, ge=1, le=2**24,
                             description="GPUs per run; omit to size for the deadline")
    deadline_days: float | None = Field(default=None, gt=0, le=3650)
    dtype: Literal["bf16", "fp16", "fp8"] = "bf16"


class ServeWorkload(_Strict):
    """LLM serving traffic, growing by ``growth_per_year``."""

    kind: Literal["serve"]
    name: str = Field(min_length=1, max_length=200)
    model: str
    rate: float = Field(gt=0, le=1e9, description="requests per second in year 1")
    growth_per_year: float = Field(default=0.0, ge=-0.99, le=100)
    input_tokens: int = Field(default=1024, ge=1, le=2**22)
    output_tokens: int = Field(default=256, ge=1, le=2**22)
    ttft_ms: float | None = Field(default=None, gt=0, le=1e7)
    tpot_ms: float | None = Field(default=None, gt=0, le=1e7)
    quant: str = "bf16"
    hosted_api_usd_per_million_tokens: float | None = Field(
        default=None, ge=0, le=1e4,
        description="blended hosted-API price to compare with [USD per million tokens]")


class RecsysWorkload(_Strict):
    """A recommender model: serving at ``qps`` and retraining cycles."""

    kind: Literal["recsys"]
    name: str = Field(min_length=1, max_length=200)
    spec: str = Field(description="recsys spec YAML, relative to the scenario file")
    qps: float = Field(gt=0, le=1e12)
    p99_ms: float = Field(default=60.0, gt=0, le=1e6)
    growth_per_year: float = Field(default=0.0, ge=-0.99, le=100)
    train_gpus: int = Field(default=8, ge=1, le=2**20)
    days_of_data: float = Field(default=1.0, gt=0, le=3650)
    samples_per_day: float = Field(gt=0, le=1e15)
    cycles_per_year: float = Field(default=365.0, gt=0, le=1e5)


Workload = Annotated[TrainWorkload | ServeWorkload | RecsysWorkload, Field(discriminator="kind")]


class HardwareOption(_Strict):
    gpu: str
    system: str | None = None
    label: str | None = None


class Financing(_Strict):
    """Cash purchase, or a loan for a share of the capex (terms as `gpuplan tco --loan`)."""

    mode: Literal["cash", "loan"] = "cash"
    loan: LoanTerms | None = None


class CloudSpec(_Strict):
    """The rental alternative: a `clouds` catalog id or a price, and its yearly change."""

    provider: str | None = None
    price_usd_per_gpu_hour: float | None = Field(default=None, gt=0, le=1e4)
    term: Literal["on_demand", "reserved_1yr", "reserved_3yr"] | None = None
    price_change_per_year: float = Field(default=0.0, ge=-0.9, le=10)


class RiskSpec(_Strict):
    """Monte Carlo settings; distributions override the defaults input by input."""

    samples: int = Field(default=10_000, ge=100, le=10**6)
    seed: int = 0
    distributions: dict[str, Dist] = Field(default_factory=dict)


class Scenario(_Strict):
    """A whole plan (`gpuplan plan SCENARIO.yaml`)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    horizon_years: float = Field(default=5.0, gt=0, le=30)
    discount_rate: float = Field(default=0.08, ge=-0.5, le=1)
    region: str = "us"
    facility: Literal["build", "colocation"] = "colocation"
    utilisation_target: float = Field(default=0.8, gt=0, le=1,
                                      description="planned busy share of owned GPUs")
    hardware_options: list[HardwareOption] = Field(min_length=1, max_length=20)
    workloads: list[Workload] = Field(min_length=1, max_length=100)
    financing: Financing = Field(default_factory=Financing)
    cloud: CloudSpec = Field(default_factory=CloudSpec)
    risk: RiskSpec = Field(default_factory=RiskSpec)


# ----------------------------------------------------------------------------------------------
# Loading with file/line/field errors
# ----------------------------------------------------------------------------------------------


class _LineLoader(NoAliasSafeLoader):
    """Safe loader, without aliases, that records the line of every mapping key."""


def _construct_mapping(loader, node, deep=False):
    mapping = yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value
             if isinstance(k, yaml.ScalarNode)}
    mapping["__lines__"] = lines
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(obj):
    if isinstance(obj, dict):
        return {k: _strip_lines(v) for k, v in obj.items() if k != "__lines__"}
    if isinstance(obj, list):
        return [_strip_lines(v) for v in obj]
    return obj


def _line_of(raw, loc) -> int | None:
    node, line = raw, None
    for part in loc:
        if isinstance(node, dict):
            line = node.get("__lines__", {}).get(part, line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict) and node.get("__lines__"):
                line = min(node["__lines__"].values())
        else:
            break
    return line


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    """Validate scenario YAML text; errors name the file, the line and the field."""
    from gpuplan.textfile import parse_yaml

    raw = parse_yaml(text, path, loader=_LineLoader)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a scenario is a YAML mapping (name, hardware_options, "
                        f"workloads, ...)")
    try:
        return Scenario.model_validate(_strip_lines(raw))
    except ValidationError as e:
        first = e.errors()[0]
        loc = tuple(x for x in first.get("loc", ()) if not (isinstance(x, str) and x in (
            "train", "finetune", "lora", "qlora", "serve", "recsys")))
        line = _line_of(raw, loc)
        field = ".".join(str(x) for x in loc) or "(top level)"
        where = f":{line}" if line else ""
        value = first.get("input")
        shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {value!r})"
        raise UserError(f"{path}{where}: field {field}: {first.get('msg')}{shown}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (size-limited, UTF-8, safe YAML)."""
    from gpuplan.textfile import read_user_text

    p, text = read_user_text(path, max_bytes=MAX_SCENARIO_BYTES, what="scenario file")
    return parse_scenario(text, str(p))


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format (for editors)."""
    return Scenario.model_json_schema()


# ----------------------------------------------------------------------------------------------
# Demand: workloads → accelerators and accelerator-hours for one hardware option
# ----------------------------------------------------------------------------------------------


class WorkloadDemand(_Strict):
    name: str
    kind: str
    gpus: int = Field(description="accelerators the workload occupies while it runs (peak year)")
    gpu_hours_per_year: float = Field(description="average over the horizon")
    always_on: bool
    detail: dict[str, Any]


class OptionDemand(_Strict):
    gpu: str
    system: str | None
    workloads: list[WorkloadDemand]
    gpus: int = Field(description="owned cluster size: always-on peak + the largest training job")
    gpu_hours_per_year: float
    utilisation: float = Field(description="GPU-hours used / GPU-hours owned")
    bottlenecks: list[str]


def _train_demand(w: TrainWorkload, gpu: str, cat) -> WorkloadDemand:
    from gpuplan.demand.training import train

    mode = "train" if w.kind == "train" else w.kind
    kw = dict(seq_len=w.seq_len, global_batch_tokens=w.global_batch_tokens, dtype=w.dtype,
              mode=mode, catalog=cat)
    if w.gpus:
        r = train(w.model, gpu, w.gpus, w.tokens, **kw)
    else:
        r = None
        last_err = None
        for e in range(MAX_TRAIN_GPUS_LOG2 + 1):
            n = 2**e
            try:
                r = train(w.model, gpu, n, w.tokens, **kw)
            except UserError as err:  # too few GPUs to fit: try more
                last_err = err
                continue
            if w.deadline_days is None or r.wall_days <= w.deadline_days:
                break
        if r is None:
            raise UserError(f"workload {w.name!r}: no GPU count up to 2^{MAX_TRAIN_GPUS_LOG2} "
                            f"fits on {gpu}: {last_err}")
    return WorkloadDemand(
        name=w.name, kind=w.kind, gpus=r.gpus, gpu_hours_per_year=r.gpu_hours * w.runs_per_year,
        always_on=False,
        detail={"wall_days": r.wall_days, "mfu": r.mfu, "layout": r.layout.model_dump(),
                "gpu_hours_per_run": r.gpu_hours, "bottleneck": r.bottleneck,
                "energy_wh_per_run": r.energy_wh})


def _growth_peak(growth: float, years: float) -> float:
    """Traffic multiplier in the last year of the horizon."""
    return (1 + growth) ** max(math.ceil(years) - 1, 0)


def _growth_mean(growth: float, years: float) -> float:
    n = max(math.ceil(years), 1)
    return sum((1 + growth) ** y for y in range(n)) / n


def _serve_demand(w: ServeWorkload, gpu: str, cat, years: float) -> WorkloadDemand:
    from gpuplan.demand.serving import serve

    peak_rate = w.rate * _growth_peak(w.growth_per_year, years)
    r = serve(w.model, gpu, quant=w.quant, input_tokens=w.input_tokens,
              output_tokens=w.output_tokens, rate=peak_rate, ttft_ms=w.ttft_ms, tpot_ms=w.tpot_ms,
              catalog=cat)
    mean_share = _growth_mean(w.growth_per_year, years) / _growth_peak(w.growth_per_year, years)
    return WorkloadDemand(
        name=w.name, kind="serve", gpus=r.gpus,
        gpu_hours_per_year=r.gpus * HOURS_PER_YEAR * mean_share, always_on=True,
        detail={"replica": r.replica.model_dump(), "replicas": r.replicas,
                "peak_rate_requests_per_s": peak_rate, "meets_slo": r.meets_slo,
                "output_tokens_per_s_per_gpu": r.output_tokens_per_s_per_gpu,
                "bottleneck": r.bottleneck})


def _recsys_demand(w: RecsysWorkload, gpu: str, cat, years: float, base: Path
                   ) -> WorkloadDemand:
    from gpuplan.demand.recsys import plan_recsys

    spec = Path(w.spec)
    if not spec.is_absolute():
        spec = base / spec
    peak_qps = w.qps * _growth_peak(w.growth_per_year, years)
    r = plan_recsys(str(spec), gpu, gpus=w.train_gpus, qps=peak_qps, p99_ms=w.p99_ms,
                    days_of_data=w.days_of_data, samples_per_day=w.samples_per_day,
                    catalog=cat)
    serve_gpus = r.serve_gpus or 0
    retrain_hours = (r.retrain_gpu_hours or 0.0) * w.cycles_per_year
    return WorkloadDemand(
        name=w.name, kind="recsys", gpus=serve_gpus + w.train_gpus,
        gpu_hours_per_year=serve_gpus * HOURS_PER_YEAR + retrain_hours, always_on=True,
        detail={"serve_gpus": serve_gpus, "train_gpus": w.train_gpus,
                "retrain_gpu_hours_per_cycle": r.retrain_gpu_hours,
                "train_samples_per_s": r.train_samples_per_s, "bottleneck": r.bottleneck})


def demand(scenario: Scenario, option: HardwareOption, cat, base_dir: Path | None = None
           ) -> OptionDemand:
    """Accelerators and accelerator-hours the scenario's workloads need on ``option``.

    Notes
    -----
    The owned cluster is sized for the always-on workloads at their peak-year traffic plus the
    largest training job (training runs are assumed to take turns on that share). Utilisation =
    GPU-hours used per year / (cluster GPUs × 8,760 h).
    """
    base = base_dir or Path.cwd()
    rows: list[WorkloadDemand] = []
    for w in scenario.workloads:
        try:
            if isinstance(w, TrainWorkload):
                rows.append(_train_demand(w, option.gpu, cat))
            elif isinstance(w, ServeWorkload):
                rows.append(_serve_demand(w, option.gpu, cat, scenario.horizon_years))
            else:
                rows.append(_recsys_demand(w, option.gpu, cat, scenario.horizon_years, base))
        except UserError as e:
            raise UserError(f"workload {w.name!r} on {option.gpu}: {e}") from None
    always = sum(r.gpus for r in rows if r.always_on)
    training = max((r.gpus for r in rows if not r.always_on), default=0)
    gpus = max(always + training, 1)
    hours = sum(r.gpu_hours_per_year for r in rows)
    bottlenecks = [f"{r.name}: {r.detail.get('bottleneck', '')}" for r in rows]
    return OptionDemand(gpu=option.gpu, system=option.system, workloads=rows, gpus=gpus,
                        gpu_hours_per_year=hours,
                        utilisation=min(hours / (gpus * HOURS_PER_YEAR), 1.0),
                        bottlenecks=bottlenecks)
