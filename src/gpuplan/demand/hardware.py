"""What the time models need of an accelerator (:class:`Hardware`), and the matmul roofline.

Training (:mod:`gpuplan.demand.training`) and serving (:mod:`gpuplan.demand.serving`) both read
an accelerator through :func:`hardware_for`: its dense peak, the achievable matmul fraction
(measured MAMF times the fitted end-to-end fraction of ``calibration.yaml``), achievable HBM
bandwidth, memory, the scale-up domain, the alpha-beta parameters of both fabric tiers, and the
node it sits in. :func:`gemm_time_s` and :func:`wave_efficiency` are the shared matmul models.

References
----------
.. [1] Williams, Waterman, Patterson 2009, "Roofline", CACM 52(4): time = max(FLOPs/peak,
   bytes/bandwidth).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gpuplan.catalog import Catalog
from gpuplan.catalog.schema import Accelerator, System
from gpuplan.catalog.systems import pick_system
from gpuplan.demand.arch import FLOPS_PER_MAC
from gpuplan.demand.comms import LinkParams, link_params, with_size_model
from gpuplan.demand.memory import ACT_BYTES
from gpuplan.errors import UserError

#: Without a measured MAMF in the catalog, matmuls reach this fraction of dense peak
#: (MAMF tables: 0.70-0.93 of peak across A100/H100/MI300X).
DEFAULT_MATMUL_EFFICIENCY = 0.75
#: Without a measured copy bandwidth, this fraction of nominal HBM bandwidth.
DEFAULT_HBM_EFFICIENCY = 0.85
#: Without any fitted generation or default in the calibration file, kernels reach the
#: measured MAMF itself.
UNCALIBRATED_MAMF_FRACTION = 1.0
#: bf16 and fp16 run on the same tensor cores at the same rate: one stands in for the other
#: where the catalog measured only one.
HALF_PRECISION_STAND_IN = {"fp16": "bf16", "bf16": "fp16"}
#: Output tile of one thread block in large tensor-core GEMMs [rows, columns] (a common
#: cuBLAS/CUTLASS Hopper/Ampere tile, 128×256): a judgement for wave quantisation.
GEMM_TILE_ROWS = 128
GEMM_TILE_COLS = 256

#: Fitted efficiencies (``benchmarks/calibrate.py``; see docs/training.md and docs/serving.md).
CALIBRATION_FILE = Path(__file__).parent / "calibration.yaml"


@dataclass(frozen=True)
class Hardware:
    """What the step-time models need of an accelerator and its fabrics.

    Attributes
    ----------
    peak_flops_per_s : float
        Dense tensor peak of the dtype [FLOP/s].
    matmul_efficiency : float
        Achievable fraction of that peak for large matmuls, calibrated [fraction].
    hbm_bytes_per_s : float
        Achievable HBM bandwidth [bytes/s].
    memory_bytes : float
        Accelerator memory [bytes].
    domain : int
        Accelerators in one scale-up domain [accelerators].
    up, out : LinkParams
        Alpha-beta parameters of the scale-up domain and of the scale-out network.
    gpus_per_node : int
        Accelerators per node [accelerators].
    node_power_w : float
        Typical power of one node while training [W].
    compute_units : int or None
        Streaming multiprocessors / compute units (for wave quantisation); None if unknown.
    attention_flops_per_s : float or None
        Achievable matmul rate of the attention core [FLOP/s]: FlashAttention runs in bf16/fp16
        even when the GEMMs run in FP8 (the bf16 peak × its calibrated efficiency); None: the
        GEMM rate ``peak_flops_per_s · matmul_efficiency``.
    gemm_k_fill_elements : float
        Fixed cost of a GEMM output tile in reduction elements at this dtype
        (:func:`gemm_time_s`): the fitted bf16 figure × peak(dtype)/peak(bf16), since the
        fixed part takes the same time whatever the dtype's throughput [elements].
    generation : str or None
        The accelerator's generation as calibration.yaml groups them (ampere, hopper, ...).
    half_peak_flops_per_s : float or None
        Dense bf16 (else fp16) tensor peak [FLOP/s] (attention kernels run in it).
    grouped_gemm_efficiency : float
        Rate of MoE grouped expert GEMMs relative to a dense GEMM of the same rows [fraction]:
        1 here; serving sets its fitted figure
        (:func:`~gpuplan.demand.serving.fitted.serving_hardware`).
    """

    peak_flops_per_s: float
    matmul_efficiency: float
    hbm_bytes_per_s: float
    memory_bytes: float
    domain: int
    up: LinkParams
    out: LinkParams
    gpus_per_node: int
    node_power_w: float
    compute_units: int | None = None
    attention_flops_per_s: float | None = None
    gemm_k_fill_elements: float = 0.0
    generation: str | None = None
    half_peak_flops_per_s: float | None = None
    grouped_gemm_efficiency: float = 1.0


@lru_cache(maxsize=1)
def calibration() -> dict[str, Any]:
    """The fitted efficiencies of ``calibration.yaml`` as read (empty if the file is absent)."""
    from gpuplan.catalog.memo import package_yaml

    return package_yaml(CALIBRATION_FILE) or {}


def gemm_k_fill_bf16_elements() -> float:
    """The fitted fixed cost of a training GEMM's output tile at bf16 [elements].

    Notes
    -----
    Fitted jointly with the per-generation fractions by ``benchmarks/calibrate.py``
    (``gemm:`` block of calibration.yaml); 0 before any fit.
    """
    return float(calibration().get("gemm", {}).get("k_fill_elements", 0.0))


def generation_of(accelerator_id: str) -> str | None:
    """The generation calibration.yaml files ``accelerator_id`` under, or None."""
    for name, gen in calibration().get("generations", {}).items():
        if accelerator_id in gen.get("accelerators", []):
            return str(name)
    return None


def training_mamf_fraction(accelerator_id: str) -> float:
    """End-to-end fraction of the matmul ceiling (MAMF) that training kernels reach [fraction].

    Parameters
    ----------
    accelerator_id : str
        Catalog id of the accelerator.

    Notes
    -----
    Fitted once per accelerator generation on the steady-state throughput cases of
    ``validation/train_cases.yaml`` by ``benchmarks/calibrate.py`` (see docs/training.md);
    accelerators of no fitted generation take the ``default`` entry.
    """
    cal = calibration()
    for gen in cal.get("generations", {}).values():
        if accelerator_id in gen.get("accelerators", []):
            return float(gen["training_mamf_fraction"])
    return float(cal.get("default", {}).get("training_mamf_fraction",
                                            UNCALIBRATED_MAMF_FRACTION))


def _node(cat: Catalog, acc: Accelerator, domain: int, system: System | None
          ) -> tuple[int, float]:
    """Accelerators per node and the node's typical power [W] (the catalog's system, if any)."""
    sys_ = system or pick_system(cat, acc.id)
    gpn = int(sys_.accelerators_per_node.value) if sys_ else max(domain, 1)
    if sys_ is not None:
        typical = sys_.node_typical_power_w or sys_.node_max_power_w
        return gpn, typical.value
    return gpn, (acc.tdp_w.value if acc.tdp_w else 0.0) * gpn


def hardware_for(cat: Catalog, acc: Accelerator, dtype: str, system: System | None = None,
                 mamf_fraction: float | None = None) -> Hardware:
    """Assemble :class:`Hardware` from catalog entries (measured efficiencies where present).

    Parameters
    ----------
    cat : Catalog
        Catalog holding the accelerator's systems and fabrics.
    acc : Accelerator
        The accelerator.
    dtype : str
        Tensor dtype the matmuls run in (bf16, fp16, fp8, fp4, ...).
    system : System, optional
        The node; default the catalog's first system for ``acc``.
    mamf_fraction : float, optional
        Overrides the calibrated end-to-end fraction of MAMF [fraction] (used by the
        calibration itself).

    Raises
    ------
    UserError
        The accelerator has no tensor peak for ``dtype``.
    """
    try:
        peak = acc.peak(dtype)
    except KeyError:
        raise UserError(f"{acc.id} has no {dtype} tensor peak in the catalog; "
                        f"it has: {', '.join(acc.peak_flops_per_s)}", field="dtype") from None
    eff = acc.matmul_efficiency.get(dtype) or acc.matmul_efficiency.get(  # type: ignore[call-overload]
        HALF_PRECISION_STAND_IN.get(dtype, dtype))
    hbm_eff = acc.hbm_efficiency.value if acc.hbm_efficiency else DEFAULT_HBM_EFFICIENCY
    domain = int(acc.scale_up_domain_size.value) if acc.scale_up_domain_size else 1
    gpn, node_w = _node(cat, acc, domain, system)
    fraction = mamf_fraction if mamf_fraction is not None else training_mamf_fraction(acc.id)
    gemm_eff = (eff.value if eff else DEFAULT_MATMUL_EFFICIENCY) * fraction
    attention_rate = None
    if dtype not in HALF_PRECISION_STAND_IN:  # attention in bf16, never faster than the GEMMs
        half_eff = acc.matmul_efficiency.get("bf16") or acc.matmul_efficiency.get("fp16")
        attention_rate = min(acc.peak("bf16") * (half_eff.value if half_eff
                                                 else DEFAULT_MATMUL_EFFICIENCY) * fraction,
                             peak * gemm_eff)
    return Hardware(
        peak_flops_per_s=peak,
        matmul_efficiency=gemm_eff,
        hbm_bytes_per_s=acc.hbm_bandwidth_bytes_per_s.value * hbm_eff,
        memory_bytes=acc.memory_bytes.value,
        domain=domain,
        up=link_params(acc, cat.fabric_for(acc.id, "scale_up"), "scale_up"),
        out=link_params(acc, cat.fabric_for(acc.id, "scale_out"), "scale_out"),
        gpus_per_node=gpn, node_power_w=node_w,
        compute_units=int(acc.compute_units.value) if acc.compute_units else None,
        attention_flops_per_s=attention_rate,
        gemm_k_fill_elements=gemm_k_fill_bf16_elements() * peak / _half_peak(acc, peak),
        generation=generation_of(acc.id), half_peak_flops_per_s=_half_peak(acc, peak))


def _half_peak(acc: Accelerator, fallback: float) -> float:
    """The accelerator's bf16 (else fp16) tensor peak [FLOP/s]; ``fallback`` if it has neither."""
    for d in ("bf16", "fp16"):
        try:
            return float(acc.peak(d))
        except KeyError:
            continue
    return fallback


