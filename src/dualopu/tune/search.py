"""The tuner's search: price every core candidate once, prune, combine, shortlist, place, rank.

1. Every candidate of every core (PE count, input size, ic_parallel, buffers: `space.COLUMNS`)
   is priced with the batched cost model for the work of its *group* (the layers the cores
   of its type run under the template's placement); busy cycles ``W``, DRAM bytes ``D``,
   dynamic energy ``E`` and area per candidate.
2. Pruning: a candidate that alone overflows the budget next to the smallest other cores is
   dropped (feasibility, per budgeted resource: `tune.budget`), then one dominated by another
   of no more area, no more of every budgeted resource, busy cycles and DRAM bytes (and
   dynamic energy when the objective uses energy).
3. Combinations of the survivors are scored exhaustively in vectorized blocks while they
   fit (`EXHAUSTIVE_LIMIT`), else sampled with Optuna TPE over the survivors, by a separable
   *estimate*: ``max(period of each group, DRAM)``, a group of several cores of one type
   spreading its work in proportion to speed (`spread_period_cycles`).
4. The best ``max(SHORTLIST_FACTOR * top, SHORTLIST_MIN)`` by the estimate are re-priced with
   the one placement rule, `dualopu.cost.placement.place_batch`, over every layer of the
   workload on every core (cycles ``(C, L, K)``): the period, busy cycles, DRAM bytes and
   energy of a ranked candidate are the ones `place_workload` gives on its hardware (and
   the scheduler places it so). The final ranking is by these.

The estimate is *not* a bound on the placed period: the placement may move element-wise
layers to another core than the template's (lower), and its longest-first greedy is not an
optimal split of a group (higher); `tests/test_tune_placement.py` measures both directions.
It only chooses which combinations are re-priced; the placed figures rank them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from dualopu.cost.energy import core_dynamic_energy, round_energy_uj
from dualopu.cost.evaluate import cost_matrix, place_layers
from dualopu.cost.model import core_costs
from dualopu.cost.placement import BALANCED, place_batch
from dualopu.errors import TuneError
from dualopu.hw.area import core_area
from dualopu.hw.config import Core, Hardware
from dualopu.hw.params import CoreParams
from dualopu.ir.network import KIND_CODES, MAC_KINDS, LayerTable, Network
from dualopu.tune.budget import AREA, AREA_SLACK, Budget, as_budget, core_usage, describe, limits
from dualopu.tune.space import COLUMNS, IB, ISZ, OB, PE, WB, DesignSpace, candidates, core_kind

#: Combinations evaluated exhaustively at most (beyond: Optuna over the pruned space).
EXHAUSTIVE_LIMIT = 20_000_000
#: Core candidates priced per cost-model call.
PRICE_CHUNK = 2048
#: Combinations per vectorized block.
BLOCK = 1 << 20
#: Relative weight of the tie-break between designs of equal bound.
TIE_BREAK = 1e-9
#: Combinations re-priced with the placement: this many times the ranked ``top`` ...
SHORTLIST_FACTOR = 16
#: ... and at least this many (a stated choice: wide enough that the placed best of the
#: default MobileNetV2 run is the same as over every survivor, `tests/test_tune_placement.py`).
SHORTLIST_MIN = 1024
_MAC_CODES = [KIND_CODES[k] for k in MAC_KINDS]
#: Points `dominance_mask` compares at once with each other (any size gives the same mask: a
#: point is dominated iff some earlier point beats it; 128 measured fastest on the default space).
DOMINANCE_BLOCK = 128


def spread_period_cycles(busy: Sequence[np.ndarray]) -> np.ndarray:
    """Estimated period of a group of cores of one type sharing its work: each core ``k``
    would need ``busy[k]`` cycles for all of it; spread in proportion to speed, the group
    finishes a round in ``1 / sum(1 / busy[k])`` (one core: ``busy[0]``). Used only to
    shortlist combinations; the ranked ones are placed by `dualopu.cost.placement`."""
    if len(busy) == 1:
        return busy[0]
    with np.errstate(divide="ignore"):
        return 1.0 / np.sum([1.0 / b for b in busy], axis=0)  # a core without work (b = 0) takes none


def spread_fractions(busy: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Share of the group's work each core runs under `spread_period_cycles`."""
    if len(busy) == 1:
        return [np.ones_like(busy[0])]
    period = spread_period_cycles(busy)
    with np.errstate(divide="ignore", invalid="ignore"):
        return [np.where(b > 0, period / b, 0.0) for b in busy]


