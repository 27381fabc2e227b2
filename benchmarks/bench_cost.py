"""Cost-model speed: one MobileNetV2 evaluation, batched configurations, and the ratio to a
naive per-layer Python loop of the same formulas. Writes JSON (not a timed test).

Usage: ``python benchmarks/bench_cost.py [--out results/cost.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dualopu.cost import CoreParams, core_costs, evaluate
from dualopu.cost.model import core_costs as vectorized
from dualopu.hw import load_hardware
from dualopu.ir.zoo import build


def best_of(fn, repeat: int = 7, number: int = 20) -> float:  # type: ignore[no-untyped-def]
    """Best mean seconds per call over ``repeat`` batches of ``number`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times)


def naive_loop(net, params, bw):  # type: ignore[no-untyped-def]
    """The same model, one layer at a time through the vectorized code with 1-row tables:
    what a per-layer Python implementation pays in interpreter overhead."""
    from dataclasses import replace

    t = net.table
    out = []
    for i in range(len(t)):
        row = replace(t, **{f: getattr(t, f)[i:i + 1] for f in t.__dataclass_fields__})
        out.append(vectorized(row, params, bw).cycles[0, 0])
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "cost.json"))
    args = ap.parse_args()
    net = build("mobilenet_v2")
    hw = load_hardware("dual-opu")
    core = hw.cores[0]
    p1 = CoreParams.of(core)
    one_core = best_of(lambda: core_costs(net.table, p1, hw.dram_bytes_per_cycle))
    whole = best_of(lambda: evaluate(net, hw))
    n = 10_000
    rng = np.random.default_rng(0)
    pb = CoreParams.batch(core.type, core.dataflow, pe_count=rng.integers(1, 64, n) * 4,
                          input_size=rng.choice([4, 8, 16, 32, 64], n), input_buffer_kib=128, weight_buffer_kib=128,
                          output_buffer_kib=64)
    batched = best_of(lambda: core_costs(net.table, pb, hw.dram_bytes_per_cycle), repeat=3, number=2)
    naive = best_of(lambda: naive_loop(net, p1, hw.dram_bytes_per_cycle), repeat=3, number=2)
    same = np.allclose(naive_loop(net, p1, hw.dram_bytes_per_cycle),
                       core_costs(net.table, p1, hw.dram_bytes_per_cycle).cycles[0], equal_nan=True)
    result = {
        "network": "mobilenet_v2", "layers": len(net),
        "core_costs_one_config_ms": one_core * 1e3,
        "evaluate_whole_network_dual_opu_ms": whole * 1e3,
        "batched_configs": n,
        "batched_seconds": batched,
        "batched_configs_per_s": n / batched,
        "naive_per_layer_loop_ms": naive * 1e3,
        "vectorized_vs_naive_loop_speedup": naive / one_core,
        "batched_vs_naive_per_config_speedup": naive / (batched / n),
        "naive_equals_vectorized": bool(same),
        "target_evaluate_under_ms": 1.0,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
