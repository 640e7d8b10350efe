"""``gpuplan scenarios save|list|show|diff``: saved scenarios and their history (the store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpuplan.cli.common import (
    CatalogOpt,
    DbOpt,
    JsonOpt,
    emit_json,
    handle_errors,
    load_overlaid_catalog,
)

scenarios_app = typer.Typer(help="Saved scenarios and their history (the store).",
                            no_args_is_help=True)


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

        result = plan(sc, catalog=load_overlaid_catalog(catalog),
                      base_dir=scenario.parent).model_dump_json()
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
        emit_json({"scenarios": rows})
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
        emit_json({"revision": rev.as_dict(), "history": hist})
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
