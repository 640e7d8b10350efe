"""Racks, cooling and floor area.

References
----------
.. [1] NVIDIA DGX SuperPOD RA (DGX B200): racks of two DGX B200 "exceed 25 kW"; the rack layout
   "can be adjusted to meet local data center requirements, such as maximum power per rack".
.. [2] Rack density and cooling (catalog_facts facility): air cooling practical to ~20-40 kW,
   rear-door heat exchangers ~40-60 kW, direct-to-chip liquid ~60-120+ kW; NVL72 (~120 kW)
   requires liquid. The switch-over points are engineering judgement, not standards.
.. [3] 25-30 ft² per rack including aisles (white space); plant rooms excluded.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from gpuplan.units import W_PER_KW

#: Slack under which a float count that is whole up to rounding counts as whole (e.g.
#: 40 kW / 10 kW = 3.9999999999999996 is 4 nodes) [1]; used by every count in the cluster stage.
COUNT_SLACK = 1e-9


def nodes_per_rack(node_power_w: float, rack_power_limit_w: float, node_rack_units: float | None,
                   usable_rack_units: float, rack_scale: bool = False) -> int:
    """Nodes that fit one rack under a power limit and its usable height.

    Parameters
    ----------
    node_power_w : float
        Nameplate maximum of one node [W].
    rack_power_limit_w : float
        Power a rack may draw [W].
    node_rack_units : float or None
        Height of one node [U]; None = not limiting.
    usable_rack_units : float
        Usable height of a rack [U].
    rack_scale : bool
        The node is a whole rack (GB200 NVL72): 1 when it fits the limit.

    Returns
    -------
    int
        ``min(⌊limit / P_node⌋, ⌊U_usable / U_node⌋)``; 0 when not even one node fits.
    """
    by_power = math.floor(rack_power_limit_w / node_power_w + COUNT_SLACK)
    if rack_scale:
        return min(1, by_power)
    by_space = math.floor(usable_rack_units / node_rack_units) if node_rack_units else by_power
    return max(0, min(by_power, by_space))


def racks_for(units: npt.ArrayLike, per_rack: npt.ArrayLike) -> np.ndarray:
    """Racks for ``units`` at ``per_rack`` each: ``⌈units / per_rack⌉`` (broadcasts)."""
    u = np.asarray(units, dtype=np.int64)
    return -(-u // np.asarray(per_rack, dtype=np.int64))


def choose_cooling(rack_power_w: float, options: list[tuple[str, int, float]],
                   required: str | None = None) -> tuple[str, str]:
    """The least intensive cooling type whose rack limit takes ``rack_power_w``.

    Parameters
    ----------
    rack_power_w : float
        Nameplate power of the densest rack [W].
    options : list of (id, rank, max_rack_power_w)
        Cooling types [—, 1, W].
    required : str or None
        A type the system requires (e.g. liquid for NVL72).

    Returns
    -------
    (str, str)
        The cooling id and a one-line reason.
    """
    ordered = sorted(options, key=lambda o: o[1])
    kw = rack_power_w / W_PER_KW
    if required is not None:
        lim = {o[0]: o[2] for o in ordered}.get(required)
        reason = f"the system requires {required} cooling; densest rack {kw:,.1f} kW"
        if lim is not None and rack_power_w > lim:
            reason += f" (above the catalog's {lim / W_PER_KW:,.0f} kW for it)"
        return required, reason
    lower = 0.0
    for cid, _, lim in ordered:
        if rack_power_w <= lim:
            return cid, (f"densest rack {kw:,.1f} kW is within {cid}'s {lim / W_PER_KW:,.0f} kW "
                         f"limit" + (f" and above {lower / W_PER_KW:,.0f} kW" if lower else ""))
        lower = lim
    cid, _, lim = ordered[-1]
    return cid, (f"densest rack {kw:,.1f} kW exceeds every catalog limit; {cid} "
                 f"(rated to {lim / W_PER_KW:,.0f} kW) is the closest")


def support_racks(rack_units: npt.ArrayLike, power_w: npt.ArrayLike, usable_rack_units: float,
                  rack_power_limit_w: float) -> np.ndarray:
    """Racks for switches, management servers and storage: by height and by power.

    Parameters
    ----------
    rack_units : array_like
        Total height of the support equipment [U].
    power_w : array_like
        Its nameplate power [W].
    usable_rack_units : float
        Usable height per rack [U].
    rack_power_limit_w : float
        Power limit of a support rack [W] (air-cooled).

    Returns
    -------
    ndarray of int
        ``max(⌈U / U_rack⌉, ⌈P / P_rack⌉)``.
    """
    ru = np.asarray(rack_units, dtype=float)
    pw = np.asarray(power_w, dtype=float)
    return np.maximum(np.ceil(ru / usable_rack_units - COUNT_SLACK),
                      np.ceil(pw / rack_power_limit_w - COUNT_SLACK)).astype(np.int64)


def floor_area_m2(racks: npt.ArrayLike, m2_per_rack: float) -> np.ndarray:
    """White-space floor area ``racks · area per rack (aisles included)`` [m²]."""
    return np.asarray(racks, dtype=float) * m2_per_rack
