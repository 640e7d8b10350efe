"""Training validation: :func:`~gpuplan.demand.training.train` against published runs.

A training case names a model (catalog id or an inline HF-style config), the hardware and GPU
count, the layout where the source published one, and one measured quantity (MFU, TFLOP/s per
GPU, tokens/s per GPU, step time, GPU-hours or wall-clock days) with its citation. Each case runs
through the same public API as ``gpuplan train``; nothing is fitted per case.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpuplan.catalog import Catalog
from gpuplan.demand.arch import arch_from_config
from gpuplan.demand.hardware import hardware_for
from gpuplan.demand.training import TrainResult, train
from gpuplan.errors import UserError
from gpuplan.units import TERA

Quantity = Literal["mfu", "tflops_per_gpu", "tokens_per_s_per_gpu", "step_time_s", "gpu_hours",
                   "wall_days"]
#: Quantities of a whole run (they depend on the GPU count, not only on per-GPU throughput).
WHOLE_RUN_QUANTITIES = ("gpu_hours", "wall_days")
#: Steady-state throughput quantities (what the efficiency calibration is fitted on).
STEADY_QUANTITIES = ("mfu", "tflops_per_gpu", "tokens_per_s_per_gpu", "step_time_s")
#: When a source does not publish the GPU count, cases run on this many (the count Meta
#: published for LLaMA-65B on the same class of A100 cluster); the result says so.
ASSUMED_GPUS = 2048
#: When a source does not publish the sequence length: the model's context, at most this.
ASSUMED_MAX_SEQ_LEN = 4096
#: Tokens of a throughput case whose token count is unpublished (steady-state quantities do
#: not depend on it) [tokens].
THROUGHPUT_CASE_TOKENS = 1e9
#: Words in a case's ``flop_convention`` that mean the source counted recompute FLOPs (HFU).
HARDWARE_FLOP_WORDS = ("recompute", "hardware", "hfu")


class Case(BaseModel):
    """A published training measurement and the inputs that reproduce its run."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    id: str
    kind: Literal["train"]
    source_record: str
    citation: str
    confidence: str = ""
    model: str | None = None
    model_config_: dict[str, Any] | None = Field(default=None, alias="model_config")
    gpu: str
    gpus: int | None = Field(default=None, ge=1)
    seq_len: int | None = Field(default=None, ge=1)
    global_batch_tokens: float | None = Field(default=None, gt=0)
    tokens: float | None = Field(default=None, gt=0)
    dtype: Literal["bf16", "fp16", "fp8"] | None = None
    layout: str | None = None
    failures: bool = False
    quantity: Quantity
    measured: float = Field(gt=0)
    flop_convention: str = ""
    framework: str = ""
    flops: Literal["model", "hardware"] | None = None
    headline: bool = True
    reason: str = ""
    notes: str = ""

    @model_validator(mode="after")
    def _one_model(self) -> Case:
        if (self.model is None) == (self.model_config_ is None):
            raise ValueError("give exactly one of model / model_config")
        if self.gpus is None and self.quantity in WHOLE_RUN_QUANTITIES and self.headline:
            # a whole run's hours or days scale with the unpublished GPU count and layout
            self.headline = False
            self.reason = (f"setup unpublished: the source gives the whole run's {self.quantity} "
                           f"but not the GPU count ({ASSUMED_GPUS} assumed) or the layout")
        if not self.headline and not self.reason:
            raise ValueError("a case with headline: false needs a reason")
        return self

    @property
    def counts_recompute(self) -> bool:
        """True when the source's FLOP figure includes recompute (hardware FLOPs, HFU).

        The case's ``flops`` says so; without it, words of ``flop_convention`` decide.
        """
        if self.flops is not None:
            return self.flops == "hardware"
        conv = self.flop_convention.lower()
        return any(w in conv for w in HARDWARE_FLOP_WORDS)

    @property
    def convention(self) -> str:
        """The FLOP convention gpuplan compares this case in (one short phrase)."""
        if self.quantity not in ("mfu", "tflops_per_gpu"):
            return "time (no FLOP convention)"
        return ("hardware FLOPs incl. recompute" if self.counts_recompute
                else "model FLOPs (6N + attention)")


