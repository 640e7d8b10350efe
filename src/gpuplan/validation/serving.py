"""Serving validation: :func:`~gpuplan.demand.serving.serve` against published measurements.

Serving cases (``serve_cases.yaml``) give a published throughput at a load, a fit decision, a
concurrency or a KV-cache size; decode cases (``device_cases.yaml``) a measured time per output
token at a fixed batch and context. Each runs through the same public functions as
``gpuplan serve``; nothing is fitted per case.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpuplan.catalog import Catalog
from gpuplan.demand.arch import arch_from_config, kv_cache_bytes_per_token
from gpuplan.demand.memory import DTYPE_BYTES
from gpuplan.demand.serving import (
    COMPUTE_DTYPE,
    decode_step_s,
    serve,
    serving_hardware,
    serving_kv_read_efficiency,
    serving_overhead_per_layer_s,
    serving_roofline_sharpness,
    serving_tp_comm_efficiency,
)
from gpuplan.errors import UserError

#: MLPerf's Mixtral dataset mean prompt length is unpublished in our records (inputs ≤ 2048).
ASSUMED_INPUT_TOKENS = 1024
#: A fit decision is right when prediction and measurement fall on the same side of this.
FIT_DECISION_THRESHOLD = 0.5


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
    #: Expert-parallel degree (None: searched) and attention data-parallel degree (default 1,
    #: the published TP replica; None: searched) of an MoE replica.
    ep: int | None = Field(default=None, ge=1)
    attention_dp: int | None = Field(default=1, ge=1)
    gpus: int = Field(default=1, ge=1)
    input_tokens: int | None = Field(default=None, ge=1)
    output_tokens: int | None = Field(default=None, ge=1)
    context_tokens: int | None = Field(default=None, ge=1)
    load: str | float | None = None
    ttft_ms: float | None = Field(default=None, gt=0)
    tpot_ms: float | None = Field(default=None, gt=0)
    max_batch: int | None = Field(default=None, ge=1)
    engine: Literal["trtllm", "vllm", "sglang"] | None = None
    #: Dtype of the attention cores where the source's setup fixes it (fp8: TensorRT-LLM's
    #: FP8 context FMHA, which trtllm-bench's TensorRT-flow builder turns on for FP8 engines).
    attention_dtype: Literal["bf16", "fp8"] | None = None
    #: The engine's token budget per iteration and the share of free memory its KV pool takes,
    #: where the source's setup fixes them (trtllm-bench's build tuning; the page's runs).
    max_num_tokens: int | None = Field(default=None, ge=1)
    kv_memory_fraction: float | None = Field(default=None, gt=0, le=1)
    quantity: Literal["output_tokens_per_s", "total_tokens_per_s", "fits",
                      "kv_cache_bytes_per_token", "max_concurrency", "tokens_per_s_per_gpu"]
    measured: float = Field(ge=0)
    #: False keeps the row out of the headline error (its reason is printed): the source does
    #: not state the setup gpuplan would have to evaluate (e.g. an MoE row's expert layout).
    headline: bool = True
    reason: str = ""
    notes: str = ""

    @model_validator(mode="after")
    def _reason_given(self) -> ServeCase:
        if not self.headline and not self.reason:
            raise ValueError("a case with headline: false needs a reason")
        return self


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


def predict_serve(case: ServeCase, cat: Catalog, serving: dict[str, float] | None = None
                  ) -> tuple[float, str, list[str]]:
    """The model's value of a serving case's quantity, the shape it chose, and its assumptions.

    Parameters
    ----------
    case : ServeCase
        The published measurement.
    cat : Catalog
        Catalog the case's model and GPU come from.
    serving : dict, optional
        Overrides of ``overhead_per_layer_s`` [s], ``kv_read_efficiency`` [fraction],
        ``overhead_per_iteration_s`` [s], ``serving_fraction`` [fraction],
        ``tp_comm_efficiency`` [fraction], ``roofline_sharpness`` [—],
        ``moe_gemm_efficiency`` [fraction] and ``overhead_per_sequence_s`` [s] (the
        calibration uses them). A ``server`` case runs
        the Server scenario with its p99 targets.

    Returns
    -------
    tuple
        Predicted value [the quantity's unit; a fit is 1 or 0], the shape, assumptions.
    """
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
    over = serving or {}
    server = case.load == "server"
    try:
        r = serve(case.model, case.gpu, quant=case.quant, kv_dtype=kv, input_tokens=inp,
                  output_tokens=out, tp=case.tp, pp=1, catalog=cat,
                  max_batch=case.max_batch,
                  ttft_ms=case.ttft_ms if server else None,
                  tpot_ms=case.tpot_ms if server else None,
                  overhead_per_layer_s=over.get("overhead_per_layer_s"),
                  kv_read_efficiency=over.get("kv_read_efficiency"),
                  overhead_per_iteration_s=over.get("overhead_per_iteration_s"),
                  serving_fraction=over.get("serving_fraction"),
                  tp_comm_efficiency=over.get("tp_comm_efficiency"), engine=case.engine,
                  roofline_sharpness=over.get("roofline_sharpness"),
                  scenario="server" if server else "offline", ep=case.ep,
                  attention_dp=case.attention_dp,
                  moe_gemm_efficiency=over.get("moe_gemm_efficiency"),
                  overhead_per_sequence_s=over.get("overhead_per_sequence_s"),
                  attention_dtype=case.attention_dtype, max_num_tokens=case.max_num_tokens,
                  kv_memory_fraction=case.kv_memory_fraction)
    except UserError as e:
        if case.quantity == "fits" and "does not fit" in str(e):
            return 0.0, f"tp={case.tp}", assumptions
        raise
    rep = r.replica
    moe = f",ep={rep.ep},attention_dp={rep.attention_dp}" \
        if rep.ep > 1 or rep.attention_dp > 1 else ""
    shape = f"tp={rep.tp}{moe},batch={rep.batch}"
    copies = case.gpus / r.replica.gpus
    values = {"fits": 1.0, "max_concurrency": float(r.replica.max_concurrency),
              "output_tokens_per_s": r.replica.output_tokens_per_s * copies,
              "total_tokens_per_s": r.replica.total_tokens_per_s * copies,
              "tokens_per_s_per_gpu": r.replica.total_tokens_per_s / r.replica.gpus}
    return values[case.quantity], shape, assumptions


def predict_decode(case: DecodeCase, cat: Catalog) -> tuple[float, str, list[str]]:
    """The model's decode iteration time of a measured decode step [s], and the batch.

    Parameters
    ----------
    case : DecodeCase
        The measured decode step.
    cat : Catalog
        Catalog the case's GPU comes from.

    Notes
    -----
    The measured loop is a fixed batch in plain PyTorch with CUDA graphs: no engine scheduler,
    so the fitted per-iteration (scheduling, sampling) time does not apply; the per-layer time
    does.
    """
    arch = arch_from_config(case.model_config_, case.id)
    hw = serving_hardware(cat, cat.accelerator(case.gpu), COMPUTE_DTYPE[case.quant])
    d = decode_step_s(arch, hw, weight_format=case.quant, kv_dtype=case.kv_dtype,
                      batch=case.batch, context=case.context_tokens, tp=1, pp=1,
                      overhead_per_layer_s=serving_overhead_per_layer_s(),
                      kv_read_efficiency=serving_kv_read_efficiency(),
                      tp_comm_efficiency=serving_tp_comm_efficiency(),
                      roofline_sharpness=serving_roofline_sharpness())
    return float(d["step_s"]), f"batch={case.batch}", []


#: The reference accelerator ratios are taken against.
RATIO_REFERENCE_GPU = "h100-sxm"


#: Source records whose rows are each system's own submission (MLPerf Inference: the submitter
#: picks TP, GPU count and format; output lengths are that system's): compared per GPU.
SYSTEM_CHOSEN_RECORD_PREFIX = "mlperf-"


def system_ratios(cases: list[ServeCase], predicted: dict[str, float],
                  reference_gpu: str = RATIO_REFERENCE_GPU) -> list[dict[str, Any]]:
    """Throughput ratios between accelerators on the same setting, predicted vs measured.

    Parameters
    ----------
    cases : list of ServeCase
        The serving cases (``output_tokens_per_s`` ones are used).
    predicted : dict
        Case id → predicted value [output tokens/s].
    reference_gpu : str
        The accelerator each ratio is taken against.

    Returns
    -------
    list of dict
        One row per (setting, accelerator other than the reference): ``setting``, ``gpu``,
        ``measured_ratio``, ``predicted_ratio`` and ``relative_error`` [fraction]
        (= predicted / measured − 1). A planner ranks systems by these ratios.

    Notes
    -----
    A setting is the model, weight format, prompt / output lengths, TP, GPU count and load;
    the weight format is matched by its role (the published A100 columns are FP16 where the
    Hopper ones are FP8, so A100 rows compare against the same setting in its own format).
    In an MLPerf record (:data:`SYSTEM_CHOSEN_RECORD_PREFIX`) each submitter chooses its own
    TP, GPU count and format and its outputs are the system's own, so the setting there is the
    record, model, prompt length and scenario, and the ratio is of per-GPU throughput. Rows
    kept out of the headline (setup unpublished) are not compared.
    """
    groups: dict[tuple[Any, ...], dict[str, ServeCase]] = {}
    for c in cases:
        if c.quantity != "output_tokens_per_s" or c.id not in predicted or not c.headline:
            continue
        if c.source_record.startswith(SYSTEM_CHOSEN_RECORD_PREFIX):
            key: tuple[Any, ...] = (c.model, c.input_tokens, c.load, "per GPU")
        else:
            key = (c.model, c.input_tokens, c.output_tokens, c.tp, c.gpus, c.load)
        groups.setdefault(key, {})[c.gpu] = c
    rows: list[dict[str, Any]] = []
    for key, by_gpu in groups.items():
        ref = by_gpu.get(reference_gpu)
        if ref is None or not ref.measured or not predicted[ref.id]:
            continue
        for gpu, c in sorted(by_gpu.items()):
            if gpu == reference_gpu:
                continue
            per = ref.gpus / c.gpus
            m = c.measured / ref.measured * per
            p = predicted[c.id] / predicted[ref.id] * per
            setting = ("{} {}/{} tp{} x{} {}" if len(key) == 6 else "{} {}/mean {} {}").format(*key)
            rows.append({"setting": setting, "gpu": gpu,
                         "reference_gpu": reference_gpu, "measured_ratio": m,
                         "predicted_ratio": p, "relative_error": p / m - 1})
    return rows
