#!/usr/bin/env python3
"""Build src/gpuplan/validation/device_h100.yaml from the raw JSON files of h100_measure.py.

    python3 benchmarks/device/make_summary.py \\
        benchmarks/device/results/h100_2026-11-22.json \\
        benchmarks/device/results/h100_2026-11-22_run2.json \\
        benchmarks/device/results/h100_2026-11-22_run3.json \\
        --device "one NVIDIA H100 GPU (about 78 GiB of GPU memory), 16 CPU cores, 128 GiB memory" \\
        --date 2026-11-22 --out src/gpuplan/validation/device_h100.yaml

Run 1 (``--part all``) is the primary source for matmul, HBM and the eager training step; the
latest run holding ``decode`` (and, separately, ``decode_compile``) is the source for decode.
Matching figures of the other runs are kept as ``*_repeat`` so the run-to-run spread is visible.
Needs PyYAML.
"""
from __future__ import annotations

import argparse
import json
import os
import re

import yaml

#: PyTorch's CUDA out-of-memory message: what the caching allocator held when it failed.
_OOM_FIGURES = {
    "tried_to_allocate_gib": r"Tried to allocate ([0-9.]+) GiB",
    "allocated_gib_at_failure": r"([0-9.]+) GiB is allocated by PyTorch",
    "reserved_unallocated_gib_at_failure": r"([0-9.]+) GiB is reserved by PyTorch but unallocated",
    "process_in_use_gib_at_failure": r"this process has ([0-9.]+) GiB memory in use",
    "total_capacity_gib": r"total capacity of ([0-9.]+) GiB",
}


def oom_figures(message: str) -> dict[str, float]:
    """The figures of a PyTorch CUDA OOM message [GiB, as printed], those it states."""
    out = {}
    for key, pattern in _OOM_FIGURES.items():
        m = re.search(pattern, message)
        if m:
            out[key] = float(m.group(1))
    return out

def sig(x, n=4):
    """Round to n significant digits (keeps YAML readable; raw JSON has full precision)."""
    if x is None or isinstance(x, (bool, int)):
        return x
    if x == 0:
        return 0.0
    return float(f"{x:.{n}g}")