def _run(case: Case, model: str, cat: Catalog, mamf_fraction: float | None,
         assumptions: list[str], free: bool = False) -> TrainResult:
    """The case's run through :func:`train`, noting what had to be assumed.

    ``free``: search every layout (gpuplan's own choice), context parallelism included.
    """
    gpus = case.gpus
    if gpus is None:
        gpus = ASSUMED_GPUS
        assumptions.append(f"GPU count unpublished: {ASSUMED_GPUS} assumed")
    if case.tokens is None and case.quantity in ("gpu_hours", "wall_days"):
        raise UserError("token count not published")
    seq_len = case.seq_len
    if seq_len is None:
        name, cfg, _ = cat.model(model)
        ctx = arch_from_config(cfg, name).max_position_embeddings or ASSUMED_MAX_SEQ_LEN
        seq_len = min(ctx, ASSUMED_MAX_SEQ_LEN)
        assumptions.append(f"sequence length unpublished: {seq_len} assumed")
    layout = "" if free else (case.layout or "")
    # none of the published runs used context parallelism unless its layout says so
    if "cp=" not in layout and not free:
        layout = ",".join(x for x in (layout, "cp=1") if x)
    return train(model, case.gpu, gpus, case.tokens or THROUGHPUT_CASE_TOKENS, seq_len=seq_len,
                 global_batch_tokens=case.global_batch_tokens, dtype=case.dtype or "bf16",
                 layout=layout, failures=case.failures, catalog=cat,
                 mamf_fraction=mamf_fraction, framework=case.framework or None)


def predict_train(case: Case, cat: Catalog, mamf_fraction: float | None = None
                  ) -> tuple[float, str, list[str]]:
    """The model's value of the case's quantity, the layout it chose, and what it assumed.

    Parameters
    ----------
    case : Case
        The published measurement.
    cat : Catalog
        Catalog the case's model and GPU come from.
    mamf_fraction : float, optional
        Overrides the calibrated fraction of MAMF [fraction] (the calibration uses it).

    Returns
    -------
    tuple
        Predicted value [the quantity's unit], the layout as ``key=value`` text, assumptions.

    Raises
    ------
    UserError
        The case cannot be run (e.g. its token count is unpublished but needed).
    """
    assumptions: list[str] = []
    if case.model_config_ is None:
        r = _run(case, str(case.model), cat, mamf_fraction, assumptions)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "config.json"
            cfg.write_text(json.dumps(case.model_config_), encoding="utf-8")
            r = _run(case, str(cfg), cat, mamf_fraction, assumptions)
    lay = ",".join(f"{k}={v}" for k, v in r.layout.model_dump().items() if k != "gpus")
    values = {"mfu": r.mfu, "tokens_per_s_per_gpu": r.tokens_per_s / r.gpus,
              "step_time_s": r.step_time_s, "gpu_hours": r.gpu_hours, "wall_days": r.wall_days}
    if case.quantity == "tflops_per_gpu":
        hw = hardware_for(cat, cat.accelerator(case.gpu), case.dtype or "bf16",
                          mamf_fraction=1.0)
        frac = r.hfu if case.counts_recompute else r.mfu
        return frac * hw.peak_flops_per_s / TERA, lay, assumptions
    return values[case.quantity], lay, assumptions


def search_alternative(case: Case, cat: Catalog) -> tuple[str, float] | None:
    """What gpuplan's own search picks for a case with a published layout, and its claimed gain.

    Parameters
    ----------
    case : Case
        A steady-state case whose source published a layout.
    cat : Catalog
        Catalog the case's model and GPU come from.

    Returns
    -------
    tuple or None
        The searched layout as ``key=value`` text and how much faster than the published
        layout it claims to be (step time ratio − 1) [fraction]; None for cases without a
        layout, whole-run cases, or where either run cannot be evaluated.
    """
    if not case.layout or case.quantity not in STEADY_QUANTITIES or case.model is None:
        return None
    try:
        pub = _run(case, case.model, cat, None, [])
        own = _run(case, case.model, cat, None, [], free=True)
    except UserError:
        return None
    lay = ",".join(f"{k}={v}" for k, v in own.layout.model_dump().items() if k != "gpus")
    return lay, pub.step_time_s / own.step_time_s - 1.0
