"""Cluster validation: the builder against published reference-architecture tables.

A case file (``gpuplan/validation/cluster_cases.yaml`` by default) lists configurations and the
counts a reference architecture publishes for them. A case runs either the whole builder
(``cluster: {gpu, gpus, system, fabric, su_nodes}``) or the fabric function alone
(``fabric: {nodes, ports_per_node, switch, su_nodes, planes}``, for systems the catalog does
not carry, e.g. DGX B300). Each published quantity is one result row.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpuplan.errors import UserError

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog

CASES_FILE = Path(__file__).resolve().parent / "cluster_cases.yaml"
#: Slack on a case's tolerance for float rounding [1].
TOLERANCE_SLACK = 1e-12

Quantity = Literal["leaf_switches", "spine_switches", "core_switches", "node_leaf_cables",
                   "compute_and_ufm_cables", "leaf_spine_cables", "spine_core_cables",
                   "isl_links", "switch_transceivers", "node_transceivers", "compute_racks",
                   "gpus", "nodes", "it_max_power_w"]


class ClusterInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gpu: str
    gpus: int = Field(ge=1)
    system: str | None = None
    fabric: str = "infiniband-ndr-400g"
    su_nodes: int | None = Field(default=None, ge=1)


class FabricInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: int = Field(ge=1)
    ports_per_node: int = Field(ge=1)
    switch: str
    su_nodes: int = Field(ge=1)
    planes: int = Field(default=1, ge=1)
    fabric_manager_links: int = Field(default=0, ge=0)


class ClusterCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    citation: str
    source_record: str = ""
    confidence: str = ""
    cluster: ClusterInput | None = None
    fabric: FabricInput | None = None
    published: dict[Quantity, float] = Field(min_length=1)
    tolerance: dict[Quantity, float] = Field(default_factory=dict,
                                             description="allowed |relative error|; 0 if absent")
    notes: str = ""

    @model_validator(mode="after")
    def _one_input(self) -> ClusterCase:
        if (self.cluster is None) == (self.fabric is None):
            raise ValueError("give exactly one of cluster / fabric")
        return self


class ClusterCaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[ClusterCase] = Field(min_length=1)


def load_cluster_cases(path: str | Path | None = None) -> ClusterCaseFile:
    """Read and validate a cluster case file (a :class:`UserError` names the problem)."""
    p = Path(path) if path else CASES_FILE
    if not p.is_file():
        raise UserError(f"cluster case file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: not valid YAML ({e})") from None
    try:
        return ClusterCaseFile.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        raise UserError(f"{p}: field {loc or '(file)'}: {first.get('msg')}") from None


def _predict(case: ClusterCase, cat: Catalog) -> dict[str, float]:
    from gpuplan.cluster import build_cluster, cluster_fabric_plan
    from gpuplan.cluster import fabric as fab

    if case.fabric is not None:
        f = case.fabric
        sw = cat.entry("switches", f.switch, kind="switch")
        plan = fab.fat_tree(f.nodes, f.ports_per_node, int(sw.ports.value), su_nodes=f.su_nodes,
                            planes=f.planes, fabric_manager_links=f.fabric_manager_links,
                            ports_per_cage=int(sw.ports_per_cage.value))
        out: dict[str, float] = {"nodes": f.nodes}
    else:
        c = case.cluster
        assert c is not None  # ClusterCase._one_input: exactly one of cluster / fabric
        plan = cluster_fabric_plan(c.gpu, c.gpus, system=c.system, fabric=c.fabric,
                                   su_nodes=c.su_nodes, catalog=cat)
        need_full = {"compute_racks", "gpus", "nodes", "it_max_power_w"} & set(case.published)
        out = {}
        if need_full:
            r = build_cluster(c.gpu, c.gpus, system=c.system, fabric=c.fabric,
                              su_nodes=c.su_nodes, catalog=cat)
            out.update({"compute_racks": math.ceil(r.nodes / r.nodes_per_rack), "gpus": r.gpus,
                        "nodes": r.nodes, "it_max_power_w": r.power_w.it_peak_w})
    out.update({
        "leaf_switches": plan.leaf_switches, "spine_switches": plan.spine_switches,
        "core_switches": plan.core_switches, "node_leaf_cables": plan.node_leaf_links,
        "compute_and_ufm_cables": plan.node_leaf_links + plan.fabric_manager_links,
        "leaf_spine_cables": plan.leaf_spine_links, "spine_core_cables": plan.spine_core_links,
        "isl_links": plan.isl_links, "switch_transceivers": plan.switch_cages,
        "node_transceivers": plan.node_transceivers,
    })
    return out


def relative_error(predicted: float, published: float) -> float:
    """``predicted / published − 1``; for a published 0 (a '–' cell): 0 if equal, else 1."""
    if published == 0:
        return 0.0 if predicted == 0 else 1.0
    return predicted / published - 1.0


def validate_cluster_cases(path: str | Path | None = None,
                           catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """Run every cluster case; one row per published quantity.

    Parameters
    ----------
    path : str or Path, optional
        Case file [—]; default ``gpuplan/validation/cluster_cases.yaml``.
    catalog : Catalog, optional
        Default ``load_catalog()`` [—].

    Returns
    -------
    list of dict
        ``id`` (``case:quantity``), ``quantity``, ``predicted``, ``published``,
        ``relative_error`` (predicted / published − 1; exact counts give 0), ``citation``,
        ``tolerance`` (the |relative error| the case allows), ``within`` (bool).
    """
    from gpuplan.catalog import load_catalog

    cat = catalog or load_catalog()
    rows = []
    for case in load_cluster_cases(path).cases:
        pred = _predict(case, cat)
        for q, pub in case.published.items():
            p = float(pred[q])
            err = relative_error(p, pub)
            tol = case.tolerance.get(q, 0.0)
            rows.append({"id": f"{case.id}:{q}", "quantity": q, "predicted": p,
                         "published": float(pub), "relative_error": err,
                         "citation": case.citation, "tolerance": tol,
                         "within": abs(err) <= tol + TOLERANCE_SLACK})
    return rows
