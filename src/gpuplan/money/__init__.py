"""Economics: CapEx, OpEx, financing, own vs rent, budget inversion, risk, region rules.

Entry points (typed results whose ``model_dump()`` is the CLI's JSON):

- :func:`tco` — own vs rent for a cluster (``gpuplan tco``);
- :func:`risk` — Monte Carlo of NPV(own - rent) and a tornado chart;
- :func:`default_rent_usd_per_gpu_hour`, :func:`default_own_usd_per_gpu_hour`,
  :func:`run_cost_usd`, :func:`serve_cost` — ``cost_usd`` of ``gpuplan train`` / ``serve``;
- :func:`check_purchase_allowed` — export rules of a region;

Pure, vectorised model functions live in :mod:`~gpuplan.money.finance` (pmt, loan schedules,
NPV, IRR), :mod:`~gpuplan.money.capex`, :mod:`~gpuplan.money.opex`, :mod:`~gpuplan.money.cloud`,
:mod:`~gpuplan.money.region` and :mod:`~gpuplan.money.runs`.
"""

from gpuplan.money.cloud import default_rent_usd_per_gpu_hour, resolve_rent
from gpuplan.money.finance import LoanTerms, irr, loan_schedule, npv, parse_loan, pmt
from gpuplan.money.owning import TcoInputs, TcoResult, simulate, tco
from gpuplan.money.region import check_purchase_allowed, training_emissions_tco2e
from gpuplan.money.risk import Dist, RiskResult, risk
from gpuplan.money.runs import (
                                cost_usd_per_million_tokens,
                                default_own_usd_per_gpu_hour,
                                epoch_amortised_cost_usd,
                                run_cost_usd,
                                serve_cost,
                                training_run_cost_usd,
)

__all__ = [
    "Dist", "LoanTerms", "RiskResult", "TcoInputs", "TcoResult",
    "check_purchase_allowed", "cost_usd_per_million_tokens", "default_own_usd_per_gpu_hour",
    "default_rent_usd_per_gpu_hour", "epoch_amortised_cost_usd", "irr", "loan_schedule", "npv",
    "parse_loan", "pmt", "resolve_rent", "risk", "run_cost_usd", "serve_cost", "simulate", "tco",
    "training_emissions_tco2e", "training_run_cost_usd",
]
