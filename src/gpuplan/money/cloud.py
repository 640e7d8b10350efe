"""The cloud alternative: rental prices per accelerator-hour, price paths, rental cash flows.

Prices come from the ``clouds`` catalog section (dated, per provider and commitment term). A
price path lets the rate change by a yearly fraction (H100 rentals fell ~45 % in 2025 and
recovered ~40 % by Mar 2026; see ``clouds.yaml``); committed terms hold their price for the
term and renew at the then-current price.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import Catalog
from gpuplan.errors import UserError
from gpuplan.money._catalog import get_catalog, section
from gpuplan.units import HOURS_PER_MONTH, MONTHS_PER_YEAR

TERMS = ("on_demand", "reserved_1yr", "reserved_3yr")
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


def offerings(gpu: str, catalog: Catalog | None = None) -> list:
    """Every ``clouds`` entry for accelerator ``gpu``, default first."""
    cat = get_catalog(catalog)
    acc = cat.accelerator(gpu)
    rows = [c for c in section(cat, "clouds").values() if c.accelerator == acc.id]
    return sorted(rows, key=lambda c: (not c.default, c.id))


def default_cloud(gpu: str, catalog: Catalog | None = None):
    """The ``default: true`` clouds entry of ``gpu``, or None when the catalog has none."""
    rows = [c for c in offerings(gpu, catalog) if c.default]
    if len(rows) > 1:
        raise UserError(f"clouds entries {', '.join(c.id for c in rows)} are all marked default "
                        f"for {rows[0].accelerator}; keep one")
    return rows[0] if rows else None


def default_rent_usd_per_gpu_hour(gpu: str, catalog: Catalog | None = None,
                                  term: str = "on_demand") -> float | None:
    """Reference rental price of ``gpu`` [USD per GPU-hour], or None when the catalog has none.

    For ``gpuplan train/serve`` ``cost_usd.rent``: the default clouds entry's ``term`` price
    (on demand unless asked), falling back to on demand when the term is not published.
    """
    c = default_cloud(gpu, catalog)
    if c is None:
        return None
    p = c.price(term) or c.on_demand_usd_per_gpu_hour
    return p.value


def resolve_rent(gpu: str, cloud: str | float | None = None, term: str | None = None,
                 catalog: Catalog | None = None) -> RentPrice:
    """The rental price for a comparison.

    Parameters
    ----------
    cloud : str, float or None
        A ``clouds`` id, a price [USD per GPU-hour], or None for the accelerator's default entry.
    term : {"on_demand", "reserved_1yr", "reserved_3yr"}, optional
        Default on demand. A term the entry does not publish is a UserError naming what it has.
    """
    cat = get_catalog(catalog)
    term = term or "on_demand"
    if term not in TERMS:
        raise UserError(f"--term {term!r} unknown; accepted: {', '.join(TERMS)}")
    if isinstance(cloud, (int, float)) and not isinstance(cloud, bool):
        if not math.isfinite(cloud) or cloud <= 0 or cloud > 1e4:
            raise UserError(f"rent price must be between 0 and 10,000 USD per GPU-hour, got "
                            f"{cloud!r}")
        return RentPrice(cloud="user", term=term, price_usd_per_gpu_hour=float(cloud),
                         source="user input", as_of=None, egress_usd_per_byte=0.0,
                         egress_source=None, notes=[])
    if cloud is None:
        entry = default_cloud(gpu, cat)
        if entry is None:
            acc = cat.accelerator(gpu)
            raise UserError(f"the catalog has no rental price for {acc.id}; give one "
                            f"(--rent-usd-per-gpu-hour / cloud=<USD per GPU-hour>) or overlay a "
                            f"clouds entry")
    else:
        entry = cat.entry("clouds", str(cloud), "cloud")
        acc = cat.accelerator(gpu)
        if entry.accelerator != acc.id:
            raise UserError(f"clouds entry {entry.id!r} rents {entry.accelerator}, not {acc.id}; "
                            f"entries for {acc.id}: "
                            f"{', '.join(c.id for c in offerings(acc.id, cat)) or 'none'}")
    p = entry.price(term)
    if p is None:
        have = [t for t in TERMS if entry.price(t) is not None]
        raise UserError(f"clouds entry {entry.id!r} publishes no {term} price; it has: "
                        f"{', '.join(have)}")
    eg = entry.egress_usd_per_byte
    notes = []
    if eg is None:
        notes.append(f"no egress price for {entry.id}: egress costs 0")
    return RentPrice(cloud=entry.id, term=term, price_usd_per_gpu_hour=p.value,
                     source=" ".join(p.source.split()), as_of=p.as_of,
                     egress_usd_per_byte=eg.value if eg else 0.0,
                     egress_source=" ".join(eg.source.split()) if eg else None, notes=notes)


def rent_price_path(price0, months: int, change_per_year=0.0, term: str = "on_demand"):
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
    if term not in TERM_MONTHS:
        raise UserError(f"term {term!r} unknown; accepted: {', '.join(TERMS)}")
    g = np.asarray(change_per_year, dtype=float)[..., None]
    p0 = np.asarray(price0, dtype=float)[..., None]
    if np.any(g <= -1):
        raise UserError("a yearly price change must be above -100 %")
    L = TERM_MONTHS[term]
    j = np.arange(months, dtype=float)
    start = np.floor(j / L) * L
    return p0 * (1.0 + g) ** (start / MONTHS_PER_YEAR)


def rent_cost_per_month(gpus, price_path, utilisation=1.0, term: str = "on_demand",
                        egress_bytes_per_month=0.0, egress_usd_per_byte=0.0):
    """Rental bill of each month [USD].

    Notes
    -----
    On demand pays only the used hours; a committed term pays every hour of the term:
    :math:`C_j = N \\cdot H_m \\cdot p_j \\cdot (u \\text{ if on demand else } 1) + B \\cdot e`,
    with :math:`H_m = 730.5` h per month.
    """
    u = np.asarray(utilisation, dtype=float)[..., None] if term == "on_demand" else 1.0
    egress = (np.asarray(egress_bytes_per_month, dtype=float)
              * np.asarray(egress_usd_per_byte, dtype=float))[..., None]
    return np.asarray(gpus, dtype=float) * HOURS_PER_MONTH * price_path * u + egress
