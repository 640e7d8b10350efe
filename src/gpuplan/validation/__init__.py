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
from gpuplan.validation.training import (
    STEADY_QUANTITIES,
    Case,
    predict_train,
    search_alternative,
)

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
    headline: bool = True
    reason: str | None = None
    framework: str | None = None
    convention: str | None = None
    search_layout: str | None = None
    search_speedup: float | None = None


class Summary(BaseModel):
    """Median and worst absolute relative error of the cases of one quantity [fraction]."""

    model_config = ConfigDict(extra="forbid")
    quantity: str
    cases: int
    median_abs_error: float
    worst_abs_error: float
    worst_case: str


class ValidationReport(BaseModel):
    """What ``gpuplan validate --json`` prints.

    ``summary`` is over headline rows only (``headline: true``); ``training`` is the one line of
    every headline training row together; ``excluded`` counts the rows kept out, with reasons.
    """

    model_config = ConfigDict(extra="forbid")
    cases: list[CaseResult]
    summary: list[Summary]
    skipped: int
    training: Summary | None = None
    excluded: int = 0


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
                          skipped=str(e), **_labels(case))
    if case.quantity == "fits":  # a decision: right (0) or wrong (1)
        err = 0.0 if (pred >= FIT_DECISION_THRESHOLD) == (
            case.measured >= FIT_DECISION_THRESHOLD) else 1.0
    else:
        err = pred / case.measured - 1.0
    alt = search_alternative(case, cat) if isinstance(case, Case) and mamf_fraction is None \
        else None
    return CaseResult(id=case.id, quantity=case.quantity, predicted=pred,
                      published=case.measured, relative_error=err, citation=case.citation,
                      layout=lay, assumptions=assumed, **_labels(case),
                      search_layout=alt[0] if alt else None,
                      search_speedup=alt[1] if alt else None)


def _labels(case: Case | ServeCase | DecodeCase) -> dict[str, bool | str | None]:
    """Headline flag and reason of a case; framework and FLOP convention of a training case."""
    if isinstance(case, ServeCase):
        return {"headline": case.headline, "reason": None if case.headline else case.reason}
    if not isinstance(case, Case):
        return {}
    return {"headline": case.headline, "reason": None if case.headline else case.reason,
            "framework": case.framework or None, "convention": case.convention}


def _rows_summary(name: str, rows: list[tuple[float, str]]) -> Summary:
    errs = [e for e, _ in rows]
    worst = max(rows, key=lambda row: row[0])
    return Summary(quantity=name, cases=len(rows), median_abs_error=statistics.median(errs),
                   worst_abs_error=max(errs), worst_case=worst[1])


def _training_summary(results: list[CaseResult], train_ids: set[str]) -> Summary | None:
    """Median and worst |error| of every headline training row together."""
    rows = [(abs(r.relative_error), r.id) for r in results
            if r.id in train_ids and r.headline and r.relative_error is not None
            and math.isfinite(r.relative_error)]
    return _rows_summary("training (headline rows)", rows) if rows else None


def _summary(results: list[CaseResult]) -> list[Summary]:
    """Per quantity: cases, median and worst absolute relative error of the headline rows."""
    by_q: dict[str, list[tuple[float, str]]] = {}
    for r in results:
        if r.headline and r.relative_error is not None and math.isfinite(r.relative_error):
            by_q.setdefault(r.quantity, []).append((abs(r.relative_error), r.id))
    return [_rows_summary(q, rows) for q, rows in sorted(by_q.items())]


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
    train_ids: set[str] = set()
    for f in files:
        for case in load_cases(f).cases:
            if only_gpus is not None and case.gpu not in only_gpus:
                continue
            if only_steady and (not isinstance(case, Case) or case.failures
                                or case.quantity not in STEADY_QUANTITIES):
                continue
            if only_kind is not None and case.kind not in only_kind:
                continue
            if isinstance(case, Case):
                train_ids.add(case.id)
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
                            skipped=sum(r.skipped is not None for r in results),
                            training=_training_summary(results, train_ids),
                            excluded=sum(not r.headline for r in results))


__all__ = ["AnyCase", "Case", "CaseFile", "CaseResult", "DecodeCase", "ServeCase", "Summary",
           "ValidationReport", "load_cases", "validate"]
