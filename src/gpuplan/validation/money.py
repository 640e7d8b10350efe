"""Published economics checks for ``gpuplan validate``: rows from ``validation/money_cases.yaml``.

Each case reproduces one published number with the method named by its ``kind``
(:func:`gpuplan.money.runs.training_run_cost_usd`,
:func:`~gpuplan.money.runs.epoch_amortised_cost_usd`,
:func:`gpuplan.money.region.training_emissions_tco2e`) and the inputs its source states; catalog
values (rental prices, PUE, grid intensity) are read from the catalog by id.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpuplan.catalog import Catalog
from gpuplan.errors import UserError
from gpuplan.money._catalog import cost, get_catalog
from gpuplan.money.region import region_entry, training_emissions_tco2e
from gpuplan.money.runs import epoch_amortised_cost_usd
from gpuplan.units import DAYS_PER_YEAR

CASES_FILE = Path(__file__).resolve().parent / "money_cases.yaml"


class _Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    quantity: str
    published: float = Field(gt=0)
    citation: str
    notes: str = ""


class EpochCase(_Case):
    kind: Literal["epoch_amortised"]
    chip_hours: float = Field(gt=0)
    price_usd_per_chip: float = Field(gt=0)
    acquired: _dt.date
    training_start: _dt.date
    chip_tdp_w: float = Field(gt=0)
    server_power_per_chip_tdp: float = Field(gt=0)
    server_tdp_fraction: float = Field(gt=0, le=1)
    pue: float = Field(ge=1)
    usd_per_kwh: float = Field(gt=0)


class EmissionsCase(_Case):
    kind: Literal["training_emissions"]
    gpu_hours: float = Field(gt=0)
    power_w: float = Field(gt=0)
    pue: str
    region: str


MoneyCase = Annotated[EpochCase | EmissionsCase, Field(discriminator="kind")]


class MoneyCaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[MoneyCase]


def load_money_cases(path: str | Path | None = None) -> list:
    p = Path(path) if path is not None else CASES_FILE
    if not p.is_file():
        raise UserError(f"money cases file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        return MoneyCaseFile.model_validate(data).cases
    except yaml.YAMLError as e:
        raise UserError(f"{p}: not valid YAML ({e})".splitlines()[0]) from None
    except ValidationError as e:
        first = e.errors()[0]
        raise UserError(f"{p}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def predict(case: EpochCase | EmissionsCase, cat: Catalog) -> float:
    """The model's value for one case [USD or t CO2e]."""
    if case.kind == "epoch_amortised":
        years = (case.training_start - case.acquired).days / DAYS_PER_YEAR
        return epoch_amortised_cost_usd(
            price_usd_per_chip=case.price_usd_per_chip, years_since_acquisition=years,
            chip_hours=case.chip_hours, chip_tdp_w=case.chip_tdp_w,
            server_power_per_chip_tdp=case.server_power_per_chip_tdp,
            server_tdp_fraction=case.server_tdp_fraction, pue=case.pue,
            usd_per_kwh=case.usd_per_kwh,
            price_performance_ooms_per_year=cost(cat, "price-performance-decay").value,
            interconnect_cost_fraction=cost(cat, "interconnect-cost-fraction").value)["total_usd"]
    reg = region_entry(case.region, cat)
    return float(training_emissions_tco2e(case.gpu_hours, case.power_w, cost(cat, case.pue).value,
                                          reg.grid_kg_co2_per_kwh.value))


def validate_money_cases(path: str | Path | None = None,
                         catalog: Catalog | None = None) -> list[dict]:
    """Every economics case: ``{"id", "quantity", "predicted", "published", "relative_error",
    "citation"}`` with relative_error = predicted / published - 1."""
    cat = get_catalog(catalog)
    rows = []
    for case in load_money_cases(path):
        pred = predict(case, cat)
        rows.append({"id": case.id, "quantity": case.quantity, "predicted": pred,
                     "published": case.published,
                     "relative_error": pred / case.published - 1.0,
                     "citation": " ".join(case.citation.split())})
    return rows
