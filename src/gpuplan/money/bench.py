"""Benchmark of the Monte Carlo risk run (``make bench`` may call :func:`bench_risk`).

Target (issue): 10^5 samples of a full TCO in under 1 s. A benchmark prints; it never fails.
"""

from __future__ import annotations

import time


def bench_risk(n_samples: int = 100_000, repeats: int = 3, loan: bool = True) -> dict:
    """Time :func:`gpuplan.money.risk.risk` on a 1,024 x H100 TCO [s]; best of ``repeats``."""
    from gpuplan.money.finance import LoanTerms
    from gpuplan.money.owning import tco
    from gpuplan.money.risk import risk

    base = tco("h100-sxm", 1024, loan=LoanTerms() if loan else None)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = risk(base, n_samples=n_samples, seed=0)
        best = min(best, time.perf_counter() - t0)
    return {"n_samples": n_samples, "seconds": best, "loan": loan,
            "probability_own_wins": r.probability_own_wins, "target_seconds": 1.0}


if __name__ == "__main__":  # pragma: no cover
    for loan in (False, True):
        print(bench_risk(loan=loan))
