"""Tuner: brute-force optimum, resume after a kill, Dask = local, bad budgets and stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dualopu.cost import evaluate
from dualopu.errors import TuneError
from dualopu.hw import total_area
from dualopu.ir.zoo import build
from dualopu.tune import template_for, tune

NET = build("mobilenet_v2", (1, 3, 96, 96))
SMALL = {"pe_counts": {"regular": [16, 32, 48], "depthwise": [4, 8, 16]},
         "input_sizes": {"regular": [8, 16], "depthwise": [8, 9, 16]}}


def brute_force(budget: float) -> tuple[float, tuple[tuple[int, int], ...]]:
    """Independent check: evaluate() every configuration in a plain loop."""
    template = template_for("regular,depthwise")
    best = (np.inf, ())
    for pr in SMALL["pe_counts"]["regular"]:
        for ir in SMALL["input_sizes"]["regular"]:
            for pd_ in SMALL["pe_counts"]["depthwise"]:
                for id_ in SMALL["input_sizes"]["depthwise"]:
                    hw = template.replace_core(0, pe_count=pr, input_size=ir).replace_core(1, pe_count=pd_,
                                                                                           input_size=id_)
                    if total_area(hw) > budget:
                        continue
                    period = evaluate(NET, hw).period_bound_cycles
                    if period < best[0]:
                        best = (period, ((pr, ir), (pd_, id_)))
    return best  # type: ignore[return-value]


def test_finds_brute_force_optimum() -> None:
    budget = 1500.0
    period, cfg = brute_force(budget)
    res = tune([NET], budget, confirm_top=1, **SMALL)  # type: ignore[arg-type]
    got = tuple((c.pe_count, c.input_size) for c in res.best.cores)
    assert got == cfg
    assert res.bound_ips == pytest.approx(200e6 / period, rel=1e-9)
    assert res.evaluated == 3 * 2 * 3 * 3
    assert total_area(res.best) <= budget


def test_infeasible_budget_names_smallest_area() -> None:
    with pytest.raises(TuneError, match="smallest feasible area"):
        tune([NET], 50.0, **SMALL)  # type: ignore[arg-type]


def test_unified_and_systolic_tune_under_same_budget() -> None:
    budget = total_area(template_for("regular,depthwise"))
    for cores in ("unified", "unified:systolic"):
        res = tune([NET], budget, cores, confirm_top=2)
        assert total_area(res.best) <= budget
        assert res.throughput_ips > 0


def test_optuna_close_to_exhaustive() -> None:
    ex = tune([NET], 1977.6, confirm_top=1)
    op = tune([NET], 1977.6, method="optuna", trials=150, seed=1, confirm_top=1)
    assert op.bound_ips >= 0.85 * ex.bound_ips
    assert op.bound_ips <= ex.bound_ips * (1 + 1e-9)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dualopu.cli", "tune", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def test_resume_after_kill_same_result_no_duplicates(tmp_path: Path) -> None:
    args = ["mobilenet_v3_small", "--quiet", "--json", "--chunk-size", "4096"]
    ref = _cli(*args, "--out", str(tmp_path / "ref"))
    ref_out, _ = ref.communicate(timeout=300)
    killed = _cli(*args, "--out", str(tmp_path / "run"), env={"DUALOPU_TUNE_THROTTLE_S": "0.1"})
    db = tmp_path / "run" / "tune.db"
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until some chunks are stored, then kill mid-run
        time.sleep(0.3)
        if db.exists():
            import sqlite3

            try:
                n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            except sqlite3.Error:
                n = 0
            if n >= 3:
                break
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert killed.returncode != 0
    resumed = _cli(*args, "--out", str(tmp_path / "run"), "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    a, b = json.loads(ref_out), json.loads(out)
    assert a["best"] == b["best"] and a["evaluated"] == b["evaluated"]
    points = pd.read_csv(tmp_path / "run" / "points.csv")
    assert not points["config"].duplicated().any()
    assert len(points) == a["evaluated"]


def test_refuses_existing_and_corrupt_store(tmp_path: Path) -> None:
    (tmp_path / "tune.db").write_text("not sqlite at all")
    with pytest.raises(TuneError, match=r"corrupt|not a dualopu"):
        tune([NET], 1977.6, out=tmp_path, resume=True, **SMALL)  # type: ignore[arg-type]
    assert (tmp_path / "tune.db").read_text() == "not sqlite at all"
    tune([NET], 1977.6, out=tmp_path / "ok", **SMALL)  # type: ignore[arg-type]
    with pytest.raises(TuneError, match="--resume"):
        tune([NET], 1977.6, out=tmp_path / "ok", **SMALL)  # type: ignore[arg-type]
    with pytest.raises(TuneError, match="differs"):
        tune([NET], 1500.0, out=tmp_path / "ok", resume=True, **SMALL)  # type: ignore[arg-type]


def test_dask_executor_matches_local(tmp_path: Path) -> None:
    from distributed import LocalCluster

    local = tune([NET], 1977.6, out=tmp_path / "local", chunk_size=8192)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        addr = cluster.scheduler_address.removeprefix("tcp://")
        remote = tune([NET], 1977.6, out=tmp_path / "dask", chunk_size=8192, executor=f"dask://{addr}")
    assert [c.model_dump() for c in remote.best.cores] == [c.model_dump() for c in local.best.cores]
    a = pd.read_csv(tmp_path / "local" / "points.csv").sort_values("config").reset_index(drop=True)
    b = pd.read_csv(tmp_path / "dask" / "points.csv").sort_values("config").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_cli_writes_outputs(tmp_path: Path) -> None:
    proc = _cli("squeezenet1_1,mobilenet_v2", "--json", "--quiet", "--out", str(tmp_path))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    data = json.loads(out)
    for key in ("throughput_ips", "area", "budget", "evaluated", "best_hw"):
        assert key in data
    assert data["area"] <= data["budget"]
    from dualopu.hw import load_hardware

    load_hardware(data["best_hw"])
    assert (tmp_path / "points.csv").exists() and (tmp_path / "tune.png").exists()
