"""Training-framework profiles as the step-time model reads them.

A profile joins the sourced settings of the catalog section ``frameworks``
(``catalog/data/frameworks.yaml``) with the fitted ZeRO-3 settings of the ``frameworks:`` block
of ``demand/calibration.yaml`` (``benchmarks/calibrate.py``). A name selects the profile whose id or
alias is its longest prefix, case-insensitive (a validation case's ``framework`` may read
"deepspeed ZeRO-3 (as run by ...)" or "pytorch eager (our H100 run)"); no name, or a name no
profile knows, gives the ``default`` profile.

References
----------
.. [1] Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter
   Models", SC20, Section 7: stage 3 all-gathers each layer's parameters in forward and backward
   and reduce-scatters its gradients.
.. [2] Narayanan et al. 2021, SC21 (arXiv 2104.04473), Table 2: the ZeRO-3 rows the ZeRO-3
   settings are fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuplan.catalog import load_catalog
from gpuplan.demand.hardware import calibration
from gpuplan.errors import UserError

#: Layout axes a framework profile may leave out (fixed at 1).
FRAMEWORK_AXES = ("tp", "pp", "cp", "ep", "vpp")
#: The profile used when no framework is named.
DEFAULT_FRAMEWORK = "default"
#: The fitted profile whose ZeRO-3 settings stand in where a profile has no fit of its own
#: (gpuplan's ``zero=3`` is DeepSpeed's stage 3 unless a framework says otherwise).
ZERO3_FIT_STAND_IN = "deepspeed"
#: Bytes per gradient element when the run is fp16 (every profile reduces fp16 in fp16).
FP16_GRAD_REDUCE_BYTES = 2.0
#: Before any fit: one all-gather per 5e7 parameters (DeepSpeed's documented default
#: stage3_prefetch_bucket_size, deepspeed.ai/docs/config-json) and perfect overlap.
UNFITTED_ZERO3_MESSAGE_PARAMS = 5e7
UNFITTED_ZERO3_OVERLAP_FRACTION = 1.0
#: Before any fit, a framework that overlaps TP communication hides none of it (the
#: conservative end; the fit is ``tp_comm_overlap_fraction``).
UNFITTED_TP_COMM_OVERLAP_FRACTION = 0.0
#: HBM traffic of the elementwise kernels (norms, activation functions, residual adds, rotary,
#: dropout) per byte of stored activations, forward + backward, when the kernels are fused
#: (compiled graphs, Megatron/TE fused kernels): each stored tensor is written in forward, read
#: in backward, and its gradient written and read once more (judgement). Eager execution's
#: figure is fitted (calibration.yaml ``frameworks: pytorch-eager``).
FUSED_ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE = 3.0


@dataclass(frozen=True)
class FrameworkProfile:
    """What a framework sets in the step-time model.

    Attributes
    ----------
    id : str
        Profile id.
    grad_reduce_bytes : float
        Bytes per gradient element of the data-parallel reduction [bytes].
    zero3_message_params : float
        Parameters per ZeRO-3 all-gather / reduce-scatter (a layer smaller than this goes in
        one) [params], fitted.
    zero3_overlap_fraction : float
        Largest share of the ZeRO-3 traffic that hides behind compute [fraction], fitted.
    elementwise_traffic_per_activation_byte : float
        HBM bytes the elementwise kernels move per byte of stored activation, forward +
        backward [bytes/byte]: fused by default, fitted for eager execution.
    layer_overhead_s : float
        Fixed time per layer and micro-batch, forward + backward, that does not scale with
        tokens (kernel launches and host gaps of unfused execution) [s]: 0 unless fitted.
    axes : tuple of str or None
        Parallel axes besides data parallelism the framework implements (None: all).
    zero_stages : tuple of int or None
        ZeRO stages it implements (None: all).
    max_zero_with_pp : int or None
        Highest ZeRO stage it combines with pipeline parallelism (None: any).
    dtype : str
        The training dtype the profile was built for.
    param_gather_overlap : bool
        The sharded optimizer's parameter all-gather hides behind the next forward.
    tp_comm_overlap_fraction : float
        Share of the tensor-parallel communication hidden behind GEMMs [fraction], fitted for
        profiles that overlap it, else 0.
    attention_peak_fraction : dict
        Generation → the largest share of the bf16 peak its attention kernel reaches
        [fraction] (sourced; a generation not listed: no cap).
    materialises_scores : bool
        Its attention writes the score matrix to HBM (no FlashAttention).
    dualpipe : bool
        Bidirectional pipeline schedule (DeepSeek's DualPipe): expert and pipeline traffic of
        one micro-batch hidden behind the other's compute, bubble ``(p/2 − 1)·2/3`` micro-batches.
    communication_sms : int or None
        SMs the overlapped communication kernels take from compute [SMs].
    """

    id: str
    grad_reduce_bytes: float
    zero3_message_params: float
    zero3_overlap_fraction: float
    elementwise_traffic_per_activation_byte: float = FUSED_ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE
    layer_overhead_s: float = 0.0
    axes: tuple[str, ...] | None = None
    zero_stages: tuple[int, ...] | None = None
    max_zero_with_pp: int | None = None
    dtype: str = "bf16"
    param_gather_overlap: bool = False
    tp_comm_overlap_fraction: float = 0.0
    attention_peak_fraction: dict[str, float] = field(default_factory=dict)
    materialises_scores: bool = False
    dualpipe: bool = False
    communication_sms: int | None = None


def _fit(profile_id: str) -> tuple[dict[str, float], dict[str, float]]:
    """The profile's own fitted block, and the block its ZeRO-3 settings come from."""
    fits = calibration().get("frameworks", {})
    own = dict(fits.get(profile_id) or {})
    zero3 = own if "zero3_message_params" in own else dict(fits.get(ZERO3_FIT_STAND_IN) or {})
    return own, zero3


def _select(name: str | None, known: dict[str, Any]) -> Any:
    """The profile whose id or alias is the longest prefix of ``name`` (else the default)."""
    text = (name or "").strip().lower()
    best, best_len = known[DEFAULT_FRAMEWORK], 0
    for f in known.values():
        for key in (f.id, *f.aliases):
            k = key.lower()
            if len(k) > best_len and (text == k or text.startswith((k + " ", k + "("))):
                best, best_len = f, len(k)
    return best


def framework_profile(name: str | None, dtype: str = "bf16") -> FrameworkProfile:
    """The profile of ``name`` for a run in ``dtype``.

    Parameters
    ----------
    name : str or None
        Framework id or alias (the longest matching prefix, case-insensitive); None → default.
    dtype : str
        Training dtype; fp16 runs reduce gradients in fp16.

    Notes
    -----
    ZeRO-3 settings are those fitted for the profile, else those fitted for
    :data:`ZERO3_FIT_STAND_IN`, else the unfitted DeepSpeed defaults [1]_ [2]_.
    """
    fw = _select(name, load_catalog()._section("frameworks"))
    own, fit = _fit(fw.id)
    grad = FP16_GRAD_REDUCE_BYTES if dtype == "fp16" else fw.grad_reduce_bytes.value
    return FrameworkProfile(
        id=fw.id, grad_reduce_bytes=float(grad),
        zero3_message_params=float(fit.get("zero3_message_params",
                                           UNFITTED_ZERO3_MESSAGE_PARAMS)),
        zero3_overlap_fraction=float(fit.get("zero3_overlap_fraction",
                                             UNFITTED_ZERO3_OVERLAP_FRACTION)),
        elementwise_traffic_per_activation_byte=float(own.get(
            "elementwise_traffic_per_activation_byte",
            FUSED_ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE)),
        layer_overhead_s=float(own.get("layer_overhead_s", 0.0)),
        axes=None if fw.supports is None else tuple(fw.supports.axes),
        zero_stages=None if fw.supports is None else tuple(fw.supports.zero_stages),
        max_zero_with_pp=None if fw.supports is None else fw.supports.max_zero_with_pp,
        dtype=dtype,
        param_gather_overlap=bool(fw.overlap and fw.overlap.param_gather),
        tp_comm_overlap_fraction=float(own.get("tp_comm_overlap_fraction",
                                               UNFITTED_TP_COMM_OVERLAP_FRACTION)
                                       if fw.overlap and fw.overlap.tp_comm else 0.0),
        attention_peak_fraction=dict(fw.attention.peak_fraction) if fw.attention else {},
        materialises_scores=bool(fw.attention and fw.attention.materialises_scores),
        dualpipe=bool(fw.overlap and fw.overlap.dualpipe),
        communication_sms=fw.overlap.communication_sms if fw.overlap else None)


def check_layout_supported(fw: FrameworkProfile, fixed: dict[str, int | str]) -> None:
    """Refuse a pinned layout the framework does not implement.

    Parameters
    ----------
    fw : FrameworkProfile
        The framework.
    fixed : dict
        Pinned layout keys (``tp``, ``pp``, ``zero``, ...).

    Raises
    ------
    UserError
        An axis it does not implement is pinned above 1, a ZeRO stage it lacks is pinned, or
        ZeRO above its limit is pinned together with pipeline parallelism (field ``layout``).
    """
    for ax in FRAMEWORK_AXES:
        if fw.axes is not None and ax not in fw.axes and int(fixed.get(ax, 1)) != 1:
            raise UserError(f"layout: {ax}={fixed[ax]} needs a framework that implements {ax}; "
                            f"{fw.id} implements "
                            + (", ".join(("dp", *fw.axes))), field="layout")
    z = fixed.get("zero")
    if z is not None and fw.zero_stages is not None and int(z) not in fw.zero_stages:
        raise UserError(f"layout: zero={z} is not a ZeRO stage {fw.id} implements (it has "
                        + ", ".join(map(str, fw.zero_stages)) + ")", field="layout")
    if (z is not None and fw.max_zero_with_pp is not None and int(fixed.get("pp", 1)) > 1
            and int(z) > fw.max_zero_with_pp):
        raise UserError(f"layout: zero={z} with pp={fixed['pp']}: {fw.id} combines pipeline "
                        f"parallelism with ZeRO stages up to {fw.max_zero_with_pp} only",
                        field="layout")


def check_framework_name(name: str) -> str:
    """``name`` as a profile id, if it is exactly a profile's id or alias (case-insensitive).

    Parameters
    ----------
    name : str
        What the user typed.

    Raises
    ------
    UserError
        No profile is called that; the message lists the closest names (field ``framework``).
    """
    import difflib

    known = load_catalog()._section("frameworks")
    names = {k.lower(): f.id for f in known.values() for k in (f.id, *f.aliases)}
    text = name.strip().lower()
    if text in names:
        return names[text]
    close = difflib.get_close_matches(text, list(names), n=3, cutoff=0.5) or sorted(
        f.id for f in known.values())
    raise UserError(f"framework: unknown framework {name!r}; closest: {', '.join(close)}",
                    field="framework")
