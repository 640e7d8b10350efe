"""Benchmark of the Monte Carlo risk run (``make bench`` may call :func:`bench_risk`).

Target (issue): 10^5 samples of a full TCO in under 1 s. A benchmark prints; it never fails.
"""

from __future__ import annotations

import time

#: Accelerators of the benchmarked TCO [count].
BENCH_GPUS = 1024
#: The target of the issue [s].
TARGET_SECONDS = 1.0


def bench_risk(n_samples: int = 100_000, repeats: int = 3,
               loan: bool = True) -> dict[str, float | int | bool]:
    """Time :func:`gpuplan.money.montecarlo.risk` on a 1,024 x H100 TCO [s]; best of ``repeats``.

    Parameters
    ----------
    n_samples : int
        Monte Carlo draws [count].
    repeats : int
        Timed runs [count].
    loan : bool
        Finance the capex with the default loan (else a cash purchase).
    """
    from gpuplan.money.finance import LoanTerms
    from gpuplan.money.montecarlo import risk
    from gpuplan.money.owning import tco

    base = tco("h100-sxm", BENCH_GPUS, loan=LoanTerms() if loan else None)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = risk(base, n_samples=n_samples, seed=0)
        best = min(best, time.perf_counter() - t0)
    return {"n_samples": n_samples, "seconds": best, "loan": loan,
            "probability_own_wins": r.probability_own_wins, "target_seconds": TARGET_SECONDS}


if __name__ == "__main__":  # pragma: no cover
    for loan in (False, True):
        print(bench_risk(loan=loan))
