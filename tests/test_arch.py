"""Architecture math against published parameter counts, KV sizes and FLOP formulas."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from gpuplan.demand.arch import (
    arch_from_config,
    forward_flops_per_token,
    kv_cache_bytes,
    kv_cache_bytes_per_token,
    matmul_params_active,
    param_counts,
    training_flops_per_token,
)
from gpuplan.errors import UserError

PUBLISHED = yaml.safe_load((Path(__file__).parent / "data" / "published_params.yaml").read_text())

# Exact counts that the issue names (tolerance 0.5 %), each with its source.
EXACT = [
    # Llama 3.1 model card / HF safetensors metadata: 8.03B, 70.6B, 406B
    ("llama-3.1-8b", 8.03e9, None, 0.005),
    ("llama-3.1-70b", 70.6e9, None, 0.005),
    ("llama-3.1-405b", 405.9e9, None, 0.005),
    # Mistral AI, "Mixtral of experts" blog (2023-12-11): 46.7B total, 12.9B active per token
    ("mixtral-8x7b", 46.7e9, 12.9e9, 0.005),
    # DeepSeek-V3 technical report (arXiv 2412.19437) abstract: 671B total, 37B activated
    # (37B is rounded down: we compute 37.55B, +1.5 %; the total excludes the 14B MTP module)
    ("deepseek-v3", 671e9, 37e9, None),
    # Radford et al. 2019 GPT-2; HF gpt2 model card: 124M parameters (124,439,808 exactly)
    ("gpt2", 124_439_808, None, 0.0),
]


@pytest.mark.parametrize("model,total,active,tol", EXACT)
def test_published_parameter_counts(arch_of, model, total, active, tol):
    pc = param_counts(arch_of(model))
    if tol is None:
        assert pc.total == pytest.approx(total, rel=0.005)
        assert pc.active == pytest.approx(active, rel=0.02)
        return
    assert pc.total == pytest.approx(total, rel=max(tol, 1e-12))
    if active is not None:
        assert pc.active == pytest.approx(active, rel=tol)
    else:
        assert pc.active == pc.total


@pytest.mark.parametrize("rec", PUBLISHED, ids=lambda r: r["model"])
def test_published_params_file(arch_of, cat, rec):
    """Every published count collected in tests/data/published_params.yaml, at its precision."""
    if rec["model"] not in cat.models:
        pytest.fail(f"published_params names {rec['model']} which the catalog lacks")
    pc = param_counts(arch_of(rec["model"]))
    precision = float(rec.get("precision", 0.01))
    if precision == 0:  # an exact published integer count must be matched exactly
        assert pc.total == int(rec["total_params"]), rec["source"]
    tol = max(precision, 0.005)
    assert pc.total == pytest.approx(float(rec["total_params"]), rel=tol), rec["source"]
    if rec.get("active_params"):
        assert pc.active == pytest.approx(float(rec["active_params"]), rel=max(tol, 0.02)), \
            rec["source"]


def test_every_catalog_model_parses(cat):
    from gpuplan.demand.arch import Arch

    assert len(cat.models) >= 25
    for m in cat.models.values():
        a = arch_from_config(m.config, m.id)
        assert isinstance(a, Arch)
        pc = param_counts(a)
        assert 0 < pc.active <= pc.total


def test_llama13b_kv_cache_scaling_book(arch_of):
    # scaling-book (Austin et al. 2025, "How to Scale Your Model", inference chapter): LLaMA-13B,
    # 8192 tokens in bf16 need 2·40·5120·2·8192 ≈ 6.7 GB of KV cache.
    assert kv_cache_bytes(arch_of("llama-13b"), 8192, 2) == pytest.approx(6.7e9, rel=0.01)


def test_opt13b_kv_per_token_vllm_paper(arch_of):
    # Kwon et al. 2023 (vLLM, SOSP), Section 3: OPT-13B KV cache of one token is 800 KB
    # (2 · 5120 · 40 · 2 bytes = 819,200 B = 800 KiB).
    assert kv_cache_bytes_per_token(arch_of("opt-13b"), 2) == 800 * 1024


def test_mla_latent_kv_deepseek_v3(arch_of):
    # DeepSeek-V2 paper (arXiv 2405.04434) Table 1: MLA caches (d_c + d_h^R)·l = (512 + 64)·61
    # elements per token for DeepSeek-V3's 61 layers.
    assert kv_cache_bytes_per_token(arch_of("deepseek-v3"), 1) == (512 + 64) * 61


def test_gqa_kv_llama3_70b(arch_of):
    # Llama 3 70B: 80 layers, 8 KV heads of 128 → 2·80·8·128·2 B = 327,680 B per token in bf16
    assert kv_cache_bytes_per_token(arch_of("llama-3.1-70b"), 2) == 327_680


def test_sliding_window_caps_kv(arch_of):
    a = arch_of("mistral-7b")  # sliding_window 4096 in Mistral-7B-v0.1's config
    assert kv_cache_bytes(a, 32768, 2) == kv_cache_bytes(a, 4096, 2)
    assert kv_cache_bytes(a, 1024, 2) < kv_cache_bytes(a, 4096, 2)


def test_palm_flops_formula(arch_of):
    # PaLM (Chowdhery et al. 2022) Appendix B: 6N + 12·L·H·Q·T FLOPs per token for training.
    a = arch_of("llama-3.1-70b")
    n = matmul_params_active(a)
    T = 8192
    expected = 6 * n + 12 * a.num_layers * a.num_heads * a.head_dim * T
    assert training_flops_per_token(a, T) == pytest.approx(expected, rel=1e-12)
    # vectorised over sequence length
    out = forward_flops_per_token(a, np.array([1024, 2048, 4096]))
    assert out.shape == (3,) and np.all(np.diff(out) > 0)


def test_gpt3_flops_megatron_formula():
    # Narayanan et al. 2021 (Megatron-LM, SC21) Section 5.1: training FLOPs per iteration
    # 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h)) with activation recomputation; without recompute
    # the factor is 72 instead of 96: per token 72·l·h²·(1 + s/(6h) + V/(12·l·h)).
    cfg = dict(model_type="gpt2", n_embd=12288, n_layer=96, n_head=96, vocab_size=51200,
               n_positions=2048)
    a = arch_from_config(cfg, "gpt3")
    s, l, h, V = 2048, 96, 12288, 51200
    megatron = 72 * l * h**2 * (1 + s / (6 * h) + V / (12 * l * h))
    # gpuplan also counts biases; within 0.1 %
    assert training_flops_per_token(a, s) == pytest.approx(megatron, rel=1e-3)


def test_missing_field_is_user_error():
    with pytest.raises(UserError, match="hidden_size"):
        arch_from_config({"num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10})


@pytest.mark.parametrize("bad", [0, -1, 2.5, "x", None])
def test_bad_field_values(bad):
    cfg = dict(model_type="llama", hidden_size=64, num_hidden_layers=bad, num_attention_heads=4,
               vocab_size=100, intermediate_size=128)
    with pytest.raises(UserError):
        arch_from_config(cfg)


def test_heads_must_divide():
    cfg = dict(model_type="llama", hidden_size=64, num_hidden_layers=2, num_attention_heads=6,
               num_key_value_heads=4, vocab_size=100, intermediate_size=128)
    with pytest.raises(UserError, match="multiple"):
        arch_from_config(cfg)


def test_llama4_moe_without_expert_width_is_user_error(cat):
    # Llama 4's routed experts take their width from intermediate_size: without it the config
    # is refused with the field's name (it used to raise a TypeError).
    name, cfg, _ = cat.model("llama-4-scout")
    cfg = dict(cfg.get("text_config", cfg))
    cfg.setdefault("model_type", "llama4_text")
    assert arch_from_config(cfg, name).is_moe
    cfg.pop("intermediate_size")
    with pytest.raises(UserError, match="intermediate_size"):
        arch_from_config(cfg, name)
