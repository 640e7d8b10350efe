"""Issue 14: demand as a monthly profile, the rent side's cheapest feasible mix, the hybrid.

Identities pinned here: a reserved fleet pays every hour; on demand beyond the obtainable fleet
is refused in one line; the training schedule conserves GPU-hours; the break-even rent price
with an owner's burst makes NPV zero.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from gpuplan.errors import UserError
from gpuplan.money.profile import (
    always_on_gpus,
    backfill_hours,
    percentile_fleet,
    split_profile,
    training_schedule,
)
from gpuplan.money.rentmix import TierOffer, cheapest_mix, tier_bill
from gpuplan.units import HOURS_PER_MONTH, HOURS_PER_YEAR

OD = TierOffer("on_demand", 5.30, "test on-demand", None)
R1 = TierOffer("reserved_1yr", 3.28, "test 1-year", None)
R3 = TierOffer("reserved_3yr", 2.50, "test 3-year", None)


def test_training_schedule_conserves_gpu_hours_and_takes_turns():
    # 4 runs a year of 1,000 h on 16,384 GPUs and 1 run of 300 h on 8,192, over 5 years
    h, p, past = training_schedule([16384, 8192], [1000.0, 300.0], [4, 1], 60)
    assert past.sum() == 0
    assert h[0].sum() == pytest.approx(4 * 5 * 1000.0 * 16384, rel=1e-12)
    assert h[1].sum() == pytest.approx(5 * 300.0 * 8192, rel=1e-12)
    # one track: in no month do the two workloads' hours exceed the widest run x the month
    assert np.all(h.sum(axis=0) <= 16384 * HOURS_PER_MONTH * (1 + 1e-12))
    assert set(np.unique(p[0])) <= {0.0, 16384.0}
    # the first run is due at hour 0: month 0 holds 730.5 h of it
    assert h[0, 0] == pytest.approx(16384 * HOURS_PER_MONTH)


def test_training_queue_past_the_horizon_is_reported_not_hidden():
    # two runs a year of 0.6 year each do not fit one track: the queue spills past the end
    h, _, past = training_schedule([8], [0.6 * HOURS_PER_YEAR], [2], 12)
    assert past[0] > 0
    assert h.sum() + past.sum() == pytest.approx(2 * 0.6 * HOURS_PER_YEAR * 8, rel=1e-12)


def test_always_on_follows_yearly_growth_to_the_peak_year():
    n = always_on_gpus([169.0], [0.3], 60)[0]
    assert n[-1] == pytest.approx(169.0)                  # the last year is the peak year
    assert n[0] == pytest.approx(169.0 / 1.3 ** 4)        # year 1 is the stated traffic
    assert np.all(np.diff(n) >= 0)


def test_split_sends_a_run_wider_than_the_fleet_to_rent_whole():
    hours = np.array([[100.0 * HOURS_PER_MONTH], [50.0 * HOURS_PER_MONTH]])
    peak = np.array([[100.0], [50.0]])
    owned, over = split_profile(hours, peak, 80.0)
    assert owned[0, 0] == 0 and over[0, 0] == hours[0, 0]     # 100-wide run cannot run on 80
    assert owned[1, 0] == hours[1, 0] and over[1, 0] == 0
    owned, over = split_profile(hours, peak, 120.0)           # both fit the width, not the hours
    assert owned.sum() == pytest.approx(120.0 * HOURS_PER_MONTH)
    assert (owned + over).sum() == pytest.approx(hours.sum())


def test_backfill_and_percentile_fleet():
    b = backfill_hours(np.array([0.0, 0.5, 0.9]) * 10 * HOURS_PER_MONTH, 10, 0.85)
    assert b == pytest.approx(np.array([0.85, 0.35, 0.0]) * 10 * HOURS_PER_MONTH)
    busy = np.arange(1, 11, dtype=float) * HOURS_PER_MONTH      # 1 ... 10 GPUs busy
    assert percentile_fleet(busy, 1.0) == 10
    assert percentile_fleet(busy, 0.5) == 6                      # ceil(5.5)


def test_a_reserved_3yr_fleet_pays_every_hour():
    """Issue 14 acceptance: a fleet on a 3-year reserved contract billed 24/7 costs at least
    its reserved rate x hours x fleet size, whatever the demand."""
    months = 36
    hours = np.full(months, 0.3 * 1000 * HOURS_PER_MONTH)          # 30 % busy
    peak = np.full(months, 1000.0)
    mix = cheapest_mix(hours, peak, [R3], None, 0.08, 0.0)
    assert [(t.term, t.gpus) for t in mix.tiers] == [("reserved_3yr", 1000)]
    bill, _ = tier_bill(mix.tiers, months)
    assert bill.sum() == pytest.approx(2.50 * 1000 * months * HOURS_PER_MONTH, rel=1e-12)
    # a falling market price does not reach a 3-year contract within its term
    bill, _ = tier_bill(mix.tiers, months, change_per_year=-0.3)
    assert bill.sum() >= 2.50 * 1000 * months * HOURS_PER_MONTH * (1 - 1e-12)
    # on the same demand, at 30 % busy, the rent side's cheapest mix is on demand (no cap)
    cheap = cheapest_mix(hours, peak, [OD, R3], None, 0.08, 0.0)
    assert [t.term for t in cheap.tiers] == ["on_demand"]


def test_on_demand_beyond_the_obtainable_fleet_is_refused_in_one_line():
    hours = np.full(12, 5000.0 * HOURS_PER_MONTH)
    peak = np.full(12, 5000.0)
    with pytest.raises(UserError) as e:
        cheapest_mix(hours, peak, [OD], 2048.0, 0.08, 0.0, "market-b200")
    msg = str(e.value)
    assert "\n" not in msg and e.value.field == "term" and "2,048" in msg and "5,000" in msg
    # with a contract published, the base covers what on demand cannot
    mix = cheapest_mix(hours, peak, [OD, R1], 2048.0, 0.08, 0.0, "market-b200")
    assert mix.tiers[0].term == "reserved_1yr" and mix.tiers[0].gpus >= 5000 - 2048
    assert "refused: on_demand alone" in mix.reason


def test_mix_buys_a_base_and_bursts_for_a_spiky_profile():
    # 1,000 GPUs always, 2,000 more in 2 months of 12: base ~1,000 reserved, burst on demand
    hours = np.full(12, 1000.0 * HOURS_PER_MONTH)
    hours[[3, 9]] += 2000.0 * HOURS_PER_MONTH
    peak = hours / HOURS_PER_MONTH
    mix = cheapest_mix(hours, peak, [OD, R1], 4096.0, 0.0, 0.0)
    base = mix.tiers[0]
    assert base.term == "reserved_1yr" and base.gpus == 1000
    assert mix.tiers[1].term == "on_demand" and mix.tiers[1].gpus == 2000
    expect = 12 * 1000 * HOURS_PER_MONTH * 3.28 + 2 * 2000 * HOURS_PER_MONTH * 5.30
    assert mix.pv_usd == pytest.approx(expect, rel=1e-12)     # at a 0 discount rate


def test_breakeven_rent_with_an_owners_burst_makes_npv_zero():
    from gpuplan.money import tco
    from gpuplan.money.breakeven import breakeven_rent_usd_per_gpu_hour
    from gpuplan.money.cashflows import simulate

    months = 60
    hours = np.full(months, 256.0 * HOURS_PER_MONTH)
    rent = cheapest_mix(hours, np.full(months, 256.0), [OD, R1], 2048.0, 0.08, -0.1)
    burst = cheapest_mix(np.full(months, 32.0 * HOURS_PER_MONTH), np.full(months, 32.0), [OD],
                         2048.0, 0.08, -0.1)
    t = tco("b200", 224, years=5, utilisation=0.9, rent_price_change_per_year=-0.1,
            rent_tiers=rent.tiers, own_rent_tiers=burst.tiers,
            rent_used_gpu_hours=float(hours.sum()))
    p = t.breakeven_rent_usd_per_gpu_hour
    assert p is not None
    s = simulate(t.inputs, detail=False, cloud_price_multiplier=p / t.inputs.rent_usd_per_gpu_hour)
    assert abs(float(s.npv_usd[0])) < 1e-6 * t.own["npv_cost_usd"]
    assert p == breakeven_rent_usd_per_gpu_hour(t.inputs, t.own["npv_cost_usd"])
    assert [m["term"] for m in t.rent["mix"]] == [x.term for x in rent.tiers]


ON_DEMAND_ONLY = """
name: on demand only
hardware_options: [{gpu: b200}]
cloud: {term: on_demand}
workloads:
  - {kind: train, name: big, model: llama-3.1-8b, tokens: 1.0e+11, gpus: 4096}
