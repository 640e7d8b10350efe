"""Own versus rent: monthly cash flows, NPV, IRR, break-even, cost per GPU-hour.

One vectorised cash-flow model (:func:`simulate`) serves the single answer (:func:`tco`), the
sensitivity tables and the Monte Carlo risk run (:mod:`gpuplan.money.risk`): every parameter
may be an array of samples, and the months are the last axis.

Timeline (month t = 0 ... C + M; C construction months, M = 12 x years of operation)::

    own_t  = - capex spent_t (t < C, or all at t = 0)            # cash purchase or equity part
             - hardware replacement at each end of useful life     # price x (1 + g_hw)^(years)
             - opex_year / 12                      (t >= C + 1)     # energy, maintenance, staff ...
             + loan draws_t - fees - debt service_t                 # when a loan is given
             + residual value                      (t = C + M)     # hardware book (or market)
                                                                   # value + facility book value
    rent_t = - N x 730.5 h x p_t x (u if on demand else 1) - egress   (t >= C + 1)

``npv_usd`` = NPV(own_t - rent_t) at the discount rate (monthly compounding of the annual
rate): positive means owning costs less than renting. ``irr`` is the annual IRR of that
difference (the return on buying instead of renting), ``breakeven_months`` the first month its
cumulative sum turns non-negative. ``breakeven_utilisation`` is the utilisation below which
renting only the used hours (at the same price path) costs less than owning.

The cost of an owned GPU-hour is a levelised annual cost over the used GPU-hours:
straight-line depreciation of each capex part over its life, plus the cost of capital (capital
recovery factor minus straight-line), plus the yearly opex, divided by N x 8,766 h x u.
Taxes, inflation and working capital are not modelled (pre-tax, nominal).

References
----------
.. [1] Brealey, Myers, Allen, *Principles of Corporate Finance*, 13th ed.: NPV (ch. 2), IRR
   (ch. 5), equivalent annual cost (ch. 6).
.. [2] Cottier et al. 2024, "The rising costs of training frontier AI models",
   arXiv:2405.21015 (amortised hardware cost; value decline 0.14 orders of magnitude a year).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gpuplan.catalog import Catalog
from gpuplan.errors import UserError
from gpuplan.money import opex as ox
from gpuplan.money._catalog import Assumptions, get_catalog
from gpuplan.money.capex import (
    HARDWARE_KEYS,
    PricedLine,
    bom_totals,
    capex_breakdown,
    facility_build_usd,
    price_bom,
)
from gpuplan.money.cloud import TERM_MONTHS, resolve_rent
from gpuplan.money.finance import (
    LoanTerms,
    annual_to_monthly,
    capital_recovery_factor,
    irr,
    loan_schedule,
    monthly_to_annual,
)
from gpuplan.money.region import carbon_tco2e, check_purchase_allowed, region_entry
from gpuplan.units import HOURS_PER_MONTH, HOURS_PER_YEAR, MONTHS_PER_YEAR

MAX_YEARS = 30
#: Useful lives shown in the sensitivity table (catalog ids, in order).
LIFE_SENSITIVITY_IDS = ("useful-life-critics-low", "useful-life-critics-high", "useful-life",
                        "useful-life-meta", "useful-life-hyperscaler")
UTILISATION_SENSITIVITY = (0.5, 0.7, 0.9, 1.0)
#: Rent price paths shown in the sensitivity table [fraction per year]; -0.276 = Epoch's
#: 0.14 orders of magnitude per year of price-performance (10^-0.14 - 1).
RENT_CHANGE_SENSITIVITY = (-0.276, -0.1, 0.0, 0.1)
OWN_BREAKDOWN_KEYS = ("compute", "network", "storage", "management", "facility_equipment",
                      "spares", "installation", "facility", "financing", "energy", "maintenance",
                      "staff", "software", "insurance", "colocation", "failures", "total")


class TcoInputs(BaseModel):
    """Every scalar the cash-flow model uses, in base units (the defaults resolved)."""

    model_config = ConfigDict(extra="forbid")
    gpu: str
    system: str
    region: str
    gpus: int = Field(ge=1)
    years: float = Field(gt=0, le=MAX_YEARS)
    construction_months: int = Field(default=0, ge=0, le=120)
    capex_usd: dict[str, float]
    facility_mode: Literal["build", "colocation"]
    facility_life_years: float = Field(gt=0)
    useful_life_years: float = Field(gt=0, le=MAX_YEARS)
    residual: Literal["book", "market"] = "book"
    price_performance_ooms_per_year: float = Field(ge=0)
    hardware_price_change_per_year: float = Field(default=0.0, gt=-1, le=10)
    energy_wh_per_year: float = Field(ge=0)
    electricity_usd_per_kwh: float = Field(ge=0)
    maintenance_fraction_per_year: float = Field(ge=0, le=1)
    insurance_fraction_per_year: float = Field(ge=0, le=1)
    staff_fte: float = Field(ge=0)
    staff_usd_per_fte_year: float = Field(ge=0)
    software_usd_per_gpu_year: float = Field(ge=0)
    colocation_usd_per_year: float = Field(ge=0)
    failure_rate_per_year: float = Field(ge=0, le=1)
    rent_usd_per_gpu_hour: float = Field(gt=0)
    rent_term: Literal["on_demand", "reserved_1yr", "reserved_3yr"]
    rent_price_change_per_year: float = Field(default=0.0, gt=-1, le=10)
    egress_bytes_per_month: float = Field(default=0.0, ge=0)
    egress_usd_per_byte: float = Field(default=0.0, ge=0)
    utilisation: float = Field(gt=0, le=1)
    discount_rate: float = Field(gt=-0.5, le=1)
    loan: LoanTerms | None = None
    loan_base_rate: float | None = None
    loan_margin: float | None = None
    grid_kg_co2_per_kwh: float = Field(ge=0)

    @property
    def months(self) -> int:
        return int(round(self.years * MONTHS_PER_YEAR))


class LoanRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: int
    month: int
    opening_usd: float
    interest_usd: float
    principal_usd: float
    payment_usd: float
    closing_usd: float


class LoanOut(BaseModel):
    """The loan and its full repayment schedule (all USD, positive = paid by the borrower)."""

    model_config = ConfigDict(extra="forbid")
    amount_usd: float
    rate: float
    base_rate: float
    margin: float
    amortisation: str
    payments_per_year: int
    term_years: float
    extension_years: float
    extended: bool
    upfront_fee_usd: float
    extension_fee_usd: float
    interest_during_construction_usd: float
    principal_at_start_usd: float
    total_interest_usd: float
    balance_at_horizon_usd: float
    schedule: list[LoanRow]


class CashFlows(BaseModel):
    """Monthly cash flows [USD], month 0 = purchase; outflows negative."""

    model_config = ConfigDict(extra="forbid")
    month: list[int]
    own_usd: list[float]
    rent_usd: list[float]
    own_minus_rent_usd: list[float]
    cumulative_own_minus_rent_usd: list[float]


class TcoResult(BaseModel):
    """Result of :func:`tco`; ``model_dump()`` is ``gpuplan tco --json``."""

    model_config = ConfigDict(extra="forbid")
    gpu: str
    system: str
    region: str
    gpus: int
    nodes: int
    racks: int
    years: float
    construction_months: int
    facility_mode: str
    utilisation: float
    discount_rate: float
    useful_life_years: float
    purchase: dict[str, Any]
    capex_usd: dict[str, float]
    opex_usd_per_year: dict[str, float]
    depreciation_usd_per_year: dict[str, float]
    own: dict[str, Any]
    rent: dict[str, Any]
    npv_usd: float
    irr: float | None
    breakeven_months: int | None
    breakeven_utilisation: float | None
    cost_usd_per_gpu_hour: dict[str, Any]
    loan: LoanOut | None
    cash_flows: CashFlows
    sensitivity: dict[str, list[dict[str, float]]]
    energy_wh_per_year: float
    it_power_w: float
    it_max_power_w: float
    facility_power_w: float
    carbon_tco2e_per_year: float
    bom: list[PricedLine]
    assumptions: list[dict[str, Any]]
    notes: list[str]
    inputs: TcoInputs


# ----------------------------------------------------------------------------------------------
# The vectorised cash-flow model
# ----------------------------------------------------------------------------------------------

def _col(x, n: int) -> np.ndarray:
    a = np.asarray(x, dtype=float).reshape(-1, 1)
    return np.broadcast_to(a, (n, 1)) if a.shape[0] == 1 else a


def simulate(inp: TcoInputs, *, detail: bool = True, **over) -> dict[str, np.ndarray]:
    """Own and rent cash flows and their NPVs for ``inp``, vectorised over ``over``.

    Parameters
    ----------
    inp : TcoInputs
        The baseline.
    detail : bool
        Also return the monthly cash-flow arrays and the break-even month (False: NPVs only,
        without any (samples x months) cash-flow array: the Monte Carlo path).
    **over : float or array of shape (n,)
        Samples replacing a baseline value: ``gpu_price`` (multiplier on compute and spares
        capex), ``cloud_price`` (multiplier on the rent price), ``energy_price`` (multiplier on
        the electricity price), ``cloud_price_change_per_year``, ``utilisation``,
        ``useful_life_years``, ``interest_rate`` (added to the discount rate and the loan base
        rate) [fraction/year], ``failure_rate_per_year``, ``hardware_price_change_per_year``,
        ``discount_rate``.

    Returns
    -------
    dict of numpy.ndarray
        ``npv_own``, ``npv_rent``, ``npv`` (n,) [USD]; ``rent_full_pv`` (n,): PV of renting
        every hour billed per used hour at u = 1 [USD]; yearly components (n,) [USD/year];
        with ``detail``: ``own_cf``, ``rent_cf`` (n, T + 1) [USD], ``breakeven_month`` (n,)
        (-1 = never), ``rent_price`` (n, M), loan arrays.

    Notes
    -----
    Present values use discount factors :math:`d_t = (1 + r_m)^{-t}` with
    :math:`r_m = (1 + r)^{1/12} - 1`; the constant monthly opex is discounted with
    :math:`\\sum_{t=C+1}^{C+M} d_t`, so the NPV path and the cash-flow path are the same sums.
    """
    allowed = {"gpu_price", "cloud_price", "energy_price", "cloud_price_change_per_year",
               "utilisation", "useful_life_years", "interest_rate", "failure_rate_per_year",
               "hardware_price_change_per_year", "discount_rate"}
    bad = set(over) - allowed
    if bad:
        raise UserError(f"unknown simulation input(s) {', '.join(sorted(bad))}; accepted: "
                        f"{', '.join(sorted(allowed))}")
    sizes = {np.size(v) for v in over.values()} - {1}
    if len(sizes) > 1:
        raise UserError("sampled inputs must all have the same length")
    n = sizes.pop() if sizes else 1
    M = inp.months
    C = inp.construction_months
    T = C + M
    if M < 1:
        raise UserError("the horizon must be at least one month")
    cap = inp.capex_usd
    gmul = _col(over.get("gpu_price", 1.0), n)
    compute = cap["compute"] * gmul
    spares = cap["spares"] * gmul
    other_hw = sum(cap[k] for k in HARDWARE_KEYS if k not in ("compute", "spares"))
    hardware = compute + spares + other_hw
    facility = np.full((n, 1), cap["facility"])
    life = _col(over.get("useful_life_years", inp.useful_life_years), n)
    if np.any(life <= 0):
        raise UserError("useful life must be positive")
    L = np.maximum(1.0, np.round(life * MONTHS_PER_YEAR))
    g_hw = _col(over.get("hardware_price_change_per_year", inp.hardware_price_change_per_year), n)
    usd_kwh = inp.electricity_usd_per_kwh * _col(over.get("energy_price", 1.0), n)
    util = _col(over.get("utilisation", inp.utilisation), n)
    p0 = inp.rent_usd_per_gpu_hour * _col(over.get("cloud_price", 1.0), n)
    g_rent = _col(over.get("cloud_price_change_per_year", inp.rent_price_change_per_year), n)
    if np.any(g_rent <= -1) or np.any(g_hw <= -1):
        raise UserError("a yearly price change must be above -100 %")
    fail = _col(over.get("failure_rate_per_year", inp.failure_rate_per_year), n)
    shift = _col(over.get("interest_rate", 0.0), n)
    disc = _col(over.get("discount_rate", inp.discount_rate), n) + shift
    rows = np.arange(n)

    t = np.arange(T + 1, dtype=float)[None, :]
    rm = annual_to_monthly(disc)
    if np.all(rm == rm[0, 0]):
        df = (1.0 + rm[:1]) ** (-t)                     # (1, T + 1)
    else:
        df = np.exp(-np.log1p(rm) * t)                  # (n, T + 1)
    dfT = df[:, T]
    df_op = df[:, C + 1:]
    annuity = df_op.sum(axis=1)                         # sum of d_t over operating months
    capex0 = hardware + facility
    profile = np.zeros((1, T + 1))
    if C == 0:
        profile[0, 0] = 1.0
    else:
        profile[0, :C] = 1.0 / C
    pv_spend = capex0[:, 0] * (profile * df).sum(axis=1)
    own = rent = None
    if detail:
        own = -capex0 * profile
        rent = np.zeros((n, T + 1))
    # Replacement of the hardware at each end of useful life (not at the horizon's end).
    pv_rep = np.zeros(n)
    rep_total = np.zeros(n)
    k = 1
    while True:
        m = (k * L)[:, 0]
        valid = m < M
        if not valid.any():
            break
        idx = (C + m[valid]).astype(int)
        r_ = rows[valid]
        cost_k = hardware[valid, 0] * (1.0 + g_hw[valid, 0]) ** (m[valid] / MONTHS_PER_YEAR)
        pv_rep[r_] += cost_k * (df[r_, idx] if df.shape[0] > 1 else df[0, idx])
        rep_total[r_] += cost_k
        if detail:
            own[r_, idx] -= cost_k
        k += 1
    # Operating costs, paid monthly from the first month of operation.
    energy_y = ox.energy_usd_per_year(inp.energy_wh_per_year, usd_kwh)
    maint_y = ox.maintenance_usd_per_year(hardware, inp.maintenance_fraction_per_year)
    ins_y = ox.insurance_usd_per_year(hardware + facility, inp.insurance_fraction_per_year)
    staff_y = np.full((n, 1), float(ox.staff_usd_per_year(inp.staff_fte,
                                                          inp.staff_usd_per_fte_year)))
    soft_y = np.full((n, 1), float(ox.software_usd_per_year(inp.gpus,
                                                            inp.software_usd_per_gpu_year)))
    colo_y = np.full((n, 1), inp.colocation_usd_per_year)
    fail_y = ox.failures_usd_per_year(compute, fail)
    opex_y = energy_y + maint_y + ins_y + staff_y + soft_y + colo_y + fail_y
    pv_opex = opex_y[:, 0] / MONTHS_PER_YEAR * annuity
    if detail:
        own[:, C + 1:] -= opex_y / MONTHS_PER_YEAR
    # Residual value at the horizon: the current hardware vintage and the facility.
    n_rep = np.floor((M - 1) / L)
    age = M - n_rep * L
    vintage = hardware * (1.0 + g_hw) ** (n_rep * L / MONTHS_PER_YEAR)
    if inp.residual == "book":
        res_hw = vintage * np.clip(1.0 - age / L, 0.0, 1.0)
    else:
        res_hw = vintage * 10.0 ** (-inp.price_performance_ooms_per_year * age / MONTHS_PER_YEAR)
    res_fac = facility * max(0.0, 1.0 - (M / MONTHS_PER_YEAR) / inp.facility_life_years)
    residual = (res_hw + res_fac)[:, 0]
    if detail:
        own[:, T] += residual
    npv_own = -pv_spend - pv_rep - pv_opex + residual * dfT

    out: dict[str, np.ndarray] = {}
    if inp.loan is not None:
        lo = _loan_flows(inp, profile, capex0, shift, n, C, T)
        out.update(lo)
        npv_own = npv_own + lo["loan_amount"] * (profile * df).sum(axis=1) - lo["loan_fee"]
        pm = lo["loan_months_in"]
        if pm.size:
            dpm = df[:, pm]
            npv_own = npv_own - (lo["loan_payment_in"] * dpm).sum(axis=1)
        npv_own = npv_own - lo["loan_balance_t"] * dfT
        if lo["loan_ext_month"] >= 0:
            npv_own = npv_own - lo["loan_ext_fee"] * df[:, int(lo["loan_ext_month"])]
        if detail:
            own += lo["loan_amount"][:, None] * profile
            own[:, 0] -= lo["loan_fee"]
            if pm.size:
                own[:, pm] -= lo["loan_payment_in"]
            own[:, T] -= lo["loan_balance_t"]
            if lo["loan_ext_month"] >= 0:
                own[:, int(lo["loan_ext_month"])] -= lo["loan_ext_fee"]

    # Renting: the price path times the hours paid.
    j = np.arange(M, dtype=float)[None, :]
    Lr = TERM_MONTHS[inp.rent_term]
    start = np.floor(j / Lr) * Lr / MONTHS_PER_YEAR
    if np.all(g_rent == g_rent[0, 0]):
        growth = (1.0 + g_rent[:1]) ** start            # (1, M)
    else:
        growth = np.exp(np.log1p(g_rent) * start)       # (n, M)
    paid = util[:, 0] if inp.rent_term == "on_demand" else np.ones(n)
    hours = inp.gpus * HOURS_PER_MONTH
    x = np.broadcast_to((growth * df_op).sum(axis=1), (n,))
    egress = inp.egress_bytes_per_month * inp.egress_usd_per_byte
    rent_full_pv = hours * p0[:, 0] * x
    npv_rent = -(rent_full_pv * paid + egress * annuity)
    out.update(
        npv_own=npv_own, npv_rent=npv_rent, npv=npv_own - npv_rent, rent_full_pv=rent_full_pv,
        energy_y=energy_y[:, 0], maintenance_y=maint_y[:, 0], insurance_y=ins_y[:, 0],
        staff_y=staff_y[:, 0], software_y=soft_y[:, 0], colocation_y=colo_y[:, 0],
        failures_y=fail_y[:, 0], opex_y=opex_y[:, 0], hardware=hardware[:, 0],
        replacements=rep_total, residual=residual, capex0=capex0[:, 0])
    if detail:
        price = p0 * growth
        bill = hours * price * paid[:, None] + egress
        rent[:, C + 1:] -= bill
        diff = own - rent
        out.update(own_cf=own, rent_cf=rent, rent_price=np.broadcast_to(price, (n, M)),
                   rent_bill=bill, breakeven_month=breakeven_month(diff))
    return out


def breakeven_month(diff) -> np.ndarray:
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
    return np.where(~neg.any(axis=-1), 0, np.where(neg[..., -1], -1, last_neg + 1))


def conventional_irr(values) -> float | None:
    """IRR per period of investment-type flows (outflows first, one sign change), else None.

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


