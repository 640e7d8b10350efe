"""Serving's own view of an accelerator, and the figures fitted on serving cases only.

Serving does not reuse the training-fitted fraction of :mod:`gpuplan.demand.hardware`: its
matmul ceiling is the chip's measured matmul efficiency (MAMF / dense peak) for the dtype the
GEMMs run in, times one *serving fraction* fitted on the published serving cases
(``benchmarks/calibrate_serving.py`` writes ``calibration.yaml`` beside this module). Its memory
is what a framework can allocate (``allocatable_memory_bytes`` in the catalog, e.g. nvidia-smi's
total), not the vendor's marketing figure.

References
----------
.. [1] Bekman, "Machine Learning Engineering" (MLE), Maximum Achievable Matmul FLOPS (MAMF)
   tables, BF16 and FP8: the per-chip, per-dtype matmul ceilings in the catalog.
.. [2] Shah et al. 2024, "FlashAttention-3", arXiv 2407.08608, §3.3: the FP8 forward is a
   separate kernel with its own layout and scaling; the default path is bf16/fp16.
.. [3] DeepSeek, DeepGEMM README (github.com/deepseek-ai/DeepGEMM, 2025-02-25): H800 FP8, dense
   4096x4096x7168 1,304 TFLOPS (1.1x over CUTLASS 3.6), grouped contiguous 8 x 4,096 rows,
   N 4096, K 7168 1,288 TFLOPS (1.2x): CUTLASS grouped/dense ≈ (1288/1.2)/(1304/1.1) = 0.91.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from gpuplan.catalog import Catalog
from gpuplan.catalog.schema import Accelerator
from gpuplan.demand.hardware import DEFAULT_MATMUL_EFFICIENCY, Hardware, hardware_for

#: Written by ``benchmarks/calibrate_serving.py``.
SERVING_CALIBRATION_FILE = Path(__file__).parent / "calibration.yaml"
#: Before any fit: kernels reach the measured matmul ceiling, KV reads the copy bandwidth.
UNFITTED_SERVING_FRACTION = 1.0
UNFITTED_KV_READ_EFFICIENCY = 1.0
#: Before any fit: the hard roofline, max(memory time, compute time).
UNFITTED_ROOFLINE_SHARPNESS = math.inf
#: Before any fit: grouped expert GEMMs run at the dense GEMM rate.
UNFITTED_MOE_GEMM_EFFICIENCY = 1.0
#: Before any fit: TP all-reduces run at the collective model's (nccl-tests) bandwidth.
UNFITTED_TP_COMM_EFFICIENCY = 1.0
#: Before any fit: no fixed time per layer or per iteration [s].
UNFITTED_OVERHEAD_S = 0.0
#: bf16 and fp16 run on the same tensor cores at the same rate; any other dtype without a
#: measurement falls back to the same chip's bf16 (then fp16) efficiency.
FALLBACK_DTYPES = ("bf16", "fp16")


@lru_cache(maxsize=1)
def serving_calibration() -> dict[str, Any]:
    """The fitted serving figures of ``calibration.yaml`` as read (empty if absent)."""
    from gpuplan.catalog.memo import package_yaml

    return package_yaml(SERVING_CALIBRATION_FILE) or {}


def _fitted(key: str, default: float) -> float:
    return float(serving_calibration().get(key, default))


def serving_fraction() -> float:
    """Fraction of the measured matmul ceiling that serving GEMMs reach end to end [fraction]."""
    return _fitted("serving_fraction", UNFITTED_SERVING_FRACTION)


def serving_kv_read_efficiency() -> float:
    """Paged decode-attention KV read efficiency, of achievable HBM bandwidth [fraction]."""
    return _fitted("kv_read_efficiency", UNFITTED_KV_READ_EFFICIENCY)


def serving_roofline_sharpness() -> float:
    """Exponent of the soft roofline of the linear layers, fitted (``inf`` = hard max) [—]."""
    return _fitted("roofline_sharpness", UNFITTED_ROOFLINE_SHARPNESS)


def serving_moe_gemm_efficiency() -> float:
    """Rate of MoE grouped expert GEMMs relative to dense GEMMs of the same rows, fitted on the
    serving cases [fraction]."""
    return _fitted("moe_gemm_efficiency", UNFITTED_MOE_GEMM_EFFICIENCY)


def serving_tp_comm_efficiency() -> float:
    """Share of the collective model's all-reduce bandwidth that serving TP all-reduces reach
    on the decode critical path, fitted on the serving cases [fraction]."""
    return _fitted("tp_comm_efficiency", UNFITTED_TP_COMM_EFFICIENCY)


def serving_overhead_per_layer_s() -> float:
    """Fixed time per layer per scheduler iteration, fitted on the serving cases [s]."""
    return _fitted("overhead_per_layer_s", UNFITTED_OVERHEAD_S)


def serving_overhead_per_iteration_s(engine: str | None = None) -> float:
    """Fixed time per scheduler iteration (scheduling, sampling, host sync) [s].

    Parameters
    ----------
    engine : str, optional
        ``trtllm``, ``vllm`` or ``sglang``: that engine's fitted value
        (``engines.<name>.overhead_per_iteration_s`` in ``calibration.yaml``) when it has one;
        an engine without published throughput cases takes the global fitted value, which
        :func:`engine_is_calibrated` reports.
    """
    per = serving_calibration().get("engines", {}).get(engine or "", {})
    if "overhead_per_iteration_s" in per:
        return float(per["overhead_per_iteration_s"])
    return _fitted("overhead_per_iteration_s", UNFITTED_OVERHEAD_S)


def serving_overhead_per_sequence_s(engine: str | None = None) -> float:
    """Host time per running sequence per iteration, fitted per engine [s].

    Parameters
    ----------
    engine : str, optional
        ``engines.<name>.overhead_per_sequence_s`` in ``calibration.yaml``; 0 for an engine
        without one (TensorRT-LLM's C++ executor is not fitted for it).
    """
    per = serving_calibration().get("engines", {}).get(engine or "", {})
    return float(per.get("overhead_per_sequence_s", UNFITTED_OVERHEAD_S))


def engine_is_calibrated(engine: str) -> bool:
    """Whether ``engine`` has its own fitted per-iteration time in ``calibration.yaml``."""
    return "overhead_per_iteration_s" in serving_calibration().get("engines", {}).get(engine, {})


def measured_matmul_efficiency(acc: Accelerator, dtype: str) -> float:
    """The chip's measured matmul ceiling for ``dtype`` as a fraction of its peak [fraction] [1]_.

    Parameters
    ----------
    acc : Accelerator
        The accelerator.
    dtype : str
        Tensor dtype of the GEMMs (bf16, fp16, fp8, fp4) [—].

    Notes
    -----
    ``MAMF(dtype)/peak(dtype)``; a dtype with no measurement takes the same chip's bf16 (else
    fp16) ratio, never another vendor's; a chip with none takes
    :data:`~gpuplan.demand.hardware.DEFAULT_MATMUL_EFFICIENCY`.
    """
    table = acc.matmul_efficiency
    for d in (dtype, *FALLBACK_DTYPES):
        if d in table:
            return float(table[d].value)
    return DEFAULT_MATMUL_EFFICIENCY


def allocatable_memory_bytes(acc: Accelerator) -> float:
    """Memory a framework can allocate on ``acc`` [bytes] (the catalog's, else ``memory_bytes``)."""
    if acc.allocatable_memory_bytes is not None:
        return float(acc.allocatable_memory_bytes.value)
    return float(acc.memory_bytes.value)


def serving_hardware(cat: Catalog, acc: Accelerator, dtype: str,
                     fraction: float | None = None,
                     moe_gemm_efficiency: float | None = None,
                     attention_dtype: str = "bf16") -> Hardware:
    """:class:`~gpuplan.demand.hardware.Hardware` as serving sees it.

    Parameters
    ----------
    cat : Catalog
        Catalog holding the accelerator's systems and fabrics.
    acc : Accelerator
        The accelerator.
    dtype : str
        Tensor dtype the GEMMs run in [—].
    fraction : float, optional
        Serving fraction of the measured matmul ceiling [fraction]; default the fitted one.
    moe_gemm_efficiency : float, optional
        Rate of grouped expert GEMMs relative to dense ones [fraction]; default the fitted one.
    attention_dtype : str
        Dtype of the attention cores (:func:`~.engines.attention_dtype`: bf16, or fp8 under
        TensorRT-LLM's FP8 context FMHA) [—].

    Notes
    -----
    ``η_serve = MAMF(dtype)/peak(dtype) · f_serve``; memory = allocatable memory. The attention
    cores (prefill FlashAttention-style kernels, decode attention's FLOPs) run in
    ``attention_dtype``, bf16 unless the engine runs FP8 attention, whatever the GEMMs' dtype,
    so their rate is ``min(peak_a · MAMF_a/peak_a, peak · MAMF/peak) · f_serve``: FP8/FP4
    weights speed up the linear layers, not attention (FlashAttention-3's FP8 forward is an
    opt-in kernel [2]_). Everything else (peak,
    achievable HBM bandwidth, fabrics) is :func:`~gpuplan.demand.hardware.hardware_for`'s.
    MoE grouped expert GEMMs run at ``moe_gemm_efficiency`` of the dense rate: one problem per
    expert, token permutation around them and per-expert tile scheduling (CUTLASS 3.6's
    grouped GEMM reaches ≈0.91 of its dense rate on H800 at 4,096 rows per expert, from the
    DeepGEMM README's speedups over it [3]_).
    """
    hw = hardware_for(cat, acc, dtype)
    f = serving_fraction() if fraction is None else fraction
    eff = measured_matmul_efficiency(acc, dtype) * f
    gemm_rate = hw.peak_flops_per_s * eff
    if attention_dtype in FALLBACK_DTYPES:
        att_peak = hw.half_peak_flops_per_s or hw.peak_flops_per_s
    else:
        att_peak = acc.peak(attention_dtype)
    attention_rate = min(gemm_rate,
                         att_peak * measured_matmul_efficiency(acc, attention_dtype) * f)
    moe = serving_moe_gemm_efficiency() if moe_gemm_efficiency is None else moe_gemm_efficiency
    return replace(hw, matmul_efficiency=eff, attention_flops_per_s=attention_rate,
                   memory_bytes=allocatable_memory_bytes(acc), grouped_gemm_efficiency=moe)


def fitted_figures(engine: str, given: dict[str, float | None]) -> dict[str, float]:
    """The fitted serving figures of ``engine`` (the per-iteration and per-sequence times are
    the engine's), each replaced by its override in ``given`` where one is given."""
    fitted = {"overhead_per_layer_s": serving_overhead_per_layer_s(),
              "kv_read_efficiency": serving_kv_read_efficiency(),
              "overhead_per_iteration_s": serving_overhead_per_iteration_s(engine),
              "tp_comm_efficiency": serving_tp_comm_efficiency(),
              "roofline_sharpness": serving_roofline_sharpness(),
              "overhead_per_sequence_s": serving_overhead_per_sequence_s(engine)}
    return {k: v if (g := given.get(k)) is None else float(g) for k, v in fitted.items()}
