"""Dask failure paths of `dualopu sweep --executor`, each on a real LocalCluster of worker processes.

Workers that cannot import dualopu, an unreachable scheduler and workers that keep dying give one
error line and exit 2; a worker killed mid-job has its point retried and the table is complete.
The CLI runs as a child process (as a user runs it); the cluster lives in the test process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

#: Worker preload that makes ``dualopu`` unimportable in that worker (as on a machine without it).
HIDE_DUALOPU = """
import importlib.abc
import sys


class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "dualopu" or name.startswith("dualopu."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


for _m in [m for m in sys.modules if m == "dualopu" or m.startswith("dualopu.")]:
    del sys.modules[_m]
sys.meta_path.insert(0, _Hide())
"""

#: Seconds allowed for one CLI run against the cluster.
CLI_TIMEOUT_S = 240
#: Points of the small sweeps below (2 workloads x 1 family x 1 area x 1 DRAM).
SMALL_POINTS = 2


def _sweep_args(out: Path, address: str, workloads: str = "mobilenet_v3_small;squeezenet1_1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "dualopu.cli",
        "sweep",
        "--workloads",
        workloads,
        "--families",
        "regular,depthwise",
        "--areas",
        "1",
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
        "--executor",
        address.replace("tcp://", "dask://"),
    ]


def _env() -> dict[str, str]:
    """The child's environment: this test's dualopu first on the path; no colour codes in stderr."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    return env


def _error_lines(stderr: str) -> list[str]:
    """The lines a user reads on stderr (the CLI's own; no traceback may be among them)."""
    return [ln for ln in stderr.splitlines() if ln.strip()]


def _assert_one_error_line(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = _error_lines(res.stderr)
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def quiet_dask() -> Iterator[None]:
    """Keep the cluster's own error logs (expected in these tests) out of the test output."""
    import logging

    loggers = [logging.getLogger(n) for n in ("distributed", "distributed.nanny", "distributed.scheduler")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    yield
    for lg, lvl in zip(loggers, old, strict=True):
        lg.setLevel(lvl)


def test_unreachable_scheduler_one_line_exit_2(tmp_path: Path) -> None:
    """Nothing listens on the port: one line naming the address, exit 2, no table written."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    res = subprocess.run(
        _sweep_args(tmp_path / "s", address),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=_env(),
    )
    _assert_one_error_line(res, "cannot reach the Dask scheduler", address)
    assert not (tmp_path / "s" / "sweep.csv").exists()


def test_tune_unreachable_scheduler_one_line_exit_2(tmp_path: Path) -> None:
    """`dualopu tune --executor` takes the same path as sweep."""
    address = f"dask://127.0.0.1:{_free_port()}"
    args = [
        sys.executable,
        "-m",
        "dualopu.cli",
        "tune",
        "mobilenet_v3_small",
        "--input-shape",
        "1x3x64x64",
        "--images",
        "2",
        "--confirm-top",
        "3",
        "--out",
        str(tmp_path / "t"),
        "--quiet",
        "--executor",
        address,
    ]
    res = subprocess.run(args, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, env=_env())
    _assert_one_error_line(res, "cannot reach the Dask scheduler")


def test_workers_without_dualopu_one_line_exit_2(tmp_path: Path, quiet_dask: None) -> None:
    """Worker processes that cannot import dualopu: one line saying so, exit 2, no point written."""
    from distributed import LocalCluster

    hide = tmp_path / "hide_dualopu.py"
    hide.write_text(HIDE_DUALOPU)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, preload=[str(hide)]
    ) as cluster:
        res = subprocess.run(
            _sweep_args(tmp_path / "s", cluster.scheduler_address),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            env=_env(),
        )
    _assert_one_error_line(res, "cannot import dualopu", "install it on every worker")
    assert not list((tmp_path / "s" / "points").glob("*.json"))


def _kill_worker_mid_job(cluster: object, client: object, proc: subprocess.Popen[str]) -> str:
    """SIGKILL the worker process that is running a point; return the point's task key."""
    deadline = time.time() + CLI_TIMEOUT_S
    while time.time() < deadline and proc.poll() is None:
        busy = {w: keys for w, keys in client.processing().items() if keys}  # type: ignore[attr-defined]
        if busy:
            # the task must be executing on the worker, not only assigned to it
            address = next(iter(busy))
            executing = client.run(  # type: ignore[attr-defined]
                lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing], workers=[address]
            ).get(address, [])
            if executing:
                pid = client.run(os.getpid, workers=[address])[address]  # type: ignore[attr-defined]
                os.kill(pid, signal.SIGKILL)
                return executing[0]
        time.sleep(0.05)
    raise AssertionError(f"no point started on the cluster (CLI rc={proc.poll()}, stderr={proc.stderr})")


def _suspicious(cluster: object, key: str, timeout_s: float = 30.0) -> int:
    """How often the scheduler saw ``key``'s worker die while it ran (waits for it to notice)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        ts = cluster.scheduler.tasks.get(key)  # type: ignore[attr-defined]
        if ts is None:
            return -1  # already finished and released: the kill came too late
        if ts.suspicious:
            return int(ts.suspicious)
        time.sleep(0.05)
    return 0


def test_lost_worker_point_is_retried_and_table_complete(tmp_path: Path, quiet_dask: None) -> None:
    """A worker killed mid-point: the scheduler reschedules the point, the CLI exits 0 and the
    table holds every point once."""
    from distributed import Client, LocalCluster

    out = tmp_path / "s"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        proc = subprocess.Popen(
            _sweep_args(out, cluster.scheduler_address),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        try:
            key = _kill_worker_mid_job(cluster, client, proc)
            lost = _suspicious(cluster, key)
            _, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert lost >= 1, "the killed worker was running the point"
    assert proc.returncode == 0, stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert run == {"points": SMALL_POINTS, "computed": SMALL_POINTS, "reused": 0}
    rows = json.loads((out / "sweep.json").read_text())
    assert sorted(r["workload"] for r in rows) == ["mobilenet_v3_small", "squeezenet1_1"]
    assert all(r["throughput_ips"] > 0 for r in rows)


def test_workers_that_keep_dying_one_line_exit_2(tmp_path: Path, quiet_dask: None) -> None:
    """With no lost-worker retries allowed (scheduler ``allowed-failures: 0``), a killed worker's
    point fails the sweep: one line, exit 2, the other points' files kept for --resume."""
    import dask
    from distributed import Client, LocalCluster

    out = tmp_path / "s"
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        proc = subprocess.Popen(
            _sweep_args(out, cluster.scheduler_address),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        try:
            _kill_worker_mid_job(cluster, client, proc)
            _, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
    res = subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)
    _assert_one_error_line(res, "Dask workers kept dying")
    assert not (out / "sweep.csv").exists()
