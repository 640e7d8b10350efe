"""Cost of a training run, of served tokens, and Epoch AI's amortised-cost method.

``gpuplan train`` and ``gpuplan serve`` price their GPU-hours with two rates per accelerator:
``rent`` (the catalog's default rental price, dated) and ``own`` (the levelised cost of an owned
GPU-hour from :func:`gpuplan.money.owning.tco` for a reference cluster at full allocation).

References
----------
.. [1] DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", arXiv:2412.19437, Table 1: 2.788M
   H800 GPU-hours x $2 per GPU-hour = $5.576M.
.. [2] Cottier, Rahman, Fattorini, Maslej, Besiroglu, Owen 2024, "The rising costs of training
   frontier AI models", arXiv:2405.21015; code github.com/epoch-research/training-cost-trends
   @263c40a, cost_analysis_standalone.py (estimate_hardware_capex_energy_cost,
   depreciate_by_hardware_progress, cluster_energy_cost).
.. [3] Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (Chinchilla):
   ~20 training tokens per parameter.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from typing_extensions import TypedDict

from gpuplan.catalog import Catalog
from gpuplan.errors import UserError
from gpuplan.money._catalog import get_catalog
from gpuplan.money.cloud import default_rent_usd_per_gpu_hour
from gpuplan.units import HOURS_PER_YEAR, SECONDS_PER_HOUR, TOKENS_PER_MILLION, W_PER_KW

if TYPE_CHECKING:
    from gpuplan.demand.serving import ServeResult

#: Reference cluster for the default owned GPU-hour price [GPUs] (the Latent Space 1,024-H100
#: anchor of the fabric cost; one to four DGX SuperPOD scalable units).
REFERENCE_CLUSTER_GPUS = 1024
#: Folders of the package whose code the owned GPU-hour depends on (its memo's key).
_OWN_PRICE_CODE = ("money", "cluster")
#: Base of "orders of magnitude" (a value that falls k orders a year is 10^(-k t)).
_DECADE = 10.0
#: Rent price [USD per GPU-hour] given to the reference TCO when the catalog has none: the
#: owned price does not depend on it.
_PLACEHOLDER_RENT_USD_PER_GPU_HOUR = 1.0
#: (catalog id, accelerator, region) -> (catalog kept alive, owned price [USD per GPU-hour]).
_OWN_CACHE: dict[tuple[int, str, str], tuple[Catalog, float | None]] = {}


class RunCost(TypedDict):
    """``cost_usd`` of a training run [USD]; None where a price is unknown."""

    own: float | None
    rent: float | None


class ServeCostUsd(TypedDict):
    """Cost of a serving fleet [USD per GPU-hour, USD/h, USD per million output tokens]."""

    own_usd_per_gpu_hour: float | None
    own_usd_per_hour: float | None
    own_usd_per_million_output_tokens: float | None
    rent_usd_per_gpu_hour: float | None
    rent_usd_per_hour: float | None
    rent_usd_per_million_output_tokens: float | None


class EpochAmortisedCost(TypedDict):
    """Epoch AI's amortised cost of a final training run [USD; USD per chip-hour]."""

    value_at_start_usd_per_chip: float
    usd_per_chip_hour: float
    hardware_usd: float
    interconnect_usd: float
    energy_usd: float
    total_usd: float


def training_run_cost_usd(gpu_hours: npt.ArrayLike, usd_per_gpu_hour: npt.ArrayLike) -> np.ndarray:
    """Cost of a run [USD] = accelerator-hours [h] x price [USD per GPU-hour]."""
    out: np.ndarray = np.asarray(gpu_hours, dtype=float) * np.asarray(usd_per_gpu_hour, dtype=float)
    return out


def cost_usd_per_million_tokens(usd_per_gpu_hour: npt.ArrayLike,
                                tokens_per_s_per_gpu: npt.ArrayLike) -> np.ndarray:
    """Serving cost [USD per million tokens].

    Notes
    -----
    :math:`c = p / (3600 \\cdot r) \\cdot 10^6` with :math:`p` [USD per GPU-hour] and :math:`r`
    [tokens/s per GPU] at the utilisation served.
    """
    r = np.asarray(tokens_per_s_per_gpu, dtype=float)
    if np.any(r <= 0):
        raise UserError("tokens_per_s_per_gpu must be positive", field="tokens_per_s_per_gpu")
    out: np.ndarray = np.asarray(usd_per_gpu_hour, dtype=float) / (SECONDS_PER_HOUR * r) \
        * TOKENS_PER_MILLION
    return out


