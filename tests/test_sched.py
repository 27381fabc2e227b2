"""Scheduler: validity on random DAGs, lower bound, corrupted schedules, concurrency gain, CP-SAT gap."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualopu.errors import ScheduleError
from dualopu.hw import load_hardware
from dualopu.ir import LayerKind
from dualopu.ir.zoo import LIGHTWEIGHT, Builder, build
from dualopu.sched import Schedule, Workload, build_task_graph, lower_bound, schedule, steady_state, validate

DUAL = load_hardware("dual-opu")


@st.composite
def random_networks(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    """Random DAGs of conv / depthwise / add / concat layers with random shapes."""
    c0 = draw(st.sampled_from([8, 16, 32]))
    hw = draw(st.sampled_from([8, 14, 28]))
    b = Builder("rand", (1, 3, hw * 2, hw * 2))
    names = [b.conv("stem", "input", c0, 3, 2)]
    for i in range(draw(st.integers(2, 12))):
        op = draw(st.sampled_from(["pw", "dw", "conv", "add", "concat"]))
        x = draw(st.sampled_from(names))
        c = b.channels(x)
        if op == "pw":
            names.append(b.conv(f"l{i}", x, draw(st.sampled_from([8, 16, 24, 48])), 1))
        elif op == "dw":
            names.append(b.conv(f"l{i}", x, c, draw(st.sampled_from([3, 5])), 1, g=c))
        elif op == "conv":
            names.append(b.conv(f"l{i}", x, draw(st.sampled_from([8, 16])), 3))
        else:
            same = [n for n in names if b.shapes[n] == b.shapes[x] and n != x]
            if not same:
                continue
            y = draw(st.sampled_from(same))
            names.append(
                b.eltwise(f"l{i}", LayerKind.ADD, x, y) if op == "add" else b.concat(f"l{i}", [x, y])
            )
    return b.build()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    net=random_networks(),
    images=st.integers(1, 6),
    method=st.sampled_from(["heuristic", "sequential"]),
    contention=st.booleans(),
    hw_name=st.sampled_from(["dual-opu", "single-opu"]),
)
def test_random_dags_valid_and_above_bound(
    net, images: int, method: str, contention: bool, hw_name: str
) -> None:  # type: ignore[no-untyped-def]
    hw = load_hardware(hw_name)
    w = Workload.single(net, images)
    s = schedule(w, hw, method, contention=contention)
    validate(s, w, hw)
    assert s.makespan_cycles >= lower_bound(w, hw, contention=contention).cycles * (1 - 1e-9)
    assert s.lower_bound_cycles == lower_bound(w, hw, contention=contention).cycles


def _corruptions(s: Schedule) -> dict[str, Schedule]:
    busy = np.flatnonzero(s.end - s.start > 0)
    a, b = busy[0], busy[1]
    start = s.start.copy()
    start[b] = s.start[a]  # two tasks of one core at once, or a broken dependency
    end = s.end.copy()
    end[b] = start[b] + (s.end[b] - s.start[b])
    shorter = s.end.copy()
    shorter[a] = s.start[a] + 0.5 * (s.end[a] - s.start[a])
    dup_layer = s.layer.copy()
    dup_layer[1] = dup_layer[0]
    return {
        "overlap/dependency": dataclasses.replace(s, start=start, end=end),
        "shorter than cost": dataclasses.replace(s, end=shorter),
        "missing task": dataclasses.replace(
            s,
            net=s.net[1:],
            image=s.image[1:],
            layer=s.layer[1:],
            core=s.core[1:],
            start=s.start[1:],
            end=s.end[1:],
        ),
        "duplicate task": dataclasses.replace(s, layer=dup_layer),
        "wrong core": dataclasses.replace(s, core=np.where(s.core == 0, 1, 0)),
    }


@pytest.mark.parametrize(
    "kind", ["overlap/dependency", "shorter than cost", "missing task", "duplicate task", "wrong core"]
)
def test_validator_rejects_corrupted(kind: str) -> None:
    net = build("mobilenet_v2", (1, 3, 64, 64))
    w = Workload.single(net, 3)
    s = schedule(w, DUAL)
    validate(s, w, DUAL)
    with pytest.raises(ScheduleError):
        validate(_corruptions(s)[kind], w, DUAL)


@pytest.mark.parametrize("name", LIGHTWEIGHT)
def test_concurrent_images_beat_sequential(name: str) -> None:
    w = Workload.single(build(name), 16)
    concurrent = schedule(w, DUAL)
    sequential = schedule(w, DUAL, "sequential")
    validate(concurrent, w, DUAL)
    assert concurrent.throughput_ips > 1.05 * sequential.throughput_ips


def test_mix_near_bound_without_contention() -> None:
    w = Workload.mix([(build(n), 8) for n in ("mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_1")])
    s = schedule(w, DUAL, contention=False)
    validate(s, w, DUAL)
    assert s.fraction_of_bound > 0.95


def test_cpsat_optimal_and_heuristic_gap() -> None:
    w = Workload.single(build("mobilenet_v3_small", (1, 3, 64, 64)), 2)
    exact = schedule(w, DUAL, "cpsat", time_limit_s=30)
    heur = schedule(w, DUAL, contention=False)
    validate(exact, w, DUAL)
    assert exact.status in ("OPTIMAL", "FEASIBLE")
    assert exact.makespan_cycles >= lower_bound(w, DUAL).cycles - 1
    if exact.status == "OPTIMAL":
        assert heur.makespan_cycles <= 1.05 * exact.makespan_cycles + len(
            exact.start
        )  # rounding to whole cycles


def test_steady_state_period_between_bound_and_sequential() -> None:
    w = Workload.single(build("mobilenet_v2"), 1)
    ss = steady_state(w, DUAL, rounds=16)
    assert ss.bound_cycles <= ss.period_cycles * 1.001
    assert ss.period_cycles < schedule(w, DUAL, "sequential").makespan_cycles


def test_schedule_json_roundtrip() -> None:
    w = Workload.single(build("mobilenet_v2", (1, 3, 64, 64)), 2)
    s = schedule(w, DUAL)
    back = Schedule.from_json(s.to_json())
    validate(back, w, DUAL)
    assert back.makespan_cycles == s.makespan_cycles
    with pytest.raises(ScheduleError):
        Schedule.from_json('{"tasks": 3}')


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualopu.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_schedule_outputs(tmp_path: Path) -> None:
    res = run(
        "schedule",
        "mobilenet_v2,squeezenet1_1",
        "--hw",
        "dual-opu",
        "--images",
        "3",
        "--json",
        "--gantt",
        str(tmp_path / "g.html"),
        "--gantt-png",
        str(tmp_path / "g.png"),
        "--trace",
        str(tmp_path / "t.json"),
        "-o",
        str(tmp_path / "s.json"),
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    for key in ("makespan_cycles", "throughput_ips", "lower_bound_cycles", "core_utilization", "method"):
        assert key in data
    assert data["makespan_cycles"] >= data["lower_bound_cycles"]
    assert "plotly" in (tmp_path / "g.html").read_text()[:100000].lower()
    trace = json.loads((tmp_path / "t.json").read_text())
    assert any(e["ph"] == "X" for e in trace["traceEvents"])
    ok = run("validate", str(tmp_path / "s.json"), "--models", "mobilenet_v2,squeezenet1_1", "--images", "3")
    assert ok.returncode == 0, ok.stderr
    bad = run("validate", str(tmp_path / "s.json"), "--models", "mobilenet_v2", "--images", "3")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def test_cli_schedule_bad_method() -> None:
    res = run("schedule", "mobilenet_v2", "--method", "magic", "--images", "1")
    assert res.returncode == 2 and "magic" in res.stderr and "Traceback" not in res.stderr


def test_fluid_stretched_task_speeds_up_again() -> None:
    """Two tasks share a port of 1 byte/cycle: A (10 cycles at rate 1) and B (4 cycles at rate 1)
    start together, each gets half until B ends at 8; A then runs at full speed and ends at
    14 (a stretch fixed at its start would end it at 20)."""
    from dualopu.sched.fluid import replay

    end, _, _ = replay(np.array([0, 1]), np.zeros(2), np.array([10.0, 4.0]), np.array([1.0, 1.0]), 1.0, 2)
    np.testing.assert_allclose(end, [14.0, 8.0])


def test_contention_free_bound_has_no_dram_term() -> None:
    """Without the DRAM port in the model, bytes / bandwidth is no bound (a schedule may beat it)."""
    w = Workload.single(build("mobilenet_v2", (1, 3, 64, 64)), 2)
    free, aware = lower_bound(w, DUAL, contention=False), lower_bound(w, DUAL)
    assert free.dram == 0.0 and aware.dram > 0.0
    assert free.cycles <= aware.cycles


def test_validate_refuses_unknown_format(tmp_path: Path) -> None:
    w = Workload.single(build("squeezenet1_1", (1, 3, 64, 64)), 1)
    d = json.loads(schedule(w, DUAL).to_json())
    d["format"] = "dualopu-schedule/999"
    f = tmp_path / "s.json"
    f.write_text(json.dumps(d))
    res = run("validate", str(f), "--models", "squeezenet1_1", "--images", "1", "--input-shape", "1x3x64x64")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "format" in res.stderr


@settings(max_examples=200, deadline=None)
@given(d=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=4), bw=st.floats(1.0, 100.0))
def test_fair_speeds_is_max_min_fair(d: list[float], bw: float) -> None:
    """Granted rates never exceed the port or a task's demand; a slowed task gets at least as
    much as any other task (max-min fairness); the port is full whenever someone is slowed."""
    from dualopu.sched.fluid import fair_speeds

    sp = fair_speeds(d, bw)
    got = [s * x for s, x in zip(sp, d)]
    assert sum(got) <= bw * (1 + 1e-9) + 1e-9
    assert all(0.0 < s <= 1.0 + 1e-12 for s in sp)
    slowed = [i for i, s in enumerate(sp) if s < 1.0 - 1e-12]
    if slowed:
        assert sum(got) == pytest.approx(bw, rel=1e-9)
        for i in slowed:
            assert all(got[i] >= g - 1e-9 * bw for g in got)


@pytest.mark.parametrize("name", ["mobilenet_v2", "shufflenet_v2_x1_0"])
def test_port_phases_run_at_the_port_rate(name: str) -> None:
    """The fluid model's first and last phases (`sched.graph._ends`) move the task's loads
    and stores at the port's full rate, so the time a DMA engine waits on burst latency is
    not counted as bandwidth use; the two phases leave at least half of every task."""
    g = build_task_graph(Workload.single(build(name, (1, 3, 96, 96)), 1), DUAL)
    bw = DUAL.dram_bytes_per_cycle
    ok = np.isfinite(g.cost) & (g.cost > 0)
    for cyc, byt in ((g.head_cycles, g.head_bytes), (g.end_cycles, g.end_bytes)):
        busy = ok & (cyc > 0)
        assert busy.any()
        np.testing.assert_allclose(byt[busy] / cyc[busy], bw, rtol=1e-9)
    assert (g.head_cycles + g.end_cycles <= 0.5 * np.where(ok, g.cost, 0.0) + 1e-9).all()
    assert (g.head_bytes + g.end_bytes <= g.dram_bytes * (1 + 1e-12) + 1e-9).all()
    # a task whose port time fits in half of it moves all its bytes in the two phases
    fits = ok & (g.dram_bytes / bw <= 0.5 * np.where(ok, g.cost, np.inf))
    assert fits.any()
    np.testing.assert_allclose((g.head_bytes + g.end_bytes)[fits], g.dram_bytes[fits], rtol=1e-9)
