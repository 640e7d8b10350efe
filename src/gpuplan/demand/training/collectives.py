"""Fit and check the message-size model of :mod:`gpuplan.demand.comms` on published curves.

The model's three parameters per tier (half-bandwidth size S½₀ at n₀ ranks, its growth with the
group β, the curvature γ) are fitted once, globally per tier, on the nccl-tests / rccl-tests bus
bandwidth curves of ``collective_cases.yaml`` (each series cites its source). Each series is
scored against its own plateau (its largest-message busbw), so the fit is of the curve's shape;
the plateau of each fabric is the catalog's. ``benchmarks/calibrate.py`` writes the result to
the ``collectives:`` block of ``calibration.yaml``; ``tests/test_comms.py`` checks it.

References
----------
.. [1] NVIDIA nccl-tests, doc/PERFORMANCE.md: busbw = algbw × factor(n).
.. [2] Hockney 1994, "The communication challenge for MPP": half-performance length n½.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gpuplan.demand.comms import BUS_FACTOR, busbw_fraction

#: The published curves the model is fitted on and checked against.
COLLECTIVE_CASES_FILE = Path(__file__).parent / "collective_cases.yaml"
#: Reference group size n₀ of S½₀ [ranks]: one 8-GPU node, the size most curves were taken at.
REFERENCE_RANKS = 8.0
#: Search grid of the fit (log-spaced S½₀ [bytes]; β and γ [dimensionless]). γ < 1 bends the
#: curve more slowly towards the plateau than the hyperbola (NCCL protocol / chunking steps).
HALF_BANDWIDTH_GRID_BYTES = np.geomspace(1e5, 2e9, 140)
RANK_EXPONENT_GRID = np.round(np.arange(0.0, 1.0001, 0.1), 2)
SHAPE_EXPONENT_GRID = np.round(np.arange(0.2, 1.5001, 0.1), 2)
TIERS = ("scale_up", "scale_out")


@dataclass(frozen=True)
class SizeModel:
    """Fitted message-size model of one tier, and its errors on the training curves."""

    half_bandwidth_bytes: float
    rank_exponent: float
    shape_exponent: float
    points: int
    mean_abs_log_error: float
    median_abs_log_error: float
    worst_abs_log_error: float
    leave_one_series_out_mean_abs_log_error: float
    half_bandwidth_ranks: float = REFERENCE_RANKS

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain floats/ints (for calibration.yaml)."""
        return {k: (round(v, 4) if isinstance(v, float) and k.endswith("error") else v)
                for k, v in self.__dict__.items()}


@lru_cache(maxsize=1)
def collective_cases() -> list[dict[str, Any]]:
    """The series of ``collective_cases.yaml`` as read."""
    data = yaml.safe_load(COLLECTIVE_CASES_FILE.read_text(encoding="utf-8"))
    return list(data["series"])


