"""The JSON API: one route per CLI command, and the saved-scenario routes.

Every single-question route calls the function its CLI command calls (the pipeline's
``priced_train``, ``priced_serve``, ``tco_with_risk``, ``budget``; the stages' ``fit`` and
``build_cluster``) with the same parameter names, and returns its ``model_dump()``, so the
answer is the command's ``--json`` (``tests/test_parity.py``). Models and accelerators are
accepted by catalog name only, never as file paths.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AfterValidator, BaseModel, Field

from gpuplan.web.jobs_api import PLAN_RESPONSES, add_job_routes
from gpuplan.web.security import CSP_SELF_CONTAINED, MAX_BODY_BYTES
from gpuplan.web.state import CATALOG_KINDS, WebState, catalog_json, scenario_view

#: Largest scenario text accepted by the API [characters] (the body limit applies first).
MAX_YAML_CHARS = MAX_BODY_BYTES
#: Most accelerators one request may ask for [1] (as the CLI).
MAX_GPUS = 2**24
#: Most Monte Carlo draws one ``/api/tco`` request may ask for [1] (the CLI allows more).
MAX_WEB_RISK_SAMPLES = 100_000
#: Largest budget [USD] (as ``gpuplan budget``).
MAX_BUDGET_USD = 1e13
#: Longest horizon [years] (as ``gpuplan tco``).
MAX_YEARS = 30.0
NAME_CHARS = 100
MODEL_CHARS = 200
SHORT_CHARS = 16
LAYOUT_CHARS = 200


#: Largest revision number (a signed 64-bit database integer).
MAX_REVISION = 2**63 - 1


def _utf8_text(v: str) -> str:
    """Refuse text that cannot be UTF-8: JSON's ``"\\ud800"`` decodes to a lone surrogate."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"holds a lone surrogate (U+{ord(v[e.start]):04X}) at character "
                         f"{e.start}; send UTF-8 text") from None
    return v


Utf8Text = Annotated[str, AfterValidator(_utf8_text)]


class PlanRequest(BaseModel):
    yaml: Utf8Text = Field(max_length=MAX_YAML_CHARS, description="scenario YAML text")


class SaveRequest(BaseModel):
    name: Utf8Text = Field(min_length=1, max_length=100,
                           description="letters, digits, space, '.', '_', '-'")
    yaml: Utf8Text = Field(max_length=MAX_YAML_CHARS, description="scenario YAML text")
    author: Utf8Text | None = Field(default=None, max_length=200)
    comment: Utf8Text | None = Field(default=None, max_length=2000)


