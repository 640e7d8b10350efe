"""Demand as a monthly time profile: the GPU-hours and peak GPUs of each month of the horizon.

Own and rent are costed on the same profile (issue 14, item 2). Training runs are scheduled on
one track (they take turns on the training share, as :func:`gpuplan.pipeline.workloads.
check_schedule_fits` assumes), always-on serving follows its traffic year by year, and a
recommender's daily retraining is spread evenly. The owned fleet serves up to its size each
month; what it cannot serve (a run wider than the fleet, or hours above its capacity) is the
overflow the owner rents (:func:`split_profile`), and idle owned hours may be backfilled up to
a target (:func:`backfill_hours`).

All arrays have the months as their last axis; month :math:`m` spans hours
:math:`[m H_m, (m + 1) H_m)` with :math:`H_m = 8766 / 12 = 730.5` h.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gpuplan.units import HOURS_PER_MONTH, HOURS_PER_YEAR, MONTHS_PER_YEAR


def training_schedule(gpus: npt.ArrayLike, run_hours: npt.ArrayLike,
                      runs_per_year: npt.ArrayLike, months: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""GPU-hours and peak GPUs of each month for training runs taking turns on one track.

    Parameters
    ----------
    gpus : array (k,)
        GPUs of one run of each training workload [count].
    run_hours : array (k,)
        Wall-clock of one run, failures included [h].
    runs_per_year : array (k,)
        Runs of each workload a year [1/year].
    months : int
        Months of the horizon [months].

    Returns
    -------
    gpu_hours : numpy.ndarray (k, months)
        GPU-hours of each workload in each month [GPU-hours].
    peak_gpus : numpy.ndarray (k, months)
        GPUs of each workload running at some time in the month (0 when none) [count].
    unscheduled_gpu_hours : numpy.ndarray (k,)
        GPU-hours of runs pushed past the horizon's end by the queue [GPU-hours].

    Notes
    -----
    Run :math:`j` of workload :math:`i` is due at :math:`t_{ij} = 8766 j / r_i` h
    (:math:`j = 0, 1, \dots` while :math:`t_{ij}` is inside the horizon). Runs are taken in
    order of due time and start at :math:`s = \max(t_{ij}, e_{prev})`, the end of the run before
    (one track: the runs take turns on the training share), and end at :math:`s + d_i`. The
    hours of month :math:`m` are :math:`g_i \cdot |[s, e) \cap [m H_m, (m+1) H_m)|`.
    """
    g = np.atleast_1d(np.asarray(gpus, dtype=float))
    d = np.atleast_1d(np.asarray(run_hours, dtype=float))
    r = np.atleast_1d(np.asarray(runs_per_year, dtype=float))
    k = g.size
    horizon_h = months * HOURS_PER_MONTH
    due: list[tuple[float, int]] = []
    for i in range(k):
        n_runs = int(np.ceil(horizon_h / HOURS_PER_YEAR * r[i] - 1e-9))
        due += [(j * HOURS_PER_YEAR / r[i], i) for j in range(n_runs)]
    due.sort()
    starts = np.empty(len(due))
    ends = np.empty(len(due))
    owner = np.empty(len(due), dtype=int)
    end_prev = 0.0
    for n, (t, i) in enumerate(due):
        s = max(t, end_prev)
        starts[n], ends[n], owner[n] = s, s + d[i], i
        end_prev = s + d[i]
    lo = np.arange(months)[None, :] * HOURS_PER_MONTH
    hi = lo + HOURS_PER_MONTH
    overlap = np.clip(np.minimum(ends[:, None], hi) - np.maximum(starts[:, None], lo), 0.0, None)
    hours = np.zeros((k, months))
    peak = np.zeros((k, months))
    past = np.zeros(k)
    for n in range(len(due)):
        i = owner[n]
        hours[i] += overlap[n] * g[i]
        peak[i] = np.maximum(peak[i], np.where(overlap[n] > 0, g[i], 0.0))
        past[i] += max(ends[n] - max(starts[n], horizon_h), 0.0) * g[i]
    return hours, peak, past


