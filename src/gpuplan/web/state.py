"""What the web app's routes share: the catalog, the store, the plan pool, and the views.

:class:`WebState` holds the catalog, the scenario store (opened on first use), the folder
recommender specs may be read from, and the :class:`~gpuplan.web.jobs.PlanPool` that plans
scenario text in worker processes (:func:`compute_outcome`) and caches the results. The API routes
(:mod:`~gpuplan.web.api`) and the HTML pages (:mod:`~gpuplan.web.pages`) both import from here,
never from each other or from :mod:`~gpuplan.web.app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.cli.catalog_cmds import CATALOG_KINDS as CATALOG_KINDS  # the CLI's, re-exported:
from gpuplan.cli.catalog_cmds import catalog_json as catalog_json  # one catalog JSON builder
from gpuplan.errors import UserError, unknown_name
from gpuplan.web.jobs import DEFAULT_TIME_LIMIT_S, PlanCancelled, PlanPool, PlanTimeLimit

if TYPE_CHECKING:
    from gpuplan.pipeline.planner import PlanResult
    from gpuplan.pipeline.scenario import Scenario
    from gpuplan.store import Revision, Store
STATIC_DIR = Path(__file__).parent / "static"
#: The editor's starting scenario: the repository's example in a source checkout, else the copy
#: shipped with the package.
_REPO_EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "enterprise-70b.yaml"
EXAMPLE_SCENARIO = _REPO_EXAMPLE if _REPO_EXAMPLE.is_file() else STATIC_DIR / "enterprise-70b.yaml"
#: Monte Carlo draws of the warm-up plan a worker process runs when it starts (the least a
#: scenario accepts) [1].
WARM_UP_SAMPLES = 100
#: How often a waiting request looks whether its plan is done [s] (adds at most this latency).
RESULT_POLL_S = 0.01
#: How often a waiting request looks whether its client went away [s].
DISCONNECT_CHECK_S = 0.1


def web_only(err: UserError) -> UserError:
    """``err`` pointing at the web app's catalog page instead of ``gpuplan catalog``."""
    return UserError(str(err).replace("(see `gpuplan catalog`)", "(the web app accepts catalog "
                                      "names only; see /catalog)"), field=err.field)


class NameChecks:
    """The web app's name checks: catalog names only for models and GPUs, specs in one folder.

    Parameters
    ----------
    catalog : Catalog
        The catalog names are checked against [—].
    spec_dir : Path
        The only folder recommender spec files are read from [—].
    """

    def __init__(self, catalog: Catalog, spec_dir: Path) -> None:
        self.catalog = catalog
        self.spec_dir = spec_dir

    def check_gpu(self, gpu: str) -> str:
        """``gpu`` if it is a catalog accelerator id (no YAML paths over the web)."""
        if gpu.lower() not in self.catalog.accelerators:
            raise web_only(unknown_name("GPU", gpu, self.catalog.accelerators))
        return gpu

    def check_model(self, model: str) -> str:
        """``model`` if it is a catalog model id or HF repo id (no config paths over the web)."""
        key = model.lower()
        if key in self.catalog.models or any(m.repo_id.lower() == key
                                             for m in self.catalog.models.values()):
            return model
        raise web_only(unknown_name("model", model, self.catalog.models))

    def check_spec(self, spec: str) -> str:
        """``spec`` if it is a relative path inside the spec folder."""
        p = Path(spec)
        target = (self.spec_dir / p).resolve()
        if p.is_absolute() or ".." in p.parts or not target.is_relative_to(self.spec_dir):
            raise UserError(f"recsys spec {spec!r}: the web app reads spec files only inside "
                            f"its spec folder, by a relative path without '..'")
        return spec

    def check_scenario(self, sc: Scenario) -> None:
        """Every accelerator, system, region, model and spec the scenario names must pass the
        checks above; the message names the field as the CLI does (``hardware_options[1].gpu:
        unknown GPU 'b2OO'; closest: b200, ...``), where the pipeline would only have left the
        option out with a note."""
        checks: list[tuple[str, Callable[[], object]]] = [
            ("region", lambda: self.catalog.entry("regions", sc.region))]
        for i, o in enumerate(sc.hardware_options):
            checks.append((f"hardware_options[{i}].gpu", functools.partial(self.check_gpu, o.gpu)))
            if o.system is not None:
                checks.append((f"hardware_options[{i}].system",
                               functools.partial(self.catalog.system, o.system)))
        for i, w in enumerate(sc.workloads):
            model = getattr(w, "model", None)
            if model is not None:
                checks.append((f"workloads[{i}].model", functools.partial(self.check_model, model)))
            spec = getattr(w, "spec", None)
            if spec is not None:
                checks.append((f"workloads[{i}].spec", functools.partial(self.check_spec, spec)))
        for where, check in checks:
            try:
                check()
            except UserError as err:
                raise web_only(UserError(f"{where}: {err}")) from None


