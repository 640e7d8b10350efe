"""The catalog: accelerators, systems and models, every number with its source and date.

Built-in YAML files live in ``catalog/data``. A user overlays their own files (``--catalog FILE``
or the ``GPUPLAN_CATALOG`` environment variable, several paths separated by ``os.pathsep``):
an entry whose ``id`` exists is merged field by field over the built-in one (override a price
with a quote), a new ``id`` is added (a GPU the catalog lacks). The merged result is validated by
the pydantic schema; a bad file is reported on one line naming the file, the entry and the field.
A sourced number (a mapping with a ``value``) is replaced whole, never merged key by key, so a
quote never inherits the built-in figure's source, note or currency year.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from gpuplan.errors import UserError, unknown_name

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from gpuplan.catalog.schema import Accelerator, Fabric, Model, Reliability, System
    from gpuplan.catalog.schema_cluster import (
        Appliance,
        ClusterRules,
        CoolingType,
        FacilityType,
        Network,
        Nic,
        Switch,
        SystemLayout,
        Transceiver,
    )
    from gpuplan.catalog.schema_money import CloudModel, CostModel, RegionModel

DATA_DIR = Path(__file__).parent / "data"
CORE_SECTIONS = ("accelerators", "systems", "models", "fabrics", "reliability")
#: Key that marks a mapping as one sourced number (replaced whole by an overlay).
_VALUE_KEY = "value"
#: Key whose mapping (a model's HF config) an overlay replaces whole.
_CONFIG_KEY = "config"


def _extension_sections() -> dict[str, type[BaseModel]]:
    from gpuplan.catalog.schema_cluster import CLUSTER_SECTIONS
    from gpuplan.catalog.schema_frameworks import FRAMEWORK_SECTIONS
    from gpuplan.catalog.schema_money import MONEY_SECTIONS

    return {**CLUSTER_SECTIONS, **MONEY_SECTIONS, **FRAMEWORK_SECTIONS}


def sections() -> tuple[str, ...]:
    """Every catalog section: the core ones and those the cluster and money stages add."""
    return CORE_SECTIONS + tuple(_extension_sections())


ENV_VAR = "GPUPLAN_CATALOG"
#: Largest catalog file accepted [bytes]; a catalog is text, not a data dump.
MAX_CATALOG_FILE_BYTES = 8 * 2**20


def _read_yaml(path: Path) -> dict[str, Any]:
    from gpuplan.textfile import parse_yaml, read_user_text

    path, text = read_user_text(path, max_bytes=MAX_CATALOG_FILE_BYTES, what="catalog file")
    data = parse_yaml(text, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: top level must be a mapping with keys {', '.join(sections())}")
    unknown = set(data) - set(CORE_SECTIONS)
    if unknown:  # only now load the extension schemas to know their section names
        unknown -= set(sections())
    if unknown:
        raise UserError(f"{path}: unknown section(s) {', '.join(sorted(map(str, unknown)))}; "
                        f"accepted: {', '.join(sections())}")
    for sec, entries in data.items():
        if not isinstance(entries, list):
            raise UserError(f"{path}: section {sec!r} must be a list of entries")
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("id"), str):
                raise UserError(f"{path}: {sec}[{i}] must be a mapping with a string 'id'")
    return data


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base`` key by key; sourced numbers and configs are replaced whole."""
    out = dict(base)
    for k, v in over.items():
        if (isinstance(v, dict) and isinstance(out.get(k), dict) and k != _CONFIG_KEY
                and _VALUE_KEY not in v):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _format_validation_error(path: str, section: str, entry_id: str,
                             err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first.get("loc", ()))
    return f"{path}: {section} entry {entry_id!r}, field {loc or '(entry)'}: {first.get('msg')}"


