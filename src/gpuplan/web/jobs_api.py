"""The editor's API: plan jobs with progress and cancel, the scenario schema, the form fields.

- ``POST /api/jobs`` ``{"yaml": ...}`` starts (or joins, or finds cached) the plan of a text:
  202 ``{"job", "state", "stages_done", "stages_total", "samples_done", "samples_total", ...}``.
- ``GET /api/jobs/{id}`` its progress; once done with ``"preview"`` (what
  ``POST /api/plan/preview`` answers), after a user mistake with ``"error": {detail, field}``.
- ``DELETE /api/jobs/{id}`` the client stops waiting: the plan is stopped when nobody else
  waits for it (its worker process is ended and replaced).
- ``GET /api/pool`` workers, running plans, queue length, cached plans, the time limit.
- ``GET /api/schema`` the scenario JSON Schema (``gpuplan plan --schema``): the form's help.
- ``POST /api/scenario/form`` ``{"yaml", "fields"?}``: the common fields of a scenario text
  (name, horizon, region, financing, GPUs, workloads), and with ``fields`` the text with them
  set (the YAML is rewritten, so comments are not kept).

A full queue is answered 503 with ``Retry-After`` and the queue length; a plan past the time
limit 503 naming the limit.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from gpuplan.errors import UserError
from gpuplan.web.jobs import Job, PlanCancelled, PlanTimeLimit, PoolFull
from gpuplan.web.security import MAX_BODY_BYTES
from gpuplan.web.state import WebState, json_bytes

#: Largest scenario text [characters] (the body limit applies first).
MAX_TEXT_CHARS = MAX_BODY_BYTES
#: HTTP status of a plan the server cannot take or finish now [1].
UNAVAILABLE = 503
#: HTTP status of a job that was cancelled before it finished (Conflict) [1].
CANCELLED = 409
#: Most workloads or GPUs one form may carry (the scenario's own limits) [1].
MAX_FORM_ITEMS = 100
#: The quantity the form shows for each workload kind, with its unit.
AMOUNT_KEY = {"serve": "rate", "recsys": "qps", "train": "tokens", "finetune": "tokens",
              "lora": "tokens", "qlora": "tokens"}

_BUSY = {"description": "The plan queue is full (Retry-After, queue_length) or the plan ran "
                        "past the server's time limit (limit_s)",
         "content": {"application/json": {"schema": {
             "type": "object", "required": ["detail"],
             "properties": {"detail": {"type": "string"}, "queue_length": {"type": "integer"},
                            "limit_s": {"type": "number"}}}}}}
#: OpenAPI responses of the routes that plan.
PLAN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The plan", "content": {"application/json": {}}}, UNAVAILABLE: _BUSY}


class JobRequest(BaseModel):
    yaml: str = Field(max_length=MAX_TEXT_CHARS, description="scenario YAML text")


class WorkloadFields(BaseModel):
    kind: str = Field(max_length=16)
    name: str = Field(max_length=200)
    model: str | None = Field(default=None, max_length=200)
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False,
                                 description="rate [1/s], qps [1/s] or tokens per run "
                                             "[tokens], by kind")


class FormFields(BaseModel):
    name: str = Field(max_length=200)
    horizon_years: float | None = Field(default=None, allow_inf_nan=False, description="[years]")
    region: str | None = Field(default=None, max_length=100)
    financing: Literal["cash", "loan"] = "cash"
    gpus: list[str] = Field(default_factory=list, max_length=MAX_FORM_ITEMS)
    workloads: list[WorkloadFields] = Field(default_factory=list, max_length=MAX_FORM_ITEMS)


class FormRequest(BaseModel):
    yaml: str = Field(max_length=MAX_TEXT_CHARS, description="scenario YAML text")
    fields: FormFields | None = None


def job_body(job: Job) -> bytes:
    """The JSON of ``GET /api/jobs/{id}``: progress, and the preview or the error once ended."""
    head = json_bytes(job.progress())
    if not job.future.done():
        return head
    exc = job.future.exception()
    if exc is None:
        return head[:-1] + b',"preview":' + job.future.result().preview_json + b"}"
    if isinstance(exc, UserError):
        err: dict[str, Any] = {"detail": str(exc), "field": exc.field}
    else:
        err = {"detail": str(exc) or type(exc).__name__, "field": None}
    return head[:-1] + b',"error":' + json_bytes(err) + b"}"


def add_pool_error_handlers(app: FastAPI) -> None:
    """503 for a full queue (with ``Retry-After``) or a plan past the time limit."""

    @app.exception_handler(PoolFull)
    async def _full(request: Request, exc: PoolFull) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "queue_length": exc.queue_length},
                            status_code=UNAVAILABLE,
                            headers={"retry-after": str(exc.retry_after_s)})

    @app.exception_handler(PlanTimeLimit)
    async def _late(request: Request, exc: PlanTimeLimit) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "limit_s": exc.limit_s},
                            status_code=UNAVAILABLE)

    @app.exception_handler(PlanCancelled)
    async def _cancelled(request: Request, exc: PlanCancelled) -> JSONResponse:
        return JSONResponse({"detail": f"plan cancelled: {exc}"}, status_code=CANCELLED)


def _job_or_404(state: WebState, job_id: str) -> Job:
    job = state.pool.job(job_id)
    if job is None:
        from gpuplan.store import NotFound

        raise NotFound(f"job {job_id!r}: no such job (finished jobs are kept for a while "
                       f"only)")
    return job


def add_job_routes(app: FastAPI, state: WebState) -> None:
    """The routes of the module docstring, and the 503 handlers."""
    add_pool_error_handlers(app)

    @app.post("/api/jobs", tags=["plan"], status_code=202, response_class=Response,
              responses={UNAVAILABLE: _BUSY},
              summary="Start planning a scenario; poll GET /api/jobs/{id} for progress")
    def api_job_start(req: JobRequest) -> Response:
        from gpuplan.pipeline.scenario import parse_scenario

        parse_scenario(req.yaml)  # a scenario that does not parse is a 422 now, not a queued job
        job = state.pool.submit(req.yaml)
        return Response(job_body(job), status_code=202, media_type="application/json")

    @app.get("/api/jobs/{job_id}", tags=["plan"], response_class=Response,
             summary="A plan job: state, options done, Monte Carlo samples; the preview once "
                     "done")
    def api_job(job_id: str) -> Response:
        return Response(job_body(_job_or_404(state, job_id)), media_type="application/json")

    @app.delete("/api/jobs/{job_id}", tags=["plan"], response_class=Response,
                summary="Stop waiting for a plan job (stopped if no other client waits)")
    def api_job_cancel(job_id: str) -> Response:
        job = _job_or_404(state, job_id)
        state.pool.release(job)
        return Response(job_body(job), media_type="application/json")

    @app.get("/api/pool", tags=["plan"], summary="Plan workers, queue length, time limit")
    def api_pool() -> dict[str, Any]:
        return state.pool.stats()

    @app.get("/api/schema", tags=["plan"],
             summary="The scenario JSON Schema (gpuplan plan --schema)")
    def api_schema() -> dict[str, Any]:
        from gpuplan.pipeline.scenario import json_schema

        return json_schema()

    @app.post("/api/scenario/form", tags=["plan"],
              summary="The common fields of a scenario text; with fields, the text set to them")
    def api_form(req: FormRequest) -> dict[str, Any]:
        raw = _raw_scenario(req.yaml)
        text = req.yaml
        if req.fields is not None:
            changed = _apply_fields(raw, req.fields)
            if changed:
                text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)
        return {"fields": _fields_of(raw), "yaml": text,
                "regions": sorted(state.catalog.section("regions")),
                "gpus": sorted(state.catalog.accelerators)}


def _raw_scenario(text: str) -> dict[str, Any]:
    from gpuplan.textfile import parse_yaml

    raw = parse_yaml(text, "scenario")
    if not isinstance(raw, dict):
        raise UserError("yaml: a scenario is a YAML mapping (name, hardware_options, "
                        "workloads, ...)", field="yaml")
    return raw


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    try:
        f = float(x)
    except OverflowError:  # an integer beyond any float
        return None
    return f if math.isfinite(f) else None


def _fields_of(raw: dict[str, Any]) -> dict[str, Any]:
    """The form's fields of a parsed scenario (what is absent or malformed left empty)."""
    fin = raw.get("financing")
    options = raw.get("hardware_options")
    works = raw.get("workloads")
    gpus = [str(o.get("gpu")) for o in options if isinstance(o, dict) and "gpu" in o] \
        if isinstance(options, list) else []
    workloads = []
    for w in works if isinstance(works, list) else []:
        if isinstance(w, dict):
            kind = str(w.get("kind", ""))
            workloads.append({"kind": kind, "name": str(w.get("name", "")),
                              "model": None if w.get("model") is None else str(w["model"]),
                              "amount_key": AMOUNT_KEY.get(kind),
                              "amount": _num(w.get(AMOUNT_KEY.get(kind, ""), None))})
    return {"name": str(raw.get("name", "")), "horizon_years": _num(raw.get("horizon_years")),
            "region": None if raw.get("region") is None else str(raw["region"]),
            "financing": fin.get("mode", "cash") if isinstance(fin, dict) else "cash",
            "gpus": gpus, "workloads": workloads}