@dataclass(frozen=True)
class PlanOutcome:
    """A planned scenario as the routes answer it, computed once in a worker process.

    ``plan_json`` is the body of ``POST /api/plan`` and ``preview_json`` that of
    ``POST /api/plan/preview``, serialised where the plan ran, so a cached plan is answered
    without touching the result again.
    """

    scenario: Scenario
    result: PlanResult
    plan_json: bytes
    preview_json: bytes


def json_bytes(obj: Any) -> bytes:
    """``obj`` as FastAPI's JSONResponse writes it (compact UTF-8, no NaN)."""
    from fastapi.encoders import jsonable_encoder

    data = jsonable_encoder(obj)
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (from the user's text): \u escapes instead
        return json.dumps(data, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


def preview_of(res: dict[str, Any]) -> dict[str, Any]:
    """What the editor page shows of a plan: recommendation, formatted summary, one chart."""
    from gpuplan.report.charts import cumulative_cost_figure, finite, summary_rows
    from gpuplan.report.html import SUMMARY_HEADERS, formatted_summary

    return {"scenario": res["scenario"], "recommendation": res["recommendation"],
            "best_option": res["best_option"], "npv_usd": res["npv_usd"],
            "breakeven_months": res["breakeven_months"],
            "summary_headers": [list(h) for h in SUMMARY_HEADERS],
            "summary": formatted_summary(res), "numbers": summary_rows(res),
            "notes": res["notes"],
            "figures": {"cumulative": finite(cumulative_cost_figure(res))}}


def compute_outcome(text: str, catalog: Catalog, spec_dir: Path, *,
                    report: Callable[..., None] | None = None) -> PlanOutcome:
    """Validate, check and plan scenario text (what a worker process runs).

    ``report("start", options, samples)`` follows the parse, ``report("stage", label)`` comes
    before each hardware option (the pipeline's ``progress`` callback) and
    ``report("samples", done, n)`` after each chunk of that option's Monte Carlo
    (:data:`~gpuplan.money.montecarlo.SAMPLE_PROGRESS`, set for this plan only).
    """
    from gpuplan.money.montecarlo import SAMPLE_PROGRESS
    from gpuplan.pipeline.planner import plan
    from gpuplan.pipeline.scenario import parse_scenario

    sc = parse_scenario(text, "scenario")
    NameChecks(catalog, spec_dir).check_scenario(sc)
    if report is None:
        res = plan(sc, catalog=catalog, base_dir=spec_dir)
    else:
        report("start", len(sc.hardware_options), sc.risk.samples)
        token = SAMPLE_PROGRESS.set(lambda done, n: report("samples", done, n))
        try:
            res = plan(sc, catalog=catalog, base_dir=spec_dir,
                       progress=lambda label: report("stage", label))
        finally:
            SAMPLE_PROGRESS.reset(token)
    dumped = res.model_dump()
    return PlanOutcome(sc, res, json_bytes(dumped), json_bytes(preview_of(dumped)))


def warm_worker(catalog: Catalog, spec_dir: Path) -> None:
    """What a worker process does before its first plan: read every catalog section and plan
    the editor's example once (imports, lazy caches), so the first plan is timed like the next.
    """
    from gpuplan.catalog import sections

    for kind in sections():
        catalog.section(kind)
    with contextlib.suppress(UserError):  # an overlay without the example's GPUs
        compute_outcome(EXAMPLE_SCENARIO.read_text(encoding="utf-8").replace(
            "cloud:", f"risk: {{samples: {WARM_UP_SAMPLES}}}\ncloud:", 1), catalog, spec_dir)


class WebState(NameChecks):
    """What the routes share: the catalog, the store (opened on first use), the spec folder,
    and the pool of plan workers with its result cache (started on first use).

    Parameters
    ----------
    store_url : str, optional
        SQLAlchemy URL of the scenario store [—].
    catalog : Catalog or sequence of overlay paths, optional
        Default: the built-in catalog with ``$GPUPLAN_CATALOG`` overlays [—].
    spec_dir : path, optional
        The only folder recommender spec files are read from (default: the current folder).
    workers : int, optional
        Plan worker processes (default: the cores) [1].
    time_limit_s : float
        Longest one plan may compute and one request may wait for it [s].
    """

    def __init__(self, store_url: str | None, catalog: Catalog | Sequence[str | Path] | None,
                 spec_dir: str | Path | None, *, workers: int | None = None,
                 time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> None:
        if catalog is None:
            cat = load_catalog()
        elif isinstance(catalog, Catalog):
            cat = catalog
        else:
            cat = load_catalog(tuple(str(p) for p in catalog))
        super().__init__(cat, Path(spec_dir or Path.cwd()).resolve())
        self.store_url = store_url
        self._store: Store | None = None
        self._lock = threading.Lock()
        self.pool = PlanPool(compute_outcome, (self.catalog, self.spec_dir), workers=workers,
                             time_limit_s=time_limit_s, warm=warm_worker)

    @property
    def store(self) -> Store:
        """The scenario store, opened on first use."""
        with self._lock:
            if self._store is None:
                from gpuplan.store import Store

                self._store = Store(self.store_url)
            return self._store

    def plan_outcome(self, text: str) -> PlanOutcome:
        """Plan scenario text in the worker pool and wait (a blocking call, for sync routes).

        Results are cached by the text's SHA-256 (the pipeline is deterministic: the Monte Carlo
        has a seed) and shared between clients. Raises :class:`~gpuplan.errors.UserError`,
        :class:`~gpuplan.web.jobs.PoolFull` or :class:`~gpuplan.web.jobs.PlanTimeLimit`.
        """
        hit = self.pool.cached(text)
        if hit is not None:
            return cast(PlanOutcome, hit)
        job = self.pool.submit(text)
        try:
            return cast(PlanOutcome, job.future.result(timeout=self.pool.time_limit_s))
        except FutureTimeout:
            raise PlanTimeLimit(self.pool.time_limit_s) from None
        finally:
            self.pool.release(job)

    async def plan_outcome_async(self, text: str,
                                 is_disconnected: Callable[[], Awaitable[bool]] | None = None
                                 ) -> PlanOutcome:
        """:meth:`plan_outcome` without blocking the event loop; the job is released (and
        cancelled if nobody else waits for it) when the client goes away or the limit passes.
        """
        hit = self.pool.cached(text)
        if hit is not None:
            return cast(PlanOutcome, hit)
        from gpuplan.pipeline.scenario import parse_scenario

        parse_scenario(text)  # malformed scenarios are a 422 here, never a queued plan
        job = self.pool.submit(text)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.pool.time_limit_s
        next_check = loop.time() + DISCONNECT_CHECK_S
        try:
            while not job.future.done():
                await asyncio.sleep(RESULT_POLL_S)
                now = loop.time()
                if now > deadline:
                    raise PlanTimeLimit(self.pool.time_limit_s)
                if is_disconnected is not None and now > next_check:
                    next_check = now + DISCONNECT_CHECK_S
                    if await is_disconnected():
                        raise PlanCancelled("the client went away")
            return cast(PlanOutcome, job.future.result())
        finally:
            self.pool.release(job)

    def plan_text(self, text: str) -> tuple[Scenario, PlanResult]:
        """Validate and plan scenario text; returns (scenario, PlanResult) (see plan_outcome)."""
        out = self.plan_outcome(text)
        return out.scenario, out.result

    def result_of(self, rev: Revision) -> dict[str, Any]:
        """A stored revision's plan result, recomputed when absent or from an older format."""
        from gpuplan.report.charts import all_figures, summary_rows

        res = rev.result
        if res is not None:
            try:
                summary_rows(res)
                all_figures(res)
                return res
            except (KeyError, TypeError, IndexError, AttributeError):
                pass
        return self.plan_text(rev.yaml_text)[1].model_dump()


def scenario_view(state: WebState, name: str, revision: int | None = None) -> dict[str, Any]:
    """A saved scenario's revision with its key figures (for /api/compare and /compare)."""
    from gpuplan.report.charts import summary_rows

    rev = state.store.get(name, revision)
    res = state.result_of(rev)
    return {"name": rev.name, "revision": rev.revision, "created_at": rev.created_at,
            "author": rev.author, "comment": rev.comment, "scenario": res["scenario"],
            "recommendation": res["recommendation"], "best_option": res["best_option"],
            "npv_usd": res["npv_usd"], "breakeven_months": res["breakeven_months"],
            "summary": summary_rows(res), "yaml_text": rev.yaml_text, "result": res}
