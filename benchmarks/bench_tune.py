"""Tuner: per built-in network, tuned dual-core vs the untuned dual-opu preset and vs a tuned
single core (scheduled, same images); Optuna vs exhaustive on the pruned space; confirmation
of K = 256 locally and on a 2-worker Dask LocalCluster; the `tune` CLI's CPU profile. JSON out.

Usage: ``python benchmarks/bench_tune.py [--out results/tune.json] [--skip-dask] [--skip-profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dualopu.hw import load_hardware, total_area
from dualopu.ir.zoo import LIGHTWEIGHT, build
from dualopu.tune import tune
from dualopu.tune.tuner import confirm_one

IMAGES = 8


def per_network(budget: float) -> list[dict[str, object]]:
    """Tuned dual vs preset and vs tuned single core, every built-in network, IMAGES images each."""
    rows = []
    preset = load_hardware("dual-opu")
    for name in LIGHTWEIGHT:
        net = build(name)
        t0 = time.perf_counter()
        dual = tune([net], budget, "regular,depthwise", preset=preset, confirm_images=IMAGES)
        single = tune([net], budget, "unified", preset="single-opu", confirm_images=IMAGES)
        preset_ips = confirm_one([net], preset, IMAGES)[0]
        rows.append(
            {
                "network": name,
                "tuned_dual_ips": dual.throughput_ips,
                "preset_dual_ips": preset_ips,
                "tuned_single_ips": single.throughput_ips,
                "dual_over_preset": dual.throughput_ips / preset_ips,
                "dual_over_single": dual.throughput_ips / single.throughput_ips,
                "dual_design": dual.best.description,
                "single_design": single.best.description,
                "seconds": time.perf_counter() - t0,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def optuna_gap(budget: float) -> list[dict[str, object]]:
    out = []
    for name in ("mobilenet_v2", "efficientnet_b0"):
        net = build(name)
        ex = tune([net], budget, method="exhaustive", confirm_top=1)
        op = tune([net], budget, method="optuna", trials=300, seed=0, confirm_top=1)
        out.append(
            {
                "network": name,
                "exhaustive_bound_ips": ex.bound_ips,
                "optuna_bound_ips": op.bound_ips,
                "exhaustive_combinations": ex.evaluated,
                "optuna_trials": 300,
                "optuna_fraction_of_exhaustive": op.bound_ips / ex.bound_ips,
            }
        )
    return out


def dask_vs_local(budget: float) -> dict[str, object]:
    from distributed import LocalCluster

    net = build("mobilenet_v2")
    t0 = time.perf_counter()
    local = tune([net], budget, confirm_top=256)
    t_local = time.perf_counter() - t0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        t1 = time.perf_counter()
        remote = tune([net], budget, confirm_top=256, executor=cluster.scheduler_address)
        t_dask = time.perf_counter() - t1
    return {
        "K": 256,
        "local_s": t_local,
        "dask_2_workers_s": t_dask,
        "same_winner": remote.best == local.best,
        "winner_ips": local.throughput_ips,
    }


def cli_profile() -> dict[str, object]:
    """CPU time of `dualopu tune mobilenet_v2 --like dual-opu --out D`, and the share outside
    search + confirmation (cProfile of the same call in-process, children's CPU counted)."""
    with tempfile.TemporaryDirectory() as d:
        t0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dualopu.cli",
                "tune",
                "mobilenet_v2",
                "--like",
                "dual-opu",
                "--out",
                f"{d}/cli",
                "--quiet",
            ],
            check=True,
            capture_output=True,
        )
        t1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (t1.ru_utime - t0.ru_utime) + (t1.ru_stime - t0.ru_stime)
        written = sum(p.stat().st_size for p in Path(f"{d}/cli").iterdir())
        prof = cProfile.Profile()
        c0 = time.process_time()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        prof.enable()
        from dualopu.cli import app

        try:
            app(
                ["tune", "mobilenet_v2", "--like", "dual-opu", "--out", f"{d}/prof", "--quiet"],
                standalone_mode=False,
            )
        finally:
            prof.disable()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = time.process_time() - c0
        children = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        summary = json.loads(Path(f"{d}/prof/summary.json").read_text())
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(18)
    timings = summary["timings"]
    inside = timings.get("search_s", 0.0) + timings.get("confirm_s", 0.0)
    return {
        "cli_cpu_s": cpu,
        "bytes_written": written,
        "in_process_cpu_s": own + children,
        "confirm_children_cpu_s": children,
        "search_s": timings.get("search_s"),
        "confirm_wall_s": timings.get("confirm_s"),
        "outputs_s": timings.get("outputs_s"),
        "note": "search_s/confirm_wall_s are wall seconds inside tune(); confirmation CPU is in the children",
        "outside_share_estimate": 1 - (timings.get("search_s", 0.0) + children) / max(cpu, 1e-9),
        "inside_wall_s": inside,
        "profile_top": s.getvalue().splitlines()[:40],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "tune.json"))
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--skip-profile", action="store_true")
    ap.add_argument("--skip-networks", action="store_true")
    args = ap.parse_args()
    budget = total_area(load_hardware("dual-opu"))
    result: dict[str, object] = {"budget": budget, "images": IMAGES}
    if not args.skip_profile:
        result["cli_profile"] = cli_profile()
    if not args.skip_networks:
        result["per_network"] = per_network(budget)
    result["optuna_vs_exhaustive"] = optuna_gap(budget)
    if not args.skip_dask:
        result["dask_vs_local"] = dask_vs_local(budget)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "cli_profile"}, indent=2))


if __name__ == "__main__":
    main()
