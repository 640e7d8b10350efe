"""Scenario files: an organisation's plan as one validated YAML document.

A scenario names workloads (pre-training, fine-tuning incl. LoRA, LLM serving with traffic
growth, recommender retraining and serving), the hardware options to compare, the region and
facility, financing, the cloud alternative, the horizon, the discount rate and the risk
distributions. :func:`load_scenario` validates it and reports errors with file, line and field.
Turning the workloads into demand is :mod:`gpuplan.pipeline.workloads`.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gpuplan.errors import UserError
from gpuplan.money.finance import LoanTerms
from gpuplan.money.montecarlo import Dist
from gpuplan.textfile import NoAliasSafeLoader, parse_yaml, read_user_text
from gpuplan.units import MIB

#: Largest scenario file accepted [bytes].
MAX_SCENARIO_BYTES = 2 * MIB
#: Key under which the line loader keeps the line of every key of a mapping.
_LINES_KEY = "__lines__"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class TrainWorkload(_Strict):
    """A pre-training or fine-tuning run repeated ``runs_per_year`` times."""

    kind: Literal["train", "finetune", "lora", "qlora"]
    name: str = Field(min_length=1, max_length=200)
    model: str
    tokens: float = Field(gt=0, le=1e16, description="tokens per run [tokens]")
    seq_len: int = Field(default=4096, ge=128, le=2**22, description="sequence length [tokens]")
    global_batch_tokens: float | None = Field(default=None, gt=0, le=1e10,
                                              description="tokens per optimizer step [tokens]")
    runs_per_year: float = Field(default=1.0, gt=0, le=1e4, description="[runs per year]")
    gpus: int | None = Field(default=None, ge=1, le=2**24,
                             description="GPUs per run; omit to size for the deadline")
    deadline_days: float | None = Field(default=None, gt=0, le=3650,
                                        description="longest wall-clock per run [days]")
    dtype: Literal["bf16", "fp16", "fp8"] = "bf16"
    framework: str | None = Field(
        default=None, max_length=100,
        description="training framework (megatron, deepspeed, llm-foundry, torchtitan, ...): "
                    "bounds the layouts searched and sets its overlap and kernel terms; omit "
                    "for gpuplan's generic profile")

    @field_validator("framework")
    @classmethod
    def _known_framework(cls, v: str | None) -> str | None:
        from gpuplan.demand.training.frameworks import check_framework_name
        from gpuplan.errors import UserError

        if v is None:
            return v
        try:
            return check_framework_name(v)
        except UserError as e:
            raise ValueError(str(e).removeprefix("framework: ")) from None


class ServeWorkload(_Strict):
    """LLM serving traffic, growing by ``growth_per_year``."""

    kind: Literal["serve"]
    name: str = Field(min_length=1, max_length=200)
    model: str
    rate: float = Field(gt=0, le=1e9, description="traffic in year 1 [requests per s]")
    growth_per_year: float = Field(default=0.0, ge=-0.99, le=100,
                                   description="traffic growth [fraction per year]")
    input_tokens: int = Field(default=1024, ge=1, le=2**22, description="[tokens per request]")
    output_tokens: int = Field(default=256, ge=1, le=2**22, description="[tokens per request]")
    ttft_ms: float | None = Field(default=None, gt=0, le=1e7,
                                  description="time-to-first-token target [ms]")
    tpot_ms: float | None = Field(default=None, gt=0, le=1e7,
                                  description="time-per-output-token target [ms]")
    quant: str = "bf16"
    hosted_api_usd_per_million_tokens: float | None = Field(
        default=None, ge=0, le=1e4,
        description="blended hosted-API price to compare with [USD per million tokens]")


class RecsysWorkload(_Strict):
    """A recommender model: serving at ``qps`` and retraining cycles."""

    kind: Literal["recsys"]
    name: str = Field(min_length=1, max_length=200)
    spec: str = Field(description="recsys spec YAML, relative to the scenario file")
    qps: float = Field(gt=0, le=1e12, description="traffic in year 1 [queries per s]")
    p99_ms: float = Field(default=60.0, gt=0, le=1e6, description="p99 latency target [ms]")
    growth_per_year: float = Field(default=0.0, ge=-0.99, le=100,
                                   description="traffic growth [fraction per year]")
    train_gpus: int = Field(default=8, ge=1, le=2**20, description="GPUs of a retraining job")
    days_of_data: float = Field(default=1.0, gt=0, le=3650,
                                description="data per retraining cycle [days of samples]")
    samples_per_day: float = Field(gt=0, le=1e15, description="[samples per day]")
    cycles_per_year: float = Field(default=365.0, gt=0, le=1e5,
                                   description="retraining cycles [per year]")


Workload = Annotated[TrainWorkload | ServeWorkload | RecsysWorkload, Field(discriminator="kind")]
#: Every workload model; each has a demand handler in :mod:`gpuplan.pipeline.workloads`.
WORKLOAD_MODELS: tuple[type[BaseModel], ...] = get_args(get_args(Workload)[0])
#: Every ``kind`` a workload may have (the discriminator's values).
WORKLOAD_KINDS: frozenset[str] = frozenset(
    k for m in WORKLOAD_MODELS for k in get_args(m.model_fields["kind"].annotation))


class HardwareOption(_Strict):
    """One accelerator (catalog id or YAML file) to compare, with an optional system and label."""

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
    price_change_per_year: float = Field(default=0.0, ge=-0.9, le=10,
                                         description="[fraction per year]")


class FleetSpec(_Strict):
    """How the owned fleet is sized from the monthly demand profile (a decision, not a given)."""

    size: Literal["peak", "percentile", "budget"] = Field(
        default="peak",
        description="'peak': the most GPUs the profile needs at once (nothing rented); "
                    "'percentile': the monthly mean busy GPUs of that share of months (own the "
                    "base, rent the peaks); 'budget': what budget_usd buys (gpuplan budget)")
    percentile: float = Field(default=0.8, gt=0, le=1,
                              description="share of months the owned fleet covers [fraction]")
    budget_usd: float | None = Field(default=None, gt=0, le=1e13,
                                     description="capital to spend on the fleet [USD]")
    hybrid: bool = Field(default=True,
                         description="with size 'peak', also price owning the percentile base "
                                     "and renting the peaks; the recommendation may choose it")


class DeliverySpec(_Strict):
    """When the owned fleet can first run: months of construction and delivery."""

    construction_months: int | None = Field(
        default=None, ge=0, le=120,
        description="months from the first spend to the first operating month; default the "
                    "catalog's facility lead time when the facility is built, 0 in colocation "
                    "(the demand of these months is rented on both sides)")


class OperationsSpec(_Strict):
    """Who runs the owned cluster and what it stores (both sides need the data; only the owner
    buys the storage and pays the team)."""

    staff_fte: float | None = Field(
        default=None, ge=0, le=1e5,
        description="people running the owned cluster [FTE]; default the catalog's staff per "
                    "MW of IT (costs/staff-fte-per-w)")
    dataset_tb: float = Field(
        default=0.0, ge=0, le=1e7,
        description="training data kept on the cluster's shared storage [TB = 1e12 bytes], "
                    "beside the checkpoints")


class RiskSpec(_Strict):
    """Monte Carlo settings; distributions override the defaults input by input."""

    samples: int = Field(default=10_000, ge=100, le=10**6)
    seed: int = 0
    distributions: dict[str, Dist] = Field(default_factory=dict)


class Scenario(_Strict):
    """A whole plan (`gpuplan plan SCENARIO.yaml`)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    horizon_years: float = Field(default=5.0, gt=0, le=30, description="[years]")
    discount_rate: float = Field(default=0.08, ge=-0.5, le=1, description="[fraction per year]")
    region: str = "us"
    facility: Literal["build", "colocation"] = "colocation"
    utilisation_target: float = Field(
        default=0.8, gt=0, le=1,
        description="busy share of owned GPUs after backfill [fraction]; with backfill "
                    "'to_target' idle owned hours are filled (research, ablations, batch "
                    "inference) up to it, and the rent side rents the same hours")
    backfill: Literal["to_target", "none"] = Field(
        default="none",
        description="'to_target': idle owned capacity is backfilled up to utilisation_target "
                    "(and those hours are rented on the rent side too); 'none': left idle")
    corporate_tax: Literal["region", "none"] = Field(
        default="region",
        description="'region': after-tax cash flows at the region's corporate tax rate (rent, "
                    "opex and interest deducted, depreciation as a shield); 'none': pre-tax")
    residual: Literal["book", "market"] = Field(
        default="book",
        description="hardware value at the horizon: straight-line book value or market value "
                    "(purchase price decayed by price-performance, Epoch 0.14 OOM/year)")
    carbon_usd_per_tco2e: float = Field(
        default=0.0, ge=0, le=1e4,
        description="carbon price on the owned facility's location-based emissions [USD per "
                    "tCO2e]; 0: none (rent prices are market prices, whatever carbon cost the "
                    "provider bears is in them)")
    fleet: FleetSpec = Field(default_factory=FleetSpec)
    delivery: DeliverySpec = Field(default_factory=DeliverySpec)
    operations: OperationsSpec = Field(default_factory=OperationsSpec)
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


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False
                       ) -> dict[Hashable, Any]:
    mapping = yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value
             if isinstance(k, yaml.ScalarNode)}
    mapping[_LINES_KEY] = lines
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(obj: Any) -> Any:
    """The parsed document without the line records."""
    if isinstance(obj, dict):
        return {k: _strip_lines(v) for k, v in obj.items() if k != _LINES_KEY}
    if isinstance(obj, list):
        return [_strip_lines(v) for v in obj]
    return obj


