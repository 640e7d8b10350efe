"""Servers: which catalog system an accelerator is built into, and how many hold a GPU count.

The one rule for choosing the server (:func:`pick_system`) and the one node count
(:func:`nodes_for_gpus`), shared by the demand stage (hardware for the step-time model) and the
cluster stage (the physical cluster), which both come after the catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gpuplan.errors import UserError

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog
    from gpuplan.catalog.schema import System


def pick_system(cat: Catalog, accelerator_id: str, system: str | None = None) -> System | None:
    """The catalog system to build from, or None when the catalog has none for the accelerator.

    Parameters
    ----------
    cat : Catalog
        The catalog [—].
    accelerator_id : str
        Catalog id of the accelerator (already resolved, e.g. ``cat.accelerator(g).id``) [—].
    system : str, optional
        A system id the user named [—].

    Returns
    -------
    System or None
        The named system; else, among the systems built from the accelerator, the lowest id of
        those marked ``preferred`` in ``system_layouts``, else of those with a price, else of
        all; else None.

    Raises
    ------
    UserError
        An unknown system id, or a named system built from another accelerator
        (``field="system"``).
    """
    if system is not None:
        sys_ = cat.system(system)
        if sys_.accelerator != accelerator_id:
            others = ", ".join(s.id for s in cat.systems_for(accelerator_id)) or "none"
            raise UserError(f"system {sys_.id!r} is built from {sys_.accelerator!r}, not "
                            f"{accelerator_id!r}; systems for {accelerator_id}: {others}",
                            field="system")
        return sys_
    options = cat.systems_for(accelerator_id)
    if not options:
        return None
    layouts = cat.section("system_layouts")
    preferred = [s for s in options if s.id in layouts and layouts[s.id].preferred]
    priced = [s for s in options if s.price_usd is not None]
    chosen: System = min(preferred or priced or options, key=lambda s: s.id)
    return chosen


def nodes_for_gpus(gpus: npt.ArrayLike, gpus_per_node: npt.ArrayLike) -> np.ndarray:
    """Whole systems holding at least ``gpus`` accelerators (rounds up; broadcasts).

    Parameters
    ----------
    gpus : array_like
        Accelerators requested [1].
    gpus_per_node : array_like
        Accelerators per system (8 for HGX/DGX, 72 for an NVL72 rack) [1].

    Returns
    -------
    ndarray of int
        ``⌈gpus / gpus_per_node⌉`` [1].
    """
    g = np.asarray(gpus, dtype=np.int64)
    k = np.asarray(gpus_per_node, dtype=np.int64)
    return -(-g // k)