class Catalog:
    """Catalog entries by section and id, validated by pydantic when a section is first used.

    Sections a user overlay touches are validated at load (so a bad overlay fails at once); the
    built-in sections are validated on first access (the test suite validates all of them).
    ``origin`` maps (section, id) to the file the entry was last defined in.
    """

    def __init__(self, files: list[Path], cached: _CacheEntry | None = None) -> None:
        self._files = files
        self._index_map: dict[Path, set[str]] | None = None
        self._parsed: dict[Path, dict[str, Any]] = {}
        self.origin: dict[tuple[str, str], str] = dict(cached["origin"]) if cached else {}
        self._done: dict[str, dict[str, Any]] = {}
        #: Sections from the validated-catalog cache, pickled; unpickled on first use.
        self._pickled: dict[str, bytes] = dict(cached["sections"]) if cached else {}
        #: Digest of the files and code this catalog was built from (None: cache off); the key of
        #: values derived from it (:mod:`gpuplan.catalog.memo`).
        self.content_key: str | None = None

    @property
    def _index(self) -> dict[Path, set[str]]:
        """Section names each file defines (scanned on first need: a cache hit never needs it)."""
        if self._index_map is None:
            self._index_map = {p: _top_level_keys(p) for p in self._files}
        return self._index_map

    def _raw_section(self, name: str) -> dict[str, Any]:
        """Merge the entries of ``name`` from every file that has it, in order."""
        merged: dict[str, Any] = {}
        for path in self._files:
            if name not in self._index[path]:
                continue
            if path not in self._parsed:
                self._parsed[path] = _read_yaml(path)
            for e in self._parsed[path].get(name, []):
                eid = e["id"].lower()
                e = dict(e, id=eid)
                merged[eid] = _deep_merge(merged[eid], e) if eid in merged else e
                self.origin[(name, eid)] = str(path)
        return merged

    def _section(self, name: str) -> dict[str, Any]:
        if name not in self._done and name in self._pickled:
            try:  # a cache entry that no longer unpickles is rebuilt from the YAML below
                self._done[name] = pickle.loads(self._pickled.pop(name))
            except Exception:
                self._pickled.clear()
        if name not in self._done:
            self._done[name] = _validate_section(name, self._raw_section(name), self.origin,
                                                 self)
        return self._done[name]

    @property
    def accelerators(self) -> dict[str, Accelerator]:
        return self._section("accelerators")

    @property
    def systems(self) -> dict[str, System]:
        return self._section("systems")

    @property
    def models(self) -> dict[str, Model]:
        return self._section("models")

    @property
    def fabrics(self) -> dict[str, Fabric]:
        return self._section("fabrics")

    @property
    def reliability(self) -> dict[str, Reliability]:
        return self._section("reliability")

    @property
    def extra(self) -> dict[str, dict[str, BaseModel]]:
        """Every extension (cluster and money) section, by name."""
        return {s: self._section(s) for s in sections() if s not in CORE_SECTIONS}

    def validate_all(self) -> None:
        """Validate every section now (the built-in catalog's self-check)."""
        for s in sections():
            self._section(s)

    # -- look-ups ------------------------------------------------------------------------------
    def accelerator(self, name: str) -> Accelerator:
        """Accelerator by catalog id, or from a YAML file in the accelerator format.

        Parameters
        ----------
        name : str
            Catalog id (any case) or path of a one-accelerator YAML file [—].
        """
        key = name.lower()
        if key in self.accelerators:
            return self.accelerators[key]
        p = Path(name)
        if p.suffix in {".yaml", ".yml"} and p.is_file():
            extra = build_catalog([p])
            if len(extra.accelerators) != 1:
                raise UserError(f"{name}: expected exactly one entry under 'accelerators'")
            return next(iter(extra.accelerators.values()))
        raise unknown_name("GPU", name, self.accelerators)

    def system(self, name: str) -> System:
        """System by catalog id.

        Parameters
        ----------
        name : str
            Catalog id (any case) [—].
        """
        key = name.lower()
        if key in self.systems:
            return self.systems[key]
        raise unknown_name("system", name, self.systems)

    # One overload per extension section, so that callers get the entry's model type.
    @overload
    def section(self, name: Literal["switches"]) -> dict[str, Switch]: ...
    @overload
    def section(self, name: Literal["transceivers"]) -> dict[str, Transceiver]: ...
    @overload
    def section(self, name: Literal["nics"]) -> dict[str, Nic]: ...
    @overload
    def section(self, name: Literal["networks"]) -> dict[str, Network]: ...
    @overload
    def section(self, name: Literal["appliances"]) -> dict[str, Appliance]: ...
    @overload
    def section(self, name: Literal["system_layouts"]) -> dict[str, SystemLayout]: ...
    @overload
    def section(self, name: Literal["facility_types"]) -> dict[str, FacilityType]: ...
    @overload
    def section(self, name: Literal["cooling_types"]) -> dict[str, CoolingType]: ...
    @overload
    def section(self, name: Literal["cluster_rules"]) -> dict[str, ClusterRules]: ...
    @overload
    def section(self, name: Literal["clouds"]) -> dict[str, CloudModel]: ...
    @overload
    def section(self, name: Literal["regions"]) -> dict[str, RegionModel]: ...
    @overload
    def section(self, name: Literal["costs"]) -> dict[str, CostModel]: ...
    @overload
    def section(self, name: str) -> dict[str, BaseModel]: ...

    def section(self, name: str) -> dict[str, Any]:
        """Entries of a section (e.g. 'switches', 'clouds', 'regions') by id.

        Parameters
        ----------
        name : str
            A section name (:func:`sections`) [—].

        Raises
        ------
        KeyError
            ``name`` is not a section.
        """
        if name not in self._done and name not in self._pickled and name not in sections():
            raise KeyError(name)  # (a cached section is one: no need to load every schema)
        return self._section(name)

    @overload
    def entry(self, section: Literal["switches"], name: str, kind: str | None = None
              ) -> Switch: ...
    @overload
    def entry(self, section: Literal["transceivers"], name: str, kind: str | None = None
              ) -> Transceiver: ...
    @overload
    def entry(self, section: Literal["nics"], name: str, kind: str | None = None) -> Nic: ...
    @overload
    def entry(self, section: Literal["networks"], name: str, kind: str | None = None
              ) -> Network: ...
    @overload
    def entry(self, section: Literal["appliances"], name: str, kind: str | None = None
              ) -> Appliance: ...
    @overload
    def entry(self, section: Literal["system_layouts"], name: str, kind: str | None = None
              ) -> SystemLayout: ...
    @overload
    def entry(self, section: Literal["facility_types"], name: str, kind: str | None = None
              ) -> FacilityType: ...
    @overload
    def entry(self, section: Literal["cooling_types"], name: str, kind: str | None = None
              ) -> CoolingType: ...
    @overload
    def entry(self, section: Literal["cluster_rules"], name: str, kind: str | None = None
              ) -> ClusterRules: ...
    @overload
    def entry(self, section: Literal["clouds"], name: str, kind: str | None = None
              ) -> CloudModel: ...
    @overload
    def entry(self, section: Literal["regions"], name: str, kind: str | None = None
              ) -> RegionModel: ...
    @overload
    def entry(self, section: Literal["costs"], name: str, kind: str | None = None
              ) -> CostModel: ...
    @overload
    def entry(self, section: str, name: str, kind: str | None = None) -> BaseModel: ...

    def entry(self, section: str, name: str, kind: str | None = None) -> Any:
        """One entry of an extension section; unknown ids are a UserError with suggestions.

        Parameters
        ----------
        section : str
            A section name (:func:`sections`) [—].
        name : str
            The entry's id (any case) [—].
        kind : str, optional
            What the entry is called in the error message (default: the section name less its
            final ``s``) [—].
        """
        entries = self.section(section)
        key = name.lower()
        if key in entries:
            return entries[key]
        raise unknown_name(kind or section.rstrip("s"), name, entries)

    def fabric_for(self, accelerator_id: str, scope: str) -> Fabric | None:
        """The measured fabric of ``scope`` for an accelerator, or None.

        Parameters
        ----------
        accelerator_id : str
            Catalog id of the accelerator [—].
        scope : {'scale_up', 'scale_out'}
            Which fabric [—].
        """
        for f in self.fabrics.values():
            if f.scope == scope and accelerator_id in f.accelerators:
                return f
        return None

    def systems_for(self, accelerator_id: str) -> list[System]:
        """Every catalog system built from ``accelerator_id``.

        Parameters
        ----------
        accelerator_id : str
            Catalog id of the accelerator [—].
        """
        return [s for s in self.systems.values() if s.accelerator == accelerator_id]

    def model(self, name: str) -> tuple[str, dict[str, Any], Model | None]:
        """Model by catalog id, by HF repo id present in the catalog, or from a config.json path.

        Parameters
        ----------
        name : str
            Catalog id, HF repo id in the catalog, or path of a ``config.json`` (or its folder) [—].

        Returns
        -------
        (str, dict, Model | None)
            The display name, the HF config mapping and the catalog entry (None for a file).
        """
        key = name.lower()
        if key in self.models:
            m = self.models[key]
            return m.id, m.config, m
        for m in self.models.values():
            if m.repo_id.lower() == key:
                return m.id, m.config, m
        p = Path(name)
        if p.is_dir() or p.name.endswith(".json") or p.exists():
            from gpuplan.catalog.hf_config import load_config_file

            return p.name if p.is_file() and p.name != "config.json" else str(p), \
                load_config_file(p), None
        raise unknown_name("model", name, self.models)


