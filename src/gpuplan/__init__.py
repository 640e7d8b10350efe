"""gpuplan: plan AI infrastructure with numbers a reviewer can trace to a source.

The Python API mirrors the CLI, each function returning a typed result whose ``model_dump()``
is the command's ``--json``::

    gpuplan.fit(...)        # gpuplan fit
    gpuplan.train(...)      # gpuplan train
    gpuplan.serve(...)      # gpuplan serve
    gpuplan.plan_recsys(...)  # gpuplan recsys
    gpuplan.build_cluster(...)  # gpuplan cluster
    gpuplan.tco(...)        # gpuplan tco
    gpuplan.budget(...)     # gpuplan budget
    gpuplan.plan(...)       # gpuplan plan (takes a Scenario; see gpuplan.load_scenario)
    gpuplan.validate(...)   # gpuplan validate

Heavy modules are imported lazily, so ``import gpuplan`` is cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "fit": "gpuplan.demand.fitting",
    "train": "gpuplan.demand.training",
    "serve": "gpuplan.demand.serving",
    "plan_recsys": "gpuplan.demand.recsys",
    "build_cluster": "gpuplan.cluster",
    "tco": "gpuplan.money",
    "budget": "gpuplan.pipeline.buying",
    "risk": "gpuplan.money",
    "plan": "gpuplan.pipeline.planner",
    "load_scenario": "gpuplan.pipeline.scenario",
    "validate": "gpuplan.validation",
    "load_catalog": "gpuplan.catalog",
    "UserError": "gpuplan.errors",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):  # PEP 562 lazy attributes
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
