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


# ----------------------------------------------------------------------------------------------
# Database errors after the store opened (issue 16): corrupt, read-only, locked. One line naming
# the store and whether it was read or written; exit 2 on the CLI, 503 with Retry-After on the web
# ----------------------------------------------------------------------------------------------

#: SQLite's page size in the files these tests make [bytes] (SQLite's default since 3.12).
SQLITE_PAGE_BYTES = 4096
#: Pages kept intact when corrupting a store: the header page and the scenarios table's root.
INTACT_PAGES = 3


def _saved_store(tmp_path: Path, n: int = 6) -> Path:
    """A store file with ``n`` saved scenarios, its WAL checkpointed into the file."""
    import sqlite3

    path = tmp_path / "s.db"
    with Store(f"sqlite:///{path}") as s:
        for i in range(n):
            s.save(f"s{i}", f"name: s{i}\nx: {'y' * 2000}\n")
    c = sqlite3.connect(path)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    return path


def _corrupt(path: Path) -> Path:
    """The store's file with every page after the first ones overwritten: it still opens (the
    schema is readable) but reading a revision fails with 'database disk image is malformed'."""
    data = path.read_bytes()
    keep = SQLITE_PAGE_BYTES * INTACT_PAGES
    assert len(data) > keep
    bad = path.with_name("bad.db")
    bad.write_bytes(data[:keep] + b"\xab" * (len(data) - keep))
    return bad


#: A scenario that validates (a saved scenario is validated before the store is touched).
VALID = ("name: {0}\nhardware_options: [{{gpu: h100-sxm}}]\nworkloads:\n"
         "  - {{kind: serve, name: s, model: llama-3.1-8b, rate: 2}}\n")


def _cli(args: list[str]) -> tuple[int, str]:
    from gpuplan.cli.fuzz import invoke

    r = invoke(args)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.output


def _one_line(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gpuplan: error: "), out[:2000]
    assert "[SQL:" not in lines[0] and "Traceback" not in out
    return lines[0]


def test_corrupt_store_is_one_line_per_command(tmp_path):
    bad = _corrupt(_saved_store(tmp_path))
    before = bad.read_bytes()
    db = f"sqlite:///{bad}"
    scen = tmp_path / "new.yaml"
    scen.write_text(VALID.format("s1"))
    for args, verb in [(["scenarios", "list"], "read"), (["scenarios", "show", "s1"], "read"),
                       (["scenarios", "diff", "s1", "1", "1"], "read"),
                       (["scenarios", "save", str(scen), "--name", "s1"], "write to")]:
        code, out = _cli([*args, "--db", db])
        line = _one_line(out)
        assert code == 2, out
        assert f"cannot {verb} the store '{db}'" in line and "malformed" in line, line
    assert bad.read_bytes() == before  # nothing written into a corrupt file


def test_read_only_store_refuses_saves_reads_still_work(tmp_path):
    path = _saved_store(tmp_path, n=1)
    ro = f"sqlite:///file:{path}?mode=ro&uri=true"  # read-only whoever runs it (even root)
    code, out = _cli(["scenarios", "list", "--db", ro, "--json"])
    assert code == 0 and json.loads(out)["scenarios"][0]["name"] == "s0", out
    scen = tmp_path / "s0.yaml"
    scen.write_text(VALID.format("s0"))
    code, out = _cli(["scenarios", "save", str(scen), "--db", ro])
    line = _one_line(out)
    assert code == 2 and "cannot write to the store" in line and "readonly" in line, line
    with Store(f"sqlite:///{path}") as s:
        assert [h.revision for h in s.history("s0")] == [1]


@pytest.fixture
def short_busy_timeout(monkeypatch):
    """SQLite's busy timeout cut to 0.2 s so a locked store fails quickly."""
    import gpuplan.store as store_mod

    monkeypatch.setattr(store_mod, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(store_mod, "SQLITE_BUSY_TIMEOUT_MS", 200)


def test_locked_store_is_one_line_then_works_again(tmp_path, short_busy_timeout):
    import sqlite3

    path = _saved_store(tmp_path, n=1)
    db = f"sqlite:///{path}"
    scen = tmp_path / "s0.yaml"
    scen.write_text(VALID.format("s0"))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
    try:
        code, out = _cli(["scenarios", "save", str(scen), "--db", db])
        line = _one_line(out)
        assert code == 2 and "cannot write to the store" in line and "locked" in line, line
        assert "0.2 s" in line, line
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    code, out = _cli(["scenarios", "save", str(scen), "--db", db])
    assert code == 0 and "revision 2" in out, out


def test_web_answers_503_for_a_failed_store(tmp_path):
    import warnings

    from gpuplan.web import create_app

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    bad = _corrupt(_saved_store(tmp_path))
    app = create_app(f"sqlite:///{bad}", spec_dir=tmp_path, workers=1)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for r in (client.get("/api/scenarios"), client.get("/api/scenarios/s1"),
                  client.post("/api/scenarios", json={"name": "s1", "yaml": VALID.format("s1")})):
            assert r.status_code == 503, r.text[:300]
            assert "malformed" in r.json()["detail"] and "\n" not in r.json()["detail"]
            assert r.headers["retry-after"].isdigit()
        spec = client.get("/api/openapi.json").json()
        assert "503" in spec["paths"]["/api/scenarios"]["get"]["responses"]
