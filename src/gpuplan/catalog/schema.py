"""Pydantic schema of the catalog files.

Every number in the catalog is a :class:`Sourced` value: the value in the base unit named by the
field (``_bytes``, ``_w``, ``_flops_per_s``, ``_usd`` ...), the public source it was read in and
the date it refers to (``as_of``). A value in US dollars is a :class:`SourcedUsd`, which also
carries ``usd_year``, the year whose dollars it is in (a label: no deflation is applied). Models
are stored as the fields of their Hugging Face ``config.json`` plus the repository id they were
read from.

All models forbid unknown keys (``extra="forbid"``) so that a typo in a user's overlay file is an
error that names the field, not a silently ignored value.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Accepted ``as_of`` formats: YYYY, YYYY-MM, YYYY-MM-DD, YYYY-Hn, YYYY-Qn.
AS_OF_PATTERN = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-([0-2]\d|3[01]))?|-H[12]|-Q[1-4])?$")

#: Tensor dtypes for which a dense peak FLOP/s (or OP/s for int8) may be given.
PeakDtype = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"]
#: Range of accepted currency years of a USD value [year]: wide enough for any price an AI
#: infrastructure plan uses (the built-in catalog spans 2020-2026), narrow enough to catch a typo.
USD_YEAR_MIN = 2000
USD_YEAR_MAX = 2050


def as_of_text(v: object) -> str:
    """``v`` as an ``as_of`` string, or ValueError naming the accepted formats.

    Parameters
    ----------
    v : object
        The date as read from YAML (a string, or an int for a bare year) [—].
    """
    s = str(v)
    if not AS_OF_PATTERN.match(s):
        raise ValueError(f"as_of {s!r} is not YYYY, YYYY-MM, YYYY-MM-DD, YYYY-Hn or YYYY-Qn")
    return s


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Sourced(_Strict):
    """A positive number with its provenance.

    Attributes
    ----------
    value : float
        The value in the unit named by the field that holds it. Strictly positive and finite.
    source : str
        Where it was read: URL or document title plus table/section.
    as_of : str
        Date the figure refers to or was published (YYYY, YYYY-MM, YYYY-MM-DD, YYYY-Hn, YYYY-Qn).
    note : str
        Caveats (confidence, derivation).
    """

    value: float = Field(gt=0)
    source: str = Field(min_length=3)
    as_of: str
    note: str = ""

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @field_validator("as_of", mode="before")
    @classmethod
    def _date(cls, v: object) -> str:
        return as_of_text(v)


class SourcedUsd(Sourced):
    """A sourced amount in US dollars, with the year of the dollars.

    Attributes
    ----------
    usd_year : int
        The year whose (nominal) dollars ``value`` is in [year]: the year of ``as_of`` unless the
        source states another (e.g. a figure given in 2023 dollars). A label only: gpuplan adds
        and compares USD values as they are, without converting between years.
    """

    usd_year: int = Field(ge=USD_YEAR_MIN, le=USD_YEAR_MAX)


class SourcedFraction(Sourced):
    """A sourced fraction in (0, 1]."""

    value: float = Field(gt=0, le=1)


class SourcedCount(Sourced):
    """A sourced whole count (>= 1)."""

    @field_validator("value")
    @classmethod
    def _whole(cls, v: float) -> float:
        if v != int(v):
            raise ValueError("must be a whole number")
        return v


class SourcedText(_Strict):
    """A statement (not a number) with its provenance, e.g. an export-control status."""

    text: str = Field(min_length=1)
    source: str = Field(min_length=3)
    as_of: str

    @field_validator("as_of", mode="before")
    @classmethod
    def _date(cls, v: object) -> str:
        return as_of_text(v)


class Accelerator(_Strict):
    """One accelerator (GPU/TPU/NPU) as a planner needs it.

    Bandwidths are in bytes per second. ``scale_up_bandwidth_bytes_per_s`` is the vendor's
    aggregate bidirectional figure per accelerator (e.g. NVLink 4: 900e9); one direction is half.
    ``scale_out_bandwidth_bytes_per_s`` is one direction of the accelerator's share of the
    scale-out NICs (e.g. one ConnectX-7 at 400 Gb/s = 50e9 B/s).
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str
    vendor: str
    memory_bytes: Sourced
    allocatable_memory_bytes: Sourced | None = Field(
        default=None, description="Memory a framework can allocate (the driver's total, e.g. "
        "nvidia-smi's 'Total' in MiB x 2^20); serving sizes the KV cache from it. Default: "
        "memory_bytes.")
    hbm_bandwidth_bytes_per_s: Sourced
    peak_flops_per_s: dict[PeakDtype, Sourced] = Field(
        description="Dense (never 2:4 sparse) tensor peak per dtype; int8 in OP/s."
    )
    tdp_w: Sourced | None = None
    scale_up_bandwidth_bytes_per_s: Sourced | None = None
    scale_up_domain_size: SourcedCount | None = None
    scale_out_bandwidth_bytes_per_s: Sourced | None = None
    host_link_bytes_per_s: Sourced | None = Field(
        default=None, description="One direction of the accelerator's link to host memory "
        "(PCIe x16 of its generation after line coding, or a chip-to-chip link).")
    price_usd: SourcedUsd | None = None
    export_control: SourcedText | None = None
    matmul_efficiency: dict[PeakDtype, SourcedFraction] = Field(
        default_factory=dict,
        description="Maximum achievable matmul FLOP/s as a fraction of dense peak (MAMF).",
    )
    hbm_efficiency: SourcedFraction | None = Field(
        default=None, description="Achieved / nominal HBM bandwidth (stream-like copy)."
    )
    compute_units: SourcedCount | None = Field(
        default=None, description="Streaming multiprocessors (NVIDIA) or compute units (AMD): "
        "matmul tiles run in waves of this many.")
    notes: str = ""

    @model_validator(mode="after")
    def _needs_bf16_or_fp16(self) -> Accelerator:
        if not ({"bf16", "fp16"} & set(self.peak_flops_per_s)):
            raise ValueError("peak_flops_per_s needs at least a bf16 or fp16 entry")
        return self

    def peak(self, dtype: str) -> float:
        """Dense peak for ``dtype`` [FLOP/s]; bf16 and fp16 stand in for each other.

        Parameters
        ----------
        dtype : str
            Tensor dtype (``bf16``, ``fp8`` ...) [—].
        """
        table = self.peak_flops_per_s
        if dtype in table:
            return table[dtype].value
        alias = {"bf16": "fp16", "fp16": "bf16"}.get(dtype)
        if alias and alias in table:
            return table[alias].value
        raise KeyError(dtype)


