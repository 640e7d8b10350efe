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
