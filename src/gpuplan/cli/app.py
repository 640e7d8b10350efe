"""The ``gpuplan`` command line: parse, call the pipeline, format. No formula lives here.

The typer application and its entry point. The commands live beside it, one module per area:
:mod:`~gpuplan.cli.catalog_cmds` (``catalog ...``), :mod:`~gpuplan.cli.demand_cmds` (``fit``,
``train``, ``serve``, ``recsys``), :mod:`~gpuplan.cli.plan_cmds` (``cluster``, ``plan``, ``tco``,
``budget``, ``web``, ``validate``) and :mod:`~gpuplan.cli.store_cmds` (``scenarios ...``); what
they share (options, error handling, output) is :mod:`~gpuplan.cli.common`.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from gpuplan.cli import catalog_cmds, demand_cmds, plan_cmds, store_cmds


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

    def message(exc: Any) -> str:
        text: str = original(exc)
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
app.add_typer(catalog_cmds.catalog_app, name="catalog")
app.add_typer(store_cmds.scenarios_app, name="scenarios")
demand_cmds.register(app)
plan_cmds.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes exit 2 with one line on stderr, never a traceback."""
    from gpuplan.errors import UserError

    try:
        app(args=argv, standalone_mode=True)
    except UserError as e:
        sys.stderr.write(f"gpuplan: error: {e.as_flag_message()}\n")
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
