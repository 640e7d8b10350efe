"""Saved scenarios and their results, with history (SQLite by default, any SQLAlchemy URL).

Two tables: ``scenarios(id, name, created_at)`` and ``revisions(id, scenario_id, number,
created_at, author, yaml_text, result_json, comment, diff)``. Every save is a new revision
(numbered 1, 2, ... per scenario) that records who saved it, when, the scenario YAML, the plan
result as JSON, a comment and the unified diff against the previous revision. Nothing is
updated in place; :meth:`Store.delete` removes a scenario with all its revisions.

Where the data lives: the ``url`` argument, else ``$GPUPLAN_DB_URL``, else the SQLite file
``gpuplan.db`` in ``platformdirs.user_data_dir("gpuplan")``. SQLite runs in WAL mode with
``synchronous=FULL`` (a committed save survives a power cut) and every save is one
``BEGIN IMMEDIATE`` transaction, so concurrent saves from threads or processes queue for the
write lock instead of interleaving; revision numbers are also unique per scenario in the
schema, so other databases reject a collision and the save is retried.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import difflib
import functools
import getpass
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gpuplan.errors import UserError, unknown_name
from gpuplan.units import KILO, MIB

if TYPE_CHECKING:
    from pydantic import BaseModel

ENV_VAR = "GPUPLAN_DB_URL"
DB_FILE_NAME = "gpuplan.db"
#: Largest scenario text stored [bytes] (as for scenario files).
MAX_YAML_BYTES = 2 * MIB
#: Largest result JSON stored [bytes].
MAX_RESULT_BYTES = 64 * MIB
#: Scenario names: a letter or digit, then letters, digits, space, ``. _ -``; at most 100.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")
MAX_AUTHOR_CHARS = 200
MAX_COMMENT_CHARS = 2000
#: How long a writer waits for SQLite's write lock [s].
SQLITE_BUSY_TIMEOUT_S = 30.0
#: The same, as SQLite's ``busy_timeout`` takes it [ms].
SQLITE_BUSY_TIMEOUT_MS = round(SQLITE_BUSY_TIMEOUT_S * KILO)
#: Saves retried on a revision-number collision (databases without BEGIN IMMEDIATE).
SAVE_RETRIES = 5
#: Largest revision number a database integer holds (SQLite and most SQL: signed 64-bit).
MAX_REVISION = 2**63 - 1
_WRITE_OPTION = "gpuplan_write"
P = ParamSpec("P")
R = TypeVar("R")

metadata = MetaData()
scenarios = Table(
    "scenarios", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
revisions = Table(
    "revisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scenario_id", Integer, ForeignKey("scenarios.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("author", String(MAX_AUTHOR_CHARS), nullable=False),
    Column("yaml_text", Text, nullable=False),
    Column("result_json", Text, nullable=True),
    Column("comment", Text, nullable=False, default=""),
    Column("diff", Text, nullable=False, default=""),
    UniqueConstraint("scenario_id", "number", name="uq_revision_number"),
)


@dataclass(frozen=True)
class Revision:
    """One saved revision of a scenario."""

    id: int
    name: str
    revision: int
    created_at: str
    author: str
    comment: str
    yaml_text: str
    result_json: str | None
    diff: str

    @property
    def result(self) -> dict[str, Any] | None:
        """The stored plan result, parsed (None when none was stored)."""
        return None if self.result_json is None else json.loads(self.result_json)

    def as_dict(self, *, with_text: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if not with_text:
            for k in ("yaml_text", "result_json", "diff"):
                d.pop(k)
        return d


class NotFound(UserError):
    """No such scenario or revision (the web app answers 404)."""


class StoreUnavailable(UserError):
    """The database failed after it opened: corrupt, read-only, locked past the busy timeout,
    full (the CLI exits 2 with one line, the web app answers 503)."""


#: Read and write operations, as the message of a failed one names them.
_ACTIONS = {"save": "write to", "delete": "write to"}


def _db_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Turn a database error raised by a :class:`Store` method into one-line
    :class:`StoreUnavailable` (``cannot read the store 'URL': database disk image is
    malformed``) instead of SQLAlchemy's multi-line text with the SQL statement."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except SQLAlchemyError as e:
            store = args[0]
            action = _ACTIONS.get(method.__name__, "read")
            orig = getattr(e, "orig", None) or e
            detail = " ".join(str(orig).split()) or type(orig).__name__
            if "locked" in detail:
                detail += f" (another writer held it for over {SQLITE_BUSY_TIMEOUT_S:g} s)"
            url = store._safe_url() if isinstance(store, Store) else "?"
            raise StoreUnavailable(f"cannot {action} the store {url!r}: {detail}") from None

    return wrapper


def default_url() -> str:
    """``$GPUPLAN_DB_URL``, else SQLite in the user data folder (created when needed)."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return env
    import platformdirs

    folder = Path(platformdirs.user_data_dir("gpuplan"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / DB_FILE_NAME}"


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _iso(t: _dt.datetime) -> str:
    if t.tzinfo is None:  # SQLite hands back naive datetimes; they were stored in UTC
        t = t.replace(tzinfo=_dt.UTC)
    return t.isoformat(timespec="microseconds")


def _default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _result_text(result: str | Mapping[str, Any] | BaseModel) -> str:
    """A plan result as JSON text (strict JSON: NaN and infinities refused)."""
    if isinstance(result, str):
        return result
    data = result.model_dump() if hasattr(result, "model_dump") else result
    return json.dumps(data, allow_nan=False)


def check_name(name: str) -> str:
    """A valid scenario name, or a UserError that says what is accepted."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise UserError(f"scenario name {name!r} is not accepted: use 1-100 characters, letters, "
                        f"digits, space, '.', '_' or '-', starting with a letter or digit")
    return name


def unified_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """Unified diff of two scenario texts (empty when equal)."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        fromfile=old_label, tofile=new_label))


class Store:
    """Saved scenarios with their revision history.

    Parameters
    ----------
    url : str, optional
        Any SQLAlchemy URL; default :func:`default_url`.
    """

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        self.is_sqlite = self.url.startswith("sqlite")
        kw: dict[str, Any] = {}
        if self.is_sqlite:
            kw["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        try:
            self.engine: Engine = create_engine(self.url, **kw)
        except Exception as e:
            raise UserError(f"cannot open the store {self._safe_url()!r}: {e}") from None
        if self.is_sqlite:
            self._sqlite_setup()
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError as e:  # not a database, no such folder, refused, locked
            orig = getattr(e, "orig", None) or e
            detail = " ".join(str(orig).split())
            raise UserError(f"cannot open the store {self._safe_url()!r}: {detail}") from None

    def _safe_url(self) -> str:
        """The URL without its password (for messages)."""
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)

    def _sqlite_setup(self) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: object) -> None:  # a DB-API connection
            # Let SQLAlchemy's "begin" below issue BEGIN; pysqlite's own implicit BEGIN would
            # take the write lock too late for read-then-write transactions.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (on SQLite it takes the write lock at BEGIN)."""
        with self.engine.connect() as c:
            c.execution_options(**{_WRITE_OPTION: True})
            with c.begin():
                yield c

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @_db_errors
    def pragma(self, name: str) -> Any:
        """A SQLite PRAGMA's value (``journal_mode``, ``synchronous``); None on other databases."""
        if not self.is_sqlite or not re.fullmatch(r"[a-z_]+", name):
            return None
        with self.engine.connect() as c:
            return c.exec_driver_sql(f"PRAGMA {name}").scalar()

    # -- writing -------------------------------------------------------------------------------
    @_db_errors
    def save(self, name: str, yaml_text: str,
             result_json: str | Mapping[str, Any] | BaseModel | None = None,
             author: str | None = None, comment: str | None = None) -> int:
        """Save a new revision of ``name`` (created on first save), in one transaction.

        Parameters
        ----------
        result_json : str or dict, optional
            The plan result (JSON text, or a dict / pydantic model that is serialised).

        Returns
        -------
        int
            The new revision's number within the scenario (1 for the first save).
        """
        check_name(name)
        if not isinstance(yaml_text, str):
            raise UserError("scenario text must be a string")
        if len(yaml_text.encode("utf-8")) > MAX_YAML_BYTES:
            raise UserError(f"scenario text larger than {MAX_YAML_BYTES // MIB} MiB")
        result_text = None if result_json is None else _result_text(result_json)
        if result_text is not None and len(result_text) > MAX_RESULT_BYTES:
            raise UserError(f"result larger than {MAX_RESULT_BYTES // MIB} MiB")
        author = (author if author is not None else _default_author())[:MAX_AUTHOR_CHARS]
        comment = (comment or "")[:MAX_COMMENT_CHARS]
        for attempt in range(SAVE_RETRIES):
            try:
                return self._save_once(name, yaml_text, result_text, author, comment)
            except IntegrityError:
                if attempt == SAVE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _save_once(self, name: str, yaml_text: str, result_json: str | None, author: str,
                   comment: str) -> int:
        now = _now()
        with self._write() as c:
            sid = c.execute(select(scenarios.c.id).where(scenarios.c.name == name)).scalar()
            if sid is None:
                key = c.execute(scenarios.insert().values(name=name, created_at=now)
                                ).inserted_primary_key
                if key is None:  # pragma: no cover - every SQLAlchemy dialect returns it
                    raise RuntimeError(f"no id returned for the new scenario {name!r}")
                sid = key[0]
                prev_number, prev_text = 0, ""
            else:
                row = c.execute(select(revisions.c.number, revisions.c.yaml_text)
                                .where(revisions.c.scenario_id == sid)
                                .order_by(revisions.c.number.desc()).limit(1)).first()
                prev_number, prev_text = (row[0], row[1]) if row else (0, "")
            number = prev_number + 1
            diff = unified_diff(prev_text, yaml_text,
                                f"{name}@{prev_number}" if prev_number else "/dev/null",
                                f"{name}@{number}")
            c.execute(revisions.insert().values(
                scenario_id=sid, number=number, created_at=now, author=author,
                yaml_text=yaml_text, result_json=result_json, comment=comment, diff=diff))
        return number

    @_db_errors
    def delete(self, name: str) -> int:
        """Delete a scenario and all its revisions; returns how many revisions were deleted."""
        with self._write() as c:
            sid = self._scenario_id(c, name)
            n = c.execute(revisions.delete().where(revisions.c.scenario_id == sid)).rowcount
            c.execute(scenarios.delete().where(scenarios.c.id == sid))
        return int(n)

    # -- reading -------------------------------------------------------------------------------
    def _scenario_id(self, c: Connection, name: str) -> int:
        sid = c.execute(select(scenarios.c.id).where(scenarios.c.name == name)).scalar()
        if sid is None:
            known = c.execute(select(scenarios.c.name)).scalars().all()
            err = unknown_name("saved scenario", str(name), known)
            raise NotFound(str(err).replace(" (see `gpuplan catalog`)", ""))
        return int(sid)

    @_db_errors
    def list(self) -> list[dict[str, Any]]:
        """Every saved scenario: name, created_at, updated_at, revisions, latest author."""
        latest = (select(revisions.c.scenario_id, func.max(revisions.c.number).label("latest"),
                         func.max(revisions.c.created_at).label("updated"))
                  .group_by(revisions.c.scenario_id).subquery())
        q = (select(scenarios.c.name, scenarios.c.created_at, latest.c.latest, latest.c.updated)
             .join(latest, latest.c.scenario_id == scenarios.c.id).order_by(scenarios.c.name))
        with self.engine.connect() as c:
            return [{"name": r.name, "created_at": _iso(r.created_at),
                     "updated_at": _iso(r.updated), "revisions": int(r.latest)}
                    for r in c.execute(q)]

    def _rows(self, c: Connection, name: str, number: int | None = None
              ) -> Sequence[RowMapping]:
        sid = self._scenario_id(c, name)
        q = (select(revisions).where(revisions.c.scenario_id == sid)
             .order_by(revisions.c.number))
        if number is not None:
            q = q.where(revisions.c.number == number)
        return c.execute(q).mappings().all()

    @staticmethod
    def _revision(name: str, r: RowMapping) -> Revision:
        return Revision(id=r["id"], name=name, revision=r["number"],
                        created_at=_iso(r["created_at"]), author=r["author"],
                        comment=r["comment"] or "", yaml_text=r["yaml_text"],
                        result_json=r["result_json"], diff=r["diff"] or "")

    @_db_errors
    def history(self, name: str) -> builtins.list[Revision]:
        """Every revision of ``name``, oldest first."""
        with self.engine.connect() as c:
            return [self._revision(name, r) for r in self._rows(c, name)]

    @_db_errors
    def get(self, name: str, revision: int | None = None) -> Revision:
        """A revision of ``name`` by number (default: the latest)."""
        with self.engine.connect() as c:
            if revision is None:
                rows = self._rows(c, name)
                if not rows:  # pragma: no cover - a scenario always has a revision
                    raise NotFound(f"saved scenario {name!r} has no revisions")
                return self._revision(name, rows[-1])
            in_range = isinstance(revision, int) and 1 <= revision <= MAX_REVISION
            rows = self._rows(c, name, int(revision)) if in_range else []
            if not rows:
                n = len(self._rows(c, name))
                raise NotFound(f"saved scenario {name!r} has no revision {revision}; "
                               f"revisions: 1 to {n}")
            return self._revision(name, rows[0])

    def diff(self, name: str, rev_a: int, rev_b: int) -> str:
        """Unified diff of the scenario text from revision ``rev_a`` to ``rev_b``."""
        a, b = self.get(name, rev_a), self.get(name, rev_b)
        return unified_diff(a.yaml_text, b.yaml_text, f"{name}@{a.revision}",
                            f"{name}@{b.revision}")
