"""Catalog section ``frameworks``: training-framework profiles for the step-time model.

Registered in :data:`FRAMEWORK_SECTIONS` (overlays may add or replace profiles). Each profile
names the framework, the names it goes by (``aliases``, e.g. a validation case's ``framework``
field), and its sourced settings; fitted settings live in ``demand/calibration.yaml`` (see
``data/frameworks.yaml``). Unknown keys are errors.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from gpuplan.catalog.schema import Sourced, _Strict

#: Layout axes beyond data parallelism that a framework may or may not implement.
ParallelAxis = Literal["tp", "pp", "cp", "ep", "vpp"]


class Supports(_Strict):
    """The layouts a framework can run, with where that is documented.

    Attributes
    ----------
    axes : list of str
        Parallel axes besides data parallelism it implements (``tp``, ``pp``, ``cp``, ``ep``,
        ``vpp`` for interleaved pipeline stages); an axis not listed is fixed at 1.
    zero_stages : list of int
        ZeRO stages (0 = replicated, 1 optimizer, 2 + gradients, 3 + parameters, FSDP's
        FULL_SHARD) it implements.
    max_zero_with_pp : int, optional
        Highest ZeRO stage it runs together with pipeline parallelism (None: any listed).
    source : str
        Where the framework documents it.
    as_of : str
        When the source said so.
    """

    axes: list[ParallelAxis]
    zero_stages: list[Literal[0, 1, 2, 3]] = Field(min_length=1)
    max_zero_with_pp: Literal[0, 1, 2, 3] | None = None
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=1)


class Overlap(_Strict):
    """Which communication a framework overlaps with compute, with where that is documented.

    Attributes
    ----------
    param_gather : bool
        With a sharded optimizer (ZeRO 1-2), the updated parameters' all-gather runs behind the
        next step's forward (Megatron's ``--overlap-param-gather``); False: it is exposed.
    tp_comm : bool
        Tensor-parallel all-gathers and reduce-scatters overlap the GEMMs they feed (the share
        hidden is fitted: ``tp_comm_overlap_fraction`` in ``demand/calibration.yaml``).
    dualpipe : bool
        DeepSeek's bidirectional pipeline schedule: expert all-to-all and pipeline sends of one
        micro-batch overlap the other's compute, and the bubble shrinks to
        ``(PP/2 − 1)(F&B + B − 3W)`` (DeepSeek-V3 report, Table 2).
    communication_sms : int, optional
        SMs reserved for the overlapped communication kernels, taken from compute [SMs].
    source : str
        Where the framework documents it.
    as_of : str
        When the source said so.
    """

    param_gather: bool = False
    tp_comm: bool = False
    dualpipe: bool = False
    communication_sms: int | None = Field(default=None, ge=1)
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=1)


class AttentionKernel(_Strict):
    """The attention kernel a framework runs and the share of the peak it reaches.

    Attributes
    ----------
    kernel : str
        Kernel name (e.g. flash-attention-2).
    peak_fraction : dict
        Accelerator generation (as calibration.yaml groups them: ampere, hopper, blackwell) →
        share of the bf16 dense peak the kernel reaches, forward and backward [fraction].
    materialises_scores : bool
        The kernel writes the attention scores to HBM (unfused attention, before
        FlashAttention); the step time then charges their traffic.
    source : str
        Where that is measured.
    as_of : str
        When.
    """

    kernel: str = Field(min_length=1)
    peak_fraction: dict[str, float] = Field(default_factory=dict)
    materialises_scores: bool = False
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=1)


class Framework(_Strict):
    """One framework profile.

    Attributes
    ----------
    id : str
        Profile id.
    name : str
        What it covers.
    aliases : list of str
        Names that select it (lower case).
    grad_reduce_bytes : Sourced
        Bytes per gradient element of the data-parallel reduction in a bf16 run [bytes].
    supports : Supports, optional
        The layouts it can run; None: every layout gpuplan searches.
    overlap : Overlap, optional
        The communication it overlaps beyond gradient reduction; None: none.
    attention : AttentionKernel, optional
        Its attention kernel's ceiling per generation; None: gpuplan's FlashAttention model.
    """

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    grad_reduce_bytes: Sourced
    supports: Supports | None = None
    overlap: Overlap | None = None
    attention: AttentionKernel | None = None


#: The catalog section this module adds.
FRAMEWORK_SECTIONS: dict[str, type[BaseModel]] = {"frameworks": Framework}
