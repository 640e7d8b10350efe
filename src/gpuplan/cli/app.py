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
from typer._click.exceptions import ClickException, NoArgsIsHelpError

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

#: The settings of the ``gpuplan`` application (and of its one-command copies, below).
_APP_SETTINGS: dict[str, Any] = {
    "name": "gpuplan",
    "help": "Plan AI infrastructure: memory fit, training time, serving, cluster and "
    "own-vs-rent, with every number traceable to a source.",
    "no_args_is_help": True,
    "pretty_exceptions_enable": False,
    "add_completion": False,
}

app = typer.Typer(**_APP_SETTINGS)
app.add_typer(catalog_cmds.catalog_app, name="catalog")
app.add_typer(store_cmds.scenarios_app, name="scenarios")
demand_cmds.register(app)
plan_cmds.register(app)


def _group_callback() -> None:
    """Nothing: the callback that keeps a one-command application a group of commands."""


def app_for(argv: list[str]) -> typer.Typer:
    """The application that runs ``gpuplan argv``: :data:`app`, or a copy holding only the
    top-level command ``argv`` names.

    typer turns every registered command's signature into a click command on each run (about
    20 ms for the twenty commands); a copy with only the one that runs answers the same (same
    settings, the command is the same object, the callback does nothing) without that work.
    ``gpuplan``, ``gpuplan --help``, a misspelt command and the ``catalog`` and ``scenarios``
    groups use the whole application (its help and its "did you mean").

    Parameters
    ----------
    argv : list of str
        The arguments after ``gpuplan`` [—].
    """
    if not argv:
        return app
    for info in app.registered_commands:
        if info.name == argv[0]:
            one = typer.Typer(**_APP_SETTINGS)
            one.registered_commands.append(info)
            one.callback()(_group_callback)  # without it typer would run the command bare
            return one
    return app


def _tolerant_streams() -> None:
    """Let stdout and stderr print any text: characters the encoding lacks become ``?``.

    With ``PYTHONIOENCODING=ascii`` (or a C locale) the tables' "—" and "×" would otherwise
    end in a ``UnicodeEncodeError``.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (stream.encoding or "").lower().replace("-", "") \
                not in ("utf8", "utf16", "utf32"):
            reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes exit 2 with one line on stderr, never a traceback.

    Also one line and status 2: a file the operating system refuses (a name too long), stdout
    on a full disk or a closed pipe.
    """
    from gpuplan.cli.common import error_exit, os_error_message, silence_stdout
    from gpuplan.errors import UserError

    _tolerant_streams()
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app_for(args)(args=args, prog_name="gpuplan",
                             standalone_mode=False)  # errors: below
    except ClickException as e:
        raise SystemExit(_usage_error(e)) from None
    except typer.Abort:
        raise SystemExit(error_exit("aborted").exit_code) from None
    except UserError as e:
        raise SystemExit(error_exit(e.as_flag_message()).exit_code) from None
    except OSError as e:
        if e.filename is None:
            silence_stdout()
        raise SystemExit(error_exit(os_error_message(e)).exit_code) from None
    finally:
        try:
            sys.stdout.flush()
        except OSError as e:  # the last buffered output met a full disk
            silence_stdout()
            raise SystemExit(error_exit(os_error_message(e)).exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def _usage_error(e: ClickException) -> int:
    """One stderr line for a usage error (unknown command, bad or missing flag); its status.

    typer would draw a multi-line box; the house rule is one line naming what was wrong. A bare
    ``gpuplan`` (no arguments) prints the help, as before.
    """
    from gpuplan.cli.common import error_exit

    ctx = getattr(e, "ctx", None)
    if isinstance(e, NoArgsIsHelpError) and ctx is not None:
        sys.stdout.write(ctx.get_help() + "\n")
        return 0
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    error_exit(e.format_message() + where)
    return e.exit_code


if __name__ == "__main__":  # pragma: no cover
    main()
