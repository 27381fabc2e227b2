"""The bridge (`dualopu.flows.simulate_schedule`): schedules re-timed on the multi-core cycle simulator.

What these tests can catch: the scheduler's fluid contention model or its placement
drifting away from what the compiled programs do on the event-driven simulator (the
simulator shares no code with the scheduler's timing: it times instructions and shares the
DRAM port per transfer), a bridge that reorders tasks, a bound that the schedule or the
simulation beats. What they cannot catch: errors shared by the cost model and the compiler
(both read the same tiling), or a simulator that is wrong in the same way as the model.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dualopu.flows import compile_for_schedule, schedule_and_simulate, simulate_schedule
from dualopu.hw import load_hardware
from dualopu.ir.zoo import build, list_zoo
from dualopu.sched import Workload, schedule

DUAL = load_hardware("dual-opu")
#: Target agreement between the scheduler's makespan and the simulated one (issue 11).
AGREEMENT = 0.03


@pytest.mark.parametrize(
    ("name", "shape", "images"), [("mobilenet_v2", (1, 3, 96, 96), 8), ("squeezenet1_1", (1, 3, 64, 64), 4)]
)
def test_small_networks_agree(name: str, shape: tuple[int, int, int, int], images: int) -> None:
    w = Workload.single(build(name, shape), images)
    r = schedule_and_simulate(w, DUAL)
    assert abs(r.relative_gap) <= AGREEMENT
    assert r.makespan_cycles >= r.lower_bound_cycles * (1 - 1e-9)
    assert r.simulated_makespan_cycles >= r.lower_bound_cycles * (1 - 1e-9)


def test_programs_run_the_schedules_placement_and_order() -> None:
    """Every simulated job runs on the core the schedule gives its task, and each core runs
    its jobs in the schedule's order."""
    net = build("mobilenet_v2", (1, 3, 64, 64))
    w = Workload.single(net, 3)
    s = schedule(w, DUAL)
    progs = compile_for_schedule(s, w, DUAL)
    assert len(progs[0]) == 1  # one placement for every image: one program
    np.testing.assert_array_equal([lp.core for lp in progs[0][0][1].layers], s.core[: len(net)])
    r = simulate_schedule(s, w, DUAL, programs=progs)
    order = np.lexsort((s.layer, s.end, s.start))
    task = order[r.sim.job_task]
    np.testing.assert_array_equal(r.sim.job_core, s.core[task])
    for k in range(len(DUAL.cores)):
        on = np.flatnonzero(r.sim.job_core == k)
        sim_order = task[on[np.argsort(r.sim.job_start[on], kind="stable")]]
        sched_order = task[on]  # jobs are listed in schedule order
        np.testing.assert_array_equal(sim_order, sched_order)


def test_cli_reports_three_figures() -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "dualopu.cli",
            "schedule",
            "squeezenet1_1",
            "--hw",
            "dual-opu",
            "--images",
            "4",
            "--input-shape",
            "1x3x64x64",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    for key in ("makespan_cycles", "simulated_makespan_cycles", "lower_bound_cycles"):
        assert d[key] > 0
    assert d["makespan_cycles"] >= d["lower_bound_cycles"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "names", [[n] for n in list_zoo()] + [["mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_1"]]
)
def test_zoo_at_64_images_within_target(names: list[str]) -> None:
    w = Workload.mix([(build(n), 64) for n in names])
    r = schedule_and_simulate(w, DUAL)
    assert abs(r.relative_gap) <= AGREEMENT, r.to_dict()
    assert r.makespan_cycles >= r.lower_bound_cycles * (1 - 1e-9)
    assert r.simulated_makespan_cycles >= r.lower_bound_cycles * (1 - 1e-9)


def test_uncompilable_network_keeps_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A network the compiler refuses gives no simulated figure and a one-line reason, not a crash."""
    import dualopu.flows.schedule_sim as bridge
    from dualopu.errors import ProgramError

    def refuse(*_args: object, **_kw: object) -> None:
        raise ProgramError("layer 'x': cannot compile\nsecond line")

    monkeypatch.setattr(bridge, "compile_network", refuse)
    w = Workload.single(build("squeezenet1_1", (1, 3, 64, 64)), 1)
    out = bridge.simulate_schedule_or_reason(schedule(w, DUAL), w, DUAL)
    assert out == {"simulated_makespan_cycles": None, "simulation_error": "layer 'x': cannot compile"}
