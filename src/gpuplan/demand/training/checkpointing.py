"""Goodput: time lost to interruptions, checkpoints and restarts, with the optimal interval.

References
----------
.. [1] Young 1974, "A first order approximation to the optimum checkpoint interval", CACM 17(9);
   Daly 2006, "A higher order estimate of the optimum checkpoint interval for restart dumps",
   FGCS 22(3).
.. [2] Rajbhandari et al. 2020 (ZeRO), Section 3.1: mixed-precision Adam keeps 2 + 12 bytes of
   weights and optimizer state per parameter.
.. [3] Llama Team 2024, "The Llama 3 Herd of Models", arXiv 2407.21783, Section 3.3.4: in a
   54-day snapshot of 405B pre-training, 466 job interruptions, 47 of them planned (firmware
   upgrades, configuration or dataset updates), 419 unexpected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpuplan.catalog.schema import Reliability
from gpuplan.demand.arch import Arch, param_counts
from gpuplan.demand.memory import TRAIN_OPTIMIZER_BYTES, TRAIN_WEIGHT_BYTES
from gpuplan.units import HOURS_PER_DAY, SECONDS_PER_HOUR

#: Planned interruptions of a long pre-training job (maintenance, configuration and dataset
#: updates), per wall-clock hour of the job: 47 in a 54-day snapshot [3]_ [1/h]. A planned stop
#: checkpoints first, so it costs a restart but no lost work.
PLANNED_INTERRUPTIONS_PER_JOB_HOUR = 47 / (54 * HOURS_PER_DAY)


def checkpoint_bytes(arch: Arch) -> float:
    """Bytes of a training checkpoint: bf16 weights + fp32 master, momentum and variance [bytes].

    Parameters
    ----------
    arch : Arch
        The model.

    Notes
    -----
    ``N · (2 + 12)`` [2]_.
    """
    return param_counts(arch).total * (TRAIN_WEIGHT_BYTES + TRAIN_OPTIMIZER_BYTES)


def goodput(gpus: npt.ArrayLike, interruptions_per_gpu_hour: float,
            checkpoint_write_s: npt.ArrayLike, restart_s: float) -> dict[str, np.ndarray]:
    """Fraction of wall-clock time that advances training, with the optimal checkpoint interval.

    Parameters
    ----------
    gpus : array_like
        Accelerators in the job [accelerators].
    interruptions_per_gpu_hour : float
        Job interruptions per accelerator-hour [1/h].
    checkpoint_write_s : array_like
        Time to write one checkpoint δ [s].
    restart_s : float
        Time from an interruption to training again R [s].

    Returns
    -------
    dict
        ``goodput`` (fraction), ``interval_s`` (optimal checkpoint interval τ), ``mtbf_s`` (job
        mean time between interruptions M).

    Notes
    -----
    ``M = 1/(λ·N)``; Daly's interval ``τ = sqrt(2δM) − δ`` (Young's first-order ``sqrt(2δM)``
    when δ ≪ M) [1]_, floored at δ; expected overhead per unit of useful work
    ``δ/τ + ((τ + δ)/2 + R)/M``; goodput = 1 / (1 + overhead).
    """
    n = np.asarray(gpus, dtype=float)
    delta = np.asarray(checkpoint_write_s, dtype=float)
    mtbf = SECONDS_PER_HOUR / (interruptions_per_gpu_hour * n)
    tau = np.maximum(np.sqrt(2 * delta * mtbf) - delta, delta)
    overhead = delta / tau + ((tau + delta) / 2 + restart_s) / mtbf
    return {"goodput": 1.0 / (1.0 + overhead), "interval_s": tau, "mtbf_s": mtbf}


@dataclass(frozen=True)
class RunGoodput:
    """Goodput of one job, with the figures behind it (None where failures are not modelled).

    Attributes
    ----------
    goodput : float
        Share of wall-clock time that advances training [fraction].
    interval_s : float or None
        Optimal checkpoint interval [s].
    mtbf_s : float or None
        Job mean time between interruptions [s].
    """

    goodput: float = 1.0
    interval_s: float | None = None
    mtbf_s: float | None = None


def job_goodput(gpus: int, ckpt_bytes: float, reliability: Reliability) -> RunGoodput:
    """Goodput of a job of ``gpus`` accelerators writing ``ckpt_bytes`` per checkpoint.

    Parameters
    ----------
    gpus : int
        Accelerators in the job [accelerators].
    ckpt_bytes : float
        One checkpoint [bytes].
    reliability : Reliability
        Catalog interruption rate, restart time and checkpoint write bandwidth per accelerator.

    Notes
    -----
    Every accelerator writes its shard at once: ``δ = bytes / (N · B_write)``; then
    :func:`goodput`, with the planned stops added: each costs the restart ``R`` and no lost
    work, so a share ``ρ_planned · R`` of wall time is lost: ``goodput' = goodput · (1 − ρ·R)``
    (ρ per job-hour [3]_).
    """
    delta = ckpt_bytes / (gpus * reliability.checkpoint_write_bytes_per_s_per_gpu.value)
    restart_s = reliability.restart_s.value
    res = goodput(gpus, reliability.interruptions_per_gpu_hour.value, delta, restart_s)
    planned = PLANNED_INTERRUPTIONS_PER_JOB_HOUR * restart_s / SECONDS_PER_HOUR
    return RunGoodput(goodput=float(res["goodput"] * (1.0 - planned)),
                      interval_s=float(res["interval_s"]), mtbf_s=float(res["mtbf_s"]))
