"""Demand commands: ``gpuplan fit``, ``train``, ``serve`` and ``recsys``.

``train`` and ``serve`` call the pipeline's priced entry points
(:func:`~gpuplan.pipeline.priced.priced_train`, :func:`~gpuplan.pipeline.priced.priced_serve`),
the same functions as the web API and ``gpuplan.train`` / ``gpuplan.serve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpuplan.cli.common import (
    CatalogOpt,
    GpuOpt,
    JsonOpt,
    ModelArg,
    OwnOpt,
    RentOpt,
    handle_errors,
    load_overlaid_catalog,
    output,
)


@handle_errors
def fit_cmd(
    model: ModelArg,
    gpu: GpuOpt,
    mode: Annotated[str, typer.Option(
        help="inference | train | finetune | lora | qlora")] = "inference",
    dtype: Annotated[str | None, typer.Option(
        help="Inference weights: bf16/fp16/fp8/int8/int4/fp4. Training: bf16/fp16/fp8.")] = None,
    kv_dtype: Annotated[str, typer.Option(
        "--kv-dtype", help="KV cache: bf16/fp16/fp8/int8.")] = "bf16",
    seq_len: Annotated[int, typer.Option(
        "--seq-len", help="Context / sequence length [tokens].")] = 4096,
    batch: Annotated[int, typer.Option(
        help="Concurrent sequences (inference) or micro-batch.")] = 1,
    layout: Annotated[str | None, typer.Option(
        help="Layout to evaluate, e.g. tp=8,pp=2,dp=4,zero=3,recompute=full.")] = None,
    all_gpus: Annotated[bool, typer.Option("--all-gpus", help="Rank every catalog GPU.")] = False,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Memory per GPU, whether it fits, and the fewest GPUs (with a layout) that fit."""
    from gpuplan.demand.fitting import fit

    res = fit(model, gpu, mode=mode, dtype=dtype, kv_dtype=kv_dtype, seq_len=seq_len, batch=batch,
              layout=layout, all_gpus=all_gpus, catalog=load_overlaid_catalog(catalog))
    output(res, as_json, "fit_report")


