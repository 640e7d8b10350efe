"""`build_cluster`: from a GPU count to the physical cluster (nodes, fabric, storage, power, racks).

This module reads the catalog, checks the user's inputs (a :class:`~gpuplan.errors.UserError`
names the field) and chains the pure functions of ``fabric``, ``nodes``, ``storage``, ``power``
and ``racks``. No formula lives here that is not one of theirs.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from gpuplan.cluster import fabric as fab
from gpuplan.cluster.nodes import management_servers, nodes_for_gpus
from gpuplan.cluster.power import energy_wh_per_year, facility_power_w, node_power_w
from gpuplan.cluster.racks import (
    choose_cooling,
    floor_area_m2,
    nodes_per_rack,
    racks_for,
    support_racks,
)
from gpuplan.cluster.result import (
    BomLine,
    ClusterResult,
    FabricOut,
    NetworkOut,
    PowerOut,
    StorageOut,
)
from gpuplan.cluster.storage import storage_bandwidth, storage_capacity_bytes, storage_units
from gpuplan.errors import UserError

#: Default compute fabric (catalog ``networks`` id).
DEFAULT_FABRIC = "infiniband-ndr-400g"
#: Largest GPU count accepted (the planner is checked up to 1,000,000).
MAX_GPUS = 10_000_000
#: Air is the cooling of support (network / storage / management) racks.
SUPPORT_COOLING = "air"


def _int_arg(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
            not isinstance(value, numbers.Integral)
            and (not math.isfinite(value) or value != int(value))):
        raise UserError(f"{name} must be a whole number (got {value!r})")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"between {lo:,} and {hi:,}"
        raise UserError(f"{name} must be {rng} (got {value!r})")
    return v


def _float_arg(name: str, value: Any, lo: float, *, strict: bool = True,
               hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise UserError(f"{name} must be a finite number (got {value!r})")
    v = float(value)
    if (v <= lo if strict else v < lo) or (hi is not None and v > hi):
        rng = (f"> {lo:g}" if strict else f">= {lo:g}") + (f" and <= {hi:g}" if hi else "")
        raise UserError(f"{name} must be {rng} (got {value!r})")
    return v


@dataclass(frozen=True)
class _Layout:
    """The system_layouts entry, or the defaults used when a system has none."""

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


def _layout(cat, sys) -> _Layout:
    lay = cat.section("system_layouts").get(sys.id)
    if lay is None:
        return _Layout(rack_scale=False, su_nodes=32, rack_units=None, compute_nics=None,
                       compute_nic=None, ports_per_transceiver=1, storage_ports=2,
                       inband_ports=2, oob_ports=1, required_cooling=None, assumed=True)
    v = (lambda s: None if s is None else s.value)
    return _Layout(rack_scale=lay.rack_scale, su_nodes=int(lay.scalable_unit_nodes.value),
                   rack_units=v(lay.rack_units),
                   compute_nics=None if lay.compute_nics is None else int(lay.compute_nics.value),
                   compute_nic=lay.compute_nic,
                   ports_per_transceiver=int(lay.compute_ports_per_transceiver.value),
                   storage_ports=int(lay.storage_ports.value),
                   inband_ports=int(lay.inband_ports.value), oob_ports=int(lay.oob_ports.value),
                   required_cooling=lay.required_cooling, assumed=False)


def _pick_system(cat, acc_id: str, system: str | None):
    if system is not None:
        sys = cat.system(system)
        if sys.accelerator != acc_id:
            raise UserError(f"system {sys.id!r} is built from {sys.accelerator!r}, not {acc_id!r};"
                            f" systems for {acc_id}: "
                            f"{', '.join(s.id for s in cat.systems_for(acc_id)) or 'none'}")
        return sys
    options = cat.systems_for(acc_id)
    if not options:
        with_sys = sorted({s.accelerator for s in cat.systems.values()})
        raise UserError(f"no system in the catalog is built from GPU {acc_id!r}; give --system "
                        f"with an overlay system, or use one of: {', '.join(with_sys)}")
    layouts = cat.section("system_layouts")
    preferred = [s for s in options if s.id in layouts and layouts[s.id].preferred]
    return min(preferred or options, key=lambda s: s.id)


def _src(s) -> tuple[float | None, str | None]:
    return (None, None) if s is None else (s.value, s.source)


def _sw_line(sw, qty: int, label: str) -> BomLine:
    price, src = _src(sw.price_usd)
    return BomLine(item=f"{sw.id} ({label})", category="network", quantity=qty,
                   unit_price_usd=price, price_source=src, power_w=qty * sw.max_power_w.value)


def _tx_line(tx, qty: int, label: str) -> BomLine:
    price, src = _src(tx.price_usd)
    # optics draw inside the switch's max power and the system's max power: not counted again
    return BomLine(item=f"{tx.id} ({label})", category="network", quantity=qty,
                   unit_price_usd=price, price_source=src, power_w=0.0)


def _resolve(catalog, gpu: str, gpus: int, system: str | None, fabric: str):
    """Catalog look-ups shared by the builder and the fabric plan (user errors raised here)."""
    from gpuplan.catalog import load_catalog

    cat = catalog or load_catalog()
    n_req = _int_arg("gpus", gpus, 1, MAX_GPUS)
    acc = cat.accelerator(gpu)
    sys = _pick_system(cat, acc.id, system)
    lay = _layout(cat, sys)
    rules = cat.section("cluster_rules")["default"]
    net = cat.entry("networks", fabric, kind="fabric")
    if net.role != "compute":
        computes = [n.id for n in cat.section("networks").values() if n.role == "compute"]
        raise UserError(f"fabric {fabric!r} is a {net.role} network, not a compute fabric; "
                        f"accepted: {', '.join(computes)}")
    return cat, n_req, acc, sys, lay, rules, net


def _compute_nics(sys, lay, rules, per_node: int) -> int:
    """Compute-fabric NIC ports per node: the system's, its layout's, or the per-GPU rule."""
    return (int(sys.compute_nics.value) if sys.compute_nics else lay.compute_nics
            or int(rules.compute_nics_per_gpu.value) * per_node)


def build_cluster(gpu: str, gpus: int, *, system: str | None = None,
                  fabric: str = DEFAULT_FABRIC, rack_power_kw: float | None = None,
                  oversubscription: float = 1.0, facility: str | None = None,
                  su_nodes: int | None = None, dataset_bytes: float = 0.0,
                  checkpoint_model: str | None = None, checkpoint_bytes: float | None = None,
                  kept_checkpoints: int | None = None, replication: float | None = None,
                  checkpoint_write_s: float | None = None,
                  read_bytes_per_s_per_gpu: float | None = None,
                  write_bytes_per_s_per_gpu: float | None = None,
                  load_fraction: float | None = None, catalog=None) -> ClusterResult:
    """The physical cluster for ``gpus`` accelerators of type ``gpu``.

    Parameters
    ----------
    gpu : str
        Accelerator catalog id (``h100-sxm``, ``b200``, ``gb200``, ``mi300x`` ...) [—].
    gpus : int
        Accelerators wanted; rounded up to whole systems [1].
    system : str, optional
        System catalog id; default the preferred system of ``gpu`` [—].
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
        Node draw as a fraction of nameplate for the typical IT load [1]; default the
        catalog's typical draw (0.75 × max, Epoch).
    catalog : Catalog, optional
        Default ``load_catalog()``.

    Returns
    -------
    ClusterResult

    Raises
    ------
    UserError
        Unknown names, 0 or too many GPUs, a rack limit below one node, a value out of range
        (the message names the field).

    Notes
    -----
    nodes = ⌈gpus / GPUs per node⌉; compute fabric by :func:`gpuplan.cluster.fabric.fat_tree`;
    storage bandwidth ``read = gpus · r``, ``write = max(gpus · w, checkpoint / t_target)``;
    IT power at nameplate and at the load profile; ``P_facility = P_IT(typical) · PUE``;
    energy per year = ``P_facility · 8766 h``; racks from ``min(⌊limit / P_node⌋,
    ⌊U_usable / U_node⌋)``, cooling the least intensive type whose limit takes the densest rack.

    References
    ----------
    .. [1] NVIDIA DGX SuperPOD RA (DGX H100) RA-11333-001 V11, Table 4.
    .. [2] NVIDIA DGX SuperPOD RA (DGX B200) RA-11334-001, larger SuperPOD component counts.
    .. [3] NVIDIA DGX SuperPOD RA (DGX GB200): SU of 8 racks, 1.2 MW TDP per SU.
    .. [4] Uptime Institute Global Data Center Survey 2024 (PUE).
    """
    cat, n_req, acc, sys, lay, rules, net = _resolve(catalog, gpu, gpus, system, fabric)
    osub = _float_arg("oversubscription", oversubscription, 1.0, strict=False, hi=64.0)
    su = _int_arg("su_nodes", su_nodes, 1, 100_000) if su_nodes is not None else lay.su_nodes
    lf = _float_arg("load_fraction", load_fraction, 0.0, hi=1.0) if load_fraction is not None \
        else None
    fac_id = facility or rules.default_facility
    fac = cat.entry("facility_types", fac_id, kind="facility")
    notes: list[str] = []

    # -- nodes -----------------------------------------------------------------------------------
    per_node = int(sys.accelerators_per_node.value)
    nodes = int(nodes_for_gpus(n_req, per_node))
    n_gpus = nodes * per_node
    if n_gpus != n_req:
        notes.append(f"{n_req:,} GPU(s) requested; {sys.id} holds {per_node} per node, so the "
                     f"cluster rounds up to {_pl(nodes, 'node')} = {n_gpus:,} GPUs")
    if lay.assumed:
        notes.append(f"no system_layouts entry for {sys.id}: assumed a 32-node SU, 2 storage, "
                     "2 in-band and 1 OOB port per node")
    nic_included = sys.compute_nics is not None
    nics = _compute_nics(sys, lay, rules, per_node)

    # -- compute fabric --------------------------------------------------------------------------
    cf, sw, planes, npt = _compute_fabric(cat, net, lay, nodes, nics, su, osub)
    notes.extend(cf.notes)
    if cf.design == "none":
        notes.append("one node: no scale-out compute fabric (the GPUs talk over the node's "
                     "scale-up NVLink / Infinity Fabric domain)")
    ufm_compute = (int(net.fabric_manager_appliances.value)
                   if net.fabric_manager and cf.design == "rail-optimised" else 0)
    if osub > 1 and cf.tiers < 3 and cf.design != "none":
        notes.append(f"oversubscription {osub:g} applies above a pod; this {cf.tiers}-tier "
                     "fabric has no tier above the pod and stays non-blocking")
    nic_bw = sys.compute_nic_bandwidth_bytes_per_s
    if nic_bw and cf.design != "none" and planes == 1 and abs(
            nic_bw.value - sw.port_bandwidth_bytes_per_s.value) > 1:
        notes.append(f"{sys.id} NICs run at {nic_bw.value * 8 / 1e9:,.0f} Gb/s on "
                     f"{sw.port_bandwidth_bytes_per_s.value * 8 / 1e9:,.0f} Gb/s switch ports; "
                     "links run at the slower speed")
    if nic_bw and cf.design != "none" and planes > 1 and \
            nic_bw.value < planes * sw.port_bandwidth_bytes_per_s.value - 1:
        notes.append(f"{net.id} gives each GPU {planes} x "
                     f"{sw.port_bandwidth_bytes_per_s.value * 8 / 1e9:,.0f} Gb/s ports (800G "
                     f"NICs, B300 RA); {sys.id} NICs are {nic_bw.value * 8 / 1e9:,.0f} Gb/s, so "
                     f"each plane link runs at {nic_bw.value * 8 / 1e9 / planes:,.0f} Gb/s")

    # -- management servers ----------------------------------------------------------------------
    mgmt_app = cat.entry("appliances", rules.management_server, kind="appliance")
    n_mgmt = int(management_servers(nodes, int(rules.management_servers.value),
                                    int(rules.management_servers_step_nodes.value),
                                    int(rules.management_servers_per_step.value)))

    # -- storage ---------------------------------------------------------------------------------
    st_app = cat.entry("appliances", rules.storage_appliance, kind="appliance")
    ds = _float_arg("dataset_bytes", dataset_bytes, 0.0, strict=False)
    if checkpoint_model is not None and checkpoint_bytes is not None:
        raise UserError("give checkpoint_model or checkpoint_bytes, not both")
    ckpt = 0.0
    if checkpoint_model is not None:
        from gpuplan.demand.arch import arch_from_config
        from gpuplan.demand.training import checkpoint_bytes as _ckpt

        name, cfg, _ = cat.model(checkpoint_model)
        ckpt = float(_ckpt(arch_from_config(cfg, name)))
    elif checkpoint_bytes is not None:
        ckpt = _float_arg("checkpoint_bytes", checkpoint_bytes, 0.0, strict=False)
    kept = (_int_arg("kept_checkpoints", kept_checkpoints, 1, 10_000)
            if kept_checkpoints is not None else int(rules.kept_checkpoints.value))
    repl = (_float_arg("replication", replication, 1.0, strict=False, hi=10.0)
            if replication is not None else rules.storage_replication.value)
    r_gpu = (_float_arg("read_bytes_per_s_per_gpu", read_bytes_per_s_per_gpu, 0.0, strict=False)
             if read_bytes_per_s_per_gpu is not None
             else rules.storage_read_bytes_per_s_per_gpu.value)
    w_gpu = (_float_arg("write_bytes_per_s_per_gpu", write_bytes_per_s_per_gpu, 0.0,
                        strict=False)
             if write_bytes_per_s_per_gpu is not None
             else rules.storage_write_bytes_per_s_per_gpu.value)
    t_ck = (_float_arg("checkpoint_write_s", checkpoint_write_s, 0.0)
            if checkpoint_write_s is not None else None)
    cap_req = float(storage_capacity_bytes(ds, ckpt, kept, repl))
    rd_req, wr_req = (float(x) for x in storage_bandwidth(n_gpus, r_gpu, w_gpu, ckpt, t_ck))
    n_st = int(storage_units(cap_req, rd_req, wr_req, st_app.usable_bytes.value,
                             st_app.read_bytes_per_s.value, st_app.write_bytes_per_s.value))
    st_cap = n_st * st_app.usable_bytes.value
    st_rd = n_st * st_app.read_bytes_per_s.value
    st_wr = n_st * st_app.write_bytes_per_s.value
    notes.append(f"storage: need {cap_req / 1e12:,.1f} TB, {rd_req / 1e9:,.0f} GB/s read, "
                 f"{wr_req / 1e9:,.0f} GB/s write ({r_gpu / 1e9:g} / {w_gpu / 1e9:g} GB/s per "
                 f"GPU{'' if t_ck is None else f', checkpoint in {t_ck:g} s'}); "
                 f"{n_st} x {st_app.id} give {st_cap / 1e12:,.0f} TB, {st_rd / 1e9:,.0f} / "
                 f"{st_wr / 1e9:,.0f} GB/s")

    # -- storage network -------------------------------------------------------------------------
    snet = cat.entry("networks", net.storage_network, kind="network")
    ssw = cat.entry("switches", snet.switch, kind="switch")
    s_eps = (nodes * lay.storage_ports + n_st * int(_v(st_app.storage_ports, 0))
             + n_mgmt * int(_v(mgmt_app.storage_ports, 0)))
    sf = _secondary(snet, ssw, s_eps)
    ufm_storage = (int(snet.fabric_manager_appliances.value)
                   if snet.fabric_manager and sf.design == "rail-optimised" else 0)
    ufm_app = (cat.entry("appliances", net.fabric_manager or snet.fabric_manager,
                         kind="appliance") if (ufm_compute or ufm_storage) else None)
    n_ufm = ufm_compute + ufm_storage

    # -- racks for compute -----------------------------------------------------------------------
    p_node = sys.node_max_power_w.value
    ru_node = sys.rack_units.value if sys.rack_units else lay.rack_units
    usable_ru = rules.rack_units_usable.value
    cooling = {c.id: c for c in cat.section("cooling_types").values()}
    air_w = cooling[SUPPORT_COOLING].max_rack_power_w.value if SUPPORT_COOLING in cooling \
        else 40e3
    if rack_power_kw is not None:
        limit_w = _float_arg("rack_power_kw", rack_power_kw, 0.0) * 1e3
    elif lay.rack_scale or p_node > air_w:
        limit_w = p_node
    else:
        limit_w = air_w
    npr = nodes_per_rack(p_node, limit_w, ru_node, usable_ru, lay.rack_scale)
    if npr < 1:
        raise UserError(f"rack_power_kw {limit_w / 1e3:g} kW is below one {sys.id} node "
                        f"({p_node / 1e3:g} kW nameplate); give at least {p_node / 1e3:g}")
    compute_racks = int(racks_for(nodes, npr))
    dense_w = min(npr, nodes) * p_node
    cool_id, cool_reason = choose_cooling(
        dense_w, [(c.id, c.rank, c.max_rack_power_w.value) for c in cooling.values()],
        lay.required_cooling)
    cool_reason = (f"{min(npr, nodes)} x {sys.id} per rack at {p_node / 1e3:g} kW: "
                   + cool_reason)
    if ru_node and not lay.rack_scale and npr == math.floor(usable_ru / ru_node) and \
            npr < math.floor(limit_w / p_node + 1e-9):
        notes.append(f"nodes per rack limited by height: {npr} x {ru_node:g}U in "
                     f"{usable_ru:g} usable U")

    # -- in-band + OOB (two passes: OOB switches uplink into in-band; OOB ports count PDUs) ----
    inet = cat.entry("networks", net.inband_network, kind="network")
    isw = cat.entry("switches", inet.switch, kind="switch")
    onet = cat.entry("networks", net.oob_network, kind="network")
    osw = cat.entry("switches", onet.switch, kind="switch")
    in_base = (nodes * lay.inband_ports + n_mgmt * int(_v(mgmt_app.inband_ports, 0))
               + n_st * int(_v(st_app.inband_ports, 0))
               + (n_ufm * int(_v(ufm_app.inband_ports, 0)) if ufm_app else 0))
    oob_base = (nodes * lay.oob_ports + n_mgmt * int(_v(mgmt_app.oob_ports, 0))
                + n_st * int(_v(st_app.oob_ports, 0))
                + (n_ufm * int(_v(ufm_app.oob_ports, 0)) if ufm_app else 0))
    up_per = int(_v(onet.uplinks_per_switch, 0))
    support_w_limit = min(air_w, limit_w)
    pdu_c = int(rules.pdus_per_compute_rack.value)
    pdu_s = int(rules.pdus_per_support_rack.value)

    def support(switch_sets, extra_ru=0.0, extra_w=0.0):
        ru = sum(n * s.rack_units.value for n, s in switch_sets) + extra_ru
        w = sum(n * s.max_power_w.value for n, s in switch_sets) + extra_w
        return ru, w

    app_ru = (n_mgmt * mgmt_app.rack_units.value + n_st * st_app.rack_units.value
              + (n_ufm * ufm_app.rack_units.value if ufm_app else 0))
    app_w = (n_mgmt * mgmt_app.max_power_w.value + n_st * st_app.max_power_w.value
             + (n_ufm * ufm_app.max_power_w.value if ufm_app else 0))
    inf = _secondary(inet, isw, in_base)
    oob = {"switches": 0, "cables": 0, "uplinks": 0}
    for _ in range(2):
        sets = [(cf.total_switches, sw), (sf.total_switches, ssw), (inf.total_switches, isw),
                (oob["switches"], osw)]
        ru, w = support(sets, app_ru, app_w)
        s_racks = int(support_racks(ru, w, usable_ru, support_w_limit))
        pdus = compute_racks * pdu_c + s_racks * pdu_s
        o_eps = (oob_base + cf.total_switches + sf.total_switches + inf.total_switches
                 + oob["switches"] + pdus)
        oob = fab.oob_network(o_eps, int(osw.ports.value), up_per)
        inf = _secondary(inet, isw, in_base + oob["uplinks"])
    sets = [(cf.total_switches, sw), (sf.total_switches, ssw), (inf.total_switches, isw),
            (oob["switches"], osw)]
    ru, w = support(sets, app_ru, app_w)
    s_racks = int(support_racks(ru, w, usable_ru, support_w_limit))
    racks = compute_racks + s_racks
    pdus = compute_racks * pdu_c + s_racks * pdu_s

    # -- power -----------------------------------------------------------------------------------
    typ_node = sys.node_typical_power_w.value if sys.node_typical_power_w else (
        p_node * rules.node_typical_load_fraction.value)
    c_max, c_typ = (float(x) for x in node_power_w(nodes, p_node, typ_node, lf))
    nic_entry = (cat.entry("nics", lay.compute_nic, kind="nic")
                 if (not nic_included and lay.compute_nic) else None)
    n_extra_nics = nodes * nics if nic_entry else 0
    if nic_entry:
        c_max += n_extra_nics * nic_entry.power_w.value
        c_typ += n_extra_nics * nic_entry.power_w.value

    def sw_power(n, s, cages, tx):
        pmax = n * s.max_power_w.value
        if s.typical_power_w is None:
            return pmax, pmax
        return pmax, n * s.typical_power_w.value + cages * (tx.power_w.value if tx else 0.0)

    txs = cat.section("transceivers")
    net_parts = [
        sw_power(cf.total_switches, sw, cf.switch_cages, txs.get(net.switch_transceiver)),
        sw_power(sf.total_switches, ssw, sf.switch_cages if snet.cable == "optical" else 0,
                 txs.get(snet.switch_transceiver)),
        sw_power(inf.total_switches, isw, 0, None),
        sw_power(oob["switches"], osw, 0, None),
    ]
    n_max = sum(p[0] for p in net_parts)
    n_typ = sum(p[1] for p in net_parts)
    s_max = n_st * st_app.max_power_w.value
    m_max = n_mgmt * mgmt_app.max_power_w.value + (n_ufm * ufm_app.max_power_w.value
                                                     if ufm_app else 0.0)
    it_max = c_max + n_max + s_max + m_max
    it_typ = c_typ + n_typ + s_max + m_max
    pue = fac.pue.value
    f_w = float(facility_power_w(it_typ, pue))
    power = PowerOut(it=it_typ, it_max=it_max, facility=f_w, pue=pue,
                     by_category={"compute": c_max, "network": n_max, "storage": s_max,
                                  "management": m_max, "facility": 0.0},
                     energy_wh_per_year=float(energy_wh_per_year(f_w)))
    notes.append(f"power: IT {it_max / 1e3:,.1f} kW nameplate, {it_typ / 1e3:,.1f} kW at load "
                 f"({'load_fraction ' + format(lf, 'g') if lf is not None else 'typical draw'}); "
                 f"facility {f_w / 1e3:,.1f} kW at PUE {pue:g} ({fac.id})")

    # -- BOM -------------------------------------------------------------------------------------
    bom: list[BomLine] = []
    price, src = _src(sys.price_usd)
    bom.append(BomLine(item=sys.id, category="compute", quantity=nodes, unit_price_usd=price,
                       price_source=src, power_w=c_max - (n_extra_nics * nic_entry.power_w.value
                                                          if nic_entry else 0.0)))
    if nic_entry:
        price, src = _src(nic_entry.price_usd)
        bom.append(BomLine(item=nic_entry.id, category="compute", quantity=n_extra_nics,
                           unit_price_usd=price, price_source=src,
                           power_w=n_extra_nics * nic_entry.power_w.value))
    tier_names = ("leaf", "spine", "core")
    for i, n in enumerate(cf.switches):
        label = f"compute {tier_names[min(i, 2)]}" + (f" tier {i + 1}" if i > 2 else "")
        bom.append(_sw_line(sw, n, label))
    _network_bom(bom, cat, net, cf, "compute", node_side_ppt=npt)
    for i, n in enumerate(sf.switches):
        bom.append(_sw_line(ssw, n, f"storage {tier_names[min(i, 2)]}"))
    _network_bom(bom, cat, snet, sf, "storage", node_side_ppt=1)
    for i, n in enumerate(inf.switches):
        bom.append(_sw_line(isw, n, f"in-band {tier_names[min(i, 2)]}"))
    if inf.cables:
        bom.append(BomLine(item=f"in-band cables ({inet.cable})", category="network",
                           quantity=inf.cables))
    if oob["switches"]:
        bom.append(_sw_line(osw, oob["switches"], "out-of-band"))
        bom.append(BomLine(item=f"out-of-band cables ({onet.cable} + uplinks)",
                           category="network", quantity=oob["cables"]))
    if n_mgmt:
        price, src = _src(mgmt_app.price_usd)
        bom.append(BomLine(item=mgmt_app.id, category="management", quantity=n_mgmt,
                           unit_price_usd=price, price_source=src,
                           power_w=n_mgmt * mgmt_app.max_power_w.value))
    if n_ufm:
        price, src = _src(ufm_app.price_usd)
        bom.append(BomLine(item=ufm_app.id, category="management", quantity=n_ufm,
                           unit_price_usd=price, price_source=src,
                           power_w=n_ufm * ufm_app.max_power_w.value))
    price, src = _src(st_app.price_usd)
    bom.append(BomLine(item=st_app.id, category="storage", quantity=n_st, unit_price_usd=price,
                       price_source=src, power_w=s_max))
    bom.append(BomLine(item="rack-enclosure", category="facility", quantity=racks))
    bom.append(BomLine(item="rack-pdu", category="facility", quantity=pdus))
    cool = cooling[cool_id]
    if cool.unit_item:
        if cool.unit_per == "rack":
            qty = compute_racks
        else:
            qty = math.ceil(c_max / cool.unit_capacity_w.value) if cool.unit_capacity_w else 0
        if qty:
            bom.append(BomLine(item=cool.unit_item, category="facility", quantity=qty))

    # -- outputs ---------------------------------------------------------------------------------
    fabric_out = FabricOut(kind=net.id if cf.design != "none" else "none", tiers=cf.tiers,
                           leaf_switches=cf.leaf_switches, spine_switches=cf.spine_switches,
                           core_switches=cf.core_switches,
                           nics=nodes * nics if cf.design != "none" else 0,
                           transceivers=cf.transceivers, cables=cf.cables,
                           oversubscription=cf.oversubscription)
    s_opt = snet.cable == "optical"
    storage_net = NetworkOut(switches=sf.total_switches, nics=s_eps if sf.design != "none" else 0,
                             transceivers=sf.transceivers if s_opt else 0, cables=sf.cables)
    mgmt_net = NetworkOut(switches=inf.total_switches + oob["switches"],
                          nics=in_base + oob_base,
                          transceivers=inf.transceivers if inet.cable == "optical" else 0,
                          cables=inf.cables + oob["cables"])
    if cf.design == "rail-optimised":
        notes.append(
            f"compute fabric: {cf.scalable_units:,} SU x {su} nodes, {cf.leaves_per_su} leaves "
            f"per SU{f' per plane, {planes} planes' if planes > 1 else ''}, {cf.tiers} tiers "
            f"{list(cf.switches)} on {sw.id}; links node-leaf {cf.node_leaf_links:,}, "
            f"leaf-spine {cf.leaf_spine_links:,}, above spine {cf.spine_core_links:,}, "
            f"UFM {cf.fabric_manager_links}; partial SUs are cabled as full SUs (RA)")
    elif cf.design in ("two-switch", "one-per-plane"):
        notes.append(f"compute fabric: {cf.total_switches} x {sw.id}, {cf.node_leaf_links} node "
                     f"links, {cf.isl_links} inter-switch links (no UFM; subnet manager on the "
                     "switch)")
    notes.append(f"storage fabric {snet.id}: {sf.total_switches} switches, {sf.cables:,} cables;"
                 f" in-band {inet.id}: {inf.total_switches} switches; out-of-band {onet.id}: "
                 f"{_pl(oob['switches'], 'switch')} ({mgmt_net.switches} management switches "
                 "in all)")
    notes.append(f"racks: {compute_racks:,} compute ({_pl(min(npr, nodes), 'node')} and "
                 f"{dense_w / 1e3:,.1f} kW in the densest) + {s_racks:,} network/storage/"
                 f"management (air, <= {support_w_limit / 1e3:g} kW); {pdus:,} PDUs")
    notes.append("optics: switch-side modules draw inside the switch's maximum power and "
                 "node-side modules inside the system's; their BOM lines carry no power")
    return ClusterResult(
        gpu=acc.id, system=sys.id, gpus=n_gpus, gpus_requested=n_req, nodes=nodes,
        management_nodes=n_mgmt + n_ufm, racks=racks, rack_power_limit_w=limit_w,
        nodes_per_rack=npr, fabric=fabric_out, storage_network=storage_net,
        management_network=mgmt_net,
        storage=StorageOut(capacity_bytes=st_cap, read_bytes_per_s=st_rd,
                           write_bytes_per_s=st_wr, checkpoint_bytes=ckpt, dataset_bytes=ds,
                           checkpoint_write_s=(ckpt / st_wr) if ckpt > 0 else None),
        power_w=power, cooling=cool_id, cooling_reason=cool_reason,
        floor_area_m2=round(float(floor_area_m2(racks, rules.floor_area_m2_per_rack.value)),
                            2),
        bom=bom, notes=notes)


def _compute_fabric(cat, net, lay: _Layout, nodes: int, nics: int, su: int, osub: float):
    sw = cat.entry("switches", net.switch, kind="switch")
    planes = int(net.planes.value) if net.planes else 1
    fm_links = int(net.fabric_manager_links.value) if net.fabric_manager_links else 0
    npt = planes if planes > 1 else lay.ports_per_transceiver
    cf = fab.fat_tree(nodes, nics * planes, int(sw.ports.value), su_nodes=su, planes=planes,
                      oversubscription=osub, fabric_manager_links=fm_links,
                      ports_per_cage=int(sw.ports_per_cage.value), node_ports_per_transceiver=npt)
    return cf, sw, planes, npt


def cluster_fabric_plan(gpu: str, gpus: int, *, system: str | None = None,
                        fabric: str = DEFAULT_FABRIC, su_nodes: int | None = None,
                        oversubscription: float = 1.0, catalog=None) -> fab.FabricPlan:
    """The compute-fabric plan (per-tier switches and links) that :func:`build_cluster` uses.

    Parameters are those of :func:`build_cluster` [—]. Returns the
    :class:`~gpuplan.cluster.fabric.FabricPlan` (the validation reads its per-tier links).
    """
    cat, n_req, _acc, sys, lay, rules, net = _resolve(catalog, gpu, gpus, system, fabric)
    per_node = int(sys.accelerators_per_node.value)
    nodes = int(nodes_for_gpus(n_req, per_node))
    nics = _compute_nics(sys, lay, rules, per_node)
    su = _int_arg("su_nodes", su_nodes, 1, 100_000) if su_nodes is not None else lay.su_nodes
    osub = _float_arg("oversubscription", oversubscription, 1.0, strict=False, hi=64.0)
    return _compute_fabric(cat, net, lay, nodes, nics, su, osub)[0]


def _pl(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else ("es" if word.endswith("ch") else "s"))


def _v(s, default: float) -> float:
    return default if s is None else s.value


def _secondary(net, sw, endpoints: int) -> fab.FabricPlan:
    """A storage or in-band network: a plain (one-rail) fat tree over ``endpoints`` ports."""
    if endpoints <= 1:
        return fab.FabricPlan(design="none")
    radix = int(sw.ports.value)
    los = net.leaf_oversubscription.value if net.leaf_oversubscription else 1.0
    d, _ = fab.split_ports(radix, los)
    optical = net.cable == "optical"
    fm = int(net.fabric_manager_links.value) if net.fabric_manager_links else 0
    return fab.fat_tree(endpoints, 1, radix, su_nodes=d, leaf_oversubscription=los,
                        fabric_manager_links=fm, ports_per_cage=int(sw.ports_per_cage.value),
                        node_ports_per_transceiver=1 if optical and net.node_transceiver else 0)


def _network_bom(bom: list[BomLine], cat, net, plan: fab.FabricPlan, role: str,
                 node_side_ppt: int) -> None:
    if plan.design == "none":
        return
    txs = cat.section("transceivers")
    if net.cable == "optical":
        if net.switch_transceiver and plan.switch_cages:
            bom.append(_tx_line(txs[net.switch_transceiver], plan.switch_cages,
                                f"{role} switch side"))
        if plan.node_transceivers:
            twin = txs.get(net.switch_transceiver)
            node_tx = (twin if twin is not None and int(twin.ports.value) == node_side_ppt
                       and node_side_ppt > 1 else txs.get(net.node_transceiver))
            if node_tx is not None:
                bom.append(_tx_line(node_tx, plan.node_transceivers, f"{role} node side"))
    bom.append(BomLine(item=f"{role} fabric cables ({net.cable})", category="network",
                       quantity=plan.cables))
