"""The pipeline: the only place where the stages are chained.

Start with :mod:`gpuplan.pipeline.planner` (``plan``: scenario → demand → cluster → money → risk).
Beside it: :mod:`~gpuplan.pipeline.scenario` (the scenario schema and loader),
:mod:`~gpuplan.pipeline.workloads` (workloads → demand), :mod:`~gpuplan.pipeline.priced` (the
single questions, priced: ``priced_train``, ``priced_serve``, ``tco_with_risk``) and
:mod:`~gpuplan.pipeline.buying` (``budget``: what a budget buys). The CLI and the web app call
only this package and the stages' own entry points (``fit``, ``build_cluster``, ``validate``), so
both give the same answer for the same inputs.
"""
