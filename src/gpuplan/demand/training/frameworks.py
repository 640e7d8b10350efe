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

from dataclasses import dataclass
from typing import Any

from gpuplan.catalog import load_catalog
from gpuplan.demand.hardware import calibration

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
    """

    id: str
    grad_reduce_bytes: float
    zero3_message_params: float
    zero3_overlap_fraction: float
    elementwise_traffic_per_activation_byte: float = FUSED_ELEMENTWISE_TRAFFIC_PER_ACTIVATION_BYTE
    layer_overhead_s: float = 0.0


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
        layer_overhead_s=float(own.get("layer_overhead_s", 0.0)))