def _loan_flows(inp: TcoInputs, profile, capex0, shift, n, C, T) -> dict[str, np.ndarray]:
    """Draws, interest during construction, fees and the repayment schedule of the loan."""
    loan = inp.loan
    amount = np.full(n, loan.amount_usd) if loan.amount_usd else \
        loan.share_of_capex * capex0[:, 0]
    rate = inp.loan_base_rate + inp.loan_margin + shift[:, 0]
    if C == 0:
        principal0 = amount
    else:
        # Draws follow the capex spend; interest accrues monthly and is capitalised.
        tt = np.arange(C, dtype=float)
        grow = ((1.0 + rate[:, None] / MONTHS_PER_YEAR) ** (C - tt[None, :])).sum(axis=1)
        principal0 = amount / C * grow
    fee = loan.upfront_fee * amount
    ppy = loan.payments_per_year
    step = MONTHS_PER_YEAR // ppy
    nper = loan.periods
    sch = loan_schedule(principal0, rate / ppy, nper, loan.amortisation)
    months = C + step * np.arange(1, nper + 1)
    inside = months <= T
    last = int(inside.sum()) - 1
    if inside.all():
        balance_t = np.zeros(n)
    else:
        balance_t = sch["closing"][:, last] if last >= 0 else principal0
    ext_fee = np.zeros(n)
    ext_month = -1
    if loan.extend and loan.extension_years > 0 and loan.extension_fee > 0:
        kk = int(round(loan.term_years * ppy))
        m = C + step * kk
        if m <= T:
            ext_fee = loan.extension_fee * sch["closing"][:, kk - 1]
            ext_month = m
    return {"loan_amount": amount, "loan_rate": rate, "loan_principal0": principal0,
            "loan_fee": fee, "loan_ext_fee": ext_fee, "loan_ext_month": np.array(ext_month),
            "loan_balance_t": balance_t,
            "loan_interest_in": sch["interest"][:, inside].sum(axis=1),
            "loan_payment_in": sch["payment"][:, inside], "loan_months_in": months[inside],
            **{f"loan_{k}": v for k, v in sch.items()}, "loan_months": months}