def add_demand_routes(app: FastAPI, state: WebState) -> None:
    """``/api/fit``, ``/api/train``, ``/api/serve``: as ``gpuplan fit|train|serve --json``."""

    @app.get("/api/fit", tags=["demand"], summary="Memory fit (gpuplan fit --json)")
    def api_fit(
        model: str = Query(max_length=MODEL_CHARS, description="catalog model id or HF repo id"),
        gpu: str = Query(max_length=NAME_CHARS, description="catalog accelerator id"),
        mode: Literal["inference", "train", "finetune", "lora", "qlora"] = "inference",
        dtype: str | None = Query(None, max_length=SHORT_CHARS),
        kv_dtype: str = Query("bf16", max_length=SHORT_CHARS),
        seq_len: int = Query(4096, ge=1, le=2**22),
        batch: int = Query(1, ge=1, le=2**20),
        layout: str | None = Query(None, max_length=LAYOUT_CHARS),
        all_gpus: bool = False,
    ) -> dict[str, Any]:
        from gpuplan.demand.fitting import fit

        return fit(state.check_model(model), state.check_gpu(gpu), mode=mode, dtype=dtype,
                   kv_dtype=kv_dtype, seq_len=seq_len, batch=batch, layout=layout,
                   all_gpus=all_gpus, catalog=state.catalog).model_dump()

    @app.get("/api/train", tags=["demand"], summary="Training run (gpuplan train --json)")
    def api_train(
        model: str = Query(max_length=MODEL_CHARS), gpu: str = Query(max_length=NAME_CHARS),
        gpus: int = Query(ge=1, le=MAX_GPUS), tokens: float = Query(gt=0, le=1e16),
        seq_len: int | None = Query(None, ge=1, le=2**22),
        global_batch_tokens: float | None = Query(None, gt=0, le=1e10),
        dtype: Literal["bf16", "fp16", "fp8"] = "bf16",
        mode: Literal["train", "finetune", "lora", "qlora"] = "train",
        layout: str | None = Query(None, max_length=LAYOUT_CHARS),
        no_failures: bool = False,
        rent_usd_per_gpu_hour: float | None = Query(None, ge=0, le=1e4),
        own_usd_per_gpu_hour: float | None = Query(None, ge=0, le=1e4),
        batch_ramp: str | None = Query(None, max_length=LAYOUT_CHARS),
        framework: str | None = Query(None, max_length=SHORT_CHARS),
    ) -> dict[str, Any]:
        from gpuplan.demand.training import parse_ramp
        from gpuplan.pipeline.priced import priced_train

        return priced_train(state.check_model(model), state.check_gpu(gpu), gpus, tokens,
                            seq_len=seq_len, global_batch_tokens=global_batch_tokens,
                            dtype=dtype, mode=mode, layout=layout, failures=not no_failures,
                            rent_usd_per_gpu_hour=rent_usd_per_gpu_hour,
                            own_usd_per_gpu_hour=own_usd_per_gpu_hour,
                            catalog=state.catalog,
                            batch_ramp=parse_ramp(batch_ramp) if batch_ramp else None,
                            framework=framework).model_dump()

    @app.get("/api/serve", tags=["demand"], summary="LLM serving (gpuplan serve --json)")
    def api_serve(
        model: str = Query(max_length=MODEL_CHARS), gpu: str = Query(max_length=NAME_CHARS),
        quant: str = Query("bf16", max_length=SHORT_CHARS),
        kv_dtype: str | None = Query(None, max_length=SHORT_CHARS),
        input_tokens: int = Query(1024, ge=1, le=2**22),
        output_tokens: int = Query(256, ge=1, le=2**22),
        rate: float | None = Query(None, gt=0, le=1e9),
        tokens_per_day: float | None = Query(None, gt=0, le=1e18),
        ttft_ms: float | None = Query(None, gt=0, le=1e7),
        tpot_ms: float | None = Query(None, gt=0, le=1e7),
        tp: int | None = Query(None, ge=1, le=1024), pp: int | None = Query(None, ge=1, le=1024),
        ep: int | None = Query(None, ge=1, le=1024),
        attention_dp: int | None = Query(None, ge=1, le=1024),
        max_batch: int | None = Query(None, ge=1, le=2**20),
        headroom: float = Query(0.2, ge=0, le=10),
        speculative_acceptance: float | None = Query(None, ge=0, le=1),
        draft_tokens: int = Query(4, ge=1, le=64),
        rent_usd_per_gpu_hour: float | None = Query(None, ge=0, le=1e4),
        own_usd_per_gpu_hour: float | None = Query(None, ge=0, le=1e4),
        scenario: str = Query("offline", max_length=SHORT_CHARS),
        engine: str | None = Query(None, max_length=SHORT_CHARS),
        attention_dtype: str | None = Query(None, max_length=SHORT_CHARS),
        max_num_tokens: int | None = Query(None, ge=1, le=2**22),
        kv_memory_fraction: float | None = Query(None, gt=0, le=1),
        draft_model: str | None = Query(None, max_length=SHORT_CHARS),
    ) -> dict[str, Any]:
        from gpuplan.pipeline.priced import priced_serve

        return priced_serve(
            state.check_model(model), state.check_gpu(gpu), quant=quant, kv_dtype=kv_dtype,
            input_tokens=input_tokens, output_tokens=output_tokens, rate=rate,
            tokens_per_day=tokens_per_day, ttft_ms=ttft_ms, tpot_ms=tpot_ms, tp=tp, pp=pp,
            max_batch=max_batch, headroom=headroom,
            speculative_acceptance=speculative_acceptance, draft_tokens=draft_tokens,
            rent_usd_per_gpu_hour=rent_usd_per_gpu_hour,
            own_usd_per_gpu_hour=own_usd_per_gpu_hour, catalog=state.catalog,
            scenario=scenario, engine=engine, ep=ep, attention_dp=attention_dp,
            attention_dtype=attention_dtype, max_num_tokens=max_num_tokens,
            kv_memory_fraction=kv_memory_fraction,
            draft_model=None if draft_model is None else state.check_model(draft_model)
        ).model_dump()