def always_on_gpus(peak_gpus: npt.ArrayLike, growth_per_year: npt.ArrayLike, months: int
                   ) -> np.ndarray:
    r"""GPUs an always-on workload holds in each month, sized for the peak year [count].

    Parameters
    ----------
    peak_gpus : array (k,)
        GPUs sized for the last year's traffic [count].
    growth_per_year : array (k,)
        Yearly traffic growth [fraction/year].
    months : int
        Months of the horizon [months].

    Returns
    -------
    numpy.ndarray (k, months)
        Fractional GPUs of month :math:`m` [count]; ``ceil`` for whole GPUs.

    Notes
    -----
    Year :math:`y = \lfloor m / 12 \rfloor` holds
    :math:`N_{peak} (1 + g)^{y - (Y - 1)}` with :math:`Y = \lceil M / 12 \rceil` the years of the
    horizon, so year 1 serves the stated traffic and the last year the peak (as
    :func:`gpuplan.pipeline.workloads.growth_peak`); the yearly mean is
    :func:`gpuplan.pipeline.workloads.growth_mean` times year 1.
    """
    n = np.atleast_1d(np.asarray(peak_gpus, dtype=float))[:, None]
    g = np.atleast_1d(np.asarray(growth_per_year, dtype=float))[:, None]
    years = max(int(np.ceil(months / MONTHS_PER_YEAR)), 1)
    y = np.floor(np.arange(months) / MONTHS_PER_YEAR)[None, :]
    out: np.ndarray = n * (1.0 + g) ** (y - (years - 1))
    return out


def split_profile(hours: npt.ArrayLike, peak: npt.ArrayLike, fleet_gpus: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    r"""Owned and overflow GPU-hours of each workload and month for an owned fleet [GPU-hours].

    Parameters
    ----------
    hours : array (k, M)
        GPU-hours of each workload in each month [GPU-hours].
    peak : array (k, M)
        GPUs each workload runs on in each month [count].
    fleet_gpus : float
        Owned fleet [GPUs].

    Returns
    -------
    owned, overflow : numpy.ndarray (k, M)
        Hours served by the owned fleet and hours rented beyond it [GPU-hours].

    Notes
    -----
    A workload whose run is wider than the fleet (:math:`g_{i,m} > N`) cannot run owned and is
    rented whole. The others fill the fleet in order, up to :math:`N H_m` a month (a fluid
    approximation: hours, not job placement; workloads listed first are served first), and the
    rest overflows.
    """
    h = np.asarray(hours, dtype=float)
    p = np.asarray(peak, dtype=float)
    fits = p <= fleet_gpus + 1e-9
    fitting = np.where(fits, h, 0.0)
    room = fleet_gpus * HOURS_PER_MONTH
    before = np.cumsum(fitting, axis=0) - fitting            # hours of workloads listed before
    owned = np.clip(np.minimum(fitting, room - before), 0.0, None)
    return owned, h - owned


def backfill_hours(owned_hours: npt.ArrayLike, fleet_gpus: float, target: float
                   ) -> np.ndarray:
    r"""GPU-hours of backfill work that bring the owned fleet to ``target`` each month.

    Parameters
    ----------
    owned_hours : array (M,)
        Hours the listed workloads use on the owned fleet in each month [GPU-hours].
    fleet_gpus : float
        Owned fleet [GPUs].
    target : float
        Utilisation target [fraction].

    Returns
    -------
    numpy.ndarray (M,)
        :math:`\max(0, u_t N H_m - h_m)` [GPU-hours].
    """
    out: np.ndarray = np.clip(target * fleet_gpus * HOURS_PER_MONTH
                              - np.asarray(owned_hours, dtype=float), 0.0, None)
    return out


def percentile_fleet(hours: npt.ArrayLike, percentile: float) -> float:
    r"""Fleet that covers the monthly mean GPUs of ``percentile`` of the months [GPUs].

    Parameters
    ----------
    hours : array (M,)
        GPU-hours of each month [GPU-hours].
    percentile : float
        Share of months covered [fraction].

    Notes
    -----
    :math:`N = \lceil Q_p(h_m / H_m) \rceil`, the linear-interpolation quantile of the monthly
    mean busy GPUs; the months above it overflow to rent (the hybrid: own the base, rent the
    peaks).
    """
    busy = np.asarray(hours, dtype=float) / HOURS_PER_MONTH
    return float(np.ceil(np.quantile(busy, percentile) - 1e-9))
