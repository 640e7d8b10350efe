"""`gpuplan validate`: predictions against published measurements, one module per stage.

Case files (``train_cases.yaml``, ``device_cases.yaml`` and ``serve_cases.yaml`` shipped here, or
any file in the same schema via ``--cases``) name a model (catalog id or an inline HF-style
config), hardware, GPU count, layout where the source published one, and one measured quantity
with its citation. Each case runs through the same public API as the CLI; nothing is fitted per
case. The stages' cases: :mod:`~gpuplan.validation.training`, :mod:`~gpuplan.validation.serving`,
:mod:`~gpuplan.validation.recsys`, :mod:`~gpuplan.validation.cluster` and
:mod:`~gpuplan.validation.money`.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpuplan.catalog import Catalog
from gpuplan.errors import UserError
from gpuplan.validation.serving import (
    FIT_DECISION_THRESHOLD,
    DecodeCase,
    ServeCase,
    predict_decode,
    predict_serve,
)
from gpuplan.validation.training import STEADY_QUANTITIES, Case, predict_train

CASES_DIR = Path(__file__).parent
DEFAULT_CASE_FILES = ("train_cases.yaml", "device_cases.yaml", "serve_cases.yaml")

AnyCase = Annotated[Case | ServeCase | DecodeCase, Field(discriminator="kind")]


class CaseFile(BaseModel):
    """A file of published cases, of any stage's kind (a case without a kind is training)."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = 1
    cases: list[AnyCase]


class CaseResult(BaseModel):
    """One case: predicted and published value, relative error, or why it was skipped."""

    model_config = ConfigDict(extra="forbid")
    id: str
    quantity: str
    predicted: float | None
    published: float
    relative_error: float | None
    citation: str
    layout: str | None = None
    assumptions: list[str] = []
    skipped: str | None = None


class Summary(BaseModel):
    """Median and worst absolute relative error of the cases of one quantity [fraction]."""

    model_config = ConfigDict(extra="forbid")
    quantity: str
    cases: int
    median_abs_error: float
    worst_abs_error: float
    worst_case: str


class ValidationReport(BaseModel):
    """What ``gpuplan validate --json`` prints."""

    model_config = ConfigDict(extra="forbid")
    cases: list[CaseResult]
    summary: list[Summary]
    skipped: int


def load_cases(path: str | Path) -> CaseFile:
    """Read and validate a case file.

    Parameters
    ----------
    path : str or Path
        A YAML file in the case schema.

    Raises
    ------
    UserError
        The file is missing, not YAML, or not in the schema.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"case file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: not a readable YAML file ({type(e).__name__})") from None
    if isinstance(data, dict) and isinstance(data.get("cases"), list):
        for c in data["cases"]:  # a case without a kind is a training case
            if isinstance(c, dict):
                c.setdefault("kind", "train")
    try:
        return CaseFile.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        raise UserError(f"{p}: {loc}: {first.get('msg')}") from None


def _run_case(case: Case | ServeCase | DecodeCase, cat: Catalog, mamf_fraction: float | None,
              serving: dict[str, float] | None) -> CaseResult:
    """One case through its stage's predictor; a case the model cannot run is skipped."""
    try:
        if isinstance(case, ServeCase):
            pred, lay, assumed = predict_serve(case, cat, serving)
        elif isinstance(case, DecodeCase):
            pred, lay, assumed = predict_decode(case, cat)
        else:
            pred, lay, assumed = predict_train(case, cat, mamf_fraction)
    except UserError as e:
        return CaseResult(id=case.id, quantity=case.quantity, predicted=None,
                          published=case.measured, relative_error=None, citation=case.citation,
                          skipped=str(e))
    if case.quantity == "fits":  # a decision: right (0) or wrong (1)
        err = 0.0 if (pred >= FIT_DECISION_THRESHOLD) == (
            case.measured >= FIT_DECISION_THRESHOLD) else 1.0
    else:
        err = pred / case.measured - 1.0
    return CaseResult(id=case.id, quantity=case.quantity, predicted=pred,
                      published=case.measured, relative_error=err, citation=case.citation,
                      layout=lay, assumptions=assumed)


def _summary(results: list[CaseResult]) -> list[Summary]:
    """Per quantity: cases, median and worst absolute relative error."""
    by_q: dict[str, list[tuple[float, str]]] = {}
    for r in results:
        if r.relative_error is not None and math.isfinite(r.relative_error):
            by_q.setdefault(r.quantity, []).append((abs(r.relative_error), r.id))
    out = []
    for q, rows in sorted(by_q.items()):
        errs = [e for e, _ in rows]
        worst = max(rows, key=lambda row: row[0])
        out.append(Summary(quantity=q, cases=len(rows), median_abs_error=statistics.median(errs),
                           worst_abs_error=max(errs), worst_case=worst[1]))
    return out


def validate(case_files: list[str | Path] | None = None, catalog: Catalog | None = None,
             mamf_fraction: float | None = None, only_gpus: set[str] | None = None,
             only_steady: bool = False, only_kind: set[str] | None = None,
             serving: dict[str, float] | None = None) -> ValidationReport:
    """Run every case; error = predicted / published − 1.

    Parameters
    ----------
    case_files : list of path, optional
        Case files; default the shipped ones, plus the recommender, cluster and money cases.
    catalog : Catalog, optional
        Default: the built-in catalog.
    mamf_fraction : float, optional
        Overrides the calibrated fraction of MAMF of every training case [fraction].
    only_gpus : set of str, optional
        Run only the cases on these accelerators.
    only_steady : bool
        Run only the steady-state training throughput cases.
    only_kind : set of str, optional
        Run only cases of these kinds (train, serve, decode, recsys).
    serving : dict, optional
        Overrides of the fitted serving figures (see
        :func:`~gpuplan.validation.serving.predict_serve`).

    Notes
    -----
    ``mamf_fraction``, ``only_gpus``, ``only_steady``, ``only_kind`` and ``serving`` serve the
    calibration script (``benchmarks/calibrate.py``).
    """
    from gpuplan.catalog import load_catalog

    cat = catalog or load_catalog()
    files = [Path(f) for f in case_files] if case_files else [CASES_DIR / f for f in
                                                             DEFAULT_CASE_FILES]
    results: list[CaseResult] = []
    for f in files:
        for case in load_cases(f).cases:
            if only_gpus is not None and case.gpu not in only_gpus:
                continue
            if only_steady and (not isinstance(case, Case) or case.failures
                                or case.quantity not in STEADY_QUANTITIES):
                continue
            if only_kind is not None and case.kind not in only_kind:
                continue
            results.append(_run_case(case, cat, mamf_fraction, serving))
    if case_files is None and only_gpus is None and not only_steady and (
            only_kind is None or "recsys" in only_kind):
        from gpuplan.validation.cluster import validate_cluster_cases
        from gpuplan.validation.money import validate_money_cases
        from gpuplan.validation.recsys import validate_recsys_cases

        for row in [*validate_recsys_cases(catalog=cat), *validate_cluster_cases(catalog=cat),
                    *validate_money_cases(catalog=cat)]:
            results.append(CaseResult(id=row["id"], quantity=row["quantity"],
                                      predicted=row["predicted"], published=row["published"],
                                      relative_error=row["relative_error"],
                                      citation=row["citation"]))
    return ValidationReport(cases=results, summary=_summary(results),
                            skipped=sum(r.skipped is not None for r in results))


__all__ = ["AnyCase", "Case", "CaseFile", "CaseResult", "DecodeCase", "ServeCase", "Summary",
           "ValidationReport", "load_cases", "validate"]
