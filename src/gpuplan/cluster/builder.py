"""`build_cluster`: from a GPU count to the physical cluster, in named phases.

1. **inputs** (:func:`_inputs`): catalog look-ups and input checks; a
   :class:`~gpuplan.errors.UserError` names the field.
2. **nodes & scale-up** (:func:`_nodes`): the server (a catalog system, or a labelled proxy for
   an accelerator without one, :mod:`~gpuplan.cluster.systems`), whole nodes, compute NICs.
3. **compute fabric** (:func:`_compute_fabric`): the rail-optimised fat tree.
4. **storage & management networks** (:mod:`~gpuplan.cluster.networks`): shared storage, the
   storage fabric, management and UFM servers, in-band and OOB networks.
5. **racks & cooling** (:func:`_compute_racks`; support racks in phase 4).
6. **power** (:func:`_power`): IT at peak and on average, facility, energy.
7. **BOM** (:mod:`~gpuplan.cluster.bom`).
8. **result** (:func:`_result`): the typed :class:`~gpuplan.cluster.result.ClusterResult`.

No formula lives here that is not one of the pure functions of ``fabric``, ``nodes``,
``storage``, ``power`` and ``racks``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpuplan.catalog.systems import nodes_for_gpus
from gpuplan.checks import check_number, check_optional_number, check_whole
from gpuplan.cluster import bom as bl
from gpuplan.cluster import fabric as fab
from gpuplan.cluster import networks as nw
from gpuplan.cluster.power import energy_wh_per_year, facility_power_w, node_power_w
from gpuplan.cluster.racks import (
    COUNT_SLACK,
    choose_cooling,
    floor_area_m2,
    nodes_per_rack,
    racks_for,
)
from gpuplan.cluster.result import (
    BomLine,
    ClusterResult,
    FabricOut,
    NetworkOut,
    PowerOut,
    StorageOut,
)
from gpuplan.cluster.systems import PROXY_GPUS_PER_NODE, Layout, cluster_system, layout_for
from gpuplan.errors import UserError
from gpuplan.units import BYTES_PER_GB, W_PER_KW

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog
    from gpuplan.catalog.schema import Accelerator, System
    from gpuplan.catalog.schema_cluster import (
        ClusterRules,
        CoolingType,
        FacilityType,
        Network,
        Nic,
        Switch,
        Transceiver,
    )

#: Default compute fabric (catalog ``networks`` id).
DEFAULT_FABRIC = "infiniband-ndr-400g"
#: Largest GPU count accepted (the planner is checked up to 1,000,000).
MAX_GPUS = 10_000_000
#: Largest scalable unit accepted [nodes].
MAX_SU_NODES = 100_000
#: Largest oversubscription above a pod accepted [1].
MAX_OVERSUBSCRIPTION = 64.0
#: Largest rack power limit accepted [kW] (10 MW; an NVL72 rack draws ~120 kW).
MAX_RACK_POWER_KW = 10_000.0
#: Tiers of a fabric with a tier above its pods (leaf, spine, core).
TIERS_WITH_CORE = 3
#: Air is the cooling of support (network / storage / management) racks.
SUPPORT_COOLING = "air"
#: Air-cooled rack limit when the catalog has no ``air`` cooling type [W] (judgement, as the
#: catalog's: ~40 kW air/liquid switch-over, catalog_notes.md section 6).
FALLBACK_AIR_RACK_POWER_W = 40e3
#: NIC and switch-port speeds closer than this count as equal [bytes/s].
LINK_SPEED_TOLERANCE_BYTES_PER_S = 1.0
#: Bits per byte (link speeds are quoted in Gb/s).
BITS_PER_BYTE = 8


def _pl(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else ("es" if word.endswith("ch") else "s"))


def _gbps(bytes_per_s: float) -> float:
    """A link speed in Gb/s (for notes) [Gb/s]."""
    return bytes_per_s * BITS_PER_BYTE / BYTES_PER_GB


# -- phase 1: inputs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Inputs:
    """The catalog entries and checked inputs every later phase reads."""

    cat: Catalog
    gpus_requested: int
    acc: Accelerator
    system: System
    proxy: bool
    layout: Layout
    rules: ClusterRules
    net: Network
    su_nodes: int
    oversubscription: float


def _inputs(catalog: Catalog | None, gpu: str, gpus: int, system: str | None, fabric: str,
            su_nodes: int | None, oversubscription: float) -> _Inputs:
    """Catalog look-ups shared by the builder and the fabric plan (user errors raised here)."""
    from gpuplan.catalog import load_catalog

    cat = catalog or load_catalog()
    n_req = check_whole("gpus", gpus, MAX_GPUS)
    acc = cat.accelerator(gpu)
    sys_, proxy = cluster_system(cat, acc, system)
    lay = layout_for(cat, sys_)
    net: Network = cat.entry("networks", fabric, kind="fabric")
    if net.role != "compute":
        computes = [n.id for n in cat.section("networks").values() if n.role == "compute"]
        raise UserError(f"fabric {fabric!r} is a {net.role} network, not a compute fabric; "
                        f"accepted: {', '.join(computes)}", field="fabric")
    osub = check_number("oversubscription", oversubscription, 1.0, MAX_OVERSUBSCRIPTION)
    su = (check_whole("su_nodes", su_nodes, MAX_SU_NODES) if su_nodes is not None
          else lay.su_nodes)
    return _Inputs(cat=cat, gpus_requested=n_req, acc=acc, system=sys_, proxy=proxy, layout=lay,
                   rules=cat.section("cluster_rules")["default"], net=net, su_nodes=su,
                   oversubscription=osub)


# -- phase 2: nodes & scale-up -----------------------------------------------------------------

@dataclass(frozen=True)
class _Nodes:
    """Whole systems, and the compute NIC ports per node [1]."""

    per_node: int
    nodes: int
    gpus: int
    nics: int
    nic_included: bool


def _nodes(inp: _Inputs) -> _Nodes:
    """Nodes = ⌈gpus / GPUs per node⌉; NIC ports: the system's, its layout's, or per GPU."""
    sys_, lay = inp.system, inp.layout
    per_node = int(sys_.accelerators_per_node.value)
    nodes = int(nodes_for_gpus(inp.gpus_requested, per_node))
    nics = (int(sys_.compute_nics.value) if sys_.compute_nics else lay.compute_nics
            or int(inp.rules.compute_nics_per_gpu.value) * per_node)
    return _Nodes(per_node=per_node, nodes=nodes, gpus=nodes * per_node, nics=nics,
                  nic_included=sys_.compute_nics is not None)


def _node_notes(inp: _Inputs, nd: _Nodes) -> list[str]:
    notes = []
    sys_ = inp.system
    if nd.gpus != inp.gpus_requested:
        notes.append(f"{inp.gpus_requested:,} GPU(s) requested; {sys_.id} holds {nd.per_node} "
                     f"per node, so the cluster rounds up to {_pl(nd.nodes, 'node')} = "
                     f"{nd.gpus:,} GPUs")
    if inp.layout.assumed:
        notes.append(f"no system_layouts entry for {sys_.id}: assumed a 32-node SU, 2 storage, "
                     "2 in-band and 1 OOB port per node")
    if inp.proxy:
        notes.append(f"{inp.acc.id} has no catalog system: {sys_.id} is a labelled proxy "
                     f"{PROXY_GPUS_PER_NODE}-accelerator server, not a product (power and price "
                     "derived from the accelerator's TDP and price with Epoch AI's server "
                     "ratios; overlay a system for a real one)")
    return notes


# -- phase 3: compute fabric -------------------------------------------------------------------

@dataclass(frozen=True)
class _ComputeFabric:
    plan: fab.FabricPlan
    switch: Switch
    planes: int
    node_ports_per_transceiver: int
    fabric_managers: int


def _compute_fabric(inp: _Inputs, nodes: int, nics: int) -> _ComputeFabric:
    """The compute fat tree over ``nodes`` × ``nics`` × planes ports, and its UFM appliances."""
    net = inp.net
    sw: Switch = inp.cat.entry("switches", net.switch, kind="switch")
    planes = int(net.planes.value) if net.planes else 1
    fm_links = int(net.fabric_manager_links.value) if net.fabric_manager_links else 0
    npt = planes if planes > 1 else inp.layout.ports_per_transceiver
    plan = fab.fat_tree(nodes, nics * planes, int(sw.ports.value), su_nodes=inp.su_nodes,
                        planes=planes, oversubscription=inp.oversubscription,
                        fabric_manager_links=fm_links,
                        ports_per_cage=int(sw.ports_per_cage.value),
                        node_ports_per_transceiver=npt)
    ufm = (int(net.fabric_manager_appliances.value)
           if net.fabric_manager and net.fabric_manager_appliances
           and plan.design == "rail-optimised" else 0)
    return _ComputeFabric(plan=plan, switch=sw, planes=planes, node_ports_per_transceiver=npt,
                          fabric_managers=ufm)


def _compute_fabric_notes(inp: _Inputs, cf: _ComputeFabric) -> list[str]:
    plan, sys_, net = cf.plan, inp.system, inp.net
    notes = list(plan.notes)
    if plan.design == "none":
        notes.append("one node: no scale-out compute fabric (the GPUs talk over the node's "
                     "scale-up NVLink / Infinity Fabric domain)")
        return notes
    osub = inp.oversubscription
    if osub > 1 and plan.tiers < TIERS_WITH_CORE:
        notes.append(f"oversubscription {osub:g} applies above a pod; this {plan.tiers}-tier "
                     "fabric has no tier above the pod and stays non-blocking")
    nic_bw = sys_.compute_nic_bandwidth_bytes_per_s
    port = cf.switch.port_bandwidth_bytes_per_s.value
    if nic_bw and cf.planes == 1 and abs(nic_bw.value - port) > LINK_SPEED_TOLERANCE_BYTES_PER_S:
        notes.append(f"{sys_.id} NICs run at {_gbps(nic_bw.value):,.0f} Gb/s on "
                     f"{_gbps(port):,.0f} Gb/s switch ports; links run at the slower speed")
    if nic_bw and cf.planes > 1 and \
            nic_bw.value < cf.planes * port - LINK_SPEED_TOLERANCE_BYTES_PER_S:
        notes.append(f"{net.id} gives each GPU {cf.planes} x {_gbps(port):,.0f} Gb/s ports "
                     f"(800G NICs, B300 RA); {sys_.id} NICs are {_gbps(nic_bw.value):,.0f} "
                     f"Gb/s, so each plane link runs at {_gbps(nic_bw.value) / cf.planes:,.0f} "
                     "Gb/s")
    return notes


# -- phase 5: racks & cooling (compute racks) --------------------------------------------------

@dataclass(frozen=True)
class _Racks:
    limit_w: float
    nodes_per_rack: int
    compute_racks: int
    densest_w: float
    cooling: CoolingType
    cooling_reason: str
    usable_ru: float
    support_limit_w: float


def _compute_racks(inp: _Inputs, nodes: int, rack_power_kw: float | None,
                   notes: list[str]) -> _Racks:
    """Nodes per rack under the power limit and the rack height; the cooling of the densest."""
    sys_, lay = inp.system, inp.layout
    p_node = sys_.node_max_power_w.value
    ru_node = sys_.rack_units.value if sys_.rack_units else lay.rack_units
    usable_ru = inp.rules.rack_units_usable.value
    cooling = {c.id: c for c in inp.cat.section("cooling_types").values()}
    air_w = (cooling[SUPPORT_COOLING].max_rack_power_w.value if SUPPORT_COOLING in cooling
             else FALLBACK_AIR_RACK_POWER_W)
    kw = check_optional_number("rack_power_kw", rack_power_kw, 0.0, MAX_RACK_POWER_KW,
                               lo_open=True)
    if kw is not None:
        limit_w = kw * W_PER_KW
    elif lay.rack_scale or p_node > air_w:
        limit_w = p_node
    else:
        limit_w = air_w
    npr = nodes_per_rack(p_node, limit_w, ru_node, usable_ru, lay.rack_scale)
    if npr < 1:
        raise UserError(f"rack_power_kw {limit_w / W_PER_KW:g} kW is below one {sys_.id} node "
                        f"({p_node / W_PER_KW:g} kW nameplate); give at least "
                        f"{p_node / W_PER_KW:g}", field="rack_power_kw")
    dense_w = min(npr, nodes) * p_node
    cool_id, reason = choose_cooling(
        dense_w, [(c.id, c.rank, c.max_rack_power_w.value) for c in cooling.values()],
        lay.required_cooling)
    if ru_node and not lay.rack_scale and npr == math.floor(usable_ru / ru_node) and \
            npr < math.floor(limit_w / p_node + COUNT_SLACK):
        notes.append(f"nodes per rack limited by height: {npr} x {ru_node:g}U in "
                     f"{usable_ru:g} usable U")
    return _Racks(limit_w=limit_w, nodes_per_rack=npr, compute_racks=int(racks_for(nodes, npr)),
                  densest_w=dense_w, cooling=cooling[cool_id],
                  cooling_reason=(f"{min(npr, nodes)} x {sys_.id} per rack at "
                                  f"{p_node / W_PER_KW:g} kW: " + reason),
                  usable_ru=usable_ru, support_limit_w=min(air_w, limit_w))


# -- phase 6: power ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Power:
    out: PowerOut
    compute_peak_w: float
    nic: Nic | None
    extra_nics: int


def _tx(txs: dict[str, Transceiver], tx_id: str | None) -> Transceiver | None:
    return None if tx_id is None else txs.get(tx_id)


def _switch_power_w(n: int, sw: Switch, cages: int, tx: Transceiver | None
                    ) -> tuple[float, float]:
    """Peak and average draw of ``n`` switches; the average adds the optics in use [W]."""
    pmax = n * sw.max_power_w.value
    if sw.typical_power_w is None:
        return pmax, pmax
    return pmax, n * sw.typical_power_w.value + cages * (tx.power_w.value if tx else 0.0)


def _power(inp: _Inputs, nd: _Nodes, cf: _ComputeFabric, sn: nw.SecondaryNetwork,
           mg: nw.ManagementNetworks, servers: nw.Servers, storage: nw.StoragePlan,
           load_fraction: float | None, fac: FacilityType, notes: list[str]) -> _Power:
    """IT power at nameplate (peak) and at the load profile (average); facility; energy."""
    sys_, lay, cat, net = inp.system, inp.layout, inp.cat, inp.net
    p_node = sys_.node_max_power_w.value
    typ_node = sys_.node_typical_power_w.value if sys_.node_typical_power_w else (
        p_node * inp.rules.node_typical_load_fraction.value)
    c_max, c_typ = (float(x) for x in node_power_w(nd.nodes, p_node, typ_node, load_fraction))
    nic: Nic | None = (cat.entry("nics", lay.compute_nic, kind="nic")
                       if (not nd.nic_included and lay.compute_nic) else None)
    extra = nd.nodes * nd.nics if nic else 0
    if nic:
        c_max += extra * nic.power_w.value
        c_typ += extra * nic.power_w.value
    txs = cat.section("transceivers")
    snet = sn.net
    parts = [
        _switch_power_w(cf.plan.total_switches, cf.switch, cf.plan.switch_cages,
                        _tx(txs, net.switch_transceiver)),
        _switch_power_w(sn.plan.total_switches, sn.switch,
                        sn.plan.switch_cages if snet.cable == "optical" else 0,
                        _tx(txs, snet.switch_transceiver)),
        _switch_power_w(mg.inband.plan.total_switches, mg.inband.switch, 0, None),
        _switch_power_w(mg.oob.switches, mg.oob_switch, 0, None),
    ]
    n_max = sum(p[0] for p in parts)
    n_typ = sum(p[1] for p in parts)
    s_max = storage.units * storage.appliance.max_power_w.value
    ufm = servers.fabric_manager
    m_max = (servers.management_count * servers.management.max_power_w.value
             + (servers.fabric_manager_count * ufm.max_power_w.value if ufm else 0.0))
    it_peak = c_max + n_max + s_max + m_max
    it_avg = c_typ + n_typ + s_max + m_max
    pue = fac.pue.value
    f_w = float(facility_power_w(it_avg, pue))
    out = PowerOut(it_avg_w=it_avg, it_peak_w=it_peak, facility_avg_w=f_w, pue=pue,
                   by_category={"compute": c_max, "network": n_max, "storage": s_max,
                                "management": m_max, "facility": 0.0},
                   energy_wh_per_year=float(energy_wh_per_year(f_w)))
    load = "typical draw" if load_fraction is None else f"load_fraction {load_fraction:g}"
    notes.append(f"power: IT {it_peak / W_PER_KW:,.1f} kW nameplate, {it_avg / W_PER_KW:,.1f} "
                 f"kW at load ({load}); facility {f_w / W_PER_KW:,.1f} kW at PUE {pue:g} "
                 f"({fac.id})")
    return _Power(out=out, compute_peak_w=c_max, nic=nic, extra_nics=extra)


# -- phase 7: BOM ------------------------------------------------------------------------------

def _bom(inp: _Inputs, nd: _Nodes, cf: _ComputeFabric, sn: nw.SecondaryNetwork,
         mg: nw.ManagementNetworks, servers: nw.Servers, storage: nw.StoragePlan,
         racks: _Racks, pw: _Power) -> list[BomLine]:
    """Systems and NICs, fabric switches / optics / cables, servers, storage, racks, cooling."""
    nic_w = pw.extra_nics * pw.nic.power_w.value if pw.nic else 0.0
    return [
        *bl.compute_lines(inp.system, nd.nodes, pw.compute_peak_w - nic_w, pw.nic,
                          pw.extra_nics),
        *bl.switch_lines(cf.switch, cf.plan, "compute", number_upper_tiers=True),
        *bl.network_lines(inp.cat, inp.net, cf.plan, "compute",
                          node_side_ppt=cf.node_ports_per_transceiver),
        *bl.switch_lines(sn.switch, sn.plan, "storage"),
        *bl.network_lines(inp.cat, sn.net, sn.plan, "storage", node_side_ppt=1),
        *bl.management_lines(mg),
        *bl.server_lines(servers, storage),
        *bl.facility_lines(racks.compute_racks + mg.support_racks, mg.pdus, racks.cooling,
                           racks.compute_racks, pw.compute_peak_w),
    ]


# -- phase 8: result ---------------------------------------------------------------------------

def _result_notes(inp: _Inputs, nd: _Nodes, cf: _ComputeFabric, sn: nw.SecondaryNetwork,
                  mg: nw.ManagementNetworks, racks: _Racks) -> list[str]:
    plan, sw, su = cf.plan, cf.switch, inp.su_nodes
    notes = []
    if plan.design == "rail-optimised":
        planes = f" per plane, {cf.planes} planes" if cf.planes > 1 else ""
        notes.append(
            f"compute fabric: {plan.scalable_units:,} SU x {su} nodes, {plan.leaves_per_su} "
            f"leaves per SU{planes}, {plan.tiers} tiers {list(plan.switches)} on {sw.id}; "
            f"links node-leaf {plan.node_leaf_links:,}, leaf-spine {plan.leaf_spine_links:,}, "
            f"above spine {plan.spine_core_links:,}, UFM {plan.fabric_manager_links}; partial "
            "SUs are cabled as full SUs (RA)")
    elif plan.design in ("two-switch", "one-per-plane"):
        notes.append(f"compute fabric: {plan.total_switches} x {sw.id}, {plan.node_leaf_links} "
                     f"node links, {plan.isl_links} inter-switch links (no UFM; subnet manager "
                     "on the switch)")
    mgmt_switches = mg.inband.plan.total_switches + mg.oob.switches
    notes.append(f"storage fabric {sn.net.id}: {sn.plan.total_switches} switches, "
                 f"{sn.plan.cables:,} cables; in-band {mg.inband.net.id}: "
                 f"{mg.inband.plan.total_switches} switches; out-of-band {mg.oob_net.id}: "
                 f"{_pl(mg.oob.switches, 'switch')} ({mgmt_switches} management switches "
                 "in all)")
    notes.append(f"racks: {racks.compute_racks:,} compute "
                 f"({_pl(min(racks.nodes_per_rack, nd.nodes), 'node')} and "
                 f"{racks.densest_w / W_PER_KW:,.1f} kW in the densest) + {mg.support_racks:,} "
                 f"network/storage/management (air, <= {racks.support_limit_w / W_PER_KW:g} kW);"
                 f" {mg.pdus:,} PDUs")
    notes.append("optics: switch-side modules draw inside the switch's maximum power and "
                 "node-side modules inside the system's; their BOM lines carry no power")
    return notes


def _result(inp: _Inputs, nd: _Nodes, cf: _ComputeFabric, sn: nw.SecondaryNetwork,
            mg: nw.ManagementNetworks, servers: nw.Servers, storage: nw.StoragePlan,
            racks: _Racks, pw: _Power, notes: list[str]) -> ClusterResult:
    """The typed result: counts per network, storage, power, racks, BOM and notes."""
    plan, sf, inf = cf.plan, sn.plan, mg.inband.plan
    fabric_out = FabricOut(kind=inp.net.id if plan.design != "none" else "none",
                           tiers=plan.tiers, leaf_switches=plan.leaf_switches,
                           spine_switches=plan.spine_switches, core_switches=plan.core_switches,
                           nics=nd.nodes * nd.nics if plan.design != "none" else 0,
                           transceivers=plan.transceivers, cables=plan.cables,
                           oversubscription=plan.oversubscription)
    storage_net = NetworkOut(switches=sf.total_switches,
                             nics=sn.endpoints if sf.design != "none" else 0,
                             transceivers=sf.transceivers if sn.net.cable == "optical" else 0,
                             cables=sf.cables)
    mgmt_net = NetworkOut(switches=inf.total_switches + mg.oob.switches,
                          nics=mg.inband_ports + mg.oob_ports,
                          transceivers=inf.transceivers if mg.inband.net.cable == "optical"
                          else 0,
                          cables=inf.cables + mg.oob.cables)
    racks_all = racks.compute_racks + mg.support_racks
    st = storage
    return ClusterResult(
        gpu=inp.acc.id, system=inp.system.id, gpus=nd.gpus, gpus_requested=inp.gpus_requested,
        nodes=nd.nodes, management_nodes=servers.management_count + servers.fabric_manager_count,
        racks=racks_all, rack_power_limit_w=racks.limit_w, nodes_per_rack=racks.nodes_per_rack,
        fabric=fabric_out, storage_network=storage_net, management_network=mgmt_net,
        storage=StorageOut(capacity_bytes=st.capacity_bytes, read_bytes_per_s=st.read_bytes_per_s,
                           write_bytes_per_s=st.write_bytes_per_s,
                           checkpoint_bytes=st.checkpoint_bytes, dataset_bytes=st.dataset_bytes,
                           checkpoint_write_s=(st.checkpoint_bytes / st.write_bytes_per_s
                                               if st.checkpoint_bytes > 0 else None)),
        power_w=pw.out, cooling=racks.cooling.id, cooling_reason=racks.cooling_reason,
        floor_area_m2=round(float(floor_area_m2(racks_all,
                                                inp.rules.floor_area_m2_per_rack.value)), 2),
        bom=_bom(inp, nd, cf, sn, mg, servers, storage, racks, pw),
        notes=notes + _result_notes(inp, nd, cf, sn, mg, racks))


# -- the builder -------------------------------------------------------------------------------

def build_cluster(gpu: str, gpus: int, *, system: str | None = None,
                  fabric: str = DEFAULT_FABRIC, rack_power_kw: float | None = None,
                  oversubscription: float = 1.0, facility: str | None = None,
                  su_nodes: int | None = None, dataset_bytes: float = 0.0,
                  checkpoint_model: str | None = None, checkpoint_bytes: float | None = None,
                  kept_checkpoints: int | None = None, replication: float | None = None,
                  checkpoint_write_s: float | None = None,
                  read_bytes_per_s_per_gpu: float | None = None,
                  write_bytes_per_s_per_gpu: float | None = None,
                  load_fraction: float | None = None,
                  catalog: Catalog | None = None) -> ClusterResult:
    """The physical cluster for ``gpus`` accelerators of type ``gpu``.

    Parameters
    ----------
    gpu : str
        Accelerator catalog id (``h100-sxm``, ``b200``, ``gb200``, ``mi300x`` ...) [—].
    gpus : int
        Accelerators wanted; rounded up to whole systems [1].
    system : str, optional
        System catalog id [—]; default :func:`gpuplan.catalog.systems.pick_system`'s choice
        (the accelerator's preferred system), or, for an accelerator no catalog system is built
        from, a labelled proxy 8-accelerator server (:mod:`gpuplan.cluster.systems`).
    fabric : str
        Compute fabric (catalog ``networks`` id with role ``compute``):
        ``infiniband-ndr-400g`` (default), ``infiniband-xdr-800g``, ``spectrum-x-400g``,
        ``spectrum-x-400g-2plane``, ``spectrum-x-800g`` [—].
    rack_power_kw : float, optional
        Power limit per compute rack [kW]; default the air-cooling limit (40 kW, judgement), or
        one rack-scale system per rack.
    oversubscription : float
        Down:up ratio above a pod (3+ tier fabrics only) [1]; 1 = non-blocking.
    facility : str, optional
        Facility type for the PUE (``hyperscale``, ``ai-datacenter``, ``non-hyperscale``
        (default), ``colocation``, ``industry-average``) [—].
    su_nodes : int, optional
        Nodes per scalable unit [1]; default the system's (32 DGX, 8 NVL72 racks).
    dataset_bytes : float
        Training data kept on shared storage [bytes].
    checkpoint_model : str, optional
        Model whose checkpoint (bf16 weights + fp32 Adam state) is stored [—].
    checkpoint_bytes : float, optional
        One checkpoint, instead of ``checkpoint_model`` [bytes].
    kept_checkpoints : int, optional
        Checkpoints kept [1]; default 3 (judgement).
    replication : float, optional
        Stored bytes per usable byte [1]; default 1.
    checkpoint_write_s : float, optional
        Target time to write one checkpoint [s]; raises write bandwidth when needed.
    read_bytes_per_s_per_gpu, write_bytes_per_s_per_gpu : float, optional
        Storage bandwidth rule [bytes/s per GPU]; default 1e9 each (DDN).
    load_fraction : float, optional
        Node draw as a fraction of nameplate for the average IT load [1]; default the
        catalog's typical draw (0.75 × max, Epoch).
    catalog : Catalog, optional
        Default ``load_catalog()`` [—].

    Returns
    -------
    ClusterResult

    Raises
    ------
    UserError
        Unknown names, 0 or too many GPUs, a rack limit below one node, a value out of range,
        an accelerator with neither a catalog system nor the TDP and price of a proxy (the
        message names the field).

    Notes
    -----
    nodes = ⌈gpus / GPUs per node⌉; compute fabric by :func:`gpuplan.cluster.fabric.fat_tree`;
    storage bandwidth ``read = gpus · r``, ``write = max(gpus · w, checkpoint / t_target)``;
    IT power at nameplate (``it_peak_w``) and at the load profile (``it_avg_w``);
    ``P_facility = P_IT(avg) · PUE``; energy per year = ``P_facility · 8766 h``; racks from
    ``min(⌊limit / P_node⌋, ⌊U_usable / U_node⌋)``, cooling the least intensive type whose
    limit takes the densest rack.

    References
    ----------
    .. [1] NVIDIA DGX SuperPOD RA (DGX H100) RA-11333-001 V11, Table 4.
    .. [2] NVIDIA DGX SuperPOD RA (DGX B200) RA-11334-001, larger SuperPOD component counts.
    .. [3] NVIDIA DGX SuperPOD RA (DGX GB200): SU of 8 racks, 1.2 MW TDP per SU.
    .. [4] Uptime Institute Global Data Center Survey 2024 (PUE).
    """
    inp = _inputs(catalog, gpu, gpus, system, fabric, su_nodes, oversubscription)
    cat, rules = inp.cat, inp.rules
    lf = check_optional_number("load_fraction", load_fraction, 0.0, 1.0, lo_open=True)
    fac: FacilityType = cat.entry("facility_types", facility or rules.default_facility,
                                  kind="facility")
    nd = _nodes(inp)
    notes = _node_notes(inp, nd)
    cf = _compute_fabric(inp, nd.nodes, nd.nics)
    notes += _compute_fabric_notes(inp, cf)
    mgmt = nw.management_server_count(cat, rules, nd.nodes)
    storage = nw.shared_storage(cat, rules, nd.gpus, nw.StorageRequest(
        dataset_bytes=dataset_bytes, checkpoint_model=checkpoint_model,
        checkpoint_bytes=checkpoint_bytes, kept_checkpoints=kept_checkpoints,
        replication=replication, checkpoint_write_s=checkpoint_write_s,
        read_bytes_per_s_per_gpu=read_bytes_per_s_per_gpu,
        write_bytes_per_s_per_gpu=write_bytes_per_s_per_gpu), notes)
    sn, servers = nw.storage_network(cat, inp.net, cf.fabric_managers, inp.layout, nd.nodes,
                                     storage, mgmt)
    racks = _compute_racks(inp, nd.nodes, rack_power_kw, notes)
    app_ru, app_w = nw.support_equipment(servers, storage)
    mg = nw.management_networks(
        cat, inp.net, inp.layout, nd.nodes,
        [(cf.plan.total_switches, cf.switch), (sn.plan.total_switches, sn.switch)], servers,
        storage, nw.SupportRacks(appliance_ru=app_ru, appliance_w=app_w,
                                 usable_ru=racks.usable_ru, power_limit_w=racks.support_limit_w,
                                 compute_racks=racks.compute_racks,
                                 pdus_per_compute_rack=int(rules.pdus_per_compute_rack.value),
                                 pdus_per_support_rack=int(rules.pdus_per_support_rack.value)))
    pw = _power(inp, nd, cf, sn, mg, servers, storage, lf, fac, notes)
    return _result(inp, nd, cf, sn, mg, servers, storage, racks, pw, notes)


def cluster_fabric_plan(gpu: str, gpus: int, *, system: str | None = None,
                        fabric: str = DEFAULT_FABRIC, su_nodes: int | None = None,
                        oversubscription: float = 1.0,
                        catalog: Catalog | None = None) -> fab.FabricPlan:
    """The compute-fabric plan (per-tier switches and links) that :func:`build_cluster` uses.

    Parameters are those of :func:`build_cluster` [—]. Returns the
    :class:`~gpuplan.cluster.fabric.FabricPlan` (the validation reads its per-tier links).
    """
    inp = _inputs(catalog, gpu, gpus, system, fabric, su_nodes, oversubscription)
    nd = _nodes(inp)
    return _compute_fabric(inp, nd.nodes, nd.nics).plan
