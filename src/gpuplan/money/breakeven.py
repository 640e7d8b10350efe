"""Break-evens of own versus rent that a CFO reads: the rent price at which they cost the same.

(The break-even utilisation is :attr:`gpuplan.money.types.TcoResult.breakeven_utilisation`, the
break-even month :attr:`~gpuplan.money.types.TcoResult.breakeven_months`.)
"""

from __future__ import annotations

import numpy as np

from gpuplan.money.cashflows import simulate
from gpuplan.money.types import TcoInputs

#: Least share of the rent side's bill that owning must avoid for a break-even rent to be
#: reported [fraction] (below it the price would be an artefact of a near-zero slope).
BREAKEVEN_MIN_SLOPE_SHARE = 0.01


def breakeven_rent_usd_per_gpu_hour(inp: TcoInputs, own_pv_usd: float) -> float | None:
    """First-month rental price at which renting costs what owning costs [USD per GPU-hour].

    Parameters
    ----------
    inp : TcoInputs
        The baseline (its price path's yearly change and term are kept).
    own_pv_usd : float
        Present value of owning's costs [USD].

    Returns
    -------
    float or None
        :math:`p^* = p_0 (O_0 - E) / ((R - E) - (O_1 - O_0))`; None when the two sides do
        not move apart with the price, or barely: when the owner rents back all but
        :data:`BREAKEVEN_MIN_SLOPE_SHARE` of the rent side's bill (a hybrid whose owned part
        serves almost nothing has no meaningful break-even price).

    Notes
    -----
    Both bills are linear in the price factor :math:`m` on every rented tier: renting costs
    :math:`E + m (R - E)` (:math:`E` the PV of egress alone at :math:`m = 0`, :math:`R` the PV
    at :math:`m = 1`) and owning :math:`O_0 + m (O_1 - O_0)`, where :math:`O_1 - O_0` is what
    the owner rents beyond the fleet (the hybrid's burst; 0 otherwise, and then
    :math:`O_0` = ``own_pv_usd``).
    """
    s = simulate(inp, detail=False, cloud_price_multiplier=np.array([0.0, 1.0]))
    egress_pv, rent_pv = float(-s.rent_npv_usd[0]), float(-s.rent_npv_usd[1])
    own0, own1 = float(-s.own_npv_usd[0]), float(-s.own_npv_usd[1])
    if not inp.own_rent_tiers:
        own0 = own1 = own_pv_usd
    slope = (rent_pv - egress_pv) - (own1 - own0)
    if slope <= BREAKEVEN_MIN_SLOPE_SHARE * (rent_pv - egress_pv):
        return None
    return inp.rent_usd_per_gpu_hour * (own0 - egress_pv) / slope


#: Yearly rent price changes searched for the break-even decline [fraction/year], coarse grid
#: then one refinement (NPV rises with the rent path, so one root at most).
RENT_CHANGE_GRID = (-0.9, 1.0)
RENT_CHANGE_GRID_POINTS = 191


def breakeven_rent_change_per_year(inp: TcoInputs) -> float | None:
    r"""Yearly change of the rent price at which owning and renting cost the same [fraction/year].

    Parameters
    ----------
    inp : TcoInputs
        The baseline (its first-month price and term kept).

    Returns
    -------
    float or None
        :math:`g^*` with :math:`\mathrm{NPV}(g^*) = 0`; a rent that falls faster than this makes
        renting cheaper. None when the NPV keeps one sign from -90 % to +100 % a year.

    Notes
    -----
    NPV(own - rent) rises with :math:`g` (a dearer rent path), so the root is bracketed on a
    grid of :data:`RENT_CHANGE_GRID_POINTS` values and refined by a second grid inside the
    bracket, then interpolated linearly (error below 1e-5 a year).
    """
    lo, hi = RENT_CHANGE_GRID
    for _ in range(2):
        g = np.linspace(lo, hi, RENT_CHANGE_GRID_POINTS)
        v = simulate(inp, detail=False, cloud_price_change_per_year=g).npv_usd
        up = np.nonzero((v[:-1] <= 0) & (v[1:] > 0))[0]
        if up.size == 0:
            return None
        i = int(up[0])
        lo, hi = float(g[i]), float(g[i + 1])
        v_lo, v_hi = float(v[i]), float(v[i + 1])
    return lo + (hi - lo) * (-v_lo) / (v_hi - v_lo)