def build_catalog(overlays: list[Path] | tuple[Path, ...] = (), *,
                  include_builtin: bool = True) -> Catalog:
    """Load the built-in catalog, merge ``overlays`` in order, validate everything.

    Parameters
    ----------
    overlays : sequence of Path
        User catalog files merged over the built-in one, in order [—].
    include_builtin : bool
        Start from the built-in catalog (False: only the overlays) [—].

    Raises
    ------
    UserError
        A file is missing or malformed, or an entry breaks the schema (the message names the file,
        the entry and the field).
    """
    files: list[Path] = []
    if include_builtin:
        files += sorted(DATA_DIR.glob("*.yaml"))
    extra = [Path(p) for p in overlays]
    cache_file = _cache_file(files + extra)
    cached = _read_cache(cache_file) if cache_file else None
    if cached is not None:  # these very bytes were read and validated before
        hit = Catalog(files + extra, cached)
        hit.content_key = cache_file.stem if cache_file else None
        return hit
    for p in extra:  # user files are read and checked now, so their mistakes show at once
        _read_yaml(p)
    files += extra
    cat = Catalog(files)
    if extra:  # overlays fail at load; so do the cross-references they affect
        touched = set().union(*(cat._index[p] for p in extra))
        for sec in sections():
            if sec in touched or (sec in ("systems", "fabrics") and "accelerators" in touched):
                cat._section(sec)
    if cache_file:
        cat.content_key = cache_file.stem
        _write_cache(cache_file, cat)
    return cat


