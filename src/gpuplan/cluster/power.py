"""Power and energy: IT load at nameplate and at a load profile, facility power, energy.

Functions broadcast over numpy arrays.

References
----------
.. [1] The Green Grid, "PUE: a comprehensive examination of the metric" (White Paper 49, 2012):
   PUE = total facility energy / IT equipment energy.
.. [2] Uptime Institute Global Data Center Survey 2024 (industry average PUE 1.56).
.. [3] Epoch AI, github.com/epoch-research/training-cost-trends@263c40a,
   cost_analysis_standalone.py: a GPU server draws 75 % of its rated power during training;
   PUE 1.1 for hyperscalers and 1.25 for others.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gpuplan.units import HOURS_PER_YEAR


def node_power_w(nodes: npt.ArrayLike, node_max_power_w: float | np.ndarray,
                 node_typical_power_w: float | np.ndarray | None = None,
                 load_fraction: float | np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Power of the compute nodes at nameplate and at the load profile.

    Parameters
    ----------
    nodes : array_like
        Systems [1].
    node_max_power_w : array_like
        Nameplate maximum per system [W].
    node_typical_power_w : array_like or None
        Typical draw per system under training load [W] (catalog; Epoch's 0.75 × max).
    load_fraction : float or None
        Overrides the typical draw: ``load_fraction · max`` [1] (e.g. 0.5 for serving).

    Returns
    -------
    (ndarray, ndarray)
        ``(max, typical)`` [W].
    """
    n = np.asarray(nodes, dtype=float)
    pmax = n * node_max_power_w
    if load_fraction is not None:
        typ = pmax * load_fraction
    elif node_typical_power_w is not None:
        typ = n * node_typical_power_w
    else:
        typ = pmax
    return pmax, typ


def facility_power_w(it_power_w: npt.ArrayLike, pue: float | np.ndarray) -> np.ndarray:
    """Facility power ``P_facility = P_IT · PUE`` [W] (The Green Grid [1]_).

    Parameters
    ----------
    it_power_w : array_like
        IT load [W].
    pue : array_like
        Power usage effectiveness [1] (≥ 1).
    """
    return np.asarray(it_power_w, dtype=float) * pue


def energy_wh_per_year(power_w: npt.ArrayLike,
                       utilisation: float | np.ndarray = 1.0) -> np.ndarray:
    """Energy over a year at a constant draw ``E = P · 8766 h · utilisation`` [Wh].

    Parameters
    ----------
    power_w : array_like
        Average power [W].
    utilisation : array_like
        Fraction of the year at that draw [1].
    """
    return np.asarray(power_w, dtype=float) * HOURS_PER_YEAR * utilisation
