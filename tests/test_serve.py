"""Serving planner: formulas, invariants, the CLI contract."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gpuplan.cli.app import app
from gpuplan.demand.serving import (
    decode_step_s,
    expected_experts_touched,
    p99_wait_s,
    serve,
    speculative_speedup,
)
from gpuplan.errors import UserError


def test_experts_touched():
    # one token reads exactly top-k experts; many tokens read (almost) all of them
    assert expected_experts_touched(8, 2, 1) == pytest.approx(2.0)
    assert expected_experts_touched(256, 8, 10_000) == pytest.approx(256.0)
    assert 2 < expected_experts_touched(8, 2, 4) < 8


def test_mm1_p99_wait():
    # Kleinrock: P(W > t) = ρ·exp(−μ(1−ρ)t) → t99 = ln(ρ/0.01)/(μ(1−ρ))
    s, rho = 0.1, 0.5
    assert p99_wait_s(s, rho) == pytest.approx(math.log(0.5 / 0.01) / ((1 / s) * 0.5))
    assert p99_wait_s(s, 0.005) == 0.0


def test_speculative_decoding_expected_tokens():
    # Leviathan et al. 2023, Eq. 1: E[tokens] = (1 − α^(γ+1)) / (1 − α)
    assert speculative_speedup(0.8, 4) == pytest.approx((1 - 0.8**5) / 0.2)
    assert speculative_speedup(0.0, 4) == pytest.approx(1.0)
    assert speculative_speedup(1.0, 4) == pytest.approx(5.0)


def test_decode_is_bandwidth_bound_at_batch_one(cat, arch_of):
    # Pope et al. 2023: at batch 1 a decode step streams every weight once.
    from gpuplan.demand.memory import weight_bytes
    from gpuplan.demand.serving import serving_hardware

    a = arch_of("llama-3.1-70b")
    hw = serving_hardware(cat, cat.accelerators["h100-sxm"], "bf16")
    d = decode_step_s(a, hw, weight_format="bf16", kv_dtype="bf16", batch=np.array([1, 512]),
                      context=1024, tp=8, pp=1, overhead_per_layer_s=0.0)
    assert d["weights_s"][0] > d["gemm_s"][0]
    assert d["weights_s"][0] == pytest.approx(weight_bytes(a, "bf16") / 8 / hw.hbm_bytes_per_s,
                                              rel=1e-6)
    # KV of Llama-3.1-70B: 327,680 B per token (80 layers x 8 KV heads x 128 x 2 x 2 B)
    assert d["kv_read_s"][0] == pytest.approx(1024 * 327_680 / 8 / hw.hbm_bytes_per_s, rel=1e-6)
    # batch 512 is compute-bound or close: per-sequence time falls ~linearly with batch
    assert d["step_s"][1] / 512 < d["step_s"][0] / 4


def test_decode_attention_is_its_own_memory_bound_kernel(cat, arch_of):
    # The KV stream does not hide under the GEMMs' compute: its time adds to the step.
    from gpuplan.demand.serving import serving_hardware

    a = arch_of("llama-3.1-70b")
    hw = serving_hardware(cat, cat.accelerators["h100-sxm"], "fp8")
    d = decode_step_s(a, hw, weight_format="fp8", kv_dtype="fp8", batch=1024, context=2048,
                      tp=8, pp=1, overhead_per_layer_s=0.0, kv_read_efficiency=0.8)
    assert float(d["gemm_s"]) > float(d["weights_s"])  # the GEMMs are compute-bound here
    assert float(d["attention_s"]) >= float(d["kv_read_s"]) > 0
    assert float(d["linear_s"]) == pytest.approx(float(d["gemm_s"]), rel=1e-9)  # hard max
    assert float(d["step_s"]) == pytest.approx(float(d["gemm_s"] + d["attention_s"]
                                                     + d["elementwise_s"] + d["tp_comm_s"]),
                                               rel=1e-9)


def test_serving_efficiency_is_its_own(cat):
    # MAMF/peak per dtype (MLE MAMF tables, in the catalog) x the serving fraction fitted on
    # serving cases; a dtype without a measurement falls back to the same chip's bf16 ratio.
    from gpuplan.demand.serving import serving_fraction, serving_hardware

    h100 = cat.accelerators["h100-sxm"]
    f = serving_fraction()
    assert serving_hardware(cat, h100, "fp8").matmul_efficiency == pytest.approx(0.7088 * f)
    assert serving_hardware(cat, h100, "bf16").matmul_efficiency == pytest.approx(0.803 * f)
    gb = cat.accelerators["gb200"]
    assert "fp4" not in gb.matmul_efficiency  # no FP4 matmul measurement on GB200
    assert serving_hardware(cat, gb, "fp4").matmul_efficiency == pytest.approx(
        gb.matmul_efficiency["bf16"].value * f)
    # MI300X FP8: AMD's hipBLASLt measurement, 1,273 of 2,614.9 TFLOP/s (ROCm blog 2025-02-28)
    mi = cat.accelerators["mi300x"]
    assert serving_hardware(cat, mi, "fp8").matmul_efficiency == pytest.approx(
        1273 / 2614.9 * f, rel=1e-3)
    assert serving_hardware(cat, h100, "fp8", fraction=1.0).matmul_efficiency == \
        pytest.approx(0.7088)


def test_allocatable_memory(cat):
    # nvidia-smi totals: H200 143,771 MiB (public logs); H100 81,559 MiB (device_h100.yaml)
    from gpuplan.demand.serving import serving_hardware

    assert serving_hardware(cat, cat.accelerators["h200"], "fp8").memory_bytes == 143_771 * 2**20
    assert serving_hardware(cat, cat.accelerators["h100-sxm"], "fp8").memory_bytes == \
        81_559 * 2**20
    # an accelerator without the field serves from memory_bytes
    l40s = cat.accelerators["l40s"]
    assert l40s.allocatable_memory_bytes is None
    assert serving_hardware(cat, l40s, "bf16").memory_bytes == l40s.memory_bytes.value


@pytest.mark.parametrize("io,tp,measured", [
    # TensorRT-LLM 0.17 perf-overview.md @258c7540c0, Llama 3.1 70B FP8, H200 / H100 output tok/s
    ((128, 2048), 4, 14156 / 11511.93),
    ((128, 2048), 8, 21195.88 / 17061.82),
    ((2048, 2048), 8, 11142.47 / 8801.95),
])
def test_h200_over_h100_ratio_shows_bandwidth(io, tp, measured):
    # H200's 4.8 TB/s (vs 3.35) and larger KV room must show: within 10 % of the measured ratio
    kw = dict(quant="fp8", kv_dtype="fp8", input_tokens=io[0], output_tokens=io[1], tp=tp, pp=1)
    h200 = serve("llama-3.1-70b", "h200", **kw).replica.output_tokens_per_s
    h100 = serve("llama-3.1-70b", "h100-sxm", **kw).replica.output_tokens_per_s
    assert h200 / h100 == pytest.approx(measured, rel=0.10)


def test_server_mean_concurrency():
    # N + 2.326·sqrt(N) = cap  =>  cap 896 (NVIDIA's MLPerf v4.1 Mixtral per-replica max batch)
    from gpuplan.demand.serving import server_mean_concurrency

    n = float(server_mean_concurrency(896))
    assert n + 2.3263 * math.sqrt(n) == pytest.approx(896)
    assert n == pytest.approx(829.3, abs=0.5)


@pytest.mark.parametrize("gpu,offline,server,offline_batch,server_batch", [
    # MLPerf Inference v4.1 closed, NVIDIA, Mixtral-8x7B, 8 GPUs, output tokens/s
    # (mlcommons/inference_results_v4.1 .../mixtral-8x7b/{Offline,Server}/mlperf_log_summary.txt);
    # gpu_batch_size per closed/NVIDIA/configs/mixtral-8x7b/{Offline,Server}/__init__.py
    ("h100-sxm", 52415.9, 50795.57, 896, 896),
    ("h200", 59022.3, 57177.2, 3072, 1200),
])
def test_server_below_offline_as_measured(gpu, offline, server, offline_batch, server_batch):
    # mean prompt 427 tokens, DERIVED from the 15,000-sample set (serve_cases.yaml notes)
    kw = dict(quant="fp8", kv_dtype="fp8", input_tokens=427, output_tokens=146, tp=1, pp=1)
    off = serve("mixtral-8x7b", gpu, max_batch=offline_batch, **kw)
    srv = serve("mixtral-8x7b", gpu, scenario="server", ttft_ms=2000, tpot_ms=200,
                max_batch=server_batch, **kw)
    ratio = srv.output_tokens_per_s_per_gpu / off.output_tokens_per_s_per_gpu
    # Server never beats Offline; measured 0.969 on both
    assert srv.meets_slo and ratio <= 1 + 1e-9
    assert ratio == pytest.approx(server / offline, abs=0.05)
    assert srv.replica.batch + 2.3263 * math.sqrt(srv.replica.batch) <= server_batch + 1


def test_moe_reads_active_experts_only_at_small_batch(cat, arch_of):
    from gpuplan.demand.serving import serving_hardware

    a = arch_of("mixtral-8x7b")
    hw = serving_hardware(cat, cat.accelerators["h100-sxm"], "bf16")
    one = decode_step_s(a, hw, weight_format="bf16", kv_dtype="bf16", batch=1, context=512,
                        tp=1, pp=1, overhead_per_layer_s=0.0)
    many = decode_step_s(a, hw, weight_format="bf16", kv_dtype="bf16", batch=256, context=512,
                         tp=1, pp=1, overhead_per_layer_s=0.0)
    # Mixtral: 12.9B active of 46.7B; batch 1 reads ~13B parameters' bytes, batch 256 all 46.7B
    assert float(one["weights_s"]) < 0.35 * float(many["weights_s"])


def test_slo_and_fleet_sizing():
    r = serve("llama-3.1-70b", "h100-sxm", rate=10, ttft_ms=2000, tpot_ms=50)
    assert r.meets_slo
    assert r.replica.ttft_s <= 2.0 and r.replica.tpot_s <= 0.05
    demand = 10 * 256
    assert r.replicas == math.ceil(demand * 1.2 / r.replica.output_tokens_per_s)
    assert r.gpus == r.replicas * r.replica.gpus
    assert r.output_tokens_per_s_per_gpu == pytest.approx(r.replica.output_tokens_per_s
                                                          / r.replica.gpus)


def test_tighter_tpot_never_raises_throughput_per_gpu():
    loose = serve("llama-3.1-8b", "h100-sxm", tpot_ms=200)
    tight = serve("llama-3.1-8b", "h100-sxm", tpot_ms=20)
    assert tight.output_tokens_per_s_per_gpu <= loose.output_tokens_per_s_per_gpu


@settings(max_examples=10, deadline=None)
@given(rate=st.floats(0.1, 500), more=st.floats(1.0, 5.0))
def test_more_traffic_never_needs_fewer_gpus(rate, more):
    a = serve("llama-3.1-8b", "h100-sxm", rate=rate, ttft_ms=1000, tpot_ms=60)
    b = serve("llama-3.1-8b", "h100-sxm", rate=rate * more, ttft_ms=1000, tpot_ms=60)
    assert b.gpus >= a.gpus


def test_quantisation_and_mla():
    bf16 = serve("llama-3.1-70b", "h100-sxm", quant="bf16", tp=4, pp=1)
    int4 = serve("llama-3.1-70b", "h100-sxm", quant="int4", tp=4, pp=1)
    assert int4.replica.max_concurrency > bf16.replica.max_concurrency
    ds = serve("deepseek-v3", "h200", quant="fp8")
    assert ds.replica.gpus >= 8 and ds.replica.ep == ds.replica.tp
    with pytest.raises(UserError, match="fp8"):
        serve("llama-3.1-8b", "a100-80gb", quant="fp8")  # Ampere has no FP8 tensor cores


@pytest.mark.parametrize("kw,field,msg", [
    (dict(rate=-1.0), "rate", "^rate must be a number above 0 .* got -1.0$"),
    (dict(rate=float("inf")), "rate", "^rate must be a finite number, got inf$"),
    (dict(ttft_ms=0.0), "ttft_ms", "^ttft_ms must be a number above 0"),
    (dict(input_tokens=0), "input_tokens", "^input_tokens must be a whole number"),
    (dict(output_tokens=2.5), "output_tokens", "^output_tokens must be a whole number"),
    (dict(quant="int3"), "quant", "^quant 'int3' unknown; accepted: .*auto$"),
    (dict(kv_dtype="fp2"), "kv_dtype", "^kv_dtype 'fp2' unknown"),
    (dict(rate=1.0, tokens_per_day=1e9), "rate", "not both"),
    (dict(headroom=float("nan")), "headroom", "^headroom must be a finite number"),
    (dict(speculative_acceptance=1.5), "speculative_acceptance",
     "^speculative_acceptance must be a number from 0 up to 1, got 1.5$"),
    (dict(tp=3), None, "does not divide"), (dict(tp=0), "tp", "^tp must be a whole number"),
    (dict(pp=100), None, "layers"),
    (dict(scenario="online"), "scenario", "^scenario .online. unknown; accepted: offline"),
])
def test_bad_inputs(kw, field, msg):
    # messages name the parameter (never a CLI flag); the CLI turns it into the flag
    with pytest.raises(UserError, match=msg) as e:
        serve("llama-3.1-8b", "h100-sxm", **kw)
    assert e.value.field == field
    assert "--" not in str(e.value)
    if field:
        assert e.value.as_flag_message().startswith("--" + field.replace("_", "-"))


def test_demand_prices_nothing_and_cost_is_typed():
    from gpuplan.demand.serving import ServeCost

    r = serve("llama-3.1-8b", "h100-sxm", rate=5)
    assert r.cost_usd is None and r.model_dump()["cost_usd"] is None
    # the pipeline assigns money.serve_cost's mapping; it is validated into the typed record
    keys = ("own_usd_per_gpu_hour", "own_usd_per_hour", "own_usd_per_million_output_tokens",
            "rent_usd_per_gpu_hour", "rent_usd_per_hour", "rent_usd_per_million_output_tokens")
    r.cost_usd = dict(zip(keys, (1.0, 8.0, 0.5, 2.0, 16.0, None)))
    assert isinstance(r.cost_usd, ServeCost) and r.cost_usd.rent_usd_per_hour == 16.0
    assert tuple(r.model_dump()["cost_usd"]) == keys  # JSON keys in money's order
    with pytest.raises(ValueError):
        r.cost_usd = {"own_usd": 1.0}


def test_does_not_fit_is_a_user_error():
    with pytest.raises(UserError, match="does not fit"):
        serve("llama-3.1-405b", "l40s", quant="bf16")


def test_serve_cli_contract():
    r = CliRunner().invoke(app, ["serve", "llama-3.1-8b", "--gpu", "h100-sxm", "--rate", "5",
                                 "--ttft-ms", "500", "--tpot-ms", "40", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d["replica"]) >= {"gpus", "tp", "max_concurrency", "output_tokens_per_s",
                                 "ttft_s", "tpot_s"}
    for k in ("replicas", "gpus", "output_tokens_per_s_per_gpu"):
        assert k in d
    from gpuplan.demand.serving import ServeResult

    assert ServeResult.model_validate(d).model_dump() == d
    human = CliRunner().invoke(app, ["serve", "mixtral-8x7b", "--gpu", "h100-sxm",
                                     "--tokens-per-day", "1e9"])
    assert human.exit_code == 0 and "bottleneck" in human.stdout
    bad = CliRunner().invoke(app, ["serve", "llama-3.1-8b", "--gpu", "h100-sxm", "--rate", "-2"])
    assert bad.exit_code == 2 and "--rate" in bad.stderr


def test_speculative_decoding_pays_for_verification_and_the_draft():
    # Leviathan et al. 2023: α = 0.8, γ = 4 gives 3.36 tokens per target step; each step
    # verifies γ + 1 = 5 rows per sequence and runs γ steps of the draft (Llama 3.1 8B, the
    # smallest catalog model sharing the 70B's 128,256-token vocabulary).
    kw = dict(quant="fp8", kv_dtype="fp8", input_tokens=1024, output_tokens=256, tp=8, pp=1)
    spec = dict(speculative_acceptance=0.8, draft_tokens=4)
    small = serve("llama-3.1-70b", "h100-sxm", max_batch=1, **kw)
    small_spec = serve("llama-3.1-70b", "h100-sxm", max_batch=1, **kw, **spec)
    assert small_spec.replica.tpot_s < small.replica.tpot_s  # memory-bound: it wins
    assert small_spec.replica.tpot_s > small.replica.tpot_s / 3.36  # but not by 3.36x
    big = serve("llama-3.1-70b", "h100-sxm", max_batch=1024, **kw)
    big_spec = serve("llama-3.1-70b", "h100-sxm", max_batch=1024, **kw, **spec)
    # compute-bound: verifying 5 rows per sequence costs more than the 3.36 tokens it yields
    assert big_spec.output_tokens_per_s_per_gpu < big.output_tokens_per_s_per_gpu
    # the draft's weights and KV take memory from the target's batch
    assert big_spec.replica.memory_per_gpu_bytes > 0
    with pytest.raises(UserError, match="^draft_model: no catalog model smaller") as e:
        serve("opt-13b", "h100-sxm", **spec)
    assert e.value.field == "draft_model"


def test_pipeline_parallel_is_priced_and_pp1_preferred_in_the_domain(cat, arch_of):
    from gpuplan.demand.serving import serving_hardware

    a = arch_of("llama-3.1-70b")
    hw = serving_hardware(cat, cat.accelerators["h100-sxm"], "fp8")
    d = decode_step_s(a, hw, weight_format="fp8", kv_dtype="fp8", batch=256, context=1024,
                      tp=np.array([8, 4]), pp=np.array([1, 2]), overhead_per_layer_s=0.0)
    assert d["pp_comm_s"][0] == 0 and d["pp_comm_s"][1] > 0  # the stage-to-stage send
    # PP's TPOT is p stage times: under a tight target only PP = 1 (TP inside the NVLink
    # domain) meets it
    tight = serve("llama-3.1-70b", "h100-sxm", quant="fp8", tpot_ms=40)
    assert tight.meets_slo and tight.replica.pp == 1
    # PP is chosen only where it really wins: more tokens/s per GPU than the best PP = 1 shape
    # (fatter GEMMs, no all-reduce; TP1 beats TP8 per GPU in TensorRT-LLM's 70B table:
    # 4,165.68 vs 21,195.88 / 8 tok/s on H200)
    for kw in (dict(), dict(tpot_ms=100)):
        free = serve("llama-3.1-70b", "h100-sxm", quant="fp8", **kw)
        pp1 = serve("llama-3.1-70b", "h100-sxm", quant="fp8", pp=1, **kw)
        assert free.replica.pp == 1 or \
            free.output_tokens_per_s_per_gpu > pp1.output_tokens_per_s_per_gpu


def test_serve_cli_server_scenario():
    args = ["serve", "llama-3.1-8b", "--gpu", "h100-sxm", "--ttft-ms", "2000", "--tpot-ms",
            "200", "--json"]
    off = json.loads(CliRunner().invoke(app, args).stdout)
    srv = CliRunner().invoke(app, [*args, "--scenario", "server"])
    assert srv.exit_code == 0, srv.output
    d = json.loads(srv.stdout)
    assert 0 < d["output_tokens_per_s_per_gpu"] < off["output_tokens_per_s_per_gpu"]
    bad = CliRunner().invoke(app, [*args, "--scenario", "online"])
    assert bad.exit_code == 2 and "--scenario" in bad.stderr and "server" in bad.stderr
