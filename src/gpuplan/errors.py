"""Errors that are the user's to fix. The CLI prints them on one line and exits with status 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(ValueError):
    """A mistake in what the user asked for (unknown name, impossible layout, bad file).

    Model code names the offending input by its parameter name (``field="global_batch_tokens"``)
    and starts the message with it; the CLI shows it as the flag (``--global-batch-tokens``) and
    the web API as the field, so no stage below the interfaces knows the flag names.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def as_flag_message(self) -> str:
        """The message with its leading parameter name written as the CLI flag."""
        msg = str(self)
        if self.field and msg.startswith(self.field):
            return "--" + self.field.replace("_", "-") + msg[len(self.field):]
        return msg


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UserError:
    """Build a :class:`UserError` for an unknown ``name`` that lists the closest known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name.lower(), known, n=5, cutoff=0.4)
    hint = f"closest: {', '.join(close)}" if close else f"known: {', '.join(known[:12])}" + (
        " ..." if len(known) > 12 else ""
    )
    return UserError(f"unknown {kind} {name!r}; {hint} (see `gpuplan catalog`)")
