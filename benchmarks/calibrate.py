"""Fit the end-to-end training efficiency once per accelerator generation.

For each generation, one number — the fraction of the measured matmul ceiling (MAMF) that
training kernels reach end to end — is chosen to minimise the median |log(predicted/published)|
over the steady-state throughput cases (MFU, TFLOP/s, tokens/s, step time; no failures) of
``src/gpuplan/validation/train_cases.yaml`` run on that generation. Nothing is fitted per case.
Writes ``src/gpuplan/demand/calibration.yaml``. Run: ``.venv/bin/python benchmarks/calibrate.py``.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from pathlib import Path

import numpy as np
import yaml

from gpuplan.catalog import load_catalog
from gpuplan.validation import validate

OUT = Path(__file__).resolve().parent.parent / "src" / "gpuplan" / "demand" / "calibration.yaml"
#: Published cases only; our own H100 device measurements stay held out as a check.
CASES = (Path(__file__).resolve().parent.parent / "src" / "gpuplan" / "validation"
         / "train_cases.yaml")
GENERATIONS = {
    "ampere": ["a100-40gb", "a100-80gb"],
    "hopper": ["h100-sxm", "h100-pcie", "h200", "h800", "h20"],
    "blackwell": ["b200", "gb200"],
}
GRID = np.round(np.arange(0.40, 1.0001, 0.01), 2)


def score(frac: float, gpus: set[str], cat) -> tuple[float, int]:
    rep = validate([CASES], catalog=cat, mamf_fraction=frac, only_gpus=gpus, only_steady=True)
    errs = [abs(math.log(r.predicted / r.published)) for r in rep.cases if r.predicted]
    return (statistics.median(errs) if errs else math.inf), len(errs)


SERVE_CASES = CASES.parent / "serve_cases.yaml"
KV_EFF_GRID = np.round(np.arange(0.50, 1.0001, 0.05), 2)
OVERHEAD_GRID_S = np.array([5, 10, 20, 40, 60, 80]) * 1e-6
ITERATION_GRID_S = np.array([0, 0.5, 1, 2, 3, 4]) * 1e-3  # physically plausible range only


def fit_serving(cat) -> dict:
    """Three global serving parameters on the published serving throughput cases.

    The paged-attention KV read efficiency, the fixed per-layer time and the fixed per-iteration
    time (scheduler, sampling), by grid
    search minimising the median |log(predicted/published)| over every `output_tokens_per_s`
    case of serve_cases.yaml (all accelerators together).
    """
    best = None
    for eff in KV_EFF_GRID:
        for over in OVERHEAD_GRID_S:
            for it in ITERATION_GRID_S:
                rep = validate([SERVE_CASES], catalog=cat, only_kind={"serve"},
                               serving={"kv_read_efficiency": float(eff),
                                        "overhead_per_layer_s": float(over),
                                        "overhead_per_iteration_s": float(it)})
                errs = [abs(math.log(r.predicted / r.published)) for r in rep.cases
                        if r.predicted and r.quantity == "output_tokens_per_s"]
                med = statistics.median(errs)
                if best is None or med < best[0]:
                    best = (med, float(eff), float(over), float(it), len(errs))
    med, eff, over, it, n = best
    print(f"serving: kv_read_efficiency={eff:.2f}, "
          f"decode_overhead_per_layer_s={over * 1e6:.0f} us, "
          f"overhead_per_iteration_s={it * 1e3:.0f} ms (median |log err| {med:.3f} on {n} cases)")
    return {"kv_read_efficiency": eff, "decode_overhead_per_layer_s": over,
            "overhead_per_iteration_s": it, "cases": n,
            "median_abs_log_error": round(med, 4),
            "fitted_on": "src/gpuplan/validation/serve_cases.yaml (output_tokens_per_s cases)"}


def main() -> None:
    cat = load_catalog()
    out = {"method": __doc__.strip().splitlines()[0], "fitted_on": "src/gpuplan/validation/"
           "train_cases.yaml (steady-state cases)", "date": dt.date.today().isoformat(),
           "generations": {}}
    fitted = []
    for gen, ids in GENERATIONS.items():
        best = min(((score(f, set(ids), cat), f) for f in GRID), key=lambda x: x[0][0])
        (med, n), frac = best
        if n == 0:
            print(f"{gen}: no cases; not fitted")
            continue
        print(f"{gen}: training_mamf_fraction={frac:.2f} (median |log err| {med:.3f} on {n} cases)")
        out["generations"][gen] = {"accelerators": ids, "training_mamf_fraction": float(frac),
                                   "cases": n, "median_abs_log_error": round(med, 4)}
        fitted.append(frac)
    out["default"] = {"training_mamf_fraction": float(round(statistics.mean(fitted), 2)),
                      "note": "mean of the fitted generations; used for accelerators without cases"}
    out["serving"] = fit_serving(cat)
    OUT.write_text("# Written by benchmarks/calibrate.py; do not edit by hand.\n"
                   + yaml.safe_dump(out, sort_keys=False))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
