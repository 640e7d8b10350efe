"""Training planner: formulas against their papers, invariants, CLI contract."""

import inspect
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gpuplan.cli.app import app
from gpuplan.demand.comms import collective_time_s
from gpuplan.demand.hardware import gemm_time_s
from gpuplan.demand.training import CostOut, TrainResult, goodput, train
from gpuplan.errors import UserError
from gpuplan.money import training_run_cost_usd
from gpuplan.pipeline.priced import priced_train


def test_nccl_tests_bus_bandwidth_convention():
    # nccl-tests doc/PERFORMANCE.md: busbw = algbw · 2(n−1)/n for all-reduce, so a 1 GB
    # all-reduce over 8 ranks at 400 GB/s bus bandwidth takes 1e9 · 2·7/8 / 400e9 = 4.375 ms.
    t = collective_time_s("all_reduce", 1e9, 8, 400e9, 0.0)
    assert t == pytest.approx(1e9 * 2 * 7 / 8 / 400e9)
    assert collective_time_s("all_gather", 1e9, 8, 400e9, 0.0) == pytest.approx(1e9 * 7 / 8 / 400e9)
    assert collective_time_s("all_reduce", 1e9, 1, 400e9, 1e-5) == 0.0  # a group of one
    assert collective_time_s("send_recv", 8, 2, 400e9, 1e-5) == pytest.approx(1e-5, rel=1e-3)


def test_roofline_gemm():
    # Williams et al. 2009 roofline: large square GEMMs are compute-bound, skinny ones memory-bound
    peak, eff, bw = 989e12, 0.8, 3e12
    big = gemm_time_s(8192, 8192, 8192, peak, eff, bw)
    assert big == pytest.approx(2 * 8192**3 / (peak * eff))
    skinny = gemm_time_s(1, 8192, 8192, peak, eff, bw)
    assert skinny == pytest.approx(2 * (8192 + 8192**2 + 8192) / bw)


def test_young_daly_interval():
    # Young 1974: τ ≈ sqrt(2·δ·M) when δ ≪ M; Daly 2006 subtracts δ.
    delta, lam_gpu, n = 60.0, 1e-6, 1000  # δ = 60 s, M = 1/(λ·N) = 1000 h
    res = goodput(n, lam_gpu, delta, 600.0)
    M = 3600 / (lam_gpu * n)
    assert float(res["mtbf_s"]) == pytest.approx(M)
    assert float(res["interval_s"]) == pytest.approx(math.sqrt(2 * delta * M) - delta)
    assert 0.9 < float(res["goodput"]) < 1.0


def test_goodput_falls_with_scale():
    g = goodput(np.array([1e3, 1e4, 1e5]), 2e-5, 30.0, 600.0)["goodput"]
    assert np.all(np.diff(g) < 0)


def test_pinned_layout_and_bubble():
    r = train("llama-3.1-70b", "h100-sxm", 512, 1e11, seq_len=4096,
              layout="tp=8,pp=4,vpp=1,mb=1,recompute=selective,zero=1", failures=False)
    lay = r.layout
    assert (lay.tp, lay.pp, lay.dp, lay.vpp, lay.recompute, lay.zero) == \
        (8, 4, 16, 1, "selective", 1)
    # Narayanan et al. 2021 Section 2.2: bubble = (p−1)/(v·m) of the ideal pipeline time
    m = r.global_batch_tokens / r.seq_len / (lay.dp * lay.mb)
    per_mb = (r.step_time_s - r.breakdown["bubble_s"] - r.breakdown["dp_comm_exposed_s"]
              - r.breakdown["optimizer_s"]) / m
    assert r.breakdown["bubble_s"] == pytest.approx(per_mb * (lay.pp - 1) / lay.vpp, rel=1e-9)


