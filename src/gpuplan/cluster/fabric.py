"""Scale-out network counts: the rail-optimised fat tree of the NVIDIA DGX SuperPOD RAs.

Pure integer functions (no catalog, no I/O). A fabric is described by its endpoints (nodes ×
ports per node), the switch radix and the scalable unit (SU); the result counts switches per
tier, links (one cable per link) per tier and the switch-side transceiver cages in use.

Design rules, each from a reference architecture (RA)
-----------------------------------------------------
1. **Scalable units, built whole.** Nodes come in SUs of ``su_nodes`` (32 DGX in the H100 and
   B200 RAs, 72 in the B300 RAs, 8 NVL72 racks in the GB200 RA). A partial SU still gets all
   its leaf switches and leaf–spine cables: "the fabric should be designed to support the full
   SU, including leaf switches and leaf-spine cables" (H100 RA and GB200 RA, Network Fabrics).
2. **Rail-optimised leaves.** Port ``r`` of every node in an SU goes to the leaf of rail ``r``.
   A leaf has ``d = radix·o/(1+o)`` ports down (``o`` = leaf oversubscription, 1 for the compute
   fabric: 32 of 64) and the rest up. When ``d`` holds several SUs' worth of one rail
   (``su_nodes ≤ d``) one leaf takes ``⌊d / su_nodes⌋`` rails; otherwise each rail takes
   ``⌈su_nodes / d⌉`` leaves. Leaves are always fully uplinked.
3. **Balanced spines (2 tiers).** Every leaf reaches every spine with the same number of links,
   so the spine count ``S`` divides the leaf uplinks ``u``: ``S`` is the smallest divisor of ``u``
   with ``S·radix ≥ L·u``. This is what turns 24 leaves into 16 spines (not 12) in the H100 RA
   (3 SUs) and 32 leaves into 18 spines on 144-port XDR switches (B300 RA, 4 SUs).
   Two tiers hold up to ``radix`` leaves.
4. **Pods and core (3+ tiers).** Above ``radix`` leaves, leaves form pods of ``d₂`` leaves
   (spine ports down, ``d₂ = radix − ⌈radix/(1+o)⌉`` with ``o`` the oversubscription above the
   pod), each pod with its balanced spines; spines send ``u₂`` links up, and the top tier
   (core) uses all its ports down: ``C = ⌈S·u₂ / radix⌉`` (B200 RA: 128/128/64 at 16 SUs).
   A top switch must reach every block below it, so a fourth tier (and so on) is added when
   there are more than ``radix`` pods; middle tiers split their ports in half.
5. **Small fabrics.** When every endpoint fits on one switch, two switches each take half the
   rails and are joined by inter-switch links equal to the ports on the busier switch (the DGX
   BasePOD RA: 2 × QM9700 and 8 / 16 twin-port ISL DACs for 4 / 8 DGX). No fabric manager.
6. **Planes.** A multi-plane fabric (Spectrum-X twin-plane) is ``planes`` independent trees,
   each carrying ``ports_per_node / planes`` rails.

References
----------
.. [1] NVIDIA DGX SuperPOD Reference Architecture, DGX H100, RA-11333-001 V11 (2023-09-22),
   Network Fabrics, Table 4 "Compute fabric component count".
.. [2] NVIDIA DGX SuperPOD Reference Architecture, DGX B200, RA-11334-001, DGX SuperPOD
   Architecture, larger SuperPOD component counts table (2-64 SUs, leaf/spine/core).
.. [3] NVIDIA SuperPOD with DGX B300 and Quantum-X800, RA-11339-001, Table 3; SuperPOD with DGX
   B300 and Spectrum-4 Ethernet, RA-11337-001, Table 3.
.. [4] NVIDIA DGX BasePOD RA, RA-11127-001 V5, Table 4.2.
.. [5] Leiserson 1985, "Fat-trees: universal networks for hardware-efficient supercomputing",
   IEEE Trans. Computers C-34(10); Al-Fares et al. 2008, "A scalable, commodity data center
   network architecture", SIGCOMM (k-ary fat tree: k³/4 hosts on three tiers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gpuplan.cluster.racks import COUNT_SLACK

#: Switches of the small (BasePOD-style) design for one plane.
SMALL_DESIGN_SWITCHES = 2


@dataclass(frozen=True)
class FabricPlan:
    """Counts of one network (all planes together).

    ``switches[i]`` is the switch count of tier ``i`` (0 = leaf); ``links[0]`` the node–leaf
    links, ``links[i]`` the links from tier ``i-1`` up to tier ``i``. One cable per link.
    """

    design: str  # 'none' | 'two-switch' | 'one-per-plane' | 'rail-optimised'
    planes: int = 1
    scalable_units: int = 0
    leaves_per_su: int = 0
    switches: tuple[int, ...] = ()
    links: tuple[int, ...] = ()
    isl_links: int = 0
    fabric_manager_links: int = 0
    fabric_manager_overflow: int = 0
    switch_cages: int = 0
    node_transceivers: int = 0
    oversubscription: float = 1.0
    notes: tuple[str, ...] = field(default=())

    @property
    def tiers(self) -> int:
        return len(self.switches)

    @property
    def leaf_switches(self) -> int:
        return self.switches[0] if self.switches else 0

    @property
    def spine_switches(self) -> int:
        return self.switches[1] if len(self.switches) > 1 else 0

    @property
    def core_switches(self) -> int:
        """Every switch above the spine (tier 3, and tier 4+ where a fabric needs them)."""
        return sum(self.switches[2:])

    @property
    def total_switches(self) -> int:
        return sum(self.switches)

    @property
    def node_leaf_links(self) -> int:
        return self.links[0] if self.links else 0

    @property
    def leaf_spine_links(self) -> int:
        return self.links[1] if len(self.links) > 1 else 0

    @property
    def spine_core_links(self) -> int:
        return sum(self.links[2:])

    @property
    def cables(self) -> int:
        """All links: node–leaf, every tier above, inter-switch links, fabric-manager links."""
        return sum(self.links) + self.isl_links + self.fabric_manager_links

    @property
    def transceivers(self) -> int:
        """Switch-side cages in use plus node-side modules."""
        return self.switch_cages + self.node_transceivers


def split_ports(radix: int, oversubscription: float = 1.0) -> tuple[int, int]:
    """Ports down and up of a switch at a down:up ratio.

    Parameters
    ----------
    radix : int
        Ports of the switch [1].
    oversubscription : float
        Down:up bandwidth ratio ``o`` ≥ 1 [1].

    Returns
    -------
    (int, int)
        ``(down, up)`` with ``up = ⌈radix / (1 + o)⌉`` and ``down = radix − up``.
    """
    if radix < 2:
        raise ValueError("radix must be at least 2")
    if not oversubscription >= 1.0:
        raise ValueError("oversubscription must be >= 1")
    up = math.ceil(radix / (1.0 + oversubscription) - COUNT_SLACK)
    return radix - up, up


def smallest_divisor_at_least(n: int, k: int) -> int:
    """Smallest divisor of ``n`` that is ≥ ``k`` (``n`` itself when ``k ≥ n``).

    Parameters
    ----------
    n : int
        Leaf uplinks ``u`` [1].
    k : int
        Lower bound, e.g. ``⌈L·u / radix⌉`` [1].
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    k = max(1, k)
    if k >= n:
        return n
    for d in range(k, n + 1):
        if n % d == 0:
            return d
    return n  # pragma: no cover - n divides itself


