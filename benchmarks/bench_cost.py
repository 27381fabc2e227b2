"""Benchmark the analytical cost model; write JSON (not a timed test).

* ``evaluate`` of MobileNetV2 (224x224) on each preset: one configuration, target < 1 ms
  (best of 7 batches of 20 calls);
* ``core_costs`` on one configuration and on 10,000 configurations at once (the tuner's
  batched path), in evaluations (one network on one core configuration) per second;
* the same rules as a naive per-layer Python loop (the test oracle
  ``tests/oracles/reference_cost.py``), and the ratio "vectorized vs naive loop"; the two
  must give identical numbers (checked here).

Usage: ``python benchmarks/bench_cost.py [--out results/cost.json] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dualopu.cost import evaluate
from dualopu.cost.model import CoreParams, core_costs
from dualopu.hw.config import Core, CoreType, load_hardware
from dualopu.ir.network import Network
from dualopu.util import write_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_mean_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracles.reference_cost import network_costs_reference

PRESETS = ("dual-opu", "single-opu", "tpu-like")


def _network() -> Network:
    from dualopu.ir.zoo import build

    return build("mobilenet_v2")


def _timeit(fn: Callable[[], object], repeat: int = 7, number: int = 20) -> float:
    return best_mean_seconds(fn, repeat, number)


def _configs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` random unified-core configurations (the tuner's kind of batch)."""
    rng = np.random.default_rng(seed)
    isz = rng.choice([4, 8, 9, 16, 32], n)
    return {
        "pe_count": rng.integers(8, 257, n),
        "input_size": isz,
        "ic_parallel": isz * rng.choice([2, 4, 8], n),
        "input_buffer_kib": rng.choice([32, 64, 128, 256], n).astype(float),
        "weight_buffer_kib": rng.choice([16, 64, 128, 256], n).astype(float),
        "output_buffer_kib": rng.choice([16, 32, 64, 128], n).astype(float),
    }


def _core(cfg: dict[str, np.ndarray], k: int) -> Core:
    return Core(name="u", type=CoreType.UNIFIED, **{key: v[k].item() for key, v in cfg.items()})  # type: ignore[arg-type]


def bench(quick: bool = False) -> dict[str, Any]:
    net = _network()
    t = net.table
    out: dict[str, Any] = {"network": net.name, "layers": len(net), "total_macs": net.total_macs}

    # whole-network evaluate on each preset (cost matrix, checks, placement, per-core totals)
    hws = {p: load_hardware(p) for p in PRESETS}
    out["evaluate_ms"] = {p: 1e3 * _timeit(lambda h=h: evaluate(net, h)) for p, h in hws.items()}
    out["evaluate_whole_network_dual_opu_ms"] = out["evaluate_ms"]["dual-opu"]
    out["target_evaluate_under_ms"] = 1.0
    out["evaluate_under_target"] = bool(max(out["evaluate_ms"].values()) < 1.0)

    # one core, one configuration, all layers
    hw = hws["dual-opu"]
    params = CoreParams.of(hw.cores[0])
    single = _timeit(lambda: core_costs(t, params, hw.dram_bytes_per_cycle))
    out["core_costs_one_config_ms"] = 1e3 * single
    out["core_costs_one_config_per_s"] = 1.0 / single
    try:  # the planner without its single-configuration memo (every call plans afresh)
        from dualopu.cost.model import price
        from dualopu.plan.rules import plan_tiles_uncached

        cold = _timeit(lambda: price(t, params, plan_tiles_uncached(t, params, 1), hw.dram_bytes_per_cycle))
        out["core_costs_one_config_unmemoized_ms"] = 1e3 * cold
    except ImportError:  # before the plan layer existed
        pass

    # many configurations at once (the tuner's path)
    n = 1000 if quick else 10_000
    cfg = _configs(n)
    batch = CoreParams.batch(CoreType.UNIFIED, "opu", **cfg)
    batched = _timeit(lambda: core_costs(t, batch, 64.0), repeat=3, number=2)
    out["batched_configs"] = n
    out["batched_seconds"] = batched
    out["batched_configs_per_s"] = n / batched

    # naive per-layer Python loop of the same rules (the test oracle), on a sample of
    # the same configurations: must give identical numbers
    n_naive = 20 if quick else 200
    vec = core_costs(t, batch, 64.0)
    cores = [_core(cfg, k) for k in range(n_naive)]
    t0 = time.perf_counter()
    refs = [network_costs_reference(net, c, 64.0) for c in cores]
    naive = (time.perf_counter() - t0) / n_naive
    worst = 0.0
    for k, ref in enumerate(refs):
        want = np.array([r.cycles for r in ref])
        got = vec.cycles[k]
        assert (np.isinf(got) == np.isinf(want)).all(), f"config {k}: feasibility differs"
        fin = np.isfinite(want)
        worst = max(
            worst, float(np.max(np.abs(got[fin] - want[fin]) / np.maximum(want[fin], 1.0), initial=0.0))
        )
    out["naive_per_layer_loop_ms"] = 1e3 * naive
    out["naive_configs_per_s"] = 1.0 / naive
    out["naive_equals_vectorized"] = worst == 0.0
    out["max_rel_diff_vectorized_vs_naive"] = worst
    out["vectorized_vs_naive_loop_speedup"] = naive / single
    out["batched_vs_naive_per_config_speedup"] = naive / (batched / n)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "cost.json"))
    ap.add_argument("--quick", action="store_true", help="1,000 batched configurations, fewer naive runs")
    args = ap.parse_args()
    res = bench(args.quick)
    write_atomic(args.out, json.dumps(res, indent=2) + "\n")
    ev = ", ".join(f"{k} {v:.3f} ms" for k, v in res["evaluate_ms"].items())
    print(f"MobileNetV2 ({res['layers']} layers) evaluate: {ev} (target < 1 ms)")
    print(
        f"core_costs, one config: {res['core_costs_one_config_ms']:.3f} ms; batched {res['batched_configs']:,} "
        f"configs: {res['batched_seconds'] * 1e3:.1f} ms ({res['batched_configs_per_s']:,.0f} configs/s)"
    )
    if "core_costs_one_config_unmemoized_ms" in res:
        print(
            f"core_costs, one config, plan not memoized: {res['core_costs_one_config_unmemoized_ms']:.3f} ms"
        )
    print(
        f"naive per-layer loop: {res['naive_per_layer_loop_ms']:.3f} ms per config; vectorized vs naive: "
        f"x{res['vectorized_vs_naive_loop_speedup']:.1f} one config, x{res['batched_vs_naive_per_config_speedup']:,.0f} "
        f"batched; identical: {res['naive_equals_vectorized']}"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