def _apply_fields(raw: dict[str, Any], f: FormFields) -> bool:
    """Set the form's fields in the parsed scenario ``raw``; True if anything changed."""
    before = repr(raw)
    raw["name"] = f.name
    if f.horizon_years is not None:
        raw["horizon_years"] = f.horizon_years
    if f.region:
        raw["region"] = f.region
    fin = raw.get("financing")
    fin = dict(fin) if isinstance(fin, dict) else {}
    fin["mode"] = f.financing
    if f.financing == "cash":
        fin.pop("loan", None)
    raw["financing"] = fin
    options = raw.get("hardware_options")
    old = {o.get("gpu"): o for o in options if isinstance(o, dict)} \
        if isinstance(options, list) else {}
    raw["hardware_options"] = [old.get(g, {"gpu": g}) for g in f.gpus]
    works = raw.get("workloads")
    works = works if isinstance(works, list) else []
    for i, wf in enumerate(f.workloads[:len(works)]):
        w = works[i]
        if not isinstance(w, dict):
            continue
        w["name"] = wf.name
        if wf.model is not None and "model" in w:
            w["model"] = wf.model
        key = AMOUNT_KEY.get(str(w.get("kind", "")))
        if key is not None and wf.amount is not None:
            w[key] = int(wf.amount) if float(wf.amount).is_integer() else wf.amount
    return repr(raw) != before
