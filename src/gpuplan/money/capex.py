"""CapEx: price a cluster's bill of materials, then add spares, installation and the facility.

The cluster builder (:mod:`gpuplan.cluster`) returns a
:class:`~gpuplan.cluster.result.ClusterResult` whose BOM lines carry a unit price when its
catalog knows one. Lines without a price are priced here from the ``costs`` catalog: by the
longest ``bom_match`` substring of the item id among the entries that apply to the line's
category; storage capacity at USD per byte; items paid inside another line (``included_in``,
e.g. NICs in the server price) at zero; a system or accelerator id from its catalog price. What
is still unpriced is listed in the notes (counted as zero, never silently).

The facility is either built (USD per watt of critical IT load, at the cluster's nameplate IT
power) or rented as colocation (USD per kW-month, an operating cost).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import Catalog
from gpuplan.catalog.schema_money import CostModel
from gpuplan.cluster.result import ClusterResult
from gpuplan.money._catalog import Assumptions, cost, section

BOM_CATEGORIES = ("compute", "network", "storage", "management", "facility")
CAPEX_KEYS = ("compute", "network", "storage", "management", "facility_equipment", "spares",
              "installation", "facility", "total")
#: Hardware = everything replaced at the end of the useful life (not the building).
HARDWARE_KEYS = ("compute", "network", "storage", "management", "facility_equipment", "spares",
                 "installation")


class PricedLine(BaseModel):
    """A BOM line with the price used and where it came from."""

    model_config = ConfigDict(extra="forbid")
    item: str
    category: str
    quantity: float
    unit_price_usd: float | None
    total_usd: float
    price_source: str
    priced_by: str
    judgement: bool = False


def _match(cat: Catalog, item: str, category: str) -> CostModel | None:
    """Best ``costs`` entry for a BOM item: longest bom_match substring, later entry on a tie."""
    best: CostModel | None = None
    best_key = (0, -1)
    for i, e in enumerate(section(cat, "costs").values()):
        if category not in e.bom_categories:
            continue
        for s in e.bom_match:
            if s and s in item:
                key = (len(s), i)
                if key > best_key:
                    best, best_key = e, key
    return best


def _system_price(cat: Catalog, item: str, a: Assumptions) -> tuple[float, str, bool] | None:
    key = item.lower()
    if key in cat.systems:
        s = cat.systems[key]
        sp = s.price_usd
        if sp is not None:
            return sp.value, f"systems/{s.id}: {' '.join(sp.source.split())} ({sp.as_of})", False
        acc = cat.accelerators[s.accelerator]
        if acc.price_usd is not None:
            ratio = a.cost(cat, "server-to-chip-cost-ratio", unit="ratio")
            n = s.accelerators_per_node.value
            return (n * acc.price_usd.value * ratio,
                    f"derived: {n:g} x accelerators/{acc.id} price {acc.price_usd.value:,.0f} "
                    f"({acc.price_usd.as_of}) x server/chip ratio {ratio} (Epoch)", False)
        return None
    p = cat.accelerators[key].price_usd if key in cat.accelerators else None
    if p is not None:
        return p.value, f"accelerators/{key}: {' '.join(p.source.split())} ({p.as_of})", False
    return None


def price_bom(cluster: ClusterResult, cat: Catalog, assumptions: Assumptions | None = None
              ) -> tuple[list[PricedLine], list[str]]:
    """Price every BOM line of ``cluster``.

    Parameters
    ----------
    cluster : ClusterResult
        The cluster; its BOM lines and storage capacity [bytes].
    cat : Catalog
        Prices: ``systems``, ``accelerators`` and ``costs`` [USD, USD per unit, USD/byte].
    assumptions : Assumptions, optional
        Where the catalog values used are recorded.

    Returns
    -------
    (lines, unpriced)
        Priced lines, and the items no price was found for (their total is 0 and they are
        named in the TCO notes).
    """
    a = assumptions or Assumptions()
    lines: list[PricedLine] = []
    unpriced: list[str] = []
    storage_bytes = float(getattr(cluster.storage, "capacity_bytes", 0.0) or 0.0)
    storage_capacity_lines: list[int] = []
    for b in cluster.bom:
        item = b.item.lower()
        if b.unit_price_usd is not None:
            lines.append(PricedLine(item=b.item, category=b.category, quantity=b.quantity,
                                    unit_price_usd=b.unit_price_usd,
                                    total_usd=b.quantity * b.unit_price_usd,
                                    price_source=b.price_source or "cluster builder catalog",
                                    priced_by="cluster"))
            continue
        if b.category == "compute":
            sp = _system_price(cat, item, a)
            if sp is not None:
                lines.append(PricedLine(item=b.item, category=b.category, quantity=b.quantity,
                                        unit_price_usd=sp[0], total_usd=b.quantity * sp[0],
                                        price_source=sp[1], priced_by="catalog:systems",
                                        judgement=sp[2]))
                continue
        e = _match(cat, item, b.category)
        if e is None:
            unpriced.append(b.item)
            lines.append(PricedLine(item=b.item, category=b.category, quantity=b.quantity,
                                    unit_price_usd=None, total_usd=0.0,
                                    price_source="no price found", priced_by="unpriced"))
            continue
        if e.included_in is not None:
            lines.append(PricedLine(item=b.item, category=b.category, quantity=b.quantity,
                                    unit_price_usd=0.0, total_usd=0.0,
                                    price_source=f"included in {' '.join(e.included_in.split())}",
                                    priced_by=f"catalog:costs/{e.id}", judgement=e.judgement))
            continue
        s = e.sourced
        src = f"costs/{e.id}: " + (f"{' '.join(s.source.split())} ({s.as_of})" if s else "")
        if e.usd_per_byte is not None:
            storage_capacity_lines.append(len(lines))
            lines.append(PricedLine(item=b.item, category=b.category, quantity=b.quantity,
                                    unit_price_usd=None, total_usd=0.0, price_source=src,
                                    priced_by=f"catalog:costs/{e.id}", judgement=e.judgement))
            a.cost(cat, e.id, unit="USD/byte")
            continue
        if e.usd_per_unit is None:
            unpriced.append(b.item)
            lines.append(PricedLine(item=b.item, category=b.category, quantity=b.quantity,
                                    unit_price_usd=None, total_usd=0.0,
                                    price_source=f"costs/{e.id} is not a unit price",
                                    priced_by="unpriced"))
            continue
        a.cost(cat, e.id, unit="USD per unit")
        lines.append(PricedLine(item=b.item, category=b.category, quantity=b.quantity,
                                unit_price_usd=e.value, total_usd=b.quantity * e.value,
                                price_source=src, priced_by=f"catalog:costs/{e.id}",
                                judgement=e.judgement))
    # Storage capacity: the cluster's capacity at USD per byte, shared by quantity over the
    # unpriced storage lines (or one synthetic line if the BOM lists no storage at all).
    has_storage = any(ln.category == "storage" for ln in lines)
    if storage_bytes > 0 and (storage_capacity_lines or not has_storage):
        e = cost(cat, "storage-capacity")
        a.cost(cat, "storage-capacity", unit="USD/byte")
        total = storage_bytes * e.value
        es = e.sourced
        src = "costs/storage-capacity: " + (
            f"{' '.join(es.source.split())} ({es.as_of})" if es else "") + \
            f" x {storage_bytes:.3g} bytes"
        if storage_capacity_lines:
            q = np.array([lines[i].quantity for i in storage_capacity_lines], dtype=float)
            share = q / q.sum() if q.sum() > 0 else np.full(q.size, 1.0 / q.size)
            for i, sh in zip(storage_capacity_lines, share):
                ln = lines[i]
                t = float(total * sh)
                lines[i] = ln.model_copy(update={
                    "total_usd": t, "price_source": src,
                    "unit_price_usd": t / ln.quantity if ln.quantity else None})
        else:
            lines.append(PricedLine(item="storage-capacity", category="storage", quantity=1.0,
                                    unit_price_usd=total, total_usd=total, price_source=src,
                                    priced_by="catalog:costs/storage-capacity",
                                    judgement=e.judgement))
    return lines, unpriced


def bom_totals(lines: list[PricedLine]) -> dict[str, float]:
    """Sum of priced lines per BOM category [USD]."""
    out = {c: 0.0 for c in BOM_CATEGORIES}
    for ln in lines:
        out[ln.category] = out.get(ln.category, 0.0) + ln.total_usd
    return out


def facility_build_usd(it_power_w: npt.ArrayLike, usd_per_w: npt.ArrayLike) -> np.ndarray:
    """Construction cost of the facility [USD].

    Parameters
    ----------
    it_power_w : float or array
        Critical IT load the facility is built for (nameplate maximum) [W].
    usd_per_w : float or array
        Construction cost per watt of critical IT load [USD/W] (Cushman & Wakefield 2025: 11.7
        USD/W US average, excluding IT, land and soft costs).
    """
    return np.asarray(it_power_w, dtype=float) * np.asarray(usd_per_w, dtype=float)


def spares_usd(compute_usd: npt.ArrayLike, fraction: npt.ArrayLike) -> np.ndarray:
    """Spare hardware [USD] = compute capex [USD] x spares share [fraction]."""
    return np.asarray(compute_usd, dtype=float) * np.asarray(fraction, dtype=float)


def installation_usd(hardware_usd: npt.ArrayLike, fraction: npt.ArrayLike) -> np.ndarray:
    """Installation and integration [USD] = hardware capex [USD] x share [fraction]."""
    return np.asarray(hardware_usd, dtype=float) * np.asarray(fraction, dtype=float)


def capex_breakdown(totals: dict[str, float], *, facility_usd: float, spares_fraction: float,
                    installation_fraction: float) -> dict[str, float]:
    """CapEx by component [USD]: BOM categories, spares, installation, facility, total.

    Parameters
    ----------
    totals : dict
        Priced BOM total per category (:func:`bom_totals`) [USD].
    facility_usd : float
        Facility build cost (0 under colocation) [USD].
    spares_fraction : float
        Spares as a share of compute capex [fraction].
    installation_fraction : float
        Installation as a share of hardware capex [fraction].

    Notes
    -----
    spares = s x compute; installation = i x (compute + network + storage + management +
    facility equipment + spares); facility = build cost (0 under colocation).
    """
    out = {"compute": totals.get("compute", 0.0), "network": totals.get("network", 0.0),
           "storage": totals.get("storage", 0.0), "management": totals.get("management", 0.0),
           "facility_equipment": totals.get("facility", 0.0)}
    out["spares"] = float(spares_usd(out["compute"], spares_fraction))
    hw = sum(out.values())
    out["installation"] = float(installation_usd(hw, installation_fraction))
    out["facility"] = float(facility_usd)
    out["total"] = sum(out[k] for k in CAPEX_KEYS if k != "total")
    return out
