"""The server a cluster is built from: a catalog system, or a labelled proxy server.

:func:`cluster_system` applies the one server-choice rule
(:func:`gpuplan.catalog.systems.pick_system`); for an accelerator that no catalog system is built
from, it derives a proxy 8-accelerator server (:func:`synthetic_system`) from the accelerator's
TDP and price with Epoch AI's server ratios. The proxy is not a product: its id ends in
``-proxy`` and the cluster notes say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpuplan.catalog.schema import Sourced, SourcedCount, SourcedUsd, System
from gpuplan.catalog.systems import pick_system
from gpuplan.errors import UserError

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog
    from gpuplan.catalog.schema import Accelerator
    from gpuplan.catalog.schema_cluster import SystemLayout

#: Accelerators per proxy server for an accelerator without a catalog system (the 8-GPU
#: HGX/OAM baseboard of every catalog GPU system except rack-scale NVL72).
PROXY_GPUS_PER_NODE = 8
#: ``costs`` entries the proxy server is derived from (Epoch AI cost model ratios).
PROXY_POWER_RATIO_COST = "server-power-per-chip-tdp"
PROXY_TYPICAL_FRACTION_COST = "server-tdp-fraction"
PROXY_PRICE_RATIO_COST = "server-to-chip-cost-ratio"
#: Date of the derivation (the Epoch AI commit the ratios come from).
PROXY_AS_OF = "2025-07"
PROXY_SOURCE = (f"derived: gpuplan proxy server (costs {PROXY_POWER_RATIO_COST}, "
                f"{PROXY_TYPICAL_FRACTION_COST}, {PROXY_PRICE_RATIO_COST}; Epoch AI cost model)")


def _cost_value(cat: Catalog, cost_id: str) -> float:
    """The value of a ``costs`` entry (a UserError naming the id when it is missing)."""
    return float(cat.entry("costs", cost_id, kind="costs entry").value)


def synthetic_system(cat: Catalog, acc: Accelerator) -> System:
    """A proxy 8-accelerator server for an accelerator that no catalog system is built from.

    Parameters
    ----------
    cat : Catalog
        The catalog (for the ``costs`` ratios) [—].
    acc : Accelerator
        The accelerator; needs ``tdp_w`` and ``price_usd`` [—].

    Returns
    -------
    System
        Id ``<accelerator>-x8-proxy``; not in ``cat.systems``.

    Raises
    ------
    UserError
        The accelerator has no TDP or no purchase price (``field="gpu"``).

    Notes
    -----
    ``P_max = 8 · TDP · r_power`` (Epoch, H100: 1.82), ``P_typical = P_max · f`` (Epoch: 0.75),
    ``price = 8 · price_accelerator · r_cost`` (Epoch: 1.64). Derived, not a product.
    """
    if acc.tdp_w is None or acc.price_usd is None:
        raise UserError(f"gpu {acc.id!r} has no system in the catalog and no TDP or purchase "
                        "price to build a proxy server from; overlay a system for it", field="gpu")
    n = PROXY_GPUS_PER_NODE
    power_ratio = _cost_value(cat, PROXY_POWER_RATIO_COST)
    typical_fraction = _cost_value(cat, PROXY_TYPICAL_FRACTION_COST)
    price_ratio = _cost_value(cat, PROXY_PRICE_RATIO_COST)
    max_w = n * acc.tdp_w.value * power_ratio
    return System(
        id=f"{acc.id}-x{n}-proxy", name=f"Proxy {n}x {acc.name} server", accelerator=acc.id,
        accelerators_per_node=SourcedCount(value=n, source=PROXY_SOURCE, as_of=PROXY_AS_OF),
        node_max_power_w=Sourced(value=max_w, source=PROXY_SOURCE, as_of=PROXY_AS_OF),
        node_typical_power_w=Sourced(value=max_w * typical_fraction, source=PROXY_SOURCE,
                                     as_of=PROXY_AS_OF),
        price_usd=SourcedUsd(value=n * acc.price_usd.value * price_ratio, source=PROXY_SOURCE,
                             as_of=acc.price_usd.as_of, usd_year=acc.price_usd.usd_year,
                             note=f"{n} x {acc.price_usd.value:,.0f} x {price_ratio}"),
        notes="proxy for pricing; not a catalog product")


def cluster_system(cat: Catalog, acc: Accelerator, system: str | None = None
                   ) -> tuple[System, bool]:
    """The server a cluster of ``acc`` is built from, and whether it is a proxy.

    Parameters
    ----------
    cat : Catalog
        The catalog [—].
    acc : Accelerator
        The accelerator [—].
    system : str, optional
        A system id the user named [—].

    Returns
    -------
    (System, bool)
        :func:`~gpuplan.catalog.systems.pick_system`'s choice and False, or
        :func:`synthetic_system` and True when the catalog has no system for ``acc``.
    """
    chosen = pick_system(cat, acc.id, system)
    if chosen is not None:
        return chosen, False
    return synthetic_system(cat, acc), True


@dataclass(frozen=True)
class Layout:
    """How a system sits in racks and networks: its ``system_layouts`` entry, or defaults.

    Attributes
    ----------
    rack_scale : bool
        The system is a whole rack (GB200 NVL72) [—].
    su_nodes : int
        Nodes per scalable unit [1].
    rack_units : float or None
        Height of one system when the system entry has none [U].
    compute_nics : int or None
        Compute NIC ports per node when the system entry has none [1].
    compute_nic : str or None
        ``nics`` id added to the BOM when the system's price leaves the NICs out [—].
    ports_per_transceiver : int
        Node-side compute ports per transceiver [1].
    storage_ports, inband_ports, oob_ports : int
        Ports per node on the storage, in-band and out-of-band networks [1].
    required_cooling : str or None
        ``cooling_types`` id the system requires [—].
    assumed : bool
        No ``system_layouts`` entry: the defaults below were used [—].
    """

    rack_scale: bool
    su_nodes: int
    rack_units: float | None
    compute_nics: int | None
    compute_nic: str | None
    ports_per_transceiver: int
    storage_ports: int
    inband_ports: int
    oob_ports: int
    required_cooling: str | None
    assumed: bool


#: The layout of a system without a ``system_layouts`` entry (a DGX-like 8-GPU server): a
#: 32-node SU (DGX SuperPOD H100 RA), 2 storage, 2 in-band and 1 OOB port per node.
DEFAULT_LAYOUT = Layout(rack_scale=False, su_nodes=32, rack_units=None, compute_nics=None,
                        compute_nic=None, ports_per_transceiver=1, storage_ports=2,
                        inband_ports=2, oob_ports=1, required_cooling=None, assumed=True)


def layout_for(cat: Catalog, system: System) -> Layout:
    """The :class:`Layout` of ``system`` (its ``system_layouts`` entry, else the defaults).

    Parameters
    ----------
    cat : Catalog
        The catalog [—].
    system : System
        A catalog system or a proxy [—].
    """
    lay: SystemLayout | None = cat.section("system_layouts").get(system.id)
    if lay is None:
        return DEFAULT_LAYOUT
    return Layout(rack_scale=lay.rack_scale, su_nodes=int(lay.scalable_unit_nodes.value),
                  rack_units=None if lay.rack_units is None else lay.rack_units.value,
                  compute_nics=None if lay.compute_nics is None else int(lay.compute_nics.value),
                  compute_nic=lay.compute_nic,
                  ports_per_transceiver=int(lay.compute_ports_per_transceiver.value),
                  storage_ports=int(lay.storage_ports.value),
                  inband_ports=int(lay.inband_ports.value), oob_ports=int(lay.oob_ports.value),
                  required_cooling=lay.required_cooling, assumed=False)
