"""The bridge: a `Schedule` re-timed on the event-driven multi-core cycle simulator.

Every network of the workload is compiled with the schedule's placement (the cores its
tasks run on; one program per distinct per-layer placement, normally one per network).
Each scheduled task (one layer of one image) becomes a `dualopu.sim.Task` of that
program's layer, waiting for the same predecessors; tasks are listed in the schedule's
start order and simulated with ``strict=True``, so every core runs its tasks in exactly
the schedule's order; a task also waits for the tasks of other cores that end before it
starts in the schedule (the schedule's order across cores, which keeps apart the tasks the
scheduler kept apart on the DRAM port). The simulator times them from the instructions (DMA and PE units,
transfers sharing the DRAM port), so nothing of the scheduler's cost or contention model
is reused: the simulated makespan checks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dualopu.compiler.codegen import compile_network
from dualopu.compiler.program import Program
from dualopu.errors import DualOpuError, ScheduleError
from dualopu.hw.config import Hardware
from dualopu.sched.api import schedule as run_schedule
from dualopu.sched.graph import TaskGraph, build_task_graph
from dualopu.sched.schedule import Schedule
from dualopu.sched.workload import Workload
from dualopu.sim.cycles import Task, TaskSimResult, simulate_tasks


@dataclass(frozen=True)
class BridgeResult:
    """A schedule, its replay on the cycle simulator, and the lower bound."""

    schedule: Schedule
    sim: TaskSimResult
    simulated_makespan_cycles: float

    @property
    def makespan_cycles(self) -> float:
        return self.schedule.makespan_cycles

    @property
    def lower_bound_cycles(self) -> float:
        return self.schedule.lower_bound_cycles

    @property
    def relative_gap(self) -> float:
        """(simulated - scheduled) / scheduled."""
        mk = self.makespan_cycles
        return (self.simulated_makespan_cycles - mk) / mk if mk > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "makespan_cycles": self.makespan_cycles,
            "simulated_makespan_cycles": self.simulated_makespan_cycles,
            "lower_bound_cycles": self.lower_bound_cycles,
            "simulated_vs_scheduled": self.relative_gap,
        }


def compile_for_schedule(
    sched: Schedule, workload: Workload, hw: Hardware
) -> list[list[tuple[np.ndarray, Program]]]:
    """Per network: (per-layer placement, compiled program) for every distinct placement its images use."""
    out: list[list[tuple[np.ndarray, Program]]] = []
    for ni, net in enumerate(workload.networks):
        sel = np.flatnonzero(sched.net == ni)
        L, m = len(net), int(workload.images[ni])
        grid = np.full((m, L), -1, dtype=np.int64)
        grid[sched.image[sel], sched.layer[sel]] = sched.core[sel]
        if (grid < 0).any():
            raise ScheduleError(f"schedule misses tasks of {net.name!r}")
        variants = np.unique(grid, axis=0)
        out.append([(v, compile_network(net, hw, v)) for v in variants])
    return out


def simulate_schedule(
    sched: Schedule,
    workload: Workload,
    hw: Hardware,
    graph: TaskGraph | None = None,
    programs: Sequence[Sequence[tuple[np.ndarray, Program]]] | None = None,
    release: bool = False,
    keep_order: bool = True,
) -> BridgeResult:
    """Replay ``sched`` on `dualopu.sim.simulate_tasks` (see the module docstring).

    ``release``: no task starts before its scheduled start. Off by default, so the simulated
    times come from the order alone (every task starts as soon as its core, predecessors
    and, with ``keep_order``, the tasks it follows are done) and can be shorter than the
    schedule's as well as longer. ``keep_order``: a task also waits
    for the tasks of other cores that the schedule ends before it starts, so a delay on one
    core cannot slide two tasks the scheduler kept apart into each other on the DRAM port
    (a runtime keeps this order with completion flags between cores)."""
    g = graph if graph is not None else build_task_graph(workload, hw)
    progs = programs if programs is not None else compile_for_schedule(sched, workload, hw)
    n = len(g)
    ids = g.task_id(sched.net, sched.image, sched.layer)
    if len(ids) != n or len(np.unique(ids)) != n:
        raise ScheduleError("schedule does not hold every task of the workload once")
    row = np.empty(n, dtype=np.int64)
    row[ids] = np.arange(n)
    core = sched.core[row]
    start, end = sched.start[row], sched.end[row]
    # which program each (network, image) runs
    prog_of: dict[tuple[int, int], Program] = {}
    for ni, variants in enumerate(progs):
        L = len(workload.networks[ni])
        for img in range(int(workload.images[ni])):
            t0 = int(g.offset[ni]) + img * L
            pl = core[t0 : t0 + L]
            prog_of[ni, img] = next(p for v, p in variants if np.array_equal(v, pl))
    # list order: schedule start, then end (zero-cost first), then topological within an image
    order = np.lexsort((g.layer, end, start))
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    pp, pi = g.pred_ptr, g.pred_idx
    cross = _cross_core_order(core, start, end, pos, len(hw.cores)) if keep_order else [[] for _ in range(n)]
    tasks = []
    for t in order.tolist():
        ni, img, li = int(g.net[t]), int(g.image[t]), int(g.layer[t])
        after = tuple(sorted({int(pos[p]) for p in pi[pp[t] : pp[t + 1]].tolist()} | set(cross[t])))
        if after and after[-1] >= pos[t]:
            raise ScheduleError(f"{g.describe(t)} starts before one of its predecessors")
        rel = float(start[t]) if release else 0.0
        tasks.append(Task(prog_of[ni, img], layers=(li,), release=rel, after=after, label=g.describe(t)))
    sim = simulate_tasks(tasks, hw, strict=True)
    return BridgeResult(sched, sim, sim.makespan)


def _cross_core_order(
    core: np.ndarray, start: np.ndarray, end: np.ndarray, pos: np.ndarray, n_cores: int
) -> list[list[int]]:
    """Per task: list positions of, on every other core, the last task that ends by its start."""
    mk = float(end.max(initial=0.0))
    tol = 1e-9 * max(1.0, mk)
    out: list[list[int]] = [[] for _ in range(len(core))]
    for k in range(n_cores):
        on_k = np.flatnonzero(core == k)
        on_k = on_k[np.lexsort((end[on_k], start[on_k]))]
        ends = np.maximum.accumulate(end[on_k]) if len(on_k) else end[on_k]
        others = np.flatnonzero(core != k)
        j = np.searchsorted(ends, start[others] + tol, side="right") - 1
        for t, i in zip(others.tolist(), j.tolist()):
            if i >= 0:
                a = int(on_k[i])
                if pos[a] < pos[t]:
                    out[t].append(int(pos[a]))
    return out


def schedule_and_simulate(
    workload: Workload, hw: Hardware, method: str = "heuristic", *, contention: bool = True, **kwargs: Any
) -> BridgeResult:
    """`dualopu.sched.schedule` then `simulate_schedule` (one task graph for both)."""
    g = build_task_graph(workload, hw)
    s = run_schedule(workload, hw, method, contention=contention, graph=g, **kwargs)
    return simulate_schedule(s, workload, hw, g)


def simulate_schedule_or_reason(sched: Schedule, workload: Workload, hw: Hardware) -> dict[str, Any]:
    """`simulate_schedule`'s figures, or ``simulated_makespan_cycles: None`` and the one-line
    reason when a network cannot be compiled or simulated (the schedule itself stands)."""
    try:
        return simulate_schedule(sched, workload, hw).to_dict()
    except DualOpuError as exc:
        return {"simulated_makespan_cycles": None, "simulation_error": str(exc).splitlines()[0]}


def tune_confirmation(nets: Sequence[Any], hw: Hardware, images: int) -> dict[str, Any]:
    """The tuner's ``simulate`` hook (`dualopu.tune.tune`): ``images`` images of each network
    scheduled as the tuner confirms them, then replayed on the cycle simulator; the
    scheduler's and the simulator's makespans (or the reason it could not be simulated)."""
    workload = Workload.mix([(n, images) for n in nets])
    sched = run_schedule(workload, hw)
    return {
        "makespan_cycles": sched.makespan_cycles,
        "lower_bound_cycles": sched.lower_bound_cycles,
        **simulate_schedule_or_reason(sched, workload, hw),
    }