def leaves_per_scalable_unit(rails: int, su_nodes: int, leaf_down_ports: int) -> int:
    """Leaf switches of one scalable unit on one plane.

    Parameters
    ----------
    rails : int
        Fabric ports per node on this plane [1].
    su_nodes : int
        Nodes per scalable unit [1].
    leaf_down_ports : int
        Ports down per leaf ``d`` [1].

    Notes
    -----
    ``⌈rails / ⌊d / su_nodes⌋⌉`` when ``su_nodes ≤ d`` (one leaf per rail for the 32-node SU on
    64-port switches: 8 leaves), else ``rails · ⌈su_nodes / d⌉``.
    """
    if su_nodes <= leaf_down_ports:
        return math.ceil(rails / (leaf_down_ports // su_nodes))
    return rails * math.ceil(su_nodes / leaf_down_ports)


def su_leaf_down_ports(nodes_in_su: int, rails: int, su_nodes: int,
                       leaf_down_ports: int) -> list[int]:
    """Ports in use on each leaf of one SU holding ``nodes_in_su`` nodes (≤ ``su_nodes``)."""
    d = leaf_down_ports
    if su_nodes <= d:
        rpl = d // su_nodes
        groups = math.ceil(rails / rpl)
        return [nodes_in_su * min(rpl, rails - g * rpl) for g in range(groups)]
    per_rail = math.ceil(su_nodes / d)
    one_rail = [min(d, max(0, nodes_in_su - j * d)) for j in range(per_rail)]
    return one_rail * rails


def _cages(ports: int, ports_per_cage: int) -> int:
    return -(-ports // ports_per_cage)


def fat_tree(nodes: int, ports_per_node: int, radix: int, *, su_nodes: int, planes: int = 1,
             oversubscription: float = 1.0, leaf_oversubscription: float = 1.0,
             fabric_manager_links: int = 0, ports_per_cage: int = 1,
             node_ports_per_transceiver: int = 0) -> FabricPlan:
    """Switches, links and transceivers of a (rail-optimised) non-blocking fat tree.

    Parameters
    ----------
    nodes : int
        Nodes (or, for a secondary network, endpoints with ``ports_per_node = 1``) [1].
    ports_per_node : int
        Fabric ports per node, all planes (8 for a DGX: one per GPU) [1].
    radix : int
        Switch ports at the link speed (64 for QM9700, 144 for Q3400) [1].
    su_nodes : int
        Nodes per scalable unit [1].
    planes : int
        Independent fabric planes; must divide ``ports_per_node`` [1].
    oversubscription : float
        Down:up ratio of the spine above a pod (only with 3+ tiers) [1].
    leaf_oversubscription : float
        Down:up ratio of the leaves (1 for compute fabrics) [1].
    fabric_manager_links : int
        Links of the fabric-manager appliances (UFM) to the leaves, SU designs only [1].
    ports_per_cage : int
        Logical switch ports per cage / transceiver (2 for twin-port OSFP) [1].
    node_ports_per_transceiver : int
        Node ports per node-side transceiver; 0 = no node-side modules counted [1].

    Returns
    -------
    FabricPlan

    Notes
    -----
    See the module docstring for the rules. Leaf uplinks ``u = radix − d``; 2 tiers when
    ``L ≤ radix`` with ``S = min{s | s divides u, s·radix ≥ L·u}``; otherwise pods of ``d₂``
    leaves, ``S = Σ_pods S_pod`` and ``C = ⌈S·u₂ / radix⌉`` (adding tiers while more than
    ``radix`` blocks remain).
    """
    if nodes < 1 or ports_per_node < 0 or su_nodes < 1 or planes < 1:
        raise ValueError("nodes, su_nodes and planes must be >= 1 and ports_per_node >= 0")
    if nodes == 1 or ports_per_node == 0:
        return FabricPlan(design="none")
    if ports_per_node % planes:
        raise ValueError("planes must divide ports_per_node")
    rails = ports_per_node // planes
    node_tx = (nodes * math.ceil(ports_per_node / node_ports_per_transceiver)
               if node_ports_per_transceiver else 0)
    small = _small_fabric(nodes, rails, radix, planes, ports_per_cage, node_tx)
    if small is not None:
        return small
    leaves = _leaf_tier(nodes, rails, radix, su_nodes, leaf_oversubscription,
                        fabric_manager_links, ports_per_cage)
    notes = list(leaves.notes)
    if leaves.leaves <= radix:
        up = _two_tier_spines(leaves.leaves, leaves.uplinks, radix, ports_per_cage)
    else:
        up = _pods_and_core(leaves.leaves, leaves.uplinks, radix, oversubscription,
                            ports_per_cage)
        if len(up.switches) > 2:
            notes.append(f"{len(up.switches) + 1} tiers: switches per tier "
                         f"{[leaves.leaves, *up.switches]}; tiers above the spine are reported "
                         "together as core")
    switches = [leaves.leaves, *up.switches]
    links = [nodes * rails, *up.links]
    return FabricPlan(design="rail-optimised", planes=planes, scalable_units=leaves.sus,
                      leaves_per_su=leaves.leaves_per_su,
                      switches=tuple(s * planes for s in switches),
                      links=tuple(n * planes for n in links),
                      fabric_manager_links=fabric_manager_links,
                      fabric_manager_overflow=leaves.fabric_manager_overflow,
                      switch_cages=(leaves.cages + up.cages) * planes,
                      node_transceivers=node_tx, oversubscription=up.oversubscription,
                      notes=tuple(notes))


def _small_fabric(nodes: int, rails: int, radix: int, planes: int, ports_per_cage: int,
                  node_tx: int) -> FabricPlan | None:
    """Rule 5: everything on one switch pair (one plane) or one switch per plane; else None.

    Parameters
    ----------
    nodes, rails, radix, planes : int
        Nodes, ports per node per plane, switch ports, planes [1].
    ports_per_cage : int
        Logical switch ports per cage [1].
    node_tx : int
        Node-side transceivers, all planes [1].
    """
    c = ports_per_cage
    e_plane = nodes * rails
    if planes == 1:
        a = math.ceil(e_plane / 2) if rails == 1 else nodes * math.ceil(rails / 2)
        b = e_plane - a
        if 2 * a <= radix:
            cages = _cages(a, c) + _cages(b, c)  # ISLs are twin-port DACs: no optics
            return FabricPlan(design="two-switch", planes=1, switches=(SMALL_DESIGN_SWITCHES,),
                              links=(e_plane,), isl_links=a, switch_cages=cages,
                              node_transceivers=node_tx,
                              notes=((f"two switches, each with half the rails, joined by {a} "
                                      "inter-switch links (DGX BasePOD RA design)"),))
    elif e_plane <= radix:
        return FabricPlan(design="one-per-plane", planes=planes, switches=(planes,),
                          links=(e_plane * planes,), switch_cages=planes * _cages(e_plane, c),
                          node_transceivers=node_tx)
    return None


@dataclass(frozen=True)
class _Leaves:
    """The leaf tier of one plane (rules 1, 2 and the UFM links)."""

    sus: int
    leaves_per_su: int
    leaves: int
    uplinks: int
    cages: int
    fabric_manager_overflow: int
    notes: tuple[str, ...]


def _leaf_tier(nodes: int, rails: int, radix: int, su_nodes: int, leaf_oversubscription: float,
               fabric_manager_links: int, ports_per_cage: int) -> _Leaves:
    """Leaves per SU, whole SUs, leaf cages in use, and where the fabric-manager links plug in.

    Parameters
    ----------
    nodes, rails, radix, su_nodes : int
        Nodes, ports per node per plane, switch ports, nodes per SU [1].
    leaf_oversubscription : float
        Down:up ratio of the leaves [1].
    fabric_manager_links, ports_per_cage : int
        UFM links to the leaves, logical ports per cage [1].
    """
    c = ports_per_cage
    d1, u = split_ports(radix, leaf_oversubscription)
    sus = math.ceil(nodes / su_nodes)
    lps = leaves_per_scalable_unit(rails, su_nodes, d1)
    leaves = sus * lps
    full_ports = su_leaf_down_ports(su_nodes, rails, su_nodes, d1)
    last_nodes = nodes - (sus - 1) * su_nodes
    last_ports = su_leaf_down_ports(last_nodes, rails, su_nodes, d1)
    leaf_cages = ((sus - 1) * sum(_cages(p, c) for p in full_ports)
                  + sum(_cages(p, c) for p in last_ports) + leaves * _cages(u, c))
    # fabric-manager links take free leaf ports, partial SU first (H100 RA: the UFM sits where
    # the 32nd node of SU 1 would be)
    fm_left = fabric_manager_links
    candidates = list(last_ports) + (list(full_ports) if sus > 1 else [])
    for p in candidates:
        if fm_left == 0:
            break
        take = min(fm_left, d1 - p)
        if take > 0:
            leaf_cages += _cages(p + take, c) - _cages(p, c)
            fm_left -= take
    notes: list[str] = []
    if fm_left:
        notes.append(f"{fm_left} fabric-manager (UFM) link(s) need leaf ports but every SU is "
                     "full; counted as extra leaf ports (the H100 RA instead leaves one node "
                     "slot of SU 1 to the UFM: 31, 63, 95, 127 nodes)")
        leaf_cages += _cages(fm_left, c)
    return _Leaves(sus=sus, leaves_per_su=lps, leaves=leaves, uplinks=u, cages=leaf_cages,
                   fabric_manager_overflow=fm_left, notes=tuple(notes))


@dataclass(frozen=True)
class _Upper:
    """The tiers above the leaves of one plane: switches and links per tier, cages in use."""

    switches: tuple[int, ...]
    links: tuple[int, ...]
    cages: int
    oversubscription: float


def _two_tier_spines(leaves: int, uplinks: int, radix: int, ports_per_cage: int) -> _Upper:
    """Rule 3: balanced spines over at most ``radix`` leaves (none over a single leaf).

    Parameters
    ----------
    leaves, uplinks, radix, ports_per_cage : int
        Leaves, uplinks per leaf ``u``, switch ports, logical ports per cage [1].
    """
    spines = smallest_divisor_at_least(uplinks, math.ceil(leaves * uplinks / radix))
    if leaves == 1:
        return _Upper(switches=(), links=(), cages=0, oversubscription=1.0)
    cages = spines * _cages(leaves * uplinks // spines, ports_per_cage)
    return _Upper(switches=(spines,), links=(leaves * uplinks,), cages=cages,
                  oversubscription=1.0)


def _pods_and_core(leaves: int, uplinks: int, radix: int, oversubscription: float,
                   ports_per_cage: int) -> _Upper:
    """Rule 4: pods of ``d₂`` leaves with balanced spines, middle tiers, then the core.

    Parameters
    ----------
    leaves, uplinks, radix : int
        Leaves, uplinks per leaf ``u``, switch ports [1].
    oversubscription : float
        Down:up ratio of the spines above a pod [1].
    ports_per_cage : int
        Logical ports per cage [1].
    """
    c, u = ports_per_cage, uplinks
    d2, u2 = split_ports(radix, oversubscription)
    pod = d2
    full_pods, last_pod = divmod(leaves, pod)
    s_full = smallest_divisor_at_least(u, math.ceil(pod * u / d2))
    s_last = smallest_divisor_at_least(u, math.ceil(last_pod * u / d2)) if last_pod else 0
    spines = full_pods * s_full + s_last
    cages = full_pods * s_full * (_cages(pod * u // s_full, c) + _cages(u2, c))
    if last_pod:
        cages += s_last * (_cages(last_pod * u // s_last, c) + _cages(u2, c))
    switches = [spines]
    up_links = spines * u2
    links = [leaves * u, up_links]
    blocks = math.ceil(leaves / pod)
    dm, um = split_ports(radix, 1.0)
    while blocks > radix:
        n = math.ceil(up_links / dm)
        cages += n * (_cages(math.ceil(up_links / n), c) + _cages(um, c))
        switches.append(n)
        up_links = n * um
        links.append(up_links)
        blocks = math.ceil(blocks / dm)
    top = math.ceil(up_links / radix)
    cages += top * _cages(math.ceil(up_links / top), c)
    switches.append(top)
    return _Upper(switches=tuple(switches), links=tuple(links), cages=cages,
                  oversubscription=d2 / u2)


@dataclass(frozen=True)
class OobPlan:
    """The out-of-band management network: switches, cables (access + uplinks), uplinks [1]."""

    switches: int = 0
    cables: int = 0
    uplinks: int = 0


def oob_network(endpoints: int, ports_per_switch: int, uplinks_per_switch: int) -> OobPlan:
    """Out-of-band (1GbE) management switches: one port per managed device.

    Parameters
    ----------
    endpoints : int
        BMCs, switch management ports, servers, storage controllers and rack PDUs [1].
    ports_per_switch : int
        Access ports per OOB switch (48 on an SN2201) [1].
    uplinks_per_switch : int
        Uplinks from each OOB switch to the in-band network (2 in the BasePOD RA) [1].

    Returns
    -------
    OobPlan
        ``switches``, ``cables`` (access + uplinks), ``uplinks``.

    Notes
    -----
    ``switches = ⌈endpoints / ports⌉``; cables = endpoints + switches · uplinks.
    """
    if endpoints <= 0:
        return OobPlan()
    switches = math.ceil(endpoints / ports_per_switch)
    uplinks = switches * uplinks_per_switch
    return OobPlan(switches=switches, cables=endpoints + uplinks, uplinks=uplinks)
