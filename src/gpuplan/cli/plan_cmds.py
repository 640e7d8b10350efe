"""Supply, money and whole-plan commands: ``gpuplan cluster``, ``tco``, ``budget``, ``plan``,
``validate`` and ``web``.

Each parses its flags, calls one entry point (``build_cluster``, the pipeline's ``tco_with_risk``,
``budget`` and ``plan``, ``validate``) and formats the typed result.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gpuplan.cli.common import (
    CatalogOpt,
    FacilityOpt,
    JsonOpt,
    check_scenario_names,
    emit_json,
    handle_errors,
    load_overlaid_catalog,
    output,
)

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog
    from gpuplan.pipeline.planner import PlanResult
    from gpuplan.pipeline.scenario import Scenario

#: Largest dataset the storage is sized for [TB].
MAX_DATASET_TB = 1e9


@handle_errors
def cluster_cmd(
    gpu: Annotated[str, typer.Option("--gpu", help="Accelerator id or accelerator YAML file.")],
    gpus: Annotated[int, typer.Option("--gpus", help="Accelerators wanted (rounded up to whole "
                                                     "systems).")],
    system: Annotated[str | None, typer.Option(help="System id (default: the catalog's for "
                                                       "the GPU).")] = None,
    fabric: Annotated[str, typer.Option(help="Compute fabric id, e.g. infiniband-ndr-400g, "
                                             "infiniband-xdr-800g, spectrum-x-400g.")]
    = "infiniband-ndr-400g",
    rack_power_kw: Annotated[float | None, typer.Option(
        "--rack-power-kw", help="Power limit per rack [kW].")] = None,
    oversubscription: Annotated[float, typer.Option(help="Above-pod oversubscription.")] = 1.0,
    facility: Annotated[str | None, typer.Option(help="Facility type (sets PUE).")] = None,
    dataset_tb: Annotated[float, typer.Option("--dataset-tb", help="Dataset size [TB].")] = 0.0,
    checkpoint_model: Annotated[str | None, typer.Option(
        "--checkpoint-model", help="Model whose checkpoints the storage must hold.")] = None,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """The physical cluster: nodes, racks, fabric, storage, power, cooling, floor space."""
    from gpuplan.checks import check_number
    from gpuplan.cluster import build_cluster
    from gpuplan.units import BYTES_PER_TB

    check_number("dataset_tb", dataset_tb, 0.0, MAX_DATASET_TB)
    res = build_cluster(gpu, gpus, system=system, fabric=fabric, rack_power_kw=rack_power_kw,
                        oversubscription=oversubscription, facility=facility,
                        dataset_bytes=dataset_tb * BYTES_PER_TB,
                        checkpoint_model=checkpoint_model, catalog=load_overlaid_catalog(catalog))
    output(res, as_json, "cluster_report")


def _run_plan(sc: Scenario, cat: Catalog, base_dir: Path, quiet: bool) -> PlanResult:
    """The plan of ``sc``, with a progress bar on an interactive terminal unless ``quiet``."""
    from gpuplan.pipeline.planner import plan

    if quiet or not sys.stderr.isatty():
        return plan(sc, catalog=cat, base_dir=base_dir)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("planning", total=len(sc.hardware_options))

        def step(msg: str) -> None:
            bar.update(task, description=msg)
            bar.advance(task, 0.0)

        return plan(sc, catalog=cat, base_dir=base_dir, progress=step)


@handle_errors
def plan_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (see examples/).")],
    output_html: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Write a self-contained HTML report here.")] = None,
    xlsx: Annotated[Path | None, typer.Option(
        "--xlsx", help="Write monthly cash flows, BOM and loan to this .xlsx file.")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write CSV files into this "
                                                             "existing folder.")] = None,
    schema: Annotated[bool, typer.Option("--schema", help="Print the scenario JSON Schema and "
                                                         "exit.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a symbolic link given as an "
                                                        "output (the link, not its target).")]
    = False,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """The whole plan: demand → cluster → own vs rent → risk, for every hardware option."""
    from gpuplan.pipeline.scenario import json_schema, load_scenario
    from gpuplan.report.export import check_output_path, drop_link

    if schema:
        emit_json(json_schema())
        return
    sc = load_scenario(scenario)
    for out_file in (output_html, xlsx):  # refuse a FIFO, device or link before planning
        if out_file is not None:
            check_output_path(out_file, force=force)
    cat = load_overlaid_catalog(catalog)
    check_scenario_names(sc, cat, scenario)
    res = _run_plan(sc, cat, scenario.parent, quiet=as_json)
    for out_file in (output_html, xlsx) if force else ():
        if out_file is not None:
            drop_link(out_file)
    if output_html is not None:
        from gpuplan.report.html import write_html_report

        write_html_report(res, output_html, scenario_text=scenario.read_text(encoding="utf-8"))
    if xlsx is not None:
        from gpuplan.report.export import write_xlsx

        write_xlsx(res, xlsx)
    if csv is not None:
        from gpuplan.report.export import write_csv

        write_csv(res, csv)
    output(res, as_json, "plan_report")
    if output_html is not None and not as_json:
        typer.echo(f"report written to {output_html}")


@handle_errors
def tco_cmd(
    gpu: Annotated[str, typer.Option("--gpu", help="Accelerator id.")],
    gpus: Annotated[int, typer.Option("--gpus", help="Accelerators (rounded up to systems).")],
    system: Annotated[str | None, typer.Option(help="System id.")] = None,
    region: Annotated[str, typer.Option(help="Region id: us | eu | cn ...")] = "us",
    years: Annotated[float, typer.Option(help="Horizon [years].")] = 5.0,
    utilisation: Annotated[float | None, typer.Option(help="Busy share of owned GPU-hours.")]
    = None,
    loan: Annotated[str | None, typer.Option(
        help="Finance part of the capex, e.g. share=0.7,margin=0.0085,term=3,ext=2,"
             "kind=annuity,per_year=12,fee=0.005 (omit for cash).")] = None,
    cloud: Annotated[str | None, typer.Option(help="Cloud id or a USD/GPU-hour price.")] = None,
    term: Annotated[str | None, typer.Option(help="on_demand | reserved_1yr | reserved_3yr")]
    = None,
    discount_rate: Annotated[float | None, typer.Option("--discount-rate")] = None,
    facility: FacilityOpt = "build",
    useful_life_years: Annotated[float | None, typer.Option("--useful-life-years")] = None,
    residual: Annotated[str, typer.Option(help="book | market")] = "book",
    rent_price_change_per_year: Annotated[float, typer.Option(
        "--rent-price-change-per-year", "--rent-price-change",
        help="Yearly change of the rental price (−0.1 = −10 %/yr).")] = 0.0,
    construction_months: Annotated[int, typer.Option("--construction-months")] = 0,
    risk_samples: Annotated[int, typer.Option("--risk-samples", help="Monte Carlo draws "
                                                                   "(0 = none).")] = 0,
    seed: Annotated[int, typer.Option(help="Monte Carlo seed.")] = 0,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Own vs rent for one cluster: CapEx, OpEx, loan schedule, NPV, break-even, $/GPU-hour."""
    from gpuplan.pipeline.priced import tco_with_risk

    res = tco_with_risk(gpu, gpus, system=system, region=region, years=years,
                        utilisation=utilisation, loan=loan, cloud=cloud, term=term,
                        discount_rate=discount_rate, facility=facility,
                        useful_life_years=useful_life_years, residual=residual,
                        rent_price_change_per_year=rent_price_change_per_year,
                        construction_months=construction_months, risk_samples=risk_samples,
                        seed=seed, catalog=load_overlaid_catalog(catalog))
    if as_json:
        emit_json(res.model_dump())
        return
    from gpuplan.report.terminal import risk_report, tco_report

    tco_report(res)
    if res.risk:
        risk_report(res.risk)


