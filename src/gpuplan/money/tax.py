"""Corporate tax in the own-versus-rent cash flows: depreciation shield and deductions.

With a profitable company every deductible cost saves the tax rate times its amount: the rent
bill and the owner's opex are deducted as paid, the hardware and the facility through
straight-line depreciation (:func:`depreciation`), a residual above book value is a taxable
gain. :func:`gpuplan.money.cashflows.simulate` applies them when the inputs carry a rate.

References
----------
.. [1] Brealey, Myers, Allen, *Principles of Corporate Finance*, 13th ed., ch. 6 (the
   depreciation tax shield) and ch. 19 (the interest tax shield in adjusted present value).
"""

from __future__ import annotations

import numpy as np

from gpuplan.money.types import TcoInputs
from gpuplan.units import MONTHS_PER_YEAR


def depreciation(hardware: np.ndarray, facility: np.ndarray, life_months: np.ndarray,
                 g_hw: np.ndarray, facility_life_years: float, M: int) -> np.ndarray:
    r"""Straight-line depreciation of each operating month, (n, M) [USD per month].

    Notes
    -----
    Operating month :math:`j = 0 \dots M-1` depreciates the vintage in service,
    :math:`k = \lfloor j / L \rfloor` (replaced at each end of the life :math:`L` months,
    bought at :math:`K (1 + g)^{kL/12}`), by :math:`K_k / L`, and the facility by
    :math:`F / (12 n_F)`. At the horizon the book value left is the ``book`` residual.
    """
    j = np.arange(M, dtype=float)[None, :]
    k = np.floor(j / life_months)
    hw = hardware * (1.0 + g_hw) ** (k * life_months / MONTHS_PER_YEAR) / life_months
    out: np.ndarray = hw + facility / (facility_life_years * MONTHS_PER_YEAR) * \
        (j < facility_life_years * MONTHS_PER_YEAR)
    return out


def tax_saved(inp: TcoInputs, tax: float, opex_y: np.ndarray, hardware: np.ndarray,
              facility: np.ndarray, life_months: np.ndarray, g_hw: np.ndarray,
              gain: np.ndarray, df: np.ndarray, C: int, own: np.ndarray | None) -> np.ndarray:
    r"""PV of the tax the owner saves, (n,) [USD]; adds the cash to ``own`` when given.

    Notes
    -----
    With a profitable company at tax rate :math:`\tau`: opex is deducted
    (:math:`+\tau\,O/12` a month), depreciation is a shield (:math:`+\tau D_j`,
    :func:`depreciation`), and a residual above book value is a taxable gain
    (:math:`-\tau (R - B)` at the horizon). Brealey, Myers, Allen ch. 6 (depreciation tax
    shield).
    """
    M, T = inp.months, C + inp.months
    dep = depreciation(hardware, facility, life_months, g_hw, inp.facility_life_years, M)
    saved = tax * (opex_y / MONTHS_PER_YEAR + dep)                    # (n, M)
    df_op = df[:, C + 1:]
    if own is not None:
        own[:, C + 1:] += saved
        own[:, T] -= tax * gain
    out: np.ndarray = (saved * df_op).sum(axis=1) - tax * gain * df[:, T]
    return out
