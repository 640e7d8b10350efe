"""Accelerator memory for inference, training, full fine-tuning, LoRA and QLoRA.

Pure functions of an :class:`~gpuplan.demand.arch.Arch` and a layout given as numpy arrays (one
element per candidate layout), so that a layout search evaluates every candidate in one call.

Layout keys (integer arrays that broadcast together): ``tp`` tensor parallel, ``pp`` pipeline
stages, ``dp`` data parallel, ``cp`` context parallel, ``ep`` expert parallel, ``mb`` micro-batch
[sequences], ``vpp`` virtual stages per pipeline rank, ``recompute`` (0 none, 1 selective, 2 full),
``zero`` (ZeRO stage 0-3; 3 = FSDP), ``sp`` sequence parallel (0/1), ``microbatches`` in the
global batch per data-parallel rank.

References
----------
.. [1] Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter
   Models", SC20, Section 3.1 (mixed-precision Adam: 2Ψ + 2Ψ + 12Ψ bytes) and Figure 1
   (7.5B parameters, N_d = 64: 120 GB → 31.4 / 16.6 / 1.9 GB per GPU for stages 1/2/3).
.. [2] Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
   arXiv 2205.05198, Section 4 (per-layer activations ``s·b·h·(34 + 5·a·s/h)`` bytes; Table 2:
   tensor-, sequence-parallel and selective-recompute variants; Section 4.2.3 pipeline memory).
.. [3] Dao et al. 2022, "FlashAttention", arXiv 2205.14135 (no s² attention matrix is stored;
   only the softmax log-sum-exp per row).
.. [4] Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", arXiv 2106.09685.
.. [5] Dettmers et al. 2023, "QLoRA: Efficient Finetuning of Quantized LLMs", arXiv 2305.14314,
   Section 3 (NF4 with double quantization: 4 + 0.127 bits per parameter).
.. [6] Kwon et al. 2023, "Efficient Memory Management for LLM Serving with PagedAttention",
   SOSP (KV cache of OPT-13B: 800 KB per token).
.. [7] Frantar et al. 2023 "GPTQ" / Lin et al. 2024 "AWQ": 4-bit weights with one fp16 scale
   and zero point per group of 128.
.. [8] Llama Team 2024, "The Llama 3 Herd of Models", arXiv 2407.21783, Section 3.3.2
   (pipeline: "the first model chunk on the first stage has only the embedding, and the last
   model chunk on the last stage has only output projection and loss calculation"; interleaved
   with V stages per rank; 8K sequences trained without activation checkpointing).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from gpuplan.demand.arch import Arch, attention_span, kv_elements_per_token_per_layer, param_counts

BITS_PER_BYTE = 8

#: Storage per element of a tensor dtype [bytes].
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5,
    "fp4": 0.5, "nf4": 0.5,
}
#: Weight formats accepted for inference and what each costs per quantised parameter [bits].
#: int4: a 16-bit scale and a 16-bit zero point per group of 128 weights [7]_ → 4 + 32/128.
#: nf4 (QLoRA): 4 bits + 0.127 bits of double-quantised constants [5]_.
#: fp4 (NVFP4): 4 bits + one fp8 scale per 16 values → 4 + 8/16.
INT4_GROUP_SIZE = 128
NVFP4_BLOCK = 16
WEIGHT_FORMAT_BITS: dict[str, float] = {
    "fp32": 32.0, "bf16": 16.0, "fp16": 16.0, "fp8": 8.0, "int8": 8.0,
    "int4": 4.0 + 2 * 16 / INT4_GROUP_SIZE, "fp4": 4.0 + 8 / NVFP4_BLOCK, "nf4": 4.127,
}
#: Embeddings, the LM head and norms stay in 16-bit in weight-quantised checkpoints (AWQ, GPTQ,
#: TensorRT-LLM FP8 recipes keep lm_head unquantised).
UNQUANTIZED_BITS = 16.0

#: Mixed-precision Adam [1]_: bf16 weights, bf16 gradients, fp32 master + momentum + variance.
TRAIN_WEIGHT_BYTES = 2.0
TRAIN_GRAD_BYTES = 2.0
TRAIN_OPTIMIZER_BYTES = 12.0
#: Frozen base weights of LoRA in bf16 [4]_.
LORA_BASE_BYTES = 2.0
#: QLoRA adapters [5]_ (Section 3 and its reference code): bf16 adapter weights and gradients,
#: paged 32-bit AdamW states (momentum + variance), no separate fp32 master copy.
QLORA_ADAPTER_WEIGHT_BYTES = 2.0
QLORA_ADAPTER_GRAD_BYTES = 2.0
QLORA_ADAPTER_OPTIMIZER_BYTES = 8.0
#: LoRA rank used when none is given (QLoRA paper's r = 64 on all linear layers [5]_ Section 4).
DEFAULT_LORA_RANK = 64
#: Activations are kept in bf16; masks in 1 byte; logits for the loss in fp32 [2]_.
ACT_BYTES = 2.0
MASK_BYTES = 1.0
LOGIT_BYTES = 4.0
#: Softmax statistics stored by FlashAttention per row and head [bytes] (fp32 log-sum-exp) [3]_.
FLASH_LSE_BYTES = 4.0
#: Memory the runtime takes before any tensor: CUDA context, cuBLAS/cuDNN workspaces, NCCL
#: buffers [bytes]. Judgement from PyTorch on H100 (context ≈ 0.5 GiB) plus NCCL buffers;
#: compare the device measurements in validation/device_h100.yaml.
RUNTIME_RESERVED_BYTES = 1.0 * 2**30
#: Caching-allocator fragmentation at capacity as a fraction of activation / KV / workspace
#: memory: what PyTorch's allocator held reserved but could not use when our H100 ran out of
#: memory (validation/device_h100.yaml, GPT-2 1.3B, seq 2,048, micro-batch 16: 2.52 GiB
#: "reserved by PyTorch but unallocated" beside 74.71 GiB allocated, after the allocator had
#: freed its cached blocks and retried), over gpuplan's 57.50 GiB of activations for that
#: shape (the loss's logits included). Below capacity the allocator also caches free blocks
#: (reserved/allocated − 1 of 3–26 % in the same file's successful steps), which a fit does not
#: need. Replaces the judgement 0.10 (2026-12-04); tests/test_memory.py recomputes it.
ALLOCATOR_FRAGMENTATION = 0.044
#: Tokens one forward pass of an inference engine processes at most (vLLM's default
#: max_num_batched_tokens with chunked prefill).
DEFAULT_PREFILL_CHUNK_TOKENS = 8192

#: MLP tensors kept for the backward, in units of s·b·f elements [2]_: a plain GeLU MLP keeps
#: the GeLU input and output (2); a gated (SwiGLU) MLP keeps the fc1 output (gate and up, 2f)
#: and the fc2 input (f), 3 in all, as Megatron-Core's fused bias-SwiGLU saves only its input
#: and recomputes the activation in the backward (megatron/core/fusions/fused_bias_swiglu.py).
PLAIN_MLP_STORED_WIDTHS = 2
GATED_MLP_STORED_WIDTHS = 3
RECOMPUTE_CODES = {"none": 0, "selective": 1, "full": 2}
#: Recompute codes from which the attention core (selective) or the whole forward (full) reruns.
SELECTIVE_RECOMPUTE = RECOMPUTE_CODES["selective"]
FULL_RECOMPUTE = RECOMPUTE_CODES["full"]
#: Model chunks of an interleaved pipeline that hold no transformer layer in Llama 3's
#: arrangement [8]_: the embedding alone on the first rank's first chunk, the output head and
#: loss alone on the last rank's last chunk. A pipeline of ``pp·vpp = L + e`` chunks
#: (``e`` = 1 or 2) is this arrangement with one layer in every other chunk.
EMBEDDING_AND_HEAD_CHUNKS = 2
#: ZeRO stages from which optimizer state, gradients and parameters are sharded over DP [1]_.
ZERO_SHARDS_OPTIMIZER = 1
ZERO_SHARDS_GRADIENTS = 2
ZERO_SHARDS_PARAMETERS = 3
#: Training modes (full pre-training and fine-tuning share the engine; LoRA/QLoRA freeze the
#: base), the matmul dtypes training runs in, and the KV-cache dtypes of inference.
TRAIN_MODES = ("train", "finetune", "lora", "qlora")
TRAIN_DTYPES = ("bf16", "fp16", "fp8")
KV_DTYPES = ("bf16", "fp16", "fp8", "int8")


@dataclass(frozen=True)
class MemoryBreakdown:
    """Per-accelerator memory [bytes], one element per candidate layout."""

    weights: np.ndarray
    gradients: np.ndarray
    optimizer: np.ndarray
    activations: np.ndarray
    kv_cache: np.ndarray
    overhead: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return (self.weights + self.gradients + self.optimizer + self.activations
                + self.kv_cache + self.overhead)

    def at(self, i: int | tuple[()] = ()) -> dict[str, int]:
        """The breakdown of one candidate as whole bytes (for JSON)."""
        out = {}
        for k in ("weights", "gradients", "optimizer", "activations", "kv_cache", "overhead"):
            out[k] = int(round(float(np.asarray(getattr(self, k))[i] if np.ndim(getattr(self, k))
                                     else getattr(self, k))))
        out["total"] = sum(out.values())
        return out


def _a(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


# ----------------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------------


def weight_bytes(arch: Arch, weight_format: str) -> float:
    """Bytes of all weights in ``weight_format`` (linear layers quantised, the rest 16-bit).

    Notes
    -----
    ``(N − N_emb − N_head − N_norm)·bits_q/8 + (N_emb + N_head + N_norm)·16/8``.
    """
    pc = param_counts(arch)
    rest = pc.embedding + pc.lm_head + pc.norms
    q_bits = WEIGHT_FORMAT_BITS[weight_format]
    rest_bits = max(q_bits, UNQUANTIZED_BITS)
    return ((pc.total - rest) * q_bits + rest * rest_bits) / BITS_PER_BYTE


def kv_shards(arch: Arch, tp: ArrayLike) -> np.ndarray:
    """How many ways the KV cache of a layer splits over ``tp`` ranks.

    Standard attention splits KV heads over TP and replicates them when ``tp > k``
    (``min(tp, k)``); MLA's latent cache is shared by all heads and replicated on every rank.
    """
    tp = _a(tp)
    if arch.is_mla:
        return np.ones_like(tp)
    return np.minimum(tp, arch.num_kv_heads)


def inference_memory(arch: Arch, *, weight_format: str, kv_dtype: str, batch: ArrayLike,
                     context_tokens: ArrayLike, tp: ArrayLike = 1, pp: ArrayLike = 1,
                     prefill_chunk_tokens: float = DEFAULT_PREFILL_CHUNK_TOKENS
                     ) -> MemoryBreakdown:
    """Per-accelerator memory to serve ``batch`` sequences of ``context_tokens`` tokens.

    Parameters
    ----------
    arch : Arch
    weight_format : str
        One of :data:`WEIGHT_FORMAT_BITS` (bf16, fp16, fp8, int8, int4, fp4, nf4).
    kv_dtype : str
        KV-cache element dtype (bf16, fp16, fp8, int8).
    batch : array_like
        Concurrent sequences [sequences].
    context_tokens : array_like
        Context length per sequence, prompt + output [tokens].
    tp, pp : array_like
        Tensor-parallel and pipeline-parallel degree.
    prefill_chunk_tokens : float
        Tokens in the largest forward pass [tokens].

    Notes
    -----
    weights = W / (tp·pp); KV = batch · Σ_l min(T, w_l)·e·bytes / (shards(tp)·pp) [6]_;
    workspace = chunk · (2h + 2·f·m/tp) · 2 bytes + batch·V·4/tp for the logits;
    overhead = runtime reserve + fragmentation × (KV + workspace).
    """
    tp, pp, batch = _a(tp), _a(pp), _a(batch)
    w = weight_bytes(arch, weight_format) / (tp * pp)
    kv = batch * attention_span(arch, context_tokens) * kv_elements_per_token_per_layer(arch) \
        * DTYPE_BYTES[kv_dtype] / (kv_shards(arch, tp) * pp)
    f_local = max(arch.intermediate_size,
                  arch.moe_intermediate_size * max(arch.experts_per_token, 1))
    mlp_width = (3 if arch.gated_mlp else 2) * f_local
    tokens = np.minimum(prefill_chunk_tokens, batch * _a(context_tokens))
    work = tokens * (2 * arch.hidden_size + mlp_width / tp) * ACT_BYTES \
        + batch * arch.vocab_size * LOGIT_BYTES / tp
    zero = np.zeros(np.broadcast(w, kv, work).shape)
    over = RUNTIME_RESERVED_BYTES + ALLOCATOR_FRAGMENTATION * (kv + work)
    return MemoryBreakdown(weights=w + zero, gradients=zero, optimizer=zero,
                           activations=work + zero, kv_cache=kv + zero, overhead=over + zero)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def lora_params(arch: Arch, rank: int) -> int:
    """Trainable LoRA parameters with adapters on every attention and dense/shared MLP linear.

    Notes
    -----
    An adapter on a ``d_in × d_out`` matrix adds ``r·(d_in + d_out)`` parameters [4]_. Routed
    experts get no adapter (the usual MoE recipe).
    """
    h, a, k, d = arch.hidden_size, arch.num_heads, arch.num_kv_heads, arch.head_dim
    if arch.is_mla:
        attn = rank * (h + a * d) + rank * (h + arch.kv_lora_rank + arch.qk_rope_head_dim) \
            + rank * (a * arch.v_head_dim + h)
    else:
        attn = rank * (h + a * d) + 2 * rank * (h + k * d) + rank * (a * d + h)
    m = 3 if arch.gated_mlp else 2
    dense_layers = arch.num_layers - arch.num_moe_layers
    mlp = dense_layers * m * rank * (h + arch.intermediate_size)
    shared = arch.num_moe_layers * arch.num_shared_experts * m * rank * (
        h + arch.shared_intermediate_size)
    return arch.num_layers * attn + mlp + shared


def activation_bytes_per_layer(arch: Arch, *, seq_len: ArrayLike, mb: ArrayLike, tp: ArrayLike = 1,
                               cp: ArrayLike = 1, sp: ArrayLike = 1, recompute: ArrayLike = 0,
                               flash: bool = True, dropout: bool = False, moe_layer: bool = False
                               ) -> np.ndarray:
    """Activation memory of one transformer layer for one micro-batch [bytes].

    Parameters
    ----------
    seq_len : array_like
        Sequence length [tokens]; each context-parallel rank holds ``seq_len / cp``.
    mb : array_like
        Micro-batch size [sequences].
    tp, cp : array_like
        Tensor- and context-parallel degree.
    sp : array_like
        1 if sequence parallelism splits the norm/dropout regions over TP.
    recompute : array_like
        0 none, 1 selective (attention core recomputed), 2 full (only the layer input kept).
    flash : bool
        FlashAttention: no s² score matrix stored [3]_.
    dropout : bool
        Dropout masks stored (GPT-3-era training; 0 for Llama-style recipes).
    moe_layer : bool
        Use the MoE block (top-k routed experts plus shared experts) instead of the dense MLP.

    Notes
    -----
    Korthikanti et al. [2]_ (Section 4.1), generalised to GQA, gated MLPs and MoE:

    * replicated over TP unless sequence-parallel: the two norm inputs ``4sbh``, the QKV and MLP
      inputs ``4sbh``, and with dropout two masks ``2sbh`` (= their ``10sbh``);
    * split over TP: Q ``2sb·a·d``, K and V ``4sb·k·d``, the output-projection input ``2sb·a·d_v``,
      the MLP (``4sbf`` plain: GeLU input and output; ``6sbf`` gated: fc1 output and fc2
      input, the fused SwiGLU recomputing its activation), and without FlashAttention
      the scores ``2as²b`` (+ ``3as²b`` with attention dropout) (= their ``24sbh + 5as²b`` for MHA,
      f = 4h, dropout);
    * selective recompute drops the ``as²`` terms; full recompute keeps ``2sbh`` per layer.

    With ``f = 4h``, MHA and dropout this is exactly ``sbh(34 + 5as/h)`` at ``t = 1`` and Table 2's
    ``sbh(10 + 24/t + 5as/(ht))`` and ``sbh/t·(34 + 5as/h)`` for TP and TP+SP.
    """
    s = _a(seq_len) / _a(cp)
    b, t = _a(mb), _a(tp)
    sp, rc = _a(sp), _a(recompute)
    h, a, k, d, dv = arch.hidden_size, arch.num_heads, arch.num_kv_heads, arch.head_dim, \
        arch.v_head_dim
    sb = s * b
    rep = (8 * ACT_BYTES / 2) * sb * h + (2 * MASK_BYTES * sb * h if dropout else 0.0)
    if arch.is_mla:
        rep = rep + ACT_BYTES * sb * (arch.q_lora_rank + arch.kv_lora_rank + arch.qk_rope_head_dim)
    attn = ACT_BYTES * sb * (a * d + 2 * k * d + a * dv) if not arch.is_mla else \
        ACT_BYTES * sb * (2 * a * d + 2 * a * dv)
    per_f = (GATED_MLP_STORED_WIDTHS if arch.gated_mlp else PLAIN_MLP_STORED_WIDTHS) * ACT_BYTES
    if moe_layer:
        mlp = per_f * sb * (arch.experts_per_token * arch.moe_intermediate_size
                            + arch.num_shared_experts * arch.shared_intermediate_size)
        mlp = mlp + LOGIT_BYTES * sb * arch.num_experts  # router logits, fp32
    else:
        mlp = per_f * sb * arch.intermediate_size
    if flash:
        scores = FLASH_LSE_BYTES * a * sb * np.ones_like(rc)
    else:
        per_score = ACT_BYTES + ((MASK_BYTES + ACT_BYTES) if dropout else 0.0)
        scores = np.where(rc >= SELECTIVE_RECOMPUTE, FLASH_LSE_BYTES * a * sb,
                          per_score * a * s * sb)
    split = (attn + mlp + scores) / t
    rep_local = np.where(sp > 0, rep / t, rep)
    kept = rep_local + split
    full = ACT_BYTES * sb * h / np.where(sp > 0, t, 1.0)
    return np.where(rc >= FULL_RECOMPUTE, full, kept)


def _layers_per_stage(arch: Arch, pp: ArrayLike) -> np.ndarray:
    return np.ceil(arch.num_layers / _a(pp))


def max_pipeline_chunks(num_layers: int) -> int:
    """Most model chunks ``pp·vpp`` a pipeline of ``num_layers`` layers may have [chunks].

    ``L + EMBEDDING_AND_HEAD_CHUNKS``: Llama 3's arrangement [8]_ gives the embedding and the
    output head a chunk each (Llama 3 405B: 126 layers, pp = 16, vpp = 8, 128 chunks).
    """
    return num_layers + EMBEDDING_AND_HEAD_CHUNKS


def _forwards_of_chunk(in_flight: np.ndarray, pp: np.ndarray, vpp: np.ndarray,
                       chunk: np.ndarray) -> np.ndarray:
    """How many of a rank's first ``in_flight`` forwards run model chunk ``chunk`` [1].

    Notes
    -----
    Megatron-LM's interleaved schedule runs forwards in groups of ``p`` micro-batches per
    chunk, cycling over the ``v`` chunks: forward ``k`` runs chunk ``(k // p) mod v``. Of the
    first ``W`` forwards, with ``W = q·p·v + r``, chunk ``c`` runs ``q·p + clip(r − c·p, 0, p)``.
    """
    q, r = np.divmod(in_flight, pp * vpp)
    return q * pp + np.clip(r - chunk * pp, 0, pp)


def _chunks_in_flight(pp: np.ndarray, vpp: np.ndarray, m: np.ndarray, rank: np.ndarray
                      ) -> np.ndarray:
    """Micro-batch × model-chunk activations a pipeline rank holds at its peak.

    Notes
    -----
    1F1B: rank ``r`` of ``p`` runs ``p − r − 1`` warm-up forwards before its first backward,
    so it holds ``p − r`` micro-batches [2]_ (Section 4.2.3). Interleaved (``v`` chunks per
    rank): ``2(p − r − 1) + (v − 1)·p + 1`` chunk forwards (Megatron-LM's
    ``get_num_warmup_microbatches`` + 1), i.e. for ``r = 0`` the factor ``1 + (p−1)/(p·v)``
    of [2]_. Never more than the ``m·v`` chunk forwards of the step.
    """
    one_f_one_b = pp - rank
    interleaved = 2 * (pp - rank - 1) + (vpp - 1) * pp + 1
    return np.minimum(np.where(vpp > 1, interleaved, one_f_one_b), m * vpp)


def training_activation_bytes(arch: Arch, *, seq_len: ArrayLike, mb: ArrayLike, tp: ArrayLike = 1,
                              pp: ArrayLike = 1, cp: ArrayLike = 1, sp: ArrayLike = 1,
                              recompute: ArrayLike = 0, vpp: ArrayLike = 1,
                              microbatches: ArrayLike | None = None, flash: bool = True,
                              dropout: bool = False) -> np.ndarray:
    """Peak activation memory on the busiest pipeline rank [bytes].

    Notes
    -----
    Each rank holds :func:`_chunks_in_flight` chunks of ``L/(p·v)`` layers' activations. With
    ``L`` not a multiple of ``p`` the stages are uneven and, as Llama 3 did (Llama Team 2024,
    Section 3.3.2: one layer fewer on the first and last stages), the layers short of an even
    split come off the first stage and then the last, so the first rank (most in flight) holds
    ``ceil(L/p) − 1`` layers and the second ``ceil(L/p)``; the peak is the largest of the first
    rank (plus the embedding output ``2sbh/t``), the second, and the last (plus the loss's fp32
    logits ``4sbV/t``, the bf16 lm-head output ``2sbV/t`` they are upcast from, and the
    final-norm input; our H100 step that ran out of memory failed allocating exactly that
    ``2sbV``, validation/device_h100.yaml). With ``pp·vpp = L + e`` chunks (``e`` = 1, 2) the
    pipeline is Llama 3's [8]_: one layer per chunk, the first rank's first chunk only the
    embedding (and, for ``e = 2``, the last rank's last chunk only the head), so the forwards of
    those chunks in flight (:func:`_forwards_of_chunk`) hold no layer activations. Full
    recompute adds one layer's full activations as the backward working set. With one stage
    everything is on the same rank.
    """
    pp, vpp = _a(pp), _a(vpp)
    m = pp if microbatches is None else _a(microbatches)
    per_layer = functools.partial(activation_bytes_per_layer, arch, seq_len=seq_len, mb=mb,
                                  tp=tp, cp=cp, sp=sp, flash=flash, dropout=dropout)
    frac_moe = arch.num_moe_layers / arch.num_layers
    layer = per_layer(recompute=recompute)
    if arch.is_moe:
        layer_moe = per_layer(recompute=recompute, moe_layer=True)
        layer = (1 - frac_moe) * layer + frac_moe * layer_moe
        work_moe = per_layer(recompute=0, moe_layer=True)
    else:
        work_moe = per_layer(recompute=0)
    lps = _layers_per_stage(arch, pp)
    short = pp * lps - arch.num_layers  # layers short of an even split
    first_layers = np.where(short >= 1, lps - 1, lps)
    last_layers = np.where(short >= 2, lps - 1, lps)
    working = np.where(_a(recompute) >= FULL_RECOMPUTE, work_moe, 0.0)
    s = _a(seq_len) / _a(cp)
    sb = s * _a(mb)
    t = _a(tp)
    emb = ACT_BYTES * sb * arch.hidden_size / np.where(_a(sp) > 0, t, 1.0)
    # the loss holds the fp32 logits beside the bf16 lm-head output they are upcast from
    logits = (LOGIT_BYTES + ACT_BYTES) * sb * arch.vocab_size / t \
        + ACT_BYTES * sb * arch.hidden_size
    zero = np.zeros_like(pp)
    w_first = _chunks_in_flight(pp, vpp, m, zero)
    w_second = _chunks_in_flight(pp, vpp, m, np.minimum(zero + 1, pp - 1))
    w_last = _chunks_in_flight(pp, vpp, m, pp - 1)
    first_held = first_layers * w_first / vpp
    second_held = lps * w_second / vpp
    last_held = last_layers * w_last / vpp
    # Llama 3's arrangement (pp·vpp > L): one layer per chunk, the first rank's chunk 0 and, with
    # two spare chunks, the last rank's last chunk empty; count the forwards of those exactly
    spare = pp * vpp - arch.num_layers
    llama = (vpp > 1) & (spare >= 1)
    first_held = np.where(llama, w_first - _forwards_of_chunk(w_first, pp, vpp, zero),
                          first_held)
    second_held = np.where(llama, w_second, second_held)
    last_held = np.where(llama, w_last - np.where(
        spare >= EMBEDDING_AND_HEAD_CHUNKS, _forwards_of_chunk(w_last, pp, vpp, vpp - 1), 0),
        last_held)
    first = layer * first_held + working + emb
    second = layer * second_held + working
    last = layer * last_held + working + logits
    single = layer * lps + working + emb + logits
    return np.where(pp > 1, np.maximum(np.maximum(first, second), last), single)


def training_memory(arch: Arch, *, mode: str = "train", seq_len: ArrayLike, mb: ArrayLike = 1,
                    tp: ArrayLike = 1, pp: ArrayLike = 1, dp: ArrayLike = 1, cp: ArrayLike = 1,
                    ep: ArrayLike = 1, zero: ArrayLike = 0, recompute: ArrayLike = 0,
                    sp: ArrayLike | None = None, vpp: ArrayLike = 1,
                    microbatches: ArrayLike | None = None, lora_rank: int = DEFAULT_LORA_RANK,
                    flash: bool = True, dropout: bool = False) -> MemoryBreakdown:
    """Per-accelerator memory of a training or fine-tuning job.

    Parameters
    ----------
    mode : {"train", "finetune", "lora", "qlora"}
        Full training/fine-tuning use mixed-precision Adam on all weights; LoRA freezes bf16 base
        weights; QLoRA freezes NF4 base weights [5]_. Adapters train with mixed-precision Adam.
    seq_len : array_like
        Sequence length [tokens].
    mb, tp, pp, dp, cp, ep, zero, recompute, sp, vpp, microbatches : array_like
        Layout (see module docstring). ``sp`` defaults to on whenever ``tp > 1``.

    Notes
    -----
    Model states follow ZeRO [1]_: ``(2 + 2 + 12)·Ψ_local`` bytes, where
    ``Ψ_local = Ψ_dense/(t·p) + Ψ_experts/(t·p·e)``; stage ≥1 divides the optimizer, ≥2 the
    gradients and 3 the weights by the sharding group (``d·c`` for dense, ``d·c/e`` for experts).
    Activations from :func:`training_activation_bytes`; overhead is the runtime reserve plus
    allocator fragmentation on activations.
    """
    tp, pp, dp, cp, ep, zero = (_a(x) for x in (tp, pp, dp, cp, ep, zero))
    if sp is None:
        sp = (tp > 1).astype(float)
    pc = param_counts(arch)
    dense_local = pc.non_expert / (tp * pp)
    expert_local = pc.expert / (tp * pp * ep)
    shard_dense = dp * cp
    shard_expert = np.maximum(dp * cp / ep, 1.0)

    def sharded(bytes_per_param: float, stage_from: int) -> np.ndarray:
        on = zero >= stage_from
        return bytes_per_param * (dense_local / np.where(on, shard_dense, 1.0)
                                  + expert_local / np.where(on, shard_expert, 1.0))

    if mode in ("train", "finetune"):
        weights = sharded(TRAIN_WEIGHT_BYTES, ZERO_SHARDS_PARAMETERS)
        grads = sharded(TRAIN_GRAD_BYTES, ZERO_SHARDS_GRADIENTS)
        opt = sharded(TRAIN_OPTIMIZER_BYTES, ZERO_SHARDS_OPTIMIZER)
    elif mode in ("lora", "qlora"):
        if mode == "lora":
            base = pc.total * LORA_BASE_BYTES
        else:
            base = weight_bytes(arch, "nf4")
        weights_base = base / (tp * pp)
        n_adapter = lora_params(arch, lora_rank) / (tp * pp)
        shard = np.where(zero >= ZERO_SHARDS_OPTIMIZER, shard_dense, 1.0)
        wb, gb, ob = ((QLORA_ADAPTER_WEIGHT_BYTES, QLORA_ADAPTER_GRAD_BYTES,
                       QLORA_ADAPTER_OPTIMIZER_BYTES) if mode == "qlora" else
                      (TRAIN_WEIGHT_BYTES, TRAIN_GRAD_BYTES, TRAIN_OPTIMIZER_BYTES))
        weights = weights_base / np.where(zero >= ZERO_SHARDS_PARAMETERS, shard_dense, 1.0) \
            + wb * n_adapter
        grads = gb * n_adapter / np.where(zero >= ZERO_SHARDS_GRADIENTS, shard_dense, 1.0)
        opt = ob * n_adapter / shard
    else:
        raise ValueError(f"unknown training mode {mode!r}")
    act = training_activation_bytes(arch, seq_len=seq_len, mb=mb, tp=tp, pp=pp, cp=cp, sp=sp,
                                    recompute=recompute, vpp=vpp, microbatches=microbatches,
                                    flash=flash, dropout=dropout)
    over = RUNTIME_RESERVED_BYTES + ALLOCATOR_FRAGMENTATION * act
    shape = np.broadcast(weights, grads, opt, act).shape
    z = np.zeros(shape)
    return MemoryBreakdown(weights=weights + z, gradients=grads + z, optimizer=opt + z,
                           activations=act + z, kv_cache=z, overhead=over + z)
