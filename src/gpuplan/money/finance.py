"""Time value of money: payments, loan schedules, NPV, IRR, capital recovery.

Pure, vectorised functions (scalars or numpy arrays that broadcast), with the sign convention
of numpy-financial: money received is positive, money paid is negative. ``pmt``, ``npv`` and
``irr`` are our own implementations and are tested against numpy-financial as an independent
oracle (``tests/test_money.py``).

References
----------
.. [1] numpy-financial 1.0 (``pmt``, ``ipmt``, ``ppmt``, ``npv``, ``irr``),
   https://numpy.org/numpy-financial/ ; OASIS OpenDocument Formula v1.2, Part 2, section 6.12
   (PMT).
.. [2] Brealey, Myers, Allen, *Principles of Corporate Finance*, 13th ed., ch. 2 (present value,
   annuities) and ch. 6 (equivalent annual cost = PV x capital recovery factor).
.. [3] Gitman, *Principles of Managerial Finance, Brief*, 3rd ed., p. 348 (IRR).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from typing_extensions import TypedDict

from gpuplan.errors import UserError
from gpuplan.units import MONTHS_PER_YEAR

Amortisation = Literal["annuity", "linear", "bullet"]
#: Newton steps that polish each root of the IRR polynomial to machine precision.
_IRR_POLISH_STEPS = 8
#: Largest imaginary part of a root counted as real, relative to the largest root.
_IRR_REAL_ROOT_TOLERANCE = 1e-9
#: How far a term may be from a whole number of payment periods [periods].
_WHOLE_PERIODS_TOLERANCE = 1e-9


# ----------------------------------------------------------------------------------------------
# Payments and present values
# ----------------------------------------------------------------------------------------------

def pmt(rate: npt.ArrayLike, nper: npt.ArrayLike, pv: npt.ArrayLike, fv: npt.ArrayLike = 0.0,
        when: Literal["end", "begin"] = "end") -> np.ndarray:
    """Level payment per period that repays ``pv`` (and leaves ``fv``) over ``nper`` periods.

    Parameters
    ----------
    rate : float or array
        Interest rate per period [fraction per period].
    nper : float or array
        Number of periods [periods].
    pv : float or array
        Present value, e.g. the amount borrowed [USD].
    fv : float or array
        Future value left after the last payment [USD].
    when : {"end", "begin"}
        Payments at the end (ordinary annuity) or the beginning of each period.

    Returns
    -------
    numpy.ndarray
        Payment per period [USD per period]; negative for a positive ``pv`` (money paid).

    Notes
    -----
    With :math:`q = (1 + r)^n` and :math:`w = 1` for payments at the beginning, else 0:

    .. math:: \\mathrm{pmt} = -\\frac{fv + pv\\,q}{(1 + r w)(q - 1)/r},
              \\quad \\mathrm{pmt}(r{=}0) = -\\frac{fv + pv}{n}.
    """
    r, n, p, f = (np.asarray(x, dtype=float) for x in (rate, nper, pv, fv))
    w = 1.0 if when == "begin" else 0.0
    q = (1.0 + r) ** n
    zero = r == 0
    safe = np.where(zero, 1.0, r)
    fact = np.where(zero, n, (1.0 + safe * w) * (q - 1.0) / safe)
    out: np.ndarray = -(f + p * q) / fact
    return out


def discount_factors(rate_per_period: npt.ArrayLike, periods: npt.ArrayLike) -> np.ndarray:
    """Present value of 1 USD paid at the end of each period in ``periods`` [dimensionless].

    Parameters
    ----------
    rate_per_period : float or array
        Discount rate per period [fraction per period]; broadcasts against ``periods``.
    periods : float or array
        Periods from now [periods].

    Notes
    -----
    :math:`d_t = (1 + r)^{-t}`.
    """
    out: np.ndarray = (1.0 + np.asarray(rate_per_period, dtype=float)) ** (
        -np.asarray(periods, dtype=float))
    return out


def npv(rate: npt.ArrayLike, values: npt.ArrayLike, axis: int = -1) -> np.ndarray:
    """Net present value of cash flows at the end of periods 0, 1, ... [USD].

    Parameters
    ----------
    rate : float or array
        Discount rate per period [fraction per period]; broadcasts against ``values`` without
        its last axis.
    values : array
        Cash flows; ``values[..., 0]`` is at time 0 (not discounted) [USD].

    Notes
    -----
    :math:`\\mathrm{NPV} = \\sum_{t=0}^{T} v_t / (1 + r)^t` (numpy-financial convention: the
    first value is at t = 0).
    """
    v = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    t = np.arange(v.shape[-1])
    r = np.asarray(rate, dtype=float)[..., None]
    out: np.ndarray = (v * discount_factors(r, t)).sum(axis=-1)
    return out


def irr(values: npt.ArrayLike) -> float:
    """Internal rate of return per period: the rate where the NPV of ``values`` is 0.

    Returns ``nan`` where no real rate above -100 % exists (e.g. all flows of one sign). Where
    several exist (non-conventional flows), the one closest to zero is returned (the
    numpy-financial convention).

    Parameters
    ----------
    values : array, shape (T + 1,)
        Cash flows at the end of periods 0..T [USD].

    Notes
    -----
    With :math:`x = 1/(1 + r)`, :math:`\\mathrm{NPV} = \\sum_t v_t x^t` is a polynomial; its real
    roots :math:`x > 0` are found from the companion matrix (``numpy.roots``) and each is polished
    by Newton steps on the polynomial, then :math:`r = 1/x - 1`.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise UserError("irr needs a one-dimensional series of at least two cash flows")
    if not np.all(np.isfinite(v)):
        return float("nan")
    nz = np.flatnonzero(v)
    if nz.size == 0 or np.all(v[nz] > 0) or np.all(v[nz] < 0):
        return float("nan")
    # Strip leading zero flows (they shift t but not the root set) and trailing zeros.
    first, last = nz[0], nz[-1]
    core = v[first:last + 1]
    roots = np.roots(core[::-1])  # polynomial in x, highest power first
    tol = _IRR_REAL_ROOT_TOLERANCE * max(1.0, float(np.max(np.abs(roots))) if roots.size else 1.0)
    xs = roots.real[(np.abs(roots.imag) <= tol) & (roots.real > 0)]
    if xs.size == 0:
        return float("nan")
    poly = np.polynomial.Polynomial(core)
    dpoly = poly.deriv()
    for _ in range(_IRR_POLISH_STEPS):
        d = dpoly(xs)
        step = np.where(d != 0, poly(xs) / np.where(d != 0, d, 1.0), 0.0)
        xs = np.where(xs - step > 0, xs - step, xs)
    rates = 1.0 / xs - 1.0
    return float(rates[np.argmin(np.abs(rates))])


