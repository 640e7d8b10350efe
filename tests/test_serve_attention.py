"""FP8 attention cores (``--attention-dtype fp8``): TensorRT-LLM's FP8 context FMHA.

NVIDIA/TensorRT-LLM ``tensorrt_llm/bench/build/build.py`` (the trtllm-bench builder behind the
v0.17 perf-overview tables) sets ``use_fp8_context_fmha = True`` for FP8 engines; the serving
model then runs the attention cores at the chip's FP8 matmul rate instead of bf16's.
"""

import json

import pytest
from typer.testing import CliRunner

from gpuplan.catalog import load_catalog
from gpuplan.cli.app import app
from gpuplan.demand.serving import serve
from gpuplan.demand.serving.engines import attention_dtype
from gpuplan.demand.serving.fitted import serving_hardware
from gpuplan.errors import UserError


def test_fp8_attention_rate_is_the_fp8_matmul_rate():
    cat = load_catalog()
    acc = cat.accelerator("h100-sxm")
    bf16 = serving_hardware(cat, acc, "fp8")
    fp8 = serving_hardware(cat, acc, "fp8", attention_dtype="fp8")
    assert fp8.attention_flops_per_s == pytest.approx(fp8.peak_flops_per_s
                                                      * fp8.matmul_efficiency)
    # H100 FP8 MAMF 0.7088 of 1,979 TFLOP/s vs bf16 0.803 of 989: 1.77x
    assert fp8.attention_flops_per_s / bf16.attention_flops_per_s == pytest.approx(
        (0.7088 * 1979) / (0.803 * 989.4), rel=0.01)


def test_fp8_attention_speeds_up_long_prompts_only():
    kw = dict(quant="fp8", kv_dtype="fp8", tp=1)
    long_bf16 = serve("llama-3.1-8b", "h100-sxm", input_tokens=20000, output_tokens=2000, **kw)
    long_fp8 = serve("llama-3.1-8b", "h100-sxm", input_tokens=20000, output_tokens=2000,
                     attention_dtype="fp8", **kw)
    short_bf16 = serve("llama-3.1-8b", "h100-sxm", input_tokens=128, output_tokens=128, **kw)
    short_fp8 = serve("llama-3.1-8b", "h100-sxm", input_tokens=128, output_tokens=128,
                      attention_dtype="fp8", **kw)
    gain_long = long_fp8.replica.output_tokens_per_s / long_bf16.replica.output_tokens_per_s
    gain_short = short_fp8.replica.output_tokens_per_s / short_bf16.replica.output_tokens_per_s
    assert gain_long > 1.02  # 20,000-token prefills: attention is a quarter of their FLOPs
    assert gain_short == pytest.approx(1.0, abs=0.01)
    assert any("attention cores in fp8" in n for n in long_fp8.notes)


def test_fp8_attention_needs_fp8_tensor_cores():
    cat = load_catalog()
    assert attention_dtype(None, cat.accelerator("a100-80gb")) == "bf16"
    with pytest.raises(UserError, match="FP8 tensor cores"):
        attention_dtype("fp8", cat.accelerator("a100-80gb"))
    runner = CliRunner()
    r = runner.invoke(app, ["serve", "llama-3.1-8b", "--gpu", "a100-80gb",
                            "--attention-dtype", "fp8", "--json"])
    assert r.exit_code == 2 and "FP8 tensor cores" in r.stderr and "\n" not in r.stderr.strip()
    r = runner.invoke(app, ["serve", "llama-3.1-8b", "--gpu", "h100-sxm",
                            "--attention-dtype", "int4", "--json"])
    assert r.exit_code == 2 and "accepted: bf16, fp8" in r.stderr
    r = runner.invoke(app, ["serve", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8",
                            "--attention-dtype", "fp8", "--json"])
    assert r.exit_code == 0, r.output
    assert any("attention cores in fp8" in n for n in json.loads(r.stdout)["notes"])
