"""Reading the files users hand us: one place for the size limit, UTF-8 and safe YAML rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gpuplan.errors import UserError
from gpuplan.units import MIB

#: libyaml's loader is ~10x faster; both are safe loaders (no object construction).
SafeLoader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader)  # CSafeLoader is absent without libyaml


class NoAliasSafeLoader(yaml.SafeLoader):  # the pure-Python loader: its composer can be hooked
    """A safe loader that refuses YAML anchors/aliases.

    Aliases let a 1 KB file expand into billions of nodes ("billion laughs"); user documents
    (scenarios) have no need for them.
    """

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted in this file", event.start_mark)
        return super().compose_node(parent, index)


def read_user_text(path: str | Path, *, max_bytes: int, what: str) -> tuple[Path, str]:
    """Read a user file as UTF-8 text, refusing a missing, oversized or binary file.

    Raises
    ------
    UserError
        One line naming the file and what was wrong.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} {str(path)!r} does not exist")
    if p.stat().st_size > max_bytes:
        raise UserError(f"{p}: larger than {max_bytes / MIB:g} MiB; not a {what}")
    try:
        return p, p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{p}: not UTF-8 text") from None


def parse_yaml(text: str, path: str | Path,
               loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = SafeLoader) -> Any:
    """Parse YAML with a safe loader; a syntax error names the file and line."""
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None


def read_yaml_mapping(path: str | Path, *, max_bytes: int, what: str
                      ) -> tuple[Path, dict[str, Any]]:
    """Read a YAML file whose top level must be a mapping."""
    p, text = read_user_text(path, max_bytes=max_bytes, what=what)
    data = parse_yaml(text, p)
    if not isinstance(data, dict):
        raise UserError(f"{p}: top level must be a mapping")
    return p, data
