"""Recommender validation: :func:`~gpuplan.demand.recsys.plan_recsys` against MLPerf records.

A case file (``gpuplan/validation/recsys_cases.yaml`` by default) names a recommender spec, the
hardware and GPU count of a published MLPerf Training or Inference result, and the measured
quantity (training samples per second, or queries per second offline or under the server
scenario's p99 bound). Each case runs through the same public API as ``gpuplan recsys``;
nothing is fitted per case. This module and the case file are the stage's only file reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpuplan.catalog import Catalog
from gpuplan.demand.recsys import DEFAULT_GLOBAL_BATCH, load_recsys_spec, plan_recsys
from gpuplan.demand.recsys.spec import MAX_SPEC_FILE_BYTES, format_validation_error
from gpuplan.errors import UserError
from gpuplan.textfile import read_yaml_mapping

RECSYS_CASES_FILE = Path(__file__).resolve().parent / "recsys_cases.yaml"
_REPO_ROOT = Path(__file__).resolve().parents[3]


class RecsysCase(BaseModel):
    """One published recommender measurement and the plan inputs that reproduce its setting.

    Attributes
    ----------
    spec : str
        Recommender spec, relative to the case file, the working directory or the repository.
    gpu : str
        Accelerator id.
    gpus : int
        GPUs of the measured system [GPUs].
    global_batch : int, optional
        Training samples per step [samples].
    quantity : str
        ``train_samples_per_s`` [samples/s] or ``serve_qps`` (whole system) [queries/s].
    scenario : str
        MLPerf scenario: ``train``, ``offline`` (no SLO) or ``server`` (``p99_ms`` applies).
    p99_ms : float, optional
        Server-scenario latency bound [ms].
    items_per_query : float, optional
        User-item pairs per query [pairs].
    measured : float
        The published value, in the unit of ``quantity``.
    """

    model_config = ConfigDict(extra="forbid")
    id: str
    kind: Literal["recsys"] = "recsys"
    source_record: str
    citation: str
    confidence: str = ""
    spec: str
    gpu: str
    gpus: int = Field(ge=1)
    global_batch: int | None = Field(default=None, ge=1)
    quantity: Literal["train_samples_per_s", "serve_qps"]
    scenario: Literal["train", "offline", "server"] = "train"
    p99_ms: float | None = Field(default=None, gt=0)
    items_per_query: float | None = Field(default=None, ge=1)
    measured: float = Field(gt=0)
    derivation: str = ""
    notes: str = ""


class RecsysCaseFile(BaseModel):
    """Top level of a recsys case file."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = 1
    cases: list[RecsysCase]


def _resolve_spec(spec: str, case_file: Path) -> Path:
    p = Path(spec)
    for base in (case_file.parent, Path.cwd(), _REPO_ROOT):
        q = p if p.is_absolute() else base / p
        if q.is_file():
            return q
    raise UserError(f"{case_file}: spec {spec!r} not found (looked beside the case file, in the "
                    f"working directory and in the repository root)")


def load_recsys_cases(path: str | Path | None = None) -> tuple[Path, RecsysCaseFile]:
    """Read and validate a recsys case file (default :data:`RECSYS_CASES_FILE`).

    Raises
    ------
    UserError
        Missing, oversized or malformed file, or a field that breaks the schema.
    """
    p, data = read_yaml_mapping(path or RECSYS_CASES_FILE, max_bytes=MAX_SPEC_FILE_BYTES,
                                what="recsys case file")
    try:
        return p, RecsysCaseFile.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(p, e)) from None


def _predict(c: RecsysCase, case_file: Path, catalog: Catalog | None) -> float:
    """The planner's value of the case's quantity, in its unit."""
    spec = load_recsys_spec(_resolve_spec(c.spec, case_file))
    if c.quantity == "train_samples_per_s":
        r = plan_recsys(spec, c.gpu, gpus=c.gpus,
                        global_batch=c.global_batch or DEFAULT_GLOBAL_BATCH, catalog=catalog)
        return r.train_samples_per_s
    r = plan_recsys(spec, c.gpu, gpus=c.gpus, p99_ms=c.p99_ms if c.scenario == "server"
                    else None, items_per_query=c.items_per_query, catalog=catalog)
    return r.serve_qps_per_gpu * c.gpus


def validate_recsys_cases(path: str | Path | None = None, catalog: Catalog | None = None
                          ) -> list[dict[str, Any]]:
    """Run every case of a recsys case file; one row per case with the relative error.

    Parameters
    ----------
    path : str or Path, optional
        Case file; default :data:`RECSYS_CASES_FILE`.
    catalog : Catalog, optional
        Default the built-in catalog.

    Returns
    -------
    list of dict
        ``id``, ``quantity``, ``predicted``, ``published``, ``relative_error``
        (predicted / published − 1), ``citation``: the JSON rows of ``gpuplan validate``.
    """
    p, cf = load_recsys_cases(path)
    out = []
    for c in cf.cases:
        pred = _predict(c, p, catalog)
        out.append({"id": c.id, "quantity": c.quantity, "predicted": pred,
                    "published": c.measured, "relative_error": pred / c.measured - 1,
                    "citation": c.citation})
    return out


__all__ = ["RECSYS_CASES_FILE", "RecsysCase", "RecsysCaseFile", "load_recsys_cases",
           "validate_recsys_cases"]
