"""The levelised cost of an owned GPU-hour, by component (equivalent annual cost).

References
----------
.. [1] Brealey, Myers, Allen, *Principles of Corporate Finance*, 13th ed., ch. 6 (equivalent
   annual cost).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gpuplan.money import opex as ox
from gpuplan.money.capex import HARDWARE_KEYS
from gpuplan.money.finance import capital_recovery_factor
from gpuplan.money.types import TcoInputs
from gpuplan.units import HOURS_PER_YEAR

#: Parts of the owned GPU-hour (:func:`own_cost_breakdown`), in order.
OWN_BREAKDOWN_KEYS = ("compute", "network", "storage", "management", "facility_equipment",
                      "spares", "installation", "facility", "financing", "energy", "maintenance",
                      "staff", "software", "insurance", "colocation", "failures", "total")


def own_cost_breakdown(inp: TcoInputs, *, useful_life_years: npt.ArrayLike | None = None,
                       utilisation: npt.ArrayLike | None = None) -> dict[str, np.ndarray]:
    """Levelised cost of a used, owned GPU-hour by component [USD per GPU-hour].

    Parameters
    ----------
    inp : TcoInputs
        The baseline.
    useful_life_years : float or array, optional
        Hardware life [years] replacing the baseline's.
    utilisation : float or array, optional
        Share of hours used [fraction] replacing the baseline's; broadcasts with the life.

    Returns
    -------
    dict of numpy.ndarray
        One entry per :data:`OWN_BREAKDOWN_KEYS` [USD per GPU-hour].

    Notes
    -----
    For each capex part :math:`K_i` with life :math:`n_i` (hardware: useful life; facility:
    facility life) at the project's discount rate :math:`r` (adjusted present value: a loan at
    its market rate adds only its fees, so the capital is charged at one rate whoever lends it):
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
        amount = min(inp.loan.amount_usd or inp.loan.share_of_capex * capex0, capex0)
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
    out["total"] = sum((out[k] for k in OWN_BREAKDOWN_KEYS if k != "total"),
                       np.zeros_like(fin))
    return out
