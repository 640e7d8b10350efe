"""Reading the files users hand us: one place for the size limit, UTF-8 and safe YAML rules.

Every user YAML document (scenario, catalog overlay, accelerator file, recommender spec) goes
through :func:`parse_yaml`, one input-validation layer:

* libyaml's C parser first walks the event stream (no recursion, no object built) and refuses
  nesting deeper than :data:`MAX_YAML_DEPTH`, duplicate mapping keys (naming both lines) and,
  for loaders derived from :class:`NoAliasSafeLoader`, anchors and aliases;
* only then is the document built, always with a safe loader (no ``!!python/...`` objects).

A 20,000-deep ``[[[[...]]]]`` or a key given twice is one line naming the file and line, never a
``RecursionError`` or a silently dropped value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gpuplan.errors import UserError
from gpuplan.units import MIB

#: libyaml's loader is ~10x faster; both are safe loaders (no object construction).
SafeLoader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader)  # CSafeLoader is absent without libyaml
#: The event parser of the pre-scan: libyaml's when present.
_EventLoader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = SafeLoader
#: Deepest nesting of mappings and sequences accepted [levels]. gpuplan's own documents nest
#: at most 6 deep (scenario → workloads → item → risk → dist → params); PyYAML's recursive
#: composer overflows Python's stack near 1,000.
MAX_YAML_DEPTH = 64
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_RESOLVER = yaml.resolver.Resolver()


class NoAliasSafeLoader(yaml.SafeLoader):  # the pure-Python loader: its composer can be hooked
    """A safe loader that refuses YAML anchors/aliases.

    Aliases let a 1 KB file expand into billions of nodes ("billion laughs"); user documents
    (scenarios) have no need for them. :func:`parse_yaml` refuses them before composing, in
    C; the hook here keeps the loader safe when used on its own.
    """

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted in this file", event.start_mark)
        return super().compose_node(parent, index)


def read_user_text(path: str | Path, *, max_bytes: int, what: str) -> tuple[Path, str]:
    """Read a user file as UTF-8 text, refusing a missing, oversized or binary file.

    Parameters
    ----------
    path : str or Path
        The file [—].
    max_bytes : int
        Largest size accepted [bytes].
    what : str
        What the file is, for messages [—].

    Raises
    ------
    UserError
        One line naming the file and what was wrong (also for a name too long, a FIFO or a
        device: only regular files are read).
    """
    p = Path(path)
    try:
        regular = p.is_file()
        size = p.stat().st_size if regular else 0
    except OSError as e:  # a name too long for the file system, a loop of links
        raise UserError(f"{what} {short(str(path))!r}: {e.strerror or e}") from None
    if not regular:
        raise UserError(f"{what} {short(str(path))!r} does not exist or is not a regular file")
    if size > max_bytes:
        raise UserError(f"{p}: larger than {max_bytes / MIB:g} MiB; not a {what}")
    try:
        return p, p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{p}: not UTF-8 text") from None
    except OSError as e:
        raise UserError(f"{p}: cannot read: {e.strerror or e}") from None


#: Longest text quoted back in a message [characters]; longer ones are elided in the middle.
MAX_QUOTED_CHARS = 120


def short(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``text`` with its middle elided to at most about ``limit`` characters (for messages).

    Parameters
    ----------
    text : str
        What to quote [—].
    limit : int
        Longest result [characters].
    """
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}...({len(text):,} characters)...{text[-half // 2:]}"


def _scalar_key(event: yaml.ScalarEvent) -> tuple[str, str]:
    """A mapping key as YAML resolves it: (tag, text), so ``1`` and ``"1"`` differ."""
    if event.implicit[0]:  # plain scalar: int, float, bool, null or str by its text
        return _RESOLVER.resolve(yaml.ScalarNode, event.value, (True, False)), event.value
    return event.tag or "tag:yaml.org,2002:str", event.value


def check_yaml_structure(text: str, path: str | Path, *, allow_aliases: bool = True,
                         max_depth: int = MAX_YAML_DEPTH) -> None:
    """Refuse deep nesting, duplicate keys and (optionally) aliases, before any node is built.

    Parameters
    ----------
    text : str
        The YAML document [—].
    path : str or Path
        File name for messages [—].
    allow_aliases : bool
        Whether ``&anchor`` / ``*alias`` are accepted [—].
    max_depth : int
        Deepest nesting accepted [levels].

    Raises
    ------
    UserError
        ``path:line: ...`` naming what was refused.
    """
    # stack of open collections: [is_mapping, expecting_key, keys seen -> line]
    stack: list[tuple[bool, list[bool], dict[tuple[str, str], int]]] = []
    for ev in yaml.parse(text, Loader=_EventLoader):
        line = ev.start_mark.line + 1 if ev.start_mark else 0
        if isinstance(ev, yaml.AliasEvent) and not allow_aliases:
            raise UserError(f"{path}:{line}: not valid YAML (aliases (*name) are not accepted "
                            f"in this file)")
        if not allow_aliases and getattr(ev, "anchor", None):
            raise UserError(f"{path}:{line}: not valid YAML (anchors (&name) are not accepted "
                            f"in this file)")
        if stack and stack[-1][0] and not isinstance(ev, _COLLECTION_END):
            _, expecting, seen = stack[-1]
            if expecting[0] and isinstance(ev, yaml.ScalarEvent):
                key = _scalar_key(ev)
                if key in seen:
                    raise UserError(f"{path}:{line}: key {short(ev.value)!r} given twice "
                                    f"(first on line {seen[key]}); each key once")
                seen[key] = line
            if expecting[0] or not isinstance(ev, _COLLECTION_START):
                expecting[0] = not expecting[0]
            else:  # a collection value: the next event after it closes is a key
                expecting[0] = True
        if isinstance(ev, _COLLECTION_START):
            if len(stack) >= max_depth:
                raise UserError(f"{path}:{line}: nested deeper than {max_depth} levels of "
                                f"mappings and lists; gpuplan files nest a few levels")
            stack.append((isinstance(ev, yaml.MappingStartEvent), [True], {}))
        elif isinstance(ev, _COLLECTION_END):
            stack.pop()


def parse_yaml(text: str, path: str | Path,
               loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = SafeLoader) -> Any:
    """Parse YAML with a safe loader after :func:`check_yaml_structure`.

    Parameters
    ----------
    text : str
        The YAML document [—].
    path : str or Path
        File name for messages [—].
    loader : type
        A safe loader; one derived from :class:`NoAliasSafeLoader` also refuses aliases [—].

    Raises
    ------
    UserError
        ``path:line: not valid YAML (...)``, a key given twice, or nesting too deep.
    """
    try:
        check_yaml_structure(text, path, allow_aliases=not issubclass(loader, NoAliasSafeLoader))
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise UserError(f"{path}{where}: not valid YAML ({problem})") from None
    except RecursionError:  # pragma: no cover - the depth check refuses these first
        raise UserError(f"{path}: nested too deeply") from None


def read_yaml_mapping(path: str | Path, *, max_bytes: int, what: str
                      ) -> tuple[Path, dict[str, Any]]:
    """Read a YAML file whose top level must be a mapping."""
    p, text = read_user_text(path, max_bytes=max_bytes, what=what)
    data = parse_yaml(text, p)
    if not isinstance(data, dict):
        raise UserError(f"{p}: top level must be a mapping")
    return p, data
