"""Kernel-level serving physics: attention at the bf16 rate, grouped expert GEMMs, host time
per sequence, and the matmul ceilings they divide by (issue 13, items 1, 2, 6 and 8)."""

import math
from dataclasses import replace

import numpy as np
import pytest

from gpuplan.catalog import load_catalog
from gpuplan.demand.arch import arch_from_config
from gpuplan.demand.serving import serving_hardware
from gpuplan.demand.serving.engine import decode_step_s, prefill_s
from gpuplan.demand.serving.fitted import (
    serving_fraction,
    serving_moe_gemm_efficiency,
    serving_overhead_per_sequence_s,
)
from gpuplan.demand.serving.kernels import attention_flops_per_s, linear_layers_s
from gpuplan.demand.serving.search import serve


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _arch(cat, name):
    n, cfg, _ = cat.model(name)
    return arch_from_config(cfg, n)


def test_fp4_and_mi300x_fp8_ceilings_are_the_published_measurements(cat):
    # DeepGEMM PR #348 (2026-06-01): MXFP4 8192^3 on B200, 5,702 TFLOP/s of 9,000 dense
    assert cat.accelerator("b200").matmul_efficiency["fp4"].value == pytest.approx(
        5702 / 9000, abs=1e-4)
    # AMD ROCm blog "Measuring Max-Achievable FLOPs - Part 2" (2025-02-28): MI300X FP8
    # hipBLASLt 1,273 TFLOP/s of 2,614.9 dense
    assert cat.accelerator("mi300x").matmul_efficiency["fp8"].value == pytest.approx(
        1273 / 2614.9, abs=1e-4)
    # FP4 reaches a lower share of its peak than BF16 (MLE MAMF 1,745 of 2,250)
    assert cat.accelerator("b200").matmul_efficiency["fp4"].value \
        < cat.accelerator("b200").matmul_efficiency["bf16"].value


@pytest.mark.parametrize("gpu,dtype", [("h100-sxm", "fp8"), ("b200", "fp4"), ("b200", "fp8")])
def test_attention_runs_at_the_bf16_rate_under_fp8_and_fp4(cat, gpu, dtype):
    acc = cat.accelerator(gpu)
    hw = serving_hardware(cat, acc, dtype)
    bf16_rate = acc.peak("bf16") * acc.matmul_efficiency["bf16"].value * serving_fraction()
    gemm_rate = hw.peak_flops_per_s * hw.matmul_efficiency
    assert attention_flops_per_s(hw) == pytest.approx(bf16_rate, rel=1e-9)
    assert attention_flops_per_s(hw) < gemm_rate  # FP8/FP4 GEMMs are faster than attention
    same = serving_hardware(cat, acc, "bf16")
    assert attention_flops_per_s(same) == pytest.approx(
        same.peak_flops_per_s * same.matmul_efficiency, rel=1e-9)


def test_long_prompt_prefill_attention_is_charged_at_the_bf16_rate(cat):
    # Llama 3.3 70B, a 20,000-token prompt on H200: attention is the kernel that grows with
    # I^2; taking it at the FP8 rate would halve it
    arch = _arch(cat, "llama-3.3-70b")
    hw = serving_hardware(cat, cat.accelerator("h200"), "fp8")
    t = float(prefill_s(arch, hw, weight_format="fp8", input_tokens=20000, tp=1, pp=1,
                        overhead_per_layer_s=0.0))
    fast = serving_hardware(cat, cat.accelerator("h200"), "fp8")
    fast = replace(fast, attention_flops_per_s=fast.peak_flops_per_s * fast.matmul_efficiency)
    t_fast = float(prefill_s(arch, fast, weight_format="fp8", input_tokens=20000, tp=1, pp=1,
                             overhead_per_layer_s=0.0))
    # attention FLOPs per layer 2·a·(d_qk + d_v)·I·(I/2): 64 heads, 128 + 128
    attn_flops = 2 * 64 * 256 * 20000 * 10000 * 80
    gemm_rate = fast.peak_flops_per_s * fast.matmul_efficiency
    assert t - t_fast == pytest.approx(
        attn_flops / attention_flops_per_s(hw) - attn_flops / gemm_rate, rel=0.02)


def test_grouped_expert_gemms_run_at_the_moe_fraction_of_the_dense_rate(cat):
    arch = _arch(cat, "mixtral-8x7b")
    hw = serving_hardware(cat, cat.accelerator("h100-sxm"), "fp8", moe_gemm_efficiency=1.0)
    half = replace(hw, grouped_gemm_efficiency=0.5)
    rows = np.array([4096.0])
    kw = dict(weight_format="fp8", rows=rows, tp=np.array([1.0]), pp=np.array([1.0]),
              roofline_sharpness=math.inf)
    _, g1, _ = linear_layers_s(arch, hw, **kw)
    _, g2, _ = linear_layers_s(arch, half, **kw)
    dense = linear_layers_s(_arch(cat, "llama-3.1-8b"), hw, **kw)[1]  # a dense model: unmoved
    assert np.all(linear_layers_s(_arch(cat, "llama-3.1-8b"), half, **kw)[1] == dense)
    # the expert FLOPs (11.3e9 of Mixtral's 12.9e9 active parameters) take twice as long
    assert float((g2 - g1)[0]) == pytest.approx(float(g1[0]) * 11.27 / 12.88, rel=0.05)
    assert 0.6 <= serving_moe_gemm_efficiency() <= 1.0  # the fitted figure, in its grid


def test_host_time_per_sequence_grows_with_the_batch(cat):
    arch = _arch(cat, "llama-3.1-8b")
    hw = serving_hardware(cat, cat.accelerator("h100-sxm"), "fp8")
    kw = dict(weight_format="fp8", kv_dtype="fp8", context=512, tp=1, pp=1,
              overhead_per_layer_s=0.0)
    a = decode_step_s(arch, hw, batch=256, overhead_per_sequence_s=1e-4, **kw)
    b = decode_step_s(arch, hw, batch=256, overhead_per_sequence_s=0.0, **kw)
    assert float(a["overhead_s"] - b["overhead_s"]) == pytest.approx(256 * 1e-4)
    # fitted for vLLM on its own cases; TensorRT-LLM's C++ executor is not fitted for it
    assert serving_overhead_per_sequence_s("vllm") > 0
    assert serving_overhead_per_sequence_s("trtllm") == 0


def test_mi300x_mlperf_offline_over_server_as_measured():
    # MLPerf Inference v4.1 closed, AMD, llama2-70b-99, 8xMI300X_2xEPYC-9374F, vLLM 0.4.3 on
    # ROCm (closed/AMD/results/.../{Offline,Server}/performance/run_1/mlperf_log_summary.txt):
    # Offline 23,514.8 (max_num_seqs 2048) vs Server 21,028.23 tok/s (max_num_seqs 1024):
    # 1.118. A fixed per-iteration time alone gave 1.245 (the host time grows with the batch).
    kw = dict(quant="fp8", kv_dtype="fp8", input_tokens=222, output_tokens=293, tp=1, pp=1,
              engine="vllm", headroom=0.0)
    off = serve("llama-2-70b", "mi300x", max_batch=2048, **kw)
    srv = serve("llama-2-70b", "mi300x", max_batch=1024, scenario="server", ttft_ms=2000,
                tpot_ms=200, **kw)
    ratio = off.output_tokens_per_s_per_gpu / srv.output_tokens_per_s_per_gpu
    assert ratio == pytest.approx(23514.8 / 21028.23, rel=0.10)
