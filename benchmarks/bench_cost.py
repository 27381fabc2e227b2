"""Benchmark the analytical cost model; write JSON (not a timed test).

* ``evaluate`` of MobileNetV2 (224x224) on each preset: one configuration, target < 1 ms;
* ``core_costs`` on one configuration and on 10,000 configurations at once (the tuner's
  batched path), in evaluations (one network on one core configuration) per second;
* the same formulas as a naive per-layer Python loop (`dualopu.cost.reference`), and the
  ratio "vectorized vs naive loop"; the two must give identical numbers (checked here).

Usage: ``python benchmarks/bench_cost.py [--out results/cost.json] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dualopu.cost import evaluate
from dualopu.cost.model import CoreParams, core_costs
from dualopu.cost.reference import network_costs_reference
from dualopu.hw.config import Core, CoreType, load_hardware
from dualopu.ir.network import Network
from dualopu.util import write_atomic

PRESETS = ("dual-opu", "single-opu", "tpu-like")


def _network() -> Network:
    from dualopu.ir.zoo import build

    return build("mobilenet_v2")


def _timeit(fn: Callable[[], object], min_time: float = 0.5, min_runs: int = 5) -> float:
    """Median seconds per call over repeated batches lasting at least ``min_time`` in total."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


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
    out: dict[str, Any] = {"model": net.name, "layers": len(net), "total_macs": net.total_macs}

    # whole-network evaluate on each preset (placement, checks, per-core totals)
    out["evaluate_ms"] = {p: 1e3 * _timeit(lambda p=p: evaluate(net, load_hardware(p))) for p in PRESETS}
    hw = load_hardware("single-opu")
    core = hw.cores[0]
    params = CoreParams.of(core)
    single = _timeit(lambda: core_costs(t, params, hw.dram_bytes_per_cycle))
    out["core_costs_single_us"] = 1e6 * single
    out["core_costs_single_evals_per_s"] = 1.0 / single

    n = 1000 if quick else 10_000
    cfg = _configs(n)
    batch = CoreParams.batch(CoreType.UNIFIED, "opu", **cfg)
    batched = _timeit(lambda: core_costs(t, batch, 64.0), min_time=1.0 if not quick else 0.2, min_runs=3)
    out["batched_configs"] = n
    out["batched_seconds"] = batched
    out["batched_configs_per_s"] = n / batched

    # naive per-layer loop on a sample of the same configurations; identical numbers required
    n_naive = 20 if quick else 100
    vec = core_costs(t, batch, 64.0)
    t0 = time.perf_counter()
    worst = 0.0
    for k in range(n_naive):
        ref = network_costs_reference(net, _core(cfg, k), 64.0)
        got = vec.cycles[k]
        want = np.array([r.cycles for r in ref])
        same_inf = np.isinf(got) == np.isinf(want)
        fin = np.isfinite(want)
        assert same_inf.all(), f"config {k}: feasibility differs"
        worst = max(worst, float(np.max(np.abs(got[fin] - want[fin]) / np.maximum(want[fin], 1.0), initial=0.0)))
    naive = (time.perf_counter() - t0) / n_naive
    assert worst < 1e-12, f"vectorized and naive models differ by {worst:.3g}"
    out["naive_configs_per_s"] = 1.0 / naive
    out["naive_seconds_per_config"] = naive
    out["max_rel_diff_vectorized_vs_naive"] = worst
    out["speedup_single_vs_naive"] = naive / single
    out["speedup_batched_vs_naive"] = naive / (batched / n)
    out["target_evaluate_under_1ms"] = bool(max(out["evaluate_ms"].values()) < 1.0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "cost.json"))
    ap.add_argument("--quick", action="store_true", help="1,000 batched configurations, fewer naive runs")
    args = ap.parse_args()
    res = bench(args.quick)
    write_atomic(args.out, json.dumps(res, indent=2) + "\n")
    ev = ", ".join(f"{k} {v:.3f} ms" for k, v in res["evaluate_ms"].items())
    print(f"MobileNetV2 ({res['layers']} layers) evaluate: {ev}")
    print(f"core_costs one config: {res['core_costs_single_us']:.0f} us ({res['core_costs_single_evals_per_s']:,.0f}/s); "
          f"batched {res['batched_configs']:,} configs: {res['batched_seconds'] * 1e3:.1f} ms "
          f"({res['batched_configs_per_s']:,.0f} configs/s)")
    print(f"naive per-layer loop: {res['naive_configs_per_s']:,.0f} configs/s; vectorized vs naive: "
          f"x{res['speedup_single_vs_naive']:.1f} single, x{res['speedup_batched_vs_naive']:,.0f} batched; "
          f"max rel diff {res['max_rel_diff_vectorized_vs_naive']:.1e}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
