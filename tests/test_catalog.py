"""The catalog: required ids, provenance on every value, validation, overlays."""

import pytest
import yaml

from gpuplan.catalog import build_catalog
from gpuplan.catalog.schema import Sourced
from gpuplan.errors import UserError

REQUIRED_GPUS = ["a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "h20", "h800", "b200",
                 "gb200", "l40s", "mi300x", "mi325x", "gaudi3", "tpu-v5e", "tpu-v5p", "ascend-910b"]
REQUIRED_SYSTEMS = ["dgx-h100", "hgx-h200", "dgx-b200", "gb200-nvl72", "mi300x-8"]
REQUIRED_MODELS = [
    "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b",
    "llama-3.3-70b", "llama-4-scout", "llama-4-maverick", "mistral-7b", "mixtral-8x7b",
    "mixtral-8x22b", "qwen2.5-7b", "qwen2.5-32b", "qwen2.5-72b", "qwen3-8b", "qwen3-32b",
    "qwen3-30b-a3b", "qwen3-235b-a22b", "deepseek-v3", "gpt-3-175b", "gpt2", "gpt2-medium",
    "gpt2-large", "gpt2-xl", "falcon-180b", "gemma-2-9b", "gemma-2-27b", "phi-3-mini",
    "phi-3-medium", "olmo-2-7b", "olmo-2-13b", "bloom-176b", "opt-175b"]


def test_every_builtin_section_validates(cat):
    from gpuplan.catalog import build_catalog, sections

    c = build_catalog()
    c.validate_all()
    assert {"accelerators", "systems", "models", "fabrics", "reliability"} <= set(sections())


def test_required_ids(cat):
    assert set(REQUIRED_GPUS) <= set(cat.accelerators)
    assert set(REQUIRED_SYSTEMS) <= set(cat.systems)
    assert set(REQUIRED_MODELS) <= set(cat.models)


def _walk(obj):
    if isinstance(obj, Sourced):
        yield obj
    elif hasattr(type(obj), "model_fields") and hasattr(obj, "model_dump"):
        for k in type(obj).model_fields:
            yield from _walk(getattr(obj, k))
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _walk(v)


def test_every_number_has_source_and_date(cat):
    n = 0
    for entry in list(cat.accelerators.values()) + list(cat.systems.values()):
        for v in _walk(entry):
            assert v.source and v.as_of
            n += 1
    assert n > 150


def test_dense_not_sparse(cat):
    # NVIDIA H100 SXM datasheet: BF16 1,979 TFLOPS* and FP8 3,958 TFLOPS* are with sparsity;
    # dense is half (989 / 1,979).
    h = cat.accelerators["h100-sxm"]
    assert h.peak_flops_per_s["bf16"].value == pytest.approx(989e12, rel=0.01)
    assert h.peak_flops_per_s["fp8"].value == pytest.approx(1979e12, rel=0.01)
    # AMD MI300X: 1,307.4 TFLOPS dense FP16/BF16 (2,614.9 is with sparsity)
    assert cat.accelerators["mi300x"].peak("bf16") == pytest.approx(1307e12, rel=0.01)


def test_systems_reference_accelerators(cat):
    for s in cat.systems.values():
        assert s.accelerator in cat.accelerators
    # NVIDIA DGX H100 user guide: 8 GPUs, 10.2 kW max
    d = cat.systems["dgx-h100"]
    assert d.accelerators_per_node.value == 8
    assert d.node_max_power_w.value == pytest.approx(10.2e3)


def test_models_record_repo(cat):
    for m in cat.models.values():
        assert m.repo_id and m.source and m.as_of


