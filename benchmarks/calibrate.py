"""Fit the end-to-end training efficiency once per accelerator generation.

For each generation, one number — the fraction of the measured matmul ceiling (MAMF) that
training kernels reach end to end — is chosen to minimise the median |log(predicted/published)|
over the steady-state throughput cases (MFU, TFLOP/s, tokens/s, step time; no failures) of
``src/gpuplan/validation/train_cases.yaml`` run on that generation. Nothing is fitted per case.
Writes ``src/gpuplan/demand/calibration.yaml``. Run: ``.venv/bin/python benchmarks/calibrate.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import statistics
from pathlib import Path

import numpy as np
import yaml

from gpuplan.catalog import load_catalog
from gpuplan.demand.training.collectives import TIERS, fit_size_model
from gpuplan.demand.training.fixed_layout import case_step_time
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
GRID = np.round(np.arange(0.50, 0.9801, 0.01), 2)


def score(frac: float, gpus: set[str], cat) -> tuple[float, int]:
    rep = validate([CASES], catalog=cat, mamf_fraction=frac, only_gpus=gpus, only_steady=True)
    errs = [abs(math.log(r.predicted / r.published)) for r in rep.cases if r.predicted]
    return (statistics.median(errs) if errs else math.inf), len(errs)


def fit_generations(cat) -> dict:
    """One ``training_mamf_fraction`` per generation at the calibration now in memory."""
    out = {}
    for gen, ids in GENERATIONS.items():
        (med, n), frac = min(((score(f, set(ids), cat), f) for f in GRID), key=lambda x: x[0][0])
        if n == 0:
            continue
        out[gen] = {"accelerators": ids, "training_mamf_fraction": float(frac), "cases": n,
                    "median_abs_log_error": round(med, 4)}
    return out


#: Fixed cost of a GEMM output tile, in bf16 reduction elements (hardware.gemm_time_s).
K_FILL_GRID = (0.0, 128.0, 256.0, 384.0, 512.0, 768.0, 1024.0)


def _steady_errors(cat) -> dict[str, float]:
    rep = validate([CASES], catalog=cat, only_steady=True)
    return {r.id: math.log(r.predicted / r.published) for r in rep.cases if r.predicted}


def fit_gemm_and_generations(cat) -> tuple[dict, dict]:
    """The GEMM tile's fixed cost and the per-generation fractions, fitted jointly.

    For each ``k₀`` of :data:`K_FILL_GRID` the generations are refitted; the ``k₀`` with the
    lowest median |log error| over every steady-state case wins. Leave-one-out: for each case,
    the ``k₀`` chosen without it (generation fractions kept at that ``k₀``'s fit) and its error.
    """
    from gpuplan.demand.hardware import calibration

    cal = calibration()
    scan = {}
    for k0 in K_FILL_GRID:
        cal["gemm"] = {"k_fill_elements": k0}
        gens = fit_generations(cat)
        cal["generations"] = gens
        scan[k0] = (gens, _steady_errors(cat))
        print(f"k_fill {k0:6.0f}: median |log err| "
              f"{statistics.median(map(abs, scan[k0][1].values())):.4f} "
              + " ".join(f"{g} {v['training_mamf_fraction']:.2f}" for g, v in gens.items()))
    ids = sorted(set.intersection(*(set(e) for _, e in scan.values())))

    def best(skip: str | None) -> float:
        return min(scan, key=lambda k: statistics.median(
            abs(scan[k][1][i]) for i in ids if i != skip))
    k0 = best(None)
    loo = [abs(scan[best(i)][1][i]) for i in ids]
    gens = scan[k0][0]
    cal["gemm"], cal["generations"] = {"k_fill_elements": k0}, gens
    errs = [abs(scan[k0][1][i]) for i in ids]
    print(f"gemm k_fill {k0:.0f} elements; median |log err| {statistics.median(errs):.4f}, "
          f"LOO median {statistics.median(loo):.4f}, LOO mean {statistics.mean(loo):.4f}")
    return ({"k_fill_elements": k0, "cases": len(ids),
             "fitted_on": "src/gpuplan/validation/train_cases.yaml (steady-state cases), "
                          "jointly with the generations",
             "median_abs_log_error": round(statistics.median(errs), 4),
             "leave_one_out_median_abs_log_error": round(statistics.median(loo), 4),
             "leave_one_out_mean_abs_log_error": round(statistics.mean(loo), 4),
             "scan_median_abs_log_error": {float(k): round(statistics.median(
                 abs(scan[k][1][i]) for i in ids), 4) for k in scan}}, gens)


def fit_collectives() -> dict:
    """Message-size model of the collectives, per tier, on the published nccl-tests curves.

    S½₀ (half-bandwidth size at 8 ranks), β (its growth with the group) and γ (curvature),
    fitted globally per tier on ``demand/training/collective_cases.yaml``; see
    :mod:`gpuplan.demand.training.collectives`. Leave-one-series-out error reported.
    """
    out = {"fitted_on": "src/gpuplan/demand/training/collective_cases.yaml (busbw >= 1 MiB)"}
    for tier in TIERS:
        m = fit_size_model(tier)
        print(f"collectives {tier}: S_half={m.half_bandwidth_bytes / 2**20:.1f} MiB at 8 ranks, "
              f"beta={m.rank_exponent}, gamma={m.shape_exponent}; mean |log err| "
              f"{m.mean_abs_log_error:.3f} (LOO {m.leave_one_series_out_mean_abs_log_error:.3f})"
              f" on {m.points} points")
        out[tier] = m.as_dict()
    return out


#: The ZeRO-3 training set: Narayanan et al. 2021, Table 2, DeepSpeed ZeRO-3 rows (TFLOP/s;
#: the record also holds the PTD-P rows, told apart by their layout).
ZERO3_RECORD = "narayanan2021-table2-zero3"
ZERO3_MESSAGE_GRID = np.geomspace(5e7, 1e9, 14)  # from DeepSpeed's default prefetch bucket
ZERO3_OVERLAP_GRID = np.round(np.arange(0.0, 1.0001, 0.05), 2)


def _zero3_errors(path: Path, profile: str, message: float, overlap: float, cat) -> list[float]:
    from gpuplan.demand.hardware import calibration

    calibration().setdefault("frameworks", {})[profile] = {
        "zero3_message_params": float(message), "zero3_overlap_fraction": float(overlap)}
    rep = validate([path], catalog=cat)
    return [math.log(r.predicted / r.published) for r in rep.cases if r.predicted]


#: The FSDP training set: llm-foundry's benchmark rows (PyTorch FSDP FULL_SHARD).
FSDP_PROFILE = "llm-foundry"


def _zero3_rows(profile: str) -> list[dict]:
    from gpuplan.demand.training.frameworks import framework_profile

    data = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    if profile == "deepspeed":
        return [c for c in data["cases"] if c.get("source_record") == ZERO3_RECORD
                and "zero=3" in str(c.get("layout", "")) and c["quantity"] == "tflops_per_gpu"]
    return [c for c in data["cases"] if framework_profile(c.get("framework")).id == profile
            and "zero=3" in str(c.get("layout", "")) and c.get("headline", True)
            and c["quantity"] in ("mfu", "tflops_per_gpu", "tokens_per_s_per_gpu", "step_time_s")]


def fit_zero3(cat, profile: str = "deepspeed") -> dict:
    """A profile's ZeRO-3 parameters per collective and overlap share, fitted globally.

    Grid search minimising the mean |log(predicted/published)| over the profile's ZeRO-3 rows
    (DeepSpeed: Narayanan et al. 2021 Table 2, 174.6B and 529.6B at three GPU counts each;
    llm-foundry: its FSDP benchmark rows), with leave-one-out errors. The step-time physics is
    :func:`steptime._zero3_exposed`.
    """
    import tempfile

    schema = yaml.safe_load(CASES.read_text(encoding="utf-8"))["schema_version"]
    rows = _zero3_rows(profile)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zero3.yaml"
        path.write_text(yaml.safe_dump({"schema_version": schema, "cases": rows}),
                        encoding="utf-8")
        grid = {(float(m), float(o)): _zero3_errors(path, profile, m, o, cat)
                for m in ZERO3_MESSAGE_GRID for o in ZERO3_OVERLAP_GRID}
    def best(skip: int | None) -> tuple[float, float]:
        return min(grid, key=lambda k: statistics.mean(
            abs(e) for i, e in enumerate(grid[k]) if i != skip))
    m, o = best(None)
    errs = grid[(m, o)]
    loo = [grid[best(i)][i] for i in range(len(rows))]
    from gpuplan.demand.hardware import calibration
    calibration()["frameworks"][profile] = {"zero3_message_params": m,
                                            "zero3_overlap_fraction": o}
    fitted = {"zero3_message_params": m, "zero3_overlap_fraction": o, "cases": len(rows),
              "fitted_on": f"src/gpuplan/validation/train_cases.yaml ({profile} ZeRO-3 rows)",
              "mean_abs_log_error": round(statistics.mean(map(abs, errs)), 4),
              "worst_abs_log_error": round(max(map(abs, errs)), 4),
              "leave_one_out_abs_log_errors": [round(abs(e), 4) for e in loo],
              "relative_errors": [round(math.exp(e) - 1, 4) for e in errs],
              "cases_ids": [r["id"] for r in rows]}
    print(f"{profile} ZeRO-3: {m:.3g} params per collective, overlap {o:.2f}; mean |log err| "
          f"{fitted['mean_abs_log_error']:.3f}, LOO {statistics.mean(map(abs, loo)):.3f} "
          f"on {len(rows)} cases")
    return {profile: fitted}


#: The eager training set: our own eager-PyTorch H100 step times (device_cases.yaml).
DEVICE_CASES = CASES.parent / "device_cases.yaml"
EAGER_FRAMEWORK = "pytorch-eager"
EAGER_TRAFFIC_GRID = np.round(np.arange(3.0, 30.0001, 1.0), 2)
EAGER_LAYER_OVERHEAD_GRID_S = np.round(np.arange(0.0, 2.0001e-3, 0.1e-3), 6)


def fit_eager(cat) -> dict:
    """Elementwise HBM traffic per stored activation byte of eager PyTorch, fitted globally.

    Grid search minimising the mean |log(predicted/measured)| of the step time over the eager
    rows of ``validation/device_cases.yaml`` (GPT-2 124M-1.3B on one H100), each run at its
    stated layout (:func:`gpuplan.demand.training.fixed_layout.case_step_time`), with
    leave-one-out errors; the torch.compile rows are the check (fused traffic, not fitted).
    """
    from gpuplan.demand.hardware import calibration

    rows = [c for c in yaml.safe_load(DEVICE_CASES.read_text(encoding="utf-8"))["cases"]
            if c["quantity"] == "step_time_s" and "eager" in str(c.get("framework", ""))]
    fits = calibration().setdefault("frameworks", {})
    grid = {}
    for x in EAGER_TRAFFIC_GRID:
        for o in EAGER_LAYER_OVERHEAD_GRID_S:
            fits[EAGER_FRAMEWORK] = {"elementwise_traffic_per_activation_byte": float(x),
                                     "layer_overhead_s": float(o)}
            grid[(float(x), float(o))] = [
                math.log(case_step_time(c, cat)["step_time_s"] / c["measured"]) for c in rows]
    def best(skip: int | None) -> tuple[float, float]:
        return min(grid, key=lambda k: statistics.mean(
            abs(e) for i, e in enumerate(grid[k]) if i != skip))
    x, o = best(None)
    loo = [grid[best(i)][i] for i in range(len(rows))]
    errs = grid[(x, o)]
    print(f"{EAGER_FRAMEWORK}: elementwise traffic {x} B per activation byte, "
          f"{o * 1e6:.0f} us per layer; mean |log err| {statistics.mean(map(abs, errs)):.3f}, "
          f"LOO {statistics.mean(map(abs, loo)):.3f}")
    x_err = (x, o)
    return {"elementwise_traffic_per_activation_byte": x, "layer_overhead_s": o,
            "cases": len(rows),
            "fitted_on": "src/gpuplan/validation/device_cases.yaml (eager step_time_s rows)",
            "mean_abs_log_error": round(statistics.mean(map(abs, grid[x_err])), 4),
            "worst_abs_log_error": round(max(map(abs, grid[x_err])), 4),
            "leave_one_out_abs_log_errors": [round(abs(e), 4) for e in loo],
            "relative_errors": [round(math.exp(e) - 1, 4) for e in grid[x_err]],
            "cases_ids": [c["id"] for c in rows]}


#: The TP-overlap training set: the steady-state rows run with Megatron-Core (its README's
#: weak/strong-scaling tables and NeMo's MLPerf submissions), whose profile overlaps TP
#: communication with GEMMs (catalog ``frameworks``: overlap.tp_comm).
TP_OVERLAP_FRAMEWORK = "megatron"
TP_OVERLAP_GRID = np.round(np.arange(0.0, 1.0001, 0.05), 2)


def fit_tp_overlap(cat) -> dict:
    """Share of Megatron-Core's TP communication hidden behind GEMMs, fitted globally.

    Grid search minimising the mean |log(predicted/published)| over the steady-state rows whose
    framework selects the Megatron-Core profile, with leave-one-out errors. The physics is in
    :func:`gpuplan.demand.training.steptime.step_time` (hidden ≤ the GEMM time).
    """
    import tempfile

    from gpuplan.demand.hardware import calibration
    from gpuplan.demand.training.frameworks import framework_profile

    data = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    rows = [c for c in data["cases"]
            if framework_profile(c.get("framework")).id == TP_OVERLAP_FRAMEWORK
            and c["quantity"] in ("mfu", "tflops_per_gpu", "tokens_per_s_per_gpu", "step_time_s")
            and c.get("headline", True)]
    fits = calibration().setdefault("frameworks", {})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "megatron.yaml"
        path.write_text(yaml.safe_dump({"schema_version": data["schema_version"],
                                        "cases": rows}), encoding="utf-8")
        grid = {}
        for eta in TP_OVERLAP_GRID:
            fits[TP_OVERLAP_FRAMEWORK] = {"tp_comm_overlap_fraction": float(eta)}
            rep = validate([path], catalog=cat)
            grid[float(eta)] = [math.log(r.predicted / r.published) for r in rep.cases
                                if r.predicted]
    def best(skip: int | None) -> float:
        return min(grid, key=lambda k: statistics.mean(
            abs(e) for i, e in enumerate(grid[k]) if i != skip))
    eta = best(None)
    errs = grid[eta]
    loo = [grid[best(i)][i] for i in range(len(errs))]
    fits[TP_OVERLAP_FRAMEWORK] = {"tp_comm_overlap_fraction": eta}
    print(f"{TP_OVERLAP_FRAMEWORK}: TP communication hidden {eta:.2f}; mean |log err| "
          f"{statistics.mean(map(abs, errs)):.3f}, LOO {statistics.mean(map(abs, loo)):.3f} "
          f"on {len(errs)} cases")
    return {"tp_comm_overlap_fraction": eta, "cases": len(errs),
            "fitted_on": "src/gpuplan/validation/train_cases.yaml (steady-state rows of the "
                         "megatron profile: megatron-core, nemo)",
            "mean_abs_log_error": round(statistics.mean(map(abs, errs)), 4),
            "worst_abs_log_error": round(max(map(abs, errs)), 4),
            "leave_one_out_abs_log_errors": [round(abs(e), 4) for e in loo],
            "relative_errors": [round(math.exp(e) - 1, 4) for e in errs],
            "cases_ids": [r["id"] for r in rows]}


def fit_frameworks(cat) -> dict:
    """Every fitted framework setting (``frameworks:`` block)."""
    return {**fit_zero3(cat), **fit_zero3(cat, FSDP_PROFILE), EAGER_FRAMEWORK: fit_eager(cat),
            TP_OVERLAP_FRAMEWORK: fit_tp_overlap(cat)}


def _write(out: dict) -> None:
    OUT.write_text("# Written by benchmarks/calibrate.py; do not edit by hand.\n"
                   + yaml.safe_dump(out, sort_keys=False))
    print(f"wrote {OUT}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["collectives", "frameworks"], default=None,
                        help="refit one block and keep the rest of calibration.yaml as it is")
    only = parser.parse_args().only
    if only is not None:
        kept = yaml.safe_load(OUT.read_text(encoding="utf-8")) or {}
        kept[only] = fit_collectives() if only == "collectives" \
            else fit_frameworks(load_catalog())
        _write(kept)
        return
    cat = load_catalog()
    out = {"method": __doc__.strip().splitlines()[0], "fitted_on": "src/gpuplan/validation/"
           "train_cases.yaml (steady-state cases)", "date": dt.date.today().isoformat(),
           "generations": {}}
    out["gemm"], out["generations"] = fit_gemm_and_generations(cat)
    fitted = [g["training_mamf_fraction"] for g in out["generations"].values()]
    out["default"] = {"training_mamf_fraction": float(round(statistics.mean(fitted), 2)),
                      "note": "mean of the fitted generations; used for accelerators without cases"}
    out["collectives"] = fit_collectives()
    out["frameworks"] = fit_frameworks(cat)
    _write(out)


if __name__ == "__main__":
    main()
