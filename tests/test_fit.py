"""Fit decisions against what published runs could and could not run."""

import pytest

from gpuplan.demand.fitting import fit
from gpuplan.errors import UserError

# TensorRT-LLM 0.17 performance overview (NVIDIA/TensorRT-LLM docs/source/performance/
# perf-overview.md, v0.17 table; ../shared/validation/published_measurements.yaml
# `trtllm-v0.17-throughput`): a measured throughput means the configuration ran, so it fits at
# batch 1 with ISL+OSL tokens of context; a weight size above the GPU's memory cannot run.
RAN = [
    ("llama-3.1-70b", "h100-sxm", "fp8", "tp=1", 128 + 2048),   # 911.62 tok/s
    ("llama-3.1-70b", "a100-80gb", "bf16", "tp=2", 128 + 2048),  # 531.26 tok/s (fp16)
    ("llama-3.1-8b", "a100-80gb", "bf16", "tp=1", 20000 + 2000),  # 330.04 tok/s (fp16)
    ("mixtral-8x7b", "h100-sxm", "fp8", "tp=1", 128 + 2048),    # 8290.13 tok/s
    ("llama-3.1-405b", "h200", "fp8", "tp=8", 128 + 2048),      # 5938.09 tok/s
]
# Blank cells whose weights alone exceed the GPU: 70B fp16 on one A100-80GB (141 GB of weights),
# Mixtral 8x7B fp16 on one A100-80GB (93 GB of weights).
CANNOT = [
    ("llama-3.1-70b", "a100-80gb", "bf16", "tp=1", 128 + 2048),
    ("mixtral-8x7b", "a100-80gb", "bf16", "tp=1", 128 + 2048),
]


@pytest.mark.parametrize("model,gpu,dtype,layout,ctx", RAN)
def test_published_configs_fit(model, gpu, dtype, layout, ctx):
    r = fit(model, gpu, dtype=dtype, layout=layout, seq_len=ctx)
    assert r.fits, r.per_gpu_bytes


@pytest.mark.parametrize("model,gpu,dtype,layout,ctx", CANNOT)
def test_too_big_configs_do_not_fit(model, gpu, dtype, layout, ctx):
    r = fit(model, gpu, dtype=dtype, layout=layout, seq_len=ctx)
    assert not r.fits


def test_min_gpus_70b_bf16_h100():
    # 141 GB of bf16 weights: two 80 GB H100s cannot also hold KV + runtime; four can.
    r = fit("llama-3.1-70b", "h100-sxm", dtype="bf16", seq_len=4096)
    assert not r.fits and r.evaluated_layout.gpus == 1
    assert r.min_gpus in (2, 4)
    assert r.min_layout_per_gpu_bytes.total <= r.gpu_memory_bytes


def test_min_gpus_train_405b_uses_sharding():
    r = fit("llama-3.1-405b", "h100-sxm", mode="train", seq_len=8192)
    # 16 bytes × 405.9B parameters = 6.5 TB of model states: at least 82 × 80 GB GPUs.
    assert r.min_gpus >= 82
    lay = r.layout
    assert lay.tp * lay.pp * lay.dp * lay.cp == r.min_gpus
    assert r.min_layout_per_gpu_bytes.total <= r.gpu_memory_bytes


def test_lora_needs_fewer_than_full_finetune():
    full = fit("llama-3.1-70b", "h100-sxm", mode="finetune", seq_len=4096)
    lora = fit("llama-3.1-70b", "h100-sxm", mode="lora", seq_len=4096)
    qlora = fit("llama-3.1-70b", "h100-sxm", mode="qlora", seq_len=4096)
    assert qlora.min_gpus <= lora.min_gpus < full.min_gpus
    assert qlora.min_gpus == 1  # a 70B QLoRA fine-tune fits one 80 GB GPU