_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:", re.M)


def _top_level_keys(path: Path) -> set[str]:
    """Section names a catalog file defines (a cheap scan; the file is parsed when needed)."""
    if path.is_file() and path.stat().st_size <= MAX_CATALOG_FILE_BYTES:
        try:
            return set(_TOP_KEY.findall(path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            return set()
    return set()


def _validate_section(sec: str, entries: dict[str, Any], origin: dict[tuple[str, str], str],
                      cat: Catalog) -> dict[str, Any]:
    from pydantic import ValidationError

    from gpuplan.catalog import schema

    classes: dict[str, type[BaseModel]] = {
        "accelerators": schema.Accelerator, "systems": schema.System, "models": schema.Model,
        "fabrics": schema.Fabric, "reliability": schema.Reliability}
    if sec not in classes:  # the cluster and money sections: their schemas load only if used
        classes = _extension_sections()
    out: dict[str, Any] = {}
    for eid, e in entries.items():
        try:
            out[eid] = classes[sec].model_validate(e)
        except ValidationError as err:
            raise UserError(_format_validation_error(origin[(sec, eid)], sec, eid, err)) \
                from None
    if sec == "systems":
        for sid, s in out.items():
            if s.accelerator not in cat.accelerators:
                raise UserError(f"{origin[('systems', sid)]}: systems entry {sid!r}, field "
                                f"accelerator: unknown accelerator {s.accelerator!r}")
    if sec == "fabrics":
        for fid, f in out.items():
            for a in f.accelerators:
                if a not in cat.accelerators:
                    raise UserError(f"{origin[('fabrics', fid)]}: fabrics entry {fid!r}, field "
                                    f"accelerators: unknown accelerator {a!r}")
    return out


# -- the validated-catalog cache ---------------------------------------------------------------
#: Directory of the cache (default ``$XDG_CACHE_HOME/gpuplan``, else ``~/.cache/gpuplan``).
CACHE_DIR_ENV_VAR = "GPUPLAN_CACHE_DIR"
#: Set to ``1`` to neither read nor write the cache.
NO_CACHE_ENV_VAR = "GPUPLAN_NO_CACHE"
#: Cache files kept; older ones (other overlays, earlier catalogs) are removed [files].
MAX_CACHE_FILES = 16
_CACHE_PREFIX = "catalog-"
_CACHE_SUFFIX = ".pickle"
#: Bumped when the layout of a cache entry changes.
_CACHE_FORMAT = 1
#: The code that turns YAML into validated entries: its bytes are part of the cache key.
_CODE_FILES = (*sorted(Path(__file__).parent.glob("*.py")),
               *sorted(Path(__file__).parent.parent.glob("*.py")))


class _CacheEntry(dict[str, Any]):
    """``{"sections": {name: pickled entries}, "origin": {(section, id): file}}``."""


def cache_dir() -> Path:
    """Directory of the validated-catalog cache (``$GPUPLAN_CACHE_DIR`` when set)."""
    explicit = os.environ.get(CACHE_DIR_ENV_VAR)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gpuplan"


def _cache_file(files: list[Path]) -> Path | None:
    """Cache file of a catalog built from ``files``, or None (cache off, a file unreadable).

    Notes
    -----
    key = sha256 over the cache format, the gpuplan and Python versions, and the path and bytes
    of every catalog file and of the code that validates them (``gpuplan/*.py``,
    ``gpuplan/catalog/*.py``): any edit gives a new key, so a stale entry is never read.
    """
    if os.environ.get(NO_CACHE_ENV_VAR, "") not in ("", "0"):
        return None
    from gpuplan import __version__

    h = hashlib.sha256(f"{_CACHE_FORMAT}|{__version__}|{sys.version}".encode())
    try:
        for p in (*_CODE_FILES, *files):
            data = p.read_bytes()
            h.update(f"|{p}|{len(data)}|".encode())
            h.update(data)
    except (OSError, ValueError):  # a missing overlay: the normal load reports it
        return None
    return cache_dir() / f"{_CACHE_PREFIX}{h.hexdigest()[:40]}{_CACHE_SUFFIX}"


def _read_cache(path: Path) -> _CacheEntry | None:
    """The entry in ``path``; None when absent, unreadable or corrupt (it is then rebuilt)."""
    try:
        entry = pickle.loads(path.read_bytes())
    except Exception:  # corrupt, truncated, from another build: never an error
        return None
    if (not isinstance(entry, dict) or not isinstance(entry.get("sections"), dict)
            or not isinstance(entry.get("origin"), dict)):
        return None
    return _CacheEntry(entry)


def _write_cache(path: Path, cat: Catalog) -> None:
    """Validate every section of ``cat`` and store them in ``path``; any failure skips it."""
    try:
        cat.validate_all()
    except UserError:  # a section that fails is reported when used, as without the cache
        return
    from gpuplan.catalog.memo import write_atomically

    try:
        entry = {"sections": {name: pickle.dumps(cat._section(name), pickle.HIGHEST_PROTOCOL)
                              for name in sections()}, "origin": dict(cat.origin)}
        data = pickle.dumps(entry, pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return  # an entry that does not pickle: no cache
    write_atomically(path, data, prefix=_CACHE_PREFIX, keep=MAX_CACHE_FILES)


@lru_cache(maxsize=8)
def _cached(overlays: tuple[str, ...]) -> Catalog:
    return build_catalog(tuple(Path(p) for p in overlays))


def load_catalog(overlays: list[str | Path] | tuple[str | Path, ...] | None = None) -> Catalog:
    """The catalog with the user's overlays (arguments, then ``GPUPLAN_CATALOG``) merged in.

    Parameters
    ----------
    overlays : sequence of str or Path, optional
        User catalog files, merged before those in ``GPUPLAN_CATALOG`` [—].
    """
    paths = [str(p) for p in (overlays or ())]
    env = os.environ.get(ENV_VAR, "")
    paths += [p for p in env.split(os.pathsep) if p]
    return _cached(tuple(paths))
