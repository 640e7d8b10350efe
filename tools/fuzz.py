"""`make fuzz`: run N generated CLI invocations (default 10,000) and count tracebacks.

Usage: python tools/fuzz.py [N] [SEED] [--jobs J]. The cases run in process (the `gpuplan`
command built once) in chunks of 1,000 (:data:`gpuplan.cli.fuzz.CHUNK_CASES`), each chunk with
its own seed and temporary folder, spread over J worker processes (default: every core).
Exit status 1 if any invocation raised, exited with a status other than 0 or 2, printed a
traceback, or replaced one of the hostile files (a FIFO and a symbolic link given as outputs);
else 0. Prints the inputs tried, the exit codes, the time and the slowest input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from gpuplan.cli.fuzz import CHUNK_CASES, FuzzReport, run_chunk


def _chunk(job: tuple[int, int, int]) -> FuzzReport:
    seed, chunk, n = job
    return run_chunk(seed, chunk, n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=10_000, help="cases to run")
    ap.add_argument("seed", nargs="?", type=int, default=0, help="seed of the run")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    a = ap.parse_args(argv)
    jobs = [(a.seed, k, min(CHUNK_CASES, a.n - k * CHUNK_CASES))
            for k in range(-(-a.n // CHUNK_CASES))]
    total = FuzzReport()
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for rep in pool.map(_chunk, jobs):
            total.add(rep)
            print(f"{total.cases:,} inputs, {len(total.failures)} failures, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    slow_s, slow_args = total.slowest
    print(f"inputs tried: {total.cases:,} (seed {a.seed}, {a.jobs} processes); exit codes: "
          f"{dict(sorted(total.exit_codes.items()))}; failures: {len(total.failures)}; "
          f"{wall:.0f} s wall, {total.seconds / max(total.cases, 1) * 1e3:.1f} ms per input; "
          f"slowest {slow_s:.2f} s: {' '.join(x[:80] for x in slow_args)}")
    for args, why in total.failures[:20]:
        print("FAILURE:", " ".join(x[:80] for x in args), "->", why)
    return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())
