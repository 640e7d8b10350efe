"""Recommender models (DLRM, DCNv2): size, memory tiers, sharding, training and serving.

A recommender of the DLRM family has two halves [1]_ [2]_:

* **sparse** — embedding tables, one per categorical feature, looked up ``pooling_factor`` times
  per sample (multi-hot) and sum-pooled. Tables hold almost all parameters and are touched
  sparsely, so their cost is memory capacity and memory bandwidth, not FLOPs [3]_;
* **dense** — a bottom MLP over the dense features, a feature interaction (pairwise dot products
  [1]_ or DCNv2 cross layers [2]_) and a top MLP: few parameters, all the FLOPs.

Open :mod:`~gpuplan.demand.recsys.planner` first: :func:`plan_recsys` is the entry point. The
stage reads in the order it runs:

* :mod:`~gpuplan.demand.recsys.spec` — the typed model spec and :func:`load_recsys_spec` (the
  only function of the package that reads a file);
* :mod:`~gpuplan.demand.recsys.sizes` — per-table arrays, parameters, bytes, FLOPs, lookups;
* :mod:`~gpuplan.demand.recsys.tables` — rows over HBM / host DRAM / SSD, hottest first;
  table-, column-, grid- and row-wise sharding [3]_ [4]_; the GPUs that hold the embeddings;
* :mod:`~gpuplan.demand.recsys.hardware` — what the model needs of an accelerator (the host link
  from the catalog, host memory of its node, NVMe) and the pooled-embedding all-to-all;
* :mod:`~gpuplan.demand.recsys.training` — the step time and retraining GPU-hours;
* :mod:`~gpuplan.demand.recsys.serving` — batch time, p99 latency under dynamic batching [5]_,
  capacity under an SLO, fleet size;
* :mod:`~gpuplan.demand.recsys.result` — the typed :class:`RecsysResult`.

All model functions are pure and take scalars or numpy arrays that broadcast (GPU counts, batch
sizes). The validation against the MLPerf records is :mod:`gpuplan.validation.recsys`.

References
----------
.. [1] Naumov et al. 2019, "Deep Learning Recommendation Model for Personalization and
   Recommendation Systems", arXiv 1906.00091: Section 2 (embeddings, MLPs, pairwise dot
   interaction of the F = T + 1 feature vectors), Section 3 (model-parallel embeddings with a
   personalised all-to-all, data-parallel MLPs with an all-reduce).
.. [2] Wang et al. 2021, "DCN V2: Improved Deep & Cross Network and Practical Lessons for
   Web-scale Learning to Rank Systems", arXiv 2008.13535, Eq. (1) (cross layer
   x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l) and Section 3.4 (low-rank W = U·Vᵀ).
.. [3] Mudigere et al. 2022, "Software-Hardware Co-design for Fast and Scalable Training of Deep
   Learning Recommendation Models", ISCA '22 (arXiv 2104.05158).
.. [4] MLCommons training reference, mlcommons/training recommendation_v2/torchrec_dlrm.
.. [5] Kingman 1961, "The single server queue in heavy traffic", Proc. Camb. Phil. Soc. 57.
"""

from __future__ import annotations

from gpuplan.demand.recsys.hardware import RecsysHardware, all_to_all_time_s, recsys_hardware
from gpuplan.demand.recsys.planner import DEFAULT_GLOBAL_BATCH, plan_recsys
from gpuplan.demand.recsys.result import PlacementOut, RecsysResult, ServeOut, ShardingOut
from gpuplan.demand.recsys.serving import (
    serve_batch_time_s,
    serve_capacity,
    serve_gpus,
    serve_p99_latency_s,
)
from gpuplan.demand.recsys.sizes import (
    RecsysArrays,
    dense_flops_per_sample,
    dense_params,
    embedding_bytes,
    embedding_bytes_per_sample,
    embedding_optimizer_bytes,
    embedding_params,
    interaction_shape,
    lookups_per_sample,
    recsys_arrays,
    train_embedding_bytes_per_step,
    train_flops_per_sample,
    unique_rows,
)
from gpuplan.demand.recsys.spec import (
    InteractionSpec,
    RecsysSpec,
    ServingSpec,
    TableSpec,
    load_recsys_spec,
)
from gpuplan.demand.recsys.tables import (
    gpus_for_memory,
    per_gpu_embedding_bytes,
    placement_segments,
    sharding_strategy,
    tier_split,
    zipf_cdf,
)
from gpuplan.demand.recsys.training import dense_time_s, retrain_gpu_hours, train_step_time

__all__ = [
    "DEFAULT_GLOBAL_BATCH", "InteractionSpec", "PlacementOut", "RecsysArrays", "RecsysHardware",
    "RecsysResult", "RecsysSpec", "ServeOut", "ServingSpec", "ShardingOut", "TableSpec",
    "all_to_all_time_s", "dense_flops_per_sample", "dense_params", "dense_time_s",
    "embedding_bytes", "embedding_bytes_per_sample", "embedding_optimizer_bytes",
    "embedding_params", "gpus_for_memory", "interaction_shape", "load_recsys_spec",
    "lookups_per_sample", "per_gpu_embedding_bytes", "placement_segments", "plan_recsys",
    "recsys_arrays", "recsys_hardware", "retrain_gpu_hours", "serve_batch_time_s",
    "serve_capacity", "serve_gpus", "serve_p99_latency_s", "sharding_strategy", "tier_split",
    "train_embedding_bytes_per_step", "train_flops_per_sample", "train_step_time", "unique_rows",
    "zipf_cdf",
]
