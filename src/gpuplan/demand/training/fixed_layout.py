"""Step time of one fixed, fully stated layout on one accelerator (for fits and checks).

The search (:mod:`.search`) ranks thousands of layouts; the framework fits of
``benchmarks/calibrate.py`` and the tests need the step time of one layout a source states, with
a framework profile the search does not take yet. Everything else is :func:`.steptime.step_time`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpuplan.catalog import Catalog
from gpuplan.demand.arch import arch_from_config
from gpuplan.demand.hardware import hardware_for
from gpuplan.demand.layouts import RECOMPUTE_CODES
from gpuplan.demand.training.steptime import step_time
from gpuplan.errors import UserError

#: Layout keys a case may leave out, and their values.
LAYOUT_DEFAULTS = {"tp": 1, "pp": 1, "cp": 1, "ep": 1, "mb": 1, "vpp": 1, "recompute": 0,
                   "zero": 0}


def parse_layout(text: str, gpus: int) -> dict[str, float]:
    """``"tp=1,pp=1,mb=8,recompute=none"`` as numbers, with dp = gpus / (tp·pp·cp).

    Parameters
    ----------
    text : str
        Comma-separated ``key=value`` pairs.
    gpus : int
        Accelerators in the job [accelerators].
    """
    out: dict[str, float] = dict(LAYOUT_DEFAULTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        out[key] = float(RECOMPUTE_CODES[value]) if key == "recompute" else float(value)
    out["dp"] = gpus / (out["tp"] * out["pp"] * out["cp"])
    if out["dp"] != int(out["dp"]):
        raise UserError(f"layout: {text} does not divide {gpus} GPUs", field="layout")
    return out


def case_step_time(case: dict[str, Any], cat: Catalog, framework: str | None = None
                   ) -> dict[str, float]:
    """Step time and breakdown of a validation case's stated layout [s].

    Parameters
    ----------
    case : dict
        A case of ``validation/*_cases.yaml`` with ``model_config`` or ``model``, ``gpu``,
        ``gpus``, ``seq_len``, ``global_batch_tokens``, ``dtype`` and ``layout``.
    cat : Catalog
        The catalog.
    framework : str, optional
        Profile name (default: the case's own ``framework`` field).
    """
    if case.get("model_config"):
        arch = arch_from_config(case["model_config"], case["id"])
    else:
        name, cfg, _ = cat.model(case["model"])
        arch = arch_from_config(cfg, name)
    dtype = case.get("dtype") or "bf16"
    hw = hardware_for(cat, cat.accelerator(case["gpu"]), dtype)
    lay = parse_layout(case["layout"], int(case["gpus"]))
    seq = int(case["seq_len"])
    batch = int(round(float(case["global_batch_tokens"]) / seq))
    g = {k: np.array([v]) for k, v in lay.items()}
    st = step_time(arch, g, seq_len=seq, global_batch=batch, hw=hw,
                   framework=framework if framework is not None else case.get("framework"),
                   dtype=dtype)
    return {k: float(v[0]) for k, v in st.items()}
