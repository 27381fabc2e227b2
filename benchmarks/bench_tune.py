"""Tuner: configurations/s of the exhaustive vectorized search (7 networks), Optuna vs the
exhaustive optimum, and the reproduced headline ratios (`reproduce --quick`). Writes JSON.

Usage: ``python benchmarks/bench_tune.py [--out results/tune.json]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from dualopu.hw import load_hardware, total_area
from dualopu.ir.zoo import LIGHTWEIGHT, build
from dualopu.report.reproduce import reproduce
from dualopu.tune import build_grid, template_for, tune
from dualopu.tune.split_search import CoreSpace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "tune.json"))
    args = ap.parse_args()
    budget = total_area(load_hardware("dual-opu"))
    nets = [build(n) for n in LIGHTWEIGHT[:7]]
    template = template_for("regular,depthwise")
    spaces = [CoreSpace(c) for c in template.cores]
    t0 = time.perf_counter()
    evaluated = 0
    for net in nets:
        grid = build_grid([net], template, spaces)
        grid.evaluate(0, grid.size)
        evaluated += grid.size
    dt = time.perf_counter() - t0
    gaps = []
    for net in nets[:3]:
        ex = tune([net], budget, confirm_top=1)
        op = tune([net], budget, method="optuna", trials=300, seed=0, confirm_top=1)
        gaps.append({"network": net.name, "exhaustive_bound_ips": ex.bound_ips, "optuna_bound_ips": op.bound_ips,
                     "optuna_trials": 300, "exhaustive_points": ex.evaluated,
                     "optuna_fraction_of_optimum": op.bound_ips / ex.bound_ips})
    with tempfile.TemporaryDirectory() as d:
        t1 = time.perf_counter()
        summary = reproduce(Path(d) / "rep", quick=True)
        quick_s = time.perf_counter() - t1
    result = {
        "exhaustive": {"networks": len(nets), "configurations": evaluated, "seconds": dt,
                       "configurations_per_s": evaluated / dt,
                       "target": "10,000 configurations x 7 networks in under 60 s"},
        "optuna_vs_exhaustive": gaps,
        "reproduce_quick": {"seconds": quick_s, "ours": summary["ours"], "seed": summary["seed"]},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
