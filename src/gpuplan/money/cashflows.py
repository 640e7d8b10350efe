"""The vectorised monthly cash-flow model of owning versus renting.

One model (:func:`simulate`) serves the single answer (:func:`gpuplan.money.tco`), the
sensitivity tables and the Monte Carlo risk run (:mod:`gpuplan.money.montecarlo`): every sampled
input may be an array of samples, and the months are the last axis.

Timeline (month t = 0 ... C + M; C construction months, M = 12 x years of operation)::

    own_t  = - capex spent_t (facility evenly over t < C, IT at t = C - 1; all at t = 0 when C = 0)
             - hardware replacement at each end of useful life     # price x (1 + g_hw)^(years)
             - opex_year / 12                      (t >= C + 1)     # energy, maintenance, staff ...
             + loan draws_t - fees - debt service_t                 # when a loan is given,
                                                                   # discounted at the loan rate
                                                                   # (APV); draws <= capex
             + residual value                      (t = C + M)     # hardware book (or market)
                                                                   # value + facility book value
    rent_t = - rent bill of month t - C - 1                 (t >= C + 1)

The rent bill is :func:`gpuplan.money.cloud.rent_cost_per_month` of the price path
:func:`gpuplan.money.cloud.rent_price_path`; present values use
:func:`gpuplan.money.finance.discount_factors` at the monthly rate of the annual discount rate.

The cost of an owned GPU-hour (:func:`own_cost_breakdown`) is a levelised annual cost over the
used GPU-hours: straight-line depreciation of each capex part over its life, plus the cost of
capital (capital recovery factor minus straight-line), plus the yearly opex, divided by
N x 8,766 h x u. Taxes, inflation and working capital are not modelled (pre-tax, nominal).

References
----------
.. [1] Brealey, Myers, Allen, *Principles of Corporate Finance*, 13th ed.: NPV (ch. 2), IRR
   (ch. 5), equivalent annual cost (ch. 6).
.. [2] Cottier et al. 2024, "The rising costs of training frontier AI models",
   arXiv:2405.21015 (amortised hardware cost; value decline 0.14 orders of magnitude a year).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpuplan.errors import UserError
from gpuplan.money import opex as ox
from gpuplan.money.capex import HARDWARE_KEYS
from gpuplan.money.cloud import rent_cost_per_month, rent_price_path
from gpuplan.money.debt import (
    LoanFlows,
    add_loan,
    loan_discount_factors,
    loan_flows,
    spend_profile,
)
from gpuplan.money.finance import annual_to_monthly, discount_factors, irr
from gpuplan.money.rentmix import tier_bill
from gpuplan.money.tax import tax_saved
from gpuplan.money.types import BilledTier, TcoInputs
from gpuplan.units import MONTHS_PER_YEAR

#: Inputs :func:`simulate` may sample, and what each does.
SIMULATION_INPUTS = {
    "gpu_price_multiplier": "factor on the compute and spares capex",
    "cloud_price_multiplier": "factor on the rental price",
    "energy_price_multiplier": "factor on the electricity price",
    "cloud_price_change_per_year": "replaces rent_price_change_per_year [fraction/year]",
    "utilisation": "replaces utilisation [fraction]",
    "useful_life_years": "replaces useful_life_years [years]",
    "interest_rate_shift": "added to the discount rate and the loan rate [fraction/year]",
    "failure_rate_per_year": "replaces failure_rate_per_year [fraction/year]",
    "hardware_price_change_per_year": "replaces hardware_price_change_per_year [fraction/year]",
    "discount_rate": "replaces discount_rate [fraction/year]",
    "demand_multiplier": "factor on the demand GPU-hours rented on demand, both sides",
    "refinancing_rate_shift": "added to the loan rate after its base term [fraction/year]",
}
#: Capex parts whose price scales with ``gpu_price_multiplier``.
GPU_PRICED_KEYS = ("compute", "spares")
#: Base of "orders of magnitude" (market value decays 10^(-k t)).
_DECADE = 10.0


@dataclass(frozen=True)
class CashFlowDetail:
    """The monthly arrays behind the NPVs (``simulate(..., detail=True)``)."""

    #: Own and rent cash flows, (n, T + 1) [USD], month 0 = first spend; outflows negative.
    own_usd: np.ndarray
    rent_usd: np.ndarray
    #: Rental price path and bill of each operating month, (n, M) [USD per GPU-hour; USD].
    rent_price_usd_per_gpu_hour: np.ndarray
    rent_bill_usd: np.ndarray
    #: PV of renting every hour at the price path, (n,) [USD] (for the break-even utilisation).
    rent_full_pv_usd: np.ndarray
    #: First month from which owning stays ahead, (n,) (-1: never).
    breakeven_month: np.ndarray


@dataclass(frozen=True)
class Simulation:
    """NPVs and yearly components of :func:`simulate`; arrays (n,) over the samples."""

    own_npv_usd: np.ndarray
    rent_npv_usd: np.ndarray
    #: NPV(own - rent) [USD]: positive means owning costs less.
    npv_usd: np.ndarray
    #: NPV of the loan's own flows at the loan rate (adjusted present value) [USD]; 0 in cash.
    financing_npv_usd: np.ndarray
    #: Yearly opex by component (``energy`` ... ``failures``) [USD/year].
    opex_usd_per_year: dict[str, np.ndarray]
    replacements_usd: np.ndarray
    residual_usd: np.ndarray
    loan: LoanFlows | None
    detail: CashFlowDetail | None

    def require_detail(self) -> CashFlowDetail:
        """The monthly arrays; a ValueError for a run with ``detail=False``."""
        if self.detail is None:
            raise ValueError("simulate(..., detail=False) keeps no monthly cash flows")
        return self.detail


@dataclass(frozen=True)
class _Draws:
    """The baseline with the sampled inputs applied; every array (n, 1)."""

    n: int
    gpu_price_multiplier: np.ndarray
    useful_life_years: np.ndarray
    hardware_price_change_per_year: np.ndarray
    electricity_usd_per_kwh: np.ndarray
    utilisation: np.ndarray
    rent_usd_per_gpu_hour: np.ndarray
    rent_price_change_per_year: np.ndarray
    failure_rate_per_year: np.ndarray
    interest_rate_shift: np.ndarray
    #: The discount rate with the interest-rate shift added [fraction/year].
    discount_rate: np.ndarray
    demand_multiplier: np.ndarray
    refinancing_rate_shift: np.ndarray


def _col(x: npt.ArrayLike, n: int) -> np.ndarray:
    a = np.asarray(x, dtype=float).reshape(-1, 1)
    return np.broadcast_to(a, (n, 1)) if a.shape[0] == 1 else a


def _draws(inp: TcoInputs, over: Mapping[str, npt.ArrayLike]) -> _Draws:
    """Check the sampled inputs and lay them out as (n, 1) columns."""
    bad = set(over) - set(SIMULATION_INPUTS)
    if bad:
        raise UserError(f"unknown simulation input(s) {', '.join(sorted(bad))}; accepted: "
                        f"{', '.join(sorted(SIMULATION_INPUTS))}")
    sizes = {np.size(v) for v in over.values()} - {1}
    if len(sizes) > 1:
        raise UserError("sampled inputs must all have the same length")
    n = sizes.pop() if sizes else 1
    life = _col(over.get("useful_life_years", inp.useful_life_years), n)
    if np.any(life <= 0):
        raise UserError("useful_life_years must be positive", field="useful_life_years")
    g_hw = _col(over.get("hardware_price_change_per_year", inp.hardware_price_change_per_year), n)
    g_rent = _col(over.get("cloud_price_change_per_year", inp.rent_price_change_per_year), n)
    if np.any(g_rent <= -1) or np.any(g_hw <= -1):
        raise UserError("a yearly price change must be above -100 %")
    shift = _col(over.get("interest_rate_shift", 0.0), n)
    return _Draws(
        n=n, gpu_price_multiplier=_col(over.get("gpu_price_multiplier", 1.0), n),
        useful_life_years=life, hardware_price_change_per_year=g_hw,
        electricity_usd_per_kwh=inp.electricity_usd_per_kwh
        * _col(over.get("energy_price_multiplier", 1.0), n),
        utilisation=_col(over.get("utilisation", inp.utilisation), n),
        rent_usd_per_gpu_hour=inp.rent_usd_per_gpu_hour
        * _col(over.get("cloud_price_multiplier", 1.0), n),
        rent_price_change_per_year=g_rent,
        failure_rate_per_year=_col(over.get("failure_rate_per_year", inp.failure_rate_per_year), n),
        interest_rate_shift=shift,
        discount_rate=_col(over.get("discount_rate", inp.discount_rate), n) + shift,
        demand_multiplier=_col(over.get("demand_multiplier", 1.0), n),
        refinancing_rate_shift=_col(over.get("refinancing_rate_shift", 0.0), n))


def _monthly_discount_factors(discount_rate: np.ndarray, last_month: int) -> np.ndarray:
    """Discount factors of months 0 ... ``last_month``: (1, T + 1), or (n, T + 1) when the
    annual rate [fraction/year] differs between samples."""
    rm = annual_to_monthly(discount_rate)
    rate = rm[:1] if np.all(rm == rm[0, 0]) else rm
    return discount_factors(rate, np.arange(last_month + 1, dtype=float)[None, :])


def _replacements(hardware: np.ndarray, life_months: np.ndarray, g_hw: np.ndarray,
                  df: np.ndarray, C: int, M: int, own: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """PV and cash [USD] of replacing the hardware at each end of its useful life (not at the
    horizon's end); subtracts the cash from ``own`` in place when given."""
    n = hardware.shape[0]
    rows = np.arange(n)
    pv_rep = np.zeros(n)
    rep_total = np.zeros(n)
    k = 1
    while True:
        m = (k * life_months)[:, 0]
        valid = m < M
        if not valid.any():
            break
        idx = (C + m[valid]).astype(int)
        r_ = rows[valid]
        cost_k = hardware[valid, 0] * (1.0 + g_hw[valid, 0]) ** (m[valid] / MONTHS_PER_YEAR)
        pv_rep[r_] += cost_k * (df[r_, idx] if df.shape[0] > 1 else df[0, idx])
        rep_total[r_] += cost_k
        if own is not None:
            own[r_, idx] -= cost_k
        k += 1
    return pv_rep, rep_total


def _opex_per_year(inp: TcoInputs, d: _Draws, compute: np.ndarray, hardware: np.ndarray,
                   facility: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Yearly opex by component, (n, 1) each, and their total [USD/year]."""
    n = d.n
    energy_y = ox.energy_usd_per_year(inp.energy_wh_per_year, d.electricity_usd_per_kwh)
    maint_y = ox.maintenance_usd_per_year(hardware, inp.maintenance_fraction_per_year)
    ins_y = ox.insurance_usd_per_year(hardware + facility, inp.insurance_fraction_per_year)
    staff_y = np.full((n, 1), float(ox.staff_usd_per_year(inp.staff_fte,
                                                          inp.staff_usd_per_fte_year)))
    soft_y = np.full((n, 1), float(ox.software_usd_per_year(inp.gpus,
                                                            inp.software_usd_per_gpu_year)))
    colo_y = np.full((n, 1), inp.colocation_usd_per_year)
    fail_y = ox.failures_usd_per_year(compute, d.failure_rate_per_year)
    carbon_y = np.full((n, 1), float(ox.carbon_usd_per_year(
        inp.energy_wh_per_year, inp.grid_kg_co2_per_kwh, inp.carbon_usd_per_tco2e)))
    total = energy_y + maint_y + ins_y + staff_y + soft_y + colo_y + fail_y + carbon_y
    parts = {"energy": energy_y, "maintenance": maint_y, "staff": staff_y, "software": soft_y,
             "insurance": ins_y, "colocation": colo_y, "failures": fail_y, "carbon": carbon_y}
    return parts, total


def _book_value(inp: TcoInputs, hardware: np.ndarray, facility: np.ndarray,
                life_months: np.ndarray, g_hw: np.ndarray) -> np.ndarray:
    """Book value at the horizon of the vintage in service and the facility, (n,) [USD]."""
    book = inp.model_copy(update={"residual": "book"})
    return _residual_value(book, hardware, facility, life_months, g_hw)


def _residual_value(inp: TcoInputs, hardware: np.ndarray, facility: np.ndarray,
                    life_months: np.ndarray, g_hw: np.ndarray) -> np.ndarray:
    """Value at the horizon of the current hardware vintage and the facility, (n,) [USD].

    Notes
    -----
    Book value: straight line over the useful life; market value: the purchase price decayed
    by :math:`10^{-k a}` for price-performance :math:`k` [orders of magnitude/year] over the
    age :math:`a` [years]. The facility keeps its straight-line book value.
    """
    M = inp.months
    n_rep = np.floor((M - 1) / life_months)
    age = M - n_rep * life_months
    vintage = hardware * (1.0 + g_hw) ** (n_rep * life_months / MONTHS_PER_YEAR)
    if inp.residual == "book":
        res_hw = vintage * np.clip(1.0 - age / life_months, 0.0, 1.0)
    else:
        res_hw = vintage * _DECADE ** (-inp.price_performance_ooms_per_year * age
                                       / MONTHS_PER_YEAR)
    res_fac = facility * max(0.0, 1.0 - (M / MONTHS_PER_YEAR) / inp.facility_life_years)
    out: np.ndarray = (res_hw + res_fac)[:, 0]
    return out


def _rent(inp: TcoInputs, d: _Draws, df_op: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rental price path and monthly bill, (n, M) each [USD per GPU-hour; USD]."""
    g = d.rent_price_change_per_year
    g_path = g[0, 0] if np.all(g == g[0, 0]) else g[:, 0]
    if inp.rent_tiers:
        bill, price = _tiers_bill(inp, d, inp.rent_tiers)
        bill = np.broadcast_to(bill, (d.n, inp.months)) + \
            inp.egress_bytes_per_month * inp.egress_usd_per_byte
        return np.broadcast_to(price, (d.n, inp.months)), bill
    price = np.broadcast_to(rent_price_path(d.rent_usd_per_gpu_hour[:, 0], inp.months, g_path,
                                            inp.rent_term), (d.n, inp.months))
    bill = rent_cost_per_month(inp.gpus, price,
                               np.minimum(d.utilisation[:, 0] * d.demand_multiplier[:, 0], 1.0),
                               inp.rent_term,
                               inp.egress_bytes_per_month, inp.egress_usd_per_byte)
    return price, bill


def _tiers_bill(inp: TcoInputs, d: _Draws, tiers: list[BilledTier]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Bill and blended price of a rent mix, (n, M) [USD; USD per GPU-hour]: the sampled
    price factor on every tier, the sampled utilisation scaling the on-demand hours."""
    g = d.rent_price_change_per_year[:, 0]
    return tier_bill(tiers, inp.months, d.rent_usd_per_gpu_hour[:, 0] / inp.rent_usd_per_gpu_hour,
                     g if np.any(g != g[0]) else g[:1],
                     d.utilisation[:, 0] / inp.utilisation * d.demand_multiplier[:, 0])


def simulate(inp: TcoInputs, *, detail: bool = True, **over: npt.ArrayLike) -> Simulation:
    """Own and rent cash flows and their NPVs for ``inp``, vectorised over ``over``.

    Parameters
    ----------
    inp : TcoInputs
        The baseline.
    detail : bool
        Also keep the monthly cash-flow arrays and the break-even month (False: NPVs only,
        without the rent cash-flow matrix: the Monte Carlo path).
    **over : float or array of shape (n,)
        Samples replacing a baseline value (:data:`SIMULATION_INPUTS`):
        ``gpu_price_multiplier`` (factor on compute and spares capex) [dimensionless],
        ``cloud_price_multiplier`` (factor on the rental price) [dimensionless],
        ``energy_price_multiplier`` (factor on the electricity price) [dimensionless],
        ``cloud_price_change_per_year`` [fraction/year], ``utilisation`` [fraction],
        ``useful_life_years`` [years], ``interest_rate_shift`` (added to the discount rate and
        the loan rate) [fraction/year], ``failure_rate_per_year`` [fraction/year],
        ``hardware_price_change_per_year`` [fraction/year], ``discount_rate`` [fraction/year].

    Returns
    -------
    Simulation
        NPVs (n,) [USD], yearly opex components [USD/year], replacements and residual value
        [USD], the loan flows, and with ``detail`` the monthly arrays.

    Notes
    -----
    Present values use discount factors :math:`d_t = (1 + r_m)^{-t}` with
    :math:`r_m = (1 + r)^{1/12} - 1`; the constant monthly opex is discounted with
    :math:`\\sum_{t=C+1}^{C+M} d_t`, so the NPV path and the cash-flow path are the same sums.
    """
    d = _draws(inp, over)
    n, M, C = d.n, inp.months, inp.construction_months
    T = C + M
    if M < 1:
        raise UserError("years: the horizon must be at least one month", field="years")
    cap = inp.capex_usd
    compute = cap["compute"] * d.gpu_price_multiplier
    spares = cap["spares"] * d.gpu_price_multiplier
    other_hw = sum(cap[k] for k in HARDWARE_KEYS if k not in GPU_PRICED_KEYS)
    hardware = compute + spares + other_hw
    facility = np.full((n, 1), cap["facility"])
    life_months = np.maximum(1.0, np.round(d.useful_life_years * MONTHS_PER_YEAR))
    g_hw = d.hardware_price_change_per_year

    df = _monthly_discount_factors(d.discount_rate, T)
    df_op = df[:, C + 1:]
    annuity = df_op.sum(axis=1)                         # sum of d_t over operating months
    capex0 = hardware + facility
    spend = spend_profile(C, T, hardware, facility)
    pv_spend = capex0[:, 0] * spend.pv_share(df)
    own = -capex0 * spend.monthly() if detail else None
    pv_rep, rep_total = _replacements(hardware, life_months, g_hw, df, C, M, own)
    opex_parts, opex_y = _opex_per_year(inp, d, compute, hardware, facility)
    pv_opex = opex_y[:, 0] / MONTHS_PER_YEAR * annuity
    if own is not None:
        own[:, C + 1:] -= opex_y / MONTHS_PER_YEAR
    residual = _residual_value(inp, hardware, facility, life_months, g_hw)
    if own is not None:
        own[:, T] += residual
    npv_own = -pv_spend - pv_rep - pv_opex + residual * df[:, T]
    tax = inp.corporate_tax_rate
    if tax > 0:
        gain = residual - _book_value(inp, hardware, facility, life_months, g_hw)
        npv_own = npv_own + tax_saved(inp, tax, opex_y, hardware, facility, life_months, g_hw,
                                      gain, df, C, own)
    lo = None
    financing_npv = np.zeros(n)
    if inp.loan is not None:
        lo = loan_flows(inp, capex0, d.interest_rate_shift, spend, d.refinancing_rate_shift)
        df_loan = loan_discount_factors(lo, inp.loan.payments_per_year, T)
        npv_own, financing_npv = add_loan(npv_own, lo, spend, df_loan, T, own)

    if inp.own_rent_tiers:                     # the hybrid: hours rented beyond the fleet
        burst = np.broadcast_to(_tiers_bill(inp, d, inp.own_rent_tiers)[0], (n, M)) * (1 - tax)
        npv_own = npv_own - (burst * df_op).sum(axis=1)
        if own is not None:
            own[:, C + 1:] -= burst
    price, bill = _rent(inp, d, df_op)
    bill = bill * (1.0 - tax)                  # the rent bill is deducted from taxable profit
    npv_rent = -(bill * df_op).sum(axis=1)
    cash = None
    if own is not None:
        rent = np.zeros((n, T + 1))
        rent[:, C + 1:] -= bill
        full_pv = (rent_cost_per_month(inp.gpus, price) * (1.0 - tax) * df_op).sum(axis=1)
        cash = CashFlowDetail(own_usd=own, rent_usd=rent, rent_price_usd_per_gpu_hour=price,
                              rent_bill_usd=bill, rent_full_pv_usd=full_pv,
                              breakeven_month=breakeven_month(own - rent))
    return Simulation(
        own_npv_usd=npv_own, rent_npv_usd=npv_rent, npv_usd=npv_own - npv_rent,
        financing_npv_usd=financing_npv,
        opex_usd_per_year={k: v[:, 0] for k, v in opex_parts.items()},
        replacements_usd=rep_total, residual_usd=residual, loan=lo, detail=cash)


def breakeven_month(diff: npt.ArrayLike) -> np.ndarray:
    """First month from which the cumulative own - rent cash flow stays non-negative.

    Parameters
    ----------
    diff : array (..., T + 1)
        Monthly own - rent cash flows [USD].

    Returns
    -------
    numpy.ndarray of int
        Month index (0 = never behind), or -1 when owning is still behind at the horizon.
    """
    cum = np.cumsum(np.asarray(diff, dtype=float), axis=-1)
    neg = cum < 0
    last_neg = neg.shape[-1] - 1 - np.argmax(neg[..., ::-1], axis=-1)
    out: np.ndarray = np.where(~neg.any(axis=-1), 0, np.where(neg[..., -1], -1, last_neg + 1))
    return out


def conventional_irr(values: npt.ArrayLike) -> float | None:
    """IRR per period of investment-type flows (outflows first, one sign change), else None.

    Parameters
    ----------
    values : array (T + 1,)
        Cash flows at the end of periods 0 ... T [USD].

    Notes
    -----
    With more than one sign change the IRR is not unique and can be misleading (a loan's
    bullet repayment turns the incremental flows into borrowing-type flows), so none is given.
    """
    v = np.asarray(values, dtype=float)
    nz = v[v != 0]
    if nz.size < 2 or nz[0] > 0:
        return None
    if int(np.count_nonzero(np.diff(np.sign(nz)))) != 1:
        return None
    r = irr(v)
    return r if math.isfinite(r) else None


# The levelised owned GPU-hour lives in :mod:`gpuplan.money.levelised`; re-exported here.
from gpuplan.money.levelised import OWN_BREAKDOWN_KEYS, own_cost_breakdown  # noqa: E402

__all__ = ["OWN_BREAKDOWN_KEYS", "SIMULATION_INPUTS", "CashFlowDetail", "LoanFlows",
           "Simulation", "breakeven_month", "conventional_irr", "loan_discount_factors",
           "own_cost_breakdown", "simulate"]