@dataclass(frozen=True)
class CorePricing:
    """One core's surviving candidates: ``(n, 6)`` values, busy cycles, DRAM bytes and dynamic
    energy (pJ) of its group's work per round, area, the candidates before pruning, and the
    budgeted resources ``(n, R)`` (`tune.budget.core_usage`, in the budget's order)."""

    values: np.ndarray
    busy_cycles: np.ndarray
    dram_bytes: np.ndarray
    area: np.ndarray
    total: int  # candidates before pruning
    energy_pj: np.ndarray = field(default_factory=lambda: np.zeros(0))
    resources: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


def _group_of(template: Hardware) -> list[int]:
    """Group id of every core: cores of one type and dataflow form a group."""
    keys = [(c.type, c.dataflow) for c in template.cores]
    return [keys.index(k) for k in keys]


def _layer_groups(nets: Sequence[Network], template: Hardware) -> list[np.ndarray]:
    """Per network: the group each layer runs on (the template's placement, by core group)."""
    groups = np.array(_group_of(template))
    return [groups[place_layers(net, template, cost_matrix(net, template))] for net in nets]


def _rows(tables: Sequence[LayerTable], masks: Sequence[np.ndarray]) -> LayerTable:
    """The rows ``masks`` of every table, concatenated (one cost-model call for a whole workload)."""
    return LayerTable(
        **{
            f.name: np.concatenate([getattr(t, f.name)[m] for t, m in zip(tables, masks)])
            for f in fields(LayerTable)
        }
    )


def _area(template: Hardware, core: Core, values: np.ndarray) -> np.ndarray:
    return core_area(
        template.area_model,
        core.type,
        values[:, PE],
        values[:, ISZ],
        values[:, IB] + values[:, WB] + values[:, OB],
    )


def unique_rows(table: LayerTable) -> tuple[LayerTable, np.ndarray]:
    """The distinct rows of ``table`` (every field equal), and per row of ``table`` its row in
    them. The cost model prices each row from that row's fields alone (every layer's plan and
    price is elementwise over the table: `tests/test_tune_search_speed.py` checks it bitwise on
    the zoo), so pricing the distinct rows and indexing back gives the same figures; repeated
    blocks make many rows equal (ShuffleNetV2: 117 rows, 28 distinct)."""
    cols = [np.asarray(getattr(table, f.name)) for f in fields(LayerTable)]
    if len(table.kind) < 2:
        return table, np.arange(len(table.kind))
    key = np.stack([c.astype(np.float64) for c in cols], axis=1)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # distinct rows kept in table order
    renum = np.empty(len(first), dtype=np.int64)
    renum[order] = np.arange(len(first))
    first, inv = first[order], renum[np.ravel(inv)]
    return LayerTable(**{f.name: c[first] for f, c in zip(fields(LayerTable), cols)}), inv


