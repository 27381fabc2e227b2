"""The tuner's speed-ups change no figure: distinct layers priced once give the full table's
prices bitwise, the vectorized candidate grid is the product in its old order, and the
prefiltered Pareto front is the sorted one (same indices, same order)."""

from __future__ import annotations

import itertools
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualopu.hw import load_hardware, total_area
from dualopu.ir.network import LayerTable
from dualopu.ir.zoo import build
from dualopu.tune import search as S
from dualopu.tune.search import PARETO_PREFILTER_MIN, pareto_indices, price_rows, unique_rows
from dualopu.tune.space import COLUMNS, ICP, ISZ, PE, candidates, core_kind, load_space
from dualopu.tune.tuner import template_for

FAMILIES = ["regular,depthwise", "unified", "unified:systolic"]


def _row_by_row(table: LayerTable, template, k: int, values: np.ndarray, bw: float):
    """Every row priced alone (no deduplication possible): the oracle of row independence."""
    parts = []
    for i in range(len(table.kind)):
        one = LayerTable(
            **{f.name: np.asarray(getattr(table, f.name))[i : i + 1] for f in fields(LayerTable)}
        )
        parts.append(price_rows(one, template, k, values, bw))
    return [np.concatenate([p[j] for p in parts], axis=1) for j in range(3)]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("net", ["mobilenet_v2", "shufflenet_v2_x1_0", "mobilenet_v3_small"])
def test_distinct_rows_priced_once_give_every_rows_price(family: str, net: str) -> None:
    table = build(net).table
    sub, inv = unique_rows(table)
    assert len(sub.kind) < len(table.kind)  # these networks repeat layers
    for f in fields(LayerTable):  # every row maps to an equal row
        assert np.array_equal(np.asarray(getattr(sub, f.name))[inv], np.asarray(getattr(table, f.name)))
    template = template_for(family)
    space = load_space(None)
    rng = np.random.default_rng(1)
    for k, core in enumerate(template.cores):
        grid = candidates(core, space.ranges(core_kind(core)))
        values = grid[rng.choice(len(grid), 40, replace=False)]
        for bw in (16.0, 64.0):
            fast = price_rows(table, template, k, values, bw)
            alone = _row_by_row(table, template, k, values, bw)
            for a, b in zip(fast, alone):
                assert np.array_equal(a, b)


def _old_candidates(core, r) -> np.ndarray:
    """The grid as itertools.product built it before (the order the ranking's ties depend on)."""
    lists = [sorted(set(r.pe_values()))] + [sorted(set(getattr(r, c))) for c in COLUMNS[1:]]
    grid = np.array(list(itertools.product(*lists)), dtype=float).reshape(-1, len(COLUMNS))
    if core.type.value == "depthwise" or core.dataflow == "systolic":
        return grid[grid[:, ICP] == core.ic_parallel]
    if core.dataflow == "opu":
        isz, icp = grid[:, ISZ], grid[:, ICP]
        pic = np.minimum(icp, grid[:, PE] * isz)
        return grid[(isz <= icp) & ((pic % isz == 0) | (isz % pic == 0))]
    return grid


@pytest.mark.parametrize("family", FAMILIES)
def test_candidate_grid_keeps_its_order(family: str) -> None:
    space = load_space(None)
    for core in template_for(family).cores:
        r = space.ranges(core_kind(core))
        assert np.array_equal(candidates(core, r), _old_candidates(core, r))


def _front_by_sort(area: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The front as a sort and a running max over every point (the rule before the prefilter)."""
    order = np.lexsort((-score, area))
    s = score[order]
    before = np.concatenate([[-np.inf], np.maximum.accumulate(s)[:-1]])
    return order[(s > before) & np.isfinite(s)]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**31 - 1),
    st.integers(min_value=PARETO_PREFILTER_MIN, max_value=4 * PARETO_PREFILTER_MIN),
    st.sampled_from(["continuous", "ties", "infinite"]),
)
def test_prefiltered_front_is_the_sorted_front(seed: int, n: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        area = rng.random(n) * 1e3
        score = np.sqrt(area) * rng.uniform(0.5, 1.5, n)
    elif kind == "ties":  # equal areas and equal scores: the order's tie rules matter
        area = rng.integers(0, 40, n).astype(float)
        score = rng.integers(0, 12, n).astype(float)
    else:  # infeasible points (inf area, -inf score) as the tuner passes them
        area = np.where(rng.random(n) < 0.2, np.inf, rng.random(n))
        score = np.where(rng.random(n) < 0.2, -np.inf, rng.random(n) + np.where(area < np.inf, area, 0.0))
    assert np.array_equal(pareto_indices(area, score), _front_by_sort(area, score))


def _combine_plain(pricing, template, idx, dram_bpc):  # type: ignore[no-untyped-def]
    """`combine` as written before its speed-up (the oracle: every figure bitwise equal)."""
    groups = S._group_of(template)
    K = len(pricing)
    busy = [pricing[k].busy_cycles[idx[:, k]] for k in range(K)]
    area = np.sum([pricing[k].area[idx[:, k]] for k in range(K)], axis=0)
    period, dram, dyn = np.zeros(len(idx)), np.zeros(len(idx)), np.zeros(len(idx))
    share = [np.ones(len(idx)) for _ in range(K)]
    for g in sorted(set(groups)):
        members = [k for k in range(K) if groups[k] == g]
        gb = [busy[k] for k in members]
        period = np.maximum(period, S.spread_period_cycles(gb))
        for k, f in zip(members, S.spread_fractions(gb)):
            share[k] = f
            dram += f * pricing[k].dram_bytes[idx[:, k]]
            if len(pricing[k].energy_pj):
                dyn += f * pricing[k].energy_pj[idx[:, k]]
    period = np.maximum(period, dram / dram_bpc)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.nan_to_num(np.stack([share[k] * busy[k] for k in range(K)], axis=1) / period[:, None])
    return period, area, frac, dyn


@pytest.mark.parametrize(
    "family", ["regular,depthwise", "unified", "regular,regular,depthwise", "regular,depthwise,unified"]
)
def test_combine_is_the_plain_combine(family: str) -> None:
    net = build("mobilenet_v2")
    template = template_for(family)
    budget = 2.0 * total_area(load_hardware("dual-opu"))
    for bw, energy in ((64.0, True), (8.0, False)):
        pricing = S.price_and_prune([net], [1.0], template, load_space(None), budget, bw, price_energy=energy)
        rng = np.random.default_rng(5)
        idx = np.stack([rng.integers(0, len(p.values), 20000) for p in pricing], axis=1)
        for a, b in zip(S.combine(pricing, template, idx, bw), _combine_plain(pricing, template, idx, bw)):
            assert np.array_equal(a, b)
