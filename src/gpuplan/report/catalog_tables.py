"""Rich tables of the catalog: accelerators, systems, models and the extension sections.

Units are spelled out as in :mod:`gpuplan.report.terminal`: GB = 1e9 bytes, TB/s = 1e12 bytes/s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

from gpuplan.report.terminal import BILLION, KB, TB, console, gb
from gpuplan.units import TERA, W_PER_KW

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog
    from gpuplan.catalog.schema import Accelerator

#: Longest source text printed in a catalog section table [characters].
SOURCE_PRINT_CHARS = 80

def _peak_tflops(a: Accelerator, dtype: str) -> str:
    """Dense peak of ``dtype`` in TFLOP/s (bf16 and fp16 stand in for each other), or a dash."""
    try:
        return f"{a.peak(dtype) / TERA:,.0f}"
    except KeyError:
        return "—"


def accelerators_table(cat: Catalog) -> None:
    """The accelerator catalog: memory, bandwidth, dense peaks, TDP, price and its date.

    Parameters
    ----------
    cat : Catalog
        The catalog [—].
    """
    t = Table(title="Accelerators (dense peaks; GB = 1e9 bytes)", header_style="bold")
    for col in ("id", "memory GB", "HBM TB/s", "bf16 TFLOP/s", "fp8 TFLOP/s", "fp4 TFLOP/s",
                "TDP W", "scale-up", "price USD", "price as of"):
        t.add_column(col, justify="left" if col == "id" else "right")
    for a in cat.accelerators.values():
        t.add_row(a.id, gb(a.memory_bytes.value), f"{a.hbm_bandwidth_bytes_per_s.value / TB:.2f}",
                  _peak_tflops(a, "bf16"), _peak_tflops(a, "fp8"), _peak_tflops(a, "fp4"),
                  f"{a.tdp_w.value:,.0f}" if a.tdp_w else "—",
                  f"{a.scale_up_domain_size.value:.0f}" if a.scale_up_domain_size else "—",
                  f"{a.price_usd.value:,.0f}" if a.price_usd else "—",
                  a.price_usd.as_of if a.price_usd else "—")
    console().print(t)
    console().print("Sources: `gpuplan catalog gpus --json` gives every value's source and date.")


def systems_table(cat: Catalog) -> None:
    """The system catalog: accelerators per node, power, rack units, NICs, price and its date.

    Parameters
    ----------
    cat : Catalog
        The catalog [—].
    """
    t = Table(title="Systems", header_style="bold")
    for col in ("id", "accelerator", "per node", "max kW", "typical kW", "RU", "NICs",
                "price USD", "as of"):
        t.add_column(col, justify="left" if col in ("id", "accelerator") else "right")
    for s in cat.systems.values():
        t.add_row(s.id, s.accelerator, f"{s.accelerators_per_node.value:.0f}",
                  f"{s.node_max_power_w.value / W_PER_KW:.1f}",
                  f"{s.node_typical_power_w.value / W_PER_KW:.1f}" if s.node_typical_power_w
                  else "—",
                  f"{s.rack_units.value:.0f}" if s.rack_units else "—",
                  f"{s.compute_nics.value:.0f}" if s.compute_nics else "—",
                  f"{s.price_usd.value:,.0f}" if s.price_usd else "—",
                  s.price_usd.as_of if s.price_usd else "—")
    console().print(t)


def models_table(rows: Sequence[Mapping[str, Any]]) -> None:
    """The model catalog from :func:`gpuplan.report.model_summary.model_rows`.

    Parameters
    ----------
    rows : sequence of mapping
        :func:`~gpuplan.report.model_summary.model_rows` (counts [1], bytes per token [bytes]) [—].
    """
    t = Table(title="Models (parameters from the config; KV at bf16)", header_style="bold")
    for col in ("id", "params B", "active B", "layers", "hidden", "heads/kv", "attention",
                "experts", "KV KB/token", "config from"):
        t.add_column(col, justify="left" if col in ("id", "config from", "attention") else "right")
    for r in rows:
        t.add_row(r["id"], f"{r['params'] / BILLION:,.2f}",
                  f"{r['active_params'] / BILLION:,.2f}",
                  str(r["layers"]), str(r["hidden_size"]), f"{r['heads']}/{r['kv_heads']}",
                  r["attention"],
                  f"{r['experts']} (top {r['experts_per_token']})" if r["experts"] else "—",
                  f"{r['kv_cache_bytes_per_token_bf16'] / KB:,.1f}", r["repo_id"])
    console().print(t)


def section_table(section: str, entries: Sequence[Mapping[str, Any]]) -> None:
    """A catalog extension section: id, name and every sourced number with its date.

    Parameters
    ----------
    section : str
        The section name, used as the title [—].
    entries : sequence of mapping
        The entries' ``model_dump()`` (numbers in the unit of their key) [—].
    """
    c = console()
    t = Table(title=section, header_style="bold")
    for col in ("id", "field", "value", "as of", "source"):
        t.add_column(col, overflow="fold")
    for e in entries:
        first = True
        for k, v in e.items():
            if isinstance(v, dict) and "value" in v and "source" in v:
                t.add_row(e["id"] if first else "", k, f"{v['value']:,.6g}", str(v["as_of"]),
                          str(v["source"])[:SOURCE_PRINT_CHARS])
                first = False
        if first:
            t.add_row(e["id"], "", "", "", "")
    c.print(t)