class System(_Strict):
    """A server or rack-scale system built from one accelerator type."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str
    accelerator: str
    accelerators_per_node: SourcedCount
    node_max_power_w: Sourced
    node_typical_power_w: Sourced | None = None
    rack_units: SourcedCount | None = None
    compute_nics: SourcedCount | None = None
    compute_nic_bandwidth_bytes_per_s: Sourced | None = None
    host_memory_bytes: Sourced | None = None
    price_usd: SourcedUsd | None = None
    notes: str = ""


class Model(_Strict):
    """A model stored as its Hugging Face ``config.json`` fields plus provenance."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str
    repo_id: str = Field(min_length=3, description="Hugging Face repo the config was read from")
    source: str = Field(min_length=3)
    as_of: str
    config: dict[str, Any]
    notes: str = ""

    @field_validator("as_of", mode="before")
    @classmethod
    def _date(cls, v: object) -> str:
        return as_of_text(v)


class CollectivePerf(_Strict):
    """Alpha-beta parameters of one collective, fitted to measured nccl-tests-style sweeps.

    ``busbw_bytes_per_s`` is the large-message bus bandwidth (nccl-tests convention: algbw ×
    2(n−1)/n for all-reduce, × (n−1)/n for all-gather, reduce-scatter and all-to-all, × 1 for
    send/recv). ``latency_s`` is the small-message time per call (alpha).
    """

    busbw_bytes_per_s: Sourced
    latency_s: Sourced


class Fabric(_Strict):
    """Measured collective performance of a scale-up domain or a scale-out network."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str
    scope: Literal["scale_up", "scale_out"]
    accelerators: list[str] = Field(min_length=1, description="accelerator ids it applies to")
    measured_ranks: int = Field(ge=2, description="ranks (GPUs) in the measurement")
    all_reduce: CollectivePerf
    all_gather: CollectivePerf | None = None
    reduce_scatter: CollectivePerf | None = None
    all_to_all: CollectivePerf | None = None
    send_recv: CollectivePerf | None = None
    notes: str = ""


class Reliability(_Strict):
    """Failure and restart statistics of large training jobs (for goodput)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str
    interruptions_per_gpu_hour: Sourced
    restart_s: Sourced
    checkpoint_write_bytes_per_s_per_gpu: Sourced
    notes: str = ""


class CatalogFile(_Strict):
    """Top level of a catalog YAML file (built-in or user overlay). Every section is optional."""

    accelerators: list[Accelerator] = Field(default_factory=list)
    systems: list[System] = Field(default_factory=list)
    models: list[Model] = Field(default_factory=list)
    fabrics: list[Fabric] = Field(default_factory=list)
    reliability: list[Reliability] = Field(default_factory=list)
