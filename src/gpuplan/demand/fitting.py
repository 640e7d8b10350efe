"""Memory fit: does a model fit, and on how few accelerators (``gpuplan fit``).

Typed inputs in, a typed result out; the math lives in :mod:`gpuplan.demand.arch`,
:mod:`gpuplan.demand.memory` and :mod:`gpuplan.demand.layouts`.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.demand.arch import Arch, arch_from_config, kv_cache_bytes_per_token, param_counts
from gpuplan.demand.layouts import (
    MAX_DP,
    Layout,
    LayoutOut,
    check_layout,
    ep_options,
    filter_grid,
    grid,
    layout_at,
    parse_layout,
    pp_options,
    tp_options,
)
from gpuplan.demand.memory import (
    DTYPE_BYTES,
    RECOMPUTE_CODES,
    WEIGHT_FORMAT_BITS,
    MemoryBreakdown,
    inference_memory,
    training_memory,
)
from gpuplan.errors import UserError

Mode = Literal["inference", "train", "finetune", "lora", "qlora"]
MODES = ("inference", "train", "finetune", "lora", "qlora")
TRAIN_DTYPES = ("bf16", "fp16", "fp8")
KV_DTYPES = ("bf16", "fp16", "fp8", "int8")
#: Defaults when the user gives none: context/sequence length [tokens] and batch [sequences].
DEFAULT_SEQ_LEN = 4096
DEFAULT_BATCH = 1
#: Context-parallel degrees tried, and the least tokens each CP rank keeps.
CP_OPTIONS = (1, 2, 4, 8, 16, 32)
MIN_TOKENS_PER_CP_RANK = 1024
#: Upper bounds on user inputs; beyond them a request is a typo, not a plan.
MAX_SEQ_LEN = 2**24
MAX_BATCH = 2**20


class PerGpuBytes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weights: int
    gradients: int
    optimizer: int
    activations: int
    kv_cache: int
    overhead: int
    total: int




class RankRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gpu: str
    min_gpus: int | None
    layout: LayoutOut | None
    gpu_memory_bytes: int
    price_usd_per_gpu: float | None
    cost_usd: float | None


class FitResult(BaseModel):
    """Result of :func:`fit`; ``model_dump()`` is the CLI's ``--json`` output."""

    model_config = ConfigDict(extra="forbid")
    model: str
    gpu: str
    mode: str
    dtype: str
    kv_dtype: str
    seq_len: int
    batch: int
    params: int
    active_params: int
    kv_cache_bytes_per_token: int
    gpu_memory_bytes: int
    evaluated_layout: LayoutOut
    per_gpu_bytes: PerGpuBytes
    fits: bool
    min_gpus: int | None
    layout: LayoutOut | None
    min_layout_per_gpu_bytes: PerGpuBytes | None
    ranking: list[RankRow] | None = None
    notes: list[str]


