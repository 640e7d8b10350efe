"""Region rules: which accelerators a buyer may purchase; electricity price; grid carbon.

Export controls are data (``regions.yaml``, :class:`~gpuplan.catalog.schema_money.ExportRule`):
each rule names accelerators or a threshold on total processing performance (TPP) or memory
bandwidth, and a status (``allowed``, ``licence``, ``denied``). The first rule in force on the
date asked that matches decides.

References
----------
.. [1] US BIS, "Implementation of Additional Export Controls: Certain Advanced Computing Items;
   Supercomputer and Semiconductor End Use", 88 FR 73458 (2023-10-25): ECCN 3A090, TPP =
   2 x MacTOPS x bit length of the operation (= dense TOP/s x bit length), threshold 4,800.
.. [2] US BIS, "Revision to License Review Policy for Advanced Computing Commodities",
   effective 2026-01-15: case-by-case review for TPP < 21,000 and DRAM bandwidth < 6,500 GB/s.
.. [3] Patterson et al. 2022, "The Carbon Footprint of Machine Learning Training Will Plateau,
   Then Shrink", arXiv:2204.05149, eq. (1): tCO2e = MWh x tCO2e/MWh, MWh = hours x processors
   x average power x PUE (the method the Llama model cards cite).
"""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import Catalog
from gpuplan.catalog.schema import Accelerator
from gpuplan.catalog.schema_money import ExportRule, RegionModel
from gpuplan.errors import UserError
from gpuplan.money._catalog import get_catalog, section
from gpuplan.units import KG_PER_TONNE, TERA, WH_PER_KWH

#: Bits per operand of each dtype in the accelerator catalog (for TPP).
#: Months in a half-year and a quarter (dates written YYYY-Hn, YYYY-Qn).
MONTHS_PER_HALF, MONTHS_PER_QUARTER = 6, 3
DTYPE_BITS = {"fp64": 64, "fp32": 32, "tf32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8,
              "fp4": 4}


def tpp(accelerator: Accelerator) -> float:
    """Total processing performance (BIS ECCN 3A090) of an accelerator entry [dimensionless].

    Notes
    -----
    :math:`\\mathrm{TPP} = \\max_{d} (\\text{dense peak}_d / 10^{12}) \\times \\text{bits}_d`
    over the dense dtypes in the catalog (H100: 989.4 x 16 = 15,830) [1]_.
    """
    return max(float(v.value) / TERA * DTYPE_BITS[d]
               for d, v in accelerator.peak_flops_per_s.items())


class PurchaseCheck(BaseModel):
    """Whether a buyer in ``region`` may purchase ``gpu`` on ``as_of``."""

    model_config = ConfigDict(extra="forbid")
    gpu: str
    region: str
    as_of: str
    status: str
    tpp: float
    text: str
    source: str
    rule_as_of: str | None


def _date(value: str | _dt.date, field: str = "as_of") -> _dt.date:
    """The date of ``value`` (YYYY, YYYY-MM, YYYY-MM-DD, YYYY-Hn or YYYY-Qn)."""
    if isinstance(value, _dt.date):
        return value
    s = str(value)
    m = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$", s)
    if m:
        return _dt.date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    m = re.match(r"^(\d{4})-([HQ])([1-4])$", s)
    if m:
        per_part = MONTHS_PER_HALF if m.group(2) == "H" else MONTHS_PER_QUARTER
        month = 1 + (int(m.group(3)) - 1) * per_part
        return _dt.date(int(m.group(1)), month, 1)
    raise UserError(f"{field} {s!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)", field=field)


def region_entry(region: str, catalog: Catalog | None = None) -> RegionModel:
    """The ``regions`` entry ``region``; an unknown id is a UserError with suggestions."""
    cat = get_catalog(catalog)
    section(cat, "regions")
    entry: RegionModel = cat.entry("regions", region, "region")
    return entry


