"""The bound's LP built row by row (`sched.bound._lp`) is the model ortools' natural API builds:
same solution, multipliers and value, bit for bit (the oracle below is the natural-API form)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.linear_solver import pywraplp

from dualopu.sched.bound import _lp


def _lp_natural(cost: np.ndarray, dram: np.ndarray, m: np.ndarray, bw: float, with_dram: bool):  # type: ignore[no-untyped-def]
    solver = pywraplp.Solver.CreateSolver("GLOP")
    C, K = cost.shape
    capable = np.isfinite(cost)
    flex = np.flatnonzero(capable.sum(axis=1) > 1)
    fixed = capable.sum(axis=1) == 1
    scale = max(float((np.where(capable, cost, 0.0) * m[:, None]).sum()), 1.0)
    T = solver.NumVar(0.0, solver.infinity(), "T")
    x = {
        (c, k): solver.NumVar(0.0, float(m[c]), f"x{c}_{k}")
        for c in flex.tolist()
        for k in range(K)
        if capable[c, k]
    }
    for c in flex.tolist():
        solver.Add(sum(x[c, k] for k in range(K) if capable[c, k]) == float(m[c]))
    cons = []
    for k in range(K):
        base = float((np.where(fixed & capable[:, k], cost[:, k], 0.0) * m).sum()) / scale
        terms = [x[c, k] * (float(cost[c, k]) / scale) for c in flex.tolist() if capable[c, k]]
        cons.append(solver.Add(sum(terms) + base <= T))
    if with_dram:
        base = float((np.where(fixed[:, None] & capable, dram, 0.0).sum(axis=1) * m).sum()) / bw / scale
        terms = [
            x[c, k] * (float(dram[c, k]) / bw / scale)
            for c in flex.tolist()
            for k in range(K)
            if capable[c, k]
        ]
        cons.append(solver.Add(sum(terms) + base <= T))
    solver.Minimize(T)
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    xs = np.zeros((C, K))
    for (c, k), v in x.items():
        xs[c, k] = v.solution_value()
    xs[fixed] = np.where(capable[fixed], m[fixed, None], 0.0)
    mult = np.array([abs(con.dual_value()) for con in cons] + ([] if with_dram else [0.0]))
    return xs, mult, T.solution_value() * scale


@settings(max_examples=60, deadline=None)
@given(
    classes=st.integers(1, 30),
    cores=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
    with_dram=st.booleans(),
    only_fixed=st.booleans(),
)
def test_row_built_lp_is_the_natural_api_lp(
    classes: int, cores: int, seed: int, with_dram: bool, only_fixed: bool
) -> None:
    rng = np.random.default_rng(seed)
    cost = rng.integers(1, 10_000, size=(classes, cores)).astype(float)
    mask = rng.random((classes, cores)) < (0.0 if only_fixed else 0.3)
    mask[np.arange(classes), rng.integers(0, cores, size=classes)] = False  # every class runs somewhere
    if only_fixed:  # one capable core per class: the empty-terms rows
        keep = rng.integers(0, cores, size=classes)
        mask = np.ones_like(mask)
        mask[np.arange(classes), keep] = False
    cost[mask] = np.inf
    dram = rng.integers(0, 50_000, size=(classes, cores)).astype(float)
    m = rng.integers(1, 64, size=classes).astype(float)
    got, want = _lp(cost, dram, m, 64.0, with_dram), _lp_natural(cost, dram, m, 64.0, with_dram)
    assert got is not None
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]