def price_rows(
    table: LayerTable,
    template: Hardware,
    k: int,
    values: np.ndarray,
    dram_bpc: float,
    price_energy: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cycles, DRAM bytes and dynamic energy (pJ) of every row of ``table`` on core ``k``'s
    candidates ``values``, each ``(n, L)``: the template core with the candidate's fields,
    priced by `core_costs` as `cost_matrix` prices a configured core (``inf``: cannot run;
    ``price_energy`` False: energy left at zero, for callers that never read it)."""
    core: Core = template.cores[k]
    n, L = len(values), len(table.kind)
    table, inv = unique_rows(table)
    if len(table.kind) < L:  # price each distinct layer once (a row's price is its own: see `unique_rows`)
        c, d, e = price_rows(table, template, k, values, dram_bpc, price_energy)
        return c[:, inv], d[:, inv], e[:, inv]
    cyc, dram, energy = np.empty((n, L)), np.empty((n, L)), np.empty((n, L))
    for lo in range(0, n, PRICE_CHUNK):  # chunks: temporaries stay small (no page-fault storm)
        v = values[lo : lo + PRICE_CHUNK]
        params = CoreParams.like(core, **{col: v[:, i] for i, col in enumerate(COLUMNS)})
        costs = core_costs(table, params, dram_bpc, template.data_bytes, template.dram_model)
        c = np.asarray(costs.cycles, dtype=float)
        cyc[lo : lo + len(v)] = np.where(np.isfinite(c), c, np.inf)
        dram[lo : lo + len(v)] = costs.dram_bytes
        if not price_energy:
            energy[lo : lo + len(v)] = 0.0
            continue
        e = core_dynamic_energy(table, params, costs, template.energy_model, template.data_bytes).total_pj
        energy[lo : lo + len(v)] = np.where(np.isfinite(e), e, 0.0)
    return cyc, dram, energy


def price_core(
    nets: Sequence[Network],
    weights: Sequence[float],
    template: Hardware,
    k: int,
    values: np.ndarray,
    layer_groups: Sequence[np.ndarray],
    dram_bpc: float,
    price_energy: bool = True,
) -> tuple[np.ndarray, ...]:
    """Busy cycles, DRAM bytes, area and dynamic energy (pJ) of core ``k``'s candidates
    ``values`` for its group's work (one round: ``weights[i]`` images of network ``i``)."""
    core: Core = template.cores[k]
    group = _group_of(template)[k]
    table = _rows([net.table for net in nets], [lg == group for lg in layer_groups])
    w = np.concatenate([np.full(int((lg == group).sum()), wt) for wt, lg in zip(weights, layer_groups)])
    area = _area(template, core, values)
    if len(w) == 0:
        return np.zeros(len(values)), np.zeros(len(values)), area, np.zeros(len(values))
    busy, dram, energy = np.empty(len(values)), np.empty(len(values)), np.empty(len(values))
    for lo in range(0, len(values), PRICE_CHUNK):
        c, d, e = price_rows(table, template, k, values[lo : lo + PRICE_CHUNK], dram_bpc, price_energy)
        busy[lo : lo + len(c)] = np.einsum("cl,l->c", c, w)  # einsum: no BLAS threads
        dram[lo : lo + len(c)] = np.einsum("cl,l->c", d, w)
        energy[lo : lo + len(c)] = np.einsum("cl,l->c", e, w)
    return busy, dram, area, energy


#: Per-candidate prices kept across the tunes of one caller: key (workload, template, core,
#: DRAM) -> the candidates priced so far (rows as 48-byte keys, sorted) and their (busy cycles,
#: DRAM bytes, dynamic energy pJ). A plain dict the caller creates and drops
#: (`tune.tuner.TuneCache`); the prices are pure functions of the key and the candidate row.
PricingMemo = dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]]


