"""Memory model against published references (each expected number cites its source)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuplan.demand.arch import arch_from_config, param_counts
from gpuplan.demand.memory import (
    activation_bytes_per_layer,
    inference_memory,
    lora_params,
    training_activation_bytes,
    training_memory,
    weight_bytes,
)

GPT3 = arch_from_config(dict(model_type="gpt2", n_embd=12288, n_layer=96, n_head=96,
                             vocab_size=51200, n_positions=2048), "gpt3-175b")


def _korthikanti(s, b, h, a, t=1, sp=False, selective=False):
    """Korthikanti et al. 2022 (arXiv 2205.05198) Table 2, bytes per layer."""
    if selective:
        return s * b * h * 34 / t
    if sp:
        return s * b * h / t * (34 + 5 * a * s / h)
    if t > 1:
        return s * b * h * (10 + 24 / t + 5 * a * s / (h * t))
    return s * b * h * (34 + 5 * a * s / h)


@pytest.mark.parametrize("t", [1, 2, 8])
@pytest.mark.parametrize("s,b", [(2048, 1), (2048, 4), (4096, 2)])
def test_korthikanti_table2(t, s, b):
    h, a = 12288, 96
    kw = dict(seq_len=s, mb=b, tp=t, flash=False, dropout=True)
    assert activation_bytes_per_layer(GPT3, sp=0, **kw) == pytest.approx(
        _korthikanti(s, b, h, a, t))
    assert activation_bytes_per_layer(GPT3, sp=1, **kw) == pytest.approx(
        _korthikanti(s, b, h, a, t, sp=True))
    # selective recompute keeps 34·sbh/t plus FlashAttention-size softmax stats (< 0.2 %)
    assert activation_bytes_per_layer(GPT3, sp=1, recompute=1, **kw) == pytest.approx(
        _korthikanti(s, b, h, a, t, selective=True), rel=2e-3)


def test_korthikanti_full_recompute():
    # Section 4.3 of Korthikanti: full recompute stores only the layer input, 2·s·b·h bytes.
    out = activation_bytes_per_layer(GPT3, seq_len=2048, mb=1, tp=8, sp=1, recompute=2)
    assert out == pytest.approx(2 * 2048 * 12288 / 8)


def test_korthikanti_gpt3_first_stage_total():
    # Korthikanti Section 4.2.3: with 1F1B the first stage holds p micro-batches of L/p layers,
    # i.e. L layers' worth: GPT-3 175B, t=8, p=8, s=2048, b=1, SP + selective:
    # 96 · 34·s·b·h/t bytes = 96 · 34 · 2048 · 12288 / 8 = 10.27 GB, plus embeddings/logits.
    act = training_activation_bytes(GPT3, seq_len=2048, mb=1, tp=8, pp=8, sp=1, recompute=1,
                                    flash=False, dropout=True)
    layers = 96 * 34 * 2048 * 12288 / 8
    assert layers < act < layers * 1.02


@pytest.mark.parametrize("stage,expected_gb", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_figure1(stage, expected_gb):
    # Rajbhandari et al. 2020 (ZeRO, SC20) Figure 1: Ψ = 7.5B, N_d = 64, K = 12:
    # baseline 120 GB, P_os 31.4 GB, P_os+g 16.6 GB, P_os+g+p 1.9 GB per device.
    a = arch_from_config(dict(model_type="llama", hidden_size=4096, num_hidden_layers=32,
                              num_attention_heads=32, vocab_size=32000, intermediate_size=11008))
    psi = param_counts(a).total
    m = training_memory(a, seq_len=1024, mb=1, dp=64, zero=stage)
    states_per_param = float(m.weights + m.gradients + m.optimizer) / psi
    assert states_per_param * 7.5e9 / 1e9 == pytest.approx(expected_gb, abs=0.05)


def test_weight_formats(arch_of):
    a = arch_of("llama-3.1-70b")
    pc = param_counts(a)
    assert weight_bytes(a, "bf16") == pytest.approx(2 * pc.total)
    # fp8: linear layers 1 byte, embeddings + head 2 bytes
    emb = pc.embedding + pc.lm_head + pc.norms
    assert weight_bytes(a, "fp8") == pytest.approx((pc.total - emb) + 2 * emb)
    # int4 with group-128 fp16 scale + zero: 4.25 bits per weight (AWQ/GPTQ)
    assert weight_bytes(a, "int4") == pytest.approx((pc.total - emb) * 4.25 / 8 + 2 * emb)


def test_lora_param_count_llama2_7b(arch_of):
    # Hu et al. 2021 (LoRA) Section 4.1: an adapter on W ∈ R^{d×k} adds r·(d + k) parameters.
    # All linear layers of Llama 2 7B at r=64: 4 attention (4096→4096) and 3 MLP (4096↔11008)
    # matrices per layer: 32·64·(4·8192 + 3·15104) = 159,907,840.
    assert lora_params(arch_of("llama-2-7b"), 64) == 159_907_840


def test_qlora_65b_fits_48gb():
    # Dettmers et al. 2023 (QLoRA) abstract: "finetune a 65B parameter model on a single 48GB
    # GPU". LLaMA-65B shape from Touvron et al. 2023 (LLaMA) Table 2 (dim 8192, 64 heads,
    # 80 layers; FFN 22016, vocab 32000 as in its HF config). QLoRA uses r=64 on all linear
    # layers, batch 1 with gradient checkpointing (full recompute).
    a = arch_from_config(dict(model_type="llama", hidden_size=8192, num_hidden_layers=80,
                              num_attention_heads=64, vocab_size=32000,
                              intermediate_size=22016, tie_word_embeddings=False), "llama-65b")
    assert param_counts(a).total == pytest.approx(65.2e9, rel=0.005)  # LLaMA paper: 65.2B
    m = training_memory(a, mode="qlora", seq_len=512, mb=1, recompute=2)
    assert float(m.total) < 48e9
    full = training_memory(a, mode="finetune", seq_len=512, mb=1, recompute=2)
    assert float(full.total) > 16 * 65e9  # 16 bytes per parameter before sharding


def test_inference_kv_split_and_replication(arch_of):
    a = arch_of("llama-3.1-70b")  # 8 KV heads
    m1 = inference_memory(a, weight_format="bf16", kv_dtype="bf16", batch=8, context_tokens=4096,
                          tp=np.array([1, 8, 16]))
    kv = m1.kv_cache
    assert kv[1] == pytest.approx(kv[0] / 8)
    assert kv[2] == pytest.approx(kv[1])  # tp 16 > 8 KV heads: replicated, no further split


@settings(max_examples=60, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 4, 8]),
       dp=st.sampled_from([1, 2, 8, 64]), zero=st.integers(0, 3), rc=st.integers(0, 2))
def test_more_gpus_never_raise_memory(arch_of, tp, pp, dp, zero, rc):
    """Invariant: doubling any parallel degree never raises memory per GPU (same family)."""
    a = arch_of("llama-3.1-8b")
    kw = dict(seq_len=4096, mb=1, tp=tp, pp=pp, dp=dp, zero=zero, recompute=rc)
    base = float(training_memory(a, **kw).total)
    for key in ("tp", "pp", "dp"):
        bigger = dict(kw, **{key: kw[key] * 2})
        assert float(training_memory(a, **bigger).total) <= base * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 256), s=st.integers(1, 32768))
def test_kv_grows_with_batch_and_context(arch_of, b, s):
    a = arch_of("qwen2.5-7b")
    m = inference_memory(a, weight_format="bf16", kv_dtype="bf16", batch=np.array([b, b + 1]),
                         context_tokens=s)
    assert m.kv_cache[1] > m.kv_cache[0]
    assert np.all(m.total > m.weights)


# ---- issue 12: activation memory that matches practice ------------------------------------


def test_gated_mlp_keeps_fc1_output_and_fc2_input(arch_of):
    # A SwiGLU MLP with Megatron-Core's fused bias-SwiGLU keeps the fc1 output (gate + up, 2f)
    # and the fc2 input (f): 3·s·b·f elements of 2 bytes; a GeLU MLP keeps 2·s·b·f (Korthikanti
    # et al. 2022, Section 4.1: 16sbh of GeLU input and output at f = 4h).
    a = arch_of("llama-3.1-8b")
    kw = dict(seq_len=4096, mb=1, tp=1, sp=0, recompute=0)
    base = activation_bytes_per_layer(a, **kw)
    s, h, f = 4096, a.hidden_size, a.intermediate_size
    attn = 2 * s * (a.num_heads * a.head_dim + 2 * a.num_kv_heads * a.head_dim
                    + a.num_heads * a.v_head_dim)
    lse = 4 * a.num_heads * s
    assert base == pytest.approx(8 * s * h + attn + 6 * s * f + lse)


def test_pipeline_in_flight_micro_batches():
    # 1F1B (Korthikanti Section 4.2.3): the first rank holds p micro-batches of L/p layers;
    # interleaved (v chunks): 2(p−1) + (v−1)p + 1 chunks of L/(p·v) layers = L·(1 + (p−1)/(p·v));
    # never more than the m·v chunk forwards of a step.
    kw = dict(seq_len=2048, mb=1, tp=8, sp=1, recompute=1, flash=False, dropout=True)
    layer = float(activation_bytes_per_layer(GPT3, **kw))
    one = training_activation_bytes(GPT3, pp=8, vpp=1, microbatches=64, **kw)
    inter = training_activation_bytes(GPT3, pp=8, vpp=3, microbatches=64, **kw)
    assert float(one) == pytest.approx(96 * layer, rel=0.02)
    assert float(inter) == pytest.approx(96 * layer * (1 + 7 / 24), rel=0.02)
    few = training_activation_bytes(GPT3, pp=8, vpp=3, microbatches=2, **kw)
    # m·v chunks = 2 micro-batches, on the last rank beside the loss's fp32 + bf16 logits
    logits = (4 + 2) * 2048 * GPT3.vocab_size / 8 + 2 * 2048 * GPT3.hidden_size
    assert float(few) == pytest.approx(2 * 12 * layer + logits, rel=1e-6)


def _megatron_interleaved_in_flight(p, v, m, rank):
    """Chunk ids of the forwards rank ``rank`` holds at its first backward: Megatron-LM's
    interleaved 1F1B order (forward k runs chunk (k // p) mod v), the warm-up count of
    get_num_warmup_microbatches, plus the forward that precedes the first backward."""
    warm = min(2 * (p - rank - 1) + (v - 1) * p + 1, m * v)
    return [(k // p) % v for k in range(warm)]


@pytest.mark.parametrize("p,v,m", [(16, 8, 32), (16, 8, 16), (4, 3, 8), (8, 2, 5)])
def test_chunk_forwards_counted_as_the_schedule_runs_them(p, v, m):
    from gpuplan.demand.memory import _forwards_of_chunk

    for rank in (0, 1, p - 1):
        chunks = _megatron_interleaved_in_flight(p, v, m, rank)
        for c in (0, v - 1):
            got = _forwards_of_chunk(np.array([len(chunks)]), np.array([p]), np.array([v]),
                                     np.array([c]))
            assert int(got[0]) == chunks.count(c), (rank, c)


def test_llama3_arrangement_embedding_and_head_chunks(arch_of):
    # Llama Team 2024 (Llama 3 Herd) Section 3.3.2: "the first model chunk on the first stage
    # has only the embedding, and the last model chunk on the last stage has only output
    # projection and loss calculation": 126 layers as pp = 16 x vpp = 8 = 128 chunks.
    from gpuplan.demand.layouts import Layout, check_layout
    from gpuplan.demand.memory import max_pipeline_chunks
    from gpuplan.errors import UserError

    a = arch_of("llama-3.1-405b")
    assert max_pipeline_chunks(a.num_layers) == 128
    check_layout(a, Layout(tp=8, pp=16, dp=64, vpp=8))
    with pytest.raises(UserError, match="embedding and head chunks"):
        check_layout(a, Layout(tp=8, pp=16, dp=64, vpp=9))
    kw = dict(seq_len=8192, mb=1, tp=8, sp=1, recompute=0)
    layer = float(activation_bytes_per_layer(a, **kw))
    got = float(training_activation_bytes(a, pp=16, vpp=8, microbatches=32, **kw))
    # rank 1 holds 2·14 + 7·16 + 1 = 141 one-layer chunks, more than rank 0's 143 forwards of
    # which 31 are the embedding-only chunk 0 (112 layers)
    assert got == pytest.approx(141 * layer, rel=1e-9)
    assert _megatron_interleaved_in_flight(16, 8, 32, 0).count(0) == 31


def test_llama3_405b_tp8_pp16_8k_without_checkpointing_fits(arch_of):
    # Llama Team 2024 (Llama 3 Herd) Section 3.3.2 and Table 4: 405B, 8K sequences, TP8 PP16
    # DP64/128 on 80 GB H100 without activation checkpointing. 126 layers: 7 on the first
    # stage (most micro-batches in flight), 8 on the next.
    a = arch_of("llama-3.1-405b")
    h100_bytes = 80 * 2**30
    for dp, m in ((64, 32), (128, 16)):
        mem = training_memory(a, seq_len=8192, mb=1, tp=8, pp=16, dp=dp, cp=1, zero=1,
                              recompute=0, vpp=1, microbatches=m)
        assert float(mem.total) < h100_bytes, (dp, float(mem.total) / 1e9)
    # the same layout with 2 micro-batches per sequence chunk in flight (mb=2) does not fit
    big = training_memory(a, seq_len=8192, mb=2, tp=8, pp=16, dp=64, cp=1, zero=1,
                          recompute=0, vpp=1, microbatches=16)
    assert float(big.total) > h100_bytes


def test_allocator_fragmentation_is_our_h100_measurement(device_step_fit):
    # validation/device_h100.yaml, the step that ran out of memory (GPT-2 1.3B, seq 2,048,
    # micro-batch 16): PyTorch's message states what the caching allocator held reserved but
    # unallocated after it had freed its cached blocks; over gpuplan's activations for that
    # shape, that is ALLOCATOR_FRAGMENTATION.
    from pathlib import Path

    import yaml

    from gpuplan.demand.memory import ALLOCATOR_FRAGMENTATION

    d = yaml.safe_load((Path(__file__).parents[1] / "src/gpuplan/validation/device_h100.yaml")
                       .read_text())
    (oom,) = [r for r in d["train_step"] if r["status"] == "OOM"]
    res = device_step_fit(oom)
    b = res.per_gpu_bytes
    measured = oom["reserved_unallocated_gib_at_failure"] * 2**30 / b.activations
    assert abs(ALLOCATOR_FRAGMENTATION - measured) < 5e-4
    # the model's peak (states + activations, the loss's logits included) is what PyTorch had
    # allocated plus the allocation that failed (the bf16 logits, 2·s·b·V bytes)
    states = b.weights + b.gradients + b.optimizer
    peak_gib = oom["allocated_gib_at_failure"] + oom["tried_to_allocate_gib"]
    assert (states + b.activations) / 2**30 == pytest.approx(peak_gib, rel=0.03)
    assert oom["tried_to_allocate_gib"] * 2**30 == pytest.approx(
        2 * oom["seq"] * oom["micro_batch"] * oom["vocab"], rel=0.01)
    assert not res.fits
