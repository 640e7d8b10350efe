"""Issue 14 item 7: the demand model's own validation error carried into the NPV's risk."""

from __future__ import annotations

import numpy as np
import pytest

from gpuplan.money.rentmix import TierOffer, cheapest_mix
from gpuplan.units import HOURS_PER_MONTH

OD = TierOffer("on_demand", 5.30, "test on-demand", None)
R1 = TierOffer("reserved_1yr", 3.28, "test 1-year", None)


def test_the_catalog_error_is_the_validation_reports():
    """costs/demand-gpu-hours-error is the `gpuplan validate` gpu_hours median |error| (it
    must be refreshed when the demand model's calibration moves it)."""
    from gpuplan.catalog import load_catalog
    from gpuplan.money._catalog import cost
    from gpuplan.validation import validate

    rep = validate().model_dump()
    row = next(r for r in rep["summary"] if r["quantity"] == "gpu_hours")
    x = cost(load_catalog(), "demand-gpu-hours-error").value
    assert row["cases"] >= 10
    assert x == pytest.approx(row["median_abs_error"], abs=0.03)


def _tco(offers):
    from gpuplan.money import tco

    months = 36
    hours = np.full(months, 300.0 * HOURS_PER_MONTH)
    hours[::6] *= 2                                   # a peak every half year
    mix = cheapest_mix(hours, hours / HOURS_PER_MONTH, offers, 2048.0, 0.08, 0.0)
    return tco("b200", 304, years=3, utilisation=0.8, rent_tiers=mix.tiers,
               rent_used_gpu_hours=float(hours.sum())), mix


def test_demand_error_moves_the_on_demand_hours_and_not_a_contract():
    from gpuplan.money.cashflows import simulate

    t, mix = _tco([OD, R1])
    assert [x.term for x in mix.tiers] == ["reserved_1yr", "on_demand"]
    s = simulate(t.inputs, detail=False, demand_multiplier=np.array([0.8, 1.0, 1.2]))
    rent = -s.rent_npv_usd
    # linear in the factor, and only the on-demand tier moves: +20 % demand = +20 % of it
    assert rent[2] - rent[1] == pytest.approx(rent[1] - rent[0], rel=1e-9)
    od = simulate(t.inputs.model_copy(update={"rent_tiers": mix.tiers[1:]}), detail=False)
    assert rent[2] - rent[1] == pytest.approx(0.2 * float(-od.rent_npv_usd[0]), rel=1e-9)
    t2, mix2 = _tco([R1])                             # contracted only: demand moves nothing
    s2 = simulate(t2.inputs, detail=False, demand_multiplier=np.array([0.8, 1.2]))
    assert s2.rent_npv_usd[0] == s2.rent_npv_usd[1]


def test_plan_draws_demand_within_the_validation_error():
    from gpuplan.pipeline.planner import plan
    from gpuplan.pipeline.scenario import parse_scenario

    r = plan(parse_scenario("""
name: small
horizon_years: 3
hardware_options: [{gpu: b200}]
workloads:
  - {kind: train, name: run, model: llama-3.1-8b, tokens: 2.0e+11, gpus: 64, runs_per_year: 6}
risk: {samples: 500, seed: 3}
"""))
    o = r.options[0]
    assert o.tco.inputs.demand_gpu_hours_error == pytest.approx(0.102)
    d = o.risk.distributions["demand_multiplier"]
    assert (d.low, d.mode, d.high) == pytest.approx((1 - 0.102, 1.0, 1 + 0.102))
    assert any("demand_multiplier" in n for n in o.tco.notes)


def test_refinancing_shift_costs_the_extra_interest_after_the_base_term():
    """A 3 + 2-year loan whose extension is refinanced Delta higher pays Delta / 12 of each
    opening balance from month 37 on; at the loan's own rate (APV) that is the financing NPV
    lost (pre-tax here, so no interest shield)."""
    from gpuplan.money import LoanTerms, tco
    from gpuplan.money.cashflows import simulate

    t = tco("b200", 256, years=5, loan=LoanTerms(term_years=3, extension_years=2))
    assert t.loan is not None
    j = t.loan.rate / 12
    delta = 0.014
    extra = sum(delta / 12 * row.opening_usd * (1 + j) ** -row.month
                for row in t.loan.schedule if row.period > 36 and row.month <= 60)
    s = simulate(t.inputs, detail=False, refinancing_rate_shift=np.array([0.0, delta]))
    assert s.financing_npv_usd[0] - s.financing_npv_usd[1] == pytest.approx(extra, rel=1e-9)
    assert s.npv_usd[0] - s.npv_usd[1] == pytest.approx(extra, rel=1e-9)
    # no extension exercised: nothing to refinance
    t2 = tco("b200", 256, years=5, loan=LoanTerms(term_years=5, extension_years=0))
    s2 = simulate(t2.inputs, detail=False, refinancing_rate_shift=np.array([0.0, delta]))
    assert s2.npv_usd[0] == s2.npv_usd[1]


def test_plan_prices_refinancing_at_the_gpu_backed_margin():
    """The prior runs from the agreed extension (0) to refinancing at the catalog's GPU-backed
    margin 2.25 % (theenergymag 2026-04-09) over the loan's 0.85 % (ByteDance 2024)."""
    from gpuplan.pipeline.planner import plan
    from gpuplan.pipeline.scenario import parse_scenario

    r = plan(parse_scenario("""
name: small loan
horizon_years: 5
hardware_options: [{gpu: b200}]
financing: {mode: loan, loan: {margin: 0.0085, term_years: 3, extension_years: 2}}
workloads:
  - {kind: train, name: run, model: llama-3.1-8b, tokens: 2.0e+11, gpus: 64, runs_per_year: 6}
risk: {samples: 500, seed: 3}
"""))
    d = r.options[0].risk.distributions["refinancing_rate_shift"]
    assert (d.low, d.mode, d.high) == pytest.approx((0.0, 0.0, 0.0225 - 0.0085))
    assert r.options[0].risk.probability_own_wins <= 1


def test_a_carbon_price_is_an_owned_opex_line():
    """Carbon price x location-based emissions: US grid 0.390 kg/kWh (EIA 2022, the catalog's
    regions/us) at 85 USD/t (an illustrative EU ETS level) on the facility's energy."""
    from gpuplan.money import tco

    base = tco("b200", 256, years=3)
    t = tco("b200", 256, years=3, carbon_usd_per_tco2e=85.0)
    e_kwh = t.energy_wh_per_year / 1000
    grid = t.inputs.grid_kg_co2_per_kwh
    assert t.opex_usd_per_year["carbon"] == pytest.approx(e_kwh * grid / 1000 * 85.0, rel=1e-12)
    assert base.opex_usd_per_year["carbon"] == 0
    assert t.opex_usd_per_year["total"] == pytest.approx(
        base.opex_usd_per_year["total"] + t.opex_usd_per_year["carbon"], rel=1e-12)
    assert t.npv_usd < base.npv_usd                          # only owning pays it
    assert t.rent["npv_cost_usd"] == base.rent["npv_cost_usd"]
    with pytest.raises(Exception) as e:
        tco("b200", 256, years=3, carbon_usd_per_tco2e=-1.0)
    assert getattr(e.value, "field", None) == "carbon_usd_per_tco2e"
