"""The validated-catalog cache: keyed on file bytes, atomic, never an error, can be turned off."""

import os
import pickle

import pytest
import yaml

from gpuplan.catalog import (
    CACHE_DIR_ENV_VAR,
    NO_CACHE_ENV_VAR,
    build_catalog,
    cache_dir,
    sections,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV_VAR, str(d))
    monkeypatch.delenv(NO_CACHE_ENV_VAR, raising=False)
    return d


def _files(d):
    return sorted(d.glob("catalog-*.pickle"))


def _overlay(tmp_path, price_usd):
    p = tmp_path / "quote.yaml"
    p.write_text(yaml.safe_dump({"accelerators": [
        {"id": "h100-sxm", "price_usd": {"value": price_usd, "source": "a quote",
                                         "as_of": "2026-01", "usd_year": 2026}}]}))
    return p


def test_hit_returns_equal_entries(cache):
    cold = build_catalog()
    assert len(_files(cache)) == 1
    warm = build_catalog()
    assert warm._pickled, "the second build must come from the cache"
    for s in sections():
        assert warm.section(s) == cold.section(s), s
    assert warm.accelerators["h100-sxm"] == cold.accelerators["h100-sxm"]
    assert warm.origin == cold.origin


def test_editing_an_overlay_invalidates(cache, tmp_path):
    p = _overlay(tmp_path, 11111.0)
    first = build_catalog([p])
    assert first.accelerators["h100-sxm"].price_usd.value == 11111.0
    assert build_catalog([p])._pickled  # same bytes: a hit
    _overlay(tmp_path, 22222.0)  # same path, new bytes
    second = build_catalog([p])
    assert not second._pickled, "changed bytes must not hit the old entry"
    assert second.accelerators["h100-sxm"].price_usd.value == 22222.0
    assert len(_files(cache)) == 2  # one entry per overlay content
    assert build_catalog([p]).accelerators["h100-sxm"].price_usd.value == 22222.0


def test_corrupt_cache_is_ignored_and_rebuilt(cache):
    ref = build_catalog()
    (f,) = _files(cache)
    f.write_bytes(b"\x80\x05not a pickle")
    again = build_catalog()
    assert not again._pickled
    assert again.accelerators == ref.accelerators
    assert pickle.loads(f.read_bytes())["sections"]  # rewritten whole


def test_section_that_no_longer_unpickles_is_rebuilt(cache):
    ref = build_catalog()
    (f,) = _files(cache)
    entry = pickle.loads(f.read_bytes())
    entry["sections"]["accelerators"] = b"garbage"
    f.write_bytes(pickle.dumps(entry))
    assert build_catalog().accelerators == ref.accelerators


def test_no_cache_env_var(cache, monkeypatch):
    monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")
    cat = build_catalog()
    assert not cat._pickled
    assert not cache.exists()
    assert cat.accelerators["h100-sxm"].id == "h100-sxm"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_cache_dir_is_skipped(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv(CACHE_DIR_ENV_VAR, str(ro / "sub"))
    assert build_catalog().accelerators["h100-sxm"].id == "h100-sxm"
    assert not (ro / "sub").exists()


def test_cache_dir_under_a_file_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_DIR_ENV_VAR, str(blocker / "gpuplan"))
    assert build_catalog().accelerators["h100-sxm"].id == "h100-sxm"


def test_bad_overlay_still_fails_and_is_not_cached(cache, tmp_path):
    from gpuplan.errors import UserError

    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"accelerators": [{"id": "x", "vendor": 3}]}))
    for _ in range(2):
        with pytest.raises(UserError, match="bad.yaml"):
            build_catalog([p])
    assert not _files(cache)


def test_default_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_DIR_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "gpuplan"


def test_suite_never_uses_the_real_home():
    assert os.environ[CACHE_DIR_ENV_VAR] != str(cache_dir().home() / ".cache" / "gpuplan")
    assert cache_dir() == type(cache_dir())(os.environ[CACHE_DIR_ENV_VAR])
