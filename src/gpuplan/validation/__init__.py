"""`gpuplan validate`: predictions against published measurements.

Case files (``train_cases.yaml`` shipped here, or any file in the same schema via ``--cases``)
name a model (catalog id or an inline HF-style config), hardware, GPU count, layout where the
source published one, and one measured quantity with its citation. Each case runs through the
same public API as the CLI (:func:`gpuplan.demand.training.train`); nothing is fitted per case.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpuplan.errors import UserError

CASES_DIR = Path(__file__).parent
DEFAULT_CASE_FILES = ("train_cases.yaml", "device_cases.yaml", "serve_cases.yaml")
#: MLPerf's Mixtral dataset mean prompt length is unpublished in our records (inputs ≤ 2048).
ASSUMED_INPUT_TOKENS = 1024
Quantity = Literal["mfu", "tflops_per_gpu", "tokens_per_s_per_gpu", "step_time_s", "gpu_hours",
                   "wall_days"]
#: Steady-state throughput quantities (what the efficiency calibration is fitted on).
STEADY_QUANTITIES = ("mfu", "tflops_per_gpu", "tokens_per_s_per_gpu", "step_time_s")
#: When a source does not publish the GPU count, cases run on this many (the count Meta
#: published for LLaMA-65B on the same class of A100 cluster); the result says so.
ASSUMED_GPUS = 2048
#: When a source does not publish the sequence length: the model's context, at most this.
ASSUMED_MAX_SEQ_LEN = 4096


class Case(BaseModel):
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
    notes: str = ""

    @model_validator(mode="after")
    def _one_model(self) -> Case:
        if (self.model is None) == (self.model_config_ is None):
            raise ValueError("give exactly one of model / model_config")
        return self


class ServeCase(BaseModel):
    """A published serving measurement (throughput at a load, a fit decision, KV size)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    kind: Literal["serve"]
    source_record: str
    citation: str
    confidence: str = ""
    model: str
    gpu: str
    quant: str = "bf16"
    kv_dtype: str | None = None
    tp: int = Field(default=1, ge=1)
    gpus: int = Field(default=1, ge=1)
    input_tokens: int | None = Field(default=None, ge=1)
    output_tokens: int | None = Field(default=None, ge=1)
    context_tokens: int | None = Field(default=None, ge=1)
    load: str | float | None = None
    ttft_ms: float | None = Field(default=None, gt=0)
    tpot_ms: float | None = Field(default=None, gt=0)
    quantity: Literal["output_tokens_per_s", "total_tokens_per_s", "fits",
                      "kv_cache_bytes_per_token", "max_concurrency", "tokens_per_s_per_gpu"]
    measured: float = Field(ge=0)
    notes: str = ""


