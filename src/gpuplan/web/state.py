"""What the web app's routes share: the catalog, the store, the plan cache, and the views.

:class:`WebState` holds the catalog, the scenario store (opened on first use), the folder
recommender specs may be read from, and a cache of plans by scenario text. The API routes
(:mod:`~gpuplan.web.api`) and the HTML pages (:mod:`~gpuplan.web.pages`) both import from here,
never from each other or from :mod:`~gpuplan.web.app`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.errors import UserError, unknown_name

if TYPE_CHECKING:
    from gpuplan.pipeline.planner import PlanResult
    from gpuplan.pipeline.scenario import Scenario
    from gpuplan.store import Revision, Store

STATIC_DIR = Path(__file__).parent / "static"
#: The editor's starting scenario: the repository's example in a source checkout, else the copy
#: shipped with the package.
_REPO_EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "enterprise-70b.yaml"
EXAMPLE_SCENARIO = _REPO_EXAMPLE if _REPO_EXAMPLE.is_file() else STATIC_DIR / "enterprise-70b.yaml"
CATALOG_KINDS = ("gpus", "systems", "models", "clouds", "regions")
#: Plans kept in memory, most recently used first out last (a plan result is ~1 MB of JSON).
PLAN_CACHE_ENTRIES = 32


def web_only(err: UserError) -> UserError:
    """``err`` pointing at the web app's catalog page instead of ``gpuplan catalog``."""
    return UserError(str(err).replace("(see `gpuplan catalog`)", "(the web app accepts catalog "
                                      "names only; see /catalog)"), field=err.field)


class WebState:
    """What the routes share: the catalog, the store (opened on first use), the spec folder.

    Parameters
    ----------
    store_url : str, optional
        SQLAlchemy URL of the scenario store [—].
    catalog : Catalog or sequence of overlay paths, optional
        Default: the built-in catalog with ``$GPUPLAN_CATALOG`` overlays [—].
    spec_dir : path, optional
        The only folder recommender spec files are read from (default: the current folder).
    """

    def __init__(self, store_url: str | None, catalog: Catalog | Sequence[str | Path] | None,
                 spec_dir: str | Path | None) -> None:
        if catalog is None:
            self.catalog = load_catalog()
        elif isinstance(catalog, Catalog):
            self.catalog = catalog
        else:
            self.catalog = load_catalog(tuple(str(p) for p in catalog))
        self.store_url = store_url
        self.spec_dir = Path(spec_dir or Path.cwd()).resolve()
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._plan_cache: OrderedDict[str, tuple[Scenario, PlanResult]] = OrderedDict()
        self._plan_lock = threading.Lock()

    @property
    def store(self) -> Store:
        """The scenario store, opened on first use."""
        with self._lock:
            if self._store is None:
                from gpuplan.store import Store

                self._store = Store(self.store_url)
            return self._store

    # -- name checks: catalog names only, no paths ---------------------------------------------
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
        """Every accelerator, model and spec the scenario names must pass the checks above."""
        for o in sc.hardware_options:
            self.check_gpu(o.gpu)
        for w in sc.workloads:
            model = getattr(w, "model", None)
            if model is not None:
                self.check_model(model)
            spec = getattr(w, "spec", None)
            if spec is not None:
                self.check_spec(spec)

    def plan_text(self, text: str) -> tuple[Scenario, PlanResult]:
        """Validate and plan scenario text; returns (scenario, PlanResult).

        Results are cached by the text's SHA-256 (the pipeline is deterministic: the Monte Carlo
        has a seed), so an editor re-posting the same scenario, or many clients asking for the
        same plan, get it without recomputing.
        """
        from gpuplan.pipeline.planner import plan
        from gpuplan.pipeline.scenario import parse_scenario

        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with self._plan_lock:
            hit = self._plan_cache.get(key)
            if hit is not None:
                self._plan_cache.move_to_end(key)
                return hit
        sc = parse_scenario(text, "scenario")
        self.check_scenario(sc)
        out = (sc, plan(sc, catalog=self.catalog, base_dir=self.spec_dir))
        with self._plan_lock:
            self._plan_cache[key] = out
            while len(self._plan_cache) > PLAN_CACHE_ENTRIES:
                self._plan_cache.popitem(last=False)
        return out

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


def catalog_json(cat: Catalog, kind: str) -> dict[str, Any]:
    """``gpuplan catalog KIND --json`` of ``cat`` (``kind`` one of :data:`CATALOG_KINDS`)."""
    if kind == "gpus":
        return {"accelerators": [a.model_dump() for a in cat.accelerators.values()]}
    if kind == "systems":
        return {"systems": [s.model_dump() for s in cat.systems.values()]}
    if kind == "models":
        from gpuplan.report.model_summary import model_rows

        return {"models": model_rows(cat)}
    return {kind: [x.model_dump() for x in cat.section(kind).values()]}


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
