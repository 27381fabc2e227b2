"""Lower bounds on the makespan of a workload, and the work split they imply.

Each bound holds under the model it is used with. ``contention=True`` (shared-DRAM fluid
model, `sched.fluid`): durations are never shorter than the no-contention cost and the
port moves at most its bandwidth, so every term below holds. ``contention=False`` (the
DRAM port ignored): the DRAM terms are dropped, since such a schedule may move bytes
faster than the port could; what is left holds:

* work: every core must run the tasks placed on it. Tasks only one core can run load that
  core; tasks several cores can run (element-wise layers, or MAC layers on several capable
  cores) are split fractionally by a linear program that minimizes the busiest core, jointly
  with the DRAM port (``bytes / bandwidth``) under contention. The LP's dual multipliers
  are turned into a Lagrangian bound evaluated exactly in numpy, so solver tolerances
  cannot overstate it;
* edges: a core cannot start before the earliest of its tasks can, nor stop before the
  shortest remaining path after its last task: ``head + load + tail`` per core;
* critical path: one image's longest path at the cheapest capable core per layer;
* DRAM (contention only): all bytes (each task at its cheapest core) over the bandwidth.

These are bounds for the scheduler's models; the cycle simulator's per-layer times are
not guaranteed to be at least the cost model's, so a simulated makespan is compared with
the bound in tests, not promised to exceed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

try:  # loaded with the package, so a parent loads it once instead of every forked worker (0.3 s each)
    from ortools.linear_solver import pywraplp
except ImportError:  # pragma: no cover - ortools is a dependency
    pywraplp = None

from dualopu.hw.config import Hardware
from dualopu.sched.graph import TaskGraph, build_task_graph
from dualopu.sched.workload import Workload


@dataclass(frozen=True)
class Bound:
    """Lower bound on makespan (``cycles``) and its parts, in cycles."""

    cycles: float
    core_work: float  # busiest core under the best fractional split of flexible tasks
    critical_path: float  # one image
    dram: float  # all bytes / bandwidth
    joint: float = 0.0  # cores and DRAM port together (LP)
    edges: float = 0.0  # head + load + tail of the busiest core
    core_load: tuple[float, ...] = field(default=())  # per core at the LP's split

    def to_dict(self) -> dict[str, object]:
        return {
            "cycles": self.cycles,
            "core_work": self.core_work,
            "critical_path": self.critical_path,
            "dram": self.dram,
            "joint": self.joint,
            "edges": self.edges,
            "core_load": list(self.core_load),
        }


@dataclass(frozen=True)
class Split:
    """Images of each (network, layer) class per core at the bound's fractional optimum."""

    counts: np.ndarray  # (classes, K) integers summing to the class's images
    load: np.ndarray  # (K,) cycles per core with that split