def own_cost_breakdown(inp: TcoInputs, sim: dict[str, np.ndarray] | None = None, *,
                       useful_life_years=None, utilisation=None) -> dict[str, np.ndarray]:
    """Levelised cost of a used, owned GPU-hour by component [USD per GPU-hour].

    Notes
    -----
    For each capex part :math:`K_i` with life :math:`n_i` (hardware: useful life; facility:
    facility life) at capital rate :math:`r` (the discount rate, or the loan-weighted blend of
    the loan rate and the discount rate):
    depreciation :math:`K_i / n_i`, financing :math:`K_i (\\mathrm{CRF}(r, n_i) - 1/n_i)`; plus
    upfront loan fees spread over the tenor and the yearly opex. Each is divided by
    :math:`N \\cdot 8766\\,\\mathrm{h} \\cdot u`.
    """
    life = np.asarray(inp.useful_life_years if useful_life_years is None else useful_life_years,
                      dtype=float)
    u = np.asarray(inp.utilisation if utilisation is None else utilisation, dtype=float)
    cap = inp.capex_usd
    r = inp.discount_rate
    fees_y = 0.0
    if inp.loan is not None:
        capex0 = sum(cap[k] for k in HARDWARE_KEYS) + cap["facility"]
        amount = inp.loan.amount_usd or inp.loan.share_of_capex * capex0
        share = min(1.0, amount / capex0) if capex0 > 0 else 0.0
        r = share * (inp.loan_base_rate + inp.loan_margin) + (1.0 - share) * inp.discount_rate
        fees_y = inp.loan.upfront_fee * amount / inp.loan.years
    hours = inp.gpus * HOURS_PER_YEAR * u
    out: dict[str, np.ndarray] = {}
    fin = np.zeros(np.broadcast(life, u).shape)
    crf_hw = capital_recovery_factor(r, life)
    for k in HARDWARE_KEYS:
        out[k] = cap[k] / life / hours
        fin = fin + cap[k] * (crf_hw - 1.0 / life)
    fl = inp.facility_life_years
    out["facility"] = cap["facility"] / fl / hours * np.ones_like(fin)
    fin = fin + cap["facility"] * (capital_recovery_factor(r, fl) - 1.0 / fl)
    out["financing"] = (fin + fees_y) / hours
    hw = sum(cap[k] for k in HARDWARE_KEYS)
    yearly = {
        "energy": ox.energy_usd_per_year(inp.energy_wh_per_year, inp.electricity_usd_per_kwh),
        "maintenance": ox.maintenance_usd_per_year(hw, inp.maintenance_fraction_per_year),
        "staff": ox.staff_usd_per_year(inp.staff_fte, inp.staff_usd_per_fte_year),
        "software": ox.software_usd_per_year(inp.gpus, inp.software_usd_per_gpu_year),
        "insurance": ox.insurance_usd_per_year(hw + cap["facility"],
                                               inp.insurance_fraction_per_year),
        "colocation": np.asarray(inp.colocation_usd_per_year),
        "failures": ox.failures_usd_per_year(cap["compute"], inp.failure_rate_per_year)}
    for k, v in yearly.items():
        out[k] = v / hours * np.ones_like(fin)
    out["total"] = sum(out[k] for k in OWN_BREAKDOWN_KEYS if k != "total")
    return out


