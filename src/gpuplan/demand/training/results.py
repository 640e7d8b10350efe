"""Typed result of a training plan: what :func:`~gpuplan.demand.training.train` returns.

``TrainResult.model_dump()`` is the ``gpuplan train --json`` object. Demand never prices a run:
``cost_usd`` stays ``{own: None, rent: None}`` until the pipeline
(:mod:`gpuplan.pipeline`) fills it from the money stage.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gpuplan.demand.layouts import LayoutOut


class Candidate(BaseModel):
    """One of the best layouts of a search, with why it is as fast as it is."""

    model_config = ConfigDict(extra="forbid")
    layout: LayoutOut
    step_time_s: float
    mfu: float
    memory_per_gpu_bytes: int
    why: str


class BatchStage(BaseModel):
    """One stage of a batch ramp: its tokens, batch, steps and the layout searched for it."""

    model_config = ConfigDict(extra="forbid")
    tokens: float
    global_batch_tokens: int
    steps: int
    step_time_s: float
    mfu: float
    layout: LayoutOut


class PhaseOut(BaseModel):
    """One phase of a run as searched: its layout, time and GPU-hours (teacher time included)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str
    tokens: float
    seq_len: int
    gpus: int
    global_batch_tokens: int
    layout: LayoutOut
    step_time_s: float
    mfu: float
    teacher: str | None
    teacher_forward_share: float
    gpu_hours: float
    wall_days: float


class ReferenceLayout(BaseModel):
    """The best layout of the kind published dense runs use, beside the search's choice.

    ``chosen_speedup`` is how much faster the chosen layout claims to be (step time ratio − 1);
    ``why`` names, with figures, the step-time terms where the two differ most.
    """

    model_config = ConfigDict(extra="forbid")
    rule: str
    layout: LayoutOut
    step_time_s: float
    mfu: float
    memory_per_gpu_bytes: int
    chosen_speedup: float
    why: str


class CostOut(BaseModel):
    """Cost of a training run to own and to rent [USD]; None where no price is known."""

    model_config = ConfigDict(extra="forbid")
    own: float | None = None
    rent: float | None = None


class TrainResult(BaseModel):
    """Result of :func:`~gpuplan.demand.training.train`; ``model_dump()`` is the CLI's ``--json``.

    Quantities are in base units with the unit in the name (``_s``, ``_bytes``, ``_wh``);
    ``mfu``/``hfu``/``goodput`` are fractions. ``cost_usd`` is filled by the pipeline, never by
    demand; assigning the money stage's ``{own, rent}`` mapping to it validates it.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    model: str
    gpu: str
    mode: str
    gpus: int
    tokens: float
    seq_len: int
    global_batch_tokens: int
    dtype: str
    layout: LayoutOut
    step_time_s: float
    steps: int
    tokens_per_s: float
    mfu: float
    hfu: float
    model_flops_per_token: float
    gpu_hours: float
    wall_days: float
    ideal_wall_days: float
    memory_per_gpu_bytes: int
    gpu_memory_bytes: int
    energy_wh: float
    goodput: float
    checkpoint_bytes: int
    checkpoint_interval_s: float | None
    mtbf_s: float | None
    breakdown: dict[str, float]
    bottleneck: str
    candidates_evaluated: int
    feasible_candidates: int
    top: list[Candidate]
    cost_usd: CostOut = Field(default_factory=CostOut)
    batch_stages: list[BatchStage] = Field(default_factory=list)
    phases: list[PhaseOut] = Field(default_factory=list)
    reference: ReferenceLayout | None = None
    framework: str = "default"
    notes: list[str]
