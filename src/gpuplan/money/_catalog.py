"""Catalog look-ups for the economics stage, recorded as assumptions with source and date."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.catalog.schema import Sourced
from gpuplan.catalog.schema_money import CostModel
from gpuplan.errors import UserError

#: The value field of a cost entry and the unit it is in, in the order they are looked for.
_UNIT_OF_FIELD = (("usd_per_unit", "USD"), ("usd_per_byte", "USD/byte"), ("usd_per_w", "USD/W"),
                  ("usd_per_year", "USD/year"), ("fte_per_w", "FTE/W"),
                  ("fraction", "fraction"), ("fraction_per_year", "fraction/year"),
                  ("rate_per_year", "fraction/year"), ("years", "years"), ("ratio", "ratio"),
                  ("ooms_per_year", "orders of magnitude/year"))


class AssumptionRow(TypedDict):
    """One value a computation used, with its provenance (a row of ``assumptions``)."""

    name: str
    value: int | float | str | None
    unit: str
    source: str
    as_of: str | None
    judgement: bool
    catalog_id: str | None
    note: str


def get_catalog(catalog: Catalog | None) -> Catalog:
    """``catalog``, or the built-in catalog (with the user's overlays) when None."""
    return catalog or load_catalog()


def section(cat: Catalog, name: str) -> dict[str, Any]:
    """Entries of catalog section ``name`` by id (their model depends on the section)."""
    try:
        return cat.section(name)
    except KeyError:  # pragma: no cover - the section is registered by schema_money
        raise UserError(f"the catalog has no {name!r} section") from None


def cost(cat: Catalog, cid: str) -> CostModel:
    """A ``costs`` entry by id; a missing one is a UserError naming the id."""
    entries = section(cat, "costs")
    if cid not in entries:
        raise UserError(f"the catalog lacks costs entry {cid!r} (built-in costs.yaml or an "
                        f"overlay must define it)")
    entry: CostModel = entries[cid]
    return entry


class Assumptions:
    """Collects every catalog value (or user input) a computation used, with provenance."""

    def __init__(self) -> None:
        self.rows: list[AssumptionRow] = []
        self._seen: set[str] = set()

    def add(self, name: str, value: float | str | None, unit: str, *, source: str = "user input",
            as_of: str | None = None, judgement: bool = False, catalog_id: str | None = None,
            note: str = "") -> None:
        """Record ``value`` [``unit``] under ``name`` (the first record of a name wins)."""
        if name in self._seen:
            return
        self._seen.add(name)
        self.rows.append(AssumptionRow(name=name, value=value, unit=unit, source=source,
                                       as_of=as_of, judgement=judgement, catalog_id=catalog_id,
                                       note=note))

    def cost(self, cat: Catalog, cid: str, name: str | None = None, unit: str = "") -> float:
        """The value of ``costs`` entry ``cid`` [its unit], recorded with its source."""
        e = cost(cat, cid)
        s = e.sourced
        self.add(name or cid, e.value, unit or _unit_of(e), source=s.source if s else "",
                 as_of=s.as_of if s else None, judgement=e.judgement,
                 catalog_id=f"costs/{cid}", note=s.note if s else "")
        return e.value

    def sourced(self, name: str, s: Sourced, unit: str, catalog_id: str,
                judgement: bool = False) -> float:
        """The value of the sourced catalog number ``s`` [``unit``], recorded as ``name``."""
        self.add(name, s.value, unit, source=s.source, as_of=s.as_of, judgement=judgement,
                 catalog_id=catalog_id, note=s.note)
        return s.value


def _unit_of(entry: CostModel) -> str:
    for f, unit in _UNIT_OF_FIELD:
        if getattr(entry, f, None) is not None:
            return unit
    return ""