# ----------------------------------------------------------------------------------------------
# The entry point
# ----------------------------------------------------------------------------------------------

def _check_number(name: str, v, lo: float, hi: float, *, lo_open: bool = False) -> None:
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
            v > hi or (v <= lo if lo_open else v < lo):
        raise UserError(f"{name} must be a number {'above' if lo_open else 'from'} {lo:g} "
                        f"up to {hi:g}, got {v!r}")


def tco(gpu: str, gpus: int, *, system: str | None = None, region: str = "us",
        years: float = 5, utilisation: float | None = None, loan: LoanTerms | None = None,
        cloud: str | float | None = None, term: str | None = None,
        discount_rate: float | None = None, facility: Literal["build", "colocation"] = "build",
        useful_life_years: float | None = None, residual: Literal["book", "market"] = "book",
        rent_price_change_per_year: float = 0.0, hardware_price_change_per_year: float = 0.0,
        construction_months: int = 0, egress_bytes_per_month: float = 0.0,
        software_usd_per_gpu_year: float = 0.0, staff_fte: float | None = None,
        staff_gpus_per_fte: float | None = None, staff_usd_per_fte_year: float | None = None,
        failure_rate_per_year: float = 0.0,
        maintenance_fraction_per_year: float | None = None,
        electricity_usd_per_kwh: float | None = None, as_of: str | None = None,
        catalog: Catalog | None = None, cluster=None, cluster_kwargs: dict | None = None
        ) -> TcoResult:
    """Own versus rent for ``gpus`` accelerators ``gpu`` over ``years``.

    Parameters
    ----------
    gpu : str
        Accelerator id.
    gpus : int
        Accelerators [count]; the cluster rounds up to whole servers.
    system : str, optional
        System (server) id; default the cluster builder's choice.
    region : str
        ``regions`` id: electricity price, grid carbon, facility prices, export rules.
    years : float
        Horizon of operation [years] (whole months).
    utilisation : float, optional
        Share of hours doing useful work [fraction]; default catalog ``utilisation``.
    loan : LoanTerms, optional
        Finance part of the capex; None = cash purchase.
    cloud : str or float, optional
        ``clouds`` id or a price [USD per GPU-hour]; default the accelerator's default entry.
    term : {"on_demand", "reserved_1yr", "reserved_3yr"}, optional
        Rental commitment (default on demand).
    discount_rate : float, optional
        Annual discount rate [fraction/year]; default catalog ``discount-rate``.
    facility : {"build", "colocation"}
        Build the data centre (capex per W of IT) or rent colocation (opex per kW-month).
    useful_life_years : float, optional
        Hardware life [years]; default catalog ``useful-life``. Hardware is replaced at the end
        of its life within the horizon.
    residual : {"book", "market"}
        Hardware value at the horizon: straight-line book value, or purchase price decayed by
        price-performance (Epoch: 0.14 orders of magnitude a year).
    rent_price_change_per_year, hardware_price_change_per_year : float
        Yearly change of the rental and hardware prices [fraction/year].
    construction_months : int
        Months between the first spend and operation; loan interest during them is capitalised.
    egress_bytes_per_month : float
        Data moved out of the cloud each month [bytes/month].
    software_usd_per_gpu_year : float
        Licences [USD per GPU-year] (none in the catalog: default 0).
    staff_fte, staff_usd_per_fte_year : float, optional
        Staff [FTE] and loaded cost [USD/year]; defaults from the catalog (FTE per W of IT).
    staff_gpus_per_fte : float, optional
        Staff as accelerators per FTE [GPUs/FTE] instead of FTE per W (``staff_fte`` wins).
    failure_rate_per_year : float
        Share of compute hardware replaced per year beyond maintenance [fraction/year].
    maintenance_fraction_per_year, electricity_usd_per_kwh : float, optional
        Overrides of the catalog values.
    as_of : str, optional
        Purchase date for the export rules (default today).
    cluster : ClusterResult, optional
        A cluster already built; default ``gpuplan.cluster.build_cluster`` (or a proxy).

    Raises
    ------
    UserError
        Unknown ids, out-of-range values, an export-controlled purchase, no purchase price.
    """
    cat = get_catalog(catalog)
    a = Assumptions()
    notes: list[str] = []
    if isinstance(gpus, bool) or not isinstance(gpus, (int, np.integer)) or not 1 <= gpus <= 2**24:
        raise UserError(f"--gpus must be a whole number from 1 to {2**24}, got {gpus!r}")
    _check_number("--years", years, 0, MAX_YEARS, lo_open=True)
    if abs(years * MONTHS_PER_YEAR - round(years * MONTHS_PER_YEAR)) > 1e-9:
        raise UserError(f"--years must be a whole number of months, got {years!r}")
    _check_number("--utilisation", utilisation, 0, 1, lo_open=True)
    _check_number("--discount-rate", discount_rate, -0.5, 1, lo_open=True)
    _check_number("--useful-life-years", useful_life_years, 0, MAX_YEARS, lo_open=True)
    _check_number("rent_price_change_per_year", rent_price_change_per_year, -1, 10, lo_open=True)
    _check_number("hardware_price_change_per_year", hardware_price_change_per_year, -1, 10,
                  lo_open=True)
    _check_number("egress_bytes_per_month", egress_bytes_per_month, 0, 1e21)
    _check_number("software_usd_per_gpu_year", software_usd_per_gpu_year, 0, 1e7)
    _check_number("staff_fte", staff_fte, 0, 1e6)
    _check_number("staff_gpus_per_fte", staff_gpus_per_fte, 0, 1e9, lo_open=True)
    _check_number("staff_usd_per_fte_year", staff_usd_per_fte_year, 0, 1e8)
    _check_number("failure_rate_per_year", failure_rate_per_year, 0, 1)
    _check_number("maintenance_fraction_per_year", maintenance_fraction_per_year, 0, 1)
    _check_number("electricity_usd_per_kwh", electricity_usd_per_kwh, 0, 10)
    if isinstance(construction_months, bool) or not isinstance(construction_months, int) or \
            not 0 <= construction_months <= 120:
        raise UserError(f"construction_months must be a whole number 0-120, got "
                        f"{construction_months!r}")
    if facility not in ("build", "colocation"):
        raise UserError(f"--facility {facility!r} unknown; accepted: build, colocation")
    if residual not in ("book", "market"):
        raise UserError(f"--residual {residual!r} unknown; accepted: book, market")
    if loan is not None and not isinstance(loan, LoanTerms):
        raise UserError("loan must be LoanTerms (see gpuplan.money.parse_loan)")

    acc = cat.accelerator(gpu)
    reg = region_entry(region, cat)
    purchase = check_purchase_allowed(acc.id, reg.id, cat, as_of=as_of)
    if purchase.status == "licence":
        notes.append(f"export licence required for {acc.id} in region {reg.id}: "
                     f"{purchase.text}")
    if cluster is None:
        from gpuplan.money.cluster_source import get_cluster

        cluster = get_cluster(acc.id, gpus, system=system, catalog=cat, **(cluster_kwargs or {}))
    elif cluster.gpu != acc.id:
        raise UserError(f"the cluster given holds {cluster.gpu}, not {acc.id}")
    notes += [f"cluster: {n}" for n in cluster.notes]

    capex, colo_y, lines = price_cluster(cluster, cat, reg, facility, a, notes)

    if electricity_usd_per_kwh is None:
        elec = a.sourced("electricity_usd_per_kwh", reg.electricity_usd_per_kwh, "USD/kWh",
                         f"regions/{reg.id}")
    else:
        elec = float(electricity_usd_per_kwh)
        a.add("electricity_usd_per_kwh", elec, "USD/kWh")
    grid = a.sourced("grid_kg_co2_per_kwh", reg.grid_kg_co2_per_kwh, "kg CO2e/kWh",
                     f"regions/{reg.id}")
    energy_wh = float(cluster.power_w.energy_wh_per_year) or \
        float(cluster.power_w.facility) * HOURS_PER_YEAR
    maint = maintenance_fraction_per_year if maintenance_fraction_per_year is not None else \
        a.cost(cat, "maintenance", "maintenance_fraction_per_year")
    if maintenance_fraction_per_year is not None:
        a.add("maintenance_fraction_per_year", maint, "fraction/year")
    ins = a.cost(cat, "insurance", "insurance_fraction_per_year")
    if staff_fte is None and staff_gpus_per_fte is not None:
        staff_fte = int(cluster.gpus) / staff_gpus_per_fte
        a.add("staff_gpus_per_fte", staff_gpus_per_fte, "GPUs/FTE")
    elif staff_fte is None:
        staff_fte = float(ox.staff_fte(float(cluster.power_w.it_max),
                                       a.cost(cat, "staff-fte-per-w", "staff_fte_per_w")))
    else:
        a.add("staff_fte", staff_fte, "FTE")
    if staff_usd_per_fte_year is None:
        staff_usd_per_fte_year = a.cost(cat, "staff-loaded-cost", "staff_usd_per_fte_year")
    else:
        a.add("staff_usd_per_fte_year", staff_usd_per_fte_year, "USD/year")
    a.add("software_usd_per_gpu_year", software_usd_per_gpu_year, "USD per GPU-year",
          source="user input (no catalog price; default 0)")
    a.add("failure_rate_per_year", failure_rate_per_year, "fraction/year",
          source="user input (default 0: failures covered by maintenance)")
    if utilisation is None:
        utilisation = a.cost(cat, "utilisation", "utilisation")
    else:
        a.add("utilisation", utilisation, "fraction")
    if discount_rate is None:
        discount_rate = a.cost(cat, "discount-rate", "discount_rate")
    else:
        a.add("discount_rate", discount_rate, "fraction/year")
    if useful_life_years is None:
        useful_life_years = a.cost(cat, "useful-life", "useful_life_years")
    else:
        a.add("useful_life_years", useful_life_years, "years")
    fac_life = a.cost(cat, "facility-life", "facility_life_years")
    ooms = a.cost(cat, "price-performance-decay", "price_performance_ooms_per_year")

    rp = resolve_rent(acc.id, cloud, term, cat)
    notes += rp.notes
    a.add("rent_usd_per_gpu_hour", rp.price_usd_per_gpu_hour, "USD per GPU-hour",
          source=rp.source, as_of=rp.as_of, catalog_id=None if rp.cloud == "user"
          else f"clouds/{rp.cloud}")
    base = margin = None
    if loan is not None:
        base = loan.base_rate if loan.base_rate is not None else \
            a.cost(cat, "sofr", "loan_base_rate")
        margin = loan.margin if loan.margin is not None else \
            a.cost(cat, "margin-investment-grade", "loan_margin")

    inp = TcoInputs(
        gpu=acc.id, system=cluster.system, region=reg.id, gpus=int(cluster.gpus), years=years,
        construction_months=construction_months, capex_usd=capex, facility_mode=facility,
        facility_life_years=fac_life, useful_life_years=useful_life_years, residual=residual,
        price_performance_ooms_per_year=ooms,
        hardware_price_change_per_year=hardware_price_change_per_year,
        energy_wh_per_year=energy_wh, electricity_usd_per_kwh=elec,
        maintenance_fraction_per_year=maint, insurance_fraction_per_year=ins,
        staff_fte=staff_fte, staff_usd_per_fte_year=staff_usd_per_fte_year,
        software_usd_per_gpu_year=software_usd_per_gpu_year, colocation_usd_per_year=colo_y,
        failure_rate_per_year=failure_rate_per_year,
        rent_usd_per_gpu_hour=rp.price_usd_per_gpu_hour, rent_term=rp.term,
        rent_price_change_per_year=rent_price_change_per_year,
        egress_bytes_per_month=egress_bytes_per_month, egress_usd_per_byte=rp.egress_usd_per_byte,
        utilisation=utilisation, discount_rate=discount_rate, loan=loan, loan_base_rate=base,
        loan_margin=margin, grid_kg_co2_per_kwh=grid)
    return _result(inp, cluster, lines, purchase, rp, a, notes, cat)