def test_search_beats_or_equals_any_pinned_layout():
    free = train("llama-3.1-8b", "h100-sxm", 64, 1e11, seq_len=4096, failures=False)
    pinned = train("llama-3.1-8b", "h100-sxm", 64, 1e11, seq_len=4096, failures=False,
                   layout="tp=8,pp=1")
    assert free.step_time_s <= pinned.step_time_s
    assert free.candidates_evaluated > pinned.candidates_evaluated
    assert len(free.top) == 5


def test_moe_trains_with_expert_parallel():
    r = train("mixtral-8x7b", "h100-sxm", 256, 1e11, seq_len=4096, layout="ep=8",
              failures=False)
    assert r.layout.ep == 8 and r.breakdown["ep_comm_s"] > 0
    assert r.model_flops_per_token < 6 * 46.7e9  # active, not total, parameters


def test_failures_cost_time():
    ideal = train("llama-3.1-70b", "h100-sxm", 4096, 1e12, failures=False)
    real = train("llama-3.1-70b", "h100-sxm", 4096, 1e12, failures=True)
    assert real.goodput < 1.0 and real.wall_days > ideal.wall_days
    assert real.gpu_hours == pytest.approx(ideal.gpu_hours / real.goodput, rel=1e-9)


def test_demand_prices_nothing():
    # Pricing is the pipeline's: train() takes no price and leaves cost_usd empty.
    params = inspect.signature(train).parameters
    assert not [p for p in params if "usd" in p]
    r = train("llama-3.1-8b", "h100-sxm", 8, 1e9, failures=False)
    assert r.cost_usd == CostOut(own=None, rent=None)
    assert r.model_dump()["cost_usd"] == {"own": None, "rent": None}


def test_published_run_cost():
    # DeepSeek-V3 technical report (arXiv 2412.19437) Table 1: 2.788M H800 GPU-hours at
    # $2 per GPU-hour is $5.576M. The money stage's run cost reproduces the published figure.
    assert training_run_cost_usd(2.788e6, 2.0) == pytest.approx(5.576e6)


def test_priced_run_is_gpu_hours_times_rate():
    r = train("deepseek-v3", "h800", 2048, 1e11)
    p = priced_train("deepseek-v3", "h800", 2048, 1e11, rent_usd_per_gpu_hour=2.0,
                     own_usd_per_gpu_hour=1.35)
    assert p.gpu_hours == r.gpu_hours and p.layout == r.layout
    assert p.cost_usd.rent == pytest.approx(r.gpu_hours * 2.0)
    assert p.cost_usd.own == pytest.approx(r.gpu_hours * 1.35)


def test_cost_assignment_is_validated():
    # the pipeline assigns the money stage's mapping; the typed result keeps it typed
    r = train("llama-3.1-8b", "h100-sxm", 8, 1e9, failures=False)
    r.cost_usd = {"own": 1.0, "rent": 2.0}  # type: ignore[assignment]
    assert isinstance(r.cost_usd, CostOut) and r.cost_usd.rent == 2.0
    with pytest.raises(ValueError):
        r.cost_usd = {"own": 1.0, "bogus": 2.0}  # type: ignore[assignment]


def test_lora_is_cheaper_per_token_than_full_finetune():
    # LoRA (Hu et al. 2021): no weight gradients for the frozen base, adapters only in the
    # optimizer; memory and time per token fall.
    full = train("llama-3.1-8b", "h100-sxm", 8, 1e9, mode="finetune", failures=False)
    lora = train("llama-3.1-8b", "h100-sxm", 8, 1e9, mode="lora", failures=False)
    qlora = train("llama-3.1-8b", "h100-sxm", 8, 1e9, mode="qlora", failures=False)
    assert lora.tokens_per_s > full.tokens_per_s
    assert lora.model_flops_per_token < full.model_flops_per_token
    # (QLoRA's memory against LoRA on one pinned layout: test_published_checks.py)
    assert qlora.tokens_per_s > 0
    with pytest.raises(UserError, match="^mode 'inference' unknown"):
        train("llama-3.1-8b", "h100-sxm", 8, 1e9, mode="inference")


