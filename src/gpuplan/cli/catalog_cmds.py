"""``gpuplan catalog gpus|systems|models|clouds|regions|prices``: what the catalog knows, with
sources."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gpuplan.cli.common import CatalogOpt, JsonOpt, emit_json, handle_errors, load_overlaid_catalog

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog

catalog_app = typer.Typer(help="What the catalog knows, with sources.", no_args_is_help=True)

#: The catalog listings ``gpuplan catalog KIND --json`` and the web's ``/api/catalog/KIND`` share.
CATALOG_KINDS = ("gpus", "systems", "models", "clouds", "regions")


def catalog_json(cat: Catalog, kind: str) -> dict[str, Any]:
    """The JSON of ``gpuplan catalog KIND --json`` (and of ``/api/catalog/KIND``): one key, the
    section's name, holding its entries with their sources.

    Parameters
    ----------
    cat : Catalog
        The catalog (with any overlays) [—].
    kind : str
        One of :data:`CATALOG_KINDS` [—].
    """
    if kind == "gpus":
        return {"accelerators": [a.model_dump() for a in cat.accelerators.values()]}
    if kind == "systems":
        return {"systems": [s.model_dump() for s in cat.systems.values()]}
    if kind == "models":
        from gpuplan.report.model_summary import model_rows

        return {"models": model_rows(cat)}
    return {kind: [x.model_dump() for x in cat.section(kind).values()]}


@catalog_app.command("gpus")
@handle_errors
def catalog_gpus(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Accelerators: memory, bandwidth, dense peaks, power, price — each with source and date."""
    cat = load_overlaid_catalog(catalog)
    if as_json:
        emit_json(catalog_json(cat, "gpus"))
        return
    from gpuplan.report.catalog_tables import accelerators_table

    accelerators_table(cat)


@catalog_app.command("systems")
@handle_errors
def catalog_systems(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Systems (servers, racks): accelerators per node, power, NICs, price."""
    cat = load_overlaid_catalog(catalog)
    if as_json:
        emit_json(catalog_json(cat, "systems"))
        return
    from gpuplan.report.catalog_tables import systems_table

    systems_table(cat)


@catalog_app.command("clouds")
@handle_errors
def catalog_clouds(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Cloud GPU rental prices (USD per GPU-hour) with source and date."""
    _section_listing("clouds", as_json, catalog)


@catalog_app.command("regions")
@handle_errors
def catalog_regions(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Regions: electricity price, grid carbon intensity, export rules."""
    _section_listing("regions", as_json, catalog)


@catalog_app.command("prices")
@handle_errors
def catalog_prices(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Every economic default (costs, regions, cloud tiers, purchase prices): value, unit,
    source and date."""
    from gpuplan.money.prices import economic_defaults

    rows = economic_defaults(load_overlaid_catalog(catalog))
    if as_json:
        emit_json({"prices": rows})
        return
    from gpuplan.report.catalog_tables import section_table

    section_table("prices", [
        {"id": f"{r['section']}/{r['id']}",
         f"{r['field']} [{r['unit']}]": {"value": r["value"], "as_of": r["as_of"],
                                        "source": ("JUDGEMENT " if r["judgement"] else "")
                                        + r["source"]}} for r in rows])


def _section_listing(section: str, as_json: bool, catalog: list[Path] | None) -> None:
    entries = catalog_json(load_overlaid_catalog(catalog), section)
    if as_json:
        emit_json(entries)
        return
    from gpuplan.report.catalog_tables import section_table

    section_table(section, entries[section])


@catalog_app.command("models")
@handle_errors
def catalog_models(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Models: parameters (total/active), layers, heads, KV bytes per token, config source."""
    from gpuplan.report.model_summary import model_rows

    cat = load_overlaid_catalog(catalog)
    if as_json:
        emit_json(catalog_json(cat, "models"))
        return
    rows = model_rows(cat)
    from gpuplan.report.catalog_tables import models_table

    models_table(rows)