def annual_to_monthly(rate_per_year: npt.ArrayLike) -> np.ndarray:
    """Monthly rate with the same compounded annual effect [fraction per month].

    :math:`r_m = (1 + r)^{1/12} - 1` for ``rate_per_year`` :math:`r` [fraction per year].
    """
    out: np.ndarray = (1.0 + np.asarray(rate_per_year, dtype=float)) ** (1.0 / MONTHS_PER_YEAR) \
        - 1.0
    return out


def monthly_to_annual(rate_per_month: npt.ArrayLike) -> np.ndarray:
    """Annual rate [fraction per year] of ``rate_per_month`` :math:`r_m` [fraction per month].

    :math:`r = (1 + r_m)^{12} - 1`.
    """
    out: np.ndarray = (1.0 + np.asarray(rate_per_month, dtype=float)) ** MONTHS_PER_YEAR - 1.0
    return out


def capital_recovery_factor(rate: npt.ArrayLike, years: npt.ArrayLike) -> np.ndarray:
    """Level annual charge per USD invested that repays it with interest over ``years``.

    Parameters
    ----------
    rate : float or array
        Interest rate [fraction per year].
    years : float or array
        Repayment period [years].

    Returns
    -------
    numpy.ndarray
        Charge [USD per year per USD invested].

    Notes
    -----
    :math:`\\mathrm{CRF} = r / (1 - (1 + r)^{-n})`; :math:`1/n` at :math:`r = 0` [2]_.
    """
    r = np.asarray(rate, dtype=float)
    n = np.asarray(years, dtype=float)
    safe = np.where(r == 0, 1.0, r)
    return np.where(r == 0, 1.0 / n, safe / (1.0 - (1.0 + safe) ** (-n)))


