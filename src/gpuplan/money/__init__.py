"""Economics: CapEx, OpEx, financing, own vs rent, budget inversion, risk, region rules.

Entry points (typed results whose ``model_dump()`` is the CLI's JSON):

- :func:`tco` — own vs rent for a cluster (``gpuplan tco``);
- :func:`risk` — Monte Carlo of NPV(own - rent) and a tornado chart;
- :func:`default_rent_usd_per_gpu_hour`, :func:`default_own_usd_per_gpu_hour`,
  :func:`run_cost_usd`, :func:`serve_cost` — ``cost_usd`` of ``gpuplan train`` / ``serve``;
- :func:`check_purchase_allowed` — export rules of a region;

Typed inputs and results are in :mod:`~gpuplan.money.types`; the one vectorised monthly
cash-flow model (NPVs, break-even, the owned GPU-hour) in :mod:`~gpuplan.money.cashflows`; the
catalog look-ups and result assembly of ``gpuplan tco`` in :mod:`~gpuplan.money.owning`. Pure,
vectorised model functions live in :mod:`~gpuplan.money.finance` (pmt, loan schedules, NPV,
IRR, discount factors), :mod:`~gpuplan.money.capex`, :mod:`~gpuplan.money.opex`,
:mod:`~gpuplan.money.cloud` (rent price paths and bills), :mod:`~gpuplan.money.region` and
:mod:`~gpuplan.money.runs`.

Each name loads its module on first use (PEP 562): ``gpuplan serve`` prices its tokens with
:mod:`~gpuplan.money.runs` alone and never loads the cash-flow model or the cluster builder
when the owned GPU-hour is already in the catalog's memo (:mod:`gpuplan.catalog.memo`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpuplan.money.cashflows import Simulation, simulate
    from gpuplan.money.cloud import default_rent_usd_per_gpu_hour, resolve_rent
    from gpuplan.money.finance import LoanTerms, irr, loan_schedule, npv, parse_loan, pmt
    from gpuplan.money.montecarlo import Dist, RiskResult, risk
    from gpuplan.money.owning import tco
    from gpuplan.money.region import check_purchase_allowed, training_emissions_tco2e
    from gpuplan.money.runs import (
        cost_usd_per_million_tokens,
        default_own_usd_per_gpu_hour,
        epoch_amortised_cost_usd,
        run_cost_usd,
        serve_cost,
        training_run_cost_usd,
    )
    from gpuplan.money.types import TcoInputs, TcoResult

#: The module of each public name.
_HOME: dict[str, str] = {
    **dict.fromkeys(("Simulation", "simulate"), "cashflows"),
    **dict.fromkeys(("default_rent_usd_per_gpu_hour", "resolve_rent"), "cloud"),
    **dict.fromkeys(("LoanTerms", "irr", "loan_schedule", "npv", "parse_loan", "pmt"), "finance"),
    **dict.fromkeys(("Dist", "RiskResult", "risk"), "montecarlo"),
    "tco": "owning",
    **dict.fromkeys(("check_purchase_allowed", "training_emissions_tco2e"), "region"),
    **dict.fromkeys(("cost_usd_per_million_tokens", "default_own_usd_per_gpu_hour",
                     "epoch_amortised_cost_usd", "run_cost_usd", "serve_cost",
                     "training_run_cost_usd"), "runs"),
    **dict.fromkeys(("TcoInputs", "TcoResult"), "types"),
}

__all__ = [  # the names of _HOME (tests/test_money_lazy.py checks that they agree)
    "Dist", "LoanTerms", "RiskResult", "Simulation", "TcoInputs", "TcoResult",
    "check_purchase_allowed", "cost_usd_per_million_tokens", "default_own_usd_per_gpu_hour",
    "default_rent_usd_per_gpu_hour", "epoch_amortised_cost_usd", "irr", "loan_schedule", "npv",
    "parse_loan", "pmt", "resolve_rent", "risk", "run_cost_usd", "serve_cost", "simulate", "tco",
    "training_emissions_tco2e", "training_run_cost_usd",
]


def __getattr__(name: str) -> Any:
    """Load the module that defines ``name`` (PEP 562) and return the name."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