class DecodeCase(BaseModel):
    """A measured decode step (time per output token at a fixed batch and context)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    id: str
    kind: Literal["decode"]
    source_record: str
    citation: str
    confidence: str = ""
    model_config_: dict[str, Any] = Field(alias="model_config")
    gpu: str
    quant: str = "bf16"
    kv_dtype: str = "bf16"
    batch: int = Field(ge=1)
    context_tokens: int = Field(ge=1)
    quantity: Literal["tpot_s"]
    measured: float = Field(gt=0)
    notes: str = ""


AnyCase = Annotated[Case | ServeCase | DecodeCase, Field(discriminator="kind")]


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = 1
    cases: list[AnyCase]


class CaseResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    quantity: str
    predicted: float | None
    published: float
    relative_error: float | None
    citation: str
    layout: str | None = None
    assumptions: list[str] = []
    skipped: str | None = None


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: str
    cases: int
    median_abs_error: float
    worst_abs_error: float
    worst_case: str


class ValidationReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[CaseResult]
    summary: list[Summary]
    skipped: int


def load_cases(path: str | Path) -> CaseFile:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"case file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: not a readable YAML file ({type(e).__name__})") from None
    if isinstance(data, dict) and isinstance(data.get("cases"), list):
        for c in data["cases"]:  # a case without a kind is a training case
            if isinstance(c, dict):
                c.setdefault("kind", "train")
    try:
        return CaseFile.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        raise UserError(f"{p}: {loc}: {first.get('msg')}") from None


def _predict_serve(case: ServeCase, cat, serving: dict | None = None
                   ) -> tuple[float, str, list[str]]:
    from gpuplan.demand.arch import arch_from_config, kv_cache_bytes_per_token
    from gpuplan.demand.memory import DTYPE_BYTES
    from gpuplan.demand.serving import serve

    assumptions: list[str] = []
    kv = case.kv_dtype or ("fp16" if case.quant == "fp16" else "bf16")
    if case.quantity == "kv_cache_bytes_per_token":
        name, cfg, _ = cat.model(case.model)
        return float(kv_cache_bytes_per_token(arch_from_config(cfg, name), DTYPE_BYTES[kv])), \
            "", assumptions
    inp, out = case.input_tokens, case.output_tokens
    if case.context_tokens and inp is None:
        inp, out = case.context_tokens - 1, 1
    if inp is None:
        inp = ASSUMED_INPUT_TOKENS
        assumptions.append(f"input length unpublished: {inp} assumed")
    if out is None:
        raise UserError("output length not published")
    kw = dict(quant=case.quant, kv_dtype=kv, input_tokens=inp, output_tokens=out, tp=case.tp,
              pp=1, catalog=cat, **(serving or {}))
    if case.load == "server":
        kw.update(ttft_ms=case.ttft_ms, tpot_ms=case.tpot_ms)
    try:
        r = serve(case.model, case.gpu, **kw)
    except UserError as e:
        if case.quantity == "fits" and "does not fit" in str(e):
            return 0.0, f"tp={case.tp}", assumptions
        raise
    shape = f"tp={r.replica.tp},batch={r.replica.batch}"
    copies = case.gpus / r.replica.gpus
    q = case.quantity
    if q == "fits":
        return 1.0, shape, assumptions
    if q == "max_concurrency":
        return float(r.replica.max_concurrency), shape, assumptions
    if q == "output_tokens_per_s":
        return r.replica.output_tokens_per_s * copies, shape, assumptions
    if q == "total_tokens_per_s":
        return r.replica.total_tokens_per_s * copies, shape, assumptions
    return r.replica.total_tokens_per_s / r.replica.gpus, shape, assumptions


def _predict_decode(case: DecodeCase, cat) -> tuple[float, str, list[str]]:
    from gpuplan.demand.arch import arch_from_config
    from gpuplan.demand.serving import (
        COMPUTE_DTYPE,
        decode_step_s,
        serving_kv_read_efficiency,
        serving_overhead_per_layer_s,
    )
    from gpuplan.demand.training import hardware_for

    arch = arch_from_config(case.model_config_, case.id)
    hw = hardware_for(cat, cat.accelerator(case.gpu), COMPUTE_DTYPE[case.quant])
    d = decode_step_s(arch, hw, weight_format=case.quant, kv_dtype=case.kv_dtype,
                      batch=case.batch, context=case.context_tokens, tp=1, pp=1,
                      overhead_per_layer_s=serving_overhead_per_layer_s(),
                      kv_read_efficiency=serving_kv_read_efficiency())
    return float(d["step_s"]), f"batch={case.batch}", []


def _predict(case: Case, cat, mamf_fraction: float | None = None
             ) -> tuple[float, str, list[str]]:
    import json
    import tempfile

    from gpuplan.demand.training import hardware_for, train

    model = case.model
    tmp = None
    if case.model_config_ is not None:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(case.model_config_, tmp)
        tmp.close()
        model = tmp.name
    assumptions = []
    try:
        gpus = case.gpus
        if gpus is None:
            gpus = ASSUMED_GPUS
            assumptions.append(f"GPU count unpublished: {ASSUMED_GPUS} assumed")
        if case.tokens is None and case.quantity in ("gpu_hours", "wall_days"):
            raise UserError("token count not published")
        tokens = case.tokens or 1e9
        seq_len = case.seq_len
        if seq_len is None:
            from gpuplan.demand.arch import arch_from_config

            name, cfg, _ = cat.model(model)
            ctx = arch_from_config(cfg, name).max_position_embeddings or ASSUMED_MAX_SEQ_LEN
            seq_len = min(ctx, ASSUMED_MAX_SEQ_LEN)
            assumptions.append(f"sequence length unpublished: {seq_len} assumed")
        dtype = case.dtype or "bf16"
        layout = case.layout or ""
        if "cp=" not in layout:  # none of the published runs used context parallelism unless
            layout = ",".join(x for x in (layout, "cp=1") if x)  # its layout says so
        r = train(model, case.gpu, gpus, tokens, seq_len=seq_len,
                  global_batch_tokens=case.global_batch_tokens, dtype=dtype,
                  layout=layout, failures=case.failures, catalog=cat,
                  mamf_fraction=mamf_fraction)
    finally:
        if tmp is not None:
            Path(tmp.name).unlink(missing_ok=True)
    lay = ",".join(f"{k}={v}" for k, v in r.layout.model_dump().items() if k != "gpus")
    q = case.quantity
    if q == "mfu":
        return r.mfu, lay, assumptions
    if q == "tflops_per_gpu":
        hw = hardware_for(cat, cat.accelerator(case.gpu), dtype, mamf_fraction=1.0)
        conv = case.flop_convention.lower()
        frac = r.hfu if ("recompute" in conv or "hardware" in conv or "hfu" in conv) else r.mfu
        return frac * hw.peak_flops_per_s / 1e12, lay, assumptions
    if q == "tokens_per_s_per_gpu":
        return r.tokens_per_s / r.gpus, lay, assumptions
    if q == "step_time_s":
        return r.step_time_s, lay, assumptions
    if q == "gpu_hours":
        return r.gpu_hours, lay, assumptions
    if q == "wall_days":
        return r.wall_days, lay, assumptions
    raise UserError(f"quantity {q} unknown")  # pragma: no cover - schema forbids it


def validate(case_files: list[str | Path] | None = None, catalog=None,
             mamf_fraction: float | None = None, only_gpus: set[str] | None = None,
             only_steady: bool = False, only_kind: set[str] | None = None,
             serving: dict | None = None) -> ValidationReport:
    """Run every case; error = predicted / published − 1.

    ``mamf_fraction``, ``only_gpus`` and ``only_steady`` serve the calibration script.
    """
    from gpuplan.catalog import load_catalog

    cat = catalog or load_catalog()
    files = [Path(f) for f in case_files] if case_files else [CASES_DIR / f for f in
                                                             DEFAULT_CASE_FILES]
    results: list[CaseResult] = []
    for f in files:
        for case in load_cases(f).cases:
            if only_gpus is not None and case.gpu not in only_gpus:
                continue
            if only_steady and (case.kind != "train" or case.failures
                                or case.quantity not in STEADY_QUANTITIES):
                continue
            if only_kind is not None and case.kind not in only_kind:
                continue
            try:
                if case.kind == "serve":
                    pred, lay, assumed = _predict_serve(case, cat, serving)
                elif case.kind == "decode":
                    pred, lay, assumed = _predict_decode(case, cat)
                else:
                    pred, lay, assumed = _predict(case, cat, mamf_fraction)
                if case.quantity == "fits":  # a decision: right (0) or wrong (1)
                    err = 0.0 if (pred >= 0.5) == (case.measured >= 0.5) else 1.0
                else:
                    err = pred / case.measured - 1.0
                results.append(CaseResult(id=case.id, quantity=case.quantity, predicted=pred,
                                          published=case.measured, relative_error=err,
                                          citation=case.citation, layout=lay,
                                          assumptions=assumed))
            except UserError as e:
                results.append(CaseResult(id=case.id, quantity=case.quantity, predicted=None,
                                          published=case.measured, relative_error=None,
                                          citation=case.citation, skipped=str(e)))
    if case_files is None and only_gpus is None and not only_steady and (
            only_kind is None or "recsys" in only_kind):
        from gpuplan.demand.recsys import validate_recsys_cases
        from gpuplan.validation.cluster import validate_cluster_cases
        from gpuplan.validation.money import validate_money_cases

        for row in [*validate_recsys_cases(catalog=cat), *validate_cluster_cases(catalog=cat),
                    *validate_money_cases(catalog=cat)]:
            results.append(CaseResult(id=row["id"], quantity=row["quantity"],
                                      predicted=row["predicted"], published=row["published"],
                                      relative_error=row["relative_error"],
                                      citation=row["citation"]))
    summary = []
    by_q: dict[str, list[CaseResult]] = {}
    for r in results:
        if r.relative_error is not None and math.isfinite(r.relative_error):
            by_q.setdefault(r.quantity, []).append(r)
    for q, rs in sorted(by_q.items()):
        errs = [abs(r.relative_error) for r in rs]
        worst = max(rs, key=lambda r: abs(r.relative_error))
        summary.append(Summary(quantity=q, cases=len(rs), median_abs_error=statistics.median(errs),
                               worst_abs_error=max(errs), worst_case=worst.id))
    return ValidationReport(cases=results, summary=summary,
                            skipped=sum(r.skipped is not None for r in results))
