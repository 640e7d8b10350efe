"""`gpuplan validate`: the shipped published cases are regression tests of the training model."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gpuplan.cli.app import app
from gpuplan.validation import validate

VALIDATION = Path(__file__).resolve().parent.parent / "src" / "gpuplan" / "validation"


@pytest.fixture(scope="module")
def report():
    return validate()


def test_every_case_runs(report):
    assert len(report.cases) >= 100
    skipped = [r for r in report.cases if r.skipped]
    # only the MLPerf LoRA cases, whose token counts are unpublished, may be skipped
    assert all("token count" in r.skipped for r in skipped), [r.skipped for r in skipped]
    assert len(skipped) <= 4


# Current accuracy (median |relative error| per quantity), with a small margin: a change that
# makes the model worse on the published runs fails here. See docs/training.md for the figures.
# Over headline rows only (projections and unpublished setups are out, see train_cases.yaml).
BOUNDS = {"tflops_per_gpu": 0.10, "mfu": 0.20, "tokens_per_s_per_gpu": 0.25,
          "step_time_s": 0.30, "gpu_hours": 0.15, "wall_days": 0.15}


@pytest.mark.parametrize("quantity,bound", BOUNDS.items())
def test_median_error_bounds(report, quantity, bound):
    row = next(s for s in report.summary if s.quantity == quantity)
    assert row.median_abs_error <= bound, row


def test_megatron_table1_rows(report):
    # Narayanan et al. 2021 Table 1 (published TP/PP layouts, full recompute, A100): every row
    # within 25 % of the achieved TFLOP/s per GPU.
    rows = [r for r in report.cases if r.id.startswith("narayanan2021-t1-")]
    assert len(rows) == 10
    for r in rows:
        assert abs(r.relative_error) < 0.25, (r.id, r.relative_error)


def test_calibration_is_global_per_generation():
    cal = yaml.safe_load((VALIDATION.parent / "demand" / "calibration.yaml").read_text())
    gens = cal["generations"]
    assert {"ampere", "hopper"} <= set(gens)
    for g in gens.values():
        assert 0.3 < g["training_mamf_fraction"] <= 1.0
        assert g["cases"] >= 10


def test_device_memory_measurements(device_step_fit):
    # Our H100 measurements (validation/device_h100.yaml): torch.cuda.max_memory_allocated of a
    # GPT-2-style training step vs gpuplan's training memory at the same shape: within 25 %;
    # the configuration that ran out of memory must not fit.
    d = yaml.safe_load((VALIDATION / "device_h100.yaml").read_text())
    checked = 0
    for r in d["train_step"]:
        if r.get("compiled"):
            continue
        res = device_step_fit(r)
        if r["status"] == "OOM":
            assert not res.fits
        else:
            measured = r["max_allocated_bytes"]
            assert res.per_gpu_bytes.total == pytest.approx(measured, rel=0.25), r["model"]
        checked += 1
    assert checked >= 7


def test_validate_cli_json_and_custom_file(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["validate", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["summary"] and d["cases"]
    case = {"schema_version": 1, "cases": [{
        "id": "mine", "source_record": "x", "citation": "my run", "model": "llama-3.1-8b",
        "gpu": "h100-sxm", "gpus": 8, "seq_len": 4096, "global_batch_tokens": 1048576.0,
        "quantity": "mfu", "measured": 0.4}]}
    p = tmp_path / "cases.yaml"
    p.write_text(yaml.safe_dump(case))
    r = runner.invoke(app, ["validate", "--cases", str(p), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert len(out["cases"]) == 1 and out["cases"][0]["predicted"] > 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases: [{id: x}]")
    r = runner.invoke(app, ["validate", "--cases", str(bad)])
    assert r.exit_code == 2 and "bad.yaml" in r.stderr


# Current medians with a small margin (issue 13, 2026-12-04): throughput 4.0 % over the 68
# headline cases (TensorRT-LLM v0.17 and v1.0, MLPerf v4.1 Llama-2-70B and Mixtral, vLLM on
# MI300X; the 12 TRT v1.0 MoE rows whose expert layout is unpublished are not headline), worst
# 21.3 % (MLPerf B200 Server); our held-out H100 decode TPOT 6.9 % (worst 17.1 % at batch 256;
# the per-layer grid now stops at that decode's ~80 us, see docs/serving.md).
SERVE_BOUNDS = {"output_tokens_per_s": 0.05, "tpot_s": 0.08, "kv_cache_bytes_per_token": 0.0}
#: Issue 13's acceptance: the worst headline serving throughput row within 25 %.
SERVE_WORST_THROUGHPUT_ERROR = 0.25


@pytest.mark.parametrize("quantity,bound", SERVE_BOUNDS.items())
def test_serving_error_bounds(report, quantity, bound):
    # TensorRT-LLM 0.17 throughput table, MLPerf Inference v4.1 Mixtral, vLLM paper; our H100
    # decode (held out of the calibration). Current medians with a small margin.
    row = next(s for s in report.summary if s.quantity == quantity)
    assert row.median_abs_error <= bound + 1e-12, row


def test_serving_throughput_worst_within_acceptance(report):
    row = next(s for s in report.summary if s.quantity == "output_tokens_per_s")
    assert row.worst_abs_error <= SERVE_WORST_THROUGHPUT_ERROR, row
    assert row.cases >= 60  # headline rows only: the non-headline MoE rows are left out
    labelled = [r for r in report.cases if r.quantity == "output_tokens_per_s" and not r.headline]
    assert labelled and all(r.reason for r in labelled)


def test_serving_fit_decisions_all_right(report):
    fits = [r for r in report.cases if r.quantity == "fits"]
    assert len(fits) >= 5 and all(r.relative_error == 0 for r in fits)


def test_recsys_cases_in_validate(report):
    # MLPerf Training v4.0 DLRM-DCNv2 and MLPerf Inference v4.1 DLRM (see recsys_cases.yaml)
    rows = [r for r in report.cases if r.quantity in ("train_samples_per_s", "serve_qps")]
    assert len(rows) >= 6
    assert all(abs(r.relative_error) < 0.15 for r in rows)
    # MLPerf Inference v4.1 DLRM-v2 Offline and Server on 8×H100 / 8×H200 (2026-12-03, after
    # the Server batch-fit rule): −7.0 %, +1.6 %, −4.1 %, −2.3 %; worst with a small margin.
    serve = [r for r in report.cases if r.quantity == "serve_qps"]
    assert len(serve) == 4 and all(abs(r.relative_error) <= 0.075 for r in serve), serve


def test_hardware_reads_the_fitted_fractions():
    # the step-time models read the same file the calibration writes, per generation
    from gpuplan.demand.hardware import CALIBRATION_FILE, calibration, training_mamf_fraction

    cal = yaml.safe_load(CALIBRATION_FILE.read_text())
    assert calibration() == cal
    for g in cal["generations"].values():
        for acc in g["accelerators"]:
            assert training_mamf_fraction(acc) == g["training_mamf_fraction"]
    assert training_mamf_fraction("no-such-gpu") == cal["default"]["training_mamf_fraction"]


def test_every_stage_has_cases(report):
    # the report carries the training, serving, decode, recommender, cluster and money cases
    ids = {r.id for r in report.cases}
    from gpuplan.validation import load_cases

    for f in ("train_cases.yaml", "serve_cases.yaml", "device_cases.yaml"):
        assert {c.id for c in load_cases(VALIDATION / f).cases} <= ids, f
    quantities = {r.quantity for r in report.cases}
    assert {"tflops_per_gpu", "output_tokens_per_s", "tpot_s"} <= quantities


# Rows the issue names as projections or unpublished setups (issue 12, item 9): out of the
# headline, each with its reason.
OUT_OF_HEADLINE = ("narayanan2021-est-gpt3-175b-days", "narayanan2021-est-1t-days",
                   "narayanan2021-t2-zero3-174.6b-384gpu-days", "llama3-8b-gpu-hours",
                   "llama3-70b-gpu-hours", "llama32-1b-gpu-hours", "llama32-3b-gpu-hours",
                   "llama4-scout-gpu-hours", "llama4-maverick-gpu-hours", "mpt-7b-wall-days",
                   "smollm3-3b-wall-days",
                   # whole-run GPU-hours whose GPU count the source does not publish
                   "llama2-70b-gpu-hours", "llama1-13b-gpu-hours")


def test_headline_rows_and_reasons(report):
    by_id = {r.id: r for r in report.cases}
    for i in OUT_OF_HEADLINE:
        assert by_id[i].headline is False and by_id[i].reason, i
    # measured throughput rows stay in
    for i in ("narayanan2021-t1-gpt-1008b", "bloom-176b-tflops",
              "narayanan2021-t2-zero3-174.6b-384gpu-tflops", "llama1-65b-gpu-hours"):
        assert by_id[i].headline is True and by_id[i].reason is None, i
    assert "GPU count" in str(by_id["llama2-70b-gpu-hours"].reason)
    # the summary counts headline rows only
    out = sum(not r.headline and r.relative_error is not None and r.quantity == "wall_days"
              for r in report.cases)
    n_all = sum(r.relative_error is not None and r.quantity == "wall_days" for r in report.cases)
    row = next(s for s in report.summary if s.quantity == "wall_days")
    assert out > 0 and row.cases == n_all - out
    assert report.training is not None and report.excluded >= len(OUT_OF_HEADLINE)
    assert report.training.median_abs_error <= report.training.worst_abs_error


def test_like_for_like_flop_convention(report):
    # Narayanan et al. 2021 count the recompute forward (hardware FLOPs, Appendix: 96·B·s·l·h²);
    # Megatron-Core's TFLOP/s do not (num_floating_point_operations, model FLOPs).
    by_id = {r.id: r for r in report.cases}
    assert by_id["narayanan2021-t1-gpt-1008b"].convention.startswith("hardware")
    assert by_id["megatron-core-h100-gpt-462b"].convention.startswith("model")
    assert by_id["megatron-core-h100-gpt-462b"].framework == "megatron-core"


def test_headline_false_needs_reason():
    from pydantic import ValidationError

    from gpuplan.validation.training import Case

    base = dict(id="x", kind="train", source_record="r", citation="c", model="llama-3.1-8b",
                gpu="h100-sxm", quantity="mfu", measured=0.4)
    assert Case(**base).headline
    with pytest.raises(ValidationError):
        Case(**base, headline=False)


def test_validate_json_carries_headline():
    r = CliRunner().invoke(app, ["validate", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert all("headline" in c for c in d["cases"])
    assert all(c["reason"] for c in d["cases"] if not c["headline"])
    assert d["training"]["cases"] > 0


def test_own_search_reported_beside_published_layout(report):
    # Issue 12 item 9: a row evaluated in its published layout also says what gpuplan's own
    # search picks and how much faster it claims that is (never slower: the search includes
    # layouts at least as fast as the published one when that one is in its space).
    by_id = {r.id: r for r in report.cases}
    r = by_id["llama3-405b-table4-16k-tflops"]
    assert r.layout.startswith("tp=8,pp=16,dp=128,cp=1")  # Llama 3 Table 4 row 2
    assert r.search_layout and r.search_speedup is not None and r.search_speedup >= -1e-9
    assert by_id["llama2-70b-gpu-hours"].search_layout is None  # no published layout
