"""Shared storage: capacity and bandwidth required, and the building blocks that provide them.

Functions broadcast over numpy arrays.

References
----------
.. [1] DDN, "AI storage optimized for NVIDIA DGX B200": "usual minimum requirement of 1 GB/s/GPU
   for read and write" (the default per-GPU rule).
.. [2] NVIDIA DGX SuperPOD RA (DGX H100) RA-11333-001, Storage: a GPUDirect Storage application
   "should be able to read data at over 40 GBps" per DGX (5 GB/s per GPU, an override).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gpuplan.cluster.racks import COUNT_SLACK


def storage_capacity_bytes(dataset_bytes: npt.ArrayLike, checkpoint_bytes: npt.ArrayLike,
                           kept_checkpoints: float | np.ndarray,
                           replication: float | np.ndarray) -> np.ndarray:
    """Usable capacity the cluster must hold.

    Parameters
    ----------
    dataset_bytes : array_like
        Training data (tokens × bytes per token, or the corpus size) [bytes].
    checkpoint_bytes : array_like
        One checkpoint: weights + optimizer state
        (``gpuplan.demand.training.checkpoint_bytes``) [bytes].
    kept_checkpoints : array_like
        Checkpoints kept at once [1].
    replication : array_like
        Stored bytes per usable byte (1 when the appliance's usable figure nets out parity) [1].

    Returns
    -------
    ndarray
        ``(dataset + checkpoint · kept) · replication`` [bytes].
    """
    return (np.asarray(dataset_bytes, dtype=float)
            + np.asarray(checkpoint_bytes, dtype=float) * kept_checkpoints) * replication


def storage_bandwidth(gpus: npt.ArrayLike, read_bytes_per_s_per_gpu: float | np.ndarray,
                      write_bytes_per_s_per_gpu: float | np.ndarray,
                      checkpoint_bytes: npt.ArrayLike = 0.0,
                      checkpoint_write_s: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate read and write bandwidth required.

    Parameters
    ----------
    gpus : array_like
        Accelerators in the cluster [1].
    read_bytes_per_s_per_gpu, write_bytes_per_s_per_gpu : array_like
        Per-GPU rule [bytes/s] (default 1e9 each, DDN [1]_).
    checkpoint_bytes : array_like
        One checkpoint [bytes].
    checkpoint_write_s : float or None
        Target time to write one checkpoint [s]; None = no target.

    Returns
    -------
    (ndarray, ndarray)
        ``read = gpus · r``, ``write = max(gpus · w, checkpoint / target)`` [bytes/s].
    """
    g = np.asarray(gpus, dtype=float)
    read = g * read_bytes_per_s_per_gpu
    write = g * write_bytes_per_s_per_gpu
    if checkpoint_write_s is not None:
        write = np.maximum(write, np.asarray(checkpoint_bytes, dtype=float) / checkpoint_write_s)
    return read, write


def storage_units(capacity_bytes: npt.ArrayLike, read_bytes_per_s: npt.ArrayLike,
                  write_bytes_per_s: npt.ArrayLike, unit_usable_bytes: float,
                  unit_read_bytes_per_s: float, unit_write_bytes_per_s: float) -> np.ndarray:
    """Storage building blocks (appliances) meeting capacity, read and write, at least one.

    Parameters
    ----------
    capacity_bytes, read_bytes_per_s, write_bytes_per_s : array_like
        Requirements [bytes], [bytes/s], [bytes/s].
    unit_usable_bytes, unit_read_bytes_per_s, unit_write_bytes_per_s : float
        One building block [bytes], [bytes/s], [bytes/s].

    Returns
    -------
    ndarray of int
        ``max(1, ⌈C/c⌉, ⌈R/r⌉, ⌈W/w⌉)``.
    """
    n = np.maximum.reduce([
        np.ceil(np.asarray(capacity_bytes, dtype=float) / unit_usable_bytes - COUNT_SLACK),
        np.ceil(np.asarray(read_bytes_per_s, dtype=float) / unit_read_bytes_per_s - COUNT_SLACK),
        np.ceil(np.asarray(write_bytes_per_s, dtype=float) / unit_write_bytes_per_s - COUNT_SLACK),
        np.ones_like(np.asarray(capacity_bytes, dtype=float)),
    ])
    return n.astype(np.int64)
