"""The bridge: every built-in network (and a mix) scheduled at 64 images on dual-opu, then
re-timed on the event-driven multi-core cycle simulator. Writes JSON with the scheduler's
makespan, the simulated one, the lower bound and the times taken.

Usage: ``python benchmarks/bench_bridge.py [--images 64] [--out results/bridge.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dualopu.flows import simulate_schedule
from dualopu.hw import load_hardware
from dualopu.ir.zoo import build, list_zoo
from dualopu.sched import Workload, build_task_graph, schedule, validate

MIX = ("mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--hw", default="dual-opu")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bridge.json"))
    args = ap.parse_args()
    hw = load_hardware(args.hw)
    rows = []
    for names in [(n,) for n in list_zoo()] + [MIX]:
        w = Workload.mix([(build(n), args.images) for n in names])
        g = build_task_graph(w, hw)
        t0 = time.perf_counter()
        s = schedule(w, hw, graph=g)
        t1 = time.perf_counter()
        validate(s, w, hw, g)
        t2 = time.perf_counter()
        r = simulate_schedule(s, w, hw, g)
        t3 = time.perf_counter()
        row = {
            "workload": "+".join(names),
            "images_each": args.images,
            "tasks": len(g),
            **r.to_dict(),
            "makespan_at_least_bound": r.makespan_cycles >= r.lower_bound_cycles * (1 - 1e-9),
            "simulated_at_least_bound": r.simulated_makespan_cycles >= r.lower_bound_cycles * (1 - 1e-9),
            "schedule_s": t1 - t0,
            "validate_s": t2 - t1,
            "simulate_s": t3 - t2,
        }
        rows.append(row)
        print(
            f"{row['workload']:45s} sched {row['makespan_cycles']:>14,.0f} sim {row['simulated_makespan_cycles']:>14,.0f} "
            f"bound {row['lower_bound_cycles']:>14,.0f} sim/sched {row['simulated_vs_scheduled']:+.2%}",
            flush=True,
        )
    out = {
        "hardware": hw.name,
        "rows": rows,
        "max_abs_gap": max(abs(r["simulated_vs_scheduled"]) for r in rows),
        "all_within_3_percent": all(abs(r["simulated_vs_scheduled"]) <= 0.03 for r in rows),
        "all_at_least_bound": all(
            r["makespan_at_least_bound"] and r["simulated_at_least_bound"] for r in rows
        ),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(
        f"max |sim/sched - 1| = {out['max_abs_gap']:.2%}; within 3%: {out['all_within_3_percent']}; "
        f"makespans >= bound: {out['all_at_least_bound']}"
    )


if __name__ == "__main__":
    main()