def rel(path, root):
    return os.path.relpath(os.path.abspath(path), root)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+", help="result JSON files, run 1 first")
    ap.add_argument("--device", required=True, help="device description (from the device tool)")
    ap.add_argument("--date", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", default=".", help="repository root, for relative paths")
    a = ap.parse_args()
    runs = [json.load(open(p)) for p in a.results]
    names = [rel(p, a.root) for p in a.results]
    r1 = runs[0]
    f = r1["facts"]
    smi = f["nvidia_smi"]

    def runs_with(key):
        return [(i, r) for i, r in enumerate(runs) if r.get(key)]

    measured_on = {
        "device": a.device,
        "gpu_name": f["gpu_name"],
        "date": a.date,
        "runs": [{"run": i + 1, "results_file": names[i],
                  "gpu_uuid": r["facts"].get("nvidia_smi_L", "").split("UUID: ")[-1].rstrip(")"),
                  "parts": list(r.get("part_wall_s", {}).keys()),
                  "started_utc": r["meta"]["started_utc"]} for i, r in enumerate(runs)],
        "torch": f["torch"],
        "cuda_runtime": f["torch_cuda"],
        "cudnn": f["cudnn"],
        "triton": f.get("triton"),
        "python": f["python"],
        "driver": smi["driver_version"],
        "os_kernel": f["platform"],
        "compute_capability": f["compute_capability"],
        "sm_count": f["sm_count"],
        "l2_cache_bytes": f["l2_cache_bytes"],
        "memory_total_bytes_nvidia_smi": int(smi["memory.total"]) * 2**20,
        "memory_total_bytes_torch": f["total_memory_bytes"],
        "power_limit_w": float(smi["power.limit"]),
        "sm_clock_max_hz": int(smi["clocks.max.sm"]) * 10**6,
        "memory_clock_max_hz": int(smi["clocks.max.mem"]) * 10**6,
        "persistence_mode": smi["persistence_mode"],
        "after_bf16_matmuls": {
            "sm_clock_hz": int(r1["matmul_smi_after_bf16"]["clocks.sm"]) * 10**6,
            "power_draw_w": float(r1["matmul_smi_after_bf16"]["power.draw"]),
            "clock_event_reasons": r1["matmul_smi_after_bf16"]["clocks_throttle_reasons.active"],
            "note": "0x4 = SW power cap active: under sustained GEMMs the SM clock drops below 1980 MHz",
        },
    }

    # ------------------------------------------------------------------ matmul
    def mm_key(r):
        return (r["dtype"], r["m"], r["k"], r["n"], r.get("use_fast_accum"))

    rep = {}
    for i, r in enumerate(runs[1:], start=2):
        for row in r.get("matmul", []):
            if "tflops_best" in row:
                rep[mm_key(row)] = (i, row)
    matmul = []
    for row in r1.get("matmul", []):
        if "tflops_best" not in row:
            matmul.append({"dtype": row["dtype"], "m": row["m"], "n": row["n"], "k": row["k"],
                           "error": row.get("error")})
            continue
        e = {"dtype": row["dtype"], "label": row["label"], "m": row["m"], "n": row["n"],
             "k": row["k"], "tflops": sig(row["tflops_best"]),
             "flops_per_s": sig(row["tflops_best"] * 1e12),
             "flops_per_s_median": sig(row["tflops_median"] * 1e12)}
        if row.get("use_fast_accum") is not None:
            e["use_fast_accum"] = row["use_fast_accum"]
        if mm_key(row) in rep:
            e["flops_per_s_repeat"] = sig(rep[mm_key(row)][1]["tflops_best"] * 1e12)
        matmul.append(e)
    mamf = {}
    for i, r in enumerate(runs):
        for row in r.get("matmul", []):
            if "tflops_best" in row:
                d = row["dtype"]
                if d not in mamf or row["tflops_best"] > mamf[d]["tflops"]:
                    mamf[d] = {"dtype": d, "tflops": sig(row["tflops_best"]),
                               "flops_per_s": sig(row["tflops_best"] * 1e12),
                               "m": row["m"], "n": row["n"], "k": row["k"], "run": i + 1}

    # ------------------------------------------------------------------ hbm
    hrep = {}
    for i, r in enumerate(runs[1:], start=2):
        for row in r.get("hbm", []):
            hrep[(row["kind"], row["tensor_bytes"])] = row
    hbm = []
    for row in r1.get("hbm", []):
        e = {"kind": row["kind"], "tensor_bytes": row["tensor_bytes"], "counting": row["counting"],
             "bytes_per_s": sig(row["bytes_per_s_best"]),
             "bytes_per_s_median": sig(row["bytes_per_s_median"])}
        k = (row["kind"], row["tensor_bytes"])
        if k in hrep:
            e["bytes_per_s_repeat"] = sig(hrep[k]["bytes_per_s_best"])
        hbm.append(e)

    # ------------------------------------------------------------------ train
    train = []
    for key in ("train", "train_compile"):
        for i, r in runs_with(key):
            for row in r[key]:
                e = {"model": row["name"], "L": row["L"], "h": row["h"], "a": row["a"],
                     "vocab": row["vocab"], "seq": row["seq"], "micro_batch": row["micro_batch"],
                     "compiled": row["compiled"], "status": row["status"], "run": i + 1}
                if row["status"] == "ok":
                    e.update({
                        "params": row["params_total"],
                        "params_non_embedding": row["params_non_embedding"],
                        "tokens_per_step": row["tokens_per_step"],
                        "step_time_s": sig(row["step_time_s_median"]),
                        "step_time_s_min": sig(row["step_time_s_min"]),
                        "tokens_per_s": sig(row["tokens_per_s"]),
                        "mfu": sig(row["mfu_palm_nonembedding"], 3),
                        "mfu_incl_lm_head": sig(row["mfu_incl_lm_head"], 3),
                        "flops_per_token": row["flops_per_token_palm"],
                        "flops_per_token_incl_lm_head": row["flops_per_token_incl_lm_head"],
                        "max_allocated_bytes": row["max_memory_allocated_bytes"],
                        "max_reserved_bytes": row["max_memory_reserved_bytes"],
                        "sdpa": row["sdpa"],
                    })
                    if row["compiled"]:
                        e["first_step_incl_compile_s"] = sig(row["warmup_step_times_s"][0], 3)
                else:
                    e["max_allocated_bytes_at_failure"] = row.get("max_memory_allocated_bytes")
                    e.update(oom_figures(row.get("error", "")))
                    e["error"] = row.get("error", "")[:160]
                train.append(e)

    # ------------------------------------------------------------------ decode
    dec_runs = [(i, r) for i, r in runs_with("decode")]
    prim_i, prim = dec_runs[-1]  # the latest run of the decode part
    other = {x["batch"]: x for i, r in dec_runs if i != prim_i for x in r["decode"] if "tpot_s" in x}
    info = prim["decode_info"]
    cfg = dict(info["config"])
    cfg["kv_heads"] = cfg.pop("kv")
    decode = []

    def dec_entry(x, compiled, run):
        e = {"config": cfg, "dtype": "bf16", "batch": x["batch"], "compiled": compiled, "run": run}
        if "tpot_s" not in x:
            e.update({"status": x.get("status", "error"), "error": x.get("error", "")[:160]})
            return e
        e.update({
            "prompt_tokens": x["prompt_tokens"], "output_tokens": x["output_tokens"],
            "prefill_s": sig(x["prefill_s"]), "tpot_s": sig(x["tpot_s"]),
            "output_tokens_per_s": sig(x["output_tokens_per_s"]),
            "end_to_end_output_tokens_per_s": sig(x["end_to_end_output_tokens_per_s"]),
            "cuda_graphs": x["cuda_graphs"],
            "eager_tpot_s": sig(x["eager_tpot_s"]),
            "weight_bytes": info["weight_bytes"], "kv_bytes_per_token": info["kv_bytes_per_token"],
            "kv_cache_tokens_allocated": info["max_seq_cache"],
            "step_bytes_read_est": x["decode_step_bytes_read_est"],
            "achieved_bytes_per_s": sig(x["decode_achieved_bytes_per_s"]),
        })
        if "linear_only_graph_s" in x:
            e["linear_only_s"] = sig(x["linear_only_graph_s"])
        if "graph_matches_eager_tokens_frac" in x:
            e["graph_matches_eager_tokens_frac"] = sig(x["graph_matches_eager_tokens_frac"], 3)
        if "first_step_incl_compile_s" in x:
            e["first_step_incl_compile_s"] = sig(x["first_step_incl_compile_s"], 3)
        for k in ("compiled_vs_eager_logits_rel_err", "compiled_vs_eager_argmax_match_frac"):
            if k in x:
                e[k] = sig(x[k], 3)
        if not compiled and x["batch"] in other:
            e["tpot_s_repeat"] = sig(other[x["batch"]]["tpot_s"])
        return e

    for x in prim["decode"]:
        decode.append(dec_entry(x, False, prim_i + 1))
    comp = runs_with("decode_compile")
    if comp:  # only the latest run: earlier ones may come from superseded script revisions
        i, r = comp[-1]
        for x in r["decode_compile"]:
            e = dec_entry(x, True, i + 1)
            if e.get("graph_matches_eager_tokens_frac", 1.0) < 0.99:
                e["note"] = ("greedy tokens drift from the eager run after a few steps: bf16 rounding "
                             "of fused kernels against near-tied logits of random weights (see the "
                             "one-step logits error); timing is unaffected")
            decode.append(e)

    doc = {
        "schema_version": 1,
        "measured_on": measured_on,
        "script": "benchmarks/device/h100_measure.py",
        "summary_script": "benchmarks/device/make_summary.py",
        "results_files": names,
        "conventions": {
            "matmul": ("torch.matmul / torch._scaled_mm on random data; best of 10 samples after "
                       "warm-up (each sample = back-to-back calls for >=50 ms, CUDA events); "
                       "flops = 2*m*n*k; A is m x k, B is k x n. fp8: e4m3 x e4m3 -> bf16 out, "
                       "per-tensor scales. tf32/fp32: fp32 tensors with allow_tf32 on/off."),
            "mamf": "max over all shapes and both runs, per dtype (maximum achievable matmul FLOPs)",
            "hbm": ("best of 20 samples; d2d_copy counts bytes read + written; read_sum = torch.sum "
                    "over fp32; write_fill = fill_"),
            "train_step": ("GPT-2 style (pre-LN, GeLU 4h MLP, learned positions, tied embeddings, "
                           "biases), fp32 params + torch.autocast(bf16) + AdamW(fused=True), "
                           "flash SDPA, no activation checkpointing, random tokens; step = fwd + "
                           "bwd + optimizer; median of 10 steps after 3 warm-up. mfu = "
                           "(6*N_non_embedding + 12*L*h*seq) * tokens/s / 989e12 (PaLM app. B); "
                           "mfu_incl_lm_head adds the tied LM-head matmul (6*vocab*h per token)."),
            "decode": ("Llama-style, bf16, random weights, plain torch; greedy; one prompt length for "
                       "the whole batch; prefill eager (flash SDPA with GQA); decode step = one "
                       "CUDA graph replayed (static shapes: attention over the whole pre-allocated "
                       "cache with a mask); tpot_s = mean over 127 steps; output_tokens_per_s = "
                       "batch / tpot_s; end_to_end = batch*128 / (prefill + 127*tpot). "
                       "linear_only_s = only the weight matmuls of one step in a CUDA graph. "
                       "eager_tpot_s = same step without a graph (launch-bound)."),
            "repeat": ("`*_repeat` = the same figure measured in another run (another GPU of the "
                       "same kind: see measured_on.runs); matmul/hbm: run 2, decode: run 2"),
            "peak_dense_bf16_flops_per_s_datasheet": 989e12,
        },
        "mamf": list(mamf.values()),
        "matmul": matmul,
        "hbm": hbm,
        "train_step": train,
        "decode": decode,
    }
    header = ("# Measured on a real NVIDIA H100 80GB HBM3 (SXM, 700 W) lent through the device tool.\n"
              "# Generated by benchmarks/device/make_summary.py from the raw JSON in\n"
              "# benchmarks/device/results/; do not edit by hand. Base units (bytes, seconds, FLOP/s);\n"
              "# `tflops` is the same figure as flops_per_s / 1e12.\n")
    class NoAliasDumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    with open(a.out, "w") as fh:
        fh.write(header)
        yaml.dump(doc, fh, Dumper=NoAliasDumper, sort_keys=False, width=100,
                  default_flow_style=False)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