# ----------------------------------------------------------------------------------------------
# Loan schedules
# ----------------------------------------------------------------------------------------------

class LoanSchedule(TypedDict):
    """A repayment schedule: one array per quantity, periods on the last axis [USD]."""

    opening: np.ndarray
    interest: np.ndarray
    principal: np.ndarray
    payment: np.ndarray
    closing: np.ndarray


def loan_schedule(principal: npt.ArrayLike, rate_per_period: npt.ArrayLike, nper: int,
                  kind: Amortisation = "annuity") -> LoanSchedule:
    """Full repayment schedule of a loan, vectorised over principals and rates.

    Parameters
    ----------
    principal : float or array
        Amount outstanding at the start of period 1 [USD].
    rate_per_period : float or array
        Interest rate per period [fraction per period]; broadcasts with ``principal``.
    nper : int
        Number of repayment periods [periods].
    kind : {"annuity", "linear", "bullet"}
        ``annuity``: level payments (interest + principal); ``linear``: equal principal each
        period; ``bullet``: interest only, all principal at the last period.

    Returns
    -------
    LoanSchedule, each array of shape ``broadcast(principal, rate) + (nper,)``
        ``opening``, ``interest``, ``principal``, ``payment``, ``closing`` [USD, positive = paid
        by the borrower]. ``principal`` sums to the amount borrowed.

    Notes
    -----
    Annuity: :math:`A = P r / (1 - (1 + r)^{-n})` (:math:`P/n` at :math:`r = 0`), balance after
    :math:`k` payments :math:`B_k = A (1 - (1 + r)^{-(n-k)})/r` (the present value of the
    payments still due, equal to :math:`P (1 + r)^k - A ((1 + r)^k - 1)/r`). Every kind: interest of
    period :math:`k` is :math:`r B_{k-1}`, principal is payment minus interest.
    """
    if not isinstance(nper, (int, np.integer)) or nper < 1:
        raise UserError(f"a loan needs at least one repayment period, got {nper!r}")
    P = np.asarray(principal, dtype=float)[..., None]
    r = np.asarray(rate_per_period, dtype=float)[..., None]
    P, r = np.broadcast_arrays(P, r)
    k = np.arange(1, nper + 1, dtype=float)
    if kind == "annuity":
        A = -pmt(r, nper, P)
        # Balance = present value of the payments still due (no cancellation for long loans):
        # B_k = A (1 - (1 + r)^-(n - k)) / r.
        safe = np.where(r == 0, 1.0, r)
        left = -np.expm1(-(nper - k) * np.log1p(safe))
        closing = np.where(r == 0, P * (1.0 - k / nper), A * left / safe)
        closing[..., -1] = 0.0
    elif kind == "linear":
        closing = P * (1.0 - k / nper)
    elif kind == "bullet":
        closing = np.broadcast_to(P, P.shape[:-1] + (nper,)).copy()
        closing[..., -1] = 0.0
    else:
        raise UserError(f"amortisation {kind!r} unknown; accepted: annuity, linear, bullet")
    opening = np.concatenate([P, closing[..., :-1]], axis=-1)
    interest = opening * r
    principal_paid = opening - closing
    return LoanSchedule(opening=opening, interest=interest, principal=principal_paid,
                        payment=interest + principal_paid, closing=closing)


