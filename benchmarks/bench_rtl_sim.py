"""RTL simulation speed (Amaranth's Python simulator) next to our cycle simulator's.

For each tiny case (`dualopu.rtl.cases`): the RTL's simulated cycles, the seconds to build
(elaborate + compile) and to run the simulation, simulated cycles per second; the cycle
simulator's cycles for the same program and its cycles per second (best mean of repeats);
per layer the RTL vs cycle-simulator cycles; for the 32x32 block, the per-instruction
comparison. With ``verilator`` installed, the same runs on the Verilator build of the exported
Verilog (build seconds, run seconds including process start, agreement). Writes JSON.

Usage: ``python benchmarks/bench_rtl_sim.py [--out results/rtl_sim.json] [--quick]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_mean_seconds

from dualopu.compiler import compile_network, quantize
from dualopu.rtl.cases import BLOCK_LINE_WIDTH, TINY_LINE_WIDTH, layer_net, separable_block, tiny_hw
from dualopu.rtl.simulate import compare_instructions, rows_markdown, run_program
from dualopu.rtl.verilator import verilator_available
from dualopu.sim import run_functional_all
from dualopu.sim.cycles import simulate_cycles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "rtl_sim.json"))
    ap.add_argument("--quick", action="store_true", help="skip the 32x32 block")
    args = ap.parse_args()
    cases = [
        ("conv 3x3 8x8x8", layer_net("conv"), tiny_hw(), TINY_LINE_WIDTH),
        ("depthwise 3x3 8x8x8", layer_net("depthwise"), tiny_hw(), TINY_LINE_WIDTH),
        ("pointwise 8->16 8x8", layer_net("pointwise"), tiny_hw(), TINY_LINE_WIDTH),
    ]
    if not args.quick:
        cases.append(("separable block 32x32x8", separable_block(32), tiny_hw(8.0, 8.0), BLOCK_LINE_WIDTH))
    rows = []
    table = ""
    for label, net, hw, lw in cases:
        prog = compile_network(net, hw)
        q = quantize(net, seed=0, calibration=1)
        x = q.quantize_input(np.random.default_rng(0).standard_normal(net.input_shape) * 2.0)
        ref = run_functional_all(prog, q, x)
        run = run_program(prog, q, hw, x, line_width=lw)
        exact = all(np.array_equal(y, ref[n]) for n, y in run.outputs.items())
        sim = simulate_cycles(prog, hw)
        sim_s = best_mean_seconds(lambda prog=prog, hw=hw: simulate_cycles(prog, hw), repeat=5, number=20)
        run_s = sum(r.wall_s for r in run.runs)
        build_s = sum(r.build_s for r in run.runs)
        rtl_cycles = int(sum(r.cycles for r in run.runs))
        row = {
            "case": label,
            "hardware": hw.name,
            "layers": [lp.name for lp in prog.layers],
            "bit_exact": exact,
            "rtl_layer_cycles": run.layer_cycles.tolist(),
            "sim_layer_cycles": sim.layer_cycles.tolist(),
            "rtl_vs_sim": (run.layer_cycles / sim.layer_cycles - 1).tolist(),
            "rtl_simulated_cycles": rtl_cycles,
            "rtl_build_s": build_s,
            "rtl_run_s": run_s,
            "rtl_cycles_per_s": rtl_cycles / run_s,
            "rtl_cycles_per_s_with_build": rtl_cycles / (run_s + build_s),
            "cycle_sim_s": sim_s,
            "cycle_sim_cycles_per_s": sim.total_cycles / sim_s,
            "cycle_sim_speedup": (run_s + build_s) / sim_s,
        }
        rows.append(row)
        print(
            f"{label:26s} exact={exact} RTL {rtl_cycles:>6d} cyc: build {build_s:5.2f} s run {run_s:6.2f} s "
            f"= {row['rtl_cycles_per_s']:>7,.0f} cyc/s | cycle sim {sim_s * 1e3:6.2f} ms = "
            f"{row['cycle_sim_cycles_per_s']:>12,.0f} cyc/s | RTL/sim per layer "
            + " ".join(f"{v:+.1%}" for v in row["rtl_vs_sim"]),
            flush=True,
        )
        if verilator_available():
            v = run_program(prog, q, hw, x, line_width=lw, backend="verilator")
            v_run = sum(r.wall_s for r in v.runs)
            row |= {
                "verilator_same_as_amaranth": [r.ends for r in v.runs] == [r.ends for r in run.runs]
                and bool(np.array_equal(v.dram, run.dram)),
                "verilator_build_s": sum(r.build_s for r in v.runs),
                "verilator_run_s": v_run,
                "verilator_cycles_per_s": rtl_cycles / v_run,
            }
            print(
                f"{'':26s} verilator: same={row['verilator_same_as_amaranth']} build {row['verilator_build_s']:.1f} s "
                f"run {v_run * 1e3:.1f} ms = {row['verilator_cycles_per_s']:,.0f} cyc/s (process start included)"
            )
        instr = compare_instructions(prog, hw, run)
        row["instructions"] = [dataclasses.asdict(r) for r in instr]
        table = rows_markdown(instr)
    out = {"rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(table)


if __name__ == "__main__":
    main()
