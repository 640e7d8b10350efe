"""Reading a Hugging Face ``config.json`` from disk (the only file I/O for model configs).

The parsed mapping goes to :func:`gpuplan.demand.arch.arch_from_config`, which holds the math.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gpuplan.errors import UserError
from gpuplan.textfile import read_user_text

#: Largest config.json accepted [bytes]; real ones are a few KB.
MAX_CONFIG_BYTES = 16 * 2**20


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a ``config.json`` file, or the ``config.json`` inside a folder.

    Parameters
    ----------
    path : str or Path
        A ``config.json`` file, or a folder holding one [—].

    Raises
    ------
    UserError
        The file is missing, too large, not UTF-8 or not a JSON object.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    p, text = read_user_text(p, max_bytes=MAX_CONFIG_BYTES, what="model config.json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise UserError(f"{p}: a config.json must be a JSON object")
    return data
