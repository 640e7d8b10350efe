"""Replica shapes of the serving search: tensor, attention data-parallel and expert degrees.

A replica stage has ``tp·attention_dp`` GPUs: the dense part of the model (attention, dense
MLPs, embeddings) runs TP=``tp`` in ``attention_dp`` data-parallel groups, and the routed
experts are spread over ``ep`` GPUs, each expert TP-sliced ``tp·attention_dp/ep`` ways inside
its expert group. ``ep = 1, attention_dp = 1`` is a plain TP replica (experts sliced like the
dense MLPs); ``ep = tp`` is DeepSpeed-MoE's expert parallelism over the TP GPUs [1]_;
``tp = 1, attention_dp = ep`` is DeepSeek / SGLang / vLLM / TensorRT-LLM's DP-attention + EP
[2]_ [3]_. The pipeline degree multiplies the stage: a replica has ``tp·attention_dp·pp`` GPUs.

References
----------
.. [1] Rajbhandari et al. 2022, "DeepSpeed-MoE: Advancing Mixture-of-Experts Inference and
   Training", ICML: expert parallelism beside tensor parallelism for inference.
.. [2] DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", arXiv:2412.19437, §3.4: attention
   TP4 with data parallelism, experts EP32 / EP320.
.. [3] NVIDIA TensorRT-LLM v1.0, ``docs/source/performance/perf-overview.md``: MoE rows run
   ``trtllm-bench --tp 8 --ep $ep_size`` with ``enable_attention_dp: true``.
"""

from __future__ import annotations

import numpy as np

from gpuplan.checks import check_whole
from gpuplan.demand.arch import Arch, param_counts
from gpuplan.demand.layouts import Layout, check_layout, ep_options, tp_options
from gpuplan.demand.memory import (
    DEFAULT_PREFILL_CHUNK_TOKENS,
    RUNTIME_RESERVED_BYTES,
    inference_memory,
)
from gpuplan.demand.serving.inputs import MAX_PARALLEL_DEGREE
from gpuplan.errors import UserError


def check_replica_pins(arch: Arch, tp: int | None, pp: int | None, ep: int | None,
                       attention_dp: int | None) -> None:
    """Pinned degrees must be whole and fit the model.

    Parameters
    ----------
    arch : Arch
        The model.
    tp, pp, ep, attention_dp : int, optional
        Pinned tensor, pipeline, expert and attention data-parallel degrees [—].

    Raises
    ------
    UserError
        A tp / pp that breaks the model's layout, a dense model with ``ep`` or
        ``attention_dp`` > 1, an ``ep`` that does not divide the expert count, or one that
        does not divide the pinned ``tp·attention_dp``.
    """
    if tp is not None or pp is not None:
        for field, w in (("tp", tp), ("pp", pp)):
            if w is not None:
                check_whole(field, w, MAX_PARALLEL_DEGREE)
        check_layout(arch, Layout(tp=tp or 1, pp=pp or 1), field=None)
    for field, v in (("ep", ep), ("attention_dp", attention_dp)):
        if v is None:
            continue
        check_whole(field, v, MAX_PARALLEL_DEGREE)
        if v > 1 and not arch.is_moe:
            raise UserError(f"{field} {v}: {arch.name} is a dense model; expert parallelism "
                            "and attention data parallelism apply to MoE models (serve more "
                            "replicas instead)", field=field)
    if ep is not None and arch.is_moe and arch.num_experts % ep:
        raise UserError(f"ep {ep}: does not divide the {arch.num_experts} experts of "
                        f"{arch.name}", field="ep")
    if ep is not None and tp is not None and attention_dp is not None \
            and (tp * attention_dp) % ep:
        raise UserError(f"ep {ep}: does not divide tp·attention_dp = {tp * attention_dp}",
                        field="ep")