def _row_keys(values: np.ndarray) -> np.ndarray:
    """One opaque, comparable key per candidate row (its bytes: equal rows, equal keys)."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    return v.view(np.dtype((np.void, v.shape[1] * 8))).ravel()


def _price_core_memo(
    nets: Sequence[Network],
    weights: Sequence[float],
    template: Hardware,
    k: int,
    values: np.ndarray,
    layer_groups: Sequence[np.ndarray],
    dram_bpc: float,
    memo: PricingMemo | None,
    price_energy: bool = True,
) -> tuple[np.ndarray, ...]:
    """`price_core`, pricing only the candidates ``memo`` has not priced for this workload,
    template and DRAM (every candidate is priced on its own: a row's price does not depend
    on the other rows of its call)."""
    if memo is None or len(values) == 0:
        return price_core(nets, weights, template, k, values, layer_groups, dram_bpc, price_energy)
    key = (
        tuple((n.name, tuple(n.input_shape), len(n)) for n in nets),
        tuple(float(w) for w in weights),
        template.model_dump_json(exclude={"name", "description"}),
        k,
        float(dram_bpc),
        price_energy,
    )
    rows = _row_keys(values)
    known, prices = memo.get(key, (rows[:0], np.zeros((0, 3))))
    at = np.minimum(np.searchsorted(known, rows), max(len(known) - 1, 0))
    hit = (known[at] == rows) if len(known) else np.zeros(len(rows), dtype=bool)
    got = np.empty((len(rows), 3))
    got[hit] = prices[at[hit]]
    miss = np.flatnonzero(~hit)
    if len(miss):
        first = miss[np.unique(rows[miss], return_index=True)[1]]  # each new row priced once
        busy, dram, _, dyn = price_core(
            nets, weights, template, k, values[first], layer_groups, dram_bpc, price_energy
        )
        new = np.stack([busy, dram, dyn], axis=1)
        keys = np.concatenate([known, rows[first]])
        order = np.argsort(keys, kind="stable")
        known, prices = keys[order], np.concatenate([prices, new])[order]
        memo[key] = (known, prices)
        at = np.searchsorted(known, rows[miss])
        got[miss] = prices[at]
    area = _area(template, template.cores[k], values)
    return got[:, 0], got[:, 1], area, got[:, 2]


def dominance_mask(area: np.ndarray, *dims: np.ndarray, block: int = DOMINANCE_BLOCK) -> np.ndarray:
    """True for points no other point beats on all of (area, *dims) (ties: the first kept).

    Typically ``dims = (busy, dram)`` or ``(busy, dram, energy)``; lower is better in each."""
    n = len(area)
    order = np.lexsort((*reversed(dims), area))
    d = [x[order] for x in dims]
    keep = np.zeros(n, dtype=bool)
    sky = [np.empty(0) for _ in d]

    def beaten(by: Sequence[np.ndarray], pts: Sequence[np.ndarray]) -> np.ndarray:
        m = by[0][None, :] <= pts[0][:, None]
        for y, x in zip(by[1:], pts[1:]):
            m &= y[None, :] <= x[:, None]
        return m

    for lo in range(0, n, block):
        dd = [x[lo : lo + block] for x in d]
        dom = beaten(sky, dd).any(axis=1) if len(sky[0]) else np.zeros(len(dd[0]), dtype=bool)
        inner = beaten(dd, dd)
        inner &= np.tri(len(dd[0]), k=-1, dtype=bool)  # j earlier in the order (no more area)
        dom |= inner.any(axis=1)
        keep[lo : lo + block] = ~dom & np.isfinite(dd[0])
        sky = [np.concatenate([s_, x[~dom]]) for s_, x in zip(sky, dd)]
    out = np.zeros(n, dtype=bool)
    out[order] = keep
    return out


def price_and_prune(
    nets: Sequence[Network],
    weights: Sequence[float],
    template: Hardware,
    space: DesignSpace,
    budget: float | Budget,
    dram_bpc: float,
    keep: Sequence[np.ndarray] = (),
    energy: bool = False,
    memo: PricingMemo | None = None,
    price_energy: bool = True,
) -> list[CorePricing]:
    """Every core's candidates priced and pruned (``keep``: per core, values always kept;
    ``energy``: dynamic energy is a dominance dimension, for objectives that use energy;
    ``memo``: per-candidate prices of earlier calls on the same workload and template, reused;
    ``price_energy`` False: dynamic energy not priced (zero), for callers that never read it)."""
    if energy and not price_energy:
        raise TuneError("pruning by energy needs energy priced")
    layer_groups = _layer_groups(nets, template)
    raw = [candidates(c, space.ranges(core_kind(c))) for c in template.cores]
    if any(len(v) == 0 for v in raw):
        raise TuneError("empty design space: a core has no valid candidate")
    names = list(as_budget(budget))
    uses = [core_usage(template, c, v, dram_bpc, names) for c, v in zip(template.cores, raw)]
    mins = np.array([u.min(axis=0) for u in uses])  # (K, R): every core at its smallest, per resource
    cap = limits(budget)
    if (mins.sum(axis=0) > cap).any():
        r = int(np.argmax(mins.sum(axis=0) / cap))
        what = (
            f"area budget {cap[0] / (1 + AREA_SLACK):.1f}"
            if names == [AREA]
            else f"budget {describe(budget)}"
        )
        raise TuneError(
            f"no configuration fits the {what}; the smallest feasible {names[r]} is {mins.sum(axis=0)[r]:.1f}"
        )
    out = []
    for k, (v, u) in enumerate(zip(raw, uses)):
        room = cap - (mins.sum(axis=0) - mins[k])  # per-core bound: the others at their smallest
        forced = np.zeros(len(v), dtype=bool)
        if k < len(keep):
            forced = (v[:, None, :] == np.asarray(keep[k])[None, :, :]).all(axis=2).any(axis=1)
        fits = (u <= room[None, :]).all(axis=1) | forced
        vk, uk = v[fits], u[fits]
        busy, dram, area, dyn = _price_core_memo(
            nets, weights, template, k, vk, layer_groups, dram_bpc, memo, price_energy
        )
        # every budgeted resource is a dominance dimension (the MAC-equivalent area always is:
        # it prices leakage and the area front)
        res = [uk[:, j] for j, n in enumerate(names) if n != AREA]
        dims = (*res, busy, dram, dyn) if energy else (*res, busy, dram)
        ok = dominance_mask(area, *dims) | (forced[fits] & np.isfinite(busy))
        out.append(CorePricing(vk[ok], busy[ok], dram[ok], area[ok], len(v), dyn[ok], uk[ok]))
    return out


def combined_usage(pricing: Sequence[CorePricing], idx: np.ndarray) -> np.ndarray:
    """``(m, R)``: every budgeted resource of combinations ``idx`` (sum over cores)."""
    return _sum([pricing[k].resources[idx[:, k]] for k in range(len(pricing))])


def _sum(parts: Sequence[np.ndarray]) -> np.ndarray:
    """``np.sum(parts, axis=0)`` without stacking: the same left-to-right additions."""
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def combine(
    pricing: Sequence[CorePricing], template: Hardware, idx: np.ndarray, dram_bpc: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimated period, area, per-core busy fraction and dynamic energy (pJ per round) of
    combinations ``idx`` ``(m, K)`` (groups spread by `spread_period_cycles`).

    Written for speed on million-row blocks, every figure by the same floating-point
    operations as the plain form (`tests/test_tune_search_speed.py` keeps that form as its
    oracle): a group's period computed once, a lone core's share of 1 never multiplied."""
    groups = _group_of(template)
    K, m = len(pricing), len(idx)
    col = [idx[:, k] for k in range(K)]
    busy = [pricing[k].busy_cycles[col[k]] for k in range(K)]
    area = _sum([pricing[k].area[col[k]] for k in range(K)])
    period = np.zeros(m)
    dram = np.zeros(m)
    dyn = np.zeros(m)
    share: list[np.ndarray | None] = [None] * K  # None: the whole group's work (a share of 1)
    for g in sorted(set(groups)):
        members = [k for k in range(K) if groups[k] == g]
        if len(members) == 1:
            (k,) = members
            np.maximum(period, busy[k], out=period)
            dram += pricing[k].dram_bytes[col[k]]
            if len(pricing[k].energy_pj):
                dyn += pricing[k].energy_pj[col[k]]
            continue
        gb = [busy[k] for k in members]
        with np.errstate(divide="ignore"):
            gp = 1.0 / _sum([1.0 / b for b in gb])  # `spread_period_cycles`
        np.maximum(period, gp, out=period)
        with np.errstate(divide="ignore", invalid="ignore"):
            for k in members:  # `spread_fractions`
                f = np.where(busy[k] > 0, gp / busy[k], 0.0)
                share[k] = f
                dram += f * pricing[k].dram_bytes[col[k]]
                if len(pricing[k].energy_pj):
                    dyn += f * pricing[k].energy_pj[col[k]]
    period = np.maximum(period, dram / dram_bpc)
    frac = np.empty((m, K))
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(K):
            f = share[k]
            np.divide(busy[k] if f is None else f * busy[k], period, out=frac[:, k])
    np.nan_to_num(frac, copy=False)
    return period, area, frac, dyn