class LoanTerms(BaseModel):
    """A loan that finances a share of the capital expenditure.

    Rates are nominal per year (``base_rate + margin``), paid ``payments_per_year`` times a year
    at ``rate / payments_per_year`` per period. Defaults: SOFR (3.95 %, 2025-11-14) plus the
    ByteDance 2024 syndicated-loan margin (0.85 %), 3 years extendable by 2 (the ByteDance 2024
    and 2026 loans), annuity repayment, monthly.

    Attributes
    ----------
    share_of_capex : float
        Share of the initial capex borrowed [fraction]; ignored when ``amount_usd`` is given.
    amount_usd : float, optional
        Amount borrowed [USD] (e.g. ByteDance's reported $20B).
    base_rate, margin : float, optional
        Base rate and margin [fraction per year]; None = catalog ``sofr`` and
        ``margin-investment-grade``.
    upfront_fee : float
        Arrangement fee paid at signing [fraction of the amount].
    term_years, extension_years : float
        Initial term and extension option [years]. ``extend`` exercises the option (the
        extension fee is then paid at the end of the initial term).
    amortisation : {"annuity", "linear", "bullet"}
    payments_per_year : {1, 2, 4, 12}
    """

    model_config = ConfigDict(extra="forbid")
    share_of_capex: float = Field(default=1.0, gt=0, le=1)
    amount_usd: float | None = Field(default=None, gt=0)
    base_rate: float | None = Field(default=None, ge=-0.05, le=1)
    margin: float | None = Field(default=None, ge=0, le=1)
    upfront_fee: float = Field(default=0.0, ge=0, le=0.2)
    term_years: float = Field(default=3.0, gt=0, le=40)
    extension_years: float = Field(default=2.0, ge=0, le=40)
    extend: bool = True
    extension_fee: float = Field(default=0.0, ge=0, le=0.2)
    amortisation: Amortisation = "annuity"
    payments_per_year: Literal[1, 2, 4, 12] = 12

    @model_validator(mode="after")
    def _whole_periods(self) -> LoanTerms:
        for name in ("term_years", "extension_years"):
            n = getattr(self, name) * self.payments_per_year
            if abs(n - round(n)) > _WHOLE_PERIODS_TOLERANCE:
                raise ValueError(f"{name} must be a whole number of payment periods "
                                 f"({self.payments_per_year} a year)")
        return self

    @property
    def years(self) -> float:
        """Tenor including the extension when exercised [years]."""
        return self.term_years + (self.extension_years if self.extend else 0.0)

    @property
    def periods(self) -> int:
        return int(round(self.years * self.payments_per_year))


#: Keys of the ``parse_loan`` text and the :class:`LoanTerms` field each sets.
LOAN_TEXT_KEYS = {"share": "share_of_capex", "amount": "amount_usd", "base": "base_rate",
                  "margin": "margin", "fee": "upfront_fee", "term": "term_years",
                  "ext": "extension_years", "extend": "extend", "ext_fee": "extension_fee",
                  "kind": "amortisation", "per_year": "payments_per_year"}
_NO_LOAN_TEXTS = ("", "none", "no", "cash")
_DEFAULT_LOAN_TEXTS = ("default", "yes", "loan")
_TRUE_TEXTS = ("1", "yes", "true", "y")


def parse_loan(text: str | None) -> LoanTerms | None:
    """``LoanTerms`` from a text such as ``share=0.7,margin=0.0225,term=3,ext=2,kind=bullet``.

    Parameters
    ----------
    text : str or None
        Comma-separated ``key=value`` pairs. Keys: share [fraction], amount [USD], base and
        margin [fraction/year], fee [fraction], term and ext [years], extend (yes/no), ext_fee
        [fraction], kind (annuity|linear|bullet), per_year [payments/year]. None, empty or
        ``none``: no loan; ``default``: every default.

    Raises
    ------
    UserError
        ``field="loan"``; the message starts with ``loan:`` and names the key at fault.
    """
    if text is None or text.strip().lower() in _NO_LOAN_TEXTS:
        return None
    if text.strip().lower() in _DEFAULT_LOAN_TEXTS:
        return LoanTerms()
    keys = LOAN_TEXT_KEYS
    out: dict[str, str | bool | int | float] = {}
    for part in text.split(","):
        if "=" not in part:
            raise UserError(f"loan: {part!r} is not key=value; keys: {', '.join(keys)}",
                            field="loan")
        k, v = (s.strip() for s in part.split("=", 1))
        if k not in keys:
            raise UserError(f"loan: unknown key {k!r}; accepted: {', '.join(keys)}",
                            field="loan")
        if k == "kind":
            out[keys[k]] = v
        elif k == "extend":
            out[keys[k]] = v.lower() in _TRUE_TEXTS
        else:
            try:
                out[keys[k]] = int(v) if k == "per_year" else float(v)
            except ValueError:
                raise UserError(f"loan: {k}={v!r} is not a number", field="loan") from None
    try:
        return LoanTerms.model_validate(out)
    except ValidationError as e:
        first = e.errors()[0]
        raise UserError(f"loan: {'.'.join(map(str, first['loc'])) or 'terms'}: "
                        f"{first['msg']}", field="loan") from None
