"""Derived values remembered on disk (gpuplan.catalog.memo) and the lazy money package.

A cold ``gpuplan serve`` or ``train`` prices its GPU-hours with the owned GPU-hour of a
reference cluster; the memo keeps that number per catalog bytes and code so the cluster builder
and the cash-flow model are not loaded on every call (issue 13, item 10). Never stale: a new
catalog or new code is a new memo file.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from gpuplan.catalog import CACHE_DIR_ENV_VAR, NO_CACHE_ENV_VAR, build_catalog, memo


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV_VAR, str(d))
    monkeypatch.delenv(NO_CACHE_ENV_VAR, raising=False)
    monkeypatch.setattr(memo, "_LOADED", {})
    return d


class _Counter:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def test_a_value_is_computed_once_then_read_from_disk(cache, monkeypatch):
    cat = build_catalog()
    assert cat.content_key is not None
    f = _Counter(1.25)
    assert memo.remembered(cat, "k|a", f, code_dirs=("money",)) == 1.25
    monkeypatch.setattr(memo, "_LOADED", {})  # a new process: only the file remains
    assert memo.remembered(cat, "k|a", f, code_dirs=("money",)) == 1.25
    assert f.calls == 1
    (path,) = cache.glob("memo-*.json")
    assert json.loads(path.read_text()) == {"k|a": 1.25}
    none = _Counter(None)  # "cannot be priced" is remembered too
    assert memo.remembered(cat, "k|b", none, code_dirs=("money",)) is None
    assert memo.remembered(cat, "k|b", none, code_dirs=("money",)) is None
    assert none.calls == 1


def test_other_code_or_catalog_is_another_memo(cache, tmp_path):
    cat = build_catalog()
    memo.remembered(cat, "k", _Counter(1.0), code_dirs=("money",))
    f = _Counter(2.0)
    assert memo.remembered(cat, "k", f, code_dirs=("money", "cluster")) == 2.0
    quote = tmp_path / "quote.yaml"
    quote.write_text(yaml.safe_dump({"accelerators": [
        {"id": "h100-sxm", "price_usd": {"value": 12345.0, "source": "a quote",
                                         "as_of": "2026-01", "usd_year": 2026}}]}))
    other = build_catalog([quote])
    assert other.content_key != cat.content_key
    g = _Counter(3.0)
    assert memo.remembered(other, "k", g, code_dirs=("money",)) == 3.0
    assert (f.calls, g.calls) == (1, 1)
    assert len(list(cache.glob("memo-*.json"))) == 3


def test_cache_off_or_corrupt_file_computes(cache, monkeypatch):
    cat = build_catalog()
    f = _Counter(4.0)
    memo.remembered(cat, "k", f, code_dirs=("money",))
    (path,) = cache.glob("memo-*.json")
    path.write_text("{not json")
    monkeypatch.setattr(memo, "_LOADED", {})
    assert memo.remembered(cat, "k", f, code_dirs=("money",)) == 4.0
    assert f.calls == 2
    monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")
    off = build_catalog()
    assert off.content_key is None
    for _ in range(2):
        memo.remembered(off, "k", f, code_dirs=("money",))
    assert f.calls == 4


def test_a_non_finite_value_is_not_remembered(cache):
    cat = build_catalog()
    f = _Counter(float("nan"))
    memo.remembered(cat, "k", f, code_dirs=("money",))
    memo.remembered(cat, "k", f, code_dirs=("money",))
    assert f.calls == 2


def test_owned_gpu_hour_is_the_same_from_the_memo(cache, monkeypatch):
    """The remembered figure is the computed one (tco of 1,024 accelerators at utilisation 1)."""
    from gpuplan.money import runs
    from gpuplan.money.owning import tco

    cat = build_catalog()
    monkeypatch.setattr(runs, "_OWN_CACHE", {})
    first = runs.default_own_usd_per_gpu_hour("h100-sxm", cat)
    direct = tco("h100-sxm", runs.REFERENCE_CLUSTER_GPUS, utilisation=1.0,
                 cloud=runs.default_rent_usd_per_gpu_hour("h100-sxm", cat), catalog=cat)
    assert first == pytest.approx(float(direct.cost_usd_per_gpu_hour["own"]), rel=1e-12)
    monkeypatch.setattr(runs, "_OWN_CACHE", {})
    monkeypatch.setattr(memo, "_LOADED", {})
    assert runs.default_own_usd_per_gpu_hour("h100-sxm", cat) == first
    assert runs.default_own_usd_per_gpu_hour("no-such-gpu", cat) is None


def test_package_yaml_parses_once_and_follows_the_bytes(cache, tmp_path, monkeypatch):
    p = tmp_path / "fit.yaml"
    p.write_text("a: 1\nb: [2.5, x]\n")
    assert memo.package_yaml(p) == {"a": 1, "b": [2.5, "x"]}
    assert len(list(cache.glob("yaml-*.pickle"))) == 1

    def refuse(*a, **k):
        raise AssertionError("a cached document must not be parsed again")

    monkeypatch.setattr(yaml, "load", refuse)
    assert memo.package_yaml(p) == {"a": 1, "b": [2.5, "x"]}
    monkeypatch.undo()
    p.write_text("a: 2\n")
    assert memo.package_yaml(p) == {"a": 2}
    assert memo.package_yaml(tmp_path / "absent.yaml") is None


def test_money_names_load_lazily():
    import gpuplan.money as money

    assert sorted(money.__all__) == sorted(money._HOME)
    for name in money.__all__:
        assert getattr(money, name) is not None
    with pytest.raises(AttributeError):
        money.no_such_name  # noqa: B018


@pytest.mark.parametrize("command", [
    "['serve', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--json']",
    "['train', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--gpus', '64', '--tokens', '1e11', '--json']",
])
def test_a_warm_command_loads_neither_yaml_nor_the_cash_flow_model(tmp_path, command):
    """The second ``gpuplan serve|train --json`` reads the memo: the modules it must not load."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from gpuplan.cli.app import app\n"
        f"r = CliRunner().invoke(app, {command})\n"
        "assert r.exit_code == 0, r.output\n"
        "print(' '.join(m for m in ('yaml', 'gpuplan.money.cashflows', 'gpuplan.cluster')\n"
        "               if m in sys.modules))\n"
    )
    env = {**__import__("os").environ, CACHE_DIR_ENV_VAR: str(tmp_path / "c")}
    env.pop(NO_CACHE_ENV_VAR, None)
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True)
    assert "gpuplan.money.cashflows" in first.stdout  # the first call computes the figure
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    assert warm.stdout.split() == [], warm.stdout