def with_collective_size_model(hw: Hardware) -> Hardware:
    """``hw`` with the fitted message-size model of both fabric tiers (calibration.yaml).

    Parameters
    ----------
    hw : Hardware
        The accelerator as :func:`hardware_for` builds it (plateau bus bandwidths only).

    Notes
    -----
    The ``collectives:`` block of ``calibration.yaml`` holds S½₀, n₀, β and γ per tier, fitted
    by ``benchmarks/calibrate.py`` on published nccl-tests curves (see
    :mod:`gpuplan.demand.comms`). Without the block ``hw`` is returned unchanged.
    """
    fitted = calibration().get("collectives", {})
    if not fitted:
        return hw
    return replace(hw, up=with_size_model(hw.up, fitted.get("scale_up")),
                   out=with_size_model(hw.out, fitted.get("scale_out")))


def gemm_time_s(m: npt.ArrayLike, k: npt.ArrayLike, n: npt.ArrayLike, peak_flops_per_s: float,
                matmul_efficiency: float, hbm_bytes_per_s: float,
                bytes_per_element: float = ACT_BYTES, compute_units: int | None = None,
                k_fill_elements: float = 0.0) -> np.ndarray:
    """Roofline time of an ``m×k @ k×n`` matmul [s] [1]_.

    Parameters
    ----------
    m, k, n : array_like
        Matrix dimensions [elements].
    peak_flops_per_s : float
        Dense tensor peak [FLOP/s].
    matmul_efficiency : float
        Achievable fraction of peak (MAMF, calibrated) [fraction].
    hbm_bytes_per_s : float
        Achievable HBM bandwidth [bytes/s].
    bytes_per_element : float
        Storage per element of the operands and result [bytes].
    compute_units : int, optional
        SMs / compute units: when given, the compute time is divided by
        :func:`wave_efficiency` of the ``m × n`` output (default None: no wave quantisation,
        as serving calls it).
    k_fill_elements : float
        Fixed cost of each output tile (pipeline fill, epilogue), in the reduction length that
        takes the same time [elements]; 0: none (serving calls it so).

    Notes
    -----
    ``max(2mkn / (peak·η·w) · (k + k₀)/k, b·(mk + kn + mn) / BW_hbm)``; η is the measured
    maximum achievable matmul fraction (MAMF) of the dtype, ``w`` the wave efficiency (1 without
    ``compute_units``), ``k₀`` the tile's fixed cost: a tile's main loop runs over ``k`` while
    its prologue and epilogue do not, so short reductions (small hidden sizes, TP shards) reach
    less of the ceiling. MAMF is measured on large shapes, where ``w`` ≈ 1 and ``k ≫ k₀``.
    """
    m, k, n = (np.asarray(x, dtype=float) for x in (m, k, n))
    flops = FLOPS_PER_MAC * m * k * n
    traffic = bytes_per_element * (m * k + k * n + m * n)
    waves = wave_efficiency(m, n, compute_units) if compute_units else 1.0
    fill = (k + k_fill_elements) / np.maximum(k, 1.0)
    return np.maximum(flops * fill / (peak_flops_per_s * matmul_efficiency * waves),
                      traffic / hbm_bytes_per_s)


