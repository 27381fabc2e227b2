"""Sweep: the 2 areas x 2 bandwidths x 2 workloads x 2 families grid on local processes vs a
2-worker Dask LocalCluster (wall seconds, same table), and the 1-, 2- and 3-core families
per network and mix at the dual-opu area. Writes JSON.

Usage: ``python benchmarks/bench_sweep.py [--out results/sweep.json]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from dualopu.tune.sweep import load_grid, sweep

GRID = {
    "area_scales": [0.75, 1.0],
    "dram_bytes_per_cycle": [32.0, 64.0],
    "workloads": ["mobilenet_v2", "mobilenet_v2+shufflenet_v2_x1_0+squeezenet1_1"],
    "families": ["regular,depthwise", "unified"],
}
CORES = {
    "workloads": [
        "mobilenet_v2",
        "efficientnet_b0",
        "mobilenet_v2+shufflenet_v2_x1_0+squeezenet1_1",
        "mobilenet_v3_large+efficientnet_b0+mnasnet1_0",
    ],
    "families": ["unified", "regular,depthwise", "regular,regular,depthwise", "regular,depthwise,unified"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "sweep.json"))
    args = ap.parse_args()
    from distributed import LocalCluster

    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as d:
        grid = load_grid(None, **GRID)
        t0 = time.perf_counter()
        local = sweep(grid, Path(d) / "local")
        t_local = time.perf_counter() - t0
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            t1 = time.perf_counter()
            remote = sweep(grid, Path(d) / "dask", executor=cluster.scheduler_address)
            t_dask = time.perf_counter() - t1
        same = (Path(d) / "local" / "sweep.csv").read_text() == (Path(d) / "dask" / "sweep.csv").read_text()
        result["grid_2x2x2x2"] = {
            "points": len(local),
            "local_s": t_local,
            "dask_2_workers_s": t_dask,
            "same_table": same,
            "computed": [local.attrs["computed"], remote.attrs["computed"]],
        }
        t2 = time.perf_counter()
        cores = sweep(load_grid(None, **CORES), Path(d) / "cores")
        result["cores"] = {
            "seconds": time.perf_counter() - t2,
            "table": cores[["workload", "family", "throughput_ips", "core_busy_fraction", "design"]].to_dict(
                orient="records"
            ),
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