def test_moe_training_uses_expert_parallel():
    r = fit("deepseek-v3", "h200", mode="train", seq_len=4096)
    assert r.min_gpus is not None and r.layout.ep >= 1
    assert r.active_params < r.params


def test_all_gpus_ranking():
    r = fit("llama-3.1-70b", "h100-sxm", dtype="bf16", all_gpus=True)
    ids = [row.gpu for row in r.ranking]
    assert "h200" in ids and "mi300x" in ids
    costs = [row.cost_usd for row in r.ranking if row.cost_usd is not None]
    assert costs == sorted(costs)
    by = {row.gpu: row for row in r.ranking}
    # 192 GB MI300X holds 141 GB of weights on one device; an 80 GB H100 cannot
    assert by["mi300x"].min_gpus == 1 and by["h100-sxm"].min_gpus > 1


@pytest.mark.parametrize("layout,msg", [
    ("tp=3", "does not divide"),
    ("pp=200", "layers"),
    ("tp=2,ep=2", "no experts"),
    ("foo=1", "unknown"),
    ("tp=0", "between"),
    ("tp=x", "whole number"),
    ("zero=7", "accepted"),
    ("recompute=sometimes", "accepted"),
])
def test_bad_layouts(layout, msg):
    with pytest.raises(UserError, match=msg) as e:
        fit("llama-3.1-70b", "h100-sxm", mode="train", layout=layout)
    assert e.value.field == "layout" and "--" not in str(e.value)
    if str(e.value).startswith("layout "):  # a parse error names the parameter first
        assert e.value.as_flag_message().startswith("--layout ")


def test_tp_incompatible_with_kv_heads():
    # Phi-3-medium: 40 query heads, 10 KV heads; tp=4 divides 40 but neither divides the other
    with pytest.raises(UserError, match="KV heads"):
        fit("phi-3-medium", "h100-sxm", layout="tp=4")


@pytest.mark.parametrize("kw,field,msg", [
    (dict(mode="sing"), "mode", "^mode 'sing' unknown; accepted: inference, train"),
    (dict(dtype="int3"), "dtype", "^dtype 'int3' unknown for inference weights; accepted"),
    (dict(mode="train", dtype="int4"), "dtype", "^dtype 'int4' unknown for train; accepted"),
    (dict(kv_dtype="fp2"), "kv_dtype", "^kv_dtype 'fp2' unknown; accepted"),
    (dict(seq_len=0), "seq_len", "^seq_len must be a whole number from 1 .* got 0$"),
    (dict(batch=-1), "batch", "^batch must be a whole number from 1 .* got -1$"),
    (dict(seq_len=10**12), "seq_len", "^seq_len must be a whole number"),
    (dict(layout="dp=2"), "layout", "^layout for inference takes tp, pp"),
])
def test_bad_values(kw, field, msg):
    # messages name the parameter (never a CLI flag); the CLI turns it into the flag
    with pytest.raises(UserError, match=msg) as e:
        fit("llama-3.1-8b", "h100-sxm", **kw)
    assert e.value.field == field and "--" not in str(e.value)
    assert e.value.as_flag_message().startswith("--" + field.replace("_", "-") + " ")


def test_unknown_names_suggest():
    with pytest.raises(UserError, match="llama-3.1-8b"):
        fit("llama-3.1-8", "h100-sxm")
    with pytest.raises(UserError, match="h100-sxm"):
        fit("llama-3.1-8b", "h100-sxn")


def test_config_path(tmp_path, cat):
    import json

    cfg = cat.models["qwen2.5-7b"].config
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    by_path = fit(str(tmp_path), "h100-sxm")
    by_id = fit("qwen2.5-7b", "h100-sxm")
    assert by_path.params == by_id.params
    assert by_path.per_gpu_bytes == by_id.per_gpu_bytes
    by_repo = fit(cat.models["qwen2.5-7b"].repo_id, "h100-sxm")
    assert by_repo.params == by_id.params