def _check_inputs(mode: str, dtype: str, kv_dtype: str, seq_len: int, batch: int) -> None:
    if mode not in MODES:
        raise UserError(f"--mode {mode!r} unknown; accepted: {', '.join(MODES)}")
    if mode == "inference":
        if dtype not in WEIGHT_FORMAT_BITS:
            raise UserError(f"--dtype {dtype!r} unknown for inference weights; accepted: "
                            f"{', '.join(WEIGHT_FORMAT_BITS)}")
    elif dtype not in TRAIN_DTYPES:
        raise UserError(f"--dtype {dtype!r} unknown for {mode}; accepted: {', '.join(TRAIN_DTYPES)}")
    if kv_dtype not in KV_DTYPES:
        raise UserError(f"--kv-dtype {kv_dtype!r} unknown; accepted: {', '.join(KV_DTYPES)}")
    for name, v, hi in (("--seq-len", seq_len, MAX_SEQ_LEN), ("--batch", batch, MAX_BATCH)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1 or v > hi:
            raise UserError(f"{name} must be a whole number from 1 to {hi}, got {v!r}")


def _memory(arch: Arch, mode: str, dtype: str, kv_dtype: str, seq_len: int, batch: int,
            g: dict[str, np.ndarray]) -> MemoryBreakdown:
    if mode == "inference":
        return inference_memory(arch, weight_format=dtype, kv_dtype=kv_dtype, batch=batch,
                                context_tokens=seq_len, tp=g["tp"], pp=g["pp"])
    return training_memory(arch, mode=mode, seq_len=seq_len, mb=g.get("mb", batch), tp=g["tp"],
                           pp=g["pp"], dp=g["dp"], cp=g["cp"], ep=g["ep"], zero=g["zero"],
                           recompute=g["recompute"], vpp=g.get("vpp", 1))


def _search_grid(arch: Arch, mode: str, seq_len: int, batch: int, scale_up: int | None,
                 fixed: dict) -> dict[str, np.ndarray]:
    """Every candidate layout for the fit search, with ``fixed`` keys pinned."""
    tps = tp_options(arch, scale_up)
    pps = pp_options(arch)
    if mode == "inference":
        axes = dict(tp=tps, pp=pps, dp=[1], cp=[1], ep=[1], mb=[batch], vpp=[1], recompute=[0],
                    zero=[0])
    else:
        dps = [2**i for i in range(int(math.log2(MAX_DP)) + 1)]
        cps = [c for c in CP_OPTIONS if seq_len % (2 * c) == 0 and seq_len / c >=
               MIN_TOKENS_PER_CP_RANK] or [1]
        axes = dict(tp=tps, pp=pps, dp=dps, cp=cps, ep=ep_options(arch), mb=[batch], vpp=[1],
                    recompute=list(RECOMPUTE_CODES.values()), zero=[0, 1, 2, 3])
    for k, v in fixed.items():
        axes[k] = [RECOMPUTE_CODES[v] if k == "recompute" else v]
    g = grid(**axes)
    ok = (g["pp"] <= arch.num_layers) & ((g["dp"] * g["cp"]) % g["ep"] == 0)
    return filter_grid(g, ok)


def min_gpu_layout(arch: Arch, capacity_bytes: float, *, mode: str, dtype: str, kv_dtype: str,
                   seq_len: int, batch: int, scale_up: int | None, fixed: dict | None = None
                   ) -> tuple[Layout, dict[str, int]] | None:
    """Smallest accelerator count with a layout whose per-accelerator memory fits.

    Ties at the same count prefer less recompute, a lower ZeRO stage, fewer pipeline stages, less
    context parallelism, then the least memory per accelerator.
    """
    g = _search_grid(arch, mode, seq_len, batch, scale_up, fixed or {})
    mem = _memory(arch, mode, dtype, kv_dtype, seq_len, batch, g)
    total = mem.total
    fits = total <= capacity_bytes
    if not fits.any():
        return None
    idx = np.flatnonzero(fits)
    gpus = (g["tp"] * g["pp"] * g["dp"] * g["cp"])[idx]
    order = np.lexsort((total[idx], g["tp"][idx], g["cp"][idx], g["pp"][idx], g["zero"][idx],
                        g["recompute"][idx], gpus))
    best = int(idx[order[0]])
    return layout_at(g, best), mem.at(best)


def fit(model: str, gpu: str, *, mode: str = "inference", dtype: str | None = None,
        kv_dtype: str = "bf16", seq_len: int = DEFAULT_SEQ_LEN, batch: int = DEFAULT_BATCH,
        layout: str | dict | None = None, all_gpus: bool = False,
        catalog: Catalog | None = None) -> FitResult:
    """Per-accelerator memory of ``model`` on ``gpu`` and the fewest accelerators that fit it.

    Parameters
    ----------
    model : str
        Catalog id, HF repo id in the catalog, or a path to a ``config.json`` (or its folder).
    gpu : str
        Accelerator id, or a YAML file in the catalog's accelerator format.
    mode : {"inference", "train", "finetune", "lora", "qlora"}
    dtype : str, optional
        Inference: weight format (bf16, fp16, fp8, int8, int4, fp4). Training: bf16, fp16 or fp8.
    kv_dtype : str
        KV-cache dtype for inference.
    seq_len : int
        Context per sequence (inference) or training sequence length [tokens].
    batch : int
        Concurrent sequences (inference) or micro-batch per accelerator (training) [sequences].
    layout : str or dict, optional
        The layout to evaluate (``tp=8,pp=2``); keys left out are 1 (zero 0, recompute none).
        The same keys are pinned in the search for the smallest count.
    all_gpus : bool
        Also rank every catalog accelerator by the count it needs and its purchase cost.

    Raises
    ------
    UserError
        Unknown model/GPU, bad value, or a layout the model cannot take.
    """
    cat = catalog or load_catalog()
    dtype = dtype or "bf16"
    _check_inputs(mode, dtype, kv_dtype, seq_len, batch)
    name, cfg, _entry = cat.model(model)
    arch = arch_from_config(cfg, name)
    acc = cat.accelerator(gpu)
    fixed = parse_layout(layout) if isinstance(layout, str) or layout is None else dict(layout)
    scale_up = int(acc.scale_up_domain_size.value) if acc.scale_up_domain_size else None
    given = Layout(**{k: v for k, v in fixed.items() if k != "mb"}, mb=int(fixed.get("mb", batch)))
    if mode == "inference" and (given.dp > 1 or given.cp > 1 or given.zero or
                                given.recompute != "none"):
        raise UserError("inference layouts take tp, pp (and ep) only")
    check_layout(arch, given)
    g1 = {k: np.array([RECOMPUTE_CODES[getattr(given, k)] if k == "recompute" else
                       getattr(given, k)]) for k in ("tp", "pp", "dp", "cp", "ep", "mb", "vpp",
                                                     "recompute", "zero")}
    mem = _memory(arch, mode, dtype, kv_dtype, seq_len, batch, g1)
    per = mem.at(0)
    cap = acc.memory_bytes.value
    best = min_gpu_layout(arch, cap, mode=mode, dtype=dtype, kv_dtype=kv_dtype, seq_len=seq_len,
                          batch=batch, scale_up=scale_up,
                          fixed={k: v for k, v in fixed.items() if k != "mb"})
    pc = param_counts(arch)
    notes = list(arch.notes)
    if mode == "inference" and dtype in ("int4", "fp4", "nf4", "fp8", "int8"):
        notes.append("embeddings, LM head and norms kept in 16-bit; linear layers quantised")
    if mode in ("lora", "qlora"):
        notes.append("LoRA adapters (r=64) on all attention and dense MLP linears; base frozen")
    if best is None:
        notes.append(f"no layout up to the search limits fits on {acc.id}")
    ranking = None
    if all_gpus:
        ranking = _rank_all(arch, cat, mode=mode, dtype=dtype, kv_dtype=kv_dtype, seq_len=seq_len,
                            batch=batch, fixed={k: v for k, v in fixed.items() if k != "mb"})
    return FitResult(
        model=name, gpu=acc.id, mode=mode, dtype=dtype, kv_dtype=kv_dtype, seq_len=seq_len,
        batch=batch, params=pc.total, active_params=pc.active,
        kv_cache_bytes_per_token=int(kv_cache_bytes_per_token(arch, DTYPE_BYTES[kv_dtype])),
        gpu_memory_bytes=int(cap), evaluated_layout=LayoutOut(**given.as_dict()),
        per_gpu_bytes=PerGpuBytes(**per), fits=bool(per["total"] <= cap),
        min_gpus=best[0].gpus if best else None,
        layout=LayoutOut(**best[0].as_dict()) if best else None,
        min_layout_per_gpu_bytes=PerGpuBytes(**best[1]) if best else None,
        ranking=ranking, notes=notes)


def _rank_all(arch: Arch, cat: Catalog, **kw) -> list[RankRow]:
    rows = []
    for acc in cat.accelerators.values():
        if kw["mode"] == "inference" and kw["dtype"] not in ("bf16", "fp16", "fp32", "int8",
                                                             "int4") \
                and kw["dtype"] not in acc.peak_flops_per_s:
            continue  # the format needs hardware support (fp8/fp4 tensor cores)
        scale_up = int(acc.scale_up_domain_size.value) if acc.scale_up_domain_size else None
        best = min_gpu_layout(arch, acc.memory_bytes.value, scale_up=scale_up, **kw)
        price = acc.price_usd.value if acc.price_usd else None
        n = best[0].gpus if best else None
        rows.append(RankRow(gpu=acc.id, min_gpus=n,
                            layout=LayoutOut(**best[0].as_dict()) if best else None,
                            gpu_memory_bytes=int(acc.memory_bytes.value), price_usd_per_gpu=price,
                            cost_usd=(n * price) if (n and price) else None))
    rows.sort(key=lambda r: (r.min_gpus is None, r.cost_usd is None, r.cost_usd or 0,
                             r.min_gpus or 0))
    return rows