@handle_errors
def train_cmd(
    model: ModelArg,
    gpu: GpuOpt,
    gpus: Annotated[int, typer.Option("--gpus", help="Accelerators in the job.")],
    tokens: Annotated[float, typer.Option("--tokens", help="Training tokens, e.g. 15.6e12.")],
    seq_len: Annotated[int | None, typer.Option("--seq-len", help="Sequence length.")] = None,
    global_batch_tokens: Annotated[float | None, typer.Option(
        "--global-batch-tokens",
        help="Tokens per optimizer step (default: chosen by a published rule, see notes).")] = None,
    batch_ramp: Annotated[str | None, typer.Option(
        "--batch-ramp", help="Batch ramp until:batch pairs, e.g. Llama 3's "
        "252e6:4194304,2.87e12:8388608,0:16777216 (0 = to the end).")] = None,
    phases: Annotated[Path | None, typer.Option(
        "--phases", help="YAML file {phases: [{name, kind, tokens, seq_len, global_batch_tokens, "
        "gpus, layout, teacher}]}: the run as phases (pre-training, long context, annealing, "
        "distillation); --tokens is then ignored.")] = None,
    dtype: Annotated[str, typer.Option(help="bf16 | fp16 | fp8")] = "bf16",
    mode: Annotated[str, typer.Option(help="train | finetune | lora | qlora")] = "train",
    layout: Annotated[str | None, typer.Option(
        help="Pin layout keys, e.g. tp=8,pp=16; the rest is searched.")] = None,
    framework: Annotated[str | None, typer.Option(
        help="megatron | megatron-2021 | deepspeed | llm-foundry | torchtitan | pytorch-eager "
             "| pytorch-compiled: bounds the layouts searched and sets its overlap and kernel "
             "terms (catalog/data/frameworks.yaml).")] = None,
    no_failures: Annotated[bool, typer.Option("--no-failures",
                                              help="Ideal run: no interruptions.")] = False,
    rent_usd_per_gpu_hour: RentOpt = None,
    own_usd_per_gpu_hour: OwnOpt = None,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Best layout, step time, MFU, GPU-hours, wall-clock days and goodput of a training run."""
    from gpuplan.demand.training import parse_ramp
    from gpuplan.demand.training.phases import load_phases
    from gpuplan.pipeline.priced import priced_train

    res = priced_train(model, gpu, gpus, tokens, seq_len=seq_len,
                       global_batch_tokens=global_batch_tokens, dtype=dtype, mode=mode,
                       layout=layout, failures=not no_failures,
                       rent_usd_per_gpu_hour=rent_usd_per_gpu_hour,
                       own_usd_per_gpu_hour=own_usd_per_gpu_hour,
                       catalog=load_overlaid_catalog(catalog),
                       batch_ramp=parse_ramp(batch_ramp) if batch_ramp else None,
                       phases=load_phases(phases) if phases else None, framework=framework)
    output(res, as_json, "train_report")


@handle_errors
def serve_cmd(
    model: ModelArg,
    gpu: GpuOpt,
    quant: Annotated[str, typer.Option(
        help="Weights: bf16 | fp16 | fp8 | int8 | int4 | fp4 | auto (search).")] = "bf16",
    kv_dtype: Annotated[str | None, typer.Option("--kv-dtype", help="bf16|fp16|fp8|int8")] = None,
    input_tokens: Annotated[int, typer.Option("--input-tokens", help="Mean prompt tokens.")] = 1024,
    output_tokens: Annotated[int, typer.Option(
        "--output-tokens", help="Mean output tokens.")] = 256,
    rate: Annotated[float | None, typer.Option("--rate", help="Requests per second.")] = None,
    tokens_per_day: Annotated[float | None, typer.Option(
        "--tokens-per-day", help="Output tokens per day (instead of --rate).")] = None,
    ttft_ms: Annotated[float | None, typer.Option("--ttft-ms", help="p99 TTFT target.")] = None,
    tpot_ms: Annotated[float | None, typer.Option("--tpot-ms", help="p99 TPOT target.")] = None,
    tp: Annotated[int | None, typer.Option("--tp", help="Pin tensor parallelism.")] = None,
    pp: Annotated[int | None, typer.Option("--pp", help="Pin pipeline parallelism.")] = None,
    ep: Annotated[int | None, typer.Option("--ep", help="Pin expert parallelism (MoE).")] = None,
    attention_dp: Annotated[int | None, typer.Option(
        "--attention-dp", help="Pin attention data parallelism (MoE).")] = None,
    max_batch: Annotated[int | None, typer.Option(
        "--max-batch", help="Engine batch cap (default the engine's: trtllm 2048, vllm 256).")
    ] = None,
    headroom: Annotated[float, typer.Option(help="Spare capacity, 0.2 = 20 %.")] = 0.2,
    speculative_acceptance: Annotated[float | None, typer.Option(
        "--speculative-acceptance", help="Draft-token acceptance rate (0-1).")] = None,
    draft_tokens: Annotated[int, typer.Option("--draft-tokens")] = 4,
    scenario: Annotated[str, typer.Option(
        "--scenario", help="offline (all requests queued) | server (Poisson arrivals, p99 "
        "targets).")] = "offline",
    engine: Annotated[str | None, typer.Option(
        "--engine", help="trtllm | vllm | sglang (default: trtllm on NVIDIA, else vllm).")] = None,
    attention_dtype: Annotated[str | None, typer.Option(
        "--attention-dtype", help="bf16 (default) | fp8: attention cores in FP8 "
        "(TensorRT-LLM's FP8 context FMHA; needs FP8 tensor cores).")] = None,
    max_num_tokens: Annotated[int | None, typer.Option(
        "--max-num-tokens", help="Engine token budget per iteration (default 8192).")] = None,
    kv_memory_fraction: Annotated[float | None, typer.Option(
        "--kv-memory-fraction", help="Share of the memory left after weights and workspace "
        "the KV pool takes (default 0.90).")] = None,
    draft_model: Annotated[str | None, typer.Option(
        "--draft-model", help="Speculative draft model (default: smallest catalog model with "
        "the same vocabulary).")] = None,
    best_effort: Annotated[bool, typer.Option(
        "--best-effort", help="When no shape meets --ttft-ms/--tpot-ms, show the closest one "
        "instead of exiting with the nearest feasible targets.")] = False,
    rent_usd_per_gpu_hour: RentOpt = None,
    own_usd_per_gpu_hour: OwnOpt = None,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Serving capacity under latency SLOs: replica shape, throughput, replicas and GPUs."""
    from gpuplan.pipeline.priced import priced_serve

    res = priced_serve(model, gpu, quant=quant, kv_dtype=kv_dtype, input_tokens=input_tokens,
                       output_tokens=output_tokens, rate=rate, tokens_per_day=tokens_per_day,
                       ttft_ms=ttft_ms, tpot_ms=tpot_ms, tp=tp, pp=pp, max_batch=max_batch,
                       headroom=headroom, speculative_acceptance=speculative_acceptance,
                       draft_tokens=draft_tokens, rent_usd_per_gpu_hour=rent_usd_per_gpu_hour,
                       own_usd_per_gpu_hour=own_usd_per_gpu_hour,
                       catalog=load_overlaid_catalog(catalog), scenario=scenario,
                       engine=engine, draft_model=draft_model, require_slo=not best_effort,
                       ep=ep, attention_dp=attention_dp, attention_dtype=attention_dtype,
                       max_num_tokens=max_num_tokens, kv_memory_fraction=kv_memory_fraction)
    output(res, as_json, "serve_report")


@handle_errors
def recsys_cmd(
    spec: Annotated[Path, typer.Argument(help="Recommender model spec (YAML), e.g. "
                                              "examples/recsys/dlrm-dcnv2.yaml.")],
    gpu: GpuOpt,
    gpus: Annotated[int | None, typer.Option("--gpus", help="GPUs for training.")] = None,
    global_batch: Annotated[int, typer.Option("--global-batch", help="Samples per step.")] = 55296,
    qps: Annotated[float | None, typer.Option("--qps", help="Serving queries per second.")] = None,
    p99_ms: Annotated[float | None, typer.Option("--p99-ms", help="Serving p99 target.")] = None,
    days_of_data: Annotated[float | None, typer.Option(
        "--days-of-data", help="Days of data per retraining cycle.")] = None,
    samples_per_day: Annotated[float | None, typer.Option(
        "--samples-per-day", help="Training samples per day of data.")] = None,
    items_per_query: Annotated[float | None, typer.Option(
        "--items-per-query", help="Candidates scored per query.")] = None,
    headroom: Annotated[float, typer.Option(help="Spare serving capacity.")] = 0.2,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Recommender (DLRM-style) memory placement, sharding, training, retraining and serving."""
    from gpuplan.demand.recsys import plan_recsys

    res = plan_recsys(str(spec), gpu, gpus=gpus, global_batch=global_batch, qps=qps,
                      p99_ms=p99_ms, days_of_data=days_of_data, samples_per_day=samples_per_day,
                      items_per_query=items_per_query, headroom=headroom,
                      catalog=load_overlaid_catalog(catalog))
    output(res, as_json, "recsys_report")


def register(app: typer.Typer) -> None:
    """Add the demand commands to ``app``."""
    app.command("fit")(fit_cmd)
    app.command("train")(train_cmd)
    app.command("serve")(serve_cmd)
    app.command("recsys")(recsys_cmd)
