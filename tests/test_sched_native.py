"""The compiled list-scheduler loop (`dualopu.sched.native`) gives the Python loop's schedules
bitwise: start, end, whether a core held, and where a run stops at a cutoff, on zoo workloads
with the portfolio's orders and with random priority orders and placements."""

from __future__ import annotations

import numpy as np
import pytest

from dualopu.hw import load_hardware
from dualopu.ir.zoo import build
from dualopu.sched import Workload, native
from dualopu.sched.bound import bound_and_split
from dualopu.sched.graph import build_task_graph
from dualopu.sched.heuristic import Options, placement, priority_order, run_list
from dualopu.tune.tuner import template_for

pytestmark = pytest.mark.skipif(native.library() is None, reason="no C compiler: the Python loop runs")

CASES = [
    ("dual-opu", ["mobilenet_v2"], 6),
    ("dual-opu", ["shufflenet_v2_x1_0", "squeezenet1_1"], 4),
    ("single-opu", ["mobilenet_v3_small"], 5),
    ("tpu-like", ["mobilenet_v2"], 3),
    ("dram16", ["mobilenet_v2", "mobilenet_v3_small"], 3),
]


def _hardware(name: str):  # type: ignore[no-untyped-def]
    return template_for("regular,depthwise", dram=16) if name == "dram16" else load_hardware(name)


def _both(monkeypatch: pytest.MonkeyPatch, *args, **kw):  # type: ignore[no-untyped-def]
    fast = run_list(*args, **kw)
    with monkeypatch.context() as m:
        m.setattr(native, "usable", lambda *a: False)
        slow = run_list(*args, **kw)
    return fast, slow


def _same(a, b) -> bool:  # type: ignore[no-untyped-def]
    if a[0] is None or b[0] is None:
        return a[0] is None and b[0] is None and a[2] == b[2]
    return np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


@pytest.mark.parametrize("hw_name,names,images", CASES)
def test_compiled_loop_is_the_python_loop(
    monkeypatch: pytest.MonkeyPatch, hw_name: str, names: list[str], images: int
) -> None:
    hw = _hardware(hw_name)
    w = Workload.mix([(build(n), images) for n in names])
    g = build_task_graph(w, hw)
    _, split = bound_and_split(w, hw, g, True)
    rng = np.random.default_rng(7)
    held_seen = False
    for contention in (True, False):
        for pl in ("default", "balanced"):
            core = placement(g, pl, split)
            load = np.bincount(core, weights=g.cost[np.arange(len(g)), core], minlength=g.n_cores)
            for pr in ("rank", "tail", "random"):
                order = rng.permutation(len(g)) if pr == "random" else priority_order(g, pr)
                for o in (
                    Options(),
                    Options(hold=False),
                    Options(lookahead=1),
                    Options(lookahead=3, slack=1.0),
                ):
                    fast, slow = _both(monkeypatch, g, core, order, contention=contention, opts=o, load=load)
                    assert _same(fast, slow), (contention, pl, pr, o)
                    held_seen |= slow[2]
                    span = float(slow[1].max())
                    for cut in (span, span * 0.5, span + 1.0):  # stopped, stopped early, not stopped
                        f, s = _both(
                            monkeypatch, g, core, order, contention=contention, opts=o, load=load, cutoff=cut
                        )
                        assert _same(f, s), (contention, pl, pr, o, cut)
    if len(hw.cores) == 2:
        assert held_seen  # the hold path was exercised


def test_random_placements(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any feasible placement (tasks on any core that can run them) and order."""
    hw = load_hardware("single-opu")
    dual = load_hardware("dual-opu")
    rng = np.random.default_rng(3)
    for h in (hw, dual):
        w = Workload.mix([(build("mobilenet_v2"), 3), (build("squeezenet1_1"), 2)])
        g = build_task_graph(w, h)
        for _ in range(6):
            ok = np.isfinite(g.cost)
            core = np.array([rng.choice(np.flatnonzero(r)) for r in ok], dtype=np.int64)
            order = rng.permutation(len(g))
            load = rng.uniform(0.1, 1.0, g.n_cores)
            fast, slow = _both(monkeypatch, g, core, order, contention=True, opts=Options(), load=load)
            assert _same(fast, slow)
