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


@app.command("compile")
@handle_errors
def compile_cmd(
    model: str = typer.Argument(..., help="built-in network name or ONNX file"),
    hw: str = typer.Option("dual-opu", "--hw", help="hardware preset or YAML file"),
    output: str = typer.Option(..., "-o", "--output", help="program file to write (JSON)"),
    listing: bool = typer.Option(False, "--listing", help="print a human-readable program listing"),
    input_size: int = typer.Option(0, "--input-size", help="square input size N (1x3xNxN); 0 keeps the model's"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
) -> None:
    """Compile a network into per-core instruction programs (LOAD / COMPUTE / POST / STORE)."""
    from pathlib import Path

    from dualopu.sim.commands import compile_command

    prog, summary = compile_command(model, hw, Path(output), input_size or None)
    if listing:
        sys.stdout.write(prog.listing())
    if as_json:
        print_json(summary)
    elif not listing:
        console.print(f"wrote {output}: {summary['layers']} layers, {summary['instructions']} instructions, "
                      f"{summary['macs']} MACs for {summary['model']} on {summary['hardware']}", highlight=False)


@app.command("simulate")
@handle_errors
def simulate_cmd(
    model: str = typer.Argument(..., help="built-in network name or ONNX file"),
    hw: str = typer.Option("dual-opu", "--hw", help="hardware preset or YAML file"),
    functional: bool = typer.Option(False, "--functional", help="also run the INT8 functional simulator "
                                    "(random weights) and compare with onnxruntime bit for bit"),
    input_size: int = typer.Option(0, "--input-size", help="square input size N (1x3xNxN); 0 keeps the model's"),
    program: str = typer.Option(None, "--program", help="a program file from `dualopu compile` (else compile)"),
    seed: int = typer.Option(0, "--seed", help="seed of the random weights and input (--functional)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (cycles_sim, cycles_analytical, layers, ...)"),
) -> None:
    """Cycle-simulate a compiled network (event-driven, shared DRAM) against the analytical model."""
    from pathlib import Path

    from dualopu.sim.commands import render_simulation, simulate_command

    res = simulate_command(model, hw, functional, input_size or None, Path(program) if program else None, seed)
    if as_json:
        print_json(res)
    else:
        render_simulation(console, res)

# ---- sched: schedule, validate -------------------------------------------------------

# ---- tune: tune -----------------------------------------------------------------------

# ---- report: reproduce ---------------------------------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()
