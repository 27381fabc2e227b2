"""Bodies of the ``dualopu compile`` and ``dualopu simulate`` commands (the CLI is a thin shell)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from dualopu.compiler.codegen import compile_network
from dualopu.compiler.program import Program
from dualopu.compiler.quant import quantize
from dualopu.errors import ModelError
from dualopu.hw.config import load_hardware
from dualopu.ir.network import Network
from dualopu.sim.verify import check_functional, check_program_matches, compare_cycles
from dualopu.util import parse_input_shape


def load_model(model: str, input_size: int | str | None = None) -> Network:
    """A built-in network name or an ONNX file, optionally at an input shape (``N`` or ``1x3xHxW``)."""
    shape = parse_input_shape(str(input_size)) if input_size else None
    try:
        from dualopu.ir.loader import load_network  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - the loader ships with the package
        raise ModelError(f"cannot load {model!r}: network loader (dualopu.ir.loader) not available") from None
    net: Network = load_network(model, input_shape=shape)
    return net


def compile_command(model: str, hw_name: str, out: Path, input_size: int | str | None) -> tuple[Program, dict[str, Any]]:
    """Compile and write the program; a JSON-ready summary."""
    net = load_model(model, input_size)
    hw = load_hardware(hw_name)
    prog = compile_network(net, hw)
    prog.save(out)
    return prog, {
        "model": net.name,
        "hardware": hw.name,
        "input_shape": list(net.input_shape),
        "program": str(out),
        "layers": len(prog.layers),
        "instructions": prog.n_instructions,
        "macs": prog.total_macs,
        "dram_bytes": prog.dram_bytes,
        "instructions_per_core": {
            c["name"]: sum(len(lp.instrs) for lp in prog.layers if lp.core == k) for k, c in enumerate(prog.cores)
        },
    }


def simulate_command(
    model: str, hw_name: str, functional: bool, input_size: int | str | None, program: Path | None, seed: int = 0
) -> dict[str, Any]:
    """Cycle simulation vs analytical model, optionally functional simulation vs onnxruntime."""
    prog = Program.load(program) if program is not None else None  # refuse a bad file first
    net = load_model(model, input_size)
    hw = load_hardware(hw_name)
    if prog is not None:
        check_program_matches(prog, net)
        prog.check_hardware(hw)
    else:
        prog = compile_network(net, hw)
    cmp = compare_cycles(net, hw, prog)
    out = cmp.to_dict()
    if functional:
        qnet = quantize(net, seed=seed)
        x = qnet.quantize_input(np.random.default_rng(seed).standard_normal(net.input_shape))
        out.update(check_functional(prog, qnet, x).to_dict())
        out["functional_seed"] = seed
    return out


def render_simulation(console: Console, res: dict[str, Any]) -> None:
    """Per-layer table and a verdict, for humans."""
    t = Table(title=f"{res['model']} on {res['hardware']}  input {res['input_shape']}")
    for col in ("#", "layer", "kind", "core", "sim cycles", "analytical", "error"):
        t.add_column(col, justify="right" if col in ("#", "sim cycles", "analytical", "error") else "left")
    for i, row in enumerate(res["layers"]):
        err = row["rel_error"]
        style = "red" if abs(err) > 0.15 else None
        t.add_row(str(i), row["name"], row["kind"], row["core"], f"{row['cycles_sim']:.0f}",
                  f"{row['cycles_analytical']:.0f}", f"{err * 100:+.1f}%", style=style)
    console.print(t)
    console.print(
        f"cycles (one image): simulator {res['cycles_sim']:.0f}, analytical {res['cycles_analytical']:.0f}, "
        f"error {res['rel_error'] * 100:+.2f}%; layers within 15%: {res['layers_within_15pct'] * 100:.0f}%"
    )
    for c in res["cores"]:
        console.print(f"  core {c['name']}: busy {c['busy_cycles']:.0f} cycles "
                      f"(PE/post {c['exec_busy_cycles']:.0f}, DMA {c['dma_busy_cycles']:.0f})")
    if "bit_exact" in res:
        verdict = "[green]bit-exact[/]" if res["bit_exact"] else (
            f"[red]NOT bit-exact[/]: {res['mismatched_elements']} elements differ, max {res['max_abs_diff_lsb']} LSB, "
            f"first at layer {res['first_mismatch_layer']}")
        console.print(f"functional INT8 simulation vs onnxruntime: {verdict} "
                      f"(simulator {res['functional_seconds']:.2f} s, onnxruntime {res['onnxruntime_seconds']:.2f} s)")