def default_own_usd_per_gpu_hour(gpu: str, catalog: Catalog | None = None,
                                 region: str = "us") -> float | None:
    """Levelised cost of an owned, fully used GPU-hour of ``gpu`` [USD per GPU-hour], or None.

    Parameters
    ----------
    gpu : str
        Accelerator id.
    catalog : Catalog, optional
        Default the built-in catalog.
    region : str
        ``regions`` id.

    :func:`gpuplan.money.owning.tco` for ``REFERENCE_CLUSTER_GPUS`` accelerators in ``region``
    (facility built, catalog defaults, cash purchase) at utilisation 1. None when owning cannot
    be priced (no purchase price or system, or the purchase is refused in the region). The
    value is remembered on disk for these catalog bytes and this code
    (:func:`gpuplan.catalog.memo.remembered`), so a cold ``gpuplan serve`` loads neither the
    cluster builder nor the cash-flow model once it has been computed.
    """
    from gpuplan.catalog.memo import remembered

    cat = get_catalog(catalog)
    key = (id(cat), gpu.lower(), region)
    if key in _OWN_CACHE:
        return _OWN_CACHE[key][1]
    try:
        acc_id = cat.accelerator(gpu).id
    except UserError:
        _OWN_CACHE[key] = (cat, None)
        return None

    def own() -> float | None:
        from gpuplan.money.owning import tco

        try:
            rent = default_rent_usd_per_gpu_hour(acc_id, cat)
            r = tco(acc_id, REFERENCE_CLUSTER_GPUS, region=region, utilisation=1.0,
                    cloud=rent if rent is not None else _PLACEHOLDER_RENT_USD_PER_GPU_HOUR,
                    catalog=cat)
        except UserError:
            return None
        return float(r.cost_usd_per_gpu_hour["own"])

    val = remembered(cat, f"own_usd_per_gpu_hour|{acc_id}|{region}|{REFERENCE_CLUSTER_GPUS}",
                     own, code_dirs=_OWN_PRICE_CODE)
    _OWN_CACHE[key] = (cat, val)
    return val


def run_cost_usd(gpu_hours: float, gpu: str, catalog: Catalog | None = None, *,
                 own_usd_per_gpu_hour: float | None = None,
                 rent_usd_per_gpu_hour: float | None = None) -> RunCost:
    """``cost_usd{own, rent}`` of a training run of ``gpu_hours`` on ``gpu`` [USD].

    Parameters
    ----------
    gpu_hours : float
        Accelerator-hours of the run [h].
    gpu : str
        Accelerator id.
    catalog : Catalog, optional
        Default the built-in catalog.
    own_usd_per_gpu_hour, rent_usd_per_gpu_hour : float, optional
        Prices [USD per GPU-hour] replacing the catalog's.

    Prices not given come from the catalog (:func:`default_own_usd_per_gpu_hour`,
    :func:`~gpuplan.money.cloud.default_rent_usd_per_gpu_hour`); None where none is known.
    """
    cat = get_catalog(catalog)
    own = own_usd_per_gpu_hour if own_usd_per_gpu_hour is not None else \
        default_own_usd_per_gpu_hour(gpu, cat)
    rent = rent_usd_per_gpu_hour if rent_usd_per_gpu_hour is not None else \
        default_rent_usd_per_gpu_hour(gpu, cat)
    return RunCost(own=None if own is None else float(training_run_cost_usd(gpu_hours, own)),
                   rent=None if rent is None else float(training_run_cost_usd(gpu_hours, rent)))


def serve_cost(serve_result: ServeResult, catalog: Catalog | None = None, *,
               own_usd_per_gpu_hour: float | None = None,
               rent_usd_per_gpu_hour: float | None = None) -> ServeCostUsd:
    """Cost of a :class:`~gpuplan.demand.serving.ServeResult` fleet, per hour and per token.

    Parameters
    ----------
    serve_result : ServeResult
        The fleet: ``gpus`` [count] and ``output_tokens_per_s_per_gpu`` [tokens/s].
    catalog : Catalog, optional
        Default the built-in catalog.
    own_usd_per_gpu_hour, rent_usd_per_gpu_hour : float, optional
        Prices [USD per GPU-hour] replacing the catalog's.

    Returns ``own_usd_per_hour``, ``rent_usd_per_hour`` [USD/h for all ``gpus``] and
    ``own_usd_per_million_output_tokens``, ``rent_usd_per_million_output_tokens`` at the
    result's ``output_tokens_per_s_per_gpu`` (None where a price is unknown).
    """
    cat = get_catalog(catalog)
    gpu = serve_result.gpu
    own = own_usd_per_gpu_hour if own_usd_per_gpu_hour is not None else \
        default_own_usd_per_gpu_hour(gpu, cat)
    rent = rent_usd_per_gpu_hour if rent_usd_per_gpu_hour is not None else \
        default_rent_usd_per_gpu_hour(gpu, cat)
    tps = serve_result.output_tokens_per_s_per_gpu

    def per_hour(p: float | None) -> float | None:
        return None if p is None else p * serve_result.gpus

    def per_million(p: float | None) -> float | None:
        return None if (p is None or tps <= 0) else float(cost_usd_per_million_tokens(p, tps))

    return ServeCostUsd(
        own_usd_per_gpu_hour=own, own_usd_per_hour=per_hour(own),
        own_usd_per_million_output_tokens=per_million(own),
        rent_usd_per_gpu_hour=rent, rent_usd_per_hour=per_hour(rent),
        rent_usd_per_million_output_tokens=per_million(rent))


