"""The web app: a JSON API mirroring the CLI, and a few plain HTML pages.

``create_app()`` builds the FastAPI application from its parts: the shared state
(:mod:`~gpuplan.web.state`), the API routes (:mod:`~gpuplan.web.api`), the HTML pages
(:mod:`~gpuplan.web.pages`) and the request guards (:mod:`~gpuplan.web.security`); ``serve()``
runs it under uvicorn on 127.0.0.1. The API calls the same functions as the CLI and returns
their ``model_dump()``; a :class:`~gpuplan.errors.UserError` is answered 422
``{"detail": message, "field": parameter name or null}``, an unknown saved scenario 404.

Security defaults: loopback only; request bodies up to 1 MiB (413 beyond); ``Host`` checked
against the loopback names (DNS rebinding); cross-site writes refused; every text that came from
a user is escaped in HTML; the pages load nothing but this server's ``/static`` (plotly.js from
the installed ``plotly`` package); the web API accepts catalog names only for models and
accelerators (no file paths), and recommender spec files only inside ``spec_dir``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from gpuplan import __version__
from gpuplan.errors import UserError
from gpuplan.web.api import add_api_routes
from gpuplan.web.jobs import DEFAULT_TIME_LIMIT_S
from gpuplan.web.pages import add_pages
from gpuplan.web.security import LOOPBACK_HOSTS, MAX_BODY_BYTES, GuardMiddleware
from gpuplan.web.state import STATIC_DIR, WebState

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog

#: Highest TCP port [1].
MAX_PORT = 65535
#: How long browsers may cache plotly.js [s].
STATIC_MAX_AGE_S = 86400
#: HTTP status of a failed scenario store (RFC 9110 §15.6.4, Service Unavailable).
STORE_UNAVAILABLE = 503
_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".yaml": "text/plain; charset=utf-8"}


def plotly_js_path() -> Path:
    """plotly.min.js of the installed plotly package (served at /static/plotly.min.js)."""
    import plotly

    p = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not p.is_file():  # pragma: no cover - a broken plotly install
        raise RuntimeError(f"plotly.min.js not found at {p}")
    return p


def user_error_body(exc: UserError) -> dict[str, str | None]:
    """The 422 body of a user mistake: the message and the parameter it is about."""
    return {"detail": str(exc), "field": exc.field}


def json_safe(obj: Any) -> Any:
    """``obj`` made strict-JSON serialisable: NaN and infinities as text (``"nan"``), lone
    surrogates escaped (``"\\ud800"``), anything else unknown as its ``str``.

    A 422 quotes the input back; for ``{"yaml": NaN}`` or a lone surrogate the default answer
    could not itself be serialised (a 500).
    """
    if isinstance(obj, dict):
        return {str(json_safe(k)): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool | int | None):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(obj)
    text = obj if isinstance(obj, str) else str(obj)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _add_error_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError

    from gpuplan.store import SQLITE_BUSY_TIMEOUT_S, NotFound, StoreUnavailable

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": json_safe(exc.errors())}, status_code=422)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(json_safe({"detail": str(exc)}), status_code=404)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        # Retry after SQLite's busy timeout: a locked database is free again by then.
        return JSONResponse(json_safe({"detail": str(exc)}), status_code=STORE_UNAVAILABLE,
                            headers={"retry-after": str(round(SQLITE_BUSY_TIMEOUT_S))})

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse(json_safe(user_error_body(exc)), status_code=422)


def _add_static_routes(app: FastAPI) -> None:
    @app.get("/static/plotly.min.js", include_in_schema=False)
    def static_plotly() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="text/javascript",
                            headers={"cache-control": f"public, max-age={STATIC_MAX_AGE_S}"})

    @app.get("/static/report.js", include_in_schema=False)
    def static_report_js() -> Response:
        from gpuplan.report.html import RENDER_JS

        return Response(RENDER_JS, media_type="text/javascript")

    @app.get("/static/{filename}", include_in_schema=False)
    def static_file(filename: str) -> Response:
        files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        if filename not in files:  # a fixed list: no path ever reaches the file system
            return PlainTextResponse("not found", status_code=404)
        media = _MEDIA_TYPES.get(files[filename].suffix, "application/octet-stream")
        return FileResponse(files[filename], media_type=media)


def create_app(store_url: str | None = None,
               catalog: Catalog | Sequence[str | Path] | None = None, *,
               spec_dir: str | Path | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               allowed_hosts: tuple[str, ...] | list[str] | None = None,
               workers: int | None = None,
               plan_time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> FastAPI:
    """The gpuplan web application.

    Parameters
    ----------
    store_url : str, optional
        SQLAlchemy URL of the scenario store (default: ``$GPUPLAN_DB_URL``, else SQLite in the
        user data folder). The store is opened on first use [—].
    catalog : Catalog or sequence of overlay paths, optional
        Default: the built-in catalog with ``$GPUPLAN_CATALOG`` overlays [—].
    spec_dir : path, optional
        The only folder recommender spec files are read from (default: the current folder).
    max_body_bytes : int
        Largest request body [bytes]; larger ones get 413.
    allowed_hosts : sequence of str, optional
        Accepted ``Host`` header names (default: 127.0.0.1, localhost, ::1); ``"*"`` for any.
    workers : int, optional
        Plan worker processes (default: the cores); started with the server, or on the first
        plan when the app runs without its lifespan (a test client) [1].
    plan_time_limit_s : float
        Longest one plan may compute, and one request may wait for it (503 beyond) [s].
    """
    state = WebState(store_url, catalog, spec_dir, workers=workers,
                     time_limit_s=plan_time_limit_s)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.pool.start()  # the worker processes start with the server, not on the 1st plan
        yield
        state.pool.close()

    app = FastAPI(
        title="gpuplan", version=__version__,
        description="Plan AI infrastructure: demand, cluster, own vs rent. The API mirrors the "
                    "`gpuplan` CLI; every quantity has its unit in its key.",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.gpuplan = state
    app.add_middleware(GuardMiddleware, max_body_bytes=max_body_bytes,
                       allowed_hosts=tuple(allowed_hosts or LOOPBACK_HOSTS))
    _add_error_handlers(app)
    add_api_routes(app, state)
    _add_static_routes(app)
    add_pages(app, state)
    _declare_user_error_422(app)
    return app


#: OpenAPI schema of a user mistake found past request parsing.
USER_ERROR_SCHEMA: dict[str, Any] = {
    "title": "UserErrorDetail", "type": "object", "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "title": "Detail",
                   "description": "what was wrong and what is accepted"},
        "field": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Field",
                  "description": "the parameter the mistake is about, when one is"}}}


#: OpenAPI schema of a refusal before the route runs (the request guard, a missing name).
ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorDetail", "type": "object", "required": ["detail"],
    "properties": {"detail": {"title": "Detail", "description": "what was refused and why",
                              "anyOf": [{"type": "string"}, {"type": "array"}]}}}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}}


def _declare_refusals(path: str, op: dict[str, Any], responses: dict[str, Any]) -> None:
    """Declare the 400 (Host or Content-Length refused), 413 (body over the limit) and 404
    (no such saved scenario) answers an operation can give besides its own."""
    responses.setdefault("400", {"description": "Host not served here, or a bad Content-Length",
                                 "content": _ERROR_CONTENT})
    if "requestBody" in op:
        responses.setdefault("413", {"description": f"Request body over {MAX_BODY_BYTES:,} "
                                                    f"bytes", "content": _ERROR_CONTENT})
    if "{name}" in path or "/compare" in path:
        responses.setdefault("404", {"description": "No such saved scenario or revision",
                                     "content": _ERROR_CONTENT})
    if path.startswith("/api/scenarios") or "/compare" in path:
        responses.setdefault(str(STORE_UNAVAILABLE), {
            "description": "The scenario store failed (corrupt, read-only or locked database; "
                           "Retry-After)", "content": _ERROR_CONTENT})


def _declare_user_error_422(app: FastAPI) -> None:
    """Declare in OpenAPI that a 422 is either FastAPI's validation error or a UserError.

    A user mistake found past request parsing (unknown GPU, impossible layout) answers
    ``{"detail": "<one line>", "field": ...}``; request-shape errors keep FastAPI's list form.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = original()
        comps = spec.setdefault("components", {}).setdefault("schemas", {})
        comps["UserErrorDetail"] = USER_ERROR_SCHEMA
        comps["ErrorDetail"] = ERROR_SCHEMA
        user = {"$ref": "#/components/schemas/UserErrorDetail"}
        for path, ops in spec.get("paths", {}).items():
            for op in ops.values():
                if not isinstance(op, dict):
                    continue
                responses = op.setdefault("responses", {})
                _declare_refusals(path, op, responses)
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

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


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
          catalog: Catalog | Sequence[str | Path] | None = None,
          spec_dir: str | Path | None = None, log_level: str = "info",
          plan_time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> None:
    """Run the web app under uvicorn (blocks until stopped).

    Binds 127.0.0.1 by default. Another address is served as asked, with a warning on stderr:
    there is no login, so anyone who can reach it can run plans and change saved scenarios.

    Parameters
    ----------
    host : str
        Interface to bind [—].
    port : int
        TCP port [1].
    store_url, catalog, spec_dir
        As for :func:`create_app`.
    log_level : str
        uvicorn's log level [—].
    plan_time_limit_s : float
        As for :func:`create_app` [s].
    """
    import uvicorn

    if not (0 < int(port) <= MAX_PORT):
        raise UserError(f"port must be 1-{MAX_PORT}, got {port}", field="port")
    if _is_loopback(host):
        hosts: tuple[str, ...] = (*LOOPBACK_HOSTS, host)
    else:
        sys.stderr.write(f"gpuplan web: warning: listening on {host}, not loopback; there is "
                         f"no login: anyone who can reach it can use and change it\n")
        hosts = ("*",)
    app = create_app(store_url, catalog, spec_dir=spec_dir, allowed_hosts=hosts,
                     plan_time_limit_s=plan_time_limit_s)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level, server_header=False,
                proxy_headers=False)


__all__ = ["create_app", "serve"]
