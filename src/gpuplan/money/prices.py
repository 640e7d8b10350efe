"""Every economic default of the catalog, one row each, with its source and date.

``gpuplan catalog prices`` lists these rows: the costs entries (shares, rates, lives, unit
prices), each region's electricity, carbon, colocation and facility prices, each cloud offering's
rental tiers, egress and obtainable on-demand fleet, and the accelerator and system purchase
prices. Nothing is computed here; the rows are the catalog's values as they are.
"""

from __future__ import annotations

from typing_extensions import TypedDict

from gpuplan.catalog import Catalog
from gpuplan.catalog.schema import Sourced
from gpuplan.money._catalog import _UNIT_OF_FIELD, get_catalog, section

#: Region fields that are economic defaults, and their units.
REGION_FIELDS = (("electricity_usd_per_kwh", "USD/kWh"), ("grid_kg_co2_per_kwh", "kg CO2e/kWh"),
                 ("colocation_usd_per_kw_month", "USD per kW-month"),
                 ("facility_build_usd_per_w", "USD/W"), ("corporate_tax_rate", "fraction"))
#: Cloud fields that are economic defaults, and their units.
CLOUD_FIELDS = (("on_demand_usd_per_gpu_hour", "USD per GPU-hour"),
                ("reserved_1yr_usd_per_gpu_hour", "USD per GPU-hour"),
                ("reserved_3yr_usd_per_gpu_hour", "USD per GPU-hour"),
                ("egress_usd_per_byte", "USD/byte"), ("max_on_demand_gpus", "GPUs"))


class PriceRow(TypedDict):
    """One economic default: where it is, its value and unit, its provenance."""

    section: str
    id: str
    field: str
    value: float
    unit: str
    source: str
    as_of: str
    usd_year: int | None
    judgement: bool
    note: str


def _row(sec: str, eid: str, field: str, unit: str, s: Sourced, judgement: bool = False
         ) -> PriceRow:
    src = " ".join(s.source.split())
    return PriceRow(section=sec, id=eid, field=field, value=float(s.value), unit=unit,
                    source=src, as_of=s.as_of, usd_year=getattr(s, "usd_year", None),
                    judgement=judgement or src.lower().startswith("judgement"),
                    note=" ".join(s.note.split()))


def economic_defaults(catalog: Catalog | None = None) -> list[PriceRow]:
    """Every economic default of the catalog with its source and date.

    Parameters
    ----------
    catalog : Catalog, optional
        Default the built-in catalog (with the user's overlays).

    Returns
    -------
    list of PriceRow
        ``costs`` first, then ``regions``, ``clouds``, ``accelerators`` (``price_usd``) and
        ``systems`` (``price_usd``); each row's value in its ``unit``.
    """
    cat = get_catalog(catalog)
    rows: list[PriceRow] = []
    for e in section(cat, "costs").values():
        for f, unit in _UNIT_OF_FIELD:
            v = getattr(e, f)
            if v is not None:
                rows.append(_row("costs", e.id, f, unit, v, e.judgement))
    for r in section(cat, "regions").values():
        for f, unit in REGION_FIELDS:
            v = getattr(r, f)
            if v is not None:
                rows.append(_row("regions", r.id, f, unit, v))
    for c in section(cat, "clouds").values():
        for f, unit in CLOUD_FIELDS:
            v = getattr(c, f)
            if v is not None:
                rows.append(_row("clouds", c.id, f, unit, v))
    for a in cat.accelerators.values():
        if a.price_usd is not None:
            rows.append(_row("accelerators", a.id, "price_usd", "USD", a.price_usd))
    for s in cat.systems.values():
        if s.price_usd is not None:
            rows.append(_row("systems", s.id, "price_usd", "USD", s.price_usd))
    return rows
