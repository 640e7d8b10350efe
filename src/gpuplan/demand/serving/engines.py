"""Serving engines: how TensorRT-LLM, vLLM and SGLang admit sequences and spend an iteration.

Two engine behaviours move the serving figures and differ between engines:

* *KV admission.* TensorRT-LLM's default capacity scheduler, ``GUARANTEED_NO_EVICT``, admits a
  request only when the KV blocks for its whole prompt + requested output are free, so a replica
  holds ``budget / (I + O)`` sequences [1]_. vLLM and SGLang admit on the blocks a sequence holds
  now and pre-empt when the cache fills [2]_, so they hold about ``budget / (I + O/2)`` (each
  running sequence sits at its mean context).
* *Fixed time per scheduler iteration* (scheduling, sampling, host sync, Python), fitted per
  engine on that engine's published throughput cases (``calibration.yaml``).

The attention cores run in bf16 (FlashAttention-style kernels) unless the deployment turns on
FP8 attention (:func:`attention_dtype`): TensorRT-LLM's FP8 context FMHA, which its benchmark
builder enables for FP8 engines of the TensorRT flow [5]_.

References
----------
.. [1] NVIDIA TensorRT-LLM docs, "Useful Runtime Options" (performance tuning guide), Capacity
   Scheduler Policy: ``GUARANTEED_NO_EVICT`` (default) guarantees a started request is never
   paused; ``MAX_UTILIZATION`` packs more at the risk of pausing.
.. [2] Kwon et al. 2023, "Efficient Memory Management for LLM Serving with PagedAttention", SOSP,
   Sec. 4.5: blocks are allocated on demand; when the cache is full, sequences are pre-empted.
.. [3] NVIDIA TensorRT-LLM docs, "TensorRT-LLM Benchmarking" (trtllm-bench): max_batch_size
   defaults to 2048 when not tuned.
.. [4] vLLM docs, Engine Arguments: ``--max-num-seqs`` (maximum number of sequences per
   iteration), default 256.
.. [5] NVIDIA/TensorRT-LLM ``tensorrt_llm/bench/build/build.py`` (trtllm-bench build): "If the
   quantization is FP8, force the KV cache dtype to FP8" and ``use_fp8_context_fmha = True if
   quant_algo == QuantAlgo.FP8``; docs "GPT Attention", FP8 Context FMHA ("recommend enabling
   this when fp8 quantization is used to improve the context phase attention performance").
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuplan.catalog.schema import Accelerator
from gpuplan.checks import check_choice
from gpuplan.errors import UserError


@dataclass(frozen=True)
class EngineProfile:
    """What the planner needs of one serving engine.

    Attributes
    ----------
    name : str
        ``trtllm``, ``vllm`` or ``sglang``.
    reserves_completion : bool
        KV is reserved for prompt + full output at admission (else for the current context).
    title : str
        Human name for notes.
    max_batch : int
        The engine's default cap on concurrent sequences [sequences].
    """

    name: str
    reserves_completion: bool
    title: str
    max_batch: int


#: Default caps on concurrent sequences: trtllm-bench's max_batch_size (2048) [3]_ and vLLM's
#: max_num_seqs (256) [4]_; SGLang sizes its running batch from the KV pool, so it takes the
#: planner's largest batch.
TRTLLM_MAX_BATCH = 2048
VLLM_MAX_NUM_SEQS = 256
SGLANG_MAX_BATCH = 2048
#: The engines the planner models [1]_ [2]_.
ENGINES: dict[str, EngineProfile] = {
    "trtllm": EngineProfile("trtllm", reserves_completion=True, title="TensorRT-LLM",
                            max_batch=TRTLLM_MAX_BATCH),
    "vllm": EngineProfile("vllm", reserves_completion=False, title="vLLM",
                          max_batch=VLLM_MAX_NUM_SEQS),
    "sglang": EngineProfile("sglang", reserves_completion=False, title="SGLang",
                            max_batch=SGLANG_MAX_BATCH),
}
#: Default engine per accelerator vendor: NVIDIA publishes with TensorRT-LLM, AMD with vLLM on
#: ROCm; any other vendor defaults to vLLM, the engine most accelerators support.
DEFAULT_ENGINE_BY_VENDOR = {"NVIDIA": "trtllm", "AMD": "vllm"}
FALLBACK_ENGINE = "vllm"


def engine_for(acc: Accelerator, engine: str | None) -> EngineProfile:
    """The engine asked for, or the accelerator vendor's default one.

    Parameters
    ----------
    acc : Accelerator
        The accelerator (its ``vendor`` picks the default).
    engine : str or None
        ``trtllm``, ``vllm``, ``sglang``; None for the vendor's default.

    Raises
    ------
    UserError
        ``engine`` is not one of :data:`ENGINES` (the message lists them), or TensorRT-LLM is
        asked for on a non-NVIDIA accelerator.
    """
    if engine is None:
        return ENGINES[DEFAULT_ENGINE_BY_VENDOR.get(acc.vendor, FALLBACK_ENGINE)]
    check_choice("engine", engine, tuple(ENGINES))
    if engine == "trtllm" and acc.vendor != "NVIDIA":
        raise UserError(f"engine trtllm runs on NVIDIA GPUs only, not {acc.id} ({acc.vendor}); "
                        "try --engine vllm", field="engine")
    return ENGINES[engine]


def kv_reserved_tokens(engine: EngineProfile, input_tokens: float, output_tokens: float
                       ) -> float:
    """KV tokens the engine holds per admitted sequence for capacity [tokens].

    Notes
    -----
    ``I + O`` when the engine reserves the completion at admission [1]_, else the mean
    context ``I + O/2`` of a running sequence [2]_.
    """
    if engine.reserves_completion:
        return float(input_tokens + output_tokens)
    return float(input_tokens + output_tokens / 2)


#: Dtypes the attention cores can run in [—].
ATTENTION_DTYPES = ("bf16", "fp8")


def attention_dtype(requested: str | None, acc: Accelerator) -> str:
    """The dtype the attention cores run in [—]: bf16 unless FP8 attention is asked for [5]_.

    Raises
    ------
    UserError
        An unknown dtype, or fp8 on a chip without FP8 tensor cores.
    """
    if requested is None:
        return "bf16"
    check_choice("attention_dtype", requested, ATTENTION_DTYPES)
    if requested == "fp8" and "fp8" not in acc.peak_flops_per_s:
        raise UserError(f"attention_dtype fp8 needs FP8 tensor cores, which {acc.id} lacks; "
                        f"use bf16", field="attention_dtype")
    return requested
