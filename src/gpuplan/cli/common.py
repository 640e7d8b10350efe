"""What every command module of the CLI shares: options, error handling, output.

Commands parse, call the pipeline (or a stage's entry point) and format; a
:class:`~gpuplan.errors.UserError` becomes one line on stderr and exit status 2, with its
parameter name written as the flag (:meth:`~gpuplan.errors.UserError.as_flag_message`).
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from pydantic import BaseModel

    from gpuplan.catalog import Catalog
    from gpuplan.pipeline.scenario import Scenario

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


#: Terminal escape sequences (CSI such as colours and cursor moves, OSC such as window titles,
#: and two-character escapes), ECMA-48 sections 5.4 and 5.6.
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                              r"|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")
#: Other control characters: C0 (but tab and newline), DEL and C1.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: A run of characters without a space longer than this is elided in a message [characters].
MAX_WORD_CHARS = 200
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD_CHARS + 1},}}")


def strip_controls(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tab and newline kept).

    Parameters
    ----------
    text : str
        A name or message that came from a user or a file [—].
    """
    return _CONTROL_CHARS.sub("", _ESCAPE_SEQUENCE.sub("", text))


def one_line(message: str) -> str:
    """An error message as one printable line: controls stripped, lines joined with "; ",
    words longer than :data:`MAX_WORD_CHARS` elided in the middle (a 100k-character name).

    Parameters
    ----------
    message : str
        The message [—].
    """
    from gpuplan.textfile import short

    lines = [" ".join(ln.split()) for ln in strip_controls(message).splitlines()]
    text = "; ".join(ln for ln in lines if ln)
    return _LONG_WORD.sub(lambda m: short(m.group(0), MAX_WORD_CHARS), text)


def os_error_message(e: OSError) -> str:
    """One line for an operating-system error: the file and what went wrong.

    An error without a file name is the output stream's (stdout on a full disk, a closed pipe).
    """
    from gpuplan.textfile import short

    what = e.strerror or errno.errorcode.get(e.errno or 0, "") or str(e)
    if e.filename is None:
        return f"cannot write the output: {what}"
    return f"{short(os.fsdecode(e.filename))!r}: {what}"


def silence_stdout() -> None:
    """Point stdout at the null device so that the exit flush of a failed stream stays quiet."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests' runner)
        pass


def error_exit(message: str) -> typer.Exit:
    """Print ``gpuplan: error: <message>`` as one line on stderr; the exit to raise (status 2)."""
    try:
        sys.stderr.write(f"gpuplan: error: {one_line(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr itself is gone: the exit status says it
        pass
    return typer.Exit(2)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`~gpuplan.errors.UserError` (or an ``OSError``: a file that cannot be
    read or written, stdout on a full disk) into one stderr line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from gpuplan.errors import UserError

        try:
            return fn(*args, **kwargs)
        except UserError as e:
            raise error_exit(e.as_flag_message()) from None
        except OSError as e:
            if e.filename is None:
                silence_stdout()
            raise error_exit(os_error_message(e)) from None

    return wrapper


def load_overlaid_catalog(paths: list[Path] | None) -> Catalog:
    """The built-in catalog with the ``--catalog`` overlays (and ``$GPUPLAN_CATALOG``)."""
    from gpuplan.catalog import load_catalog

    return load_catalog(tuple(str(p) for p in paths or ()))


def check_scenario_names(sc: Scenario, cat: Catalog, path: Path) -> None:
    """Refuse a scenario naming an unknown GPU, system, region or model, with the closest names
    (as the web).

    Without this a misspelt GPU or system only left its option out of the plan, with a note,
    and the command succeeded. Accelerator YAML files and model ``config.json`` paths are
    accepted, as everywhere on the command line.

    Raises
    ------
    UserError
        ``path: hardware_options[i].gpu: unknown GPU 'b2OO'; closest: b200, gb200 ...``.
    """
    from gpuplan.errors import UserError

    try:
        cat.entry("regions", sc.region)
    except UserError as e:
        raise UserError(f"{path}: region: {e}") from None
    for i, o in enumerate(sc.hardware_options):
        try:
            cat.accelerator(o.gpu)
        except UserError as e:
            raise UserError(f"{path}: hardware_options[{i}].gpu: {e}") from None
        if o.system is not None:
            try:
                cat.system(o.system)
            except UserError as e:
                raise UserError(f"{path}: hardware_options[{i}].system: {e}") from None
    for i, w in enumerate(sc.workloads):
        model = getattr(w, "model", None)
        if model is None:
            continue
        try:
            cat.model(model)
        except UserError as e:
            raise UserError(f"{path}: workloads[{i}].model: {e}") from None


def emit_json(obj: Any) -> None:
    """Print ``obj`` as the command's one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def printable(obj: Any) -> Any:
    """``obj`` with :func:`strip_controls` applied to every text inside it, for the terminal.

    Pydantic models are copied (``model_copy``, no re-validation), lists, tuples and dicts
    rebuilt; anything else is returned as it is. JSON output needs none of this: ``json.dumps``
    escapes control characters.
    """
    from pydantic import BaseModel

    if isinstance(obj, str):
        return strip_controls(obj)
    if isinstance(obj, BaseModel):
        update = {k: printable(getattr(obj, k)) for k in type(obj).model_fields}
        return obj.model_copy(update=update)
    if isinstance(obj, list | tuple):
        return type(obj)(printable(v) for v in obj)
    if isinstance(obj, dict):
        return {printable(k): printable(v) for k, v in obj.items()}
    return obj


def output(result: BaseModel, as_json: bool, formatter: str) -> None:
    """Print a typed result: its JSON, or the named formatter of ``report.terminal`` (with
    control characters and escape sequences stripped from every name)."""
    if as_json:
        emit_json(result.model_dump())
        return
    from gpuplan.report import terminal

    getattr(terminal, formatter)(printable(result))
