"""One place where input bounds are checked, for every stage (names are parameter names).

Each check raises :class:`~gpuplan.errors.UserError` with ``field`` set to the parameter's name
and a message that starts with it, so the CLI can show the flag and the web API the field.
Booleans are never accepted as numbers, and numbers must be finite.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from gpuplan.errors import UserError


def _is_number(v: object) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v))


def check_whole(field: str, v: object, hi: int, *, lo: int = 1) -> int:
    """``v`` must be a whole number in ``[lo, hi]``; returns it as ``int``.

    Raises
    ------
    UserError
        Not an integer (a bool or a float counts as not), or out of range.
    """
    if not isinstance(v, Integral) or isinstance(v, bool) or not lo <= int(v) <= hi:
        raise UserError(f"{field} must be a whole number from {lo:,} to {hi:,}, got {v!r}",
                        field=field)
    return int(v)


def check_number(field: str, v: object, lo: float, hi: float, *, lo_open: bool = False) -> float:
    """``v`` must be a finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``).

    Raises
    ------
    UserError
        Not a finite number (a bool counts as not), or out of range.
    """
    if not _is_number(v):
        raise UserError(f"{field} must be a finite number, got {v!r}", field=field)
    x = float(v)  # type: ignore[arg-type]  # _is_number proved it is Real
    if x > hi or (x <= lo if lo_open else x < lo):
        raise UserError(f"{field} must be a number {'above' if lo_open else 'from'} {lo:g} "
                        f"up to {hi:g}, got {v!r}", field=field)
    return x


def check_optional_number(field: str, v: object, lo: float, hi: float, *,
                          lo_open: bool = False) -> float | None:
    """As :func:`check_number`, with ``None`` accepted (meaning "not given")."""
    return None if v is None else check_number(field, v, lo, hi, lo_open=lo_open)


def check_choice(field: str, v: str, accepted: tuple[str, ...] | list[str]) -> str:
    """``v`` must be one of ``accepted``."""
    if v not in accepted:
        raise UserError(f"{field} {v!r} unknown; accepted: {', '.join(accepted)}", field=field)
    return v
