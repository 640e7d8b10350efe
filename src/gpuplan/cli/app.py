"""The ``gpuplan`` command line: parse, call the pipeline, format. No formula lives here."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer


def _name_bad_values_in_type_errors() -> None:
    """Make typer's type errors say the value too ("... integer (got 'abc')").

    typer converts flag values with pydantic and reports only the message; the house rule is a
    line naming the field, the value and what is accepted. Guarded: a typer without this hook
    keeps its own message.
    """
    try:
        from typer import _coercion
    except ImportError:  # pragma: no cover - another typer layout
        return
    original = getattr(_coercion, "get_error_msg", None)
    if original is None or getattr(original, "_gpuplan", False):
        return

    def message(exc) -> str:
        text = original(exc)
        try:
            value = exc.errors()[0].get("input")
        except Exception:
            return text
        return text if value is None else f"{text} (got {value!r})"

    message._gpuplan = True  # type: ignore[attr-defined]
    _coercion.get_error_msg = message


_name_bad_values_in_type_errors()

app = typer.Typer(
    name="gpuplan",
    help="Plan AI infrastructure: memory fit, training time, serving, cluster and own-vs-rent, "
    "with every number traceable to a source.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
catalog_app = typer.Typer(help="What the catalog knows, with sources.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
scenarios_app = typer.Typer(help="Saved scenarios and their history (the store).",
                            no_args_is_help=True)
app.add_typer(scenarios_app, name="scenarios")
RentOpt = Annotated[float | None, typer.Option(
    "--rent-usd-per-gpu-hour", help="Rental price (default: the catalog's for the GPU).")]
OwnOpt = Annotated[float | None, typer.Option(
    "--own-usd-per-gpu-hour", help="Owned-hour cost (default: gpuplan tco's for the GPU).")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Store URL (SQLAlchemy; default SQLite in the user data folder, or "
                 "$GPUPLAN_DB_URL).")]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
CatalogOpt = Annotated[
    list[Path] | None,
    typer.Option("--catalog", help="Overlay catalog YAML (repeatable; also $GPUPLAN_CATALOG)."),
]


def handle_errors(fn: Callable) -> Callable:
    """Turn a :class:`~gpuplan.errors.UserError` into one stderr line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from gpuplan.errors import UserError

        try:
            return fn(*args, **kwargs)
        except UserError as e:
            typer.echo(f"gpuplan: error: {e.as_flag_message()}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _catalog(paths: list[Path] | None):
    from gpuplan.catalog import load_catalog

    return load_catalog(tuple(str(p) for p in paths or ()))


def _default_prices(gpu: str, cat, rent: float | None, own: float | None):
    """Catalog rent and owned-hour prices for ``gpu`` where the user gave none."""
    from gpuplan.money import default_own_usd_per_gpu_hour, default_rent_usd_per_gpu_hour

    key = gpu.lower()
    if key not in cat.accelerators:  # an accelerator given as a YAML file has no defaults
        return rent, own
    if rent is None:
        rent = default_rent_usd_per_gpu_hour(key, cat)
    if own is None:
        own = default_own_usd_per_gpu_hour(key, cat)
    return rent, own


def _emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _output(result, as_json: bool, formatter: str) -> None:
    """Print a typed result: its JSON, or the named formatter of ``report.terminal``."""
    if as_json:
        _emit_json(result.model_dump())
        return
    from gpuplan.report import terminal

    getattr(terminal, formatter)(result)


# ----------------------------------------------------------------------------------------------
# catalog
# ----------------------------------------------------------------------------------------------


@catalog_app.command("gpus")
@handle_errors
def catalog_gpus(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Accelerators: memory, bandwidth, dense peaks, power, price — each with source and date."""
    cat = _catalog(catalog)
    if as_json:
        _emit_json({"accelerators": [a.model_dump() for a in cat.accelerators.values()]})
        return
    from gpuplan.report.terminal import accelerators_table

    accelerators_table(cat)


@catalog_app.command("systems")
@handle_errors
def catalog_systems(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Systems (servers, racks): accelerators per node, power, NICs, price."""
    cat = _catalog(catalog)
    if as_json:
        _emit_json({"systems": [s.model_dump() for s in cat.systems.values()]})
        return
    from gpuplan.report.terminal import systems_table

    systems_table(cat)


@catalog_app.command("clouds")
@handle_errors
def catalog_clouds(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Cloud GPU rental prices (USD per GPU-hour) with source and date."""
    _section_listing("clouds", as_json, catalog)


@catalog_app.command("regions")
@handle_errors
def catalog_regions(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Regions: electricity price, grid carbon intensity, export rules."""
    _section_listing("regions", as_json, catalog)


def _section_listing(section: str, as_json: bool, catalog) -> None:
    cat = _catalog(catalog)
    entries = [e.model_dump() for e in cat.section(section).values()]
    if as_json:
        _emit_json({section: entries})
        return
    from gpuplan.report.terminal import section_table

    section_table(section, entries)


@catalog_app.command("models")
@handle_errors
def catalog_models(as_json: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Models: parameters (total/active), layers, heads, KV bytes per token, config source."""
    from gpuplan.report.model_summary import model_rows

    cat = _catalog(catalog)
    rows = model_rows(cat)
    if as_json:
        _emit_json({"models": rows})
        return
    from gpuplan.report.terminal import models_table

    models_table(rows)


# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------


@app.command("fit")
@handle_errors
def fit_cmd(
    model: Annotated[str, typer.Argument(help="Catalog id, HF repo id, or path to config.json.")],
    gpu: Annotated[str, typer.Option("--gpu", help="Accelerator id or accelerator YAML file.")],
    mode: Annotated[str, typer.Option(help="inference | train | finetune | lora | qlora")] = "inference",
    dtype: Annotated[str | None, typer.Option(
        help="Inference weights: bf16/fp16/fp8/int8/int4/fp4. Training: bf16/fp16/fp8.")] = None,
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV cache: bf16/fp16/fp8/int8.")] = "bf16",
    seq_len: Annotated[int, typer.Option("--seq-len", help="Context / sequence length [tokens].")] = 4096,
    batch: Annotated[int, typer.Option(help="Concurrent sequences (inference) or micro-batch.")] = 1,
    layout: Annotated[str | None, typer.Option(
        help="Layout to evaluate, e.g. tp=8,pp=2,dp=4,zero=3,recompute=full.")] = None,
    all_gpus: Annotated[bool, typer.Option("--all-gpus", help="Rank every catalog GPU.")] = False,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Memory per GPU, whether it fits, and the fewest GPUs (with a layout) that fit."""
    from gpuplan.demand.fitting import fit

    res = fit(model, gpu, mode=mode, dtype=dtype, kv_dtype=kv_dtype, seq_len=seq_len, batch=batch,
              layout=layout, all_gpus=all_gpus, catalog=_catalog(catalog))
    _output(res, as_json, "fit_report")


@app.command("train")
@handle_errors
def train_cmd(
    model: Annotated[str, typer.Argument(help="Catalog id, HF repo id, or path to config.json.")],
    gpu: Annotated[str, typer.Option("--gpu", help="Accelerator id or accelerator YAML file.")],
    gpus: Annotated[int, typer.Option("--gpus", help="Accelerators in the job.")],
    tokens: Annotated[float, typer.Option("--tokens", help="Training tokens, e.g. 15.6e12.")],
    seq_len: Annotated[int | None, typer.Option("--seq-len", help="Sequence length.")] = None,
    global_batch_tokens: Annotated[float | None, typer.Option(
        "--global-batch-tokens", help="Tokens per optimizer step (default 4M).")] = None,
    dtype: Annotated[str, typer.Option(help="bf16 | fp16 | fp8")] = "bf16",
    mode: Annotated[str, typer.Option(help="train | finetune | lora | qlora")] = "train",
    layout: Annotated[str | None, typer.Option(
        help="Pin layout keys, e.g. tp=8,pp=16; the rest is searched.")] = None,
    no_failures: Annotated[bool, typer.Option("--no-failures",
                                              help="Ideal run: no interruptions.")] = False,
    rent: RentOpt = None,
    own: OwnOpt = None,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Best layout, step time, MFU, GPU-hours, wall-clock days and goodput of a training run."""
    from gpuplan.demand.training import train

    cat = _catalog(catalog)
    rent, own = _default_prices(gpu, cat, rent, own)
    res = train(model, gpu, gpus, tokens, seq_len=seq_len, global_batch_tokens=global_batch_tokens,
                dtype=dtype, mode=mode, layout=layout, failures=not no_failures,
                rent_usd_per_gpu_hour=rent, own_usd_per_gpu_hour=own, catalog=cat)
    _output(res, as_json, "train_report")


@app.command("serve")
@handle_errors
def serve_cmd(
    model: Annotated[str, typer.Argument(help="Catalog id, HF repo id, or path to config.json.")],
    gpu: Annotated[str, typer.Option("--gpu", help="Accelerator id or accelerator YAML file.")],
    quant: Annotated[str, typer.Option(
        help="Weights: bf16 | fp16 | fp8 | int8 | int4 | fp4 | auto (search).")] = "bf16",
    kv_dtype: Annotated[str | None, typer.Option("--kv-dtype", help="bf16|fp16|fp8|int8")] = None,
    input_tokens: Annotated[int, typer.Option("--input-tokens", help="Mean prompt tokens.")] = 1024,
    output_tokens: Annotated[int, typer.Option("--output-tokens", help="Mean output tokens.")] = 256,
    rate: Annotated[float | None, typer.Option("--rate", help="Requests per second.")] = None,
    tokens_per_day: Annotated[float | None, typer.Option(
        "--tokens-per-day", help="Output tokens per day (instead of --rate).")] = None,
    ttft_ms: Annotated[float | None, typer.Option("--ttft-ms", help="p99 TTFT target.")] = None,
    tpot_ms: Annotated[float | None, typer.Option("--tpot-ms", help="p99 TPOT target.")] = None,
    tp: Annotated[int | None, typer.Option("--tp", help="Pin tensor parallelism.")] = None,
    pp: Annotated[int | None, typer.Option("--pp", help="Pin pipeline parallelism.")] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", help="Engine batch cap.")] = 2048,
    headroom: Annotated[float, typer.Option(help="Spare capacity, 0.2 = 20 %.")] = 0.2,
    speculative_acceptance: Annotated[float | None, typer.Option(
        "--speculative-acceptance", help="Draft-token acceptance rate (0-1).")] = None,
    draft_tokens: Annotated[int, typer.Option("--draft-tokens")] = 4,
    rent: RentOpt = None,
    own: OwnOpt = None,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Serving capacity under latency SLOs: replica shape, throughput, replicas and GPUs."""
    from gpuplan.demand.serving import serve
    from gpuplan.money import serve_cost

    cat = _catalog(catalog)
    res = serve(model, gpu, quant=quant, kv_dtype=kv_dtype, input_tokens=input_tokens,
                output_tokens=output_tokens, rate=rate, tokens_per_day=tokens_per_day,
                ttft_ms=ttft_ms, tpot_ms=tpot_ms, tp=tp, pp=pp, max_batch=max_batch,
                headroom=headroom, speculative_acceptance=speculative_acceptance,
                draft_tokens=draft_tokens, catalog=cat)
    rent, own = _default_prices(gpu, cat, rent, own)
    for name_, v in (("--rent-usd-per-gpu-hour", rent), ("--own-usd-per-gpu-hour", own)):
        if v is not None and not (0 <= v <= 1e4):
            from gpuplan.errors import UserError

            raise UserError(f"{name_} must be between 0 and 10,000, got {v!r}")
    res.cost_usd = serve_cost(res, cat, own_usd_per_gpu_hour=own, rent_usd_per_gpu_hour=rent)
    _output(res, as_json, "serve_report")


@app.command("recsys")
@handle_errors
def recsys_cmd(
    spec: Annotated[Path, typer.Argument(help="Recommender model spec (YAML), e.g. "
                                              "examples/recsys/dlrm-dcnv2.yaml.")],
    gpu: Annotated[str, typer.Option("--gpu", help="Accelerator id or accelerator YAML file.")],
    gpus: Annotated[int | None, typer.Option("--gpus", help="GPUs for training.")] = None,
    global_batch: Annotated[int, typer.Option("--global-batch", help="Samples per step.")] = 55296,
    qps: Annotated[float | None, typer.Option("--qps", help="Serving queries per second.")] = None,
    p99_ms: Annotated[float | None, typer.Option("--p99-ms", help="Serving p99 target.")] = None,
    days_of_data: Annotated[float | None, typer.Option(
        "--days-of-data", help="Days of data per retraining cycle.")] = None,
    samples_per_day: Annotated[float | None, typer.Option(
        "--samples-per-day", help="Training samples per day of data.")] = None,
    items_per_query: Annotated[float | None, typer.Option(
        "--items-per-query", help="Candidates scored per query.")] = None,
    headroom: Annotated[float, typer.Option(help="Spare serving capacity.")] = 0.2,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Recommender (DLRM-style) memory placement, sharding, training, retraining and serving."""
    from gpuplan.demand.recsys import plan_recsys

    res = plan_recsys(str(spec), gpu, gpus=gpus, global_batch=global_batch, qps=qps,
                      p99_ms=p99_ms, days_of_data=days_of_data, samples_per_day=samples_per_day,
                      items_per_query=items_per_query, headroom=headroom,
                      catalog=_catalog(catalog))
    _output(res, as_json, "recsys_report")


@app.command("cluster")
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
    from gpuplan.cluster import build_cluster

    if not (dataset_tb >= 0 and dataset_tb < 1e9):
        from gpuplan.errors import UserError

        raise UserError(f"--dataset-tb must be between 0 and 1e9, got {dataset_tb!r}")
    res = build_cluster(gpu, gpus, system=system, fabric=fabric, rack_power_kw=rack_power_kw,
                        oversubscription=oversubscription, facility=facility,
                        dataset_bytes=dataset_tb * 1e12, checkpoint_model=checkpoint_model,
                        catalog=_catalog(catalog))
    _output(res, as_json, "cluster_report")


@app.command("plan")
@handle_errors
def plan_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (see examples/).")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Write a self-contained HTML report here.")] = None,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="Write monthly cash flows, BOM "
                                                               "and loan to this .xlsx file.")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write CSV files into this "
                                                             "existing folder.")] = None,
    schema: Annotated[bool, typer.Option("--schema", help="Print the scenario JSON Schema and "
                                                         "exit.")] = False,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """The whole plan: demand → cluster → own vs rent → risk, for every hardware option."""
    from gpuplan.pipeline.scenario import json_schema, load_scenario

    if schema:
        _emit_json(json_schema())
        return
    sc = load_scenario(scenario)
    cat = _catalog(catalog)
    from gpuplan.pipeline.planner import plan

    if as_json or not sys.stderr.isatty():
        res = plan(sc, catalog=cat, base_dir=scenario.parent)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("planning", total=len(sc.hardware_options))

            def step(msg: str) -> None:
                bar.update(task, description=msg)
                bar.advance(task, 0.0)

            res = plan(sc, catalog=cat, base_dir=scenario.parent, progress=step)
    if output is not None:
        from gpuplan.report.html import write_html_report

        write_html_report(res, output, scenario_text=scenario.read_text(encoding="utf-8"))
    if xlsx is not None:
        from gpuplan.report.export import write_xlsx

        write_xlsx(res, xlsx)
    if csv is not None:
        from gpuplan.report.export import write_csv

        write_csv(res, csv)
    _output(res, as_json, "plan_report")
    if output is not None and not as_json:
        typer.echo(f"report written to {output}")


@app.command("tco")
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
    facility: Annotated[str, typer.Option(help="build | colocation")] = "build",
    useful_life_years: Annotated[float | None, typer.Option("--useful-life-years")] = None,
    residual: Annotated[str, typer.Option(help="book | market")] = "book",
    rent_price_change: Annotated[float, typer.Option(
        "--rent-price-change", help="Yearly change of the rental price (−0.1 = −10 %/yr).")] = 0.0,
    construction_months: Annotated[int, typer.Option("--construction-months")] = 0,
    risk_samples: Annotated[int, typer.Option("--risk-samples", help="Monte Carlo draws "
                                                                   "(0 = none).")] = 0,
    seed: Annotated[int, typer.Option(help="Monte Carlo seed.")] = 0,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Own vs rent for one cluster: CapEx, OpEx, loan schedule, NPV, break-even, $/GPU-hour."""
    from gpuplan.errors import UserError
    from gpuplan.money import parse_loan, risk, tco

    if facility not in ("build", "colocation"):
        raise UserError(f"--facility {facility!r}; accepted: build, colocation")
    if residual not in ("book", "market"):
        raise UserError(f"--residual {residual!r}; accepted: book, market")
    if not 0 <= risk_samples <= 10**7:
        raise UserError(f"--risk-samples must be between 0 and 10,000,000, got {risk_samples}")
    cloud_arg: str | float | None = cloud
    if cloud is not None:
        try:
            cloud_arg = float(cloud)
        except ValueError:
            cloud_arg = cloud
    cat = _catalog(catalog)
    res = tco(gpu, gpus, system=system, region=region, years=years, utilisation=utilisation,
              loan=parse_loan(loan) if loan else None, cloud=cloud_arg, term=term,
              discount_rate=discount_rate, facility=facility,
              useful_life_years=useful_life_years, residual=residual,
              rent_price_change_per_year=rent_price_change,
              construction_months=construction_months, catalog=cat)
    rk = risk(res, n_samples=risk_samples, seed=seed) if risk_samples else None
    if as_json:
        out = res.model_dump()
        out["risk"] = rk.model_dump() if rk else None
        _emit_json(out)
        return
    from gpuplan.report.terminal import risk_report, tco_report

    tco_report(res)
    if rk:
        risk_report(rk)


@app.command("budget")
@handle_errors
def budget_cmd(
    usd: Annotated[float, typer.Argument(help="Budget [USD], e.g. 20e9.")],
    gpu: Annotated[str, typer.Option("--gpu", help="Accelerator id.")],
    region: Annotated[str, typer.Option(help="Region id.")] = "us",
    system: Annotated[str | None, typer.Option(help="System id.")] = None,
    years: Annotated[float, typer.Option(help="Years the OpEx reserve should cover.")] = 5.0,
    opex_reserve: Annotated[float | None, typer.Option(
        "--opex-reserve", help="Share of the budget kept for OpEx.")] = None,
    facility: Annotated[str, typer.Option(help="build | colocation")] = "build",
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
    from gpuplan.errors import UserError
    from gpuplan.pipeline.buying import budget

    if facility not in ("build", "colocation"):
        raise UserError(f"--facility {facility!r}; accepted: build, colocation")
    res = budget(usd, gpu, region=region, system=system, years=years,
                 opex_reserve_fraction=opex_reserve, facility=facility, model_for_runs=model,
                 run_tokens=run_tokens, serve_model=serve_model, catalog=_catalog(catalog))
    _output(res, as_json, "budget_report")


@app.command("web")
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
) -> None:
    """The web app: scenario editor with live recompute, reports, comparison, catalog, JSON API."""
    from gpuplan.web import serve

    serve(host=host, port=port, store_url=db, catalog=_catalog(catalog), spec_dir=spec_dir)


@scenarios_app.command("save")
@handle_errors
def scenarios_save(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML to save (validated first).")],
    name: Annotated[str | None, typer.Option(help="Name (default: the file's stem).")] = None,
    comment: Annotated[str, typer.Option(help="What changed.")] = "",
    run: Annotated[bool, typer.Option("--run/--no-run", help="Also store the plan result.")]
    = False,
    db: DbOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Save a scenario (a new revision if the name exists)."""
    from gpuplan.pipeline.scenario import load_scenario
    from gpuplan.store import Store

    sc = load_scenario(scenario)
    result = None
    if run:
        from gpuplan.pipeline.planner import plan

        result = plan(sc, catalog=_catalog(catalog), base_dir=scenario.parent).model_dump_json()
    with Store(db) as st:
        rev = st.save(name or scenario.stem, scenario.read_text(encoding="utf-8"), result,
                      comment=comment)
    typer.echo(f"saved {name or scenario.stem} revision {rev}")


@scenarios_app.command("list")
@handle_errors
def scenarios_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Saved scenarios with their latest revision."""
    from gpuplan.store import Store

    with Store(db) as st:
        rows = st.list()
    if as_json:
        _emit_json({"scenarios": rows})
        return
    from gpuplan.report.terminal import section_rows

    section_rows("saved scenarios", rows)


@scenarios_app.command("show")
@handle_errors
def scenarios_show(
    name: Annotated[str, typer.Argument(help="Saved scenario name.")],
    revision: Annotated[int | None, typer.Option(help="Revision (default: latest).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One saved revision (its YAML) and the scenario's history."""
    from gpuplan.store import Store

    with Store(db) as st:
        rev = st.get(name, revision)
        hist = [h.as_dict(with_text=False) for h in st.history(name)]
    if as_json:
        _emit_json({"revision": rev.as_dict(), "history": hist})
        return
    from gpuplan.report.terminal import section_rows

    section_rows(f"history of {name}", hist)
    typer.echo(rev.yaml_text)


@scenarios_app.command("diff")
@handle_errors
def scenarios_diff(
    name: Annotated[str, typer.Argument(help="Saved scenario name.")],
    rev_a: Annotated[int, typer.Argument(help="From revision.")],
    rev_b: Annotated[int, typer.Argument(help="To revision.")],
    db: DbOpt = None,
) -> None:
    """Unified diff of a scenario between two revisions."""
    from gpuplan.store import Store

    with Store(db) as st:
        typer.echo(st.diff(name, rev_a, rev_b))


@app.command("validate")
@handle_errors
def validate_cmd(
    cases: Annotated[list[Path] | None, typer.Option(
        "--cases", help="Case file(s) in gpuplan's case schema (default: the shipped ones).")] = None,
    as_json: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Predicted vs published: relative error per case and median/worst per quantity."""
    from gpuplan.validation import validate

    rep = validate(cases, catalog=_catalog(catalog))
    _output(rep, as_json, "validation_report")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes exit 2 with one line on stderr, never a traceback."""
    from gpuplan.errors import UserError

    try:
        app(args=argv, standalone_mode=True)
    except UserError as e:
        sys.stderr.write(f"gpuplan: error: {e}\n")
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
