"""Builder phase "storage & management networks": shared storage, the storage fabric, the
management and fabric-manager servers, the in-band and out-of-band networks and the support racks.

Each function reads catalog entries the builder resolved and chains the pure functions of
:mod:`~gpuplan.cluster.fabric`, :mod:`~gpuplan.cluster.storage`,
:mod:`~gpuplan.cluster.nodes` and :mod:`~gpuplan.cluster.racks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpuplan.checks import check_number, check_optional_number, check_whole
from gpuplan.cluster import fabric as fab
from gpuplan.cluster.nodes import management_servers
from gpuplan.cluster.racks import support_racks
from gpuplan.cluster.storage import storage_bandwidth, storage_capacity_bytes, storage_units
from gpuplan.errors import UserError
from gpuplan.units import BYTES_PER_GB, BYTES_PER_TB

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog
    from gpuplan.catalog.schema import Sourced
    from gpuplan.catalog.schema_cluster import Appliance, ClusterRules, Network, Switch
    from gpuplan.cluster.systems import Layout

#: Largest dataset or checkpoint accepted [bytes] (1 ZB; the CLI caps --dataset-tb at 1e9 TB).
MAX_STORED_BYTES = 1e21
#: Largest per-GPU storage bandwidth rule accepted [bytes/s] (1 TB/s; DDN asks 1 GB/s).
MAX_STORAGE_BYTES_PER_S_PER_GPU = 1e12
#: Longest checkpoint write target accepted [s] (about 30 years).
MAX_CHECKPOINT_WRITE_S = 1e9
#: Most checkpoints kept, and most stored bytes per usable byte, accepted [1].
MAX_KEPT_CHECKPOINTS = 10_000
MAX_REPLICATION = 10.0
#: Passes of the in-band / OOB sizing: OOB switches uplink into the in-band network, and OOB
#: ports count the PDUs of the support racks those switches fill; two passes settle both.
MANAGEMENT_SIZING_PASSES = 2


def _v(s: Sourced | None, default: float) -> float:
    return default if s is None else s.value


def linked_network(cat: Catalog, compute_net: Network, network_id: str | None,
                   role: str) -> tuple[Network, Switch]:
    """The ``role`` network a compute fabric names, and its switch (a UserError if unnamed)."""
    if network_id is None:
        raise UserError(f"fabric {compute_net.id!r} names no {role} network in the catalog",
                        field="fabric")
    net = cat.entry("networks", network_id, kind="network")
    return net, cat.entry("switches", net.switch, kind="switch")


@dataclass(frozen=True)
class StorageRequest:
    """What the user asked of shared storage (checked by :func:`shared_storage`).

    Attributes are :func:`gpuplan.cluster.build_cluster`'s parameters of the same names
    [bytes, —, bytes, 1, 1, s, bytes/s per GPU, bytes/s per GPU].
    """

    dataset_bytes: float = 0.0
    checkpoint_model: str | None = None
    checkpoint_bytes: float | None = None
    kept_checkpoints: int | None = None
    replication: float | None = None
    checkpoint_write_s: float | None = None
    read_bytes_per_s_per_gpu: float | None = None
    write_bytes_per_s_per_gpu: float | None = None


@dataclass(frozen=True)
class StoragePlan:
    """Shared storage built from whole appliances [1, bytes, bytes/s, bytes/s, bytes, bytes]."""

    appliance: Appliance
    units: int
    capacity_bytes: float
    read_bytes_per_s: float
    write_bytes_per_s: float
    checkpoint_bytes: float
    dataset_bytes: float


def _checkpoint_bytes(cat: Catalog, req: StorageRequest) -> float:
    """One checkpoint [bytes]: of ``checkpoint_model`` (bf16 weights + fp32 Adam), or given."""
    if req.checkpoint_model is not None and req.checkpoint_bytes is not None:
        raise UserError("checkpoint_model and checkpoint_bytes are both given; give one of "
                        "them", field="checkpoint_model")
    if req.checkpoint_model is not None:
        from gpuplan.demand.arch import arch_from_config
        from gpuplan.demand.training import checkpoint_bytes

        name, cfg, _ = cat.model(req.checkpoint_model)
        return float(checkpoint_bytes(arch_from_config(cfg, name)))
    if req.checkpoint_bytes is not None:
        return check_number("checkpoint_bytes", req.checkpoint_bytes, 0.0, MAX_STORED_BYTES)
    return 0.0


def shared_storage(cat: Catalog, rules: ClusterRules, gpus: int, req: StorageRequest,
                   notes: list[str]) -> StoragePlan:
    """Storage appliances meeting capacity (data + kept checkpoints) and bandwidth.

    Parameters
    ----------
    cat : Catalog
        The catalog [—].
    rules : ClusterRules
        Defaults of the storage rule (per-GPU bandwidth, kept checkpoints, replication) [—].
    gpus : int
        Accelerators in the cluster [1].
    req : StorageRequest
        The user's storage inputs [—].
    notes : list of str
        Appended: what was required and what the appliances give [—].

    Raises
    ------
    UserError
        A storage input out of range, or both checkpoint_model and checkpoint_bytes.
    """
    app: Appliance = cat.entry("appliances", rules.storage_appliance, kind="appliance")
    ds = check_number("dataset_bytes", req.dataset_bytes, 0.0, MAX_STORED_BYTES)
    ckpt = _checkpoint_bytes(cat, req)
    kept = (check_whole("kept_checkpoints", req.kept_checkpoints, MAX_KEPT_CHECKPOINTS)
            if req.kept_checkpoints is not None else int(rules.kept_checkpoints.value))
    repl = check_optional_number("replication", req.replication, 1.0, MAX_REPLICATION)
    repl = rules.storage_replication.value if repl is None else repl
    r_gpu = check_optional_number("read_bytes_per_s_per_gpu", req.read_bytes_per_s_per_gpu, 0.0,
                                  MAX_STORAGE_BYTES_PER_S_PER_GPU)
    r_gpu = rules.storage_read_bytes_per_s_per_gpu.value if r_gpu is None else r_gpu
    w_gpu = check_optional_number("write_bytes_per_s_per_gpu", req.write_bytes_per_s_per_gpu,
                                  0.0, MAX_STORAGE_BYTES_PER_S_PER_GPU)
    w_gpu = rules.storage_write_bytes_per_s_per_gpu.value if w_gpu is None else w_gpu
    t_ck = check_optional_number("checkpoint_write_s", req.checkpoint_write_s, 0.0,
                                 MAX_CHECKPOINT_WRITE_S, lo_open=True)
    cap_req = float(storage_capacity_bytes(ds, ckpt, kept, repl))
    rd_req, wr_req = (float(x) for x in storage_bandwidth(gpus, r_gpu, w_gpu, ckpt, t_ck))
    if app.usable_bytes is None or app.read_bytes_per_s is None or app.write_bytes_per_s is None:
        raise UserError(f"storage appliance {app.id!r} needs usable_bytes, read_bytes_per_s and "
                        "write_bytes_per_s in the catalog")
    usable, rd, wr = (app.usable_bytes.value, app.read_bytes_per_s.value,
                      app.write_bytes_per_s.value)
    n = int(storage_units(cap_req, rd_req, wr_req, usable, rd, wr))
    plan = StoragePlan(appliance=app, units=n, capacity_bytes=n * usable,
                       read_bytes_per_s=n * rd, write_bytes_per_s=n * wr, checkpoint_bytes=ckpt,
                       dataset_bytes=ds)
    tb, gbs = BYTES_PER_TB, BYTES_PER_GB
    notes.append(f"storage: need {cap_req / tb:,.1f} TB, {rd_req / gbs:,.0f} GB/s read, "
                 f"{wr_req / gbs:,.0f} GB/s write ({r_gpu / gbs:g} / {w_gpu / gbs:g} GB/s per "
                 f"GPU{'' if t_ck is None else f', checkpoint in {t_ck:g} s'}); "
                 f"{n} x {app.id} give {plan.capacity_bytes / tb:,.0f} TB, "
                 f"{plan.read_bytes_per_s / gbs:,.0f} / {plan.write_bytes_per_s / gbs:,.0f} GB/s")
    return plan


@dataclass(frozen=True)
class SecondaryNetwork:
    """A storage or in-band network: its catalog entries, its plan and its endpoints [—, 1]."""

    net: Network
    switch: Switch
    plan: fab.FabricPlan
    endpoints: int


def secondary_plan(net: Network, sw: Switch, endpoints: int) -> fab.FabricPlan:
    """A storage or in-band network: a plain (one-rail) fat tree over ``endpoints`` ports.

    Parameters
    ----------
    net : Network
        The network entry (leaf oversubscription, cable, fabric-manager links) [—].
    sw : Switch
        Its switch [—].
    endpoints : int
        Ports to connect [1].
    """
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


@dataclass(frozen=True)
class Servers:
    """Management servers and fabric-manager (UFM) appliances [—, 1, —, 1]."""

    management: Appliance
    management_count: int
    fabric_manager: Appliance | None
    fabric_manager_count: int


def management_server_count(cat: Catalog, rules: ClusterRules,
                            nodes: int) -> tuple[Appliance, int]:
    """The management server entry and how many the cluster needs [—, 1]."""
    app: Appliance = cat.entry("appliances", rules.management_server, kind="appliance")
    n = int(management_servers(nodes, int(rules.management_servers.value),
                               int(rules.management_servers_step_nodes.value),
                               int(rules.management_servers_per_step.value)))
    return app, n


def storage_network(cat: Catalog, compute_net: Network, compute_ufm: int, layout: Layout,
                    nodes: int, storage: StoragePlan, mgmt: tuple[Appliance, int]
                    ) -> tuple[SecondaryNetwork, Servers]:
    """The storage fabric, and the servers (management + UFM) once its UFM need is known.

    Parameters
    ----------
    cat : Catalog
        The catalog [—].
    compute_net : Network
        The compute fabric entry (names the storage network and the fabric manager) [—].
    compute_ufm : int
        Fabric-manager appliances the compute fabric needs [1].
    layout : Layout
        Storage ports per node [—].
    nodes : int
        Compute nodes [1].
    storage : StoragePlan
        The storage appliances [—].
    mgmt : (Appliance, int)
        The management server entry and count [—, 1].
    """
    mgmt_app, n_mgmt = mgmt
    snet, ssw = linked_network(cat, compute_net, compute_net.storage_network, "storage")
    st_app = storage.appliance
    eps = (nodes * layout.storage_ports + storage.units * int(_v(st_app.storage_ports, 0))
           + n_mgmt * int(_v(mgmt_app.storage_ports, 0)))
    sf = secondary_plan(snet, ssw, eps)
    ufm_storage = (int(snet.fabric_manager_appliances.value)
                   if snet.fabric_manager and snet.fabric_manager_appliances
                   and sf.design == "rail-optimised" else 0)
    fm_id = compute_net.fabric_manager or snet.fabric_manager
    ufm_app: Appliance | None = (cat.entry("appliances", fm_id, kind="appliance")
                                 if fm_id and (compute_ufm or ufm_storage) else None)
    servers = Servers(management=mgmt_app, management_count=n_mgmt, fabric_manager=ufm_app,
                      fabric_manager_count=compute_ufm + ufm_storage)
    return SecondaryNetwork(net=snet, switch=ssw, plan=sf, endpoints=eps), servers


@dataclass(frozen=True)
class ManagementNetworks:
    """In-band and out-of-band networks and the support racks they settle [—, 1]."""

    inband: SecondaryNetwork
    oob_net: Network
    oob_switch: Switch
    oob: fab.OobPlan
    inband_ports: int
    oob_ports: int
    support_racks: int
    pdus: int


@dataclass(frozen=True)
class SupportRacks:
    """What the support racks hold besides the switches, and their limits [U, W, U, W, 1, 1]."""

    appliance_ru: float
    appliance_w: float
    usable_ru: float
    power_limit_w: float
    compute_racks: int
    pdus_per_compute_rack: int
    pdus_per_support_rack: int


def _appliance_ports(servers: Servers, storage: StoragePlan, attr: str) -> int:
    """Ports of kind ``attr`` (``inband_ports`` / ``oob_ports``) of all appliances [1]."""
    ufm = servers.fabric_manager
    return (servers.management_count * int(_v(getattr(servers.management, attr), 0))
            + storage.units * int(_v(getattr(storage.appliance, attr), 0))
            + (servers.fabric_manager_count * int(_v(getattr(ufm, attr), 0)) if ufm else 0))


def support_equipment(servers: Servers, storage: StoragePlan) -> tuple[float, float]:
    """Height and nameplate power of the management servers, UFMs and storage [U, W]."""
    ufm = servers.fabric_manager
    m, st = servers.management, storage.appliance
    ru = (servers.management_count * m.rack_units.value + storage.units * st.rack_units.value
          + (servers.fabric_manager_count * ufm.rack_units.value if ufm else 0))
    w = (servers.management_count * m.max_power_w.value + storage.units * st.max_power_w.value
         + (servers.fabric_manager_count * ufm.max_power_w.value if ufm else 0))
    return ru, w


def management_networks(cat: Catalog, compute_net: Network, layout: Layout, nodes: int,
                        switch_sets: list[tuple[int, Switch]], servers: Servers,
                        storage: StoragePlan, racks: SupportRacks) -> ManagementNetworks:
    """In-band and OOB networks, sized together with the support racks (two passes).

    Parameters
    ----------
    cat : Catalog
        The catalog [—].
    compute_net : Network
        The compute fabric entry (names the in-band and OOB networks) [—].
    layout : Layout
        In-band and OOB ports per node [—].
    nodes : int
        Compute nodes [1].
    switch_sets : list of (int, Switch)
        Compute and storage fabric switches (they go in support racks, with OOB ports) [1, —].
    servers : Servers
        Management servers and UFMs [—].
    storage : StoragePlan
        The storage appliances [—].
    racks : SupportRacks
        Support-rack contents and limits [—].

    Notes
    -----
    OOB switches uplink into the in-band network and OOB ports count every switch and PDU, so
    the in-band network, the OOB network and the support racks are sized twice.
    """
    inet, isw = linked_network(cat, compute_net, compute_net.inband_network, "in-band")
    onet, osw = linked_network(cat, compute_net, compute_net.oob_network, "out-of-band")
    in_base = nodes * layout.inband_ports + _appliance_ports(servers, storage, "inband_ports")
    oob_base = nodes * layout.oob_ports + _appliance_ports(servers, storage, "oob_ports")
    up_per = int(_v(onet.uplinks_per_switch, 0))
    fabric_switches = sum(n for n, _ in switch_sets)

    def rack_count(inband: fab.FabricPlan, oob: fab.OobPlan) -> int:
        sets = [*switch_sets, (inband.total_switches, isw), (oob.switches, osw)]
        ru = sum(n * s.rack_units.value for n, s in sets) + racks.appliance_ru
        w = sum(n * s.max_power_w.value for n, s in sets) + racks.appliance_w
        return int(support_racks(ru, w, racks.usable_ru, racks.power_limit_w))

    def pdus(s_racks: int) -> int:
        return (racks.compute_racks * racks.pdus_per_compute_rack
                + s_racks * racks.pdus_per_support_rack)

    inf = secondary_plan(inet, isw, in_base)
    oob = fab.OobPlan()
    for _ in range(MANAGEMENT_SIZING_PASSES):
        o_eps = (oob_base + fabric_switches + inf.total_switches + oob.switches
                 + pdus(rack_count(inf, oob)))
        oob = fab.oob_network(o_eps, int(osw.ports.value), up_per)
        inf = secondary_plan(inet, isw, in_base + oob.uplinks)
    s_racks = rack_count(inf, oob)
    return ManagementNetworks(inband=SecondaryNetwork(net=inet, switch=isw, plan=inf,
                                                      endpoints=in_base + oob.uplinks),
                              oob_net=onet, oob_switch=osw, oob=oob, inband_ports=in_base,
                              oob_ports=oob_base, support_racks=s_racks, pdus=pdus(s_racks))