"""


def test_plan_refuses_an_on_demand_fleet_beyond_the_catalog_with_exit_2(tmp_path):
    from gpuplan.cli import app

    f = tmp_path / "s.yaml"
    f.write_text(ON_DEMAND_ONLY)
    res = CliRunner().invoke(app, ["plan", str(f), "--json"])
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert "\n" not in err and "2,048" in err and "contract" in err


SPIKY = """
name: spiky
horizon_years: 3
hardware_options: [{gpu: b200}]
backfill: none
workloads:
  - {kind: serve, name: chat, model: llama-3.1-8b, rate: 200, input_tokens: 1024,
     output_tokens: 256}
  - {kind: train, name: yearly run, model: llama-3.1-8b, tokens: 2.0e+11, gpus: 1024,
     runs_per_year: 1}
risk: {samples: 200, seed: 1}
"""


def test_hybrid_owns_the_base_and_rents_the_peaks_and_can_be_recommended():
    """Issue 14 item 7: a fleet sized to a rare 1,024-GPU run idles; owning the always-on base
    and renting the run on demand (within the 2,048 obtainable) costs less, and is chosen."""
    from gpuplan.pipeline.planner import plan
    from gpuplan.pipeline.scenario import parse_scenario

    r = plan(parse_scenario(SPIKY))
    peak, hybrid = r.options[0], r.options[-1]
    assert "hybrid" in hybrid.label and hybrid.gpus < peak.gpus
    assert hybrid.fleet is not None and hybrid.fleet.size == "percentile"
    # the run is wider than the hybrid's fleet: it is rented whole, on demand
    assert [t["term"] for t in hybrid.own_burst] == ["on_demand"]
    assert hybrid.own_burst[0]["gpus"] >= 1024
    assert hybrid.monthly is not None and sum(hybrid.monthly.overflow_gpu_hours) > 0
    assert hybrid.npv_usd > peak.npv_usd
    assert r.best_option == hybrid.label and "the owner rents" in r.recommendation


def test_a_budget_fleet_without_a_budget_is_a_field_error():
    from gpuplan.pipeline.planner import plan
    from gpuplan.pipeline.scenario import parse_scenario

    with pytest.raises(UserError) as e:
        plan(parse_scenario(SPIKY + "fleet: {size: budget}\n"))
    assert "fleet.budget_usd" in str(e.value)


def test_delivery_the_fleet_runs_after_the_facility_lead_time():
    """Issue 14 item 4: a built facility runs after the catalog's switchgear lead time (46-48
    weeks, Cushman & Wakefield 2025: 0.90 years = 11 months); the demand before it is rented
    on both sides; the loan accrues interest during construction."""
    from gpuplan.catalog import load_catalog
    from gpuplan.pipeline.planner import construction_months, plan
    from gpuplan.pipeline.scenario import parse_scenario

    text = SPIKY.replace("backfill: none", "backfill: none\nfacility: build\n"
                         "financing: {mode: loan}\nfleet: {hybrid: false}")
    s = parse_scenario(text)
    assert construction_months(s, load_catalog()) == 11
    r = plan(s)
    o = r.options[0]
    m = o.monthly
    assert m is not None and m.operating_from_month == 12
    assert m.owned_gpus[:11] == [0] * 11 and set(m.owned_gpus[11:]) == {o.gpus}
    assert sum(m.owned_gpu_hours[:11]) == 0
    assert m.overflow_gpu_hours[:11] == pytest.approx(
        o.demand.profile.gpu_hours_per_month[:11])              # the owner rents the gap
    assert o.tco.construction_months == 11 and o.tco.years == pytest.approx((36 - 11) / 12)
    assert o.tco.loan is not None and o.tco.loan.interest_during_construction_usd > 0
    assert any("runs from month 12" in n for n in o.tco.notes)
    # colocation: no build, the fleet runs from month 1
    r2 = plan(parse_scenario(SPIKY.replace("backfill: none", "backfill: none\n"
                                           "facility: colocation")))
    assert r2.options[0].monthly.operating_from_month == 1
    with pytest.raises(UserError) as e:
        plan(parse_scenario(text + "\ndelivery: {construction_months: 36}\n"))
    assert "delivery.construction_months" in str(e.value)


def test_demand_above_what_the_budget_buys_is_refused_naming_the_budget(tmp_path):
    from gpuplan.cli import app

    f = tmp_path / "s.yaml"
    f.write_text(ON_DEMAND_ONLY.replace("cloud: {term: on_demand}",
                                        "fleet: {size: budget, budget_usd: 1.0e+8}"))
    res = CliRunner().invoke(app, ["plan", str(f), "--json"])
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert "\n" not in err and "binding constraint" in err and "4,096" in err


def test_report_shows_the_fleet_mix_delivery_and_the_profile_chart():
    from gpuplan.pipeline.planner import plan
    from gpuplan.pipeline.scenario import parse_scenario
    from gpuplan.report.charts import profile_figure
    from gpuplan.report.html import render_html_report

    r = plan(parse_scenario(SPIKY))
    page = render_html_report(r, plotly_js_src="p.js", render_js_src="r.js",
                              generated_at="2026-12-03")
    assert 'id="fleet"' in page and 'id="fig-profile"' in page
    assert "cheapest of" in page and "runs from month 1" in page
    fig = profile_figure(r)
    assert fig is not None
    best = next(o for o in r.options if o.label == r.best_option)
    # the stacked workload areas are the profile's GPU-hours over the 730.5 h of a month
    area = fig["data"][0]["y"]
    prof = best.demand.profile.workloads[0].gpu_hours_per_month
    assert area == pytest.approx([h / HOURS_PER_MONTH for h in prof])
