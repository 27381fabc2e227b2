"""The `dualopu` command line.

Every command is a thin shell over the public API in `dualopu/__init__.py` (CLI/API
symmetry). User errors (`DualOpuError`) become one line on stderr and exit status 2.
Commands are grouped by layer in delimited sections below; keep each section's helpers
in its own package, not here.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from dualopu.errors import DualOpuError

app = typer.Typer(
    name="dualopu",
    help="Design and evaluate heterogeneous multi-core overlay processors for light-weight CNNs "
    "(dual-OPU: a regular-conv core + a depthwise core, a multi-image scheduler and an auto-tuner).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print one error line on stderr and return the exit-2 exception to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def handle_errors(fn: F) -> F:
    """Turn user errors into one stderr line and exit 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DualOpuError as exc:
            raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        except FileNotFoundError as exc:
            raise fail(f"file not found: {exc.filename}") from None
        except KeyboardInterrupt:
            raise fail("interrupted") from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (no rich markup, machine-readable)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ---- ir: zoo, inspect, export ------------------------------------------------------

# ---- hw + cost: area, evaluate ------------------------------------------------------

# ---- compiler + sim: compile, simulate ----------------------------------------------

# ---- sched: schedule, validate -------------------------------------------------------

# ---- tune: tune -----------------------------------------------------------------------

# ---- report: reproduce ---------------------------------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()