def wave_efficiency(m: npt.ArrayLike, n: npt.ArrayLike, compute_units: int | None) -> np.ndarray:
    """Share of the SMs a GEMM with an ``m × n`` output keeps busy [fraction].

    Parameters
    ----------
    m, n : array_like
        Output rows and columns [elements].
    compute_units : int or None
        SMs / compute units; None or 0 when unknown.

    Notes
    -----
    The output splits into ``tiles = ⌈m/128⌉·⌈n/256⌉`` blocks run in waves of ``units`` (one
    per SM): efficiency ``tiles / (⌈tiles/units⌉·units)``. A 2,048 × 1,280 output on 132 SMs is
    80 tiles in one wave of 132: 0.61. Without a unit count the efficiency is 1.
    """
    if not compute_units:
        return np.ones(np.broadcast(np.asarray(m), np.asarray(n)).shape)
    tiles = np.ceil(np.asarray(m, dtype=float) / GEMM_TILE_ROWS) * np.ceil(
        np.asarray(n, dtype=float) / GEMM_TILE_COLS)
    return np.asarray(tiles / (np.ceil(tiles / compute_units) * compute_units))


__all__ = ["Hardware", "hardware_for", "with_collective_size_model", "calibration",
           "training_mamf_fraction", "gemm_time_s", "wave_efficiency", "CALIBRATION_FILE",
           "DEFAULT_MATMUL_EFFICIENCY", "DEFAULT_HBM_EFFICIENCY"]
