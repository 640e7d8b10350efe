"""Catalog sections for the cluster builder: switches, optics, networks, appliances, facility.

Every number is a :class:`~gpuplan.catalog.schema.Sourced` value in base units (W, bytes,
bytes/s, USD, m²); a value that is engineering judgement says so in its ``note``. The data lives
in ``catalog/data/network.yaml``; users overlay quotes (a switch price, a PUE) the usual way.

Sections
--------
switches
    One switch model: ports at the port speed, ports per cage, rack units, power, price.
transceivers
    One optical module: logical ports it carries, power, price.
nics
    A network adapter that is *not* already inside a system (added to the BOM when a system's
    catalog entry carries no compute NICs).
networks
    A network design: the compute fabric kinds (``infiniband-ndr-400g``, ...) and the storage,
    in-band and out-of-band networks beside them. Says which switch and optics it uses.
appliances
    Management servers, fabric-manager (UFM) appliances and storage building blocks.
system_layouts
    Per-system facts the cluster needs that the system catalog does not carry: scalable unit,
    ports on each network, rack units, whether the system is a whole rack.
facility_types
    PUE by facility type.
cooling_types
    Rack cooling options with their practical maximum rack power.
cluster_rules
    Rules of thumb (storage bandwidth per GPU, usable rack units, floor area per rack, PDUs per
    rack, management-server counts, default checkpoint policy).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gpuplan.catalog.schema import (
    Sourced,
    SourcedCount,
    SourcedFraction,
    SourcedUsd,
    _Strict,
)

_ID = r"^[a-z0-9][a-z0-9.\-]*$"


class Switch(_Strict):
    """A network switch. ``ports`` are logical ports at ``port_bandwidth_bytes_per_s``."""

    id: str = Field(pattern=_ID)
    name: str
    vendor: str
    technology: Literal["infiniband", "ethernet"]
    ports: SourcedCount
    port_bandwidth_bytes_per_s: Sourced = Field(description="one direction of one port [B/s]")
    ports_per_cage: SourcedCount = Field(description="logical ports per physical cage / "
                                                     "transceiver (2 for twin-port OSFP)")
    uplink_ports: SourcedCount | None = Field(default=None, description="extra uplink ports "
                                              "beside `ports` (e.g. SN2201: 4 x 100G)")
    rack_units: SourcedCount
    max_power_w: Sourced = Field(description="maximum, with optical modules in every cage [W]")
    typical_power_w: Sourced | None = Field(default=None, description="typical, passive cables "
                                            "(optics counted separately) [W]")
    price_usd: SourcedUsd | None = None
    notes: str = ""


class Transceiver(_Strict):
    id: str = Field(pattern=_ID)
    name: str
    ports: SourcedCount = Field(description="logical links carried by one module")
    power_w: Sourced
    price_usd: SourcedUsd | None = None
    notes: str = ""


class Nic(_Strict):
    id: str = Field(pattern=_ID)
    name: str
    bandwidth_bytes_per_s: Sourced
    power_w: Sourced
    price_usd: SourcedUsd | None = None
    notes: str = ""


class Network(_Strict):
    """A network design: a compute fabric kind, or a storage / in-band / out-of-band network."""

    id: str = Field(pattern=_ID)
    name: str
    role: Literal["compute", "storage", "inband", "oob"]
    switch: str = Field(description="switches id")
    switch_transceiver: str | None = Field(default=None, description="transceivers id on the "
                                           "switch side of optical links; None = no optics")
    node_transceiver: str | None = Field(default=None, description="transceivers id on the "
                                         "node side when the system's own cages are not used")
    cable: Literal["optical", "aoc", "dac", "copper"] = "optical"
    planes: SourcedCount | None = Field(default=None, description="independent fabric planes "
                                        "(None = 1)")
    fabric_manager: str | None = Field(default=None, description="appliances id of the fabric "
                                       "manager (InfiniBand UFM)")
    fabric_manager_appliances: SourcedCount | None = None
    fabric_manager_links: SourcedCount | None = Field(default=None, description="fabric links "
                                                      "of all fabric-manager appliances")
    storage_network: str | None = Field(default=None, description="networks id of the storage "
                                        "network used beside this compute fabric")
    inband_network: str | None = None
    oob_network: str | None = None
    leaf_oversubscription: Sourced | None = Field(default=None, description="leaf down:up "
                                                  "ratio for secondary networks (None = 1)")
    uplinks_per_switch: SourcedCount | None = Field(default=None, description="OOB: uplinks "
                                                    "from each OOB switch to the in-band network")
    notes: str = ""


class Appliance(_Strict):
    """A management server, fabric-manager appliance or storage building block."""

    id: str = Field(pattern=_ID)
    name: str
    kind: Literal["management", "fabric-manager", "storage"]
    rack_units: SourcedCount
    max_power_w: Sourced
    storage_ports: SourcedCount | None = None
    inband_ports: SourcedCount | None = None
    oob_ports: SourcedCount | None = None
    read_bytes_per_s: Sourced | None = None
    write_bytes_per_s: Sourced | None = None
    usable_bytes: Sourced | None = None
    price_usd: SourcedUsd | None = None
    notes: str = ""


class SystemLayout(_Strict):
    """What the cluster needs to know about a system beyond the system catalog (id = system id)."""

    id: str = Field(pattern=_ID)
    preferred: bool = Field(default=False, description="the default system for its accelerator")
    rack_scale: bool = Field(default=False, description="the system is a whole rack")
    scalable_unit_nodes: SourcedCount
    rack_units: SourcedCount | None = Field(default=None, description="when the system entry "
                                            "has none")
    compute_nics: SourcedCount | None = Field(default=None, description="when the system entry "
                                              "has none")
    compute_nic: str | None = Field(default=None, description="nics id added to the BOM when "
                                    "the system's price does not include its compute NICs")
    compute_ports_per_transceiver: SourcedCount = Field(description="node-side compute ports "
                                                        "per transceiver (2 = twin-port OSFP)")
    storage_ports: SourcedCount
    inband_ports: SourcedCount
    oob_ports: SourcedCount
    required_cooling: str | None = Field(default=None, description="cooling_types id the "
                                         "system requires (e.g. liquid for NVL72)")
    notes: str = ""


class FacilityType(_Strict):
    id: str = Field(pattern=_ID)
    name: str
    pue: Sourced
    notes: str = ""


class CoolingType(_Strict):
    id: str = Field(pattern=_ID)
    name: str
    rank: int = Field(ge=0, description="order of preference: the lowest rank that can take the "
                                        "rack power is chosen")
    max_rack_power_w: Sourced
    unit_item: str | None = Field(default=None, description="BOM item for the cooling hardware")
    unit_per: Literal["rack", "w"] | None = None
    unit_capacity_w: Sourced | None = Field(default=None, description="heat one unit removes "
                                            "when unit_per = 'w' [W]")
    notes: str = ""


class ClusterRules(_Strict):
    """Rules of thumb (one entry, id ``default``; an overlay may change any value)."""

    id: str = Field(pattern=_ID)
    storage_read_bytes_per_s_per_gpu: Sourced
    storage_write_bytes_per_s_per_gpu: Sourced
    rack_units_usable: SourcedCount
    floor_area_m2_per_rack: Sourced
    pdus_per_compute_rack: SourcedCount
    pdus_per_support_rack: SourcedCount
    management_servers: SourcedCount
    management_servers_step_nodes: SourcedCount
    management_servers_per_step: SourcedCount
    compute_nics_per_gpu: SourcedCount
    kept_checkpoints: SourcedCount
    storage_replication: Sourced
    node_typical_load_fraction: SourcedFraction
    default_facility: str
    management_server: str = Field(description="appliances id")
    storage_appliance: str = Field(description="appliances id")
    notes: str = ""


#: section name -> pydantic model of one entry (each entry has an `id`).
CLUSTER_SECTIONS: dict = {
    "switches": Switch,
    "transceivers": Transceiver,
    "nics": Nic,
    "networks": Network,
    "appliances": Appliance,
    "system_layouts": SystemLayout,
    "facility_types": FacilityType,
    "cooling_types": CoolingType,
    "cluster_rules": ClusterRules,
}