def replica_layouts(arch: Arch, domain: int, tp: int | None, ep: int | None,
                    attention_dp: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate ``(tp, attention_dp, ep)`` triples of one replica stage.

    Parameters
    ----------
    arch : Arch
        The model.
    domain : int
        Scale-up domain size [GPUs]: unpinned, a stage spans at most this many GPUs (or the
        pinned ``ep``, whichever is larger).
    tp, ep, attention_dp : int, optional
        Pins [—]; None searches that axis.

    Returns
    -------
    tuple of ndarray
        ``(T, DP, EP)``, one entry per candidate [—]. A dense model gets ``attention_dp = 1``
        and ``ep = 1`` only.

    Notes
    -----
    ``attention_dp`` takes powers of two; ``ep`` every power of two dividing both the expert
    count and ``tp·attention_dp`` (:func:`~gpuplan.demand.layouts.ep_options`). A pinned
    ``tp`` without ``attention_dp`` keeps ``attention_dp = 1``: the replica stage is the
    ``tp`` GPUs asked for.
    """
    tps = [tp] if tp else tp_options(arch, domain)
    if not arch.is_moe:
        T = np.asarray(tps, dtype=float)
        return T, np.ones_like(T), np.ones_like(T)
    span = max(domain, ep or 1)
    rows: list[tuple[int, int, int]] = []
    for t in tps:
        dps = [attention_dp] if attention_dp else [1] if tp else \
            [2**i for i in range(span.bit_length()) if t * 2**i <= span]
        for d in dps:
            eps = [ep] if ep else ep_options(arch)
            rows += [(t, d, e) for e in eps if (t * d) % e == 0]
    if not rows:
        raise UserError(f"ep {ep}: no tp·attention_dp searched (up to {span} GPUs) is a "
                        f"multiple of it; pin tp and attention_dp", field="ep")
    T, DP, EP = (np.asarray(c, dtype=float) for c in zip(*rows))
    return T, DP, EP


def moe_shape_text(ep: int, attention_dp: int) -> str:
    """``, ep=…, attention_dp=…`` for a shape with expert or attention parallelism, else ''."""
    if ep == 1 and attention_dp == 1:
        return ""
    return f", ep={ep}, attention_dp={attention_dp}"


def replica_memory(models: list[Arch], fmt: str, kv: str, context_tokens: float,
                   T: np.ndarray, P: np.ndarray, DP: np.ndarray, *, probe_batch: float,
                   prefill_chunk_tokens: float = DEFAULT_PREFILL_CHUNK_TOKENS
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-GPU memory of each replica stage as ``static + workspace + per_seq · b`` [bytes].

    Parameters
    ----------
    models : list of Arch
        The served model, and its speculative draft when there is one.
    fmt, kv : str
        Weight format and KV-cache dtype.
    context_tokens : float
        Tokens of KV each sequence holds (what the engine reserves) [tokens].
    T, P, DP : ndarray
        Tensor, pipeline and attention data-parallel degree of each shape [—].
    probe_batch : float
        Batch of the first of the two :func:`~gpuplan.demand.memory.inference_memory` calls
        (the second is twice it) [sequences].
    prefill_chunk_tokens : float
        Tokens one iteration processes at most (the engine's max_num_tokens), which sizes the
        workspace [tokens].

    Returns
    -------
    tuple of ndarray
        ``(static, workspace, per_sequence)`` [bytes, bytes, bytes per sequence]; ``b``
        counts the sequences of all ``DP`` attention groups of a stage.

    Notes
    -----
    static = weights (target and draft) + runtime reserve; a sequence takes the KV of the
    tokens its engine reserves plus its logits (slope and workspace from the two calls). With
    attention data parallelism ``d`` every group holds the dense weights (replicated ``d``
    times) and the KV of its own ``b/d`` sequences (KV is not sharded by EP), while the
    expert weights are spread over the stage's ``t·d`` GPUs: weights ``W_dense/(t·p) +
    W_experts/(t·d·p)``, per-sequence slope ``/d``.
    """
    b1 = max(probe_batch, 1.0)
    static = np.zeros_like(T)
    slope = np.zeros_like(T)
    work = np.zeros_like(T)
    for a in models:
        m1 = inference_memory(a, weight_format=fmt, kv_dtype=kv, batch=b1,
                              context_tokens=context_tokens, tp=T, pp=P,
                              prefill_chunk_tokens=prefill_chunk_tokens)
        m2 = inference_memory(a, weight_format=fmt, kv_dtype=kv, batch=2 * b1,
                              context_tokens=context_tokens, tp=T, pp=P,
                              prefill_chunk_tokens=prefill_chunk_tokens)
        d1, d2 = m1.kv_cache + m1.activations, m2.kv_cache + m2.activations
        s_a = (d2 - d1) / b1
        w_a = m1.weights
        if a.is_moe:
            share = param_counts(a).expert / param_counts(a).total
            w_a = w_a * (1 - share + share / DP)
        static, slope, work = static + w_a, slope + s_a / DP, work + d1 - s_a * b1
    return static + RUNTIME_RESERVED_BYTES, work, slope