def price_cluster(cluster, cat: Catalog, reg, facility: str, a: Assumptions,
                  notes: list[str]) -> tuple[dict[str, float], float, list[PricedLine]]:
    """CapEx by component [USD], colocation [USD/year] and the priced BOM of ``cluster``.

    The facility is built at ``facility_build_usd_per_w`` of the region (else the catalog's US
    average) times the nameplate IT power, or rented at the region's colocation price.
    """
    lines, unpriced = price_bom(cluster, cat, a)
    if unpriced:
        notes.append(f"no price for BOM item(s) {', '.join(sorted(set(unpriced)))}: counted as "
                     f"0; overlay a costs entry with bom_match or give the cluster a price")
    judged = sorted({ln.item for ln in lines if ln.judgement})
    if judged:
        notes.append(f"judgement prices (no public source) used for: {', '.join(judged)}")
    totals = bom_totals(lines)
    if totals["compute"] <= 0:
        raise UserError(f"no purchase price for {cluster.gpu} or its system {cluster.system} in "
                        f"the catalog, so owning cannot be priced (overlay price_usd on the "
                        f"system)")
    it_max = float(cluster.power_w.it_max)
    facility_usd = 0.0
    colo_y = 0.0
    if facility == "build":
        if reg.facility_build_usd_per_w is not None:
            usd_w = a.sourced("facility_build_usd_per_w", reg.facility_build_usd_per_w, "USD/W",
                              f"regions/{reg.id}")
        else:
            usd_w = a.cost(cat, "facility-build", "facility_build_usd_per_w", "USD/W")
            notes.append(f"region {reg.id} has no facility build price: the US average is used")
        facility_usd = float(facility_build_usd(it_max, usd_w))
    else:
        if reg.colocation_usd_per_kw_month is None:
            raise UserError(f"region {reg.id!r} has no colocation price; use --facility build or "
                            f"overlay colocation_usd_per_kw_month")
        colo = a.sourced("colocation_usd_per_kw_month", reg.colocation_usd_per_kw_month,
                         "USD per kW-month", f"regions/{reg.id}")
        colo_y = float(ox.colocation_usd_per_year(it_max, colo))
    spares_f = a.cost(cat, "spares", "spares_fraction")
    inst_f = a.cost(cat, "installation", "installation_fraction")
    capex = capex_breakdown(totals, facility_usd=facility_usd, spares_fraction=spares_f,
                            installation_fraction=inst_f)
    return capex, colo_y, lines


