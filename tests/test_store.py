"""The scenario store: revisions with history and diffs, WAL SQLite, concurrent saves."""

from __future__ import annotations

import difflib
import json
import threading
from pathlib import Path

import pytest

from gpuplan.errors import UserError
from gpuplan.store import ENV_VAR, NotFound, Store, default_url


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()


def test_save_history_get_diff(store):
    assert store.save("plan-a", "rate: 20\nyears: 4\n", {"npv_usd": 1.0}, author="ana",
                      comment="first") == 1
    assert store.save("plan-a", "rate: 80\nyears: 4\n", json.dumps({"npv_usd": 2.0}),
                      author="bo") == 2
    assert store.save("plan-b", "x: 1\n") == 1

    h = store.history("plan-a")
    assert [r.revision for r in h] == [1, 2]
    assert [r.author for r in h] == ["ana", "bo"] and h[0].comment == "first"
    assert h[0].created_at <= h[1].created_at and h[0].created_at.endswith("+00:00")
    assert h[0].diff.startswith("--- /dev/null\n+++ plan-a@1")
    assert "-rate: 20\n+rate: 80\n years: 4\n" in h[1].diff  # unchanged lines are context

    latest = store.get("plan-a")
    assert latest.revision == 2 and latest.result == {"npv_usd": 2.0}
    assert store.get("plan-a", 1).yaml_text == "rate: 20\nyears: 4\n"
    assert store.get("plan-b").result is None

    d = store.diff("plan-a", 1, 2)
    assert d.startswith("--- plan-a@1\n+++ plan-a@2\n") and "+rate: 80" in d
    assert store.diff("plan-a", 2, 2) == ""

    listed = {s["name"]: s for s in store.list()}
    assert listed["plan-a"]["revisions"] == 2 and listed["plan-b"]["revisions"] == 1
    assert store.get("plan-a").as_dict(with_text=False).keys() == {
        "id", "name", "revision", "created_at", "author", "comment"}


def test_unknown_names_and_revisions(store):
    store.save("alpha", "a: 1\n")
    with pytest.raises(NotFound, match="closest: alpha"):
        store.get("alpah")
    with pytest.raises(NotFound, match="no revision 5"):
        store.get("alpha", 5)
    with pytest.raises(NotFound):
        store.history("zzz")


def test_delete_removes_all_revisions(store):
    for i in range(3):
        store.save("gone", f"v: {i}\n")
    store.save("kept", "v: 0\n")
    assert store.delete("gone") == 3
    assert [s["name"] for s in store.list()] == ["kept"]
    with pytest.raises(NotFound):
        store.get("gone")
    assert store.save("gone", "v: 9\n") == 1  # a new scenario starts again at 1


@pytest.mark.parametrize("name", ["", "../etc", "a/b", " lead", "x" * 101, "tab\tname",
                                  "<script>"])
def test_names_are_checked(store, name):
    with pytest.raises(UserError, match="not accepted"):
        store.save(name, "a: 1\n")


def test_sqlite_is_wal_with_full_sync(store):
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2  # FULL
    assert store.pragma("foreign_keys") == 1


def test_concurrent_saves_keep_every_revision(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    shared = Store(url)
    n_threads, n_saves = 8, 10
    errors: list[BaseException] = []

    def work(i: int) -> None:
        s = shared if i % 2 else Store(url)  # one engine shared by threads, and several
        try:
            for j in range(n_saves):
                s.save("busy", f"thread: {i}\nsave: {j}\n", author=f"t{i}")
                s.save(f"own-{i}", f"save: {j}\n")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    h = shared.history("busy")
    assert [r.revision for r in h] == list(range(1, n_threads * n_saves + 1))
    assert sorted(r.yaml_text for r in h) == sorted(
        f"thread: {i}\nsave: {j}\n" for i in range(n_threads) for j in range(n_saves))
    for r_prev, r in zip(h, h[1:]):  # each diff is against the revision saved just before
        # every save's text is unique, so no diff is empty; difflib is the oracle
        expected = "".join(difflib.unified_diff(
            r_prev.yaml_text.splitlines(keepends=True), r.yaml_text.splitlines(keepends=True),
            fromfile=f"busy@{r_prev.revision}", tofile=f"busy@{r.revision}"))
        assert r.diff and r.diff == expected, (r_prev.revision, r.revision, r.diff)
    assert all(len(shared.history(f"own-{i}")) == n_saves for i in range(n_threads))


def test_url_from_environment_and_default_location(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv(ENV_VAR, url)
    assert default_url() == url
    with Store() as s:
        assert s.url == url
        s.save("e", "a: 1\n")
    assert (tmp_path / "env.db").is_file()

    monkeypatch.delenv(ENV_VAR)
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(tmp_path / "data" / app))
    assert default_url() == f"sqlite:///{tmp_path / 'data' / 'gpuplan' / 'gpuplan.db'}"
    assert (tmp_path / "data" / "gpuplan").is_dir()
    with Store(url) as s:  # an explicit URL wins over both
        assert s.url == url


def test_bad_url_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot open the store"):
        Store("nosuchdriver://x")
    with pytest.raises(UserError, match="cannot open the store"):
        Store(f"sqlite:///{tmp_path / 'missing-folder' / 'x.db'}")


# ----------------------------------------------------------------------------------------------
# Hostile URLs and numbers (issue 16): one-line UserErrors, never a database traceback
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url,words", [
    ("sqlite:////etc/passwd", ["/etc/passwd", "not a database"]),   # a text file, untouched
    ("sqlite:////no/such/folder/x.db", ["unable to open"]),
    ("no-such-scheme", ["Could not parse"]),
    ("postgresql+nosuchdriver://u:secret@127.0.0.1/x", ["***"]),     # password never shown
])
def test_bad_store_url_is_one_line(url, words):
    before = Path("/etc/passwd").read_bytes() if "passwd" in url else None
    with pytest.raises(UserError) as ei:
        Store(url)
    msg = str(ei.value)
    assert msg.startswith("cannot open the store") and "\n" not in msg, msg
    assert "secret" not in msg
    for w in words:
        assert w in msg, msg
    if before is not None:
        assert Path("/etc/passwd").read_bytes() == before


@pytest.mark.parametrize("revision", [2**63, 2**63 - 1, 10**30, 0, -1])
def test_revision_out_of_range_is_not_found(store, revision):
    store.save("plan-a", "x: 1\n")
    with pytest.raises(NotFound, match=f"no revision {revision}; revisions: 1 to 1"):
        store.get("plan-a", revision)
