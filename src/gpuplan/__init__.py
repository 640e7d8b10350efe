"""gpuplan: plan AI infrastructure with numbers a reviewer can trace to a source.

The Python API mirrors the CLI, each function returning a typed result whose ``model_dump()``
is the command's ``--json``::

    gpuplan.fit(...)        # gpuplan fit
    gpuplan.train(...)      # gpuplan train (priced: gpuplan.pipeline.priced.priced_train)
    gpuplan.serve(...)      # gpuplan serve (priced: gpuplan.pipeline.priced.priced_serve)
    gpuplan.plan_recsys(...)  # gpuplan recsys
    gpuplan.build_cluster(...)  # gpuplan cluster
    gpuplan.tco(...)        # gpuplan tco
    gpuplan.tco_with_risk(...)  # gpuplan tco --risk-samples N (the JSON of gpuplan tco)
    gpuplan.budget(...)     # gpuplan budget
    gpuplan.plan(...)       # gpuplan plan (takes a Scenario; see gpuplan.load_scenario)
    gpuplan.validate(...)   # gpuplan validate

Heavy modules are imported lazily, so ``import gpuplan`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> (module, attribute there).
_LAZY: dict[str, tuple[str, str]] = {
    "fit": ("gpuplan.demand.fitting", "fit"),
    "train": ("gpuplan.pipeline.priced", "priced_train"),
    "serve": ("gpuplan.pipeline.priced", "priced_serve"),
    "plan_recsys": ("gpuplan.demand.recsys", "plan_recsys"),
    "build_cluster": ("gpuplan.cluster", "build_cluster"),
    "tco": ("gpuplan.money", "tco"),
    "budget": ("gpuplan.pipeline.buying", "budget"),
    "risk": ("gpuplan.money", "risk"),
    "tco_with_risk": ("gpuplan.pipeline.priced", "tco_with_risk"),
    "plan": ("gpuplan.pipeline.planner", "plan"),
    "load_scenario": ("gpuplan.pipeline.scenario", "load_scenario"),
    "validate": ("gpuplan.validation", "validate"),
    "load_catalog": ("gpuplan.catalog", "load_catalog"),
    "UserError": ("gpuplan.errors", "UserError"),
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:  # PEP 562 lazy attributes
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(name)