def tco_from_inputs(inp: TcoInputs) -> dict[str, float]:
    """Headline numbers of a :class:`TcoInputs` (no catalog, no cluster): for scripts/tests."""
    s = simulate(inp)
    return {"npv_usd": float(s["npv"][0]), "own_npv_cost_usd": float(-s["npv_own"][0]),
            "rent_npv_cost_usd": float(-s["npv_rent"][0]),
            "own_usd_per_gpu_hour": float(own_cost_breakdown(inp)["total"])}


def _result(inp: TcoInputs, cluster, lines, purchase, rp, a: Assumptions, notes: list[str],
            cat: Catalog) -> TcoResult:
    s = simulate(inp)
    M, C = inp.months, inp.construction_months
    own_cf, rent_cf = s["own_cf"][0], s["rent_cf"][0]
    diff = own_cf - rent_cf
    r_m = conventional_irr(diff)
    irr_annual = None if r_m is None else float(monthly_to_annual(r_m))
    be = int(s["breakeven_month"][0])
    full_pv = float(s["rent_full_pv"][0])
    own_pv = float(-s["npv_own"][0])
    be_u = own_pv / full_pv if full_pv > 0 else None
    opex = {"energy": s["energy_y"][0], "maintenance": s["maintenance_y"][0],
            "staff": s["staff_y"][0], "software": s["software_y"][0],
            "insurance": s["insurance_y"][0], "colocation": s["colocation_y"][0],
            "failures": s["failures_y"][0]}
    opex = {k: float(v) for k, v in opex.items()}
    opex["total"] = sum(opex.values())
    cap = inp.capex_usd
    dep = {"hardware": sum(cap[k] for k in HARDWARE_KEYS) / inp.useful_life_years,
           "facility": cap["facility"] / inp.facility_life_years}
    dep["total"] = dep["hardware"] + dep["facility"]
    bd = {k: float(v) for k, v in own_cost_breakdown(inp).items()}
    u = inp.utilisation
    price = s["rent_price"][0]
    rent_per_used = float(price.mean()) * (1.0 if inp.rent_term == "on_demand" else 1.0 / u)
    egress_month = inp.egress_bytes_per_month * inp.egress_usd_per_byte
    rent_per_used += egress_month / (inp.gpus * HOURS_PER_MONTH * u)

    loan_out = None
    financing_cash = 0.0
    if inp.loan is not None:
        ln = inp.loan
        rows = []
        months = s["loan_months"]
        for k in range(ln.periods):
            rows.append(LoanRow(period=k + 1, month=int(months[k]),
                                opening_usd=float(s["loan_opening"][0, k]),
                                interest_usd=float(s["loan_interest"][0, k]),
                                principal_usd=float(s["loan_principal"][0, k]),
                                payment_usd=float(s["loan_payment"][0, k]),
                                closing_usd=float(s["loan_closing"][0, k])))
        amount = float(s["loan_amount"][0])
        p0 = float(s["loan_principal0"][0])
        loan_out = LoanOut(
            amount_usd=amount, rate=float(s["loan_rate"][0]), base_rate=float(inp.loan_base_rate),
            margin=float(inp.loan_margin), amortisation=ln.amortisation,
            payments_per_year=ln.payments_per_year, term_years=ln.term_years,
            extension_years=ln.extension_years, extended=ln.extend,
            upfront_fee_usd=float(s["loan_fee"][0]), extension_fee_usd=float(s["loan_ext_fee"][0]),
            interest_during_construction_usd=p0 - amount, principal_at_start_usd=p0,
            total_interest_usd=float(s["loan_interest"][0].sum()),
            balance_at_horizon_usd=float(s["loan_balance_t"][0]), schedule=rows)
        financing_cash = float(s["loan_interest_in"][0]) + loan_out.upfront_fee_usd + \
            loan_out.extension_fee_usd + loan_out.interest_during_construction_usd
        if ln.years * MONTHS_PER_YEAR > M:
            notes.append(f"the loan outlives the horizon: {loan_out.balance_at_horizon_usd:,.0f} "
                         f"USD is repaid at month {C + M}")

    own = {"npv_cost_usd": own_pv, "capex_usd": cap["total"],
           "replacements_usd": float(s["replacements"][0]),
           "opex_usd": opex["total"] * M / MONTHS_PER_YEAR,
           "financing_usd": financing_cash, "residual_value_usd": float(s["residual"][0]),
           "total_cash_usd": float(-own_cf.sum())}
    rent = {"cloud": rp.cloud, "term": rp.term,
            "price_usd_per_gpu_hour": rp.price_usd_per_gpu_hour, "price_source": rp.source,
            "price_as_of": rp.as_of, "price_change_per_year": inp.rent_price_change_per_year,
            "mean_price_usd_per_gpu_hour": float(price.mean()),
            "egress_usd": egress_month * M, "npv_cost_usd": float(-s["npv_rent"][0]),
            "total_cash_usd": float(-rent_cf.sum())}
    sens = _sensitivity(inp, cat)
    t = list(range(C + M + 1))
    cf = CashFlows(month=t, own_usd=[float(x) for x in own_cf],
                   rent_usd=[float(x) for x in rent_cf],
                   own_minus_rent_usd=[float(x) for x in diff],
                   cumulative_own_minus_rent_usd=[float(x) for x in np.cumsum(diff)])
    if inp.facility_mode == "build":
        notes.append("facility built: its book value at the horizon is returned as residual value")
    return TcoResult(
        gpu=inp.gpu, system=inp.system, region=inp.region, gpus=inp.gpus, nodes=cluster.nodes,
        racks=cluster.racks, years=inp.years, construction_months=C,
        facility_mode=inp.facility_mode, utilisation=u, discount_rate=inp.discount_rate,
        useful_life_years=inp.useful_life_years, purchase=purchase.model_dump(),
        capex_usd=cap, opex_usd_per_year=opex, depreciation_usd_per_year=dep, own=own, rent=rent,
        npv_usd=float(s["npv"][0]), irr=irr_annual, breakeven_months=None if be < 0 else be,
        breakeven_utilisation=be_u,
        cost_usd_per_gpu_hour={"own": bd["total"], "rent": rent_per_used, "own_breakdown": bd,
                               "utilisation": u},
        loan=loan_out, cash_flows=cf, sensitivity=sens,
        energy_wh_per_year=inp.energy_wh_per_year, it_power_w=float(cluster.power_w.it),
        it_max_power_w=float(cluster.power_w.it_max),
        facility_power_w=float(cluster.power_w.facility),
        carbon_tco2e_per_year=float(carbon_tco2e(inp.energy_wh_per_year,
                                                 inp.grid_kg_co2_per_kwh)),
        bom=lines, assumptions=a.rows, notes=notes, inputs=inp)


