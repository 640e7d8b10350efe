"""The management (head) servers a cluster needs.

The node count itself is :func:`gpuplan.catalog.systems.nodes_for_gpus` (one rule, shared with
the demand stage). Functions broadcast over numpy arrays.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def management_servers(nodes: npt.ArrayLike, base: int, step_nodes: int,
                       per_step: int) -> np.ndarray:
    """Management / head servers (cluster manager, scheduler, login, Kubernetes control plane).

    Parameters
    ----------
    nodes : array_like
        Compute nodes [1].
    base : int
        Servers of a cluster up to ``step_nodes`` nodes (5 in the DGX SuperPOD H100 RA Table 7
        and the DGX BasePOD RA) [1].
    step_nodes : int
        Nodes per step of growth [1].
    per_step : int
        Servers added per step beyond the first [1].

    Returns
    -------
    ndarray of int
        0 for a single node, else ``base + per_step · (⌈nodes / step_nodes⌉ − 1)``.
    """
    n = np.asarray(nodes, dtype=np.int64)
    steps = np.maximum(-(-n // step_nodes) - 1, 0)
    return np.where(n <= 1, 0, base + per_step * steps)
