"""Benchmark and tabulate the energy model; write JSON (not a timed test).

* energy per image and its breakdown (MAC, post-processing, SRAM, DRAM, static) for every
  built-in network on each preset, with GOPS/W and the dominant component;
* speed: `network_energy` of MobileNetV2 on dual-opu (one configuration), and the batched
  per-core dynamic energy of 10,000 configurations at once (the tuner's path).

Usage: ``python benchmarks/bench_energy.py [--out results/energy.json] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dualopu.cost import evaluate
from dualopu.cost.energy import network_energy, placed_dynamic_pj
from dualopu.cost.model import CoreParams, core_costs
from dualopu.hw.config import load_hardware
from dualopu.ir.zoo import build, list_zoo
from dualopu.util import write_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_mean_seconds

PRESETS = ("dual-opu", "single-opu", "tpu-like")
N_BATCH = 10_000


def _timeit(fn: Callable[[], object], repeat: int = 5, number: int = 10) -> float:
    return best_mean_seconds(fn, repeat, number)


def table(networks: list[str]) -> list[dict[str, Any]]:
    """Energy per image and breakdown of each network on each preset."""
    rows = []
    for hw_name in PRESETS:
        hw = load_hardware(hw_name)
        for name in networks:
            s = evaluate(build(name), hw).summary()
            total = s["energy_uj_per_image"]
            rows.append(
                {
                    "hardware": hw_name,
                    "network": name,
                    "energy_uj_per_image": total,
                    "shares": {k: v / total for k, v in s["energy_breakdown_uj"].items()},
                    "dominant": s["energy_dominant_component"],
                    "gops_per_watt": s["gops_per_watt"],
                    "throughput_bound_ips": s["throughput_bound_ips"],
                    "dram_bytes": s["dram_bytes"],
                }
            )
    return rows


def speed() -> dict[str, float]:
    """Seconds for one network's energy and configurations/s for the batched per-core path."""
    hw = load_hardware("dual-opu")
    net = build("mobilenet_v2")
    cost = evaluate(net, hw)
    one = _timeit(lambda: network_energy(cost))
    c = hw.cores[0]
    rng = np.random.default_rng(0)
    p = CoreParams.batch(
        c.type,
        c.dataflow,
        pe_count=rng.integers(4, 257, N_BATCH),
        input_size=16,
        ic_parallel=64,
        input_buffer_kib=c.input_buffer_kib,
        weight_buffer_kib=c.weight_buffer_kib,
        output_buffer_kib=c.output_buffer_kib,
    )
    costs = core_costs(net.table, p, hw.dram_bytes_per_cycle, hw.data_bytes)
    mask = cost.core == 0
    batch = _timeit(lambda: placed_dynamic_pj(net.table, p, costs, mask, hw.energy_model), repeat=3, number=2)
    return {"network_energy_ms": one * 1e3, "batched_configs_per_s": N_BATCH / batch}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results") / "energy.json"))
    ap.add_argument("--quick", action="store_true", help="three networks only")
    args = ap.parse_args()
    nets = ["mobilenet_v2", "squeezenet1_1", "resnet18"] if args.quick else list_zoo()
    result = {"table": table(nets), "speed": speed()}
    write_atomic(args.out, json.dumps(result, indent=2) + "\n")
    for r in result["table"]:
        shares = " ".join(f"{k} {v:.0%}" for k, v in r["shares"].items())
        print(
            f"{r['hardware']:10s} {r['network']:18s} {r['energy_uj_per_image']:9.1f} uJ/image  {shares}  "
            f"{r['gops_per_watt']:.0f} GOPS/W"
        )
    print(json.dumps(result["speed"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
