"""`schedule()`: one entry point for every scheduling method."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from dualopu.cost.evaluate import CostMatrix
from dualopu.errors import ScheduleError
from dualopu.hw.config import Hardware, load_hardware
from dualopu.sched import cpsat as _cpsat
from dualopu.sched.bound import Bound, Split, bound_and_split
from dualopu.sched.graph import TaskGraph, build_task_graph
from dualopu.sched.heuristic import Options, list_schedule, placement, priority_order, run_list
from dualopu.sched.schedule import Schedule
from dualopu.sched.workload import Workload

METHODS = ("heuristic", "cpsat", "sequential")
#: Up to this many tasks the heuristic tries several priority/placement variants and keeps the best.
PORTFOLIO_MAX_TASKS = 12_000
#: Placements the heuristic's portfolio tries (``default``: `dualopu.cost.placement`'s rule).
PLACEMENTS: tuple[str, ...] = ("default",)


def _heuristic(
    g: TaskGraph, split: Split, contention: bool, options: Options | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Options]:
    if options is not None:
        variants = [options]
    elif len(g) <= PORTFOLIO_MAX_TASKS:
        holds = (True, False) if contention else (True,)
        variants = [
            Options(priority=p, placement=pl, hold=h)
            for pl, p, h in itertools.product(PLACEMENTS, ("rank", "tail"), holds)
        ]
    else:
        variants = [Options()]
    best: tuple[np.ndarray, np.ndarray, np.ndarray, Options] | None = None
    cores: dict[str, np.ndarray] = {}
    orders: dict[str, np.ndarray] = {}
    never_held: set[Options] = set()  # runs whose cores never held: the hold=False run is the same schedule
    for o in variants:
        if not o.hold and replace(o, hold=True) in never_held:
            continue  # identical to a run already kept or beaten (ties keep the earlier variant)
        if o.placement not in cores:
            cores[o.placement] = placement(g, o.placement, split)
        if o.priority not in orders:
            orders[o.priority] = priority_order(g, o.priority)
        core = cores[o.placement]
        load = np.bincount(core, weights=g.cost[np.arange(len(g)), core], minlength=g.n_cores)
        # a variant is kept only if its makespan is below the best one's by 1e-9: stop it once it cannot be
        cutoff = float(best[2].max()) - 1e-9 if best is not None else float("inf")
        start, end, held = run_list(
            g, core, orders[o.priority], contention=contention, opts=o, load=load, cutoff=cutoff
        )
        if o.hold and not held:  # (a run stopped at the cutoff never held before it: so would the other)
            never_held.add(o)
        if start is None or end is None:
            continue
        if best is None or end.max() < best[2].max() - 1e-9:
            best = (core, start, end, o)
    assert best is not None
    return best


def _sequential(g: TaskGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images one after another in arrival order, layers in order, each on its default core."""
    order = np.lexsort((g.layer, g.rank))
    core = g.default_core.copy()
    dur = g.cost[np.arange(len(g)), core]
    c = np.cumsum(dur[order])
    start, end = np.zeros(len(g)), np.zeros(len(g))
    start[order] = np.concatenate([[0.0], c[:-1]])
    end[order] = c
    return core, start, end


def schedule(
    workload: Workload,
    hw: Hardware | str,
    method: str = "heuristic",
    *,
    contention: bool = True,
    time_limit_s: float = 10.0,
    workers: int = 2,
    matrices: Sequence[CostMatrix | None] | None = None,
    graph: TaskGraph | None = None,
    options: Options | None = None,
) -> Schedule:
    """Schedule ``workload`` on ``hw``.

    ``method``: ``heuristic`` (list scheduler, any size), ``cpsat`` (exact, a few images;
    ``time_limit_s``, ``workers``) or ``sequential`` (images one after another, the baseline).
    ``contention`` models the shared DRAM port (fluid, max-min fair). ``matrices``: a
    precomputed cost matrix per network; ``graph``: a prebuilt task graph."""
    hw = hw if isinstance(hw, Hardware) else load_hardware(hw)
    if method not in METHODS:
        raise ScheduleError(f"unknown method {method!r}: heuristic, cpsat or sequential")
    t0 = time.perf_counter()
    g = graph if graph is not None else build_task_graph(workload, hw, matrices)
    bound, split = bound_and_split(workload, hw, g, contention)
    extra: dict[str, Any] = {"bound": bound.to_dict()}
    status = method
    if method == "heuristic":
        core, start, end, opts = _heuristic(g, split, contention, options)
        extra["variant"] = {"priority": opts.priority, "placement": opts.placement, "hold": opts.hold}
    elif method == "sequential":
        core, start, end = _sequential(g)
    else:
        h_core, h_start, _, _ = _heuristic(g, split, False, None)
        hs, _ = _cpsat.retime(g, h_core, h_start, _cpsat.int_durations(g)[np.arange(len(g)), h_core])
        core, start, end, status, info = _cpsat.solve(
            g,
            contention=contention,
            time_limit_s=time_limit_s,
            workers=workers,
            lower=bound.cycles,
            hint=(h_core, hs),
        )
        if contention:  # CP-SAT's order and cores, re-timed by the fluid model (phases can be slowed)
            order = np.lexsort((np.arange(len(g)), start))
            start, end = list_schedule(g, core, order, contention=True, opts=Options(lookahead=1, hold=False))
            info["retimed_by_fluid_model"] = True
        extra["cpsat"] = info
    extra["elapsed_s"] = time.perf_counter() - t0
    return Schedule(
        method,
        hw.name,
        hw.clock_mhz,
        g.net,
        g.image,
        g.layer,
        core,
        start,
        end,
        bound.cycles,
        workload.total_images,
        tuple(c.name for c in hw.cores),
        status,
        extra,
        task=np.arange(len(g)),
        contention=contention,
        workload_spec=tuple(workload.describe()),
        hardware_spec=hw.model_dump(mode="json"),
    )


def with_bound(sched: Schedule, bound: Bound) -> Schedule:
    """A copy of ``sched`` reporting ``bound``."""
    return replace(sched, lower_bound_cycles=bound.cycles, extra={**sched.extra, "bound": bound.to_dict()})
