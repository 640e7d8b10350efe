"""Every example scenario runs end to end (issue 7: examples are tests)."""

from pathlib import Path

import pytest

from gpuplan.pipeline.planner import plan
from gpuplan.pipeline.scenario import load_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCENARIOS = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def _run(name: str):
    s = load_scenario(EXAMPLES / name)
    s = s.model_copy(update={"risk": s.risk.model_copy(update={"samples": 500})})
    return plan(s, base_dir=EXAMPLES)


@pytest.mark.parametrize("name", SCENARIOS)
def test_example_runs(name):
    r = _run(name)
    assert r.options and r.recommendation
    for o in r.options:
        assert o.gpus >= 1 and o.capex_usd_total > 0 and o.facility_power_w > 0
        assert o.tco.cash_flows.month[0] == 0
        assert 0 <= o.probability_own_wins <= 1


def test_there_are_four_examples():
    assert {"hyperscaler-20b-loan.yaml", "enterprise-70b.yaml", "export-restricted.yaml",
            "startup-moe.yaml"} <= set(SCENARIOS)


def test_hyperscaler_loan_is_visible():
    r = _run("hyperscaler-20b-loan.yaml")
    for o in r.options:
        loan = o.tco.loan
        assert loan is not None and loan.total_interest_usd > 0
        assert loan.term_years == 3 and loan.extension_years == 2
    kinds = {w.kind for w in r.workloads}
    assert {"train", "recsys"} <= kinds


def test_export_restricted_refuses_controlled_parts():
    r = _run("export-restricted.yaml")
    labels = {o.label for o in r.options}
    assert "h20" in labels and not any("b200" in x for x in labels)
    assert any("b200" in n and "may not purchase" in n for n in r.notes)


def test_enterprise_compares_hosted_api():
    r = _run("enterprise-70b.yaml")
    assert all(o.hosted_api and o.hosted_api.npv_cost_usd > 0 for o in r.options)


def test_startup_moe_meets_slo():
    r = _run("startup-moe.yaml")
    for o in r.options:
        serve_rows = [w for w in o.demand.workloads if w.kind == "serve"]
        assert serve_rows and all(w.detail["meets_slo"] for w in serve_rows)


def test_flagship_shows_the_answer_and_its_drivers():
    """Issue 14 acceptance: each option carries its utilisation after backfill, break-evens and
    capex; the rent mix is a list of tiers; the sentence names the driver."""
    from gpuplan.units import HOURS_PER_YEAR

    r = _run("hyperscaler-20b-loan.yaml")
    d = r.model_dump()
    for o in d["options"]:
        assert {"utilisation", "breakeven_utilisation", "breakeven_rent_usd_per_gpu_hour",
                "capex_usd_total"} <= set(o)
        # the scenario's utilisation_target 0.85 is read: idle capacity is backfilled to it
        assert o["backfill"] == "to_target"
        assert o["utilisation"] == max(0.85, o["utilisation_without_backfill"])
        mix = o["tco"]["rent"]["mix"]
        assert [set(t) for t in mix] == [{"term", "gpus", "price_usd_per_gpu_hour", "source"}]
        # 16k GPUs are not rentable on demand (market index: at most 2,048): a contract is
        # chosen, billed every hour of the contracted fleet
        assert mix[0]["term"] in ("reserved_1yr", "reserved_3yr") and mix[0]["gpus"] == o["gpus"]
        # (cash after the US federal 21 % corporate tax, 26 U.S.C. 11(b): rent is deducted)
        rent_cash = o["tco"]["rent"]["total_cash_usd"] / (1 - 0.21)
        hours = HOURS_PER_YEAR * r.horizon_years * o["gpus"]
        assert rent_cash >= mix[0]["price_usd_per_gpu_hour"] * hours * (
            1 + o["tco"]["rent"]["price_change_per_year"]) ** (r.horizon_years - 1) * (1 - 1e-9)
        # APV: the loan at its market rate is worth minus its fee plus the interest tax shield
        # (21 % of each interest payment within the horizon, at the loan's monthly rate)
        loan = o["tco"]["loan"]
        j = loan["rate"] / 12
        shield = sum(0.21 * row["interest_usd"] * (1 + j) ** -row["month"]
                     for row in loan["schedule"] if row["month"] <= 12 * r.horizon_years)
        assert o["financing_npv_usd"] == pytest.approx(-loan["upfront_fee_usd"] + shield,
                                                       rel=1e-9)
    assert d["rent"]["mix"] == d["options"][[o["label"] for o in d["options"]].index(
        d["best_option"])]["tco"]["rent"]["mix"]
    assert "owning wins while rent stays above $" in r.recommendation
    assert "the input that moves NPV most is" in r.recommendation
