"""HTML report, chart figures, CSV and XLSX exports of a plan."""

from __future__ import annotations

import csv
import json
import os
import re
from itertools import accumulate
from pathlib import Path

import pytest

from gpuplan.errors import UserError
from gpuplan.pipeline.planner import plan
from gpuplan.pipeline.scenario import parse_scenario
from gpuplan.report import charts
from gpuplan.report.export import slug, write_csv, write_xlsx
from gpuplan.report.html import render_html_report, write_html_report

# The enterprise example (examples/enterprise-70b.yaml) at a rental price where owning the H100
# option breaks even, with few Monte Carlo samples to keep the suite fast.
SCENARIO = """
name: Enterprise 70B fine-tune and serve
horizon_years: 4
region: us
facility: colocation
hardware_options:
  - {gpu: h100-sxm, system: dgx-h100}
  - {gpu: h200, system: hgx-h200}
workloads:
  - {kind: lora, name: monthly LoRA fine-tune, model: llama-3.3-70b, tokens: 2.0e+9,
     runs_per_year: 12, gpus: 8}
  - {kind: serve, name: internal assistant, model: llama-3.3-70b, rate: 20,
     growth_per_year: 0.5, input_tokens: 1500, output_tokens: 300, ttft_ms: 1000,
     tpot_ms: 50, quant: fp8}
financing: {mode: cash}
cloud: {price_usd_per_gpu_hour: 6.0, price_change_per_year: -0.10}
risk: {samples: 500}
"""
LOAN = SCENARIO.replace("financing: {mode: cash}",
                        "financing: {mode: loan, loan: {term_years: 3, payments_per_year: 4}}")
EVIL = "<script>alert(1)</script>"
EVIL_SCENARIO = (SCENARIO.replace("{gpu: h200, system: hgx-h200}",
                                  "{gpu: h200, system: hgx-h200, label: '=1+2 ../../x'}")
                 .replace("{gpu: h100-sxm, system: dgx-h100}",
                          f"{{gpu: h100-sxm, system: dgx-h100, label: '{EVIL}'}}")
                 .replace("name: Enterprise 70B fine-tune and serve", f"name: '{EVIL}'"))


@pytest.fixture(scope="module")
def cash():
    return plan(parse_scenario(SCENARIO))


@pytest.fixture(scope="module")
def loan():
    return plan(parse_scenario(LOAN))


@pytest.fixture(scope="module")
def evil():
    return plan(parse_scenario(EVIL_SCENARIO))


# ----------------------------------------------------------------------------------------------
# Figures: they only arrange the pipeline's numbers
# ----------------------------------------------------------------------------------------------


def test_scenario_has_a_break_even(cash):
    assert cash.options[0].breakeven_months is not None
    assert cash.options[0].tco.loan is None


