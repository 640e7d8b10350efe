"""Scenario files: validation with file/line/field errors, JSON Schema, demand per option."""

from pathlib import Path

import pytest

from gpuplan.errors import UserError
from gpuplan.pipeline.scenario import json_schema, load_scenario, parse_scenario
from gpuplan.pipeline.workloads import demand
from gpuplan.units import HOURS_PER_YEAR

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

GOOD = """
name: t
hardware_options: [{gpu: h100-sxm}]
workloads:
  - kind: serve
    name: chat
    model: llama-3.1-8b
    rate: 5
"""


def test_minimal_scenario_defaults():
    s = parse_scenario(GOOD)
    assert s.horizon_years == 5 and s.financing.mode == "cash"


@pytest.mark.parametrize("text,needle", [
    (GOOD.replace("rate: 5", "rate: -5"), ":8: field workloads.0.rate"),
    (GOOD.replace("kind: serve", "kind: dance"), "workloads.0"),
    (GOOD + "colour: blue\n", "colour"),
    (GOOD.replace("name: t\n", ""), "name"),
    ("name: [unclosed", "not valid YAML"),
    ("- a list", "mapping"),
])
def test_errors_name_line_and_field(text, needle):
    with pytest.raises(UserError) as e:
        parse_scenario(text, "my.yaml")
    assert "my.yaml" in str(e.value) and needle in str(e.value)


def test_file_limits(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_bytes(b"a" * (3 * 2**20))
    with pytest.raises(UserError, match="larger"):
        load_scenario(p)
    q = tmp_path / "bin.yaml"
    q.write_bytes(b"\xff\xfe")
    with pytest.raises(UserError, match="UTF-8"):
        load_scenario(q)


def test_json_schema_exported():
    js = json_schema()
    assert "workloads" in js["properties"] and "hardware_options" in js["properties"]


def test_demand_of_enterprise_example(cat):
    s = load_scenario(EXAMPLES / "enterprise-70b.yaml")
    d = demand(s, s.hardware_options[0], cat, EXAMPLES)
    serve_row = next(w for w in d.workloads if w.kind == "serve")
    lora_row = next(w for w in d.workloads if w.kind == "lora")
    assert lora_row.gpus == 8 and serve_row.gpus >= 1
    assert d.gpus == serve_row.gpus + lora_row.gpus
    assert 0 < d.utilisation <= 1


def test_every_workload_model_has_one_demand_handler():
    from gpuplan.pipeline.scenario import WORKLOAD_KINDS, WORKLOAD_MODELS
    from gpuplan.pipeline.workloads import WORKLOAD_HANDLERS

    assert set(WORKLOAD_HANDLERS) == set(WORKLOAD_MODELS)
    assert {"train", "finetune", "lora", "qlora", "serve", "recsys"} == WORKLOAD_KINDS


def test_demand_dispatches_through_the_registry(cat, monkeypatch):
    from gpuplan.pipeline import workloads
    from gpuplan.pipeline.scenario import ServeWorkload

    def fake(w, ctx):
        return workloads.WorkloadDemand(name=w.name, kind=w.kind, gpus=3,
                                        gpu_hours_per_year=100.0, always_on=True,
                                        detail={"bottleneck": f"fake on {ctx.gpu}"})

    monkeypatch.setitem(workloads.WORKLOAD_HANDLERS, ServeWorkload, fake)
    s = parse_scenario(GOOD)
    d = demand(s, s.hardware_options[0], cat)
    assert d.gpus == 3 and d.bottlenecks == ["chat: fake on h100-sxm"]
    assert d.utilisation == pytest.approx(100.0 / (3 * HOURS_PER_YEAR))


DEADLINE = """
name: t
hardware_options: [{gpu: h100-sxm}]
workloads:
  - {kind: train, name: pretrain, model: llama-3.1-8b, tokens: 2.0e+11, deadline_days: 10}
"""


def test_deadline_picks_the_fewest_power_of_two_gpus(cat):
    from gpuplan.demand.training import train

    s = parse_scenario(DEADLINE)
    row = demand(s, s.hardware_options[0], cat).workloads[0]
    n = row.gpus
    assert n & (n - 1) == 0 and row.detail["wall_days"] <= 10
    fewer = train("llama-3.1-8b", "h100-sxm", n // 2, 2e11, seq_len=4096, catalog=cat)
    assert fewer.wall_days > 10
    assert row.gpu_hours_per_year == pytest.approx(row.detail["gpu_hours_per_run"])


TWO_RUNS = """
name: t
hardware_options: [{gpu: h100-sxm}]
workloads:
  - {kind: train, name: big, model: llama-3.1-8b, tokens: 1.0e+11, gpus: 64}
  - {kind: train, name: small, model: llama-3.1-8b, tokens: 1.0e+11, gpus: 32}
"""


def test_a_schedule_that_cannot_fit_a_year_is_refused(cat, monkeypatch):
    """Training runs take turns on the largest job's GPUs: 64 GPUs give 64 x 8,766 GPU-hours a
    year, and 60 + 30 % of that does not fit (it used to be clipped silently to 100 %)."""
    from gpuplan.pipeline import workloads
    from gpuplan.pipeline.scenario import TrainWorkload

    share = {"big": 0.6, "small": 0.3}

    def fake(w, ctx):
        return workloads.WorkloadDemand(
            name=w.name, kind=w.kind, gpus=w.gpus,
            gpu_hours_per_year=share[w.name] * 64 * HOURS_PER_YEAR, always_on=False,
            detail={})

    monkeypatch.setitem(workloads.WORKLOAD_HANDLERS, TrainWorkload, fake)
    s = parse_scenario(TWO_RUNS)
    d = demand(s, s.hardware_options[0], cat)
    assert d.gpus == 64 and d.utilisation == pytest.approx(0.9)
    share["small"] = 0.5                                        # 110 % of the training share
    with pytest.raises(UserError) as e:
        demand(s, s.hardware_options[0], cat)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("workloads:") and e.value.field == "workloads"
    assert "does not fit a year" in msg and "at least 71 gpus" in msg  # ceil(1.1 x 64) = 71


def test_utilisation_target_is_read_and_backfill_is_explicit():
    from gpuplan.pipeline.planner import MIN_UTILISATION, owned_utilisation

    s = parse_scenario(GOOD + "utilisation_target: 0.85\n")
    # idle capacity stays idle unless the scenario says it is backfilled
    assert s.utilisation_target == 0.85 and s.backfill == "none" and s.residual == "book"
    # backfilled to the target, never below what the workloads use
    assert owned_utilisation(0.47, 0.85, "to_target") == 0.85
    assert owned_utilisation(0.95, 0.85, "to_target") == 0.95
    # left idle: the workloads' own share
    assert owned_utilisation(0.47, 0.85, "none") == 0.47
    assert owned_utilisation(0.0, 0.85, "none") == MIN_UTILISATION
    m = parse_scenario(GOOD + "backfill: none\nresidual: market\n")
    assert m.backfill == "none" and m.residual == "market"
    with pytest.raises(UserError, match="backfill"):
        parse_scenario(GOOD + "backfill: sometimes\n")
