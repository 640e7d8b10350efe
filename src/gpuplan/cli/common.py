"""What every command module of the CLI shares: options, error handling, output.

Commands parse, call the pipeline (or a stage's entry point) and format; a
:class:`~gpuplan.errors.UserError` becomes one line on stderr and exit status 2, with its
parameter name written as the flag (:meth:`~gpuplan.errors.UserError.as_flag_message`).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from pydantic import BaseModel

    from gpuplan.catalog import Catalog

P = ParamSpec("P")
R = TypeVar("R")

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
ModelArg = Annotated[str, typer.Argument(help="Catalog id, HF repo id, or path to config.json.")]
GpuOpt = Annotated[str, typer.Option("--gpu", help="Accelerator id or accelerator YAML file.")]
FacilityOpt = Annotated[str, typer.Option(help="build | colocation")]


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`~gpuplan.errors.UserError` into one stderr line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from gpuplan.errors import UserError

        try:
            return fn(*args, **kwargs)
        except UserError as e:
            typer.echo(f"gpuplan: error: {e.as_flag_message()}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def load_overlaid_catalog(paths: list[Path] | None) -> Catalog:
    """The built-in catalog with the ``--catalog`` overlays (and ``$GPUPLAN_CATALOG``)."""
    from gpuplan.catalog import load_catalog

    return load_catalog(tuple(str(p) for p in paths or ()))


def emit_json(obj: Any) -> None:
    """Print ``obj`` as the command's one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def output(result: BaseModel, as_json: bool, formatter: str) -> None:
    """Print a typed result: its JSON, or the named formatter of ``report.terminal``."""
    if as_json:
        emit_json(result.model_dump())
        return
    from gpuplan.report import terminal

    getattr(terminal, formatter)(result)
