"""`make fuzz`: run N generated CLI invocations (default 10,000) and count tracebacks.

Usage: python tools/fuzz.py [N] [SEED]. Exit status 1 if any invocation raised, exited with a
status other than 0 or 2, printed a traceback, or replaced one of the hostile files (a FIFO and
a symbolic link given as outputs); else 0. Prints the inputs tried, the exit codes, the time
and the slowest input.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from typer.testing import CliRunner

from gpuplan.cli.app import app
from gpuplan.cli.fuzz import hostile_files_intact, invocations


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    runner = CliRunner()
    bad: list[tuple[list[str], str]] = []
    codes: dict[int, int] = {}
    slowest = (0.0, [""])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, args in enumerate(invocations(n, seed, Path(tmp))):
            t1 = time.perf_counter()
            r = runner.invoke(app, args)
            slowest = max(slowest, (time.perf_counter() - t1, args))
            codes[r.exit_code] = codes.get(r.exit_code, 0) + 1
            if r.exception is not None and not isinstance(r.exception, SystemExit) \
                    or r.exit_code not in (0, 2) or "Traceback" in r.output:
                bad.append((args, repr(r.exception)))
            if not hostile_files_intact(Path(tmp)):
                bad.append((args, "replaced a hostile file (FIFO or symbolic link)"))
                break
            if (i + 1) % 1000 == 0:
                print(f"{i + 1:,} inputs, {len(bad)} tracebacks, {time.perf_counter() - t0:.0f} s",
                      flush=True)
    elapsed = time.perf_counter() - t0
    print(f"inputs tried: {n:,}; exit codes: {codes}; tracebacks: {len(bad)}; "
          f"{elapsed:.0f} s ({elapsed / max(n, 1) * 1e3:.1f} ms per input); slowest "
          f"{slowest[0]:.1f} s: {' '.join(a[:80] for a in slowest[1])}")
    for args, exc in bad[:20]:
        print("TRACEBACK:", " ".join(a[:80] for a in args), "->", exc)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
