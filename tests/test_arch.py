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


# ----------------------------------------------------------------------------------------------
# Config validation (issue 16): every field type- and range-checked, one line naming the field
# ----------------------------------------------------------------------------------------------

_BASE = dict(model_type="llama", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=100, intermediate_size=128,
             tie_word_embeddings=False)
_MOE = dict(_BASE, model_type="mixtral", num_local_experts=8, num_experts_per_tok=2)
_MLA = dict(_BASE, model_type="deepseek_v3", kv_lora_rank=32, q_lora_rank=48,
            qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16, n_routed_experts=4,
            num_experts_per_tok=2, moe_intermediate_size=32)

#: (config, the field the one-line message must name). Each was accepted (exit 0, nonsense
#: numbers) or a traceback before issue 16.
BAD_CONFIGS = [
    (dict(_BASE, head_dim="abc"), "head_dim"),
    (dict(_BASE, hidden_size=float("inf")), "hidden_size"),   # JSON 1e400 reads as inf
    (dict(_BASE, hidden_size=float("nan")), "hidden_size"),
    (dict(_BASE, hidden_size=True), "hidden_size"),           # True is not 1
    (dict(_BASE, hidden_size="4096"), "hidden_size"),
    (dict(_BASE, hidden_size=2**50), "hidden_size"),          # above MAX_CONFIG_INT
    (dict(_BASE, head_dim=-128), "head_dim"),
    (dict(_BASE, head_dim=12.5), "head_dim"),
    (dict(_MOE, num_local_experts="x"), "num_local_experts"),
    (dict(_MOE, num_local_experts=2, num_experts_per_tok=64), "num_experts_per_tok"),
    (dict(_MOE, num_experts_per_tok=-1), "num_experts_per_tok"),
    (dict(_MOE, mlp_only_layers=["a"]), "mlp_only_layers"),
    (dict(_MOE, mlp_only_layers=[7]), "mlp_only_layers"),     # the model has 2 layers
    (dict(_MOE, mlp_only_layers=3), "mlp_only_layers"),
    (dict(_BASE, sliding_window="wide"), "sliding_window"),
    (dict(_BASE, sliding_window=True), "sliding_window"),
    (dict(_MLA, kv_lora_rank=-512), "kv_lora_rank"),
    (dict(_MLA, q_lora_rank=-1), "q_lora_rank"),
    (dict(_BASE, tie_word_embeddings="no"), "tie_word_embeddings"),
    (dict(_BASE, model_type=7), "model_type"),
    (dict(_BASE, hidden_act=["silu"]), "hidden_act"),
    (dict(_BASE, max_position_embeddings=-4096), "max_position_embeddings"),
    (dict(_BASE, hidden_size=2, num_attention_heads=4, num_key_value_heads=4), "hidden_size"),
]


@pytest.mark.parametrize("cfg,field", BAD_CONFIGS, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_config_field_one_line_naming_file_and_field(cfg, field):
    with pytest.raises(UserError) as ei:
        arch_from_config(cfg, "my/config.json")
    msg = str(ei.value)
    assert msg.startswith("my/config.json: ") and field in msg and "\n" not in msg, msg


@pytest.mark.parametrize("cfg", [_BASE, _MOE, _MLA, dict(_BASE, hidden_size=64.0),
                                 dict(_BASE, sliding_window=None, q_lora_rank=None),
                                 dict(_MOE, mlp_only_layers=[0], sliding_window=False)])
def test_valid_configs_still_read(cfg):
    a = arch_from_config(cfg, "ok")
    assert a.hidden_size == 64 and a.num_layers == 2
    if cfg.get("num_experts_per_tok"):
        assert a.experts_per_token <= a.num_experts


def test_mla_ranks_read_exactly():
    a = arch_from_config(_MLA, "mla")
    assert (a.kv_lora_rank, a.q_lora_rank, a.qk_rope_head_dim) == (32, 48, 8)
    assert (a.head_dim, a.v_head_dim, a.num_kv_heads) == (16 + 8, 16, 4)
    assert kv_cache_bytes_per_token(a, 2) == 2 * (32 + 8) * 2  # L·(d_c + d_R)·bytes, [3]


def test_config_json_nested_100k_deep_is_one_line(tmp_path):
    from gpuplan.catalog.hf_config import load_config_file

    p = tmp_path / "config.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserError, match="nested too deeply") as ei:
        load_config_file(tmp_path)
    assert str(p) in str(ei.value)
