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
    from gpuplan.demand.hardware import hardware_for
    from gpuplan.demand.memory import weight_bytes

    a = arch_of("llama-3.1-70b")
    hw = hardware_for(cat, cat.accelerators["h100-sxm"], "bf16")
    d = decode_step_s(a, hw, weight_format="bf16", kv_dtype="bf16", batch=np.array([1, 512]),
                      context=1024, tp=8, pp=1, overhead_per_layer_s=0.0)
    assert d["memory_s"][0] > d["compute_s"][0]
    assert d["memory_s"][0] == pytest.approx(
        (weight_bytes(a, "bf16") / 8 + 1024 * 327_680 / 8) / hw.hbm_bytes_per_s, rel=1e-6)
    # batch 512 is compute-bound or close: per-sequence time falls ~linearly with batch
    assert d["step_s"][1] / 512 < d["step_s"][0] / 4


def test_moe_reads_active_experts_only_at_small_batch(cat, arch_of):
    from gpuplan.demand.hardware import hardware_for

    a = arch_of("mixtral-8x7b")
    hw = hardware_for(cat, cat.accelerators["h100-sxm"], "bf16")
    one = decode_step_s(a, hw, weight_format="bf16", kv_dtype="bf16", batch=1, context=512,
                        tp=1, pp=1, overhead_per_layer_s=0.0)
    many = decode_step_s(a, hw, weight_format="bf16", kv_dtype="bf16", batch=256, context=512,
                         tp=1, pp=1, overhead_per_layer_s=0.0)
    # Mixtral: 12.9B active of 46.7B; batch 1 reads ~13B parameters' bytes, batch 256 all 46.7B
    assert float(one["memory_s"]) < 0.35 * float(many["memory_s"])


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
