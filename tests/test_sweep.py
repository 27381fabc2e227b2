"""Sweep: same table locally and on Dask, SIGKILL then resume (nothing repeated or lost), grid errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dualopu.errors import TuneError
from dualopu.tune.sweep import load_grid, sweep

#: 2 areas x 2 bandwidths x 2 workloads x 2 families, small images so the test stays short.
GRID = {
    "area_scales": [0.75, 1.0],
    "dram_bytes_per_cycle": [32.0, 64.0],
    "workloads": ["mobilenet_v3_small", "squeezenet1_1+mobilenet_v3_small"],
    "families": ["regular,depthwise", "unified"],
    "input_shape": "1x3x64x64",
    "images": 2,
    "confirm_top": 3,
}


def _table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "sweep.csv")


@pytest.mark.slow
def test_sweep_same_table_locally_and_on_dask(tmp_path: Path) -> None:
    """The 16-point table from local processes equals the one from a 2-worker Dask LocalCluster
    (independent of where the points run; cannot catch an error both paths share)."""
    from distributed import LocalCluster

    grid = load_grid(None, **GRID)
    local = sweep(grid, tmp_path / "local")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = sweep(grid, tmp_path / "dask", executor=cluster.scheduler_address)
    assert len(local) == 16
    pd.testing.assert_frame_equal(_table(tmp_path / "local"), _table(tmp_path / "dask"))
    assert local.attrs["computed"] == remote.attrs["computed"] == 16


@pytest.mark.slow
def test_sweep_sigkill_then_resume_nothing_repeated_or_lost(tmp_path: Path) -> None:
    out = tmp_path / "s"
    args = [
        sys.executable,
        "-m",
        "dualopu.cli",
        "sweep",
        "--workloads",
        "mobilenet_v3_small;squeezenet1_1",
        "--families",
        "regular,depthwise;unified",
        "--areas",
        "0.75;1",
        "--drams",
        "64",
        "--input-shape",
        "1x3x64x64",
        "--images",
        "2",
        "--confirm-top",
        "3",
        "--out",
        str(out),
        "--quiet",
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=dict(os.environ)
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if len(list((out / "points").glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes
    proc.wait(timeout=30)
    kept = {p.name for p in (out / "points").glob("*.json")}
    assert 0 < len(kept) < 8, "the kill should land mid-sweep"
    assert not (out / "sweep.csv").exists()
    res = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    run = json.loads((out / "run.json").read_text())
    assert run == {"points": 8, "computed": 8 - len(kept), "reused": len(kept)}
    table = _table(out)
    assert len(table) == 8
    assert not table.duplicated(["workload", "family", "area_scale", "dram_bytes_per_cycle"]).any()
    res = subprocess.run(args, capture_output=True, text=True, timeout=60)  # without --resume: refused
    assert res.returncode == 2 and "--resume" in res.stderr


def test_grid_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(TuneError, match="area_scales"):
        load_grid(None, workloads=["mobilenet_v2"], area_scales=[-1.0])
    with pytest.raises(TuneError, match="workloads"):
        load_grid(None)
    bad = tmp_path / "g.yaml"
    bad.write_text("workloads: [mobilenet_v2]\nfamilies: []\n")
    with pytest.raises(TuneError, match="families"):
        load_grid(bad)