def _write(tmp_path, data, name="over.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_overlay_overrides_price_and_adds_gpu(tmp_path, cat):
    p = _write(tmp_path, {"accelerators": [
        {"id": "h100-sxm", "price_usd": {"value": 22000.0, "source": "quote from vendor X",
                                         "as_of": "2026-11", "usd_year": 2026}},
        {"id": "my-npu", "name": "My NPU", "vendor": "acme",
         "memory_bytes": {"value": 64e9, "source": "datasheet", "as_of": "2026"},
         "hbm_bandwidth_bytes_per_s": {"value": 2e12, "source": "datasheet", "as_of": "2026"},
         "peak_flops_per_s": {"bf16": {"value": 5e14, "source": "datasheet", "as_of": "2026"}}},
    ]})
    c = build_catalog([p])
    assert c.accelerators["h100-sxm"].price_usd.value == 22000.0
    # the rest of the built-in entry is kept
    assert c.accelerators["h100-sxm"].memory_bytes == cat.accelerators["h100-sxm"].memory_bytes
    assert "my-npu" in c.accelerators


@pytest.mark.parametrize("entry,msg", [
    ({"id": "h100-sxm", "price_usd": {"value": -5.0, "source": "x quote", "as_of": "2026",
                                      "usd_year": 2026}}, "price_usd.value"),
    ({"id": "h100-sxm", "price_usd": {"value": 5.0, "source": "x quote", "as_of": "yesterday",
                                      "usd_year": 2026}}, "as_of"),
    # a USD value without the year of its dollars, or with an implausible one
    ({"id": "h100-sxm", "price_usd": {"value": 5.0, "source": "x quote", "as_of": "2026"}},
     "price_usd.usd_year: Field required"),
    ({"id": "h100-sxm", "price_usd": {"value": 5.0, "source": "x quote", "as_of": "2026",
                                      "usd_year": 26}}, "price_usd.usd_year"),
    # a currency year on a value that is not in USD is an unknown key
    ({"id": "h100-sxm", "tdp_w": {"value": 700.0, "source": "datasheet", "as_of": "2026",
                                  "usd_year": 2026}}, "tdp_w.usd_year"),
    ({"id": "h100-sxm", "colour": "green"}, "colour"),
    ({"id": "new-gpu", "name": "x"}, "new-gpu"),
])
def test_bad_overlay_names_file_entry_field(tmp_path, entry, msg):
    p = _write(tmp_path, {"accelerators": [entry]})
    with pytest.raises(UserError) as e:
        build_catalog([p])
    text = str(e.value)
    assert str(p) in text and msg in text


@pytest.mark.parametrize("content,msg", [
    ("accelerators: [", "not valid YAML"),
    ("gpus: []", "unknown section"),
    ("accelerators: {a: 1}", "must be a list"),
    ("- 1\n- 2", "top level"),
])
def test_malformed_files(tmp_path, content, msg):
    p = tmp_path / "bad.yaml"
    p.write_text(content)
    with pytest.raises(UserError, match=msg):
        build_catalog([p])


def test_non_utf8_and_missing(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UserError, match="UTF-8"):
        build_catalog([p])
    with pytest.raises(UserError, match="does not exist"):
        build_catalog([tmp_path / "nope.yaml"])


def test_env_overlay(tmp_path, monkeypatch):
    from gpuplan.catalog import load_catalog

    p = _write(tmp_path, {"accelerators": [
        {"id": "b200", "price_usd": {"value": 31000.0, "source": "quote", "as_of": "2026-10",
                                     "usd_year": 2026}}]})
    monkeypatch.setenv("GPUPLAN_CATALOG", str(p))
    assert load_catalog().accelerators["b200"].price_usd.value == 31000.0


# -- currency years --------------------------------------------------------------------------
#: Built-in USD values whose currency year differs from the year of their as_of, because the
#: source states the dollars' year: (section, entry id, field) -> year. None today.
STATED_USD_YEARS: dict[tuple[str, str, str], int] = {}


def _usd_fields(model):
    """(field name, value) of every field of a catalog entry whose name says it is in USD."""
    for name in type(model).model_fields:
        if "usd" in name:
            yield name, getattr(model, name)


def test_every_schema_usd_field_carries_its_currency_year():
    # A field named *_usd* in any catalog schema must be a SourcedUsd (so usd_year is required).
    import typing

    from gpuplan.catalog import _extension_sections
    from gpuplan.catalog.schema import Accelerator, SourcedUsd, System

    classes = [Accelerator, System, *_extension_sections().values()]
    checked = 0
    for cls in classes:
        for name, field in cls.model_fields.items():
            if "usd" not in name:
                continue
            args = typing.get_args(field.annotation) or (field.annotation,)
            assert SourcedUsd in args, f"{cls.__name__}.{name} is {field.annotation}"
            checked += 1
    assert checked >= 16  # price_usd x 6, cloud prices x 4, region prices x 3, costs x 4


def test_every_builtin_usd_value_has_its_currency_year():
    from gpuplan.catalog import CORE_SECTIONS, sections
    from gpuplan.catalog.schema import USD_YEAR_MAX, USD_YEAR_MIN, SourcedUsd

    c = build_catalog()
    n = 0
    for sec in sections():
        entries = getattr(c, sec) if sec in CORE_SECTIONS else c.section(sec)
        for eid, entry in entries.items():
            for name, v in _usd_fields(entry):
                if v is None:
                    continue
                assert isinstance(v, SourcedUsd), (sec, eid, name)
                assert USD_YEAR_MIN <= v.usd_year <= USD_YEAR_MAX
                expected = STATED_USD_YEARS.get((sec, eid, name), int(v.as_of[:4]))
                assert v.usd_year == expected, (sec, eid, name, v.as_of, v.usd_year)
                n += 1
    # 11 accelerator + 5 system + 4 network prices, 48 cloud rates (B200 1-year contract added),
    # 6 region prices, 18 costs
    assert n == 92


def test_usd_year_in_a_cost_overlay(tmp_path):
    # costs: the usd_* value fields need usd_year; the other value fields refuse it
    ok = {"id": "rack", "name": "Rack", "category": "facility",
          "usd_per_unit": {"value": 3500.0, "source": "quote", "as_of": "2026-02",
                           "usd_year": 2026}}
    c = build_catalog([_write(tmp_path, {"costs": [ok]})])
    assert c.entry("costs", "rack").usd_per_unit.usd_year == 2026
    missing = dict(ok, usd_per_unit={"value": 3500.0, "source": "quote", "as_of": "2026-02"})
    with pytest.raises(UserError, match="usd_per_unit.usd_year"):
        build_catalog([_write(tmp_path, {"costs": [missing]}, "missing.yaml")])
    frac = {"id": "spares", "name": "Spares", "category": "opex",
            "fraction": {"value": 0.03, "source": "judgement", "as_of": "2026",
                         "usd_year": 2026}}
    with pytest.raises(UserError, match="fraction.usd_year"):
        build_catalog([_write(tmp_path, {"costs": [frac]}, "frac.yaml")])


def test_overlay_replaces_a_sourced_value_whole(tmp_path, cat):
    # A quote keeps nothing of the built-in figure: not its note, not its currency year.
    builtin = cat.accelerators["a100-40gb"].price_usd
    assert builtin.usd_year == 2020 and builtin.note
    p = _write(tmp_path, {"accelerators": [{"id": "a100-40gb", "price_usd": {
        "value": 9000.0, "source": "quote", "as_of": "2026-01", "usd_year": 2025}}]})
    q = build_catalog([p]).accelerators["a100-40gb"].price_usd
    assert (q.value, q.source, q.usd_year, q.note) == (9000.0, "quote", 2025, "")


def test_docs_overlay_example_loads(tmp_path):
    # The overlay shown in docs/catalog.md is valid as printed.
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "catalog.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(accelerators:.*?)```", text, re.S).group(1)
    c = build_catalog([_write(tmp_path, yaml.safe_load(block))])
    quote = c.accelerators["h100-sxm"].price_usd
    assert (quote.value, quote.usd_year) == (22000.0, 2026)
    assert c.accelerators["my-npu"].peak("bf16") == 5.0e14
