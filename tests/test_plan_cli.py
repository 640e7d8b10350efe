"""`gpuplan plan`, `gpuplan scenarios`, and a bounded fuzz sample through typer's runner."""

import json
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpuplan.cli.app import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
runner = CliRunner()


@pytest.fixture()
def small_scenario(tmp_path):
    text = (EXAMPLES / "startup-moe.yaml").read_text().replace("samples: 5000", "samples: 300")
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_plan_json_and_outputs(small_scenario, tmp_path):
    out = tmp_path / "r.html"
    x = tmp_path / "r.xlsx"
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    r = runner.invoke(app, ["plan", str(small_scenario), "-o", str(out), "--xlsx", str(x),
                            "--csv", str(csv_dir), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("workloads", "cluster", "own", "rent", "npv_usd", "breakeven_months", "risk"):
        assert k in d
    assert out.stat().st_size > 100_000 and x.stat().st_size > 1000
    assert any(csv_dir.iterdir())


def test_plan_human_and_schema(small_scenario):
    r = runner.invoke(app, ["plan", str(small_scenario)])
    assert r.exit_code == 0 and "recommendation" in r.stdout
    s = runner.invoke(app, ["plan", "--schema", str(small_scenario)])
    assert s.exit_code == 0 and "workloads" in json.loads(s.stdout)["properties"]


def test_plan_errors_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhardware_options: []\nworkloads: []\n")
    r = runner.invoke(app, ["plan", str(bad)])
    assert r.exit_code == 2 and "bad.yaml" in r.stderr
    r = runner.invoke(app, ["plan", str(tmp_path / "none.yaml")])
    assert r.exit_code == 2
    r = runner.invoke(app, ["plan", str(EXAMPLES / "startup-moe.yaml"), "-o",
                            str(tmp_path / "no-such-dir" / "r.html")])
    assert r.exit_code == 2


def test_scenarios_store_commands(small_scenario, tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert runner.invoke(app, ["scenarios", "save", str(small_scenario), "--name", "s", "--db",
                               db]).exit_code == 0
    changed = tmp_path / "s2.yaml"
    changed.write_text(small_scenario.read_text().replace("rate: 50", "rate: 70"))
    r = runner.invoke(app, ["scenarios", "save", str(changed), "--name", "s", "--db", db,
                            "--comment", "more traffic"])
    assert r.exit_code == 0 and "revision 2" in r.stdout
    lst = json.loads(runner.invoke(app, ["scenarios", "list", "--db", db, "--json"]).stdout)
    assert lst["scenarios"][0]["name"] == "s"
    diff = runner.invoke(app, ["scenarios", "diff", "s", "1", "2", "--db", db])
    assert "-    rate: 50" in diff.stdout and "+    rate: 70" in diff.stdout
    show = json.loads(runner.invoke(app, ["scenarios", "show", "s", "--db", db, "--json"]).stdout)
    assert len(show["history"]) == 2 and show["history"][1]["comment"] == "more traffic"
    assert runner.invoke(app, ["scenarios", "show", "nope", "--db", db]).exit_code == 2


def test_fuzz_sample_has_no_tracebacks():
    """A bounded sample of `make fuzz` (the full run is 10,000 inputs)."""
    from gpuplan.cli.fuzz import invocations

    with tempfile.TemporaryDirectory() as tmp:
        for args in invocations(150, seed=11, tmp=Path(tmp)):
            r = runner.invoke(app, args)
            assert r.exit_code in (0, 2), (args, r.output)
            assert r.exception is None or isinstance(r.exception, SystemExit), (args,
                                                                                 r.exception)


def test_catalog_prices_lists_every_economic_default_with_source_and_date():
    from gpuplan.catalog import load_catalog
    from gpuplan.money._catalog import section

    r = runner.invoke(app, ["catalog", "prices", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["prices"]
    assert all(row["source"] and row["as_of"] for row in rows)
    assert all(row["usd_year"] for row in rows if row["unit"].startswith("USD"))
    cat = load_catalog()
    # every costs entry with a value is listed (the included_in entries carry none)
    valued = {e.id for e in section(cat, "costs").values() if e.included_in is None}
    assert valued == {row["id"] for row in rows if row["section"] == "costs"}
    by = {(row["id"], row["field"]): row for row in rows}
    # the B200 contract price (derived: 2.35 x 8.60 / 6.155, clouds.yaml market-b200)
    assert by[("market-b200", "reserved_1yr_usd_per_gpu_hour")]["value"] == 3.28
    assert by[("staff-fte-per-w", "fte_per_w")]["value"] == pytest.approx(1.94e-6)
    human = runner.invoke(app, ["catalog", "prices"])
    assert human.exit_code == 0 and "market-b200" in human.output