@handle_errors
def budget_cmd(
    usd: Annotated[float, typer.Argument(help="Budget [USD], e.g. 20e9.")],
    gpu: Annotated[str, typer.Option("--gpu", help="Accelerator id.")],
    region: Annotated[str, typer.Option(help="Region id.")] = "us",
    system: Annotated[str | None, typer.Option(help="System id.")] = None,
    years: Annotated[float, typer.Option(help="Years the OpEx reserve should cover.")] = 5.0,
    opex_reserve_fraction: Annotated[float | None, typer.Option(
        "--opex-reserve-fraction", "--opex-reserve",
        help="Share of the budget kept for OpEx.")] = None,
    facility: FacilityOpt = "build",
    model: Annotated[str | None, typer.Option(help="Model to count training runs of.")] = None,
    run_tokens: Annotated[float | None, typer.Option("--run-tokens",
                                                        help="Tokens per training run.")] = None,
    serve_model: Annotated[str | None, typer.Option("--serve-model",
                                                       help="Model to count tokens served.")]
    = None,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """What a budget buys: GPUs, nodes, MW, peak FLOP/s, training runs, tokens per day."""
    from gpuplan.pipeline.buying import budget

    res = budget(usd, gpu, region=region, system=system, years=years,
                 opex_reserve_fraction=opex_reserve_fraction, facility=facility,
                 model_for_runs=model, run_tokens=run_tokens, serve_model=serve_model,
                 catalog=load_overlaid_catalog(catalog))
    output(res, as_json, "budget_report")


@handle_errors
def web_cmd(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    db: Annotated[str | None, typer.Option(
        "--db", help="Scenario store: any SQLAlchemy URL (default: SQLite in the user data "
                     "folder; also $GPUPLAN_DB_URL).")] = None,
    spec_dir: Annotated[Path | None, typer.Option(
        "--spec-dir", help="Folder recommender specs may be read from (default: here).")] = None,
    catalog: CatalogOpt = None,
    plan_time_limit_s: Annotated[float, typer.Option(
        "--plan-time-limit-s", help="Longest one plan may compute, and one request may wait "
                                    "for it, in seconds (503 beyond).")] = 60.0,
) -> None:
    """The web app: scenario editor with live recompute, reports, comparison, catalog, JSON API."""
    from gpuplan.web import serve

    serve(host=host, port=port, store_url=db, catalog=load_overlaid_catalog(catalog),
          spec_dir=spec_dir, plan_time_limit_s=plan_time_limit_s)


@handle_errors
def validate_cmd(
    cases: Annotated[list[Path] | None, typer.Option(
        "--cases",
        help="Case file(s) in gpuplan's case schema (default: the shipped ones).")] = None,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Predicted vs published: relative error per case and median/worst per quantity."""
    from gpuplan.validation import validate

    case_files: list[str | Path] | None = list(cases) if cases is not None else None
    rep = validate(case_files, catalog=load_overlaid_catalog(catalog))
    output(rep, as_json, "validation_report")


def register(app: typer.Typer) -> None:
    """Add the supply, money and plan commands to ``app`` (in the order of ``--help``)."""
    app.command("cluster")(cluster_cmd)
    app.command("plan")(plan_cmd)
    app.command("tco")(tco_cmd)
    app.command("budget")(budget_cmd)
    app.command("web")(web_cmd)
    app.command("validate")(validate_cmd)
