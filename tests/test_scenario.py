"""Scenario files: validation with file/line/field errors, JSON Schema, demand per option."""

from pathlib import Path

import pytest

from gpuplan.errors import UserError
from gpuplan.pipeline.scenario import demand, json_schema, load_scenario, parse_scenario

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
