"""The fast list scheduler gives the same schedules as the one before the speed-up (oracle in
tests/oracles/list_schedule_v1.py): start and end arrays equal on several networks, mixes and
processors, with and without DRAM contention, for every variant of the portfolio."""

from __future__ import annotations

import numpy as np
import pytest

from dualopu.hw import load_hardware
from dualopu.ir.zoo import build
from dualopu.sched import Workload, schedule
from dualopu.sched.api import PORTFOLIO_MAX_TASKS
from dualopu.sched.bound import bound_and_split
from dualopu.sched.graph import build_task_graph
from dualopu.sched.heuristic import Options, list_schedule, placement, priority_order, run_list
from dualopu.tune.tuner import template_for
from oracles.list_schedule_v1 import list_schedule as list_schedule_v1

CASES = [
    ("dual-opu", ["mobilenet_v2"], 6),
    ("dual-opu", ["shufflenet_v2_x1_0"], 8),
    ("dual-opu", ["mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_1"], 3),
    ("single-opu", ["efficientnet_b0"], 3),
    ("tpu-like", ["mobilenet_v3_small"], 4),
    ("regular,regular,depthwise", ["mobilenet_v2"], 4),
    ("regular,depthwise,unified", ["mobilenet_v3_small", "squeezenet1_1"], 3),
    ("dram16", ["mobilenet_v2"], 4),
]


def _hardware(name: str):  # type: ignore[no-untyped-def]
    if name == "dram16":
        return template_for("regular,depthwise", dram=16)
    return template_for(name) if "," in name else load_hardware(name)


@pytest.mark.parametrize("hw_name,names,images", CASES)
@pytest.mark.parametrize("contention", [True, False])
def test_same_schedule_as_before(hw_name: str, names: list[str], images: int, contention: bool) -> None:
    hw = _hardware(hw_name)
    w = Workload.mix([(build(n), images) for n in names])
    g = build_task_graph(w, hw)
    _, split = bound_and_split(w, hw, g, contention)
    for pl in ("default", "balanced"):
        core = placement(g, pl, split)
        load = np.bincount(core, weights=g.cost[np.arange(len(g)), core], minlength=g.n_cores)
        for pr in ("rank", "tail"):
            order = priority_order(g, pr)
            for o in (
                Options(priority=pr, placement=pl),
                Options(priority=pr, placement=pl, hold=False),
                Options(lookahead=1, hold=False),
                Options(lookahead=2, slack=1.0),
            ):
                s0, e0 = list_schedule_v1(g, core, order, contention=contention, opts=o, load=load)
                s1, e1 = list_schedule(g, core, order, contention=contention, opts=o, load=load)
                assert np.array_equal(s0, s1) and np.array_equal(e0, e1), (pl, pr, o)


def test_never_held_run_equals_hold_false_run() -> None:
    """The portfolio skips the ``hold=False`` run when the ``hold=True`` run never held: that
    is only exact if the two schedules are then the same."""
    seen = {True: 0, False: 0}
    for hw_name, names, images in CASES:
        hw = _hardware(hw_name)
        w = Workload.mix([(build(n), images) for n in names])
        g = build_task_graph(w, hw)
        core = placement(g, "default", None)
        for pr in ("rank", "tail"):
            order = priority_order(g, pr)
            s1, e1, held = run_list(g, core, order, contention=True, opts=Options(priority=pr))
            s0, e0, held0 = run_list(g, core, order, contention=True, opts=Options(priority=pr, hold=False))
            assert not held0
            seen[held] += 1
            if not held:
                assert np.array_equal(s0, s1) and np.array_equal(e0, e1)
    assert seen[False] > 0  # the exact case is exercised


@pytest.mark.parametrize("names", [["mobilenet_v2"], ["shufflenet_v2_x1_0", "squeezenet1_1"]])
def test_portfolio_keeps_the_best_variant(names: list[str]) -> None:
    """`schedule` keeps the first variant of least makespan of every variant run in full."""
    hw = load_hardware("dual-opu")
    w = Workload.mix([(build(n), 4) for n in names])
    g = build_task_graph(w, hw)
    assert len(g) <= PORTFOLIO_MAX_TASKS
    s = schedule(w, hw, graph=g)
    core = placement(g, "default", None)
    best = None
    for pr in ("rank", "tail"):
        for hold in (True, False):
            _, e = list_schedule_v1(
                g,
                core,
                priority_order(g, pr),
                contention=True,
                opts=Options(priority=pr, hold=hold),
                load=np.bincount(core, weights=g.cost[np.arange(len(g)), core], minlength=g.n_cores),
            )
            if best is None or e.max() < best - 1e-9:
                best = float(e.max())
    assert float(np.max(s.end)) == best