@settings(max_examples=15, deadline=None)
@given(tokens=st.floats(1e9, 1e13), factor=st.floats(1.01, 10))
def test_more_tokens_never_shorten(tokens, factor):
    a = train("llama-3.1-8b", "h100-sxm", 64, tokens, failures=True)
    b = train("llama-3.1-8b", "h100-sxm", 64, tokens * factor, failures=True)
    assert b.wall_days >= a.wall_days and b.gpu_hours >= a.gpu_hours
    assert 0 < a.mfu <= 1 and 0 < a.hfu <= 1


@settings(max_examples=15, deadline=None)
@given(price=st.floats(0.1, 20), more=st.floats(0.0, 10))
def test_higher_price_never_lowers_cost(price, more):
    a = priced_train("llama-3.1-8b", "h100-sxm", 16, 1e10, rent_usd_per_gpu_hour=price)
    b = priced_train("llama-3.1-8b", "h100-sxm", 16, 1e10, rent_usd_per_gpu_hour=price + more)
    assert b.cost_usd.rent >= a.cost_usd.rent


@pytest.mark.parametrize("kw,field,msg", [
    (dict(gpus=0), "gpus", "^gpus must be a whole number from 1 .* got 0$"),
    (dict(gpus=True), "gpus", "^gpus must be a whole number"),
    (dict(tokens=-1.0), "tokens", "^tokens must be a number above 0 .* got -1.0$"),
    (dict(tokens=float("nan")), "tokens", "^tokens must be a finite number, got nan$"),
    (dict(seq_len=2**30), "seq_len", "^seq_len must be a whole number"),
    (dict(global_batch_tokens=100.0), "global_batch_tokens", "^global_batch_tokens must be"),
    (dict(dtype="fp4"), "dtype", "^dtype 'fp4' unknown; accepted: bf16, fp16, fp8$"),
    (dict(mode="pretrain"), "mode", "^mode 'pretrain' unknown"),
    (dict(layout="tp=8,foo=2"), "layout", "^layout key 'foo' unknown"),
    (dict(layout="tp=3"), "layout", "does not divide"),
    (dict(gpus=3, layout="tp=2"), "gpus", "no layout"),
    (dict(gpus=1), "gpus", "no layout"),  # 70B training does not fit one GPU
])
def test_bad_train_inputs(kw, field, msg):
    # messages name the parameter (never a CLI flag); the CLI turns it into the flag
    args = dict(model="llama-3.1-70b", gpu="h100-sxm", gpus=64, tokens=1e10)
    args.update(kw)
    with pytest.raises(UserError, match=msg) as e:
        train(args.pop("model"), args.pop("gpu"), args.pop("gpus"), args.pop("tokens"), **args)
    assert e.value.field == field
    assert "--" not in str(e.value)
    if field and str(e.value).startswith(field):
        assert e.value.as_flag_message().startswith("--" + field.replace("_", "-"))


def test_train_cli_json():
    r = CliRunner().invoke(app, ["train", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "64",
                                 "--tokens", "1e11", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("layout", "step_time_s", "tokens_per_s", "mfu", "hfu", "model_flops_per_token",
              "gpu_hours", "wall_days", "memory_per_gpu_bytes", "energy_wh", "goodput",
              "candidates_evaluated", "cost_usd"):
        assert k in d
    assert TrainResult.model_validate(d).model_dump() == d
    human = CliRunner().invoke(app, ["train", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "8",
                                     "--tokens", "1e10", "--no-failures"])
    assert human.exit_code == 0 and "bottleneck" in human.stdout


def test_train_cli_error_exit_2():
    r = CliRunner().invoke(app, ["train", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "0",
                                 "--tokens", "1e11"])
    assert r.exit_code == 2 and "--gpus" in r.stderr
