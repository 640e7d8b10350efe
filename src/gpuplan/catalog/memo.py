"""Numbers derived from the catalog, remembered on disk beside the validated-catalog cache.

Some defaults are a whole computation over the catalog: the levelised owned GPU-hour that
``gpuplan serve`` and ``gpuplan train`` price with is a full own-vs-rent run of a reference
cluster (cluster builder, CapEx, the monthly cash-flow model). Loading that code and running it
costs a cold ``gpuplan serve`` more than its own answer does, and the result depends only on the
catalog's bytes and on the code that computes it. :func:`remembered` keeps such numbers in a
small JSON file whose name is a digest of both, so an edit to a catalog file or to the code gives
a new file and a stale number is never read; with the cache off (``GPUPLAN_NO_CACHE=1``, or a
catalog built without it) every call computes.

:func:`package_yaml` does the same for gpuplan's own fitted-parameter files
(``calibration.yaml``): the parsed document is kept under a digest of the file's bytes, so a
cold command does not load the YAML library to read two dozen numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuplan.catalog import NO_CACHE_ENV_VAR, cache_dir

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog

_MEMO_PREFIX = "memo-"
_MEMO_SUFFIX = ".json"
_YAML_PREFIX = "yaml-"
_YAML_SUFFIX = ".pickle"
#: Memo files kept; older ones (earlier catalogs or code) are removed [files].
MAX_MEMO_FILES = 16
#: Bumped when the layout of a memo file changes.
_MEMO_FORMAT = 1
#: The package root: code folders are named relative to it.
_PACKAGE_DIR = Path(__file__).parent.parent

#: What this process has read or computed: memo file -> {key: value}.
_LOADED: dict[Path, dict[str, float | None]] = {}


def _memo_file(cat: Catalog, code_dirs: Iterable[str]) -> Path | None:
    """The memo file of ``cat`` and the code in ``code_dirs``; None when the cache is off.

    Notes
    -----
    name = sha256 over the memo format, the catalog's content key (itself a digest of the
    catalog files, the validating code and the Python and gpuplan versions) and the path and
    bytes of every ``*.py`` file in ``code_dirs`` (folders under the ``gpuplan`` package).
    """
    if cat.content_key is None:
        return None
    h = hashlib.sha256(f"{_MEMO_FORMAT}|{cat.content_key}".encode())
    try:
        for d in sorted(code_dirs):
            for p in sorted((_PACKAGE_DIR / d).glob("*.py")):
                data = p.read_bytes()
                h.update(f"|{d}/{p.name}|{len(data)}|".encode())
                h.update(data)
    except OSError:
        return None
    return cache_dir() / f"{_MEMO_PREFIX}{h.hexdigest()[:40]}{_MEMO_SUFFIX}"


def _read(path: Path) -> dict[str, float | None]:
    """The entries of ``path``; empty when absent, unreadable or malformed (then recomputed)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: (float(v) if v is not None else None) for k, v in raw.items()
            if isinstance(k, str) and (v is None or isinstance(v, (int, float)))}


def write_atomically(path: Path, data: bytes, *, prefix: str, keep: int = MAX_MEMO_FILES) -> None:
    """Store ``data`` in ``path`` (a temporary file renamed with ``os.replace``, so a reader
    never sees half a file) and keep only the newest ``keep`` files named ``prefix*`` beside it;
    an unwritable directory skips the write (a cache is never an error)."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        tmp = None
        old = sorted(path.parent.glob(f"{prefix}*{path.suffix}"),
                     key=lambda q: q.stat().st_mtime, reverse=True)
        for q in old[keep:]:
            q.unlink(missing_ok=True)
    except OSError:
        pass
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def remembered(cat: Catalog, key: str, compute: Callable[[], float | None], *,
               code_dirs: Iterable[str]) -> float | None:
    """``compute()``, or the value it returned before for these catalog bytes and this code.

    Parameters
    ----------
    cat : Catalog
        The catalog the value is derived from (its ``content_key`` names the memo) [—].
    key : str
        What is computed, with its arguments (e.g. ``"own_usd_per_gpu_hour|h100-sxm|us"``) [—].
    compute : callable
        Computes the value; a finite float or None [unit of the value].
    code_dirs : iterable of str
        Folders of the ``gpuplan`` package whose code the value depends on (``"money"``,
        ``"cluster"``); the catalog's own code is already in its content key [—].

    Returns
    -------
    float or None
        The value [unit of the value]. A non-finite result is returned but not remembered.
    """
    path = _memo_file(cat, code_dirs)
    if path is None:
        return compute()
    entries = _LOADED.get(path)
    if entries is None:
        entries = _LOADED[path] = _read(path)
    if key in entries:
        return entries[key]
    value = compute()
    if value is None or math.isfinite(value):
        entries[key] = value
        write_atomically(path, json.dumps(entries, sort_keys=True).encode(), prefix=_MEMO_PREFIX)
    return value


def package_yaml(path: Path) -> Any:
    """The parsed YAML document in ``path`` (one of gpuplan's own files), None when absent.

    Parameters
    ----------
    path : Path
        A YAML file shipped with gpuplan (fitted parameters), parsed with the safe loader [—].

    Notes
    -----
    The parsed document is pickled in the cache directory under sha256(format, file bytes);
    a hit needs neither PyYAML nor a parse. The cache is skipped when ``GPUPLAN_NO_CACHE`` is
    set or the directory is not writable.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    use_cache = os.environ.get(NO_CACHE_ENV_VAR, "") in ("", "0")
    digest = hashlib.sha256(f"{_MEMO_FORMAT}|".encode() + raw).hexdigest()[:40]
    cached = cache_dir() / f"{_YAML_PREFIX}{digest}{_YAML_SUFFIX}"
    if use_cache:
        try:
            return pickle.loads(cached.read_bytes())
        except Exception:  # absent, truncated or from another build: parse again
            pass
    import yaml

    from gpuplan.textfile import SafeLoader

    doc = yaml.load(raw.decode("utf-8"), Loader=SafeLoader)
    if use_cache:
        write_atomically(cached, pickle.dumps(doc, pickle.HIGHEST_PROTOCOL), prefix=_YAML_PREFIX)
    return doc
