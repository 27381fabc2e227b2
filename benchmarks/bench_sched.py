"""Scheduler: throughput vs the lower bound per network (64 images, dual-opu), mixes,
CP-SAT gap on small workloads, and tasks/s on 1,000 MobileNetV2 images. Writes JSON.

Usage: ``python benchmarks/bench_sched.py [--out results/sched.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dualopu.hw import load_hardware
from dualopu.ir.zoo import LIGHTWEIGHT, build
from dualopu.sched import Workload, schedule, validate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "sched.json"))
    args = ap.parse_args()
    hw = load_hardware("dual-opu")
    per_net = []
    for name in LIGHTWEIGHT:
        w = Workload.single(build(name), 64)
        row = {"network": name}
        for contention in (True, False):
            s = schedule(w, hw, contention=contention)
            validate(s, w, hw)
            row[f"fraction_of_bound{'' if contention else '_no_contention'}"] = s.fraction_of_bound
        row["sequential_fraction_of_bound"] = schedule(w, hw, "sequential").fraction_of_bound
        per_net.append(row)
    mixes = []
    for names in (
        ["mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_1"],
        ["mobilenet_v3_large", "efficientnet_b0", "mnasnet1_0"],
    ):
        w = Workload.mix([(build(n), 16) for n in names])
        s, s0 = schedule(w, hw), schedule(w, hw, contention=False)
        mixes.append(
            {
                "mix": "+".join(names),
                "fraction_of_bound": s.fraction_of_bound,
                "fraction_of_bound_no_contention": s0.fraction_of_bound,
            }
        )
    cpsat = []
    for name in ("mobilenet_v3_small", "mobilenet_v2", "shufflenet_v2_x1_0"):
        w = Workload.single(build(name, (1, 3, 96, 96)), 2)
        exact = schedule(w, hw, "cpsat", time_limit_s=30)
        heur = schedule(w, hw, contention=False)
        cpsat.append(
            {
                "network": name,
                "images": 2,
                "status": exact.status,
                "cpsat_makespan": exact.makespan_cycles,
                "heuristic_makespan": heur.makespan_cycles,
                "heuristic_gap": heur.makespan_cycles / exact.makespan_cycles - 1,
            }
        )
    w = Workload.single(build("mobilenet_v2"), 1000)
    t0 = time.perf_counter()
    big = schedule(w, hw)
    dt = time.perf_counter() - t0
    result = {
        "hardware": hw.name,
        "images": 64,
        "per_network": per_net,
        "mixes": mixes,
        "cpsat": cpsat,
        "mobilenet_v2_1000_images": {
            "tasks": len(big.start),
            "seconds": dt,
            "tasks_per_s": len(big.start) / dt,
            "target_seconds": 2.0,
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