def add_supply_money_routes(app: FastAPI, state: WebState) -> None:
    """``/api/cluster``, ``/api/tco``, ``/api/budget``, ``/api/catalog/{kind}``."""

    @app.get("/api/cluster", tags=["supply"], summary="Physical cluster (gpuplan cluster --json)")
    def api_cluster(
        gpu: str = Query(max_length=NAME_CHARS), gpus: int = Query(ge=1, le=MAX_GPUS),
        system: str | None = Query(None, max_length=NAME_CHARS),
        fabric: str = Query("infiniband-ndr-400g", max_length=NAME_CHARS),
        rack_power_kw: float | None = Query(None, gt=0, le=1e4),
        oversubscription: float = Query(1.0, ge=1, le=64),
        facility: str | None = Query(None, max_length=NAME_CHARS),
        dataset_tb: float = Query(0.0, ge=0, lt=1e9),
        checkpoint_model: str | None = Query(None, max_length=MODEL_CHARS),
    ) -> dict[str, Any]:
        from gpuplan.cluster import build_cluster
        from gpuplan.units import BYTES_PER_TB

        if checkpoint_model is not None:
            state.check_model(checkpoint_model)
        return build_cluster(state.check_gpu(gpu), gpus, system=system, fabric=fabric,
                             rack_power_kw=rack_power_kw, oversubscription=oversubscription,
                             facility=facility, dataset_bytes=dataset_tb * BYTES_PER_TB,
                             checkpoint_model=checkpoint_model,
                             catalog=state.catalog).model_dump()

    @app.get("/api/tco", tags=["money"], summary="Own vs rent (gpuplan tco --json)")
    def api_tco(
        gpu: str = Query(max_length=NAME_CHARS), gpus: int = Query(ge=1, le=MAX_GPUS),
        system: str | None = Query(None, max_length=NAME_CHARS),
        region: str = Query("us", max_length=NAME_CHARS),
        years: float = Query(5.0, gt=0, le=MAX_YEARS),
        utilisation: float | None = Query(None, gt=0, le=1),
        loan: str | None = Query(None, max_length=LAYOUT_CHARS,
                                 description="e.g. share=0.7,term=3,ext=2 (omit for cash)"),
        cloud: str | None = Query(None, max_length=NAME_CHARS,
                                  description="cloud id or a USD/GPU-hour price"),
        term: Literal["on_demand", "reserved_1yr", "reserved_3yr"] | None = None,
        discount_rate: float | None = Query(None, gt=-0.5, le=1),
        facility: Literal["build", "colocation"] = "build",
        useful_life_years: float | None = Query(None, gt=0, le=MAX_YEARS),
        residual: Literal["book", "market"] = "book",
        rent_price_change_per_year: float = Query(0.0, gt=-1, le=10),
        construction_months: int = Query(0, ge=0, le=120),
        risk_samples: int = Query(0, ge=0, le=MAX_WEB_RISK_SAMPLES),
        seed: int = Query(0, ge=0, le=2**32 - 1),
    ) -> dict[str, Any]:
        from gpuplan.pipeline.priced import tco_with_risk

        return tco_with_risk(
            state.check_gpu(gpu), gpus, system=system, region=region, years=years,
            utilisation=utilisation, loan=loan, cloud=cloud, term=term,
            discount_rate=discount_rate, facility=facility, useful_life_years=useful_life_years,
            residual=residual, rent_price_change_per_year=rent_price_change_per_year,
            construction_months=construction_months, risk_samples=risk_samples, seed=seed,
            catalog=state.catalog).model_dump()

    @app.get("/api/budget", tags=["money"], summary="What a budget buys (gpuplan budget --json)")
    def api_budget(
        usd: float = Query(gt=0, le=MAX_BUDGET_USD, description="budget [USD]"),
        gpu: str = Query(max_length=NAME_CHARS),
        region: str = Query("us", max_length=NAME_CHARS),
        system: str | None = Query(None, max_length=NAME_CHARS),
        years: float = Query(5.0, gt=0, le=MAX_YEARS),
        opex_reserve_fraction: float | None = Query(None, ge=0, lt=1),
        facility: Literal["build", "colocation"] = "build",
        model: str | None = Query(None, max_length=MODEL_CHARS,
                                  description="model to count training runs of"),
        run_tokens: float | None = Query(None, gt=0, le=1e16),
        serve_model: str | None = Query(None, max_length=MODEL_CHARS),
    ) -> dict[str, Any]:
        from gpuplan.pipeline.buying import budget

        for m in (model, serve_model):
            if m is not None:
                state.check_model(m)
        return budget(usd, state.check_gpu(gpu), region=region, system=system, years=years,
                      opex_reserve_fraction=opex_reserve_fraction, facility=facility,
                      model_for_runs=model, run_tokens=run_tokens, serve_model=serve_model,
                      catalog=state.catalog).model_dump()

    @app.get("/api/catalog/{kind}", tags=["catalog"],
             summary="Catalog entries with sources (gpuplan catalog KIND --json)")
    def api_catalog(kind: str) -> dict[str, Any]:
        if kind not in CATALOG_KINDS:
            raise HTTPException(status_code=404, detail=f"unknown catalog kind {kind!r}; "
                                                        f"accepted: {', '.join(CATALOG_KINDS)}")
        return catalog_json(state.catalog, kind)


