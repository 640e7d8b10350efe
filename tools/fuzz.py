"""`make fuzz`: run N generated CLI invocations (default 10,000) and count tracebacks.

Usage: python tools/fuzz.py [N] [SEED]. Exit status 1 if any invocation raised, else 0.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from typer.testing import CliRunner

from gpuplan.cli.app import app
from gpuplan.cli.fuzz import invocations


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    runner = CliRunner()
    bad: list[tuple[list[str], str]] = []
    codes: dict[int, int] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, args in enumerate(invocations(n, seed, Path(tmp))):
            r = runner.invoke(app, args)
            codes[r.exit_code] = codes.get(r.exit_code, 0) + 1
            if r.exception is not None and not isinstance(r.exception, SystemExit) \
                    or r.exit_code not in (0, 2):
                bad.append((args, repr(r.exception)))
            if (i + 1) % 1000 == 0:
                print(f"{i + 1:,} inputs, {len(bad)} tracebacks, {time.perf_counter() - t0:.0f} s",
                      flush=True)
    print(f"inputs tried: {n:,}; exit codes: {codes}; tracebacks: {len(bad)}")
    for args, exc in bad[:20]:
        print("TRACEBACK:", " ".join(args), "->", exc)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