def test_cumulative_cost_sums_the_monthly_cash_flows(cash):
    fig = charts.cumulative_cost_figure(cash)
    for o in cash.options:
        cf = o.tco.cash_flows.model_dump()
        own = next(t for t in fig["data"] if t["name"] == f"{o.label}: own")
        rent = next(t for t in fig["data"] if t["name"] == f"{o.label}: rent")
        assert own["x"] == cf["month"] and len(own["y"]) == len(cf["month"])
        assert own["y"][-1] == pytest.approx(-sum(cf["own_usd"]) / 1e6)
        assert rent["y"][-1] == pytest.approx(-sum(cf["rent_usd"]) / 1e6)
        # own - rent of the figure is the pipeline's cumulative own-minus-rent, sign flipped
        for k in (1, len(cf["month"]) // 2, -1):
            assert (rent["y"][k] - own["y"][k]) * 1e6 == pytest.approx(
                cf["cumulative_own_minus_rent_usd"][k], rel=1e-9, abs=1e-3)
    best = cash.options[0]
    star = [t for t in fig["data"] if "break-even" in t["name"]]
    assert star[0]["x"] == [best.breakeven_months]
    assert star[0]["marker"]["symbol"] == "star"
    k = best.tco.cash_flows.month.index(best.breakeven_months)
    assert star[0]["y"][0] == pytest.approx(
        -list(accumulate(best.tco.cash_flows.own_usd))[k] / 1e6)


def test_capex_bars_stack_to_the_total(cash):
    fig = charts.capex_figure(cash)
    assert fig["layout"]["barmode"] == "stack"
    for i, o in enumerate(cash.options):
        stacked = sum(t["y"][i] for t in fig["data"])
        assert stacked * 1e6 == pytest.approx(o.tco.capex_usd["total"])
        assert charts.capex_total_usd(o.model_dump()) == o.tco.capex_usd["total"]


def test_power_bars_are_it_max_and_facility(cash):
    fig = charts.power_figure(cash)
    n = len(cash.options)
    for i, o in enumerate(cash.options):
        p = o.cluster.power_w
        nameplate = sum(t["y"][i] for t in fig["data"] if t["name"].startswith("IT max"))
        at_load = sum(t["y"][i] for t in fig["data"] if not t["name"].startswith("IT max"))
        assert nameplate * 1e3 == pytest.approx(p.it_max)
        assert at_load * 1e3 == pytest.approx(p.facility)
    assert all(len(t["x"]) == n for t in fig["data"])


def test_npv_box_is_built_from_the_percentiles(cash):
    fig = charts.npv_distribution_figure(cash)
    boxes = [t for t in fig["data"] if t["type"] == "box"]
    assert len(boxes) == len(cash.options)
    for box, o in zip(boxes, cash.options):
        q = o.risk.npv_usd
        assert box["q1"][0] * 1e6 == pytest.approx(q["p25"])
        assert box["median"][0] * 1e6 == pytest.approx(q["p50"])
        assert box["q3"][0] * 1e6 == pytest.approx(q["p75"])
        assert box["lowerfence"][0] * 1e6 == pytest.approx(q["p5"])
        assert box["upperfence"][0] * 1e6 == pytest.approx(q["p95"])
    assert "percentiles" in fig["layout"]["title"]["text"]


def test_tornado_bars_span_low_to_high_npv(cash):
    o = cash.options[1]
    fig = charts.tornado_figure(cash, o.label)
    low, high = fig["data"]
    base = o.risk.baseline_npv_usd / 1e6
    assert low["base"] == pytest.approx(base)
    rows = sorted(o.risk.tornado, key=lambda t: t["swing_usd"])
    assert len(low["y"]) == len(rows) > 0
    for k, t in enumerate(rows):
        assert (base + low["x"][k]) * 1e6 == pytest.approx(t["npv_low_usd"])
        assert (base + high["x"][k]) * 1e6 == pytest.approx(t["npv_high_usd"])
    assert o.label in fig["layout"]["title"]["text"]


def test_loan_figure_only_with_a_loan(cash, loan):
    assert charts.loan_figure(cash) is None
    fig = charts.loan_figure(loan, 0)
    loan_out = loan.options[0].tco.loan
    assert loan_out is not None
    sched = loan_out.model_dump()["schedule"]
    principal, interest, balance = fig["data"]
    assert principal["x"] == [r["month"] for r in sched]
    assert sum(principal["y"]) * 1e6 == pytest.approx(sum(r["principal_usd"] for r in sched))
    assert sum(interest["y"]) * 1e6 == pytest.approx(
        loan_out.total_interest_usd, rel=1e-6)
    assert balance["y"][-1] * 1e6 == pytest.approx(sched[-1]["closing_usd"])


def test_all_figures_ids_and_json(cash, loan):
    ids = [f["id"] for f in charts.all_figures(loan)]
    assert len(ids) == len(set(ids))
    assert {"fig-cumulative", "fig-capex", "fig-power", "fig-npv", "fig-loan-0"} <= set(ids)
    assert "fig-loan-0" not in [f["id"] for f in charts.all_figures(cash)]
    json.dumps(charts.all_figures(loan), allow_nan=False)  # plain JSON, no NaN


def test_summary_rows(cash):
    rows = charts.summary_rows(cash)
    assert [r["option"] for r in rows] == [o.label for o in cash.options]
    assert sum(r["recommended"] for r in rows) == 1
    o = cash.options[0]
    assert rows[0]["capex_usd"] == o.tco.capex_usd["total"]
    assert rows[0]["opex_usd_per_year"] == o.tco.opex_usd_per_year["total"]
    assert rows[0]["npv_usd"] == o.npv_usd and rows[0]["gpus"] == o.gpus


# ----------------------------------------------------------------------------------------------
# HTML report
# ----------------------------------------------------------------------------------------------


def _figures_block(html: str) -> list[dict]:
    m = re.search(r'<script type="application/json" id="gpuplan-figures">(.*?)</script>', html,
                  re.S)
    return json.loads(m.group(1))


def test_html_report_is_self_contained(cash, tmp_path):
    from plotly.offline import get_plotlyjs

    out = write_html_report(cash, tmp_path / "report.html", scenario_text=SCENARIO)
    html = out.read_text(encoding="utf-8")
    assert get_plotlyjs()[:2000] in html  # plotly.js inlined from the installed package
    assert not re.search(r"<script[^>]*\bsrc=", html, re.I)
    assert not re.search(r"<link[^>]*\bhref=[\"']?https?:", html, re.I)
    figs = _figures_block(html)
    assert {f["id"] for f in figs} >= {"fig-cumulative", "fig-capex", "fig-power", "fig-npv"}
    for f in figs:
        assert f'id="{f["id"]}"' in html
        assert f["figure"]["data"] and all(t.get("x") or t.get("y") for t in f["figure"]["data"])
    assert cash.recommendation in html
    for text in ("GPUs", "CapEx", "OpEx / yr", "NPV own − rent", "Break-even", "P(own wins)",
                 "Own $/GPU-h", "Rent $/GPU-h", "monthly LoRA fine-tune", "Bottlenecks",
                 "Notes", "rate: 20"):
        assert text in html
    assert f"month {cash.options[0].breakeven_months}" in html


def test_html_report_escapes_user_text(evil, tmp_path):
    html = write_html_report(evil, tmp_path / "r.html", scenario_text=EVIL_SCENARIO).read_text()
    body = html[html.index("</head>"):]
    assert EVIL not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    figs = _figures_block(html)  # the label travels in the JSON, escaped, and parses back
    assert any(EVIL in t["name"] for f in figs for t in f["figure"]["data"] if "name" in t)


def test_html_report_uses_given_script_urls(cash):
    html = render_html_report(cash, plotly_js_src="/static/plotly.min.js",
                              render_js_src="/static/report.js")
    assert '<script src="/static/plotly.min.js"></script>' in html
    assert len(html) < 1_000_000  # plotly.js not inlined


def test_html_report_write_is_atomic(cash, tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("old report")

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(UserError, match="No space left"):
        write_html_report(cash, target)
    monkeypatch.undo()
    assert target.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    write_html_report(cash, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert target.stat().st_size > 1_000_000


def test_html_report_refuses_missing_folder_and_folders(cash, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_html_report(cash, tmp_path / "nope" / "r.html")
    with pytest.raises(UserError, match="folder"):
        write_html_report(cash, tmp_path)


# ----------------------------------------------------------------------------------------------
# CSV and XLSX
# ----------------------------------------------------------------------------------------------


def _read_csv(p: Path) -> list[dict]:
    with p.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_contents(cash, tmp_path):
    files = write_csv(cash, tmp_path / "out")
    names = sorted(p.name for p in files)
    # one pair per option: the two hardware options, then the hybrid variant the planner adds
    assert names == sorted(["summary.csv"] + [f"{k}_{i}_{slug(o.label)}.csv" for i, o in
                                              enumerate(cash.options, start=1)
                                              for k in ("cash_flows", "bom", "profile")])
    assert {"cash_flows_1_h100-sxm-dgx-h100.csv", "cash_flows_2_h200-hgx-h200.csv"} <= set(names)
    summary = _read_csv(tmp_path / "out" / "summary.csv")
    assert [r["option"] for r in summary] == [o.label for o in cash.options]
    assert float(summary[0]["npv_usd"]) == pytest.approx(cash.options[0].npv_usd)
    for i, o in enumerate(cash.options, start=1):
        tag = f"{i}_{slug(o.label)}"
        cf = _read_csv(tmp_path / "out" / f"cash_flows_{tag}.csv")
        assert len(cf) == len(o.tco.cash_flows.month)
        assert sum(float(r["own_usd"]) for r in cf) == pytest.approx(
            sum(o.tco.cash_flows.own_usd))
        prof = _read_csv(tmp_path / "out" / f"profile_{tag}.csv")
        assert len(prof) == o.demand.profile.months
        # the owned fleet never serves more than it holds, and the split adds up to the demand
        for row in prof:
            assert float(row["owned_gpu_hours"]) + float(row["backfill_gpu_hours"]) <= \
                o.monthly.owned_capacity_gpu_hours * (1 + 1e-9)
            assert float(row["owned_gpu_hours"]) + float(row["overflow_gpu_hours"]) == \
                pytest.approx(float(row["demand_gpu_hours"]), rel=1e-9)
        bom = _read_csv(tmp_path / "out" / f"bom_{tag}.csv")
        assert sum(float(r["total_usd"]) for r in bom) == pytest.approx(
            sum(line.total_usd for line in o.tco.bom))


def test_csv_loan_files_and_names_stay_in_folder(loan, evil, tmp_path):
    files = write_csv(loan, tmp_path / "l")
    assert any(p.name.startswith("loan_1_") for p in files)
    rows = _read_csv(next(p for p in files if p.name.startswith("loan_1_")))
    assert len(rows) == len(loan.options[0].model_dump()["tco"]["loan"]["schedule"])
    out = tmp_path / "e"
    files = write_csv(evil, out)
    assert all(p.parent == out and re.fullmatch(r"[a-z0-9_.-]+", p.name) for p in files)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["e", "l"]  # nothing escaped
    summary = _read_csv(out / "summary.csv")
    assert summary[1]["option"].startswith("'=")  # not a spreadsheet formula


def test_csv_refuses_bad_folders(cash, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_csv(cash, tmp_path / "a" / "b")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        write_csv(cash, tmp_path / "f")


def test_xlsx_contents(loan, evil, tmp_path):
    from openpyxl import load_workbook

    p = write_xlsx(loan, tmp_path / "plan.xlsx")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["plan.xlsx"]  # no temp file left
    wb = load_workbook(p)
    assert wb.sheetnames[:4] == ["Summary", "CashFlows", "BOM", "Loan"]
    ws = wb["Summary"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert ["recommendation", loan.recommendation] in [v[:2] for v in values]
    header = next(v for v in values if v[0] == "option")
    first = values[values.index(header) + 1]
    assert first[header.index("npv_usd")] == pytest.approx(loan.options[0].npv_usd)
    cf = list(wb["CashFlows"].iter_rows(values_only=True))
    assert len(cf) - 1 == sum(len(o.tco.cash_flows.month) for o in loan.options)
    bom = list(wb["BOM"].iter_rows(values_only=True))
    assert len(bom) - 1 == sum(len(o.tco.bom) for o in loan.options)
    lo = list(wb["Loan"].iter_rows(values_only=True))
    assert len(lo) - 1 == sum(len(o.tco.loan.schedule) for o in loan.options if o.tco.loan)

    wb = load_workbook(write_xlsx(evil, tmp_path / "evil.xlsx"))
    cells = [c for row in wb["Summary"].iter_rows() for c in row
             if isinstance(c.value, str) and c.value.startswith("=1+2")]
    assert cells and all(c.data_type == "s" for c in cells)  # text, not a formula
    with pytest.raises(UserError, match="does not exist"):
        write_xlsx(loan, tmp_path / "nope" / "x.xlsx")


def test_non_finite_numbers_become_null():
    from gpuplan.report.html import json_for_script

    assert charts.finite({"a": [1.0, float("nan"), float("inf")], "b": "x"}) == {
        "a": [1.0, None, None], "b": "x"}
    assert json_for_script({"y": [float("-inf"), "</script>"]}) == \
        '{"y":[null,"\\u003c/script\\u003e"]}'


def test_breakeven_figures_cross_zero_at_the_break_evens(cash):
    d = cash.model_dump()
    best = next(o for o in d["options"] if o["label"] == d["best_option"])
    figs = {f["id"]: f["figure"] for f in charts.breakeven_figures(d)}
    assert set(figs) == {"fig-breakeven-price", "fig-breakeven-utilisation",
                         "fig-breakeven-decline"}
    line, points = figs["fig-breakeven-price"]["data"]
    p_star = best["breakeven_rent_usd_per_gpu_hour"]
    # the NPV line goes through (p*, 0) and through (the price now, the NPV)
    (x0, x1), (y0, y1) = line["x"], line["y"]
    at = lambda x: y0 + (y1 - y0) * (x - x0) / (x1 - x0)  # noqa: E731
    assert at(p_star) == pytest.approx(0.0, abs=1e-9)
    assert at(6.0) == pytest.approx(best["npv_usd"] / 1e6, rel=1e-9)
    own, rent = figs["fig-breakeven-utilisation"]["data"]
    # renting the used hours costs the owned PV exactly at the break-even utilisation
    u = best["breakeven_utilisation"]
    assert rent["y"][1] * u == pytest.approx(own["y"][0], rel=1e-12)
    dec = figs["fig-breakeven-decline"]["data"][0]
    i = dec["x"].index(best["breakeven_rent_change_per_year"])
    assert dec["y"][i] == 0.0
    assert {f["id"] for f in charts.all_figures(d)} >= set(figs)
