"""The CLI's one error path and its command group.

:class:`DualOpuGroup` (``typer.Typer(cls=DualOpuGroup)``) does three things for every command,
including commands added later, without any code in the command:

1. runs :func:`dualopu.clikit.checks.check_params` on the parsed parameters before the body;
2. turns every expected failure into one line on stderr and exit status 2
   (:func:`one_line` says which exceptions are expected and how they read);
3. prints click usage errors (unknown flag, bad integer) as one line, not a boxed panel.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sqlite3
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import core as _core
    from typer._click import exceptions as _exc
except ImportError:  # pragma: no cover - older typer
    import click.core as _core  # type: ignore[no-redef]
    import click.exceptions as _exc  # type: ignore[no-redef]

from dualopu.clikit.checks import check_params
from dualopu.errors import DualOpuError

F = TypeVar("F", bound=Callable[..., Any])

#: Exit status of every user error (also click's usage-error status).
USER_ERROR_EXIT = 2


def _from_dask(exc: BaseException) -> bool:
    """Whether the exception was raised inside dask/distributed (a scheduler or worker problem)."""
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        name = frame.f_globals.get("__name__", "")
        if name.startswith(("distributed", "dask")):
            return True
    return type(exc).__module__.startswith(("distributed", "dask"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def one_line(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug (keep the traceback)."""
    if isinstance(exc, DualOpuError):
        return _first_line(exc)
    if isinstance(exc, RecursionError):
        return "input nested too deeply to parse (RecursionError); is it a dualopu file?"
    if isinstance(exc, sqlite3.DatabaseError):
        return (
            f"result store unreadable ({_first_line(exc)}): corrupt or not a dualopu store; use a new --out"
        )
    if isinstance(exc, (OSError, TimeoutError)) and _from_dask(exc):
        return f"Dask: {_first_line(exc)} (is the scheduler running, and dualopu installed on the workers?)"
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or _first_line(exc)}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not a text file ({_first_line(exc)})"
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller --images, space or input shape"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return None


def print_error(message: str) -> None:
    """One error line on stderr (no rich markup interpretation of the message, no wrapping)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def run_guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; an expected failure becomes one stderr line and `typer.Exit(2)`."""
    try:
        return fn(*args, **kwargs)
    except (typer.Exit, typer.Abort, _exc.ClickException):
        raise
    except BaseException as exc:
        message = one_line(exc)
        if message is None:
            raise
        print_error(message)
        raise typer.Exit(code=USER_ERROR_EXIT) from None


def handle_errors(fn: F) -> F:
    """Decorator form of `run_guarded` (kept for commands; the group also guards every command)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run_guarded(fn, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _flags(cmd: _core.Command) -> dict[str, str]:
    """Parameter name -> the flag to name in messages (the longest ``--`` spelling)."""
    out: dict[str, str] = {}
    for p in cmd.params:
        if p.name and getattr(p, "param_type_name", "") == "option":
            longs = [o for o in p.opts if o.startswith("--")]
            out[p.name] = longs[0] if longs else p.opts[0]
        elif p.name:
            out[p.name] = p.name.upper()
    return out


def _guard(name: str, cmd: _core.Command) -> None:
    callback = cmd.callback
    if callback is None or getattr(callback, "_dualopu_guarded", False):
        return
    flags = _flags(cmd)

    def guarded(**params: Any) -> Any:
        run_guarded(check_params, name, params, flags)
        return run_guarded(callback, **params)

    guarded._dualopu_guarded = True  # type: ignore[attr-defined]
    cmd.callback = guarded


class DualOpuGroup(TyperGroup):
    """Typer group: parameter checks, one error path, one-line usage errors for every command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, cmd in self.commands.items():
            _guard(name, cmd)

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _exc.NoArgsIsHelpError as exc:
            print(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(exc.exit_code)
        except _exc.ClickException as exc:
            hint = ""
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, _exc.UsageError) and ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            print_error(exc.format_message().replace("\n", " ") + hint)
            sys.exit(exc.exit_code)
        except typer.Abort:
            print_error("interrupted")
            sys.exit(USER_ERROR_EXIT)
        sys.exit(rv if isinstance(rv, int) else 0)
