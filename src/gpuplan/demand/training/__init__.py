"""Training planner: step time, MFU, the full layout search, GPU-hours and goodput.

Open :mod:`~gpuplan.demand.training.search` first: :func:`train` is the entry point. Beside it:

* :mod:`~gpuplan.demand.training.steptime`: the vectorised step-time model (matmuls, attention,
  memory-bound kernels, recompute, TP/EP/CP/PP/DP communication, bubble, optimizer) and FLOPs
  per token (MFU and HFU numerators);
* :mod:`~gpuplan.demand.training.checkpointing`: goodput under interruptions, checkpoint size,
  the Young/Daly interval;
* :mod:`~gpuplan.demand.training.batch`: the global batch chosen when none is given (a rule with
  its sources), batch ramps, the micro-batch warning;
* :mod:`~gpuplan.demand.training.phases`: a run as phases (pre-training, long context,
  annealing, distillation with the teacher's forward);
* :mod:`~gpuplan.demand.training.results`: the typed :class:`TrainResult`.

The accelerator record and the matmul roofline shared with serving live in
:mod:`gpuplan.demand.hardware`; they are re-exported here for the callers of this stage.
"""

from __future__ import annotations

from gpuplan.demand.hardware import (
    DEFAULT_MATMUL_EFFICIENCY,
    Hardware,
    gemm_time_s,
    hardware_for,
    training_mamf_fraction,
)
from gpuplan.demand.layouts import RECOMPUTE_NAMES
from gpuplan.demand.training.batch import choose_global_batch_tokens, parse_ramp
from gpuplan.demand.training.checkpointing import checkpoint_bytes, goodput, job_goodput
from gpuplan.demand.training.phases import PHASE_KINDS, Phase, parse_phases
from gpuplan.demand.training.results import BatchStage, Candidate, CostOut, TrainResult
from gpuplan.demand.training.search import (
    DEFAULT_SEQ_LEN,
    TRAIN_DTYPES,
    TRAIN_MODES,
    candidate_grid,
    train,
)
from gpuplan.demand.training.steptime import (
    BACKWARD_OVER_FORWARD,
    BREAKDOWN_KEYS,
    ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE,
    hardware_flops_per_token,
    layer_gemm_time_s,
    model_flops_per_token,
    step_time,
)

__all__ = [
    "BACKWARD_OVER_FORWARD", "BREAKDOWN_KEYS", "DEFAULT_MATMUL_EFFICIENCY", "DEFAULT_SEQ_LEN",
    "ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE", "PHASE_KINDS", "RECOMPUTE_NAMES", "TRAIN_DTYPES",
    "TRAIN_MODES", "BatchStage", "Candidate", "CostOut", "Hardware", "Phase", "TrainResult",
    "candidate_grid", "checkpoint_bytes", "choose_global_batch_tokens", "gemm_time_s", "goodput",
    "hardware_flops_per_token", "hardware_for", "job_goodput", "layer_gemm_time_s",
    "model_flops_per_token", "parse_phases", "parse_ramp", "step_time", "train",
    "training_mamf_fraction",
]