def _classes(g: TaskGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (network, layer) class: cost (C, K), bytes (C, K), images, head, tail after."""
    cost = np.concatenate([p.cost for p in g.plans])
    dram = np.concatenate([p.dram_bytes for p in g.plans])
    m = np.concatenate([np.full(len(p.network), k, dtype=float) for p, k in zip(g.plans, g.workload.images)])
    head = np.concatenate([p.head for p in g.plans])
    after = np.concatenate([p.tail - p.min_cost for p in g.plans])
    return cost, dram, m, head, after


def _at_most_t(solver: Any, T: Any, terms: list[tuple[Any, float]], base: float) -> Any:
    """The row ``sum(coef * var) + base <= T``, built as ortools' natural API builds
    ``solver.Add(sum(terms) + base <= T)`` (same bounds, coefficients and their order, so GLOP
    solves the same model), without its per-term Python expression objects."""
    if not terms:  # a float <= T: ortools makes it T >= base
        row = solver.RowConstraint(0.0 + base, solver.infinity(), "")
        row.SetCoefficient(T, 1.0)
        return row
    row = solver.RowConstraint(-solver.infinity(), 0.0 - (0.0 + base), "")
    for var, coef in terms:
        row.SetCoefficient(var, coef)
    row.SetCoefficient(T, -1.0)
    return row


def _lp(
    cost: np.ndarray, dram: np.ndarray, m: np.ndarray, bw: float, with_dram: bool
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Fractional split minimizing the busiest core (and DRAM port): (x (C, K), multipliers
    (K + 1,), value), or None when the solver is unavailable or fails."""
    if pywraplp is None:  # pragma: no cover - ortools is a dependency
        return None
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:  # pragma: no cover
        return None
    C, K = cost.shape
    capable = np.isfinite(cost)
    flex = np.flatnonzero(capable.sum(axis=1) > 1)
    fixed = capable.sum(axis=1) == 1
    scale = max(float((np.where(capable, cost, 0.0) * m[:, None]).sum()), 1.0)  # numbers near 1 for GLOP
    T = solver.NumVar(0.0, solver.infinity(), "T")
    x = {
        (c, k): solver.NumVar(0.0, float(m[c]), f"x{c}_{k}")
        for c in flex.tolist()
        for k in range(K)
        if capable[c, k]
    }
    for c in flex.tolist():
        row = solver.RowConstraint(float(m[c]), float(m[c]), "")
        for k in range(K):
            if capable[c, k]:
                row.SetCoefficient(x[c, k], 1.0)
    cons = []
    for k in range(K):
        base = float((np.where(fixed & capable[:, k], cost[:, k], 0.0) * m).sum()) / scale
        terms = [(x[c, k], float(cost[c, k]) / scale) for c in flex.tolist() if capable[c, k]]
        cons.append(_at_most_t(solver, T, terms, base))
    if with_dram:
        base = float((np.where(fixed[:, None] & capable, dram, 0.0).sum(axis=1) * m).sum()) / bw / scale
        terms = [
            (x[c, k], float(dram[c, k]) / bw / scale)
            for c in flex.tolist()
            for k in range(K)
            if capable[c, k]
        ]
        cons.append(_at_most_t(solver, T, terms, base))
    solver.Minimize(T)
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    xs = np.zeros((C, K))
    for (c, k), v in x.items():
        xs[c, k] = v.solution_value()
    xs[fixed] = np.where(capable[fixed], m[fixed, None], 0.0)
    mult = np.array([abs(con.dual_value()) for con in cons] + ([] if with_dram else [0.0]))
    return xs, mult, T.solution_value() * scale


def _lagrangian(cost: np.ndarray, dram: np.ndarray, m: np.ndarray, bw: float, lam: np.ndarray) -> float:
    """Certified bound ``sum_k lam_k load_k + mu bytes / bw`` minimized over every placement, for
    multipliers ``lam`` (K cores + DRAM) >= 0 normalized to sum 1 (weak duality)."""
    lam = np.maximum(lam, 0.0)
    if lam.sum() <= 0:
        return 0.0
    lam = lam / lam.sum()
    capable = np.isfinite(cost)
    per = np.where(capable, np.where(capable, cost, 0.0) * lam[None, :-1] + dram / bw * lam[-1], np.inf).min(
        axis=1
    )
    return float((per * m).sum())


def _integer_split(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Round each class's fractional split to whole images (largest remainder)."""
    counts = np.floor(x + 1e-9)
    short = (m - counts.sum(axis=1)).round().astype(np.int64)
    for c in np.flatnonzero(short > 0).tolist():
        rem = np.where(x[c] > 0, x[c] - counts[c], -1.0)
        counts[c, np.argsort(-rem, kind="stable")[: short[c]]] += 1
    return counts.astype(np.int64)


def bound_and_split(
    workload: Workload, hw: Hardware, graph: TaskGraph | None = None, contention: bool = True
) -> tuple[Bound, Split]:
    """The lower bound (under the model ``contention`` names) and the split of flexible tasks
    over cores at the LP's optimum."""
    g = graph if graph is not None else build_task_graph(workload, hw)
    cost, dram, m, head, after = _classes(g)
    K = cost.shape[1]
    bw = hw.dram_bytes_per_cycle
    capable = np.isfinite(cost)
    fixed = capable.sum(axis=1) == 1
    # corners of the multiplier simplex: each core alone, the DRAM port alone, all cores evenly
    corners = [np.eye(K + 1)[k] for k in range(K + 1)] + [np.append(np.ones(K), 0.0)]
    work = max(_lagrangian(cost, dram, m, bw, lam) for lam in corners[:K] + corners[K + 1 :])
    dram_b = _lagrangian(cost, dram, m, bw, corners[K]) if contention else 0.0
    joint = max(work, dram_b)
    counts = np.where(capable & (cost == np.where(capable, cost, np.inf).min(axis=1, keepdims=True)), 1, 0)
    counts = _integer_split(counts / counts.sum(axis=1, keepdims=True) * m[:, None], m)
    if (~fixed).any():
        for with_dram in (False, True) if contention else (False,):
            sol = _lp(cost, dram, m, bw, with_dram)
            if sol is None:
                continue
            x, mult, _ = sol
            val = _lagrangian(cost, dram, m, bw, mult)
            if with_dram:
                joint = max(joint, val)
                counts = _integer_split(x, m)
            else:
                work = max(work, val)
                if not contention:
                    counts = _integer_split(x, m)
    joint = max(joint, work, dram_b)
    load = (np.where(capable, cost, 0.0) * counts).sum(axis=0)
    edges = 0.0
    for k in range(K):
        on_k = fixed & capable[:, k]
        if on_k.any():
            fixed_load = float((cost[on_k, k] * m[on_k]).sum())
            edges = max(edges, float(head[on_k].min()) + fixed_load + float(after[on_k].min()))
    crit = max(float(p.tail.max()) for p in g.plans)
    total = max(joint, edges, crit)
    b = Bound(total, work, crit, dram_b, joint, edges, tuple(float(v) for v in load))
    return b, Split(counts, load)


def lower_bound(
    workload: Workload, hw: Hardware, graph: TaskGraph | None = None, contention: bool = True
) -> Bound:
    """Lower bound on the makespan of ``workload`` on ``hw`` under the shared-DRAM model
    (``contention``) or without it (see the module docstring)."""
    return bound_and_split(workload, hw, graph, contention)[0]
