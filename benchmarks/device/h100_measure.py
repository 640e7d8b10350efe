#!/usr/bin/env python3
"""Measure a real GPU (written for one NVIDIA H100) so gpuplan's predictions can be checked.

Self-contained: PyTorch + the standard library only, random weights, no downloads.

Parts (``--part``, comma separated, default ``all``):

* ``facts``   torch/CUDA versions, device properties, nvidia-smi (memory, power limit, clocks).
* ``matmul``  bf16 / fp16 / fp8 (torch._scaled_mm) / tf32 / fp32 GEMM throughput; MAMF per dtype.
* ``hbm``     device-memory bandwidth: device-to-device copy, read-only sum, write-only fill.
* ``train``   GPT-2-style training step (fp32 params, bf16 autocast, fused AdamW), eager.
* ``train_compile``  the same with torch.compile (separate, since compilation can take minutes).
* ``decode_compile``  the decode step through torch.compile, then a CUDA graph (batches 1, 64, 256).
* ``decode``  Llama-style 1B decode with a pre-allocated KV cache: prefill time, per-token time
              (eager and CUDA-graph replay), output tokens/s.

Usage::

    PYTHONUNBUFFERED=1 python3 benchmarks/device/h100_measure.py --part all --out /path/results.json
    python3 benchmarks/device/h100_measure.py --smoke --out /tmp/smoke.json   # tiny CPU check of the code

Timing: CUDA events after warm-up; matmul/HBM report the best sample (and the median);
training and decode report the median step.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

GiB = 1024**3
H100_SXM_DENSE_BF16_FLOPS = 989e12  # NVIDIA H100 SXM5 datasheet, dense (no sparsity)

RESULTS: dict = {}
ARGS = None


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def save():
    path = ARGS.out
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(RESULTS, f, indent=1, sort_keys=False, default=str)
    os.replace(tmp, path)


def record_error(part, what, exc):
    RESULTS.setdefault("errors", []).append(
        {"part": part, "what": what, "error": f"{type(exc).__name__}: {str(exc)[:600]}"}
    )
    log(f"ERROR in {part}/{what}: {type(exc).__name__}: {str(exc)[:300]}")


def cleanup():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


class Timer:
    """Seconds between start() and stop(); CUDA events on GPU, perf_counter on CPU."""

    def __init__(self, dev):
        self.cuda = dev.type == "cuda"

    def start(self):
        if self.cuda:
            self.e0 = torch.cuda.Event(enable_timing=True)
            self.e1 = torch.cuda.Event(enable_timing=True)
            self.e0.record()
        else:
            self.t0 = time.perf_counter()

    def stop(self) -> float:
        if self.cuda:
            self.e1.record()
            self.e1.synchronize()
            return self.e0.elapsed_time(self.e1) / 1e3
        return time.perf_counter() - self.t0


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def sh(cmd: list[str], timeout=30) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout
    except Exception as e:  # nvidia-smi missing etc.
        return f"<failed: {e}>"


SMI_FIELDS = [
    "name", "driver_version", "memory.total", "memory.used", "power.limit", "power.default_limit",
    "power.max_limit", "power.draw", "clocks.sm", "clocks.mem", "clocks.max.sm", "clocks.max.mem",
    "clocks.applications.graphics", "temperature.gpu", "pstate", "persistence_mode",
    "compute_mode", "pci.bus_id", "vbios_version", "clocks_throttle_reasons.active",
]


def smi_query(fields=SMI_FIELDS) -> dict:
    out = {}
    for f in fields:  # one field per call: an unsupported field must not lose the others
        txt = sh(["nvidia-smi", f"--query-gpu={f}", "--format=csv,noheader,nounits"]).strip()
        out[f] = txt.splitlines()[0].strip() if txt else None
    return out


def smi_snapshot() -> dict:
    return smi_query(["clocks.sm", "clocks.mem", "power.draw", "temperature.gpu",
                      "clocks_throttle_reasons.active"])


# ----------------------------------------------------------------------------------------- facts
def part_facts(dev):
    f = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
    }
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        f.update({
            "gpu_name": p.name,
            "compute_capability": f"{p.major}.{p.minor}",
            "sm_count": p.multi_processor_count,
            "total_memory_bytes": p.total_memory,
            "l2_cache_bytes": getattr(p, "L2_cache_size", None),
            "free_memory_bytes_at_start": torch.cuda.mem_get_info()[0],
        })
        f["nvidia_smi"] = smi_query()
        f["nvidia_smi_q"] = sh(["nvidia-smi", "-q"])[:60000]
        f["nvidia_smi_L"] = sh(["nvidia-smi", "-L"]).strip()
    try:
        import triton
        f["triton"] = triton.__version__
    except Exception:
        f["triton"] = None
    RESULTS["facts"] = f
    log("facts:", {k: v for k, v in f.items() if k not in ("nvidia_smi_q",)})


# ---------------------------------------------------------------------------------------- matmul
def time_op(fn, dev, samples=10, target_s=0.05, warmup=3):
    """Best and median seconds per call. Each sample times `reps` back-to-back calls."""
    for _ in range(warmup):
        fn()
    sync(dev)
    t = Timer(dev)
    t.start()
    fn()
    one = max(t.stop(), 1e-6)
    reps = max(1, min(2000, int(math.ceil(target_s / one))))
    per = []
    for _ in range(samples):
        t.start()
        for _ in range(reps):
            fn()
        per.append(t.stop() / reps)
    return min(per), statistics.median(per), reps


def part_matmul(dev):
    smoke = ARGS.smoke
    rows = []
    RESULTS["matmul"] = rows
    squares = [1024, 2048, 4096, 6144, 8192, 12288, 16384]
    llm = [  # (label, M tokens, K, N)
        ("llm_mlp_up_70b_like", 8192, 8192, 28672),
        ("llm_square_4k", 4096, 4096, 4096),
        ("llm_mlp_up_gpt3_175b", 16384, 12288, 49152),
        ("llm_mlp_down_70b_like", 8192, 28672, 8192),
        ("llm_attn_qkv_8b_like", 8192, 4096, 6144),
    ]
    if smoke:
        squares, llm = [64, 128], [("llm_small", 64, 128, 256)]

    def run_shape(dtype_label, m, k, n, fn, label, extra=None):
        flops = 2.0 * m * n * k
        try:
            best, med, reps = time_op(fn, dev, samples=3 if smoke else 10)
            r = {"dtype": dtype_label, "label": label, "m": m, "n": n, "k": k,
                 "best_s": best, "median_s": med, "reps_per_sample": reps,
                 "tflops_best": flops / best / 1e12, "tflops_median": flops / med / 1e12}
            if extra:
                r.update(extra)
            rows.append(r)
            log(f"matmul {dtype_label:>10} {label:>24} {m}x{k}x{n}: "
                f"best {r['tflops_best']:.1f} TFLOP/s  median {r['tflops_median']:.1f}")
        except Exception as e:
            record_error("matmul", f"{dtype_label} {m}x{k}x{n}", e)
            rows.append({"dtype": dtype_label, "label": label, "m": m, "n": n, "k": k,
                         "error": f"{type(e).__name__}: {str(e)[:300]}"})
        save()

    torch.manual_seed(0)
    # clock ramp-up: ~1 s of large bf16 GEMMs before anything is timed
    if not smoke:
        a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
        t_end = time.time() + 1.0
        while time.time() < t_end:
            for _ in range(20):
                a @ a
            sync(dev)
        del a

    # --- bf16
    for s in squares:
        a = torch.randn(s, s, device=dev, dtype=torch.bfloat16)
        b = torch.randn(s, s, device=dev, dtype=torch.bfloat16)
        run_shape("bf16", s, s, s, lambda: torch.matmul(a, b), f"square_{s}")
        del a, b
    for label, m, k, n in llm:
        a = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
        b = torch.randn(k, n, device=dev, dtype=torch.bfloat16)
        run_shape("bf16", m, k, n, lambda: torch.matmul(a, b), label)
        del a, b
    cleanup()
    if dev.type == "cuda":
        RESULTS["matmul_smi_after_bf16"] = smi_snapshot()

    # --- fp16, tf32, fp32 (one or two sizes)
    s = 64 if smoke else 8192
    a = torch.randn(s, s, device=dev, dtype=torch.float16)
    b = torch.randn(s, s, device=dev, dtype=torch.float16)
    run_shape("fp16", s, s, s, lambda: torch.matmul(a, b), f"square_{s}")
    del a, b
    a = torch.randn(s, s, device=dev, dtype=torch.float32)
    b = torch.randn(s, s, device=dev, dtype=torch.float32)
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    run_shape("tf32", s, s, s, lambda: torch.matmul(a, b), f"square_{s}")
    torch.backends.cuda.matmul.allow_tf32 = False
    run_shape("fp32", s, s, s, lambda: torch.matmul(a, b), f"square_{s}")
    torch.backends.cuda.matmul.allow_tf32 = old
    del a, b
    cleanup()

    # --- fp8 e4m3 via torch._scaled_mm
    fp8_shapes = [(f"square_{x}", x, x, x) for x in ([64, 128] if smoke else [4096, 8192, 12288, 16384])]
    if not smoke:
        fp8_shapes += [l for l in llm if l[0] != "llm_square_4k"]
    fp8_info = {"available": hasattr(torch, "_scaled_mm") and hasattr(torch, "float8_e4m3fn")}
    RESULTS["fp8_info"] = fp8_info
    if dev.type != "cuda" or not fp8_info["available"]:
        fp8_info["skipped"] = "needs CUDA and torch._scaled_mm"
    else:
        one = torch.ones((), device=dev, dtype=torch.float32)

        def make_fp8_fn(a8, b8, fast):
            def call_new():
                return torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16,
                                        use_fast_accum=fast)

            def call_old():  # torch 2.1-2.3 returned (out, amax)
                return torch._scaled_mm(a8, b8, out_dtype=torch.bfloat16, scale_a=one, scale_b=one,
                                        use_fast_accum=fast)[0]
            try:
                out = call_new()
                if isinstance(out, tuple):
                    return call_old, "tuple-return"
                return call_new, "tensor-return"
            except TypeError:
                call_old()
                return call_old, "tuple-return"

        for label, m, k, n in fp8_shapes:
            for fast in ([True, False] if label in ("square_8192", "square_16384", "square_128") else [True]):
                try:
                    a8 = torch.randn(m, k, device=dev, dtype=torch.bfloat16).to(torch.float8_e4m3fn)
                    # mat2 must be column-major: make (n, k) row-major and transpose
                    b8 = torch.randn(n, k, device=dev, dtype=torch.bfloat16).to(torch.float8_e4m3fn).t()
                    fn, api = make_fp8_fn(a8, b8, fast)
                    if "check" not in fp8_info:  # numerical sanity vs bf16 on a small slice
                        ref = a8[:256].to(torch.bfloat16).float() @ b8[:, :256].to(torch.bfloat16).float()
                        got = fn()[:256, :256].float()
                        fp8_info["check_rel_err_vs_fp32_of_fp8_inputs"] = float((got - ref).norm() / ref.norm())
                        fp8_info["check"] = True
                        fp8_info["api"] = api
                    run_shape("fp8_e4m3", m, k, n, fn, label,
                              {"use_fast_accum": fast, "out_dtype": "bf16", "scales": "per-tensor fp32 = 1.0"})
                    del a8, b8
                except Exception as e:
                    record_error("matmul", f"fp8 {label} fast={fast}", e)
                    rows.append({"dtype": "fp8_e4m3", "label": label, "m": m, "n": n, "k": k,
                                 "use_fast_accum": fast, "error": f"{type(e).__name__}: {str(e)[:300]}"})
                    save()
        cleanup()
        RESULTS["matmul_smi_after_fp8"] = smi_snapshot()

    mamf = {}
    for r in rows:
        if "tflops_best" in r:
            d = r["dtype"]
            if d not in mamf or r["tflops_best"] > mamf[d]["tflops"]:
                mamf[d] = {"tflops": r["tflops_best"], "m": r["m"], "n": r["n"], "k": r["k"],
                           "label": r["label"]}
    RESULTS["mamf"] = mamf
    log("MAMF:", {d: round(v["tflops"], 1) for d, v in mamf.items()})


# ------------------------------------------------------------------------------------------- hbm
def part_hbm(dev):
    rows = []
    RESULTS["hbm"] = rows
    sizes = [16 * 2**20] if ARGS.smoke else [256 * 2**20, 1 * GiB, 4 * GiB]
    for nbytes in sizes:
        n = nbytes // 4
        try:
            src = torch.randn(n, device=dev, dtype=torch.float32)
            dst = torch.empty_like(src)
            tests = [
                ("d2d_copy", lambda: dst.copy_(src), 2 * nbytes, "bytes read + bytes written"),
                ("read_sum", lambda: torch.sum(src), nbytes, "bytes read (torch.sum fp32)"),
                ("write_fill", lambda: dst.fill_(1.5), nbytes, "bytes written (fill_)"),
            ]
            for kind, fn, moved, how in tests:
                best, med, reps = time_op(fn, dev, samples=5 if ARGS.smoke else 20, target_s=0.02)
                r = {"kind": kind, "tensor_bytes": nbytes, "bytes_counted": moved, "counting": how,
                     "best_s": best, "median_s": med, "reps_per_sample": reps,
                     "bytes_per_s_best": moved / best, "bytes_per_s_median": moved / med}
                rows.append(r)
                log(f"hbm {kind:>10} {nbytes / GiB:.2f} GiB: best {r['bytes_per_s_best'] / 1e9:.0f} GB/s "
                    f"median {r['bytes_per_s_median'] / 1e9:.0f} GB/s")
            del src, dst
        except Exception as e:
            record_error("hbm", f"{nbytes}", e)
        cleanup()
        save()


# ------------------------------------------------------------------------------------- GPT train
class Block(nn.Module):
    def __init__(self, h, a):
        super().__init__()
        self.a = a
        self.ln1 = nn.LayerNorm(h)
        self.qkv = nn.Linear(h, 3 * h)
        self.proj = nn.Linear(h, h)
        self.ln2 = nn.LayerNorm(h)
        self.fc = nn.Linear(h, 4 * h)
        self.fc2 = nn.Linear(4 * h, h)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.a, C // self.a).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        x = x + self.fc2(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x


class GPT(nn.Module):
    """GPT-2 style: pre-LN, GeLU MLP 4h, learned positions, tied input/output embeddings."""

    def __init__(self, L, h, a, vocab, seq):
        super().__init__()
        self.wte = nn.Embedding(vocab, h)
        self.wpe = nn.Embedding(seq, h)
        self.blocks = nn.ModuleList([Block(h, a) for _ in range(L)])
        self.ln_f = nn.LayerNorm(h)
        self.lm_head = nn.Linear(h, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        for n_, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif n_.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for b in self.blocks:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def gpt_counts(L, h, a, vocab, seq):
    per_layer = (h * 3 * h + 3 * h) + (h * h + h) + (h * 4 * h + 4 * h) + (4 * h * h + h) + 4 * h  # + 2 LNs
    non_emb = L * per_layer + 2 * h  # final LN
    total = non_emb + vocab * h + seq * h
    return {"params_total": total, "params_non_embedding": non_emb,
            "params_wte": vocab * h, "params_wpe": seq * h}


def run_train_config(dev, cfg, compiled, steps, warmup):
    L, h, a, V, S, mb = cfg["L"], cfg["h"], cfg["a"], cfg["vocab"], cfg["seq"], cfg["micro_batch"]
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(0)
    with torch.device(dev):  # build and initialise directly on the device
        model = GPT(L, h, a, V, S)
    n_total = sum(p.numel() for p in model.parameters())
    counts = gpt_counts(L, h, a, V, S)
    assert n_total == counts["params_total"], (n_total, counts)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95),
                            fused=dev.type == "cuda", foreach=None if dev.type == "cuda" else True)
    fwd = torch.compile(model) if compiled else model
    x = torch.randint(0, V, (mb, S), device=dev)
    y = torch.randint(0, V, (mb, S), device=dev)
    sdpa_ctx = None
    sdpa_note = "default"
    if dev.type == "cuda" and not compiled:
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel
            sdpa_ctx = lambda: sdpa_kernel([SDPBackend.FLASH_ATTENTION])  # noqa: E731
            sdpa_note = "flash forced (torch.nn.attention.sdpa_kernel)"
        except Exception:
            sdpa_ctx = None

    def step():
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
            if sdpa_ctx is not None:
                with sdpa_ctx():
                    loss = fwd(x, y)
            else:
                loss = fwd(x, y)
        if sdpa_ctx is not None:
            with sdpa_ctx():
                loss.backward()
        else:
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t = Timer(dev)
    warm_times = []
    for _ in range(warmup):
        t.start()
        loss = step()
        warm_times.append(t.stop())
    times = []
    for _ in range(steps):
        t.start()
        loss = step()
        times.append(t.stop())
    loss_val = float(loss.detach())
    med = statistics.median(times)
    tokens = mb * S
    fpt_palm = 6 * counts["params_non_embedding"] + 12 * L * h * S
    fpt_lm = 6 * (counts["params_non_embedding"] + V * h) + 12 * L * h * S
    r = dict(cfg)
    r.update(counts)
    r.update({
        "compiled": compiled, "status": "ok", "sdpa": sdpa_note,
        "precision": "fp32 params + torch.autocast(bf16) + AdamW(fused)",
        "steps_timed": steps, "warmup_steps": warmup, "warmup_step_times_s": warm_times,
        "step_times_s": times, "step_time_s_median": med, "step_time_s_min": min(times),
        "tokens_per_step": tokens, "tokens_per_s": tokens / med,
        "flops_per_token_palm": fpt_palm, "flops_per_token_incl_lm_head": fpt_lm,
        "mfu_palm_nonembedding": fpt_palm * tokens / med / H100_SXM_DENSE_BF16_FLOPS,
        "mfu_incl_lm_head": fpt_lm * tokens / med / H100_SXM_DENSE_BF16_FLOPS,
        "peak_flops_used": H100_SXM_DENSE_BF16_FLOPS, "final_loss": loss_val,
        "loss_finite": math.isfinite(loss_val),
    })
    if dev.type == "cuda":
        r["max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated()
        r["max_memory_reserved_bytes"] = torch.cuda.max_memory_reserved()
    del model, opt, fwd, x, y, loss
    return r


def _train_configs(compiled):
    if ARGS.smoke:
        return [dict(name="tiny", L=2, h=64, a=4, vocab=50257, seq=64, micro_batch=2)]
    g124 = dict(name="gpt2-124M", L=12, h=768, a=12, vocab=50257)
    g350 = dict(name="gpt2-350M", L=24, h=1024, a=16, vocab=50257)
    g13 = dict(name="gpt2-1.3B", L=24, h=2048, a=16, vocab=50257)
    if compiled:
        return [dict(g124, seq=1024, micro_batch=16), dict(g13, seq=1024, micro_batch=8)]
    out = []
    for base, seqs in ((g124, [1024]), (g350, [1024]), (g13, [1024, 2048])):
        for s in seqs:
            for mb in (8, 16):
                out.append(dict(base, seq=s, micro_batch=mb))
    return out


def part_train(dev, compiled=False):
    key = "train_compile" if compiled else "train"
    rows = []
    RESULTS[key] = rows
    steps, warmup = (2, 1) if ARGS.smoke else (10, 3)
    for cfg in _train_configs(compiled):
        cleanup()
        t0 = time.time()
        log(f"{key}: {cfg} ...")
        try:
            r = run_train_config(dev, cfg, compiled, steps, warmup)
            r["wall_s_incl_build"] = time.time() - t0
            log(f"{key} {cfg['name']} seq{cfg['seq']} mb{cfg['micro_batch']}: step {r['step_time_s_median'] * 1e3:.1f} ms"
                f"  {r['tokens_per_s']:.0f} tok/s  MFU(palm) {r['mfu_palm_nonembedding']:.3f}"
                f"  MFU(+lm_head) {r['mfu_incl_lm_head']:.3f}"
                f"  peak alloc {r.get('max_memory_allocated_bytes', 0) / GiB:.1f} GiB"
                f"  reserved {r.get('max_memory_reserved_bytes', 0) / GiB:.1f} GiB  loss {r['final_loss']:.3f}")
        except torch.cuda.OutOfMemoryError as e:
            r = dict(cfg, compiled=compiled, status="OOM", error=str(e)[:400])
            if dev.type == "cuda":
                r["max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated()
                r["max_memory_reserved_bytes"] = torch.cuda.max_memory_reserved()
            log(f"{key} {cfg['name']} seq{cfg['seq']} mb{cfg['micro_batch']}: OOM")
        except Exception as e:
            record_error(key, f"{cfg}", e)
            r = dict(cfg, compiled=compiled, status="error", error=f"{type(e).__name__}: {str(e)[:400]}",
                     traceback=traceback.format_exc()[-2000:])
        rows.append(r)
        cleanup()
        save()


# ------------------------------------------------------------------------------------ Llama decode
class LlamaDecoder:
    """Llama-style decoder in plain torch (bf16, random weights): RMSNorm, RoPE, GQA, SwiGLU,
    tied embeddings, fused qkv and gate/up projections, pre-allocated KV cache."""

    def __init__(self, dev, L, h, a, kv, ffn, vocab, max_seq, dtype=torch.bfloat16):
        self.L, self.h, self.a, self.kv, self.ffn, self.V = L, h, a, kv, ffn, vocab
        self.hd = h // a
        self.dev, self.dtype, self.max_seq = dev, dtype, max_seq
        g = torch.Generator(device=dev).manual_seed(0)

        def w(*shape):
            return (torch.randn(*shape, device=dev, dtype=dtype, generator=g) * 0.02)

        self.embed = w(vocab, h)
        self.layers = []
        for _ in range(L):
            self.layers.append({
                "n1": torch.ones(h, device=dev, dtype=dtype),
                "wqkv": w((a + 2 * kv) * self.hd, h),
                "wo": w(h, a * self.hd),
                "n2": torch.ones(h, device=dev, dtype=dtype),
                "wgu": w(2 * ffn, h),
                "wd": w(h, ffn),
            })
        self.nf = torch.ones(h, device=dev, dtype=dtype)
        inv = 1.0 / (500000.0 ** (torch.arange(0, self.hd, 2, device=dev, dtype=torch.float32) / self.hd))
        t = torch.arange(max_seq, device=dev, dtype=torch.float32)
        fr = torch.outer(t, inv)
        emb = torch.cat([fr, fr], dim=-1)
        self.cos, self.sin = emb.cos().to(dtype), emb.sin().to(dtype)
        self.ar = torch.arange(max_seq, device=dev)

    def weight_bytes(self):
        n = self.embed.numel() + self.nf.numel()
        for l in self.layers:
            n += sum(t.numel() for t in l.values())
        return n * self.embed.element_size(), n

    def kv_bytes_per_token(self):
        return 2 * self.L * self.kv * self.hd * self.embed.element_size()

    def alloc_cache(self, B):
        # one tensor per layer (not views of one 5-D tensor): torch.compile then writes each
        # layer's cache in place instead of copying a whole functionalized base back per write
        shape = (B, self.kv, self.max_seq, self.hd)
        return ([torch.zeros(shape, device=self.dev, dtype=self.dtype) for _ in range(self.L)],
                [torch.zeros(shape, device=self.dev, dtype=self.dtype) for _ in range(self.L)])

    @staticmethod
    def _rms(x, w):
        return F.rms_norm(x, (x.shape[-1],), w, 1e-5)

    @staticmethod
    def _rot(x):
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([-x2, x1], dim=-1)

    def forward(self, tokens, pos_ids, kc, vc, decode):
        """tokens (B,T); pos_ids (T,) long on device; returns last-position logits (B,V)."""
        B, T = tokens.shape
        a, kv, hd = self.a, self.kv, self.hd
        x = F.embedding(tokens, self.embed)
        cos = self.cos[pos_ids].view(1, T, 1, hd)
        sin = self.sin[pos_ids].view(1, T, 1, hd)
        if decode:
            mask = (self.ar <= pos_ids[-1]).view(1, 1, 1, self.max_seq)
        for i, l in enumerate(self.layers):
            y = self._rms(x, l["n1"])
            qkv = F.linear(y, l["wqkv"])
            q, k, v = qkv.split([a * hd, kv * hd, kv * hd], dim=-1)
            q = q.view(B, T, a, hd)
            k = k.view(B, T, kv, hd)
            v = v.view(B, T, kv, hd)
            q = q * cos + self._rot(q) * sin
            k = k * cos + self._rot(k) * sin
            kc[i].index_copy_(2, pos_ids, k.transpose(1, 2))
            vc[i].index_copy_(2, pos_ids, v.transpose(1, 2))
            if decode:
                # GQA for one new token: fold the a/kv query heads of each kv head into the
                # "query length" dim, attend over the whole (masked) static-size cache.
                qg = q.view(B, kv, (a // kv) * T, hd)
                o = F.scaled_dot_product_attention(qg, kc[i], vc[i], attn_mask=mask)
                o = o.reshape(B, a, T, hd).transpose(1, 2).reshape(B, T, a * hd)
            else:
                qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
                try:
                    o = F.scaled_dot_product_attention(qt, kt, vt, is_causal=True, enable_gqa=True)
                except (TypeError, RuntimeError):
                    rep = a // kv
                    o = F.scaled_dot_product_attention(qt, kt.repeat_interleave(rep, 1),
                                                       vt.repeat_interleave(rep, 1), is_causal=True)
                o = o.transpose(1, 2).reshape(B, T, a * hd)
            x = x + F.linear(o, l["wo"])
            y = self._rms(x, l["n2"])
            gte, up = F.linear(y, l["wgu"]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gte) * up, l["wd"])
        x = self._rms(x[:, -1], self.nf)
        return F.linear(x, self.embed)


def decode_linear_floor(dev, m, B, replays=50):
    """Time only the weight matmuls of one decode step (all layers + LM head) in one CUDA graph:
    the floor that plain torch GEMMs set, with no attention, norms or elementwise work."""
    x_h = torch.randn(B, m.h, device=dev, dtype=m.dtype)
    x_o = torch.randn(B, m.a * m.hd, device=dev, dtype=m.dtype)
    x_f = torch.randn(B, m.ffn, device=dev, dtype=m.dtype)

    def lin():
        for l in m.layers:
            F.linear(x_h, l["wqkv"])
            F.linear(x_o, l["wo"])
            F.linear(x_h, l["wgu"])
            F.linear(x_f, l["wd"])
        F.linear(x_h, m.embed)

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            lin()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        lin()
    g.replay()
    t = Timer(dev)
    t.start()
    for _ in range(replays):
        g.replay()
    per = t.stop() / replays
    wb, _ = m.weight_bytes()
    del g
    return {"linear_only_graph_s": per, "linear_only_weight_bytes_per_s": wb / per}


def run_decode_batch(dev, m, B, prompt, gen, use_graph, step_impl=None):
    kc, vc = m.alloc_cache(B)
    g = torch.Generator(device=dev).manual_seed(1)
    prompt_tok = torch.randint(0, m.V, (B, prompt), device=dev, generator=g)
    prompt_pos = torch.arange(prompt, device=dev)
    tok_buf = torch.zeros(B, 1, dtype=torch.long, device=dev)
    pos_buf = torch.zeros(1, dtype=torch.long, device=dev)
    t = Timer(dev)
    res = {"batch": B}

    def prefill():
        logits = m.forward(prompt_tok, prompt_pos, kc, vc, decode=False)
        tok_buf.copy_(logits.argmax(-1).view(B, 1))
        pos_buf.fill_(prompt)

    def step_eager():
        logits = m.forward(tok_buf, pos_buf, kc, vc, decode=True)
        tok_buf.copy_(logits.argmax(-1).view(B, 1))
        pos_buf.add_(1)

    if step_impl is None:
        step = step_eager
    else:  # e.g. a torch.compile'd version of the same function (first call compiles)
        t0 = time.time()
        prefill()
        step = lambda: step_impl(m, tok_buf, pos_buf, kc, vc)  # noqa: E731
        step()
        sync(dev)
        res["first_step_incl_compile_s"] = time.time() - t0
        # numerical agreement of one decode step, compiled vs eager, from the same prefill
        prefill()
        le = m.forward(tok_buf, pos_buf, kc, vc, decode=True).float()
        prefill()
        lc = step_impl(m, tok_buf, pos_buf, kc, vc).float()
        res["compiled_vs_eager_logits_rel_err"] = float((lc - le).norm() / le.norm())
        res["compiled_vs_eager_argmax_match_frac"] = float((lc.argmax(-1) == le.argmax(-1)).float().mean())

    # prefill: 1 warm-up + 3 timed
    prefill()
    sync(dev)
    pts = []
    for _ in range(1 if ARGS.smoke else 3):
        t.start()
        prefill()
        pts.append(t.stop())
    res["prefill_s_samples"] = pts
    res["prefill_s"] = statistics.median(pts)
    n_steps = gen - 1  # the first output token comes from prefill

    # eager decode
    prefill()
    for _ in range(2):  # warm-up steps (overwritten by the timed run's cache writes)
        step()
    prefill()
    sync(dev)
    t.start()
    for _ in range(n_steps):
        step()
    eager_total = t.stop()
    res["eager_tpot_s"] = eager_total / n_steps
    res["eager_output_tokens_per_s"] = B / res["eager_tpot_s"]

    if use_graph:
        try:
            prefill()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    step()
            torch.cuda.current_stream().wait_stream(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step()
            prefill()
            graph.replay()  # warm replay
            prefill()
            sync(dev)
            t.start()
            for _ in range(n_steps):
                graph.replay()
            gtotal = t.stop()
            res["graph_tpot_s"] = gtotal / n_steps
            res["graph_output_tokens_per_s"] = B / res["graph_tpot_s"]
            # correctness: graph replay must give the same tokens as eager for a few steps
            prefill()
            for _ in range(4):
                graph.replay()
            tg = tok_buf.clone()
            prefill()
            for _ in range(4):
                step_eager()
            res["graph_matches_eager_tokens_frac"] = float((tg == tok_buf).float().mean())
            del graph
        except Exception as e:
            record_error("decode", f"cuda graph B={B}", e)
            res["graph_error"] = f"{type(e).__name__}: {str(e)[:300]}"
    if use_graph:
        try:
            res.update(decode_linear_floor(dev, m, B))
        except Exception as e:
            record_error("decode", f"linear floor B={B}", e)
    best = "graph" if "graph_tpot_s" in res else "eager"
    res["cuda_graphs"] = best == "graph"
    res["tpot_s"] = res[f"{best}_tpot_s"]
    res["output_tokens_per_s"] = B / res["tpot_s"]
    res["end_to_end_output_tokens_per_s"] = B * gen / (res["prefill_s"] + n_steps * res["tpot_s"])
    res["prefill_tokens_per_s"] = B * prompt / res["prefill_s"]
    wb, _ = m.weight_bytes()
    kvb = m.kv_bytes_per_token()
    # bytes each decode step reads: all weights (embedding read once as the tied LM head) plus
    # the whole static-size KV cache (the mask hides the unused tail, but it is still read)
    step_bytes = wb + B * m.max_seq * kvb
    res["decode_step_bytes_read_est"] = step_bytes
    res["decode_achieved_bytes_per_s"] = step_bytes / res["tpot_s"]
    res["max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated() if dev.type == "cuda" else None
    del kc, vc
    return res


def part_decode(dev):
    if ARGS.smoke:
        cfg = dict(name="tiny-llama", L=2, h=128, a=8, kv=2, ffn=256, vocab=1000)
        prompt, gen, batches = 16, 8, [1, 2]
    else:
        cfg = dict(name="llama-style-1B", L=16, h=2048, a=32, kv=8, ffn=8192, vocab=128256)
        prompt, gen, batches = 512, 128, [1, 8, 32, 64, 128, 256]
    m = LlamaDecoder(dev, cfg["L"], cfg["h"], cfg["a"], cfg["kv"], cfg["ffn"], cfg["vocab"],
                     max_seq=prompt + gen)
    wb, wn = m.weight_bytes()
    info = {"config": cfg, "dtype": "bf16", "prompt_tokens": prompt, "output_tokens": gen,
            "max_seq_cache": prompt + gen, "params": wn, "weight_bytes": wb,
            "kv_bytes_per_token": m.kv_bytes_per_token(),
            "notes": ("plain torch, greedy argmax; one CUDA graph per decode step (static shapes: "
                      "attention over the whole pre-allocated cache with a mask); eager figures "
                      "also recorded (launch-bound at small batch); prefill is eager")}
    RESULTS["decode_info"] = info
    rows = []
    RESULTS["decode"] = rows
    log("decode model:", info)
    use_graph = dev.type == "cuda"
    with torch.inference_mode():
        for B in batches:
            cleanup()
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            try:
                r = run_decode_batch(dev, m, B, prompt, gen, use_graph)
                r.update({"prompt_tokens": prompt, "output_tokens": gen})
                rows.append(r)
                log(f"decode B={B}: prefill {r['prefill_s'] * 1e3:.1f} ms, eager TPOT {r['eager_tpot_s'] * 1e3:.2f} ms"
                    f", graph TPOT {r.get('graph_tpot_s', float('nan')) * 1e3:.2f} ms, "
                    f"{r['output_tokens_per_s']:.0f} tok/s, implied {r['decode_achieved_bytes_per_s'] / 1e9:.0f} GB/s"
                    f", graph==eager {r.get('graph_matches_eager_tokens_frac')}"
                    f", linear-only {r.get('linear_only_graph_s', float('nan')) * 1e3:.2f} ms")
            except torch.cuda.OutOfMemoryError as e:
                rows.append({"batch": B, "status": "OOM", "error": str(e)[:300]})
                log(f"decode B={B}: OOM")
            except Exception as e:
                record_error("decode", f"B={B}", e)
                rows.append({"batch": B, "status": "error", "error": f"{type(e).__name__}: {str(e)[:300]}",
                             "traceback": traceback.format_exc()[-2000:]})
            save()
    del m
    cleanup()


def _decode_step_fn(m, tok_buf, pos_buf, kc, vc):
    logits = m.forward(tok_buf, pos_buf, kc, vc, decode=True)
    tok_buf.copy_(logits.argmax(-1).view(tok_buf.shape[0], 1))
    pos_buf.add_(1)
    return logits


def part_decode_compile(dev):
    """Decode step through torch.compile (inductor, default mode), then captured in a CUDA graph
    by hand. Prefill stays eager. Fewer batch sizes: each one compiles anew."""
    cfg = dict(name="llama-style-1B", L=16, h=2048, a=32, kv=8, ffn=8192, vocab=128256)
    prompt, gen, batches = 512, 128, [1, 64, 256]
    if ARGS.smoke:
        cfg = dict(name="tiny-llama", L=2, h=128, a=8, kv=2, ffn=256, vocab=1000)
        prompt, gen, batches = 16, 8, [2]
    import torch._dynamo
    torch._dynamo.config.cache_size_limit = max(64, torch._dynamo.config.cache_size_limit)
    compiled = torch.compile(_decode_step_fn, dynamic=False)
    m = LlamaDecoder(dev, cfg["L"], cfg["h"], cfg["a"], cfg["kv"], cfg["ffn"], cfg["vocab"],
                     max_seq=prompt + gen)
    rows = []
    RESULTS["decode_compile"] = rows
    with torch.inference_mode():
        for B in batches:
            cleanup()
            try:
                r = run_decode_batch(dev, m, B, prompt, gen, dev.type == "cuda", step_impl=compiled)
                r.update({"prompt_tokens": prompt, "output_tokens": gen, "compiled": True,
                          "config": cfg})
                rows.append(r)
                log(f"decode_compile B={B}: compile+first {r['first_step_incl_compile_s']:.1f} s, "
                    f"eager-compiled TPOT {r['eager_tpot_s'] * 1e3:.2f} ms, "
                    f"graph TPOT {r.get('graph_tpot_s', float('nan')) * 1e3:.2f} ms, "
                    f"{r['output_tokens_per_s']:.0f} tok/s, match {r.get('graph_matches_eager_tokens_frac')}"
                    f", logits rel err {r.get('compiled_vs_eager_logits_rel_err')}"
                    f", argmax match {r.get('compiled_vs_eager_argmax_match_frac')}")
            except Exception as e:
                record_error("decode_compile", f"B={B}", e)
                rows.append({"batch": B, "status": "error", "error": f"{type(e).__name__}: {str(e)[:300]}",
                             "traceback": traceback.format_exc()[-2000:]})
            save()
    del m
    cleanup()


# ------------------------------------------------------------------------------------------- main
def _script_sha256():
    import hashlib
    try:
        with open(os.path.abspath(__file__), "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


def main():
    global ARGS, RESULTS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON file to write (merged into if it exists)")
    ap.add_argument("--part", default="all",
                    help="comma list of facts,matmul,hbm,train,train_compile,decode,decode_compile "
                         "or 'all' (all = everything except the two *_compile parts)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on CPU, to check the code")
    ARGS = ap.parse_args()
    if os.path.exists(ARGS.out):
        with open(ARGS.out) as f:
            RESULTS = json.load(f)
    parts = []
    for p in ARGS.part.split(","):
        parts += ["facts", "matmul", "hbm", "train", "decode"] if p == "all" else [p]
    dev = torch.device("cpu" if ARGS.smoke or not torch.cuda.is_available() else "cuda")
    RESULTS.setdefault("meta", {})
    RESULTS["meta"].update({
        "script": "benchmarks/device/h100_measure.py",
        "started_utc": _dt.datetime.now(_dt.UTC).isoformat(),
        "argv": sys.argv, "device": str(dev), "smoke": ARGS.smoke,
        "hostname": platform.node(),
        "script_sha256": _script_sha256(),
    })
    RESULTS.setdefault("part_wall_s", {})
    if "facts" not in parts and "facts" not in RESULTS:
        parts = ["facts"] + parts
    torch.backends.cuda.matmul.allow_tf32 = False
    for p in parts:
        t0 = time.time()
        log(f"=== part {p}")
        try:
            if p == "facts":
                part_facts(dev)
            elif p == "matmul":
                part_matmul(dev)
            elif p == "hbm":
                part_hbm(dev)
            elif p == "train":
                part_train(dev, compiled=False)
            elif p == "train_compile":
                part_train(dev, compiled=True)
            elif p == "decode":
                part_decode(dev)
            elif p == "decode_compile":
                part_decode_compile(dev)
            else:
                raise ValueError(f"unknown part {p}")
        except Exception as e:
            record_error(p, "part", e)
            traceback.print_exc()
        RESULTS["part_wall_s"][p] = time.time() - t0
        log(f"=== part {p} done in {time.time() - t0:.1f} s")
        save()
    RESULTS["meta"]["finished_utc"] = _dt.datetime.now(_dt.UTC).isoformat()
    save()
    log("wrote", ARGS.out)


if __name__ == "__main__":
    main()
