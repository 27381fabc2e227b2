"""Exact scheduling with OR-Tools CP-SAT, for small workloads (a few images).

The model: one start variable per task; tasks several cores can run choose a core
(optional intervals, exactly one present); durations are the no-contention costs rounded
up to whole cycles; precedence from the task graph; no overlap per core; minimize the
makespan. Images of one network are interchangeable, so their first layers start in image
order (symmetry breaking), and the makespan is at least the lower bound.

With ``contention`` the DRAM port is a cumulative resource: tasks running together may
not demand more than the bandwidth at their natural rates. That forbids the slowed-down
overlaps the fluid model allows, so it is exact for "no task ever slowed" at average rates;
`schedule` then re-times CP-SAT's order with the phased fluid model (whose prologues and
epilogues want the whole port). Without contention it is exact for the contention-free model (the
heuristic's optimality gap is measured there).
"""

from __future__ import annotations

import math

import numpy as np

from dualopu.errors import ScheduleError
from dualopu.sched.fluid import natural_rates
from dualopu.sched.graph import TaskGraph

MAX_TASKS = 5000
_RATE_SCALE = 1_000_000


def int_durations(g: TaskGraph) -> np.ndarray:
    """(n, K) whole-cycle durations (rounded up), -1 where a core cannot run the task."""
    c = np.where(np.isfinite(g.cost), np.ceil(np.where(np.isfinite(g.cost), g.cost, 0.0) - 1e-9), -1)
    return np.maximum(c, -1).astype(np.int64)


def retime(
    g: TaskGraph, core: np.ndarray, start: np.ndarray, dur: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Earliest start times keeping each core's task order (by ``start``) with durations ``dur``
    and no contention: a semi-active schedule, feasible by construction."""
    order = np.lexsort((g.layer, start)).tolist()
    pp, pi = g.pred_ptr.tolist(), g.pred_idx.tolist()
    co, du = core.tolist(), dur.tolist()
    st, en = [0] * len(g), [0] * len(g)
    free = [0] * g.n_cores
    for t in order:
        s = free[co[t]] if du[t] > 0 else 0
        for j in range(pp[t], pp[t + 1]):
            s = max(s, en[pi[j]])
        st[t], en[t] = s, s + du[t]
        if du[t] > 0:
            free[co[t]] = en[t]
    return np.asarray(st, dtype=float), np.asarray(en, dtype=float)


def solve(
    g: TaskGraph,
    *,
    contention: bool,
    time_limit_s: float,
    workers: int,
    lower: float,
    hint: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, dict[str, float]]:
    """(core, start, end, status name, info) of a CP-SAT schedule."""
    from ortools.sat.python import cp_model

    n, K = len(g), g.n_cores
    if n > MAX_TASKS:
        raise ScheduleError(
            f"cpsat is for small workloads: {n} tasks (at most {MAX_TASKS}; use a few images)"
        )
    d = int_durations(g)
    capable = d >= 0
    bw = g.hardware.dram_bytes_per_cycle
    horizon = int(np.where(capable, d, 0).max(axis=1).sum()) + 1
    m = cp_model.CpModel()
    s = [m.new_int_var(0, horizon, f"s{t}") for t in range(n)]
    e = [m.new_int_var(0, horizon, f"e{t}") for t in range(n)]
    lits: dict[tuple[int, int], cp_model.IntVar] = {}
    per_core: list[list[cp_model.IntervalVar]] = [[] for _ in range(K)]
    dram_iv: list[cp_model.IntervalVar] = []
    dram_dem: list[int] = []
    rates = np.zeros((n, K))
    if contention:
        for k in range(K):
            rates[:, k] = natural_rates(np.where(capable[:, k], g.cost[:, k], 0.0), g.dram_bytes[:, k], bw)
    fixed_core = np.where(capable.sum(axis=1) == 1, np.argmax(capable, axis=1), -1)
    zero = np.where(capable, d, 0).max(axis=1) == 0
    for t in range(n):
        if zero[t]:
            m.add(e[t] == s[t])
            continue
        ks = np.flatnonzero(capable[t]).tolist()
        if len(ks) == 1:
            k = ks[0]
            iv = m.new_interval_var(s[t], int(d[t, k]), e[t], f"i{t}")
            per_core[k].append(iv)
            if rates[t, k] > 0:
                dram_iv.append(iv)
                dram_dem.append(math.ceil(rates[t, k] / bw * _RATE_SCALE))
            continue
        opts = []
        for k in ks:
            lit = m.new_bool_var(f"p{t}_{k}")
            lits[t, k] = lit
            iv = m.new_optional_interval_var(s[t], int(d[t, k]), e[t], lit, f"i{t}_{k}")
            per_core[k].append(iv)
            opts.append(lit)
            if rates[t, k] > 0:
                dram_iv.append(iv)
                dram_dem.append(math.ceil(rates[t, k] / bw * _RATE_SCALE))
        m.add_exactly_one(opts)
    for k in range(K):
        if per_core[k]:
            m.add_no_overlap(per_core[k])
    if contention and dram_iv:
        m.add_cumulative(dram_iv, dram_dem, _RATE_SCALE)
    for a, b in zip(g.src.tolist(), g.dst.tolist()):
        m.add(s[b] >= e[a])
    for ni, p in enumerate(g.plans):  # interchangeable images: first layers in image order
        L = len(p.network)
        for j in range(g.workload.images[ni] - 1):
            a = int(g.offset[ni]) + j * L
            m.add(s[a] <= s[a + L])
    mk = m.new_int_var(math.floor(lower), horizon, "makespan")
    sinks = np.flatnonzero(np.diff(g.succ_ptr) == 0).tolist()
    m.add_max_equality(mk, [e[t] for t in sinks])
    m.minimize(mk)
    if hint is not None:
        h_core, h_start = hint
        for t in range(n):
            m.add_hint(s[t], round(float(h_start[t])))
            for k in range(K):
                if (t, k) in lits:
                    m.add_hint(lits[t, k], int(h_core[t] == k))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = max(int(workers), 1)
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise ScheduleError(
            f"CP-SAT found no schedule within {time_limit_s:g} s ({solver.status_name(status)})"
        )
    core = np.where(fixed_core >= 0, fixed_core, g.default_core).astype(np.int64)
    for (t, k), lit in lits.items():
        if solver.boolean_value(lit):
            core[t] = k
    start = np.array([solver.value(v) for v in s], dtype=float)
    end = np.array([solver.value(v) for v in e], dtype=float)
    info = {
        "objective": float(solver.objective_value),
        "best_bound": float(solver.best_objective_bound),
        "wall_time_s": float(solver.wall_time),
        "time_limit_s": float(time_limit_s),
        "workers": float(workers),
    }
    return core, start, end, solver.status_name(status), info
