"""Builder phase "BOM": the bill-of-materials lines of a cluster, with catalog prices.

A line carries the catalog price and its source where the catalog has one; the economics stage
prices the rest from ``costs.yaml``. Power per line is the nameplate maximum of its units, so
the lines sum to ``power_w.it_peak_w``; optics draw inside their switch's and system's maximum
and carry no power of their own.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gpuplan.cluster import fabric as fab
from gpuplan.cluster.result import BomLine

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog
    from gpuplan.catalog.schema import Sourced, System
    from gpuplan.catalog.schema_cluster import CoolingType, Network, Nic, Switch, Transceiver
    from gpuplan.cluster.networks import (
        ManagementNetworks,
        Servers,
        StoragePlan,
    )

#: Labels of the first three switch tiers (tiers above are "core tier N").
TIER_NAMES = ("leaf", "spine", "core")


def _src(s: Sourced | None) -> tuple[float | None, str | None]:
    return (None, None) if s is None else (s.value, s.source)


def switch_lines(sw: Switch, plan: fab.FabricPlan, role: str, *,
                 number_upper_tiers: bool = False) -> list[BomLine]:
    """One line per switch tier of ``plan`` (``"<switch> (<role> leaf)"``, spine, core ...)."""
    price, src = _src(sw.price_usd)
    out = []
    for i, n in enumerate(plan.switches):
        top = len(TIER_NAMES) - 1
        label = f"{role} {TIER_NAMES[min(i, top)]}"
        if number_upper_tiers and i > top:
            label += f" tier {i + 1}"
        out.append(BomLine(item=f"{sw.id} ({label})", category="network", quantity=n,
                           unit_price_usd=price, price_source=src,
                           power_w=n * sw.max_power_w.value))
    return out


def _tx_line(tx: Transceiver, qty: int, label: str) -> BomLine:
    price, src = _src(tx.price_usd)
    # optics draw inside the switch's max power and the system's max power: not counted again
    return BomLine(item=f"{tx.id} ({label})", category="network", quantity=qty,
                   unit_price_usd=price, price_source=src, power_w=0.0)


def network_lines(cat: Catalog, net: Network, plan: fab.FabricPlan, role: str,
                  node_side_ppt: int) -> list[BomLine]:
    """Transceivers (switch and node side) and cables of one network.

    Parameters
    ----------
    cat : Catalog
        The catalog (transceivers) [—].
    net : Network
        The network entry (cable kind, transceiver ids) [—].
    plan : FabricPlan
        Its plan [—].
    role : str
        ``compute`` or ``storage`` (the label) [—].
    node_side_ppt : int
        Node ports per node-side transceiver; a multi-port switch-side module of the same port
        count serves the node side too [1].
    """
    if plan.design == "none":
        return []
    txs = cat.section("transceivers")
    out: list[BomLine] = []
    if net.cable == "optical":
        if net.switch_transceiver and plan.switch_cages:
            out.append(_tx_line(txs[net.switch_transceiver], plan.switch_cages,
                                f"{role} switch side"))
        if plan.node_transceivers:
            twin = txs.get(net.switch_transceiver) if net.switch_transceiver else None
            node_tx = (twin if twin is not None and int(twin.ports.value) == node_side_ppt
                       and node_side_ppt > 1
                       else txs.get(net.node_transceiver) if net.node_transceiver else None)
            if node_tx is not None:
                out.append(_tx_line(node_tx, plan.node_transceivers, f"{role} node side"))
    out.append(BomLine(item=f"{role} fabric cables ({net.cable})", category="network",
                       quantity=plan.cables))
    return out


def compute_lines(system: System, nodes: int, system_power_w: float, nic: Nic | None,
                  extra_nics: int) -> list[BomLine]:
    """The systems, and the compute NICs where the system's price leaves them out.

    Parameters
    ----------
    system : System
        The server (catalog or proxy) [—].
    nodes : int
        Systems [1].
    system_power_w : float
        Nameplate power of all systems, NICs excluded [W].
    nic : Nic or None
        The NIC added per compute port, if any [—].
    extra_nics : int
        NICs added [1].
    """
    price, src = _src(system.price_usd)
    out = [BomLine(item=system.id, category="compute", quantity=nodes, unit_price_usd=price,
                   price_source=src, power_w=system_power_w)]
    if nic is not None:
        price, src = _src(nic.price_usd)
        out.append(BomLine(item=nic.id, category="compute", quantity=extra_nics,
                           unit_price_usd=price, price_source=src,
                           power_w=extra_nics * nic.power_w.value))
    return out


def management_lines(mg: ManagementNetworks) -> list[BomLine]:
    """In-band switches and cables, OOB switches and cables."""
    inf, inet = mg.inband.plan, mg.inband.net
    out = switch_lines(mg.inband.switch, inf, "in-band")
    if inf.cables:
        out.append(BomLine(item=f"in-band cables ({inet.cable})", category="network",
                           quantity=inf.cables))
    if mg.oob.switches:
        osw = mg.oob_switch
        price, src = _src(osw.price_usd)
        out.append(BomLine(item=f"{osw.id} (out-of-band)", category="network",
                           quantity=mg.oob.switches, unit_price_usd=price, price_source=src,
                           power_w=mg.oob.switches * osw.max_power_w.value))
        out.append(BomLine(item=f"out-of-band cables ({mg.oob_net.cable} + uplinks)",
                           category="network", quantity=mg.oob.cables))
    return out


def server_lines(servers: Servers, storage: StoragePlan) -> list[BomLine]:
    """Management servers, fabric-manager appliances and storage appliances."""
    out: list[BomLine] = []
    m = servers.management
    if servers.management_count:
        price, src = _src(m.price_usd)
        out.append(BomLine(item=m.id, category="management", quantity=servers.management_count,
                           unit_price_usd=price, price_source=src,
                           power_w=servers.management_count * m.max_power_w.value))
    ufm = servers.fabric_manager
    if servers.fabric_manager_count and ufm is not None:
        price, src = _src(ufm.price_usd)
        out.append(BomLine(item=ufm.id, category="management",
                           quantity=servers.fabric_manager_count, unit_price_usd=price,
                           price_source=src,
                           power_w=servers.fabric_manager_count * ufm.max_power_w.value))
    st = storage.appliance
    price, src = _src(st.price_usd)
    out.append(BomLine(item=st.id, category="storage", quantity=storage.units,
                       unit_price_usd=price, price_source=src,
                       power_w=storage.units * st.max_power_w.value))
    return out


def facility_lines(racks: int, pdus: int, cooling: CoolingType, compute_racks: int,
                   compute_power_w: float) -> list[BomLine]:
    """Rack enclosures, PDUs and the cooling units the chosen cooling type needs.

    Parameters
    ----------
    racks, pdus : int
        All racks, all PDUs [1].
    cooling : CoolingType
        The chosen cooling [—].
    compute_racks : int
        Compute racks (units per rack) [1].
    compute_power_w : float
        Nameplate compute power (units per watt of capacity) [W].
    """
    out = [BomLine(item="rack-enclosure", category="facility", quantity=racks),
           BomLine(item="rack-pdu", category="facility", quantity=pdus)]
    if cooling.unit_item:
        if cooling.unit_per == "rack":
            qty = compute_racks
        else:
            qty = (math.ceil(compute_power_w / cooling.unit_capacity_w.value)
                   if cooling.unit_capacity_w else 0)
        if qty:
            out.append(BomLine(item=cooling.unit_item, category="facility", quantity=qty))
    return out