@dataclass(frozen=True)
class Placed:
    """Combinations placed by `place_batch`: period, busy cycles ``(C, K)``, DRAM bytes and
    dynamic energy (pJ) per round, and every layer's core ``(C, L)``."""

    period_cycles: np.ndarray
    busy_cycles: np.ndarray
    dram_bytes: np.ndarray
    energy_pj: np.ndarray
    core: np.ndarray

    @property
    def busy_frac(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.nan_to_num(self.busy_cycles / self.period_cycles[:, None])


@dataclass(frozen=True)
class WorkloadRows:
    """A workload's layers concatenated (the rows `place_workload` places): table, producers,
    MAC flags and images per round of every row."""

    table: LayerTable
    predecessors: list[tuple[int, ...]]
    is_mac: np.ndarray
    weight: np.ndarray

    @staticmethod
    def of(nets: Sequence[Network], weights: Sequence[float]) -> WorkloadRows:
        preds: list[tuple[int, ...]] = []
        for net in nets:
            base = len(preds)
            preds.extend(tuple(p + base for p in ps) for ps in net.predecessors)
        table = _rows([n.table for n in nets], [np.ones(len(n), dtype=bool) for n in nets])
        weight = np.concatenate([np.full(len(n), w, dtype=float) for n, w in zip(nets, weights)])
        return WorkloadRows(table, preds, np.isin(table.kind, _MAC_CODES), weight)


def place_combinations(
    rows: WorkloadRows,
    template: Hardware,
    values: Sequence[np.ndarray],
    idx: np.ndarray,
    dram_bpc: float,
    price_energy: bool = True,
) -> Placed:
    """Place combinations ``idx`` ``(C, K)`` of the candidates ``values[k]`` with the one
    placement rule (`place_batch`, balanced, as `place_workload` on each design)."""
    K = len(values)
    C, L = len(idx), len(rows.weight)
    cyc, dram, energy = np.empty((C, L, K)), np.empty((C, L, K)), np.empty((C, L, K))
    for k in range(K):
        uniq, inv = np.unique(idx[:, k], return_inverse=True)
        c, d, e = price_rows(rows.table, template, k, np.asarray(values[k])[uniq], dram_bpc, price_energy)
        cyc[:, :, k], dram[:, :, k], energy[:, :, k] = c[inv], d[inv], e[inv]
    types = [c.type.value for c in template.cores]
    core, busy = place_batch(cyc, types, rows.is_mac, rows.predecessors, BALANCED, rows.weight)
    cs, ls = np.arange(C)[:, None], np.arange(L)[None, :]
    dram_b = (dram[cs, ls, core] * rows.weight).sum(axis=1)
    dyn = (energy[cs, ls, core] * rows.weight).sum(axis=1)
    period = np.maximum(busy.max(axis=1), dram_b / dram_bpc)
    return Placed(period, busy, dram_b, dyn, core)


@dataclass(frozen=True)
class Ranked:
    """The best combinations, placed (best first), and the fronts of all evaluated (estimate):
    throughput vs area, and throughput vs energy per image."""

    idx: np.ndarray  # (m, K) indices into each CorePricing
    period_cycles: np.ndarray  # placed
    area: np.ndarray
    energy_uj: np.ndarray  # placed, per image
    front_idx: np.ndarray
    front_period: np.ndarray
    front_area: np.ndarray
    front_energy: np.ndarray
    efront_idx: np.ndarray
    efront_period: np.ndarray
    efront_area: np.ndarray
    efront_energy: np.ndarray
    evaluated: int
    method: str
    busy_cycles: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # placed, (m, K)


#: Points from which `pareto_indices` first drops those a smaller-area bucket's best beats.
PARETO_PREFILTER_MIN = 4096
#: Area buckets of that prefilter.
PARETO_BUCKETS = 256


def _pareto_candidates(area: np.ndarray, score: np.ndarray) -> np.ndarray | None:
    """Indices that may be on the front (None: all): a point is dropped when a point of strictly
    smaller area (a lower area bucket: equal areas share a bucket) has at least its score, as
    the running max of `pareto_indices` would drop it (that point precedes it in the order and
    is itself kept by this filter, so the front of the rest is the front of all)."""
    n = len(area)
    if n < PARETO_PREFILTER_MIN or np.isnan(area).any() or np.isnan(score).any():
        return None
    fin = np.isfinite(area)
    if not fin.any():
        return None
    lo, hi = float(area[fin].min()), float(area[fin].max())
    if not hi > lo:
        return None
    # linear buckets: a monotone (rounded) map of the area, so a lower bucket means a smaller area
    b = np.where(
        fin, np.minimum((area - lo) * (PARETO_BUCKETS / (hi - lo)), PARETO_BUCKETS), PARETO_BUCKETS + 1.0
    )
    b = np.where(area == -np.inf, 0.0, b).astype(np.int64)
    best = np.full(PARETO_BUCKETS + 2, -np.inf)
    np.maximum.at(best, b, score)
    before = np.concatenate([[-np.inf], np.maximum.accumulate(best)[:-1]])  # best of lower buckets
    return np.flatnonzero(score > before[b])


def pareto_indices(area: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of points not dominated in (smaller area, larger score): a sort and a running max
    (over the points a bucketed prefilter keeps, the same indices in the same order)."""
    sub = _pareto_candidates(area, score)
    if sub is not None:
        return sub[_pareto_sorted(area[sub], score[sub])]
    return _pareto_sorted(area, score)


def _pareto_sorted(area: np.ndarray, score: np.ndarray) -> np.ndarray:
    order = np.lexsort((-score, area))
    s = score[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(s)[:-1]])
    return order[(s > best_before) & np.isfinite(s)]


#: Lower is better, from (period in seconds, area, per-core busy fraction (m, K), energy uJ/image).
Objective = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Scale:
    """What turns cycles and picojoules per round into objective units: the clock, the
    images per round and the energy model (leakage of the area over the period)."""

    clock_mhz: float
    images_per_round: float
    template: Hardware

    def seconds(self, period_cycles: np.ndarray) -> np.ndarray:
        return period_cycles / (self.clock_mhz * 1e6)

    def energy_uj(self, dyn_pj: np.ndarray, area: np.ndarray, period_cycles: np.ndarray) -> np.ndarray:
        return round_energy_uj(
            dyn_pj, area, self.seconds(period_cycles), self.template.energy_model, self.images_per_round
        )


def rank(
    pricing: Sequence[CorePricing],
    template: Hardware,
    budget: float | Budget,
    dram_bpc: float,
    top: int,
    objective: Objective,
    scale: Scale,
    rows: WorkloadRows | None = None,
    method: str = "auto",
    trials: int = 300,
    seed: int = 0,
    price_energy: bool = True,
    fronts: bool = True,
) -> Ranked:
    """Best ``top`` feasible combinations by ``objective`` (lower is better): shortlisted by
    the estimate (`combine`), then placed (`place_combinations` over ``rows``; without
    ``rows``, the estimate ranks them, for tests of the estimate alone). ``fronts`` False:
    the two fronts are not built (left empty), for callers that read only the ranking."""
    sizes = [len(p.values) for p in pricing]
    total = int(np.prod(sizes))
    if method == "auto":
        method = "exhaustive" if total <= EXHAUSTIVE_LIMIT else "optuna"
    short = max(SHORTLIST_FACTOR * top, SHORTLIST_MIN) if rows is not None else top
    K = len(sizes)
    best_idx, best_score = np.zeros((0, K), dtype=np.int64), np.zeros(0)
    empty = (np.zeros((0, K), dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    fr, efr = list(empty), list(empty)
    lim = limits(budget)

    def feasible(idx: np.ndarray) -> np.ndarray:
        return np.all(combined_usage(pricing, idx) <= lim[None, :], axis=1)

    def score_of(
        period: np.ndarray, area: np.ndarray, frac: np.ndarray, energy: np.ndarray, fit: np.ndarray
    ) -> np.ndarray:
        # ties (equal score): the design whose other cores are least loaded (slack for the scheduler)
        tie = 1 + TIE_BREAK * frac.sum(axis=1) / frac.shape[1]
        ok = fit & np.isfinite(period)
        return np.where(ok, objective(scale.seconds(period), area, frac, energy) * tie, np.inf)

    def add_front(
        acc: list[np.ndarray], idx: np.ndarray, period: np.ndarray, area: np.ndarray, energy: np.ndarray,
        fi: np.ndarray,
    ) -> None:  # fmt: skip
        for j, a in enumerate((idx[fi], period[fi], area[fi], energy[fi])):
            acc[j] = np.concatenate([acc[j], a])

    def take(idx: np.ndarray) -> None:
        nonlocal best_idx, best_score
        period, area, frac, dyn = combine(pricing, template, idx, dram_bpc)
        energy = scale.energy_uj(dyn, area, period)
        ok = feasible(idx)
        if fronts:
            thr = np.where(np.isfinite(period), 1.0 / period, -np.inf)
            add_front(fr, idx, period, area, energy, pareto_indices(area, thr))
            add_front(efr, idx, period, area, energy, pareto_indices(np.where(ok, energy, np.inf), thr))
        score = score_of(period, area, frac, energy, ok)
        m = min(short, len(score))
        part = np.argpartition(score, m - 1)[:m]
        best_idx = np.concatenate([best_idx, idx[part]])
        best_score = np.concatenate([best_score, score[part]])
        keep = np.argsort(best_score, kind="stable")[:short]
        best_idx, best_score = best_idx[keep], best_score[keep]

    if method == "exhaustive":
        for lo in range(0, total, BLOCK):
            flat = np.arange(lo, min(lo + BLOCK, total))
            take(np.stack(np.unravel_index(flat, sizes), axis=1))
        evaluated = total
    elif method == "optuna":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
        seen = []
        for _ in range(trials):
            trial = study.ask()
            i = np.array([[trial.suggest_int(f"c{k}", 0, n - 1) for k, n in enumerate(sizes)]])
            period, area, frac, dyn = combine(pricing, template, i, dram_bpc)
            value = float(score_of(period, area, frac, scale.energy_uj(dyn, area, period), feasible(i))[0])
            study.tell(trial, min(value, 1e300))
            seen.append(i[0])
        take(np.unique(np.array(seen), axis=0))
        evaluated = trials
    else:
        raise TuneError(f"unknown method {method!r} (exhaustive, optuna, auto)")
    fin = np.isfinite(best_score)
    if not fin.any():
        raise TuneError(f"no configuration fits the budget {describe(budget)}")
    best_idx = best_idx[fin]
    period, area, frac, dyn = combine(pricing, template, best_idx, dram_bpc)
    busy = frac * period[:, None]
    if rows is not None:  # the ranked figures are the placement's
        placed = place_combinations(
            rows, template, [p.values for p in pricing], best_idx, dram_bpc, price_energy
        )
        period, busy, dyn, frac = placed.period_cycles, placed.busy_cycles, placed.energy_pj, placed.busy_frac
    energy = scale.energy_uj(dyn, area, period)
    order = np.argsort(score_of(period, area, frac, energy, feasible(best_idx)), kind="stable")[:top]
    fi = pareto_indices(fr[2], 1.0 / fr[1])
    ei = pareto_indices(efr[3], 1.0 / efr[1])
    return Ranked(
        best_idx[order], period[order], area[order], energy[order],
        fr[0][fi], fr[1][fi], fr[2][fi], fr[3][fi],
        efr[0][ei], efr[1][ei], efr[2][ei], efr[3][ei],
        evaluated, method, busy[order],
    )  # fmt: skip


def hardware_of(
    template: Hardware, values: Sequence[np.ndarray], *, dram_bpc: float, clock_mhz: float, name: str
) -> Hardware:
    """The Hardware of one combination (one ``(6,)`` value row per core), with a true description."""
    cores = []
    for core, v in zip(template.cores, values):
        upd = {
            c: (int(x) if c in ("pe_count", "input_size", "ic_parallel") else float(x))
            for c, x in zip(COLUMNS, v)
        }
        cores.append({**core.model_dump(), **upd})
    desc = " + ".join(
        f"{c['name']} {c['pe_count']} PEs x {c['input_size']} (ic_parallel {c['ic_parallel']}, "
        f"buffers {c['input_buffer_kib']:g}/{c['weight_buffer_kib']:g}/{c['output_buffer_kib']:g} KiB)"
        for c in cores
    )
    return Hardware.model_validate(
        {
            **template.model_dump(),
            "name": name,
            "cores": cores,
            "description": f"tuned: {desc}; DRAM {dram_bpc:g} B/cycle at {clock_mhz:g} MHz",
            "dram_bytes_per_cycle": dram_bpc,
            "clock_mhz": clock_mhz,
        }
    )


def combine_values(
    nets: Sequence[Network], weights: Sequence[float], template: Hardware, hw: Hardware
) -> Placed:
    """One design ``hw`` of ``template``'s family (e.g. the preset), placed like a ranked one."""
    values = [np.array([[float(getattr(c, col)) for col in COLUMNS]]) for c in hw.cores]
    return place_combinations(
        WorkloadRows.of(nets, weights), template, values, np.zeros((1, len(values)), dtype=np.int64),
        hw.dram_bytes_per_cycle,
    )  # fmt: skip