def _line_of(raw: Any, loc: tuple[int | str, ...]) -> int | None:
    """Line of the deepest key on the path ``loc`` through the parsed document (1-based)."""
    node, line = raw, None
    for part in loc:
        if isinstance(node, dict):
            line = node.get(_LINES_KEY, {}).get(part, line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict) and node.get(_LINES_KEY):
                line = min(node[_LINES_KEY].values())
        else:
            break
    return line


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    """Validate scenario YAML text; errors name the file, the line and the field.

    Parameters
    ----------
    text : str
        The YAML document.
    path : str
        Name of the file it came from, for messages.

    Raises
    ------
    UserError
        ``path:line: field a.b.c: message (got value)``.
    """
    raw = parse_yaml(text, path, loader=_LineLoader)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a scenario is a YAML mapping (name, hardware_options, "
                        f"workloads, ...)")
    try:
        return Scenario.model_validate(_strip_lines(raw))
    except ValidationError as e:
        first = e.errors()[0]
        # pydantic puts the discriminator's value (the workload kind) in the path: drop it
        loc = tuple(x for x in first.get("loc", ())
                    if not (isinstance(x, str) and x in WORKLOAD_KINDS))
        line = _line_of(raw, loc)
        field = ".".join(str(x) for x in loc) or "(top level)"
        where = f":{line}" if line else ""
        value = first.get("input")
        shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {value!r})"
        raise UserError(f"{path}{where}: field {field}: {first.get('msg')}{shown}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (size-limited, UTF-8, safe YAML)."""
    p, text = read_user_text(path, max_bytes=MAX_SCENARIO_BYTES, what="scenario file")
    return parse_scenario(text, str(p))


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format (for editors)."""
    return Scenario.model_json_schema()
