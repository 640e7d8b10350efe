"""Recommender planner (gpuplan.demand.recsys): published sizes, invariants, bad input, validation
(gpuplan.validation.recsys)."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuplan.demand.recsys import (
    RecsysSpec,
    dense_flops_per_sample,
    dense_params,
    embedding_bytes,
    embedding_bytes_per_sample,
    embedding_params,
    gpus_for_memory,
    interaction_shape,
    load_recsys_spec,
    lookups_per_sample,
    per_gpu_embedding_bytes,
    placement_segments,
    plan_recsys,
    recsys_arrays,
    recsys_hardware,
    serve_gpus,
    serve_p99_latency_s,
    sharding_strategy,
    tier_split,
    train_step_time,
    unique_rows,
    zipf_cdf,
)
from gpuplan.errors import UserError
from gpuplan.validation.recsys import validate_recsys_cases

ROOT = Path(__file__).resolve().parent.parent
DLRM = ROOT / "examples" / "recsys" / "dlrm-dcnv2.yaml"
GIB = 2**30


@pytest.fixture(scope="module")
def dlrm():
    return load_recsys_spec(DLRM)


@pytest.fixture(scope="module")
def arr(dlrm):
    return recsys_arrays(dlrm)


def small_spec(**over) -> RecsysSpec:
    d = dict(name="toy", dense_features=4, bottom_mlp=[32, 16], top_mlp=[64, 1],
             interaction={"type": "dot"}, optimizer="adagrad", dense_dtype="bf16",
             tables=[{"name": "user", "rows": 2_000_000, "dim": 16, "pooling_factor": 4},
                     {"name": "item", "rows": 500_000, "dim": 16, "pooling_factor": 1,
                      "count": 3, "zipf_alpha": 1.05},
                     {"name": "tiny", "rows": 10, "dim": 16, "dtype": "fp16"}])
    d.update(over)
    return RecsysSpec.model_validate(d)


# ----------------------------------------------------------------------------------------------
# Published values
# ----------------------------------------------------------------------------------------------


def test_dlrm_dcnv2_table_sizes(dlrm, arr):
    # mlcommons/training recommendation_v2/torchrec_dlrm/README.MD, "Running the MLPerf DLRM v2
    # benchmark": --num_embeddings_per_feature 40000000,39060,...,36 (26 tables), embedding_dim 128,
    # --multi_hot_sizes 3,2,1,...,1 (214 lookups per sample).
    assert len(dlrm.tables) == 26
    assert arr.rows.sum() == 204_184_588
    assert lookups_per_sample(arr) == 214
    assert embedding_params(arr) == 204_184_588 * 128
    # fp32 rows: 214 × 128 × 4 B read per sample in forward
    assert embedding_bytes_per_sample(arr) == 214 * 128 * 4
    # mlcommons/inference recommendation/dlrm_v2/pytorch/README.md lists the fp32 checkpoint at
    # "97.31GB" (du). Our fp32 rows: 104.54e9 B = 97.36 GiB; within 0.1 % if du printed GiB.
    assert embedding_bytes(arr) / GIB == pytest.approx(97.31, rel=1e-3)


def test_torchrec_one_hot_dlrm_table_bytes():
    # mlcommons/training recommendation_v2/torchrec_dlrm/README.MD, "Preliminary Training
    # Results": 26 tables (num_embeddings_per_feature 45833188,...,35), dim 128, "Collective Size
    # of Embedding Tables (GiB) 91.10". 177,944,275 rows × 512 B = 91.107e9 B: the column is in
    # GB (1e9 bytes), not GiB (it would be 84.85 GiB).
    spec = load_recsys_spec(ROOT / "examples" / "recsys" / "dlrm-criteo1tb-dot.yaml")
    a = recsys_arrays(spec)
    assert a.rows.sum() == 177_944_275
    assert embedding_bytes(a) / 1e9 == pytest.approx(91.10, abs=0.01)
    # Dot interaction (Naumov et al. 2019, Section 2): F = 26 + 1 vectors of width 128 give
    # 27·26/2 = 351 pairs; top-MLP input 128 + 351 = 479 (MLPerf DLRM v1 top MLP 479-1024-...).
    assert interaction_shape(spec)[0] == 479


def test_dcnv2_dense_params_and_flops(arr):
    # Hand count (Wang et al. 2021 Eq. 1 with W = U·Vᵀ, Section 3.4; TorchRec LowRankCrossNet:
    # V d×r, U r×d, bias d). x0 width D = 128 + 26·128 = 3456, r = 512, 3 layers.
    D, r = 3456, 512
    bottom = 13 * 512 + 512 + 512 * 256 + 256 + 256 * 128 + 128
    cross = 3 * (D * r + r * D + D)
    top = (D * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 512 + 512) + (512 * 256 + 256) \
        + (256 * 1 + 1)
    assert dense_params(arr) == bottom + cross + top == 16_044_545
    macs = (13 * 512 + 512 * 256 + 256 * 128) + 3 * 2 * D * r \
        + (D * 1024 + 1024 * 1024 + 1024 * 512 + 512 * 256 + 256)
    assert dense_flops_per_sample(arr) == 2 * macs


def test_dlrm_fits_one_h100_node_for_training(cat, arr):
    # fp32 rows + exact Adagrad state = 2 × 104.5 GB; NVIDIA trained it on one 8-GPU DGX H100
    # (MLPerf Training v4.0), so it must fit in ≤ 8 × 80 GB.
    g = gpus_for_memory(arr, cat.accelerator("h100-sxm").memory_bytes.value, 55296)
    assert 3 <= g <= 8


def test_retrain_one_epoch(dlrm, cat):
    # One epoch of the MLPerf DLRMv2 training set = 4,195,197,692 samples (days 0-22 of Criteo
    # 1TB; TOTAL_TRAINING_SAMPLES in the reference README and train_samples in the v4.0 logs).
    r = plan_recsys(dlrm, "h100-sxm", gpus=8, global_batch=55296, days_of_data=23,
                    samples_per_day=4_195_197_692 / 23, catalog=cat)
    assert r.retrain_samples == pytest.approx(4_195_197_692)
    assert r.retrain_gpu_hours == pytest.approx(8 * r.retrain_wall_s / 3600)
    assert r.retrain_wall_s == pytest.approx(4_195_197_692 / r.train_samples_per_s)


# ----------------------------------------------------------------------------------------------
# Validation against the MLPerf records
# ----------------------------------------------------------------------------------------------

#: Bounds on |predicted / published − 1| (stated, not tuned per case). At the time of writing:
#: train 8×H100 −0.7 % (the case the one efficiency factor was chosen on), 8×H200 +8.2 %,
#: 128×H100 +11.9 %; inference offline 8×H100 −7.0 %, 8×H200 −4.1 %; server 8×H100 +1.6 %,
#: 8×H200 −2.3 % (before the Server batch-fit rule of serve_capacity: +7.5 %, +3.4 %).
FIT_CASE = "mlperf-train-v4.0-dlrm-dcnv2-8xh100"
FIT_BOUND = 0.05
CASE_BOUND = 0.15
MEDIAN_BOUND = 0.10


@pytest.fixture(scope="module")
def validation(cat):
    return validate_recsys_cases(catalog=cat)


def test_validation_cases_run_and_report(validation):
    ids = [r["id"] for r in validation]
    assert len(ids) == 7 and len(set(ids)) == 7
    for r in validation:
        print(f"{r['id']}: predicted {r['predicted']:.4g}, published {r['published']:.4g}, "
              f"error {r['relative_error']:+.1%}")
        assert r["predicted"] > 0
        assert r["relative_error"] == pytest.approx(r["predicted"] / r["published"] - 1)
        bound = FIT_BOUND if r["id"] == FIT_CASE else CASE_BOUND
        assert abs(r["relative_error"]) <= bound, r
    assert np.median([abs(r["relative_error"]) for r in validation]) <= MEDIAN_BOUND


def test_case_file_schema():
    data = yaml.safe_load((ROOT / "src/gpuplan/validation/recsys_cases.yaml").read_text())
    for c in data["cases"]:
        assert c["kind"] == "recsys"
        assert c["citation"] and c["source_record"].startswith("mlperf-")
        assert (ROOT / "src/gpuplan/validation" / c["spec"]).is_file()


def test_h200_trains_faster_than_h100_but_less_than_bandwidth_ratio(dlrm, cat):
    # MLPerf Training v4.0 logs: 16.9e6 vs 15.7e6 samples/s (×1.08) for 1.43× the HBM bandwidth:
    # the step is not purely embedding-bound.
    h100 = plan_recsys(dlrm, "h100-sxm", gpus=8, global_batch=55296, catalog=cat)
    h200 = plan_recsys(dlrm, "h200", gpus=8, global_batch=55296, catalog=cat)
    ratio = h200.train_samples_per_s / h100.train_samples_per_s
    assert 1.0 < ratio < 4.8 / 3.35


# ----------------------------------------------------------------------------------------------
# Invariants
# ----------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.integers(1, 10**9), min_size=1, max_size=8),
       row_b=st.floats(1, 4096), g=st.integers(1, 4096), extra=st.integers(1, 4096))
def test_more_gpus_never_raise_per_gpu_embedding_bytes(rows, row_b, g, extra):
    r = np.array(rows, dtype=float)
    b = np.full_like(r, row_b)
    c = np.ones_like(r)
    lo = per_gpu_embedding_bytes(r, b, c, g)
    hi = per_gpu_embedding_bytes(r, b, c, g + extra)
    assert hi <= lo * (1 + 1e-12)
    assert lo >= (r * b).sum() / g * (1 - 1e-12)  # never below the even share


@settings(max_examples=30, deadline=None)
@given(g=st.integers(1, 64), extra=st.integers(1, 64))
def test_plan_per_gpu_embedding_bytes_monotone(cat, g, extra):
    spec = small_spec()
    a = plan_recsys(spec, "h100-sxm", gpus=g, global_batch=4096, catalog=cat)
    b = plan_recsys(spec, "h100-sxm", gpus=g + extra, global_batch=4096, catalog=cat)
    assert b.sharding.per_gpu_embedding_bytes <= a.sharding.per_gpu_embedding_bytes * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(q1=st.floats(1, 1e8), factor=st.floats(1.0, 100.0), slo=st.sampled_from([None, 20.0]))
def test_higher_qps_never_needs_fewer_gpus(cat, q1, factor, slo):
    spec = small_spec()
    a = plan_recsys(spec, "h100-sxm", gpus=1, global_batch=1024, qps=q1, p99_ms=slo, catalog=cat)
    b = plan_recsys(spec, "h100-sxm", gpus=1, global_batch=1024, qps=q1 * factor, p99_ms=slo,
                    catalog=cat)
    assert b.serve_gpus >= a.serve_gpus >= 1


@given(q=st.floats(0, 1e9), f=st.floats(1, 1e3), cap=st.floats(1, 1e7), k=st.integers(1, 8),
       h=st.floats(0, 2))
def test_serve_gpus_monotone_in_load_and_headroom(q, f, cap, k, h):
    assert serve_gpus(q * f, cap, k, h) >= serve_gpus(q, cap, k, h)
    assert serve_gpus(q, cap, k, h + 0.5) >= serve_gpus(q, cap, k, h)
    assert serve_gpus(q, cap, k, h) % k == 0


@settings(max_examples=100, deadline=None)
@given(c1=st.floats(0, 1e12), c2=st.floats(0, 1e12), d=st.floats(0, 1e12))
def test_tier_split_conserves_and_more_hbm_never_hurts(c1, c2, d):
    a = recsys_arrays(small_spec())
    seg = placement_segments(a, a.row_bytes, a.count * a.pooling)
    t = tier_split(seg, c1, c2)
    total = seg["cum_bytes"][-1]
    assert t["hbm_bytes"] + t["host_bytes"] + t["ssd_bytes"] == pytest.approx(total)
    fr = t["hbm_lookup_fraction"] + t["host_lookup_fraction"] + t["ssd_lookup_fraction"]
    assert fr == pytest.approx(1.0)
    t2 = tier_split(seg, c1 + d, c2)
    assert t2["hbm_lookup_fraction"] >= t["hbm_lookup_fraction"] - 1e-12
    assert t2["ssd_lookup_fraction"] <= t["ssd_lookup_fraction"] + 1e-12


def test_hottest_rows_go_to_hbm_first():
    a = recsys_arrays(small_spec())
    seg = placement_segments(a, a.row_bytes, a.count * a.pooling)
    total = seg["cum_bytes"][-1]
    t = tier_split(seg, 0.1 * total, 0.0)
    # 10 % of the bytes in HBM serve far more than 10 % of lookups (skewed and small hot tables)
    assert t["hbm_lookup_fraction"] > 0.3


@given(x=st.floats(0, 1), y=st.floats(0, 1), n=st.integers(1, 10**9),
       alpha=st.floats(0, 3))
def test_zipf_cdf_is_a_cdf(x, y, n, alpha):
    lo, hi = sorted((x, y))
    assert zipf_cdf(lo, n, alpha) <= zipf_cdf(hi, n, alpha) + 1e-12
    assert zipf_cdf(0.0, n, alpha) == pytest.approx(0.0, abs=1e-12)
    assert zipf_cdf(1.0, n, alpha) == pytest.approx(1.0)
    assert zipf_cdf(x, n, 0.0) == pytest.approx(x)
    if alpha > 0:
        assert zipf_cdf(x, n, alpha) >= x - 1e-9  # hottest rows first: concave


@given(r=st.integers(1, 10**9), l=st.floats(0, 1e10))
def test_unique_rows_bounded(r, l):
    u = unique_rows(r, l)
    assert 0 <= u <= min(r, l) * (1 + 1e-9) + 1e-9


def test_count_equals_repeated_tables(cat):
    spec = small_spec()
    d = spec.model_dump()
    item = next(t for t in d["tables"] if t["name"] == "item")
    d["tables"] = [t for t in d["tables"] if t["name"] != "item"] + [
        dict(item, name=f"item{i}", count=1) for i in range(item["count"])]
    expanded = RecsysSpec.model_validate(d)
    a = plan_recsys(spec, "h100-sxm", gpus=16, global_batch=8192, catalog=cat)
    b = plan_recsys(expanded, "h100-sxm", gpus=16, global_batch=8192, catalog=cat)
    assert a.embedding_bytes == b.embedding_bytes and a.dense_params == b.dense_params
    assert a.step_time_s == pytest.approx(b.step_time_s, rel=1e-9)
    assert a.sharding == b.sharding


def test_dot_interaction_flops():
    # Naumov et al. 2019 Section 2: F = T + 1 = 6 vectors of width 16 (toy spec: 1 + 3 + 1
    # tables + the bottom output); the F×F Gram matrix costs 2·F²·d FLOPs per sample.
    spec = small_spec()
    a = recsys_arrays(spec)
    top_in = 16 + 6 * 5 // 2
    macs = 4 * 32 + 32 * 16 + top_in * 64 + 64 * 1
    assert interaction_shape(spec)[0] == top_in
    assert dense_flops_per_sample(a) == 2 * macs + 2 * 6 * 6 * 16


def test_serving_dtype_falls_back_when_the_gpu_lacks_it(cat, dlrm):
    # L40S has no int8 tensor peak in the catalog (bf16 and fp8 only): serve in fp8, say so.
    r = plan_recsys(dlrm, "l40s", catalog=cat)
    assert r.serve_qps_per_gpu > 0
    assert any("served in fp8" in n for n in r.notes)


def test_plan_accepts_a_path(cat):
    r = plan_recsys(DLRM, "h200", gpus=8, catalog=cat)
    assert r.model == "dlrm-dcnv2-mlperf" and r.gpu == "h200"


def test_host_link_comes_from_the_catalog(cat):
    # NVIDIA A100 datasheet: PCIe Gen4 (64 GB/s both ways) = 31.5e9 B/s one way after 128b/130b
    # coding; H100: PCIe Gen5, 63.0e9 B/s (catalog accelerators.yaml, host_link_bytes_per_s).
    from gpuplan.demand.recsys.hardware import HOST_COPY_EFFICIENCY, HOST_LINK_EFFICIENCY

    a100 = recsys_hardware(cat, cat.accelerator("a100-80gb"), "bf16")
    h100 = recsys_hardware(cat, cat.accelerator("h100-sxm"), "bf16")
    assert a100.host_link_bytes_per_s == pytest.approx(31.5e9 * HOST_LINK_EFFICIENCY)
    assert h100.host_copy_bytes_per_s == pytest.approx(63.0e9 * HOST_COPY_EFFICIENCY)
    assert not a100.host_link_assumed and not h100.host_link_assumed
    c2c = recsys_hardware(cat, cat.accelerator("h100-sxm"), "bf16", host_link_bytes_per_s=450e9)
    assert c2c.host_link_bytes_per_s == pytest.approx(450e9 * HOST_LINK_EFFICIENCY)


def test_a_gpu_without_a_host_link_figure_says_so(cat, dlrm):
    acc = next(a for a in cat.accelerators.values() if a.host_link_bytes_per_s is None
               and "bf16" in a.peak_flops_per_s)
    r = plan_recsys(dlrm, acc.id, gpus=64, catalog=cat)
    assert any("PCIe Gen5 x16 assumed" in n for n in r.notes)
    given = plan_recsys(dlrm, acc.id, gpus=64, host_link_bytes_per_s=63.0e9, catalog=cat)
    assert not any("assumed" in n for n in given.notes)
    assert given.step_time_s == r.step_time_s   # the assumption is PCIe Gen5 x16, 63.0e9 B/s


def test_step_time_vectorised_over_gpus_and_batch(cat, arr):
    acc = cat.accelerator("h100-sxm")
    rh = recsys_hardware(cat, acc, "fp16")
    G = np.array([8, 16, 32, 64, 128])[:, None]
    B = np.array([32768, 65536, 131072])[None, :]
    out = train_step_time(arr, rh, G, B)
    assert out["step_time_s"].shape == (5, 3)
    one = train_step_time(arr, rh, 32, 65536)
    assert float(one["step_time_s"]) == pytest.approx(out["step_time_s"][2, 1])
    # a larger batch on the same GPUs processes more samples per second
    assert np.all(np.diff(out["samples_per_s"], axis=1) > 0)


def test_sharding_strategies():
    # two 10 GB tables and 20 of 2 GB (60 GB in all)
    tb = np.array([10e9, 10e9] + [2e9] * 20)
    dim = np.full(22, 128.0)
    s8 = sharding_strategy(tb, dim, 8, 8)["strategy"]
    assert list(s8[:2]) == [1, 1] and set(s8[2:]) == {0}       # column-wise, table-wise
    s128 = sharding_strategy(tb, dim, 128, 8)["strategy"]
    assert list(s128[:2]) == [2, 2]                 # 3 column shards, each row-wise in a node
    s128_narrow = sharding_strategy(tb, np.full(22, 16.0), 128, 8)["strategy"]
    assert list(s128_narrow[:2]) == [3, 3]                     # too narrow to split: row-wise
    assert set(sharding_strategy(tb, dim, 1, 8)["strategy"]) == {0}


def test_spill_to_host_when_hbm_is_short(cat, dlrm):
    r = plan_recsys(dlrm, "h100-sxm", gpus=1, global_batch=8192, catalog=cat)
    assert r.placement.host_bytes > 0
    assert r.placement.hbm_lookup_fraction > r.placement.hbm_bytes / (
        r.placement.hbm_bytes + r.placement.host_bytes)            # hot rows kept in HBM
    assert r.breakdown["embedding_host_s"] > 0
    assert any("host DRAM" in n for n in r.notes)
    full = plan_recsys(dlrm, "h100-sxm", gpus=8, global_batch=8192, catalog=cat)
    assert full.placement.host_bytes == 0
    assert full.train_samples_per_s_per_gpu > r.train_samples_per_s_per_gpu


def test_serving_slo_is_met_and_costs_throughput(cat, dlrm):
    off = plan_recsys(dlrm, "h100-sxm", gpus=8, catalog=cat)
    srv = plan_recsys(dlrm, "h100-sxm", gpus=8, p99_ms=60, qps=1e6, catalog=cat)
    tight = plan_recsys(dlrm, "h100-sxm", gpus=8, p99_ms=5, qps=1e6, catalog=cat)
    assert srv.serve.p99_s <= 0.060 and tight.serve.p99_s <= 0.005
    assert tight.serve_qps_per_gpu < srv.serve_qps_per_gpu <= off.serve_qps_per_gpu
    assert tight.serve_gpus >= srv.serve_gpus
    assert srv.serve_gpus == int(np.ceil(1e6 * 1.2 / srv.serve_qps_per_gpu))
    assert off.serve.replica_gpus == 1   # int8 DLRM-DCNv2 (27.8 GB) fits one H100, as in MLPerf


#: MLPerf Inference v4.1 closed, NVIDIA, dlrm-v2-99 Server / Offline samples/s
#: (mlcommons/inference_results_v4.1 closed/NVIDIA/results/{DGX-H100_H100-SXM-80GBx8_TRT,
#: H200-SXM-141GBx8_TRT}/dlrm-v2-99/{Server,Offline}/performance/run_1/mlperf_log_summary.txt):
#: 8×H100 510,155.11 / 595,658 = 0.856; 8×H200 585,207.78 / 637,342 = 0.918.
MLPERF_SERVER_OVER_OFFLINE = {"h100-sxm": 510155.11 / 595658.0, "h200": 585207.78 / 637342.0}
#: Stated bound on |model ratio / measured ratio − 1|. At the time of writing the model gives
#: 0.936 (H100, +9.4 %) and 0.935 (H200, +1.9 %): it does not see why NVIDIA's H100 Server run
#: is further below Offline than its H200 run (H200's config stages inputs on the device,
#: start_from_device = True; the H100x8 one copies them from the host).
SERVER_RATIO_BOUND = 0.10


@pytest.mark.parametrize("gpu", sorted(MLPERF_SERVER_OVER_OFFLINE))
def test_server_below_offline_as_mlperf_measured(cat, dlrm, gpu):
    off = plan_recsys(dlrm, gpu, gpus=8, items_per_query=270, catalog=cat)
    srv = plan_recsys(dlrm, gpu, gpus=8, p99_ms=60, items_per_query=270, catalog=cat)
    ratio = srv.serve_qps_per_gpu / off.serve_qps_per_gpu
    print(f"{gpu}: server/offline {ratio:.3f} (MLPerf {MLPERF_SERVER_OVER_OFFLINE[gpu]:.3f})")
    assert ratio < 0.97                       # the 60 ms bound alone would give ≈ 0.99
    assert abs(ratio / MLPERF_SERVER_OVER_OFFLINE[gpu] - 1) <= SERVER_RATIO_BOUND


def test_server_load_leaves_room_for_poisson_arrivals(cat, dlrm):
    # the arrivals during one batch cycle T (Poisson, mean λT) must fit the next batch of q
    # queries at p99: λT ≤ N̄(q) = ((√(z² + 4q) − z)/2)², z = 2.326 (server_mean_concurrency).
    # T ≥ q / offline throughput, so λ ≤ offline · N̄(q)/q.
    from gpuplan.demand.serving.engine import server_mean_concurrency

    srv = plan_recsys(dlrm, "h100-sxm", gpus=8, p99_ms=60, items_per_query=270, catalog=cat)
    q = srv.serve.batch_queries
    bound = srv.serve.offline_qps_per_gpu * float(server_mean_concurrency(q)) / q
    assert srv.serve_qps_per_gpu <= bound * (1 + 1e-9)
    assert srv.serve.p99_s <= 0.060


def test_p99_latency_of_batching():
    # batches of 64 queries, 10 ms on the GPU, 2 ms copy: capacity 6,400 queries/s
    lat = serve_p99_latency_s(64, np.array([100.0, 1000.0, 5000.0, 6300.0]), 0.01, 0.002)
    assert np.all(np.isfinite(lat))
    assert lat[0] > lat[1]            # light load: waiting for the batch to fill dominates
    assert lat[3] > lat[2]            # near capacity: queueing dominates
    assert np.all(lat >= 0.012)       # never below the batch's own time
    assert np.isinf(serve_p99_latency_s(64, 7000.0, 0.01, 0.002))   # ρ ≥ 1


def test_result_json_keys(cat, dlrm):
    r = plan_recsys(dlrm, "h100-sxm", gpus=8, catalog=cat).model_dump()
    for k in ("embedding_bytes", "dense_params", "placement", "gpus_for_memory",
              "train_samples_per_s", "retrain_gpu_hours", "serve_qps_per_gpu", "serve_gpus",
              "step_time_s", "breakdown", "bottleneck"):
        assert k in r
    assert set(r["placement"]) >= {"hbm_bytes", "host_bytes", "ssd_bytes"}
    assert r["step_time_s"] == pytest.approx(sum(r["breakdown"].values()))


def test_default_gpus_hold_the_embeddings(cat, dlrm):
    r = plan_recsys(dlrm, "h100-sxm", global_batch=55296, catalog=cat)
    assert r.gpus >= r.gpus_for_memory and r.placement.host_bytes == 0


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


def _write(tmp_path, text, name="spec.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = DLRM.read_text()


@pytest.mark.parametrize("text,fragment", [
    ("tables: [", "not valid YAML"),
    ("- a\n- b\n", "top level must be a mapping"),
    (GOOD.replace("dense_features: 13", "dense_features: 13\ncolour: red"), "colour"),
    (GOOD.replace("rows: 40000000,", "rows: -5,", 1), "tables.0.rows"),
    (GOOD.replace("dtype: fp32", "dtype: fp64", 1), "tables.0.dtype"),
    (GOOD.replace("optimizer: exact_adagrad", "optimizer: lion"), "optimizer"),
    (GOOD.replace("{type: dcnv2, cross_layers: 3, low_rank: 512}", "{type: dot}").replace(
        "dim: 128", "dim: 64", 1), "dot interaction needs every table dim"),
    (GOOD.replace("type: dcnv2", "type: dot"), "only for dcnv2"),
    (GOOD.replace("name: cat_1,", "name: cat_0,"), "unique"),
    (GOOD.replace("low_rank: 512", "low_rank: 0"), "interaction.low_rank"),
    (GOOD.replace("pooling_factor: 3}", "pooling_factor: -1}", 1), "pooling_factor"),
])
def test_bad_spec_is_a_user_error_naming_file_and_field(tmp_path, text, fragment):
    p = _write(tmp_path, text)
    with pytest.raises(UserError) as e:
        load_recsys_spec(p)
    msg = str(e.value)
    assert str(p) in msg and fragment in msg and "\n" not in msg


def test_missing_and_oversized_spec(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_recsys_spec(tmp_path / "nope.yaml")
    big = _write(tmp_path, "#" * (5 * 2**20))
    with pytest.raises(UserError, match="larger than"):
        load_recsys_spec(big)


@pytest.mark.parametrize("kw,field,fragment", [
    (dict(gpus=0), "gpus", "whole number"),
    (dict(gpus=2.5), "gpus", "whole number"),
    (dict(global_batch=-1), "global_batch", "whole number"),
    (dict(p99_ms=-3), "p99_ms", "above 0"),
    (dict(qps=float("nan")), "qps", "finite"),
    (dict(days_of_data=3), "samples_per_day", "is needed too"),
    (dict(samples_per_day=1e9), "days_of_data", "is needed too"),
    (dict(headroom=-1), "headroom", "from 0"),
    (dict(host_link_bytes_per_s=0), "host_link_bytes_per_s", "above 0"),
    (dict(gpus=64, global_batch=32), "global_batch", "smaller than the 64 GPUs"),
    (dict(gpus=1, global_batch=10**9), "global_batch", "lower it or add GPUs"),
    (dict(gpus=8, p99_ms=0.001), "p99_ms", "no batch meets a p99"),
])
def test_bad_arguments(cat, dlrm, kw, field, fragment):
    # model code names the parameter (the CLI turns the leading name into the flag), not a flag
    with pytest.raises(UserError, match=fragment) as e:
        plan_recsys(dlrm, "h100-sxm", catalog=cat, **kw)
    assert e.value.field == field
    assert str(e.value).startswith(field) and "--" not in str(e.value)
    assert e.value.as_flag_message().startswith("--" + field.replace("_", "-"))


def test_unknown_gpu(cat, dlrm):
    with pytest.raises(UserError, match="unknown GPU"):
        plan_recsys(dlrm, "h1000", gpus=8, catalog=cat)


def test_packaged_validation_spec_matches_example():
    # the validation cases use the packaged copy; the example users run must be the same model
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    assert (root / "examples/recsys/dlrm-dcnv2.yaml").read_text() == (
        root / "src/gpuplan/validation/specs/dlrm-dcnv2.yaml").read_text()


def test_recsys_cli():
    import json

    from typer.testing import CliRunner

    from gpuplan.cli.app import app

    r = CliRunner().invoke(app, ["recsys", "examples/recsys/dlrm-dcnv2.yaml", "--gpu", "h100-sxm",
                                 "--gpus", "8", "--qps", "100000", "--p99-ms", "60", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["serve_gpus"] >= 1 and d["train_samples_per_s"] > 0
    bad = CliRunner().invoke(app, ["recsys", "nope.yaml", "--gpu", "h100-sxm"])
    assert bad.exit_code == 2 and "nope.yaml" in bad.stderr
