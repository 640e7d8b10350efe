"""The rent side's cheapest feasible mix for a demand profile, and the bill of a mix.

A buyer at scale contracts a reserved base billed every hour (1- or 3-year terms) and bursts
above it on demand, up to the fleet the offering rents without a contract
(``max_on_demand_gpus`` in the ``clouds`` catalog). :func:`cheapest_mix` tries every base size
on a grid for every published contract term, keeps the mixes whose burst stays within the
obtainable on-demand fleet, and returns the one of least present value; :func:`tier_bill` is
the monthly bill of a mix that :func:`gpuplan.money.cashflows.simulate` discounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpuplan.errors import UserError
from gpuplan.money.cloud import rent_price_path
from gpuplan.money.finance import annual_to_monthly, discount_factors
from gpuplan.money.types import BilledTier, RentTerm
from gpuplan.units import HOURS_PER_MONTH, USD_PER_MUSD

#: Quantiles of the monthly demand tried as reserved base sizes [fraction] (with 0, the peak,
#: and the peak less the obtainable on-demand fleet).
BASE_QUANTILES = np.linspace(0.0, 1.0, 21)


@dataclass(frozen=True)
class TierOffer:
    """A published price of one term [USD per GPU-hour], with its provenance."""

    term: RentTerm
    price_usd_per_gpu_hour: float
    source: str
    as_of: str | None


@dataclass(frozen=True)
class MixChoice:
    """The cheapest feasible mix, its PV and why it was chosen."""

    tiers: list[BilledTier]
    pv_usd: float
    reason: str


def tier_bill(tiers: list[BilledTier], months: int, price_multiplier: npt.ArrayLike = 1.0,
              change_per_year: npt.ArrayLike = 0.0, demand_ratio: npt.ArrayLike = 1.0
              ) -> tuple[np.ndarray, np.ndarray]:
    r"""Monthly bill of a rent mix and its blended price, vectorised over samples.

    Parameters
    ----------
    tiers : list of BilledTier
        The mix; each tier's ``billed_gpu_hours_per_month`` has ``months`` values.
    months : int
        Operating months [months].
    price_multiplier : float or array (n,)
        Factor on every tier's price [1].
    change_per_year : float or array (n,)
        Yearly market price change [fraction/year]; contracts hold the price for their term.
    demand_ratio : float or array (n,)
        Factor on the hours of the on-demand tiers (demand above or below the base case) [1];
        reserved tiers pay every hour whatever the demand.

    Returns
    -------
    bill : numpy.ndarray (n, months)
        :math:`B_m = \sum_k h_{k,m} \, p_k (1 + g)^{\lfloor m / L_k \rfloor L_k / 12}` [USD].
    price : numpy.ndarray (n, months)
        Bill / billed hours (the mix's mean price of each month) [USD per GPU-hour].
    """
    mult = np.atleast_1d(np.asarray(price_multiplier, dtype=float))
    g = np.atleast_1d(np.asarray(change_per_year, dtype=float))
    ratio = np.atleast_1d(np.asarray(demand_ratio, dtype=float))
    n = max(mult.size, g.size, ratio.size)
    bill = np.zeros((n, months))
    hours = np.zeros((n, months))
    for t in tiers:
        h = np.asarray(t.billed_gpu_hours_per_month, dtype=float)[None, :months]
        if not t.contracted:
            h = h * ratio[:, None]
        path = rent_price_path(t.price_usd_per_gpu_hour * mult, months,
                               g if g.size > 1 else float(g[0]), t.term)
        bill = bill + h * path
        hours = hours + np.broadcast_to(h, (n, months))
    price = np.where(hours > 0, bill / np.where(hours > 0, hours, 1.0),
                     tiers[0].price_usd_per_gpu_hour * mult[:, None] if tiers else 0.0)
    return bill, price


def _candidate_bases(hours: np.ndarray, peak: np.ndarray, flat: np.ndarray,
                     cap: float | None) -> np.ndarray:
    """Reserved base sizes tried [GPUs]: quantiles of the monthly peaks, mean busy GPUs (with
    the flexible hours) and the always-on level, 0, the most GPUs busy at once (rigid or
    flexible), and the peak less the obtainable on-demand fleet."""
    top = max(float(peak.max()), float((hours / HOURS_PER_MONTH).max()))
    c = [0.0, top, *np.quantile(peak, BASE_QUANTILES),
         *np.quantile(hours / HOURS_PER_MONTH, BASE_QUANTILES),
         *np.quantile(flat, BASE_QUANTILES)]
    if cap is not None:
        c.append(max(top - cap, 0.0))
    return np.unique(np.clip(np.ceil(np.asarray(c) - 1e-9), 0.0, top))


def burst_for_base(base_gpus: npt.ArrayLike, hours: npt.ArrayLike, peak: npt.ArrayLike,
                   flat: npt.ArrayLike, flexible: npt.ArrayLike
                   ) -> tuple[np.ndarray, np.ndarray]:
    r"""Hours and GPUs a reserved base of ``base_gpus`` leaves to the burst, per month.

    Parameters
    ----------
    base_gpus : array (k,)
        Reserved base sizes [GPUs].
    hours : array (M,)
        Rigid GPU-hours of each month (runs that need their GPUs at once) [GPU-hours].
    peak : array (M,)
        GPUs needed at once [count].
    flat : array (M,)
        GPUs held all month (always-on serving) [count], at most ``peak``.
    flexible : array (M,)
        GPU-hours that run whenever capacity is free (backfill) [GPU-hours].

    Returns
    -------
    burst_hours : numpy.ndarray (k, M)
        GPU-hours not served by the base [GPU-hours].
    burst_gpus : numpy.ndarray (k,)
        Most GPUs rented at once beyond the base [count].

    Notes
    -----
    Within month :math:`m` demand is :math:`L_m` all month plus :math:`P_m - L_m` for the share
    :math:`f_m = (h_m - L_m H_m) / ((P_m - L_m) H_m)` of it. A base :math:`R` serves
    :math:`\min(R, L_m) H_m + \max(\min(R, P_m) - L_m, 0) f_m H_m` of the rigid hours and
    its idle hours take the flexible ones; the rest bursts, on
    :math:`\max(P_m - R, 0) + F^{burst}_m / H_m` GPUs.
    """
    r = np.atleast_1d(np.asarray(base_gpus, dtype=float))[:, None]
    h, p = np.asarray(hours, dtype=float), np.asarray(peak, dtype=float)
    lvl = np.minimum(np.asarray(flat, dtype=float), p)
    flex = np.asarray(flexible, dtype=float)
    span = (p - lvl) * HOURS_PER_MONTH
    f = np.clip(np.where(span > 0, (h - lvl * HOURS_PER_MONTH) / np.where(span > 0, span, 1.0),
                         0.0), 0.0, 1.0)
    served = np.minimum(r, lvl) * HOURS_PER_MONTH + \
        np.clip(np.minimum(r, p) - lvl, 0.0, None) * f * HOURS_PER_MONTH
    served = np.minimum(served, h)
    flex_served = np.minimum(np.clip(r * HOURS_PER_MONTH - served, 0.0, None), flex)
    burst_h = (h - served) + (flex - flex_served)
    burst_g = (np.clip(p - r, 0.0, None) + (flex - flex_served) / HOURS_PER_MONTH).max(axis=1)
    return burst_h, np.ceil(burst_g - 1e-9)


def cheapest_mix(hours: npt.ArrayLike, peak: npt.ArrayLike, offers: list[TierOffer],
                 on_demand_cap_gpus: float | None, discount_rate: float,
                 change_per_year: float, cloud: str = "cloud", flat: npt.ArrayLike = 0.0,
                 flexible: npt.ArrayLike = 0.0) -> MixChoice:
    r"""The reserved base + on-demand burst of least present value that rents the profile.

    Parameters
    ----------
    hours : array (M,)
        Rigid GPU-hours to rent in each operating month [GPU-hours].
    peak : array (M,)
        GPUs needed at once in each month [count].
    offers : list of TierOffer
        The published terms; ``on_demand`` bursts, ``reserved_*`` are base contracts.
    on_demand_cap_gpus : float, optional
        Largest fleet rented on demand [GPUs]; None = no limit.
    discount_rate : float
        Annual discount rate [fraction/year].
    change_per_year : float
        Yearly market price change [fraction/year].
    cloud : str
        The offering's id (for messages).
    flat : float or array (M,)
        GPUs held all month (always-on) [count] (:func:`burst_for_base`).
    flexible : float or array (M,)
        GPU-hours that run whenever capacity is free (backfill) [GPU-hours].

    Returns
    -------
    MixChoice
        The tiers (the base first), the PV of the bill [USD] and a sentence saying why.

    Raises
    ------
    UserError
        ``field="term"`` when no mix rents the peak: on demand is capped and no contract is
        published.

    Notes
    -----
    A base of :math:`R` GPUs on term :math:`T` pays :math:`R H_m p_{T,m}` every month; the
    burst pays its hours (:func:`burst_for_base`) at :math:`p_{od,m}` and needs at most the
    obtainable on-demand fleet at once. PV at monthly discount factors
    :math:`(1 + r_m)^{-(m+1)}`.
    """
    h = np.asarray(hours, dtype=float)
    p = np.asarray(peak, dtype=float)
    months = h.size
    lvl = np.broadcast_to(np.asarray(flat, dtype=float), (months,))
    flex = np.broadcast_to(np.asarray(flexible, dtype=float), (months,))
    df = discount_factors(annual_to_monthly(discount_rate), np.arange(1, months + 1, dtype=float))
    od = next((o for o in offers if o.term == "on_demand"), None)
    contracts = [o for o in offers if o.term != "on_demand"]
    bases = _candidate_bases(h + flex, p, lvl, on_demand_cap_gpus)
    rows: list[tuple[float, TierOffer | None, float]] = []
    refused: list[str] = []
    for base in [None, *contracts]:
        rs = np.array([0.0]) if base is None else bases[bases > 0]
        burst_h, burst_g = burst_for_base(rs, h, p, lvl, flex)
        ok = np.ones(rs.size, dtype=bool)
        if od is None:
            ok &= burst_h.sum(axis=1) <= 0
        elif on_demand_cap_gpus is not None:
            ok &= burst_g <= on_demand_cap_gpus
        pv = np.zeros(rs.size)
        if od is not None:
            pv += (burst_h * rent_price_path(od.price_usd_per_gpu_hour, months, change_per_year,
                                             "on_demand") * df).sum(axis=1)
        if base is not None:
            pv += rs * HOURS_PER_MONTH * (rent_price_path(
                base.price_usd_per_gpu_hour, months, change_per_year, base.term) * df).sum()
        if base is None and od is not None and not ok.all():
            refused.append(f"on_demand alone: {burst_g[0]:,.0f} GPUs at once exceed the "
                           f"{on_demand_cap_gpus or 0:,.0f} {cloud} rents without a contract")
        rows += [(float(v), base, float(r)) for v, r, k in zip(pv, rs, ok) if k]
    if not rows:
        raise UserError(f"term: no rent mix can rent {p.max():,.0f} GPUs at once from {cloud}: "
                        f"on demand is capped at {on_demand_cap_gpus or 0:,.0f} and no "
                        f"reserved contract is published (a fleet this size needs a contract; "
                        f"overlay a quote)", field="term")
    pv_best, base, r_best = min(rows, key=lambda x: x[0])
    burst_h, burst_g = burst_for_base([r_best], h, p, lvl, flex)
    tiers = _tiers(burst_h[0], int(burst_g[0]), base, r_best, od)
    return MixChoice(tiers=tiers, pv_usd=pv_best,
                     reason=_reason(tiers, pv_best, rows, refused, cloud))


def _tiers(burst: np.ndarray, burst_gpus: int, base: TierOffer | None, r: float,
           od: TierOffer | None) -> list[BilledTier]:
    """The billed tiers of a base of ``r`` GPUs on ``base`` and the on-demand burst."""
    tiers: list[BilledTier] = []
    if base is not None and r > 0:
        tiers.append(BilledTier(term=base.term, gpus=int(r), price_usd_per_gpu_hour=base.
                                price_usd_per_gpu_hour, source=base.source, as_of=base.as_of,
                                billed_gpu_hours_per_month=[r * HOURS_PER_MONTH] * burst.size))
    if od is not None and burst_gpus >= 1 and burst.sum() > 0:
        tiers.append(BilledTier(term="on_demand", gpus=burst_gpus,
                                price_usd_per_gpu_hour=od.price_usd_per_gpu_hour,
                                source=od.source, as_of=od.as_of,
                                billed_gpu_hours_per_month=[float(x) for x in burst]))
    return tiers


def _reason(tiers: list[BilledTier], pv: float, rows: list[tuple[float, TierOffer | None, float]],
            refused: list[str], cloud: str) -> str:
    """One sentence: the mix chosen, its PV, the best of each other term, what was refused."""
    desc = " + ".join(f"{t.gpus:,} GPUs {t.term} at ${t.price_usd_per_gpu_hour:,.2f}"
                      + (" (billed every hour)" if t.contracted else " (burst, hours used)")
                      for t in tiers)
    best_term: dict[str, float] = {}
    for v, b, _ in rows:
        key = "on_demand" if b is None else b.term
        best_term[key] = min(best_term.get(key, np.inf), v)
    chosen = tiers[0].term if tiers else "on_demand"
    others = "; ".join(f"best on {k}: {v / USD_PER_MUSD:,.1f}M" for k, v in best_term.items()
                       if k != chosen)
    return (f"rent mix from {cloud}: {desc} is the cheapest of {len(rows)} feasible mixes "
            f"(PV of the bill {pv / USD_PER_MUSD:,.1f}M USD pre-tax"
            + (f"; {others}" if others else "") + ")"
            + ("".join(f"; refused: {r}" for r in refused)))
