"""The cloud alternative: rental prices per accelerator-hour, price paths, rental cash flows.

Prices come from the ``clouds`` catalog section (dated, per provider and commitment term). A
price path lets the rate change by a yearly fraction (H100 rentals fell ~45 % in 2025 and
recovered ~40 % by Mar 2026; see ``clouds.yaml``); committed terms hold their price for the
term and renew at the then-current price.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import Catalog
from gpuplan.catalog.schema_money import CloudModel
from gpuplan.checks import check_choice
from gpuplan.errors import UserError
from gpuplan.money._catalog import get_catalog, section
from gpuplan.units import HOURS_PER_MONTH, MONTHS_PER_YEAR

TERMS = ("on_demand", "reserved_1yr", "reserved_3yr")
#: Highest rental price accepted from the user [USD per GPU-hour] (a typo guard).
MAX_RENT_USD_PER_GPU_HOUR = 1e4
#: Months a committed term holds its price.
TERM_MONTHS = {"on_demand": 1, "reserved_1yr": 12, "reserved_3yr": 36}


class RentPrice(BaseModel):
    """The rental price used for a comparison, with its provenance."""

    model_config = ConfigDict(extra="forbid")
    cloud: str
    term: str
    price_usd_per_gpu_hour: float
    source: str
    as_of: str | None
    egress_usd_per_byte: float
    egress_source: str | None
    notes: list[str]


def offerings(gpu: str, catalog: Catalog | None = None) -> list[CloudModel]:
    """Every ``clouds`` entry for accelerator ``gpu``, default first."""
    cat = get_catalog(catalog)
    acc = cat.accelerator(gpu)
    rows = [c for c in section(cat, "clouds").values() if c.accelerator == acc.id]
    return sorted(rows, key=lambda c: (not c.default, c.id))


def default_cloud(gpu: str, catalog: Catalog | None = None) -> CloudModel | None:
    """The ``default: true`` clouds entry of ``gpu``, or None when the catalog has none."""
    rows = [c for c in offerings(gpu, catalog) if c.default]
    if len(rows) > 1:
        raise UserError(f"clouds entries {', '.join(c.id for c in rows)} are all marked default "
                        f"for {rows[0].accelerator}; keep one")
    return rows[0] if rows else None


def default_rent_usd_per_gpu_hour(gpu: str, catalog: Catalog | None = None,
                                  term: str = "on_demand") -> float | None:
    """Reference rental price of ``gpu`` [USD per GPU-hour], or None when the catalog has none.

    Parameters
    ----------
    gpu : str
        Accelerator id.
    catalog : Catalog, optional
        Default the built-in catalog.
    term : {"on_demand", "reserved_1yr", "reserved_3yr"}
        Commitment whose price is wanted.

    For ``gpuplan train/serve`` ``cost_usd.rent``: the default clouds entry's ``term`` price
    (on demand unless asked), falling back to on demand when the term is not published.
    """
    c = default_cloud(gpu, catalog)
    if c is None:
        return None
    p = c.price(term) or c.on_demand_usd_per_gpu_hour
    return float(p.value)


def check_on_demand_fleet(entry: CloudModel, term: str, gpus: int | None) -> None:
    """A one-line UserError when ``gpus`` on demand exceed what ``entry`` rents without a
    contract (its ``max_on_demand_gpus``) [accelerators]."""
    cap = entry.max_on_demand_gpus
    if term != "on_demand" or gpus is None or cap is None or gpus <= cap.value:
        return
    have = [t for t in TERMS[1:] if entry.price(t) is not None]
    raise UserError(f"term: on_demand rents at most {cap.value:,.0f} {entry.accelerator} from "
                    f"{entry.id} ({' '.join(cap.source.split())[:80]}..., {cap.as_of}); "
                    f"{gpus:,} need a reserved contract"
                    + (f" ({', '.join(have)})" if have else " (none published: give a price)"),
                    field="term")


def resolve_rent(gpu: str, cloud: str | float | None = None, term: str | None = None,
                 catalog: Catalog | None = None, gpus: int | None = None) -> RentPrice:
    """The rental price for a comparison.

    Parameters
    ----------
    gpu : str
        Accelerator id.
    cloud : str, float or None
        A ``clouds`` id, a price [USD per GPU-hour], or None for the accelerator's default entry.
    term : {"on_demand", "reserved_1yr", "reserved_3yr"}, optional
        Default on demand, or the shortest published contract when ``gpus`` exceed what the
        entry rents on demand. A term the entry does not publish is a UserError naming what it
        has.
    catalog : Catalog, optional
        Default the built-in catalog.
    gpus : int, optional
        Fleet rented [accelerators]; on demand it may not exceed the entry's
        ``max_on_demand_gpus``.

    Raises
    ------
    UserError
        ``field="term"`` for an unknown term or an on-demand fleet beyond what the entry rents
        without a contract, ``field="cloud"`` for a price out of range or no rental price in the
        catalog.
    """
    cat = get_catalog(catalog)
    asked = term
    term = check_choice("term", term or "on_demand", TERMS)
    if isinstance(cloud, (int, float)) and not isinstance(cloud, bool):
        if not math.isfinite(cloud) or cloud <= 0 or cloud > MAX_RENT_USD_PER_GPU_HOUR:
            raise UserError(f"cloud: rent price must be between 0 and "
                            f"{MAX_RENT_USD_PER_GPU_HOUR:,.0f} USD per GPU-hour, got {cloud!r}",
                            field="cloud")
        return RentPrice(cloud="user", term=term, price_usd_per_gpu_hour=float(cloud),
                         source="user input", as_of=None, egress_usd_per_byte=0.0,
                         egress_source=None, notes=[])
    if cloud is None:
        entry = default_cloud(gpu, cat)
        if entry is None:
            acc = cat.accelerator(gpu)
            raise UserError(f"cloud: the catalog has no rental price for {acc.id}; give one "
                            f"[USD per GPU-hour] or overlay a clouds entry", field="cloud")
    else:
        entry = cat.entry("clouds", str(cloud), "cloud")
        acc = cat.accelerator(gpu)
        if entry.accelerator != acc.id:
            raise UserError(f"clouds entry {entry.id!r} rents {entry.accelerator}, not {acc.id}; "
                            f"entries for {acc.id}: "
                            f"{', '.join(c.id for c in offerings(acc.id, cat)) or 'none'}")
    notes: list[str] = []
    cap = entry.max_on_demand_gpus
    if asked is None and cap is not None and gpus is not None and gpus > cap.value:
        contracted = [t for t in TERMS[1:] if entry.price(t) is not None]
        if contracted:                      # no term asked: the fleet is priced on a contract
            term = contracted[0]
            notes.append(f"rent: {gpus:,} GPUs exceed the {cap.value:,.0f} {entry.id} rents on "
                         f"demand: priced on {term} (billed every hour)")
    p = entry.price(term)
    if p is None:
        have = [t for t in TERMS if entry.price(t) is not None]
        raise UserError(f"clouds entry {entry.id!r} publishes no {term} price; it has: "
                        f"{', '.join(have)}")
    check_on_demand_fleet(entry, term, gpus)
    eg = entry.egress_usd_per_byte
    if eg is None:
        notes.append(f"no egress price for {entry.id}: egress costs 0")
    return RentPrice(cloud=entry.id, term=term, price_usd_per_gpu_hour=p.value,
                     source=" ".join(p.source.split()), as_of=p.as_of,
                     egress_usd_per_byte=eg.value if eg else 0.0,
                     egress_source=" ".join(eg.source.split()) if eg else None, notes=notes)


def rent_price_path(price0: npt.ArrayLike, months: int, change_per_year: npt.ArrayLike = 0.0,
                    term: str = "on_demand") -> np.ndarray:
    """Rental price in each month of a horizon [USD per GPU-hour].

    Parameters
    ----------
    price0 : float or array
        Price in the first month [USD per GPU-hour].
    months : int
        Months of the horizon.
    change_per_year : float or array
        Yearly relative change of the market price [fraction per year], e.g. -0.28.
    term : str
        ``on_demand`` follows the market each month; committed terms hold the price for 12 or
        36 months and renew at the market price.

    Returns
    -------
    numpy.ndarray, shape ``broadcast(price0, change) + (months,)``

    Notes
    -----
    Month :math:`j = 0, 1, ...`: :math:`p_j = p_0 (1 + g)^{\\lfloor j/L \\rfloor L / 12}` with
    :math:`L` the months a price holds (1 on demand).
    """
    check_choice("term", term, TERMS)
    g = np.asarray(change_per_year, dtype=float)[..., None]
    p0 = np.asarray(price0, dtype=float)[..., None]
    if np.any(g <= -1):
        raise UserError("a yearly price change must be above -100 %")
    L = TERM_MONTHS[term]
    j = np.arange(months, dtype=float)
    start = np.floor(j / L) * L
    out: np.ndarray = p0 * (1.0 + g) ** (start / MONTHS_PER_YEAR)
    return out


def rent_cost_per_month(gpus: npt.ArrayLike, price_path: npt.ArrayLike,
                        utilisation: npt.ArrayLike = 1.0, term: str = "on_demand",
                        egress_bytes_per_month: npt.ArrayLike = 0.0,
                        egress_usd_per_byte: npt.ArrayLike = 0.0) -> np.ndarray:
    """Rental bill of each month [USD].

    Parameters
    ----------
    gpus : float or array
        Accelerators rented [count].
    price_path : array (..., M)
        Price in each month [USD per GPU-hour] (:func:`rent_price_path`).
    utilisation : float or array
        Share of hours used [fraction]; broadcasts against ``price_path`` without its last axis.
    term : str
        ``on_demand`` pays the used hours only; a committed term pays every hour.
    egress_bytes_per_month : float or array
        Data moved out of the cloud [bytes/month].
    egress_usd_per_byte : float or array
        Egress price [USD/byte].

    Returns
    -------
    numpy.ndarray, shape of ``price_path`` broadcast with the other inputs
        [USD per month].

    Notes
    -----
    :math:`C_j = N \\cdot H_m \\cdot p_j \\cdot (u \\text{ if on demand else } 1) + B \\cdot e`,
    with :math:`H_m = 8766 / 12 = 730.5` h per month.
    """
    u = np.asarray(utilisation, dtype=float)[..., None] if term == "on_demand" else 1.0
    egress = (np.asarray(egress_bytes_per_month, dtype=float)
              * np.asarray(egress_usd_per_byte, dtype=float))[..., None]
    out: np.ndarray = np.asarray(gpus, dtype=float) * HOURS_PER_MONTH * np.asarray(
        price_path, dtype=float) * u + egress
    return out


def rent_usd_per_used_gpu_hour(mean_price_usd_per_gpu_hour: float, utilisation: float,
                               term: str, egress_usd_per_month: float, gpus: int) -> float:
    """Cost of renting one used GPU-hour [USD per GPU-hour], egress included.

    Parameters
    ----------
    mean_price_usd_per_gpu_hour : float
        Mean of the price path [USD per GPU-hour].
    utilisation : float
        Share of hours used [fraction].
    term : str
        On demand pays the used hours only; a committed term pays every hour, so a used hour
        costs :math:`p / u`.
    egress_usd_per_month : float
        Egress bill [USD/month], spread over the used hours.
    gpus : int
        Accelerators rented [count].
    """
    paid_per_used = 1.0 if term == "on_demand" else 1.0 / utilisation
    return mean_price_usd_per_gpu_hour * paid_per_used + egress_usd_per_month / (
        gpus * HOURS_PER_MONTH * utilisation)