def epoch_amortised_cost_usd(*, price_usd_per_chip: float, years_since_acquisition: float,
                             chip_hours: float, chip_tdp_w: float,
                             server_power_per_chip_tdp: float, server_tdp_fraction: float,
                             pue: float, usd_per_kwh: float,
                             price_performance_ooms_per_year: float,
                             interconnect_cost_fraction: float,
                             hours_per_year: float = HOURS_PER_YEAR) -> EpochAmortisedCost:
    """Amortised hardware CapEx plus energy of a final training run (Cottier et al. 2024).

    Parameters
    ----------
    price_usd_per_chip : float
        Server price per accelerator at acquisition [USD] (single-chip prices already scaled
        by the server/chip cost ratio).
    years_since_acquisition : float
        Time from acquisition to the start of training [years].
    chip_hours : float
        Accelerator-hours of the run [h].
    chip_tdp_w : float
        Accelerator TDP [W].
    server_power_per_chip_tdp : float
        Server power per accelerator / accelerator TDP [ratio] (A100: (6.5 kW/8)/0.4 kW).
    server_tdp_fraction : float
        Share of server power drawn during training [fraction] (GPUs 0.75, TPUs 0.43).
    pue : float
        Power usage effectiveness [ratio].
    usd_per_kwh : float
        Electricity price [USD/kWh].
    price_performance_ooms_per_year : float
        Hardware price-performance improvement [orders of magnitude per year] (Epoch: 0.14,
        catalog ``costs/price-performance-decay``).
    interconnect_cost_fraction : float
        Cluster interconnect share of total cluster cost [fraction] (Epoch: 0.19, catalog
        ``costs/interconnect-cost-fraction``).

    hours_per_year : float
        Hours in a year [h].

    Returns
    -------
    EpochAmortisedCost
        ``value_at_start_usd_per_chip``, ``usd_per_chip_hour``, ``hardware_usd``,
        ``interconnect_usd``, ``energy_usd``, ``total_usd``.

    Notes
    -----
    Value at the start of training :math:`V = P \\cdot 10^{-k t}`; hardware is amortised at the
    optimal replacement rate :math:`k \\ln 10` per year, so the hardware cost per chip-hour is
    :math:`V k \\ln 10 / 8766`; interconnect adds :math:`f/(1 - f)` of it; energy is
    :math:`\\mathrm{TDP} \\cdot m \\cdot \\phi \\cdot \\mathrm{PUE} \\cdot h \\cdot p`.
    """
    for name, v in (("price_usd_per_chip", price_usd_per_chip), ("chip_hours", chip_hours),
                    ("chip_tdp_w", chip_tdp_w), ("pue", pue)):
        if not math.isfinite(v) or v <= 0:
            raise UserError(f"{name} must be positive, got {v!r}", field=name)
    if not 0 <= interconnect_cost_fraction < 1:
        raise UserError("interconnect_cost_fraction must be in [0, 1)",
                        field="interconnect_cost_fraction")
    value = price_usd_per_chip * _DECADE ** (-price_performance_ooms_per_year
                                          * years_since_acquisition)
    per_hour = value * price_performance_ooms_per_year * math.log(_DECADE) / hours_per_year
    hw = per_hour * chip_hours
    ic = hw * interconnect_cost_fraction / (1.0 - interconnect_cost_fraction)
    kwh = chip_tdp_w / W_PER_KW * server_power_per_chip_tdp * server_tdp_fraction * pue * chip_hours
    energy = kwh * usd_per_kwh
    return EpochAmortisedCost(value_at_start_usd_per_chip=value, usd_per_chip_hour=per_hour,
                              hardware_usd=hw, interconnect_usd=ic, energy_usd=energy,
                              total_usd=hw + ic + energy)
