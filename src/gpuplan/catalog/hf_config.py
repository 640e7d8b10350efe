"""Reading a Hugging Face ``config.json`` from disk (the only file I/O for model configs).

The parsed mapping goes to :func:`gpuplan.demand.arch.arch_from_config`, which holds the math.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gpuplan.errors import UserError

#: Largest config.json accepted [bytes]; real ones are a few KB.
MAX_CONFIG_BYTES = 16 * 2**20
#: Largest whole number a config field may hold [1]: 2^40 is ~1,000 times the largest real
#: widths and vocabularies (DeepSeek-V3: vocab 129,280; context 163,840), so products of a few
#: fields stay exact in float64 and int64.
MAX_CONFIG_INT = 2**40
#: Longest config value quoted back in a message [characters].
MAX_SHOWN_CHARS = 80


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a ``config.json`` file, or the ``config.json`` inside a folder.

    Parameters
    ----------
    path : str or Path
        A ``config.json`` file, or a folder holding one [—].

    Raises
    ------
    UserError
        The file is missing, too large, not UTF-8, nested deeper than Python's recursion limit
        or not a JSON object. Its fields are checked by
        :func:`gpuplan.demand.arch.arch_from_config`, whose messages start with the file name.
    """
    from gpuplan.textfile import read_user_text  # with PyYAML: only when a file is read

    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    p, text = read_user_text(p, max_bytes=MAX_CONFIG_BYTES, what="model config.json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:  # json's decoder recurses once per nesting level
        raise UserError(f"{p}: not a model config: nested too deeply") from None
    if not isinstance(data, dict):
        raise UserError(f"{p}: a config.json must be a JSON object")
    return data


# ----------------------------------------------------------------------------------------------
# Typed field readers: what :func:`gpuplan.demand.arch.arch_from_config` reads a config with
# ----------------------------------------------------------------------------------------------


def shown(v: Any) -> str:
    """A config value as quoted back in a message (long ones elided)."""
    text = repr(v)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "..."


def whole(v: Any, field: str, minimum: int = 1) -> int:
    """``v`` as a whole number ``>= minimum``; booleans, strings, NaN, inf and fractions refused.

    Parameters
    ----------
    v : Any
        The value read from the config [1].
    field : str
        Its field name, for the message [—].
    minimum : int
        Smallest value accepted [1].

    Notes
    -----
    JSON writes integers as ``4096`` or ``4096.0``; both are accepted. ``true`` is not a number
    here (Python would read it as 1), nor is ``"4096"``; ``1e400`` reads as infinity and is
    refused, as is anything above :data:`MAX_CONFIG_INT`.
    """
    ok = isinstance(v, int) and not isinstance(v, bool)
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v, ok = int(v), True
    if not ok:
        raise UserError(f"config field {field} must be a whole number, got {shown(v)}",
                        field=field)
    if not minimum <= v <= MAX_CONFIG_INT:
        what = "positive" if minimum == 1 else f">= {minimum}"
        raise UserError(f"config field {field} must be a {what} whole number up to "
                        f"{MAX_CONFIG_INT:,}, got {shown(v)}", field=field)
    return int(v)


def opt_whole(cfg: dict[str, Any], *names: str, minimum: int = 0, default: int = 0) -> int:
    """An optional whole number: absent, null, ``false`` or 0 give ``default``.

    Parameters
    ----------
    cfg : dict
        The config's fields [—].
    *names : str
        Field names, the first present wins (families spell the same field differently) [—].
    minimum : int
        Smallest value accepted when present [1].
    default : int
        Value when absent [1].

    Notes
    -----
    Ranks and widths that a family leaves at 0 or null (``q_lora_rank: null``) mean "not used";
    a present value must be a whole number ``>= minimum`` (a rank of -512 is refused).
    """
    for n in names:
        v = cfg.get(n)
        if v is None or v is False or (not isinstance(v, bool) and v == 0):
            continue
        return whole(v, n, minimum)
    return default


def cfg_flag(cfg: dict[str, Any], name: str, default: bool) -> bool:
    """A true/false config field (absent or null: ``default``)."""
    v = cfg.get(name)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise UserError(f"config field {name} must be true or false, got {shown(v)}", field=name)
    return v


def cfg_text(cfg: dict[str, Any], *names: str, default: str) -> str:
    """A text config field (the first of ``names`` present; absent: ``default``)."""
    for n in names:
        v = cfg.get(n)
        if v is None:
            continue
        if not isinstance(v, str):
            raise UserError(f"config field {n} must be text, got {shown(v)}", field=n)
        return v
    return default


def cfg_layers(cfg: dict[str, Any], name: str, L: int) -> list[int]:
    """A list of layer indices ``0 <= i < L`` (absent or null: empty)."""
    v = cfg.get(name)
    if v is None:
        return []
    if not isinstance(v, list):
        raise UserError(f"config field {name} must be a list of layer numbers, got {shown(v)}",
                        field=name)
    out = [whole(i, name, 0) for i in v]
    bad = [i for i in out if i >= L]
    if bad:
        raise UserError(f"config field {name} names layer {bad[0]}; the model has {L} layers "
                        f"(0 to {L - 1})", field=name)
    return out