def check_purchase_allowed(gpu: str, region: str, catalog: Catalog | None = None, *,
                           as_of: str | _dt.date | None = None,
                           allow_licence: bool = True) -> PurchaseCheck:
    """Whether a buyer in ``region`` may purchase accelerator ``gpu`` (export controls).

    Parameters
    ----------
    gpu, region : str
        Catalog ids.
    as_of : str or date, optional
        Date the purchase happens (default today): rules not in force then are skipped.
    allow_licence : bool
        A ``licence`` status (case-by-case review) passes with a warning in the result; False
        refuses it too.

    Raises
    ------
    UserError
        The first matching rule denies the purchase (or needs a licence and ``allow_licence``
        is False); the message quotes the rule and its source.
    """
    cat = get_catalog(catalog)
    acc = cat.accelerator(gpu)
    reg = region_entry(region, cat)
    when = _date(as_of) if as_of is not None else _dt.date.today()
    t = tpp(acc)
    bw = acc.hbm_bandwidth_bytes_per_s.value
    chosen: ExportRule | None = None
    for rule in reg.export_rules:
        if rule.effective_from and when < _date(rule.effective_from, "effective_from"):
            continue
        if rule.effective_until and when >= _date(rule.effective_until, "effective_until"):
            continue
        named = acc.id in rule.accelerators
        by_tpp = rule.min_tpp is not None and t >= rule.min_tpp
        by_bw = (rule.min_hbm_bandwidth_bytes_per_s is not None
                 and bw >= rule.min_hbm_bandwidth_bytes_per_s)
        catch_all = (not rule.accelerators and rule.min_tpp is None
                     and rule.min_hbm_bandwidth_bytes_per_s is None)
        if named or by_tpp or by_bw or catch_all:
            chosen = rule
            break
    if chosen is None:
        res = PurchaseCheck(gpu=acc.id, region=reg.id, as_of=when.isoformat(), status="allowed",
                            tpp=t, text="no export rule of the region applies", source="",
                            rule_as_of=None)
    else:
        res = PurchaseCheck(gpu=acc.id, region=reg.id, as_of=when.isoformat(),
                            status=chosen.status, tpp=t, text=" ".join(chosen.text.split()),
                            source=" ".join(chosen.source.split()), rule_as_of=chosen.as_of)
    if res.status == "denied" or (res.status == "licence" and not allow_licence):
        verb = "may not purchase" if res.status == "denied" else "needs a licence to purchase"
        raise UserError(f"a buyer in region {reg.id!r} {verb} {acc.id} on {res.as_of} "
                        f"(TPP {t:,.0f}): {res.text} [{res.source}]")
    return res


def energy_kwh(energy_wh: npt.ArrayLike) -> np.ndarray:
    """[kWh] from [Wh]."""
    return np.asarray(energy_wh, dtype=float) / WH_PER_KWH


def carbon_tco2e(energy_wh: npt.ArrayLike, kg_co2_per_kwh: npt.ArrayLike) -> np.ndarray:
    """Location-based emissions of ``energy_wh`` [t CO2e].

    Parameters
    ----------
    energy_wh : float or array
        Electricity drawn from the grid at the facility meter (IT x PUE) [Wh].
    kg_co2_per_kwh : float or array
        Grid intensity [kg CO2e per kWh].

    Notes
    -----
    :math:`t = E_{Wh} / 10^3 \\times I_{kg/kWh} / 10^3` [3]_.
    """
    return energy_kwh(energy_wh) * np.asarray(kg_co2_per_kwh, dtype=float) / KG_PER_TONNE


def training_emissions_tco2e(gpu_hours: npt.ArrayLike, power_w: npt.ArrayLike, pue: npt.ArrayLike,
                             kg_co2_per_kwh: npt.ArrayLike) -> np.ndarray:
    """Emissions of a training run from its accelerator-hours [t CO2e].

    Parameters
    ----------
    gpu_hours : float or array
        Accelerator-hours [h].
    power_w : float or array
        Power per accelerator [W] (the Llama model cards use the device's peak power, TDP).
    pue : float or array
        Power usage effectiveness [ratio].
    kg_co2_per_kwh : float or array
        Grid intensity [kg CO2e per kWh].

    Notes
    -----
    :math:`t = h \\cdot P \\cdot \\mathrm{PUE} \\cdot I / 10^6` (Patterson et al. 2022, eq. 1) [3]_.
    """
    energy_wh = np.asarray(gpu_hours, dtype=float) * np.asarray(power_w, dtype=float) * \
        np.asarray(pue, dtype=float)
    return carbon_tco2e(energy_wh, kg_co2_per_kwh)
