"""Issue 17 speed figures, before/after in one run on one machine; JSON out.

* ``sched``: one list-scheduler run on 1,000 MobileNetV2 images on dual-opu (65,000 tasks),
  the old implementation (`tests/oracles/list_schedule_v1.py`) vs this tree's, same inputs,
  same schedule (asserted); and the whole heuristic portfolio (`schedule`) on the workloads a
  tune confirms (8 images of a network or a 3-network mix), this tree only.
* ``reproduce``: CPU (user + system of the process and its worker processes, as
  ``/usr/bin/time`` counts them) of ``dualopu reproduce --quick`` for each ``--tree`` (source
  trees, e.g. a checkout of the commit before the issue-17 work), runs interleaved.
* ``tune``: CPU of ``dualopu tune mobilenet_v2 --like dual-opu --out D`` and the share spent
  outside search and confirmation (from the run's summary.json timings), per tree.

Usage: ``python benchmarks/bench_speed.py [--tree LABEL=SRC ...] [--repeat 2] [--skip-reproduce]
[--skip-tune] [--out results/speed.json]``. CPU times are medians of ``--repeat`` runs; the machine is shared,
so compare trees within one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: The scheduler's benchmark workload (issue 17's profile): images of MobileNetV2 on dual-opu.
SCHED_IMAGES = 1000


def _cli(src: str, args: list[str]) -> float:
    """CPU seconds (user + system, children included) of one `python -m dualopu.cli ARGS` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "dualopu.cli", *args],
        env={**os.environ, "PYTHONPATH": src},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_sched(repeat: int) -> dict[str, object]:
    """Old vs new list scheduler on the same task graph; this tree's portfolio on confirmation workloads."""
    sys.path.insert(0, str(REPO / "tests"))
    import numpy as np

    from dualopu.hw import load_hardware
    from dualopu.ir.zoo import build
    from dualopu.sched import Workload, schedule
    from dualopu.sched.bound import bound_and_split
    from dualopu.sched.graph import build_task_graph
    from dualopu.sched.heuristic import Options, list_schedule, placement, priority_order
    from oracles.list_schedule_v1 import list_schedule as list_schedule_v1

    hw = load_hardware("dual-opu")
    w = Workload.single(build("mobilenet_v2"), SCHED_IMAGES)
    g = build_task_graph(w, hw)
    _, split = bound_and_split(w, hw, g, True)
    core, order = placement(g, "default", split), priority_order(g, "rank")
    load = np.bincount(core, weights=g.cost[np.arange(len(g)), core], minlength=g.n_cores)
    times: dict[str, list[float]] = {"old": [], "new": []}
    results = {}
    for _ in range(repeat):
        for name, fn in (("old", list_schedule_v1), ("new", list_schedule)):
            t0 = time.process_time()
            results[name] = fn(g, core, order, contention=True, opts=Options(), load=load)
            times[name].append(time.process_time() - t0)
    same = all(np.array_equal(a, b) for a, b in zip(results["old"], results["new"]))
    assert same, "the fast list scheduler must give the old schedule"
    old, new = min(times["old"]), min(times["new"])
    confirm = []
    for names in (
        ["mobilenet_v2"],
        ["shufflenet_v2_x1_0"],
        ["mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_1"],
    ):
        wl = Workload.mix([(build(n), 8) for n in names])
        schedule(wl, hw)
        t0 = time.process_time()
        for _ in range(repeat):
            schedule(wl, hw)
        confirm.append(
            {
                "workload": "+".join(names),
                "images_each": 8,
                "schedule_cpu_s": (time.process_time() - t0) / repeat,
            }
        )
    return {
        "tasks": len(g),
        "one_run_cpu_s": {"old": old, "new": new},
        "ratio_old_over_new": old / new,
        "same_schedule": same,
        "portfolio_on_confirmation_workloads": confirm,
    }


def bench_reproduce(trees: dict[str, str], repeat: int) -> dict[str, object]:
    runs: dict[str, list[float]] = {k: [] for k in trees}
    for _ in range(repeat):
        for label, src in trees.items():  # interleaved: the machine's load hits every tree alike
            with tempfile.TemporaryDirectory() as tmp:
                runs[label].append(_cli(src, ["reproduce", "--quick", "--out", str(Path(tmp) / "r")]))
    return {label: {"cpu_s": statistics.median(v), "runs": v} for label, v in runs.items()}


def bench_tune(trees: dict[str, str], repeat: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for label, src in trees.items():
        rows = []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                d = Path(tmp) / "D"
                cpu = _cli(src, ["tune", "mobilenet_v2", "--like", "dual-opu", "--out", str(d)])
                summary = d / "summary.json"  # older trees may not write the CPU timings
                t = json.loads(summary.read_text()).get("timings", {}) if summary.exists() else {}
                if "search_cpu_s" in t and "confirm_cpu_s" in t:
                    inside = float(t["search_cpu_s"]) + float(t["confirm_cpu_s"])
                    rows.append(
                        {
                            "cpu_s": cpu,
                            "search_cpu_s": t["search_cpu_s"],
                            "confirm_cpu_s": t["confirm_cpu_s"],
                            "outside_share": 1 - inside / cpu,
                        }
                    )
                else:
                    rows.append({"cpu_s": cpu})
        shares = [r["outside_share"] for r in rows if "outside_share" in r]
        out[label] = {
            "median_cpu_s": statistics.median(r["cpu_s"] for r in rows),
            "median_outside_share": statistics.median(shares) if shares else None,
            "runs": rows,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", default=[], help="LABEL=SRC source tree (repeatable)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-reproduce", action="store_true")
    ap.add_argument("--skip-tune", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "speed.json"))
    args = ap.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree) or {"this": str(REPO / "src")}
    result: dict[str, object] = {
        "machine": os.uname().machine,
        "cpus": os.cpu_count(),
        "load_avg_start": os.getloadavg(),
        "trees": trees,
        "sched": bench_sched(max(args.repeat, 2)),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.skip_reproduce:
        result["reproduce_quick"] = bench_reproduce(trees, args.repeat)
        out.write_text(json.dumps(result, indent=2) + "\n")  # kept if a later part fails
    if not args.skip_tune:
        result["tune"] = bench_tune(trees, args.repeat)
    result["load_avg_end"] = os.getloadavg()
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
