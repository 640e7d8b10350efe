"""The web app: a JSON API mirroring the CLI, and a few plain HTML pages.

``create_app()`` builds the FastAPI application; ``serve()`` runs it under uvicorn on
127.0.0.1. The API calls the same functions as the CLI (``plan``, ``fit``, ``train``, ``serve``,
``build_cluster``) and returns their ``model_dump()``; a :class:`~gpuplan.errors.UserError` is
answered 422 ``{"detail": message}``, an unknown saved scenario 404.

Security defaults: loopback only; request bodies up to 1 MiB (413 beyond); ``Host`` checked
against the loopback names (DNS rebinding); cross-site writes refused; every text that came from
a user is escaped in HTML; the pages load nothing but this server's ``/static`` (plotly.js from
the installed ``plotly`` package); the web API accepts catalog names only for models and
accelerators (no file paths), and recommender spec files only inside ``spec_dir``.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from gpuplan import __version__
from gpuplan.errors import UserError, unknown_name
from gpuplan.web.security import CSP_SELF_CONTAINED, LOOPBACK_HOSTS, MAX_BODY_BYTES, GuardMiddleware

STATIC_DIR = Path(__file__).parent / "static"
#: The editor's starting scenario: the repository's example in a source checkout, else the copy
#: shipped with the package.
_REPO_EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "enterprise-70b.yaml"
EXAMPLE_SCENARIO = _REPO_EXAMPLE if _REPO_EXAMPLE.is_file() else STATIC_DIR / "enterprise-70b.yaml"
CATALOG_KINDS = ("gpus", "systems", "models", "clouds", "regions")
#: Largest scenario text accepted by the API [characters] (the body limit applies first).
MAX_YAML_CHARS = MAX_BODY_BYTES


def plotly_js_path() -> Path:
    """plotly.min.js of the installed plotly package (served at /static/plotly.min.js)."""
    import plotly

    p = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not p.is_file():  # pragma: no cover - a broken plotly install
        raise RuntimeError(f"plotly.min.js not found at {p}")
    return p


# ----------------------------------------------------------------------------------------------
# Request bodies
# ----------------------------------------------------------------------------------------------


class PlanRequest(BaseModel):
    yaml: str = Field(max_length=MAX_YAML_CHARS, description="scenario YAML text")


class SaveRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100,
                      description="letters, digits, space, '.', '_', '-'")
    yaml: str = Field(max_length=MAX_YAML_CHARS, description="scenario YAML text")
    author: str | None = Field(default=None, max_length=200)
    comment: str | None = Field(default=None, max_length=2000)


# ----------------------------------------------------------------------------------------------
# The app's state: catalog, store, where recommender specs may be read from
# ----------------------------------------------------------------------------------------------


#: Plans kept in memory, most recently used first out last (a plan result is ~1 MB of JSON).
PLAN_CACHE_ENTRIES = 32


class WebState:
    """What the routes share: the catalog, the store (opened on first use), the spec folder."""

    def __init__(self, store_url: str | None, catalog: Any, spec_dir: str | Path | None):
        from gpuplan.catalog import Catalog, load_catalog

        if catalog is None:
            self.catalog = load_catalog()
        elif isinstance(catalog, Catalog):
            self.catalog = catalog
        else:
            self.catalog = load_catalog(tuple(str(p) for p in catalog))
        self.store_url = store_url
        self.spec_dir = Path(spec_dir or Path.cwd()).resolve()
        self._store = None
        self._lock = threading.Lock()
        self._plan_cache: OrderedDict[str, Any] = OrderedDict()
        self._plan_lock = threading.Lock()

    @property
    def store(self):
        with self._lock:
            if self._store is None:
                from gpuplan.store import Store

                self._store = Store(self.store_url)
            return self._store

    # -- name checks: catalog names only, no paths ---------------------------------------------
    def check_gpu(self, gpu: str) -> str:
        if gpu.lower() not in self.catalog.accelerators:
            raise _web_only(unknown_name("GPU", gpu, self.catalog.accelerators))
        return gpu

    def check_model(self, model: str) -> str:
        key = model.lower()
        if key in self.catalog.models or any(m.repo_id.lower() == key
                                             for m in self.catalog.models.values()):
            return model
        raise _web_only(unknown_name("model", model, self.catalog.models))

    def check_spec(self, spec: str) -> str:
        p = Path(spec)
        target = (self.spec_dir / p).resolve()
        if p.is_absolute() or ".." in p.parts or not target.is_relative_to(self.spec_dir):
            raise UserError(f"recsys spec {spec!r}: the web app reads spec files only inside "
                            f"its spec folder, by a relative path without '..'")
        return spec

    def check_scenario(self, sc) -> None:
        for o in sc.hardware_options:
            self.check_gpu(o.gpu)
        for w in sc.workloads:
            if getattr(w, "model", None) is not None:
                self.check_model(w.model)
            if getattr(w, "spec", None) is not None:
                self.check_spec(w.spec)

    def plan_text(self, text: str):
        """Validate and plan scenario text; returns (scenario, PlanResult).

        Results are cached by the text's SHA-256 (the pipeline is deterministic: the Monte Carlo
        has a seed), so an editor re-posting the same scenario, or many clients asking for the
        same plan, get it without recomputing.
        """
        import hashlib

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

    def result_of(self, rev) -> dict[str, Any]:
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


def _web_only(err: UserError) -> UserError:
    return UserError(str(err).replace("(see `gpuplan catalog`)", "(the web app accepts catalog "
                                      "names only; see /catalog)"))


def _catalog_json(cat, kind: str) -> dict[str, Any]:
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


# ----------------------------------------------------------------------------------------------
# The app
# ----------------------------------------------------------------------------------------------


def create_app(store_url: str | None = None, catalog: Any = None, *,
               spec_dir: str | Path | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               allowed_hosts: tuple[str, ...] | list[str] | None = None) -> FastAPI:
    """The gpuplan web application.

    Parameters
    ----------
    store_url : str, optional
        SQLAlchemy URL of the scenario store (default: ``$GPUPLAN_DB_URL``, else SQLite in the
        user data folder). The store is opened on first use.
    catalog : Catalog or sequence of overlay paths, optional
        Default: the built-in catalog with ``$GPUPLAN_CATALOG`` overlays.
    spec_dir : path, optional
        The only folder recommender spec files are read from (default: the current folder).
    max_body_bytes : int
        Largest request body [bytes]; larger ones get 413.
    allowed_hosts : sequence of str, optional
        Accepted ``Host`` header names (default: 127.0.0.1, localhost, ::1); ``"*"`` for any.
    """
    from gpuplan.store import NotFound
    from gpuplan.web import pages

    state = WebState(store_url, catalog, spec_dir)
    app = FastAPI(
        title="gpuplan", version=__version__,
        description="Plan AI infrastructure: demand, cluster, own vs rent. The API mirrors the "
                    "`gpuplan` CLI; every quantity has its unit in its key.",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.gpuplan = state
    app.add_middleware(GuardMiddleware, max_body_bytes=max_body_bytes,
                       allowed_hosts=tuple(allowed_hosts or LOOPBACK_HOSTS))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    # -- plan -----------------------------------------------------------------------------------
    @app.post("/api/plan", tags=["plan"], summary="Plan a scenario (gpuplan plan --json)")
    def api_plan(req: PlanRequest) -> dict[str, Any]:
        """The whole plan of a scenario given as YAML text: PlanResult JSON."""
        return state.plan_text(req.yaml)[1].model_dump()

    @app.post("/api/plan/preview", tags=["plan"],
              summary="Plan a scenario; key figures and the cumulative-cost chart")
    def api_plan_preview(req: PlanRequest) -> dict[str, Any]:
        """What the editor page shows: recommendation, formatted summary, one chart."""
        from gpuplan.report.charts import cumulative_cost_figure, finite, summary_rows
        from gpuplan.report.html import SUMMARY_HEADERS, formatted_summary

        res = state.plan_text(req.yaml)[1].model_dump()
        return {"scenario": res["scenario"], "recommendation": res["recommendation"],
                "best_option": res["best_option"], "npv_usd": res["npv_usd"],
                "breakeven_months": res["breakeven_months"],
                "summary_headers": [list(h) for h in SUMMARY_HEADERS],
                "summary": formatted_summary(res), "numbers": summary_rows(res),
                "notes": res["notes"],
                "figures": {"cumulative": finite(cumulative_cost_figure(res))}}

    # -- single questions, as the CLI commands ---------------------------------------------------
    @app.get("/api/fit", tags=["demand"], summary="Memory fit (gpuplan fit --json)")
    def api_fit(
        model: str = Query(max_length=200, description="catalog model id or HF repo id"),
        gpu: str = Query(max_length=100, description="catalog accelerator id"),
        mode: Literal["inference", "train", "finetune", "lora", "qlora"] = "inference",
        dtype: str | None = Query(None, max_length=16),
        kv_dtype: str = Query("bf16", max_length=16),
        seq_len: int = Query(4096, ge=1, le=2**22),
        batch: int = Query(1, ge=1, le=2**20),
        layout: str | None = Query(None, max_length=200),
        all_gpus: bool = False,
    ) -> dict[str, Any]:
        from gpuplan.demand.fitting import fit

        return fit(state.check_model(model), state.check_gpu(gpu), mode=mode, dtype=dtype,
                   kv_dtype=kv_dtype, seq_len=seq_len, batch=batch, layout=layout,
                   all_gpus=all_gpus, catalog=state.catalog).model_dump()

    @app.get("/api/train", tags=["demand"], summary="Training run (gpuplan train --json)")
    def api_train(
        model: str = Query(max_length=200), gpu: str = Query(max_length=100),
        gpus: int = Query(ge=1, le=2**24), tokens: float = Query(gt=0, le=1e16),
        seq_len: int | None = Query(None, ge=1, le=2**22),
        global_batch_tokens: float | None = Query(None, gt=0, le=1e10),
        dtype: Literal["bf16", "fp16", "fp8"] = "bf16",
        mode: Literal["train", "finetune", "lora", "qlora"] = "train",
        layout: str | None = Query(None, max_length=200),
        no_failures: bool = False,
        rent_usd_per_gpu_hour: float | None = Query(None, gt=0, le=1e4),
        own_usd_per_gpu_hour: float | None = Query(None, gt=0, le=1e4),
    ) -> dict[str, Any]:
        from gpuplan.demand.training import train

        return train(state.check_model(model), state.check_gpu(gpu), gpus, tokens,
                     seq_len=seq_len, global_batch_tokens=global_batch_tokens, dtype=dtype,
                     mode=mode, layout=layout, failures=not no_failures,
                     rent_usd_per_gpu_hour=rent_usd_per_gpu_hour,
                     own_usd_per_gpu_hour=own_usd_per_gpu_hour,
                     catalog=state.catalog).model_dump()

    @app.get("/api/serve", tags=["demand"], summary="LLM serving (gpuplan serve --json)")
    def api_serve(
        model: str = Query(max_length=200), gpu: str = Query(max_length=100),
        quant: str = Query("bf16", max_length=16),
        kv_dtype: str | None = Query(None, max_length=16),
        input_tokens: int = Query(1024, ge=1, le=2**22),
        output_tokens: int = Query(256, ge=1, le=2**22),
        rate: float | None = Query(None, gt=0, le=1e9),
        tokens_per_day: float | None = Query(None, gt=0, le=1e18),
        ttft_ms: float | None = Query(None, gt=0, le=1e7),
        tpot_ms: float | None = Query(None, gt=0, le=1e7),
        tp: int | None = Query(None, ge=1, le=1024), pp: int | None = Query(None, ge=1, le=1024),
        max_batch: int = Query(2048, ge=1, le=2**20),
        headroom: float = Query(0.2, ge=0, le=10),
        speculative_acceptance: float | None = Query(None, ge=0, le=1),
        draft_tokens: int = Query(4, ge=1, le=64),
    ) -> dict[str, Any]:
        from gpuplan.demand.serving import serve as serve_fn

        return serve_fn(state.check_model(model), state.check_gpu(gpu), quant=quant,
                        kv_dtype=kv_dtype, input_tokens=input_tokens,
                        output_tokens=output_tokens, rate=rate, tokens_per_day=tokens_per_day,
                        ttft_ms=ttft_ms, tpot_ms=tpot_ms, tp=tp, pp=pp, max_batch=max_batch,
                        headroom=headroom, speculative_acceptance=speculative_acceptance,
                        draft_tokens=draft_tokens, catalog=state.catalog).model_dump()

    @app.get("/api/cluster", tags=["supply"], summary="Physical cluster (gpuplan cluster --json)")
    def api_cluster(
        gpu: str = Query(max_length=100), gpus: int = Query(ge=1, le=2**24),
        system: str | None = Query(None, max_length=100),
        fabric: str = Query("infiniband-ndr-400g", max_length=100),
        rack_power_kw: float | None = Query(None, gt=0, le=1e4),
        oversubscription: float = Query(1.0, ge=1, le=64),
        facility: str | None = Query(None, max_length=100),
        dataset_tb: float = Query(0.0, ge=0, lt=1e9),
        checkpoint_model: str | None = Query(None, max_length=200),
    ) -> dict[str, Any]:
        from gpuplan.cluster import build_cluster

        if checkpoint_model is not None:
            state.check_model(checkpoint_model)
        return build_cluster(state.check_gpu(gpu), gpus, system=system, fabric=fabric,
                             rack_power_kw=rack_power_kw, oversubscription=oversubscription,
                             facility=facility, dataset_bytes=dataset_tb * 1e12,
                             checkpoint_model=checkpoint_model,
                             catalog=state.catalog).model_dump()

    @app.get("/api/catalog/{kind}", tags=["catalog"],
             summary="Catalog entries with sources (gpuplan catalog KIND --json)")
    def api_catalog(kind: str) -> dict[str, Any]:
        if kind not in CATALOG_KINDS:
            return JSONResponse({"detail": f"unknown catalog kind {kind!r}; accepted: "
                                           f"{', '.join(CATALOG_KINDS)}"}, status_code=404)
        return _catalog_json(state.catalog, kind)

    # -- saved scenarios -------------------------------------------------------------------------
    @app.get("/api/scenarios", tags=["scenarios"], summary="Saved scenarios")
    def api_scenarios() -> dict[str, Any]:
        return {"scenarios": state.store.list()}

    @app.post("/api/scenarios", tags=["scenarios"], status_code=201,
              summary="Save a scenario (a new revision; planned first, 422 if invalid)")
    def api_save(req: SaveRequest) -> dict[str, Any]:
        from gpuplan.store import check_name

        check_name(req.name)
        _, res = state.plan_text(req.yaml)
        n = state.store.save(req.name, req.yaml, res.model_dump_json(), author=req.author,
                             comment=req.comment)
        return {"name": req.name, "revision": n, "recommendation": res.recommendation}

    @app.get("/api/scenarios/{name}", tags=["scenarios"],
             summary="A saved scenario: the latest (or given) revision and the history")
    def api_scenario(name: str, revision: int | None = Query(None, ge=1)) -> dict[str, Any]:
        rev = state.store.get(name, revision)
        latest = rev.as_dict()
        latest["result"] = rev.result
        return {"name": name, "revision": latest,
                "history": [r.as_dict(with_text=False) | {"diff": r.diff}
                            for r in state.store.history(name)]}

    @app.delete("/api/scenarios/{name}", tags=["scenarios"],
                summary="Delete a saved scenario and its history")
    def api_delete(name: str) -> dict[str, Any]:
        return {"name": name, "deleted_revisions": state.store.delete(name)}

    @app.get("/api/scenarios/{name}/report", tags=["scenarios"], response_class=HTMLResponse,
             summary="Self-contained HTML report of a saved scenario")
    def api_report(name: str, revision: int | None = Query(None, ge=1),
                   download: bool = False) -> Response:
        from gpuplan.report.export import slug
        from gpuplan.report.html import render_html_report

        rev = state.store.get(name, revision)
        html = render_html_report(state.result_of(rev), scenario_text=rev.yaml_text)
        headers = {"content-security-policy": CSP_SELF_CONTAINED}
        if download:
            headers["content-disposition"] = (f'attachment; filename="{slug(name)}-r'
                                              f'{rev.revision}.html"')
        return HTMLResponse(html, headers=headers)

    @app.get("/api/compare", tags=["scenarios"], summary="Two saved scenarios side by side")
    def api_compare(a: str = Query(max_length=100), b: str = Query(max_length=100),
                    ra: int | None = Query(None, ge=1),
                    rb: int | None = Query(None, ge=1)) -> dict[str, Any]:
        from gpuplan.store import unified_diff

        va, vb = scenario_view(state, a, ra), scenario_view(state, b, rb)
        diff = unified_diff(va["yaml_text"], vb["yaml_text"], f"{a}@{va['revision']}",
                            f"{b}@{vb['revision']}")
        for v in (va, vb):
            v.pop("result")
        return {"a": va, "b": vb, "yaml_diff": diff}

    # -- static files and pages ------------------------------------------------------------------
    @app.get("/static/plotly.min.js", include_in_schema=False)
    def static_plotly() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="text/javascript",
                            headers={"cache-control": "public, max-age=86400"})

    @app.get("/static/report.js", include_in_schema=False)
    def static_report_js() -> Response:
        from gpuplan.report.html import RENDER_JS

        return Response(RENDER_JS, media_type="text/javascript")

    @app.get("/static/{filename}", include_in_schema=False)
    def static_file(filename: str) -> Response:
        files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        if filename not in files:  # a fixed list: no path ever reaches the file system
            return PlainTextResponse("not found", status_code=404)
        media = {".js": "text/javascript", ".css": "text/css",
                 ".yaml": "text/plain; charset=utf-8"}.get(files[filename].suffix,
                                                           "application/octet-stream")
        return FileResponse(files[filename], media_type=media)

    pages.add_pages(app, state)
    _declare_user_error_422(app)
    return app


def _declare_user_error_422(app: FastAPI) -> None:
    """Declare in OpenAPI that a 422 is either FastAPI's validation error or a UserError.

    A user mistake found past request parsing (unknown GPU, impossible layout) answers
    ``{"detail": "<one line>"}``; request-shape errors keep FastAPI's list form.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = original()
        comps = spec.setdefault("components", {}).setdefault("schemas", {})
        comps["UserErrorDetail"] = {
            "title": "UserErrorDetail", "type": "object", "required": ["detail"],
            "properties": {"detail": {"type": "string", "title": "Detail",
                                      "description": "what was wrong and what is accepted"}}}
        user = {"$ref": "#/components/schemas/UserErrorDetail"}
        for ops in spec.get("paths", {}).values():
            for op in ops.values():
                if not isinstance(op, dict):
                    continue
                responses = op.setdefault("responses", {})
                r422 = responses.get("422")
                if r422 is None:
                    responses["422"] = {"description": "A user mistake",
                                        "content": {"application/json": {"schema": user}}}
                    continue
                content = r422.setdefault("content", {}).setdefault("application/json", {})
                old = content.get("schema")
                content["schema"] = {"anyOf": [old, user]} if old else user
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


# ----------------------------------------------------------------------------------------------
# Running it
# ----------------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8000, *, store_url: str | None = None,
          catalog: Any = None, spec_dir: str | Path | None = None,
          log_level: str = "info") -> None:
    """Run the web app under uvicorn (blocks until stopped).

    Binds 127.0.0.1 by default. Another address is served as asked, with a warning on stderr:
    there is no login, so anyone who can reach it can run plans and change saved scenarios.
    """
    import uvicorn

    if not (0 < int(port) < 65536):
        raise UserError(f"--port must be 1-65535, got {port}")
    if _is_loopback(host):
        hosts: tuple[str, ...] = (*LOOPBACK_HOSTS, host)
    else:
        sys.stderr.write(f"gpuplan web: warning: listening on {host}, not loopback; there is "
                         f"no login: anyone who can reach it can use and change it\n")
        hosts = ("*",)
    app = create_app(store_url, catalog, spec_dir=spec_dir, allowed_hosts=hosts)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level, server_header=False,
                proxy_headers=False)


__all__ = ["create_app", "serve"]
