"""Benchmark the compiler and simulators; write JSON (not a timed test).

* functional INT8 simulation of MobileNetV2 at 224x224 (target < 120 s) and 96x96
  (target < 20 s) on one core, with the bit-exactness verdict against onnxruntime;
* cycle simulation of every built-in network on every preset (target < 2 s each), with the
  analytical model's whole-network error and per-layer agreement, and how much of the gap
  each corrected model formula closes (`dualopu.sim.analyze_gaps`).

Usage: ``python benchmarks/bench_sim.py [--out results/sim.json] [--quick]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from dualopu.compiler import compile_network, quantize
from dualopu.hw.config import load_hardware
from dualopu.ir.network import Network
from dualopu.sim import analyze_gaps, check_functional, compare_cycles
from dualopu.sim.testnets import inverted_residual_net
from dualopu.util import write_atomic

PRESETS = ("dual-opu", "single-opu", "tpu-like")
ZOO = (
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "shufflenet_v2_x1_0",
    "squeezenet1_1",
    "mnasnet1_0",
    "efficientnet_b0",
    "resnet18",
)


def _build(name: str, size: int | None = None) -> Network:
    shape = None if size is None else (1, 3, size, size)
    if importlib.util.find_spec("dualopu.ir.zoo") is not None:
        from dualopu.ir.zoo import build  # type: ignore[import-not-found]

        return build(name, input_shape=shape)
    if name != "mobilenet_v2":
        raise LookupError(name)
    return inverted_residual_net(size or 224, classes=1000).with_name("mobilenet_v2 (stand-in)")


def bench_functional(size: int, hw_name: str = "single-opu") -> dict[str, Any]:
    net = _build("mobilenet_v2", size)
    hw = load_hardware(hw_name)
    t0 = time.perf_counter()
    qnet = quantize(net, seed=0)
    t1 = time.perf_counter()
    prog = compile_network(net, hw)
    t2 = time.perf_counter()
    x = qnet.quantize_input(np.random.default_rng(0).standard_normal(net.input_shape))
    chk = check_functional(prog, qnet, x)
    return {
        "model": net.name,
        "input": size,
        "hardware": hw_name,
        "instructions": prog.n_instructions,
        "quantize_s": t1 - t0,
        "compile_s": t2 - t1,
        "functional_sim_s": chk.sim_seconds,
        "onnxruntime_s": chk.ort_seconds,
        "bit_exact": chk.bit_exact,
        "max_abs_diff_lsb": chk.max_abs_diff_lsb,
        "target_s": 120.0 if size >= 224 else 20.0,
        "meets_target": chk.sim_seconds < (120.0 if size >= 224 else 20.0),
    }


def bench_cycles(name: str, hw_name: str) -> dict[str, Any]:
    net = _build(name)
    hw = load_hardware(hw_name)
    t0 = time.perf_counter()
    prog = compile_network(net, hw)
    t1 = time.perf_counter()
    cmp = compare_cycles(net, hw, prog)
    t2 = time.perf_counter()
    return {
        "model": net.name,
        "hardware": hw_name,
        "layers": len(net),
        "instructions": prog.n_instructions,
        "compile_s": t1 - t0,
        "cycle_sim_s": t2 - t1,
        "meets_target": (t2 - t1) < 2.0,
        "cycles_sim": cmp.cycles_sim,
        "cycles_analytical": cmp.cycles_analytical,
        "rel_error": cmp.rel_error,
        "layers_within_15pct": cmp.fraction_within(0.15),
        "worst_layers": cmp.worst(3),
        "model_gaps": analyze_gaps(net, hw, prog).to_dict(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "sim.json"))
    ap.add_argument("--quick", action="store_true", help="96x96 functional run and MobileNetV2 cycles only")
    args = ap.parse_args()
    res: dict[str, Any] = {"cpu_count": os.cpu_count(), "functional": [], "cycles": []}
    for size in (96,) if args.quick else (96, 224):
        r = bench_functional(size)
        res["functional"].append(r)
        print(
            f"functional {r['model']} {size}: {r['functional_sim_s']:.2f} s, bit_exact={r['bit_exact']}",
            flush=True,
        )
    names = ("mobilenet_v2",) if args.quick else ZOO
    for name in names:
        for hw_name in PRESETS:
            try:
                r = bench_cycles(name, hw_name)
            except LookupError:
                continue
            res["cycles"].append(r)
            print(
                f"cycles {r['model']:22s} {hw_name:10s} sim {r['cycle_sim_s']:.3f} s  "
                f"error {r['rel_error'] * 100:+.2f}%  layers within 15%: {r['layers_within_15pct'] * 100:.0f}%",
                flush=True,
            )
    write_atomic(args.out, json.dumps(res, indent=2) + "\n")
    ok = all(r["meets_target"] for r in res["functional"] + res["cycles"])
    ok = ok and all(r["bit_exact"] for r in res["functional"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