def _arrays(series: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Flatten series into point arrays: size, ranks, alpha, plateau, measured, series index."""
    rows = [(float(s_bytes), float(sr["ranks"]), float(sr["latency_s"]),
             max(float(v) for v in sr["points"].values()), float(bw), i, sr["collective"])
            for i, sr in enumerate(series) for s_bytes, bw in sr["points"].items()]
    cols = list(zip(*rows, strict=True))
    factor = np.array([float(BUS_FACTOR[k](np.asarray(n))) for n, k in zip(cols[1], cols[6],
                                                                             strict=True)])
    return {"size": np.array(cols[0]), "ranks": np.array(cols[1]), "alpha": np.array(cols[2]),
            "plateau": np.array(cols[3]), "measured": np.array(cols[4]),
            "series": np.array(cols[5]), "factor": factor}


def predicted_busbw(pts: dict[str, np.ndarray], half_bandwidth_bytes: float,
                    rank_exponent: float, shape_exponent: float,
                    half_bandwidth_ranks: float = REFERENCE_RANKS) -> np.ndarray:
    """Bus bandwidth the model gives at each point [bytes/s].

    Notes
    -----
    ``t = α + S·f(n)/(B·φ(S, S½(n), γ))`` and ``busbw = S·f(n)/t`` with ``B`` the series'
    plateau, ``φ`` :func:`gpuplan.demand.comms.busbw_fraction` and
    ``S½(n) = S½₀·(n/n₀)^β`` [1]_ [2]_.
    """
    s_half = half_bandwidth_bytes * (np.maximum(pts["ranks"], 2.0)
                                     / half_bandwidth_ranks) ** rank_exponent
    bw = pts["plateau"] * busbw_fraction(pts["size"], s_half, shape_exponent)
    t = pts["alpha"] + pts["size"] * pts["factor"] / bw
    return np.asarray(pts["size"] * pts["factor"] / t)


def _abs_log_errors(pts: dict[str, np.ndarray], params: tuple[float, float, float]
                    ) -> np.ndarray:
    return np.abs(np.log(predicted_busbw(pts, *params) / pts["measured"]))


def _best(pts: dict[str, np.ndarray]) -> tuple[float, float, float]:
    """Grid point minimising the mean |log(predicted/measured busbw)| over ``pts``."""
    grid = list(itertools.product(HALF_BANDWIDTH_GRID_BYTES, RANK_EXPONENT_GRID,
                                  SHAPE_EXPONENT_GRID))
    scores = [float(np.mean(_abs_log_errors(pts, p))) for p in grid]
    s_half, beta, gamma = grid[int(np.argmin(scores))]
    return float(s_half), float(beta), float(gamma)


def fit_size_model(tier: str, series: list[dict[str, Any]] | None = None) -> SizeModel:
    """Fit S½₀, β, γ of one tier on its published curves, with leave-one-series-out error.

    Parameters
    ----------
    tier : {"scale_up", "scale_out"}
        Which tier's series to fit.
    series : list of dict, optional
        The curves (default: ``collective_cases.yaml``).

    Notes
    -----
    Grid search minimising the mean |log(busbw_pred/busbw_measured)| over every point of the
    tier. The leave-one-series-out error refits without each series and scores that series.
    """
    chosen = [s for s in (series or collective_cases()) if s["tier"] == tier]
    pts = _arrays(chosen)
    params = _best(pts)
    err = _abs_log_errors(pts, params)
    loo: list[np.ndarray] = []
    for i in range(len(chosen)):
        keep = pts["series"] != i
        rest = {k: v[keep] for k, v in pts.items()}
        held = {k: v[~keep] for k, v in pts.items()}
        loo.append(_abs_log_errors(held, _best(rest)))
    return SizeModel(half_bandwidth_bytes=params[0], rank_exponent=params[1],
                     shape_exponent=params[2], points=int(err.size),
                     mean_abs_log_error=float(np.mean(err)),
                     median_abs_log_error=float(np.median(err)),
                     worst_abs_log_error=float(np.max(err)),
                     leave_one_series_out_mean_abs_log_error=float(np.mean(np.concatenate(loo))))


def series_errors(tier_params: dict[str, dict[str, float]],
                  series: list[dict[str, Any]] | None = None
                  ) -> list[tuple[str, float, float, float]]:
    """Per point: series id, size [bytes], measured and predicted busbw [bytes/s].

    Parameters
    ----------
    tier_params : dict
        Per tier the fitted ``half_bandwidth_bytes``, ``rank_exponent``, ``shape_exponent`` and
        ``half_bandwidth_ranks`` (the ``collectives:`` block of calibration.yaml).
    series : list of dict, optional
        The curves (default: ``collective_cases.yaml``).
    """
    out: list[tuple[str, float, float, float]] = []
    for sr in series or collective_cases():
        p = tier_params[sr["tier"]]
        pts = _arrays([sr])
        pred = predicted_busbw(pts, float(p["half_bandwidth_bytes"]), float(p["rank_exponent"]),
                               float(p["shape_exponent"]), float(p["half_bandwidth_ranks"]))
        out += [(sr["id"], float(s), float(m), float(q))
                for s, m, q in zip(pts["size"], pts["measured"], pred, strict=True)]
    return out
