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
from gpuplan.checks import check_choice, check_whole
from gpuplan.demand.arch import Arch, arch_from_config, kv_cache_bytes_per_token, param_counts
from gpuplan.demand.layouts import (
    MAX_DP,
    Layout,
    LayoutOut,
    check_layout,
    cp_options,
    ep_options,
    filter_grid,
    grid,
    layout_at,
    make_layout,
    parse_layout,
    pp_options,
    tp_options,
)
from gpuplan.demand.memory import (
    DTYPE_BYTES,
    KV_DTYPES,
    RECOMPUTE_CODES,
    TRAIN_DTYPES,
    TRAIN_MODES,
    WEIGHT_FORMAT_BITS,
    MemoryBreakdown,
    inference_memory,
    training_memory,
)
from gpuplan.errors import UserError

Mode = Literal["inference", "train", "finetune", "lora", "qlora"]
MODES = ("inference", *TRAIN_MODES)
#: Defaults when the user gives none: context/sequence length [tokens] and batch [sequences].
DEFAULT_SEQ_LEN = 4096
DEFAULT_BATCH = 1
#: Upper bounds on user inputs; beyond them a request is a typo, not a plan.
MAX_SEQ_LEN = 2**24
MAX_BATCH = 2**20
#: Inference weight formats that run on any accelerator (weight-only formats dequantise to
#: 16-bit); the others need tensor-core support (fp8/fp4).
UNIVERSAL_WEIGHT_FORMATS = ("bf16", "fp16", "fp32", "int8", "int4")
#: Formats whose linear layers are quantised while embeddings, head and norms stay 16-bit.
QUANTISED_FORMATS = ("int4", "fp4", "nf4", "fp8", "int8")


class PerGpuBytes(BaseModel):
    """Memory per accelerator by part [bytes]."""

    model_config = ConfigDict(extra="forbid")
    weights: int
    gradients: int
    optimizer: int
    activations: int
    kv_cache: int
    overhead: int
    total: int




class RankRow(BaseModel):
    """One accelerator of the ``all_gpus`` ranking: fewest that fit and their price [USD]."""

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
    """Check the inputs of :func:`fit` (messages start with the parameter's name)."""
    check_choice("mode", mode, MODES)
    formats = WEIGHT_FORMAT_BITS if mode == "inference" else TRAIN_DTYPES
    if dtype not in formats:
        what = "inference weights" if mode == "inference" else mode
        raise UserError(f"dtype {dtype!r} unknown for {what}; accepted: {', '.join(formats)}",
                        field="dtype")
    check_choice("kv_dtype", kv_dtype, KV_DTYPES)
    check_whole("seq_len", seq_len, MAX_SEQ_LEN)
    check_whole("batch", batch, MAX_BATCH)


def _memory(arch: Arch, mode: str, dtype: str, kv_dtype: str, seq_len: int, batch: int,
            g: dict[str, np.ndarray]) -> MemoryBreakdown:
    if mode == "inference":
        return inference_memory(arch, weight_format=dtype, kv_dtype=kv_dtype, batch=batch,
                                context_tokens=seq_len, tp=g["tp"], pp=g["pp"])
    return training_memory(arch, mode=mode, seq_len=seq_len, mb=g.get("mb", batch), tp=g["tp"],
                           pp=g["pp"], dp=g["dp"], cp=g["cp"], ep=g["ep"], zero=g["zero"],
                           recompute=g["recompute"], vpp=g.get("vpp", 1))


def _search_grid(arch: Arch, mode: str, seq_len: int, batch: int, scale_up: int | None,
                 fixed: dict[str, int | str]) -> dict[str, np.ndarray]:
    """Every candidate layout for the fit search, with ``fixed`` keys pinned."""
    tps = tp_options(arch, scale_up)
    pps = pp_options(arch)
    if mode == "inference":
        axes = dict(tp=tps, pp=pps, dp=[1], cp=[1], ep=[1], mb=[batch], vpp=[1], recompute=[0],
                    zero=[0])
    else:
        dps = [2**i for i in range(int(math.log2(MAX_DP)) + 1)]
        cps = cp_options(seq_len)
        axes = dict(tp=tps, pp=pps, dp=dps, cp=cps, ep=ep_options(arch), mb=[batch], vpp=[1],
                    recompute=list(RECOMPUTE_CODES.values()), zero=[0, 1, 2, 3])
    for k, v in fixed.items():
        axes[k] = [RECOMPUTE_CODES[str(v)] if k == "recompute" else int(v)]
    g = grid(**axes)
    ok = (g["pp"] <= arch.num_layers) & ((g["dp"] * g["cp"]) % g["ep"] == 0)
    return filter_grid(g, ok)


def min_gpu_layout(arch: Arch, capacity_bytes: float, *, mode: str, dtype: str, kv_dtype: str,
                   seq_len: int, batch: int, scale_up: int | None,
                   fixed: dict[str, int | str] | None = None
                   ) -> tuple[Layout, dict[str, int]] | None:
    """Smallest accelerator count with a layout whose per-accelerator memory fits.

    Parameters
    ----------
    arch : Arch
        The model.
    capacity_bytes : float
        Accelerator memory [bytes].
    mode, dtype, kv_dtype : str
        As for :func:`fit`.
    seq_len : int
        Sequence length or context [tokens].
    batch : int
        Micro-batch or concurrent sequences [sequences].
    scale_up : int or None
        Scale-up domain size, the TP limit [accelerators].
    fixed : dict, optional
        Pinned layout keys.

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
        layout: str | dict[str, int | str] | None = None, all_gpus: bool = False,
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
    given = make_layout(fixed | {"mb": int(fixed.get("mb", batch))})
    if mode == "inference" and (given.dp > 1 or given.cp > 1 or given.zero or
                                given.recompute != "none"):
        raise UserError("layout for inference takes tp, pp (and ep) only", field="layout")
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
    if mode == "inference" and dtype in QUANTISED_FORMATS:
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


def _rank_all(arch: Arch, cat: Catalog, *, mode: str, dtype: str, kv_dtype: str, seq_len: int,
              batch: int, fixed: dict[str, int | str]) -> list[RankRow]:
    """Every catalog accelerator by the fewest that fit, then their purchase cost [USD]."""
    rows = []
    for acc in cat.accelerators.values():
        if mode == "inference" and dtype not in UNIVERSAL_WEIGHT_FORMATS \
                and dtype not in acc.peak_flops_per_s:
            continue  # the format needs hardware support (fp8/fp4 tensor cores)
        scale_up = int(acc.scale_up_domain_size.value) if acc.scale_up_domain_size else None
        best = min_gpu_layout(arch, acc.memory_bytes.value, scale_up=scale_up, mode=mode,
                              dtype=dtype, kv_dtype=kv_dtype, seq_len=seq_len, batch=batch,
                              fixed=fixed)
        price = acc.price_usd.value if acc.price_usd else None
        n = best[0].gpus if best else None
        rows.append(RankRow(gpu=acc.id, min_gpus=n,
                            layout=LayoutOut(**best[0].as_dict()) if best else None,
                            gpu_memory_bytes=int(acc.memory_bytes.value), price_usd_per_gpu=price,
                            cost_usd=(n * price) if (n and price) else None))
    rows.sort(key=lambda r: (r.min_gpus is None, r.cost_usd is None, r.cost_usd or 0,
                             r.min_gpus or 0))
    return rows
