"""The cluster builder: from a GPU count to the physical cluster a data-centre team recognises.

``build_cluster("h100-sxm", 1024)`` returns a :class:`~gpuplan.cluster.result.ClusterResult`:
nodes and scale-up domains, the rail-optimised compute fabric of the NVIDIA DGX SuperPOD
reference architectures (leaf / spine / core switches, NICs, transceivers, cables), the storage
fabric and the in-band / out-of-band management networks beside it, shared storage sized for
data, checkpoints and bandwidth, IT and facility power, racks, cooling and floor area, and a
bill of materials with sourced prices where the catalog has them. It is the one cluster builder:
the economics (``gpuplan.money``) and the pipeline price what it returns. An accelerator that no
catalog system is built from gets the full cluster around a labelled proxy server.

Layers (pure functions first):

* :mod:`~gpuplan.cluster.fabric`   fat-tree counts (``fat_tree``, ``split_ports``, ...)
* :mod:`~gpuplan.cluster.nodes`    management servers (the node count is
  :func:`gpuplan.catalog.systems.nodes_for_gpus`)
* :mod:`~gpuplan.cluster.storage`  capacity, bandwidth, building blocks
* :mod:`~gpuplan.cluster.power`    IT / facility power, energy
* :mod:`~gpuplan.cluster.racks`    nodes per rack, cooling choice, support racks, floor area
* :mod:`~gpuplan.cluster.systems`  the server: catalog system (one rule,
  :func:`gpuplan.catalog.systems.pick_system`) or labelled proxy; its rack/network layout
* :mod:`~gpuplan.cluster.networks` builder phase: storage and management networks
* :mod:`~gpuplan.cluster.bom`      builder phase: bill of materials
* :mod:`~gpuplan.cluster.builder`  ``build_cluster``: the phases in order

Published checks live in :mod:`gpuplan.validation.cluster`, terminal tables in
:mod:`gpuplan.report.cluster_tables`.
"""

from __future__ import annotations

from gpuplan.cluster.builder import DEFAULT_FABRIC, MAX_GPUS, build_cluster, cluster_fabric_plan
from gpuplan.cluster.fabric import (
    FabricPlan,
    OobPlan,
    fat_tree,
    leaves_per_scalable_unit,
    oob_network,
    smallest_divisor_at_least,
    split_ports,
)
from gpuplan.cluster.result import (
    BomLine,
    ClusterResult,
    FabricOut,
    NetworkOut,
    PowerOut,
    StorageOut,
)
from gpuplan.cluster.systems import cluster_system, synthetic_system

__all__ = ["build_cluster", "cluster_fabric_plan", "cluster_system", "synthetic_system",
           "fat_tree", "split_ports", "smallest_divisor_at_least",
           "leaves_per_scalable_unit", "oob_network", "FabricPlan", "OobPlan", "ClusterResult",
           "BomLine", "FabricOut", "NetworkOut", "PowerOut", "StorageOut", "DEFAULT_FABRIC",
           "MAX_GPUS"]
