"""Rich tables of a :class:`~gpuplan.cluster.result.ClusterResult` for people.

Units are spelled out: TB = 1e12 bytes, GB/s = 1e9 bytes/s, kW = 1e3 W, MWh = 1e6 Wh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from gpuplan.units import BYTES_PER_GB, BYTES_PER_TB, MEGA, W_PER_KW

if TYPE_CHECKING:
    from gpuplan.cluster.result import ClusterResult

#: Width used when stdout is not a terminal.
PIPE_WIDTH = 160


def _console() -> Console:
    c = Console(highlight=False)
    return c if c.is_terminal else Console(highlight=False, width=PIPE_WIDTH)


def _money(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def cluster_report(res: ClusterResult, console: Console | None = None) -> None:
    """Summary, networks, storage and power, then the bill of materials and the notes.

    Parameters
    ----------
    res : ClusterResult
        The cluster [—].
    console : Console, optional
        Where to print; default stdout (160 columns when not a terminal) [—].
    """
    con = console or _console()
    t = Table(title=f"Cluster: {res.gpus:,} x {res.gpu} in {res.system}", header_style="bold",
              show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    p = res.power_w
    rows = [
        ("GPUs (requested)", f"{res.gpus:,} ({res.gpus_requested:,})"),
        ("nodes / per rack", f"{res.nodes:,} / {res.nodes_per_rack}"),
        ("management nodes", f"{res.management_nodes:,}"),
        ("racks (all)", f"{res.racks:,}"),
        ("rack power limit", f"{res.rack_power_limit_w / W_PER_KW:,.1f} kW"),
        ("cooling", f"{res.cooling}: {res.cooling_reason}"),
        ("floor area (white space)", f"{res.floor_area_m2:,.0f} m²"),
        ("IT power nameplate / at load",
         f"{p.it_peak_w / W_PER_KW:,.1f} / {p.it_avg_w / W_PER_KW:,.1f} kW"),
        ("facility power (PUE)", f"{p.facility_avg_w / W_PER_KW:,.1f} kW ({p.pue:g})"),
        ("energy per year", f"{p.energy_wh_per_year / MEGA:,.0f} MWh"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    con.print(t)

    n = Table(title="Networks", header_style="bold")
    for col in ("network", "tiers", "leaf", "spine", "core", "switches", "NIC ports",
                "transceivers", "cables"):
        n.add_column(col, justify="left" if col == "network" else "right")
    f = res.fabric
    n.add_row(f"compute: {f.kind}", str(f.tiers), f"{f.leaf_switches:,}", f"{f.spine_switches:,}",
              f"{f.core_switches:,}", f"{f.leaf_switches + f.spine_switches + f.core_switches:,}",
              f"{f.nics:,}", f"{f.transceivers:,}", f"{f.cables:,}")
    for name, net in (("storage", res.storage_network), ("management (in-band + OOB)",
                                                        res.management_network)):
        n.add_row(name, "", "", "", "", f"{net.switches:,}", f"{net.nics:,}",
                  f"{net.transceivers:,}", f"{net.cables:,}")
    con.print(n)

    s = res.storage
    st = Table(title="Storage", header_style="bold")
    for col in ("capacity TB", "read GB/s", "write GB/s", "dataset TB", "checkpoint TB",
                "checkpoint write s"):
        st.add_column(col, justify="right")
    st.add_row(f"{s.capacity_bytes / BYTES_PER_TB:,.0f}",
               f"{s.read_bytes_per_s / BYTES_PER_GB:,.0f}",
               f"{s.write_bytes_per_s / BYTES_PER_GB:,.0f}",
               f"{s.dataset_bytes / BYTES_PER_TB:,.1f}",
               f"{s.checkpoint_bytes / BYTES_PER_TB:,.2f}",
               "—" if s.checkpoint_write_s is None else f"{s.checkpoint_write_s:,.1f}")
    con.print(st)

    b = Table(title="Bill of materials (prices: catalog, with source; — = not in the catalog)",
              header_style="bold")
    for col in ("item", "category", "quantity", "unit USD", "total USD", "max kW"):
        b.add_column(col, justify="left" if col in ("item", "category") else "right")
    total = 0.0
    for line in res.bom:
        tot = None if line.unit_price_usd is None else line.unit_price_usd * line.quantity
        total += tot or 0.0
        b.add_row(line.item, line.category, f"{line.quantity:,.0f}", _money(line.unit_price_usd),
                  _money(tot), f"{line.power_w / W_PER_KW:,.1f}")
    b.add_row("priced lines", "", "", "", _money(total), f"{p.it_peak_w / W_PER_KW:,.1f}")
    con.print(b)
    for note in res.notes:
        con.print(f"• {note}")
