"""The pipeline: the only place where the stages are chained.

Start with :mod:`gpuplan.pipeline.planner` (``plan``: scenario → demand → cluster → money → risk).
Beside it: :mod:`~gpuplan.pipeline.scenario` (the scenario schema and loader, workloads → demand)
and :mod:`~gpuplan.pipeline.buying` (``budget``: what a budget buys, priced through the demand
stage). The CLI and the web app call only this package and the stages' own entry points.
"""
