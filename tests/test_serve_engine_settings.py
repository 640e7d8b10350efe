"""The engine's token budget per iteration and KV memory share (--max-num-tokens,
--kv-memory-fraction): TensorRT-LLM's max_num_tokens and kv_cache_free_gpu_mem_fraction, vLLM's
max_num_batched_tokens. Defaults 8,192 and 0.90 (TensorRT-LLM's).
"""

import json

from typer.testing import CliRunner

from gpuplan.cli.app import app
from gpuplan.demand.serving import serve

KW = dict(quant="fp8", kv_dtype="fp8", tp=1, pp=1, input_tokens=128, output_tokens=2048)


def test_smaller_workspace_and_larger_kv_share_hold_more_sequences():
    # Llama 3.1 70B FP8 on one H100: weights ~72.7 GB of 85.5 GB; the KV pool is what is left
    base = serve("llama-3.1-70b", "h100-sxm", **KW)
    small = serve("llama-3.1-70b", "h100-sxm", max_num_tokens=2048, **KW)
    both = serve("llama-3.1-70b", "h100-sxm", max_num_tokens=2048, kv_memory_fraction=0.95,
                 **KW)
    assert base.replica.max_concurrency < small.replica.max_concurrency \
        < both.replica.max_concurrency
    assert both.replica.output_tokens_per_s > base.replica.output_tokens_per_s
    assert any("2048 tokens per iteration, KV pool 95%" in n for n in both.notes)
    assert not any("engine settings" in n for n in base.notes)


def test_long_prompts_take_more_iterations_with_a_small_budget():
    kw = dict(quant="fp8", tp=1, pp=1, input_tokens=20000, output_tokens=200, ttft_ms=1e6)
    big = serve("llama-3.1-8b", "h100-sxm", max_num_tokens=8192, **kw)
    small = serve("llama-3.1-8b", "h100-sxm", max_num_tokens=2048, **kw)
    assert small.replica.ttft_s > big.replica.ttft_s


def test_bad_engine_settings_exit_2():
    runner = CliRunner()
    for args, text in ((["--max-num-tokens", "8"], "at least 64"),
                       (["--kv-memory-fraction", "0"], "kv-memory-fraction"),
                       (["--kv-memory-fraction", "1.5"], "kv-memory-fraction")):
        r = runner.invoke(app, ["serve", "llama-3.1-8b", "--gpu", "h100-sxm", *args, "--json"])
        assert r.exit_code == 2 and text in r.stderr, (args, r.output)
    r = runner.invoke(app, ["serve", "llama-3.1-8b", "--gpu", "h100-sxm", "--max-num-tokens",
                            "2048", "--kv-memory-fraction", "0.95", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["replica"]["batch"] >= 1
