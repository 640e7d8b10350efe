"""Peak memory of the largest documented Monte Carlo runs, each in its own process (issue 16).

Usage: python benchmarks/memory.py. Runs, as a user would, ``gpuplan tco --risk-samples
10000000`` (the documented limit, :data:`gpuplan.money.montecarlo.MAX_SAMPLES`) and ``gpuplan
plan`` on a generated scenario with 20 hardware options and 10^6 samples (the issue's 1.9 KB
case: 65-80 s per call before the Monte Carlo ran in chunks), and prints the wall time and the
peak resident memory of each process (``os.wait4``'s ``ru_maxrss``: that child only). The
target is the issue's: under ~1 GB at any documented size. Prints; never fails on memory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: ``ru_maxrss`` is in KiB on Linux (bytes on macOS) [bytes per unit].
RU_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024
MIB = 2**20
#: The issue's memory budget [bytes].
TARGET_BYTES = 1024 * MIB
#: The 20 hardware options: 10 accelerators, with and without a named system where the
#: catalog has one.
OPTIONS = [("h100-sxm", "dgx-h100"), ("h100-sxm", "hgx-h100"), ("h200", "hgx-h200"),
           ("h200", None), ("b200", "dgx-b200"), ("b200", None), ("a100-80gb", "dgx-a100"),
           ("a100-80gb", None), ("mi300x", "mi300x-8"), ("mi300x", None), ("h800", None),
           ("h20", None), ("l40s", None), ("mi325x", None), ("gaudi3", None),
           ("h100-pcie", None), ("a100-40gb", None), ("gb200", "gb200-nvl72"),
           ("tpu-v5p", None), ("ascend-910b", None)]


def _exe() -> str:
    venv = ROOT / ".venv" / "bin" / "gpuplan"
    return str(venv) if venv.exists() else (shutil.which("gpuplan") or "gpuplan")


def peak_rss(args: list[str]) -> tuple[float, int, int]:
    """Wall time [s], peak resident memory [bytes] and exit status of ``gpuplan args``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([_exe(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen
    if proc.stderr is not None:
        proc.stderr.close()
    return time.perf_counter() - t0, usage.ru_maxrss * RU_MAXRSS_BYTES, proc.returncode


def twenty_option_scenario(samples: int) -> str:
    """A scenario with the 20 :data:`OPTIONS`, serving and fine-tuning, ``samples`` draws."""
    opts = "".join(f"  - {{gpu: {g}" + (f", system: {s}" if s else "") + "}\n"
                   for g, s in OPTIONS)
    return (f"name: twenty options\nhorizon_years: 5\nregion: us\nhardware_options:\n{opts}"
            "workloads:\n"
            "  - {kind: serve, name: chat, model: llama-3.1-70b, rate: 20, input_tokens: 1500,\n"
            "     output_tokens: 300, ttft_ms: 1000, tpot_ms: 50, growth_per_year: 0.5}\n"
            "  - {kind: lora, name: tune, model: llama-3.1-70b, tokens: 2.0e+9, "
            "runs_per_year: 12, gpus: 8}\n"
            f"risk: {{samples: {samples}, seed: 7}}\n")


def run_all() -> list[str]:
    """One line per run: what ran, its exit status, wall time and peak memory."""
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        scen = Path(tmp) / "twenty.yaml"
        scen.write_text(twenty_option_scenario(1_000_000))
        runs = [("tco 1,024 h100-sxm, --risk-samples 10,000,000",
                 ["tco", "--gpu", "h100-sxm", "--gpus", "1024", "--risk-samples", "10000000",
                  "--json"]),
                (f"plan, 20 options x 10^6 samples ({scen.stat().st_size:,} bytes of YAML)",
                 ["plan", str(scen), "--json"])]
        for label, args in runs:
            dt, peak, code = peak_rss(args)
            lines.append(f"{'memory: ' + label:62s} {dt:9.1f} s, peak RSS {peak / MIB:,.0f} "
                         f"MiB (exit {code}; target < {TARGET_BYTES / MIB:,.0f} MiB)")
    return lines


if __name__ == "__main__":
    for line in run_all():
        print(line, flush=True)
