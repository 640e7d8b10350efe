"""One-at-a-time sensitivity tables of the TCO: useful life, utilisation, rent price path."""

from __future__ import annotations

import numpy as np

from gpuplan.catalog import Catalog
from gpuplan.money._catalog import cost
from gpuplan.money.cashflows import own_cost_breakdown, simulate
from gpuplan.money.types import (
    OwnSensitivityRow,
    RentSensitivityRow,
    Sensitivity,
    TcoInputs,
)

#: Useful lives shown in the sensitivity table (catalog ids, in order).
LIFE_SENSITIVITY_IDS = ("useful-life-critics-low", "useful-life-critics-high", "useful-life",
                        "useful-life-meta", "useful-life-hyperscaler")
UTILISATION_SENSITIVITY = (0.5, 0.7, 0.9, 1.0)
#: Rent price paths shown in the sensitivity table [fraction per year]; -0.276 = Epoch's
#: 0.14 orders of magnitude per year of price-performance (10^-0.14 - 1).
RENT_CHANGE_SENSITIVITY = (-0.276, -0.1, 0.0, 0.1)


def sensitivity_tables(inp: TcoInputs, cat: Catalog) -> Sensitivity:
    """NPV and cost per GPU-hour at the catalog's useful lives, a few utilisations and rent
    price paths, the other inputs at the baseline."""
    lives = np.array([cost(cat, i).value for i in LIFE_SENSITIVITY_IDS])
    s = simulate(inp, detail=False, useful_life_years=lives)
    own = own_cost_breakdown(inp, useful_life_years=lives)["total"]
    by_life = [OwnSensitivityRow(value=float(v), npv_usd=float(n), own_usd_per_gpu_hour=float(o))
               for v, n, o in zip(lives, s.npv_usd, own)]
    us = np.array(UTILISATION_SENSITIVITY)
    s = simulate(inp, detail=False, utilisation=us)
    own = own_cost_breakdown(inp, utilisation=us)["total"]
    by_u = [OwnSensitivityRow(value=float(v), npv_usd=float(n), own_usd_per_gpu_hour=float(o))
            for v, n, o in zip(us, s.npv_usd, own)]
    gs = np.array(RENT_CHANGE_SENSITIVITY)
    s = simulate(inp, cloud_price_change_per_year=gs)
    prices = s.require_detail().rent_price_usd_per_gpu_hour
    by_g = [RentSensitivityRow(value=float(v), npv_usd=float(n),
                               rent_mean_usd_per_gpu_hour=float(p.mean()))
            for v, n, p in zip(gs, s.npv_usd, prices)]
    return Sensitivity(useful_life_years=by_life, utilisation=by_u,
                       rent_price_change_per_year=by_g)