def _sensitivity(inp: TcoInputs, cat: Catalog) -> dict[str, list[dict[str, float]]]:
    from gpuplan.money._catalog import cost

    lives = np.array([cost(cat, i).value for i in LIFE_SENSITIVITY_IDS])
    s = simulate(inp, useful_life_years=lives)
    own = own_cost_breakdown(inp, useful_life_years=lives)["total"]
    out = {"useful_life_years": [
        {"value": float(v), "npv_usd": float(n), "own_usd_per_gpu_hour": float(o)}
        for v, n, o in zip(lives, s["npv"], own)]}
    us = np.array(UTILISATION_SENSITIVITY)
    s = simulate(inp, utilisation=us)
    own = own_cost_breakdown(inp, utilisation=us)["total"]
    out["utilisation"] = [{"value": float(v), "npv_usd": float(n), "own_usd_per_gpu_hour": float(o)}
                          for v, n, o in zip(us, s["npv"], own)]
    gs = np.array(RENT_CHANGE_SENSITIVITY)
    s = simulate(inp, cloud_price_change_per_year=gs)
    out["rent_price_change_per_year"] = [
        {"value": float(v), "npv_usd": float(n),
         "rent_mean_usd_per_gpu_hour": float(p.mean())}
        for v, n, p in zip(gs, s["npv"], s["rent_price"])]
    return out
