"""What the recommender model needs of an accelerator, its node and fabrics, and the all-to-all.

:func:`recsys_hardware` assembles :class:`RecsysHardware` from the catalog: the shared
:class:`~gpuplan.demand.hardware.Hardware` record (matmul rate scaled to what a recommender's
small GEMMs reach), the host link (the accelerator's ``host_link_bytes_per_s`` in the catalog),
the host memory of its node (the catalog's systems) and the random-access rate of the node's
NVMe drives. :func:`all_to_all_time_s` prices the pooled-embedding exchange on both fabric tiers.

References
----------
.. [1] Naumov et al. 2019, arXiv 1906.00091, Section 3: personalised all-to-all of the pooled
   embeddings.
.. [2] PCI-SIG, PCI Express Base Specification 5.0 (32 GT/s per lane, 128b/130b encoding).
.. [3] MLPerf Training v4.0 results, NVIDIA DGX H100 system description (8 × 3.84 TB U.2 NVMe).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpuplan.catalog import Catalog
from gpuplan.catalog.schema import Accelerator, PeakDtype
from gpuplan.demand.comms import LinkParams, latency_at
from gpuplan.demand.hardware import DEFAULT_MATMUL_EFFICIENCY, Hardware, hardware_for

#: Fraction of the measured matmul ceiling (MAMF) that the dense half of a recommender reaches
#: end to end (small, skinny GEMMs of a few thousand rows, DCN elementwise, loss, data loading,
#: launch gaps). Fitted by hand to ONE case, MLPerf Training v4.0 DLRM-DCNv2 on 8 × H100
#: (validation/recsys_cases.yaml, id mlperf-train-v4.0-dlrm-dcnv2-8xh100); every other case is
#: out of sample.
RECSYS_MATMUL_FRACTION_OF_MAMF = 0.55
#: Matmul efficiency used for int8 when the catalog has none: the fp8 figure (same tensor-core
#: rate on Hopper; judgement), else :data:`gpuplan.demand.hardware.DEFAULT_MATMUL_EFFICIENCY`.
INT8_EFFICIENCY_STAND_IN: PeakDtype = "fp8"

# -- host link --------------------------------------------------------------------------------
#: Host link per GPU, one direction, when the catalog has no ``host_link_bytes_per_s`` for the
#: accelerator [bytes/s]: PCIe Gen5 x16 = 32 GT/s × 16 lanes × 128/130 / 8 = 63 GB/s [2]_ (the
#: link of every current datacenter GPU that has no chip-to-chip host link in the catalog).
PCIE_GEN5_X16_BYTES_PER_S = 63.0e9
#: Achieved fraction of the link rate for embedding rows read from pinned host memory through
#: unified memory (UVM): several-hundred-byte random reads, not bulk copies (judgement).
HOST_LINK_EFFICIENCY = 0.6
#: Achieved fraction of the link rate for bulk pinned host-to-device copies (model inputs):
#: ~53-55 GB/s of 63 on PCIe Gen5 x16 is what bandwidth tests report (judgement).
HOST_COPY_EFFICIENCY = 0.85

# -- NVMe tier --------------------------------------------------------------------------------
#: 4 KiB random-read and random-write operations per second of one datacenter Gen4 NVMe drive
#: (vendor specifications of U.2 drives: ~1.0-1.5 M read, ~0.1-0.2 M write IOPS; judgement at
#: the low end), and the drives of one node: a DGX H100's 8 × 3.84 TB U.2 [3]_, assumed for
#: every node (the catalog's systems carry no drive counts yet).
NVME_READ_IOPS = 1.0e6
NVME_WRITE_IOPS = 0.15e6
NVME_DRIVES_PER_NODE = 8
#: Page one row read or write costs on the NVMe tier [bytes].
NVME_PAGE_BYTES = 4096.0


@dataclass(frozen=True)
class RecsysHardware:
    """What the recommender model needs of an accelerator, its node and fabrics.

    Attributes
    ----------
    hw : Hardware
        The shared record; matmul rate already × :data:`RECSYS_MATMUL_FRACTION_OF_MAMF`.
    host_link_bytes_per_s : float
        Achievable for UVM row reads, per GPU, one direction [bytes/s].
    host_copy_bytes_per_s : float
        Achievable for bulk input copies, per GPU, one direction [bytes/s].
    host_memory_bytes_per_node : float
        Host DRAM of one node; 0 when the catalog has no system with it [bytes].
    ssd_read_iops_per_gpu, ssd_write_iops_per_gpu : float
        The node's NVMe random 4 KiB operations, per GPU [1/s].
    host_link_assumed : bool
        The catalog has no host link for the accelerator: PCIe Gen5 x16 was assumed.
    """

    hw: Hardware
    host_link_bytes_per_s: float
    host_copy_bytes_per_s: float
    host_memory_bytes_per_node: float
    ssd_read_iops_per_gpu: float
    ssd_write_iops_per_gpu: float
    host_link_assumed: bool = False


def _host_memory_bytes(cat: Catalog, acc: Accelerator) -> float:
    """Host DRAM of the first catalog system of ``acc`` that gives it; 0 if none [bytes]."""
    for s in cat.systems_for(acc.id):
        if s.host_memory_bytes is not None:
            return float(s.host_memory_bytes.value)
    return 0.0


def recsys_hardware(cat: Catalog, acc: Accelerator, dtype: str, *,
                    host_link_bytes_per_s: float | None = None,
                    matmul_fraction: float = RECSYS_MATMUL_FRACTION_OF_MAMF) -> RecsysHardware:
    """Assemble :class:`RecsysHardware` from the catalog (defaults named in this module).

    Parameters
    ----------
    cat : Catalog
        Catalog holding the accelerator's systems and fabrics.
    acc : Accelerator
        The accelerator.
    dtype : str
        Format the dense layers compute in.
    host_link_bytes_per_s : float, optional
        Raw one-direction host link per GPU [bytes/s]; default the catalog's
        ``host_link_bytes_per_s`` of the accelerator, else :data:`PCIE_GEN5_X16_BYTES_PER_S`.
    matmul_fraction : float
        Fraction of the measured matmul ceiling reached [fraction].
    """
    base = hardware_for(cat, acc, dtype, mamf_fraction=1.0)
    eff = base.matmul_efficiency
    if dtype == "int8" and "int8" not in acc.matmul_efficiency:
        stand_in = acc.matmul_efficiency.get(INT8_EFFICIENCY_STAND_IN)
        eff = stand_in.value if stand_in else DEFAULT_MATMUL_EFFICIENCY
    hw = dataclasses.replace(base, matmul_efficiency=eff * matmul_fraction)
    catalog_link = acc.host_link_bytes_per_s.value if acc.host_link_bytes_per_s else None
    raw = host_link_bytes_per_s or catalog_link or PCIE_GEN5_X16_BYTES_PER_S
    gpn = max(hw.gpus_per_node, 1)
    return RecsysHardware(hw=hw, host_link_bytes_per_s=raw * HOST_LINK_EFFICIENCY,
                          host_copy_bytes_per_s=raw * HOST_COPY_EFFICIENCY,
                          host_memory_bytes_per_node=_host_memory_bytes(cat, acc),
                          ssd_read_iops_per_gpu=NVME_READ_IOPS * NVME_DRIVES_PER_NODE / gpn,
                          ssd_write_iops_per_gpu=NVME_WRITE_IOPS * NVME_DRIVES_PER_NODE / gpn,
                          host_link_assumed=not host_link_bytes_per_s and catalog_link is None)


def all_to_all_time_s(message_bytes: npt.ArrayLike, ranks: npt.ArrayLike, domain: int,
                      up: LinkParams, out: LinkParams) -> np.ndarray:
    """All-to-all over ``ranks`` GPUs, ``domain`` per scale-up domain [s].

    Parameters
    ----------
    message_bytes : array_like
        nccl-tests size S: the buffer each rank sends out (S/n to every rank) [bytes].
    ranks : array_like
        GPUs in the group n [GPUs].
    domain : int
        GPUs per scale-up domain [GPUs].
    up, out : LinkParams
        Measured alpha-beta parameters of the scale-up and scale-out tiers.

    Notes
    -----
    A rank sends ``S·(n_in − 1)/n`` over the scale-up fabric (``n_in = min(n, domain)``) and
    ``S·(n − n_in)/n`` over its own NIC, concurrently [1]_:
    ``t = α(n) + max(S(n_in − 1)/n / B_up, S(n − n_in)/n / B_out)`` with the measured all-to-all
    bus bandwidths (per rank) of each tier; ``α`` grows with the peers (n − 1).
    """
    S = np.asarray(message_bytes, dtype=float)
    n = np.maximum(np.asarray(ranks, dtype=float), 1.0)
    n_in = np.minimum(n, domain)
    t_up = S * (n_in - 1) / n / up.busbw_bytes_per_s["all_to_all"]
    t_out = S * (n - n_in) / n / out.busbw_bytes_per_s["all_to_all"]
    alpha = np.where(n <= domain,
                     latency_at("all_to_all", n, up.latency_s["all_to_all"], up.measured_ranks),
                     latency_at("all_to_all", n, out.latency_s["all_to_all"], out.measured_ranks))
    return np.asarray(np.where(n > 1, alpha + np.maximum(t_up, t_out), 0.0))
