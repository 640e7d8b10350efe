"""The collective model of gpuplan.demand.comms against published nccl-tests curves.

Every expected number below is a measured bus bandwidth read in the source named beside it
(transcribed in src/gpuplan/demand/training/collective_cases.yaml from
../shared/validation/collectives.yaml).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpuplan.demand.comms import (
    LinkParams,
    busbw_fraction,
    collective_time_s,
    group_time_s,
    half_bandwidth_size,
)
from gpuplan.demand.hardware import calibration
from gpuplan.demand.training.collectives import TIERS, series_errors

FITTED = calibration()["collectives"]


def _point(series_id: str, size: int) -> tuple[float, float]:
    for sid, s, measured, pred in series_errors(FITTED):
        if sid == series_id and int(s) == size:
            return measured, pred
    raise KeyError((series_id, size))


@pytest.mark.parametrize("tier", TIERS)
def test_fit_error_per_tier(tier: str) -> None:
    """The fitted shape reproduces every curve of its tier: mean |log err| <= 8 %, worst <= 30 %."""
    errs = [abs(math.log(p / m)) for sid, _s, m, p in series_errors(FITTED)
            if FITTED[tier] and sid in {s["id"] for s in _tier_series(tier)}]
    assert len(errs) >= 15
    assert float(np.mean(errs)) <= 0.08
    assert max(errs) <= 0.30
    assert FITTED[tier]["mean_abs_log_error"] == pytest.approx(float(np.mean(errs)), abs=1e-3)


def _tier_series(tier: str) -> list[dict]:
    from gpuplan.demand.training.collectives import collective_cases
    return [s for s in collective_cases() if s["tier"] == tier]


@pytest.mark.parametrize(("series_id", "size", "tolerance"), [
    # Azure/AI-benchmarking-guide ND_H100_v5_results.md 'NCCL Bandwidth': 16 MiB -> 234.45 GB/s
    ("h100-8gpu-allreduce-nvls-azure-ndv5", 16777216, 0.15),
    # Azure ND_H100_v5: 128 MiB -> 400.61 GB/s
    ("h100-8gpu-allreduce-nvls-azure-ndv5", 134217728, 0.10),
    # Azure ND_A100_v4: 16 MiB -> 109.22 GB/s
    ("a100-8gpu-allreduce-azure-ndv4", 16777216, 0.15),
    # MLE network/README.md, 4 nodes x 8 B200 on EFA: 256 MiB -> 229.09 GB/s
    ("b200-4node-allreduce-efa-mleng", 268435456, 0.25),
    # coreweave/nccl-tests README 'GB200 > 20 Racks' (1,440 GPUs): 512 MiB -> 150.95 GB/s
    ("gb200-nvl72-20rack-allreduce-coreweave", 536870912, 0.25),
    # coreweave/nccl-tests README 'GB200 > 2 Racks' (144 GPUs): 512 MiB -> 493.94 GB/s
    ("gb200-nvl72-2rack-allreduce-coreweave", 536870912, 0.25),
])
def test_published_points(series_id: str, size: int, tolerance: float) -> None:
    measured, pred = _point(series_id, size)
    assert abs(pred / measured - 1) <= tolerance, (series_id, size, pred / 1e9, measured / 1e9)


def test_half_bandwidth_is_half() -> None:
    """busbw(S½) = B/2 whatever the curvature; the plateau is reached for S ≫ S½."""
    for gamma in (0.2, 0.5, 0.9, 1.0, 1.4):
        assert float(busbw_fraction(1e7, 1e7, gamma)) == pytest.approx(0.5)
        assert float(busbw_fraction(1e13, 1e7, gamma)) > 0.99
    assert float(busbw_fraction(1e3, 0.0)) == 1.0


def test_half_bandwidth_grows_with_group() -> None:
    up = LinkParams({"all_reduce": 1e11}, {"all_reduce": 1e-5}, 8, 1e6, 8.0, 0.5, 1.0)
    assert float(half_bandwidth_size(8, up)) == pytest.approx(1e6)
    assert float(half_bandwidth_size(32, up)) == pytest.approx(2e6)


def test_size_model_slows_mid_sized_messages_only() -> None:
    """Without a size model the time is the plain alpha-beta; with it, a 1 MiB message's
    bandwidth term is over twice as long and a 16 GiB one within 1 %."""
    kinds = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
    plain = LinkParams({k: 4e11 for k in kinds}, {k: 2.7e-5 for k in kinds}, 8)
    sized = LinkParams(plain.busbw_bytes_per_s, plain.latency_s, 8, 5e6, 8.0, 1.0, 0.2)
    small, big = 2.0 ** 20, 2.0 ** 34
    ab = collective_time_s("all_reduce", small, 8, 4e11, 2.7e-5)
    assert float(group_time_s("all_reduce", small, 8, 1, 8, plain, plain)) == pytest.approx(ab)
    t_small = float(group_time_s("all_reduce", small, 8, 1, 8, sized, sized))
    alpha = 2.7e-5
    assert t_small - alpha > 2 * (float(ab) - alpha)  # the bandwidth term, not the latency
    t_big = float(group_time_s("all_reduce", big, 8, 1, 8, sized, sized))
    assert t_big == pytest.approx(float(collective_time_s("all_reduce", big, 8, 4e11, 2.7e-5)),
                                  rel=0.01)


def test_all_to_all_keeps_its_measured_plateau() -> None:
    """The catalog's all-to-all figure is DeepEP's, measured at MoE dispatch sizes: the size
    model (fitted on all-reduce curves) does not apply to it."""
    kinds = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
    plain = LinkParams({k: 4e11 for k in kinds}, {k: 2.7e-5 for k in kinds}, 8)
    sized = LinkParams(plain.busbw_bytes_per_s, plain.latency_s, 8, 5e6, 8.0, 1.0, 0.2)
    msg = 2.0 ** 22
    assert float(group_time_s("all_to_all", msg, 8, 1, 8, sized, sized)) == pytest.approx(
        float(group_time_s("all_to_all", msg, 8, 1, 8, plain, plain)))
    assert float(group_time_s("all_gather", msg, 8, 1, 8, sized, sized)) > float(
        group_time_s("all_gather", msg, 8, 1, 8, plain, plain))
