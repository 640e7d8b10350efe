"""The loan inside the monthly cash-flow model: capex spend timing, draws, interest during
construction, the repayment schedule within the horizon, and its adjusted-present-value NPV.

Split from :mod:`gpuplan.money.cashflows` (which calls it once per simulation).

References
----------
.. [1] Brealey, Myers, Allen, *Principles of Corporate Finance*, 13th ed., ch. 19 (adjusted
   present value: the project in cash, financing valued on its own at the loan's rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpuplan.errors import UserError
from gpuplan.money.finance import LoanSchedule, discount_factors, loan_schedule
from gpuplan.money.types import TcoInputs
from gpuplan.units import MONTHS_PER_YEAR


@dataclass(frozen=True)
class LoanFlows:
    """Draws, fees and repayment schedule of the loan; arrays (n,) unless noted [USD]."""

    amount_usd: np.ndarray
    rate_per_year: np.ndarray
    principal_at_start_usd: np.ndarray
    upfront_fee_usd: np.ndarray
    extension_fee_usd: np.ndarray
    #: Month the extension fee is paid (-1: none within the horizon).
    extension_month: int
    balance_at_horizon_usd: np.ndarray
    interest_in_horizon_usd: np.ndarray
    #: Payments within the horizon, (n, k), at :attr:`payment_months_in_horizon` (k,).
    payments_in_horizon_usd: np.ndarray
    payment_months_in_horizon: np.ndarray
    #: Interest part of each payment within the horizon, (n, k) [USD].
    interest_payments_in_horizon_usd: np.ndarray
    #: Corporate tax rate the interest is deducted at [fraction].
    tax_rate: float
    #: The full schedule, arrays (n, periods), paid at :attr:`payment_months` (periods,).
    schedule: LoanSchedule
    payment_months: np.ndarray


@dataclass(frozen=True)
class Spend:
    """When the initial capex is paid: the facility over construction, IT at delivery.

    Attributes
    ----------
    facility : ndarray
        Share of the facility capex paid each month, (1, T + 1) [fraction]: evenly over the
        ``C`` construction months (all at month 0 without construction).
    hardware : ndarray
        Share of the IT capex (servers, network, storage, spares, installation) paid each month,
        (1, T + 1) [fraction]: at delivery, the last construction month, so that the fleet
        arrives when the hall is energised (the facility's lead time, not the servers', sets
        the date; servers are paid on delivery) [judgement].
    hardware_share : ndarray
        IT share of the initial capex per sample, (n, 1) [fraction].
    """

    facility: np.ndarray
    hardware: np.ndarray
    hardware_share: np.ndarray

    def pv_share(self, df: np.ndarray) -> np.ndarray:
        """Present value of one dollar of the initial capex, (n,) [USD/USD]."""
        w = self.hardware_share[:, 0]
        return w * (self.hardware * df).sum(axis=1) + (1 - w) * (self.facility * df).sum(axis=1)

    def monthly(self) -> np.ndarray:
        """Share of the initial capex paid each month, (n, T + 1) [fraction] (detail only)."""
        w = self.hardware_share
        return w * self.hardware + (1 - w) * self.facility


def spend_profile(construction_months: int, last_month: int, hardware_usd: np.ndarray,
                  facility_usd: np.ndarray) -> Spend:
    """The spend timing of the initial capex (:class:`Spend`).

    Parameters
    ----------
    construction_months : int
        Months before the first operating month [months].
    last_month : int
        Last month of the timeline [months].
    hardware_usd, facility_usd : ndarray
        IT and facility capex per sample, (n, 1) [USD].
    """
    C = construction_months
    facility = np.zeros((1, last_month + 1))
    hardware = np.zeros((1, last_month + 1))
    if C == 0:
        facility[0, 0] = hardware[0, 0] = 1.0
    else:
        facility[0, :C] = 1.0 / C
        hardware[0, C - 1] = 1.0
    total = np.maximum(hardware_usd + facility_usd, 1e-300)
    return Spend(facility=facility, hardware=hardware, hardware_share=hardware_usd / total)


def loan_rate_per_year(inp: TcoInputs) -> float:
    """Base rate + margin of the loan [fraction/year]."""
    if inp.loan_base_rate is None or inp.loan_margin is None:
        raise UserError("loan_base_rate and loan_margin must be given with a loan",
                        field="loan_base_rate")
    return inp.loan_base_rate + inp.loan_margin


def loan_flows(inp: TcoInputs, capex0: np.ndarray, shift: np.ndarray, spend: Spend,
               refi: np.ndarray | None = None) -> LoanFlows:
    """Draws, interest during construction, fees and the repayment schedule of the loan.

    Draws follow the capex spend (``spend``); interest during construction accrues monthly
    on each draw and is capitalised; repayments start at the first month of operation.
    ``refi`` (n, 1) is added to the rate after the base term when the extension is exercised
    (refinancing risk): each later period pays :math:`\\Delta / p` of its opening balance
    more, the principal schedule unchanged.
    """
    loan = inp.loan
    if loan is None:
        raise ValueError("no loan in these inputs")
    n = capex0.shape[0]
    C = inp.construction_months
    T = C + inp.months
    asked = np.full(n, loan.amount_usd) if loan.amount_usd else \
        loan.share_of_capex * capex0[:, 0]
    amount = np.minimum(asked, capex0[:, 0])             # a loan finances capex, no more
    rate = loan_rate_per_year(inp) + shift[:, 0]
    if C == 0:
        principal0 = amount
    else:  # each draw grows at the loan rate from its month to the first operating month
        tt = np.arange(C, dtype=float)
        grow = (1.0 + rate[:, None] / MONTHS_PER_YEAR) ** (C - tt[None, :])
        w = spend.hardware_share[:, 0]
        principal0 = amount * (w * (spend.hardware[:, :C] * grow).sum(axis=1)
                               + (1 - w) * (spend.facility[:, :C] * grow).sum(axis=1))
    ppy = loan.payments_per_year
    step = MONTHS_PER_YEAR // ppy
    nper = loan.periods
    sch = loan_schedule(principal0, rate / ppy, nper, loan.amortisation)
    pay, interest = sch["payment"], sch["interest"]
    if refi is not None and loan.extend and np.any(refi != 0):
        after = np.arange(nper) >= int(round(loan.term_years * ppy))
        extra = refi / ppy * sch["opening"] * after[None, :]
        pay, interest = pay + extra, interest + extra
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
    return LoanFlows(
        amount_usd=amount, rate_per_year=rate, principal_at_start_usd=principal0,
        upfront_fee_usd=loan.upfront_fee * amount, extension_fee_usd=ext_fee,
        extension_month=ext_month, balance_at_horizon_usd=balance_t,
        interest_in_horizon_usd=interest[:, inside].sum(axis=1),
        payments_in_horizon_usd=pay[:, inside],
        interest_payments_in_horizon_usd=interest[:, inside],
        tax_rate=inp.corporate_tax_rate,
        payment_months_in_horizon=months[inside], schedule=sch, payment_months=months)


def loan_discount_factors(lo: LoanFlows, payments_per_year: int, last_month: int
                          ) -> np.ndarray:
    """Discount factors of months 0 ... ``last_month`` at the loan's own rate, (n, T + 1).

    Notes
    -----
    The monthly rate :math:`j = (1 + r/p)^{1/s} - 1` (:math:`r` the nominal annual loan rate,
    :math:`p` payments a year, :math:`s = 12/p` months a period) compounds to the loan's
    periodic rate, so the payments of the schedule discount back to the principal exactly.
    """
    step = MONTHS_PER_YEAR // payments_per_year
    j = (1.0 + lo.rate_per_year / payments_per_year) ** (1.0 / step) - 1.0
    return discount_factors(j[:, None], np.arange(last_month + 1, dtype=float)[None, :])


def add_loan(npv_own: np.ndarray, lo: LoanFlows, spend: Spend, df_loan: np.ndarray,
              T: int, own: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``npv_own`` with the financing NPV of the loan added, and that NPV [USD]; adds the
    loan's cash flows to ``own`` in place when given.

    Notes
    -----
    Adjusted present value (Brealey, Myers, Allen ch. 19): the project is valued at the
    discount rate as if bought in cash; the loan's own flows (draws, fees, debt service, the
    balance repaid at the horizon) are discounted at the loan's rate, so a loan at its market
    rate is worth minus its fees.
    """
    draws = lo.amount_usd * spend.pv_share(df_loan)
    fin = draws - lo.upfront_fee_usd
    pm = lo.payment_months_in_horizon
    if pm.size:
        fin = fin - (lo.payments_in_horizon_usd * df_loan[:, pm]).sum(axis=1)
    fin = fin - lo.balance_at_horizon_usd * df_loan[:, T]
    if lo.extension_month >= 0:
        fin = fin - lo.extension_fee_usd * df_loan[:, lo.extension_month]
    if pm.size and lo.tax_rate > 0:             # interest tax shield, at the loan's rate
        shield = lo.tax_rate * lo.interest_payments_in_horizon_usd
        fin = fin + (shield * df_loan[:, pm]).sum(axis=1)
        if own is not None:
            own[:, pm] += shield
    if own is not None:
        own += lo.amount_usd[:, None] * spend.monthly()
        own[:, 0] -= lo.upfront_fee_usd
        if pm.size:
            own[:, pm] -= lo.payments_in_horizon_usd
        own[:, T] -= lo.balance_at_horizon_usd
        if lo.extension_month >= 0:
            own[:, lo.extension_month] -= lo.extension_fee_usd
    return npv_own + fin, fin