def add_plan_routes(app: FastAPI, state: WebState) -> None:
    """``/api/plan`` (``gpuplan plan --json``), the editor's ``/api/plan/preview``, the jobs.

    Both plan routes wait for the worker pool without blocking the event loop (a cached plan
    answers at once), at most the pool's time limit (503 beyond, naming it); a client that
    goes away releases its plan, which is stopped when nobody else waits for it.
    """

    @app.post("/api/plan", tags=["plan"], summary="Plan a scenario (gpuplan plan --json)",
              response_class=Response, responses=PLAN_RESPONSES)
    async def api_plan(req: PlanRequest, request: Request) -> Response:
        """The whole plan of a scenario given as YAML text: PlanResult JSON."""
        out = await state.plan_outcome_async(req.yaml, request.is_disconnected)
        return Response(out.plan_json, media_type="application/json")

    @app.post("/api/plan/preview", tags=["plan"], response_class=Response,
              responses=PLAN_RESPONSES,
              summary="Plan a scenario; key figures and the cumulative-cost chart")
    async def api_plan_preview(req: PlanRequest, request: Request) -> Response:
        """What the editor page shows: recommendation, formatted summary, one chart."""
        out = await state.plan_outcome_async(req.yaml, request.is_disconnected)
        return Response(out.preview_json, media_type="application/json")

    add_job_routes(app, state)


def add_scenario_routes(app: FastAPI, state: WebState) -> None:
    """Saved scenarios: list, save, read, delete, report, compare."""

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
    def api_scenario(name: str, revision: int | None = Query(None, ge=1, le=MAX_REVISION)
                     ) -> dict[str, Any]:
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
    def api_report(name: str, revision: int | None = Query(None, ge=1, le=MAX_REVISION),
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
    def api_compare(a: str = Query(max_length=NAME_CHARS), b: str = Query(max_length=NAME_CHARS),
                    ra: int | None = Query(None, ge=1),
                    rb: int | None = Query(None, ge=1)) -> dict[str, Any]:
        from gpuplan.store import unified_diff

        va, vb = scenario_view(state, a, ra), scenario_view(state, b, rb)
        diff = unified_diff(va["yaml_text"], vb["yaml_text"], f"{a}@{va['revision']}",
                            f"{b}@{vb['revision']}")
        for v in (va, vb):
            v.pop("result")
        return {"a": va, "b": vb, "yaml_diff": diff}


def add_api_routes(app: FastAPI, state: WebState) -> None:
    """Every JSON API route of the web app."""
    add_plan_routes(app, state)
    add_demand_routes(app, state)
    add_supply_money_routes(app, state)
    add_scenario_routes(app, state)
