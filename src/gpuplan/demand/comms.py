"""Collective-communication time with an alpha-beta model and a message-size-dependent bus
bandwidth (vectorised).

``t = α + S · f(n) / B_bus(S, n)`` where ``S`` is the message size as nccl-tests defines it,
``B_bus(S, n) = B · (S / (S + c))^γ`` the bus bandwidth at that size (``B`` the measured
large-message plateau; ``c = S½(n)·(2^{1/γ} − 1)`` so that ``B_bus(S½) = B/2``; the
half-bandwidth size ``S½(n) = S½₀ · (n/n₀)^β`` grows with the group, as a ring's per-step chunk
``S/n`` shrinks) and ``f(n)`` the bus-bandwidth factor of the collective:
``2(n−1)/n`` for all-reduce, ``(n−1)/n`` for all-gather, reduce-scatter and all-to-all, ``1`` for
send/recv. ``α`` is the small-message latency. Groups that fit in one scale-up domain (NVLink,
NVL72, xGMI) use that domain's measured figures; groups that span nodes use the scale-out
network's per-GPU figures (rail-optimised: one NIC per GPU, so a ring across nodes is limited by
the NIC).

References
----------
.. [1] NVIDIA nccl-tests, doc/PERFORMANCE.md: algbw = S/t, busbw = algbw × factor.
.. [2] Thakur, Rabenseifner, Gropp 2005, "Optimization of Collective Communication Operations in
   MPICH", IJHPCA 19(1): ring all-reduce moves 2(n−1)/n · S per rank.
.. [3] Hockney 1994, "The communication challenge for MPP": the alpha-beta (latency-bandwidth)
   model t = α + β·S, and the half-performance length n½ (here S½) of a pipe.
.. [4] The fitted S½₀, β, γ per tier: ``benchmarks/calibrate.py`` on the nccl-tests / rccl-tests
   curves of ``demand/training/collective_cases.yaml`` (``collectives:`` in calibration.yaml).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from gpuplan.catalog.schema import Accelerator, Fabric

#: When the catalog has no measured fabric for an accelerator, the achievable bus bandwidth is
#: this fraction of the link's one-direction bandwidth (nccl-tests on HGX H100 reach ~360-480 GB/s
#: of NVLink4's 450 GB/s per direction; on 400G IB ~40-48 of 50 GB/s): a judgement of 0.8.
DEFAULT_BUS_EFFICIENCY = 0.8
#: Default latency per collective call [s] without a measurement: NCCL small-message times are
#: ~10-30 µs inside a node and ~20-60 µs across nodes (see catalog fabrics for measured values).
DEFAULT_SCALE_UP_LATENCY_S = 20e-6
DEFAULT_SCALE_OUT_LATENCY_S = 40e-6
#: Group size the default latencies stand for (one 8-GPU node).
DEFAULT_MEASURED_RANKS = 8
#: PCIe Gen4 x16 one direction (32 GB/s raw, ~25 GB/s achieved) when nothing else is known.
PCIE_FALLBACK_BYTES_PER_S = 25e9
#: The vendor's scale-up figure is bidirectional; one direction is half.
DIRECTIONS_PER_LINK = 2

#: Bus-bandwidth factor f(n) of each collective [1]_.
BUS_FACTOR: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "send_recv": lambda n: np.ones_like(n),
}


#: Collectives the fitted size model applies to: the NCCL ring/tree/NVLS families its curves
#: measure. The all-to-all plateau of the catalog is DeepEP's, measured at MoE dispatch sizes
#: (4,096 or 128 tokens × 7,168), so it already holds at the sizes training sends [4]_.
SIZE_MODEL_KINDS = ("all_reduce", "all_gather", "reduce_scatter", "send_recv")


@dataclass(frozen=True)
class LinkParams:
    """Bus bandwidth [bytes/s], latency [s] per collective, the group size measured, and the
    message-size model of the tier.

    ``half_bandwidth_bytes`` (S½₀ [bytes], 0 = plateau at every size, the plain alpha-beta
    model) is the size at which a group of ``half_bandwidth_ranks`` (n₀) reaches half the
    plateau; ``rank_exponent`` (β) scales it with the group size and ``shape_exponent`` (γ) is
    the curvature of the approach to the plateau (1: hyperbolic).
    """

    busbw_bytes_per_s: dict[str, float]
    latency_s: dict[str, float]
    measured_ranks: int = 8
    half_bandwidth_bytes: float = 0.0
    half_bandwidth_ranks: float = 8.0
    rank_exponent: float = 0.0
    shape_exponent: float = 1.0


def half_bandwidth_size(ranks: npt.ArrayLike, link: LinkParams) -> np.ndarray:
    """Message size at which a group of ``ranks`` reaches half its plateau bus bandwidth [bytes].

    Parameters
    ----------
    ranks : array_like
        Group size n [ranks].
    link : LinkParams
        The tier (its fitted S½₀ [bytes], n₀ [ranks] and β).

    Notes
    -----
    ``S½(n) = S½₀ · (max(n, 2)/n₀)^β`` [4]_.
    """
    n = np.maximum(np.asarray(ranks, dtype=float), 2.0)
    return np.asarray(link.half_bandwidth_bytes
                      * (n / link.half_bandwidth_ranks) ** link.rank_exponent)


def busbw_fraction(message_bytes: npt.ArrayLike, half_bandwidth_bytes: npt.ArrayLike,
                   shape_exponent: float = 1.0) -> np.ndarray:
    """Share of the plateau bus bandwidth a message of ``message_bytes`` reaches [fraction].

    Parameters
    ----------
    message_bytes : array_like
        nccl-tests size S [bytes].
    half_bandwidth_bytes : array_like
        Half-bandwidth size S½ of the group [bytes] (0: the plateau at every size).
    shape_exponent : float
        γ [dimensionless].

    Notes
    -----
    ``(S / (S + c))^γ`` with ``c = S½ · (2^{1/γ} − 1)``: 1/2 at ``S = S½``, → 1 for ``S ≫ S½``.
    """
    s = np.maximum(np.asarray(message_bytes, dtype=float), 1.0)
    c = np.asarray(half_bandwidth_bytes, dtype=float) * (2.0 ** (1.0 / shape_exponent) - 1.0)
    return np.asarray((s / (s + c)) ** shape_exponent)


#: How the small-message time grows with the group: ring all-gather / reduce-scatter pass n−1
#: steps; all-to-all sends n−1 messages; NCCL all-reduce switches to trees at scale (log n);
#: send/recv is one hop [2]_.
LATENCY_GROWTH: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "all_reduce": lambda n, n0: np.log2(np.maximum(n, 2)) / np.log2(max(n0, 2)),
    "all_gather": lambda n, n0: (n - 1) / max(n0 - 1, 1),
    "reduce_scatter": lambda n, n0: (n - 1) / max(n0 - 1, 1),
    "all_to_all": lambda n, n0: (n - 1) / max(n0 - 1, 1),
    "send_recv": lambda n, n0: np.ones_like(n),
}


def latency_at(kind: str, ranks: npt.ArrayLike, latency_s: npt.ArrayLike, measured_ranks: int
               ) -> np.ndarray:
    """Small-message time of a group of ``ranks`` from one measured at ``measured_ranks`` [s].

    Parameters
    ----------
    kind : str
        Collective (a key of :data:`BUS_FACTOR`).
    ranks : array_like
        Group size n [ranks].
    latency_s : array_like
        Small-message time measured at ``measured_ranks`` [s].
    measured_ranks : int
        Group size of the measurement n₀ [ranks].

    Notes
    -----
    ``α(n) = α(n₀) · g(n)/g(n₀)`` with ``g = n − 1`` for ring-based collectives and
    ``g = log₂ n`` for all-reduce (NCCL's tree algorithm at scale).
    """
    n = np.maximum(np.asarray(ranks, dtype=float), 1.0)
    return np.asarray(np.asarray(latency_s) * LATENCY_GROWTH[kind](n, measured_ranks))


def collective_time_s(kind: str, message_bytes: npt.ArrayLike, ranks: npt.ArrayLike,
                      busbw_bytes_per_s: npt.ArrayLike, latency_s: npt.ArrayLike,
                      half_bandwidth_bytes: npt.ArrayLike = 0.0, shape_exponent: float = 1.0
                      ) -> np.ndarray:
    """Time of one collective [s] (0 for a group of one).

    Parameters
    ----------
    kind : {"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"}
    message_bytes : array_like
        nccl-tests size S [bytes]: the buffer per rank for all-reduce, the total array for
        all-gather / reduce-scatter / all-to-all, the message for send/recv.
    ranks : array_like
        Group size n.
    busbw_bytes_per_s : array_like
        Large-message bus bandwidth [bytes/s].
    latency_s : array_like
        Small-message time α [s].
    half_bandwidth_bytes : array_like
        Half-bandwidth size S½ of the group [bytes]; 0 (default) keeps the plateau at every size.
    shape_exponent : float
        γ of :func:`busbw_fraction` [dimensionless].

    Notes
    -----
    ``t = α + S·f(n) / (B_bus · busbw_fraction(S, S½, γ))`` [1]_ [3]_.
    """
    n = np.asarray(ranks, dtype=float)
    s = np.asarray(message_bytes, dtype=float)
    factor = BUS_FACTOR[kind](np.maximum(n, 1.0))
    bw = np.asarray(busbw_bytes_per_s) * busbw_fraction(s, half_bandwidth_bytes, shape_exponent)
    t = np.asarray(latency_s) + s * factor / bw
    return np.asarray(np.where(n > 1, t, 0.0))


def link_params(acc: Accelerator, fabric: Fabric | None, scope: str) -> LinkParams:
    """Alpha-beta parameters for ``acc`` on one tier: measured (catalog fabric) or defaults.

    Parameters
    ----------
    acc : Accelerator
        The accelerator (its link bandwidths stand in when no fabric was measured).
    fabric : Fabric or None
        Measured collective performance of the tier.
    scope : {"scale_up", "scale_out"}
        Which tier.

    Notes
    -----
    Collectives the fabric did not measure take its all-reduce figures. Without a fabric,
    ``B_bus = η·B_link`` with η = :data:`DEFAULT_BUS_EFFICIENCY` and default latencies.
    """
    kinds = tuple(BUS_FACTOR)
    if fabric is not None:
        ar = fabric.all_reduce
        bws, lats = {}, {}
        for k in kinds:
            perf = getattr(fabric, k, None) or ar
            bws[k] = perf.busbw_bytes_per_s.value
            lats[k] = perf.latency_s.value
        return LinkParams(bws, lats, int(fabric.measured_ranks))
    raw: float | None
    if scope == "scale_up":
        raw = acc.scale_up_bandwidth_bytes_per_s.value / DIRECTIONS_PER_LINK \
            if acc.scale_up_bandwidth_bytes_per_s else None
        latency = DEFAULT_SCALE_UP_LATENCY_S
    else:
        raw = acc.scale_out_bandwidth_bytes_per_s.value if acc.scale_out_bandwidth_bytes_per_s \
            else None
        latency = DEFAULT_SCALE_OUT_LATENCY_S
    if raw is None:  # no figure at all: fall back to the other tier or PCIe-class 25 GB/s
        other = acc.scale_out_bandwidth_bytes_per_s or acc.scale_up_bandwidth_bytes_per_s
        raw = other.value if other else PCIE_FALLBACK_BYTES_PER_S
    bw = raw * DEFAULT_BUS_EFFICIENCY
    return LinkParams({k: bw for k in kinds}, {k: latency for k in kinds},
                      DEFAULT_MEASURED_RANKS)


def with_size_model(link: LinkParams, fitted: Mapping[str, float] | None) -> LinkParams:
    """``link`` with the message-size model ``fitted`` (a ``collectives:`` tier of calibration).

    Parameters
    ----------
    link : LinkParams
        The tier's plateau and latency parameters.
    fitted : mapping or None
        ``half_bandwidth_bytes`` [bytes], ``half_bandwidth_ranks`` [ranks], ``rank_exponent``
        and ``shape_exponent``; None leaves ``link`` as it is.
    """
    if not fitted:
        return link
    return replace(link, half_bandwidth_bytes=float(fitted["half_bandwidth_bytes"]),
                   half_bandwidth_ranks=float(fitted["half_bandwidth_ranks"]),
                   rank_exponent=float(fitted["rank_exponent"]),
                   shape_exponent=float(fitted["shape_exponent"]))


def group_time_s(kind: str, message_bytes: npt.ArrayLike, ranks: npt.ArrayLike,
                 stride: npt.ArrayLike, domain: int, up: LinkParams, out: LinkParams
                 ) -> np.ndarray:
    """Collective time for a group of ``ranks`` whose members are ``stride`` ranks apart [s].

    Ranks are placed innermost-first (TP, then CP, then DP/EP, then PP), so a group stays inside
    one scale-up domain of ``domain`` accelerators when ``ranks × stride ≤ domain``.

    Parameters
    ----------
    kind : str
        Collective (a key of :data:`BUS_FACTOR`).
    message_bytes : array_like
        nccl-tests size S [bytes].
    ranks : array_like
        Group size [ranks].
    stride : array_like
        Distance between members in rank order [ranks].
    domain : int
        Scale-up domain size [accelerators].
    up, out : LinkParams
        Scale-up and scale-out alpha-beta parameters.

    Notes
    -----
    Each tier's time is :func:`collective_time_s` with that tier's half-bandwidth size
    ``S½(n)`` (:func:`half_bandwidth_size`; 0 unless the tier carries a fitted size model) for
    the collectives of :data:`SIZE_MODEL_KINDS`.
    Scale-out bus bandwidth is stored per accelerator (per NIC, rail-optimised). A group with
    ``g = domain / stride`` members in each domain drives ``g`` NICs at once, so its ring runs
    at ``min(g · B_out, B_up)`` (NCCL: multi-node ring busbw reflects the total NIC bandwidth).
    """
    n = np.asarray(ranks, dtype=float)
    st = np.asarray(stride, dtype=float)
    inside = n * st <= domain
    per_domain = np.clip(np.floor(domain / st), 1.0, np.maximum(n, 1.0))
    bw_out = np.minimum(out.busbw_bytes_per_s[kind] * per_domain, up.busbw_bytes_per_s[kind])
    sized = kind in SIZE_MODEL_KINDS
    t_up = collective_time_s(kind, message_bytes, n, up.busbw_bytes_per_s[kind],
                             latency_at(kind, n, up.latency_s[kind], up.measured_ranks),
                             half_bandwidth_size(n, up) if sized else 0.0, up.shape_exponent)
    t_out = collective_time_s(kind, message_bytes, n, bw_out,
                              latency_at(kind, n, out.latency_s[kind], out.measured_ranks),
                              half_bandwidth_size(n, out) if sized else 0.0, out.shape_exponent)
    return np.asarray(np.where(inside, t_up, t_out))
