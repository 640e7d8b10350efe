"""Demand: what a workload needs, from a model's architecture and an accelerator.

Open :mod:`gpuplan.demand.training` first (``train``: step time, layout search, goodput). Beside
it: :mod:`~gpuplan.demand.arch` (parameters, FLOPs and KV bytes from an HF config),
:mod:`~gpuplan.demand.memory`, :mod:`~gpuplan.demand.layouts`, :mod:`~gpuplan.demand.comms`,
:mod:`~gpuplan.demand.hardware` (the accelerator as the models see it: peaks, calibrated
efficiencies, links), :mod:`~gpuplan.demand.fitting` (``fit``), :mod:`~gpuplan.demand.serving`
(``serve``) and :mod:`~gpuplan.demand.recsys` (``plan_recsys``). Nothing here prices a run or
names a CLI flag: prices are added by :mod:`gpuplan.pipeline.priced`.
"""
