"""The tuner's search: price every core candidate once, prune, combine, rank by the bound.

1. Every candidate of every core (PE count, input size, ic_parallel, buffers: `space.COLUMNS`)
   is priced with the batched cost model for the work of its *group* (the layers the cores
   of its type run); busy cycles ``W``, DRAM bytes ``D`` and area per candidate.
2. Pruning, exact for the steady-state bound: a candidate that alone overflows the budget
   next to the smallest other cores is dropped (area feasibility / per-core bounds), then one
   dominated by another of no more area, busy cycles and DRAM bytes (dominance).
3. Combinations of the survivors are evaluated exhaustively in vectorized blocks while they
   fit (`EXHAUSTIVE_LIMIT`), else sampled with Optuna TPE over the survivors.

The bound of a combination is ``max(period of each group, DRAM)``: a group of several cores
of one type spreads its work over them (`spread_period_cycles`), images interleaved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from dualopu.cost.evaluate import cost_matrix, place_layers
from dualopu.cost.model import CoreParams, core_costs
from dualopu.errors import TuneError
from dualopu.hw.area import core_area
from dualopu.hw.config import Core, Hardware
from dualopu.ir.network import LayerTable, Network
from dualopu.tune.space import COLUMNS, IB, ICP, ISZ, OB, PE, WB, DesignSpace, candidates, core_kind

#: Combinations evaluated exhaustively at most (beyond: Optuna over the pruned space).
EXHAUSTIVE_LIMIT = 20_000_000
#: Core candidates priced per cost-model call.
PRICE_CHUNK = 2048
#: Combinations per vectorized block.
BLOCK = 1 << 20
#: Relative slack of the area budget (floating-point sums of the area model).
AREA_SLACK = 1e-9
#: Relative weight of the tie-break between designs of equal bound.
TIE_BREAK = 1e-9


def spread_period_cycles(busy: Sequence[np.ndarray]) -> np.ndarray:
    """Period of a group of cores of one type sharing its work: each core ``k`` would need
    ``busy[k]`` cycles for all of it, images interleaved spread the work in proportion to
    speed, so the group finishes a round in ``1 / sum(1 / busy[k])`` (one core: ``busy[0]``).

    The one function to swap for the scheduler's shared placement (`dualopu.cost.placement`)."""
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
    """One core's surviving candidates: ``(n, 6)`` values, busy cycles and DRAM bytes of its
    group's work per round, area, and the index into the unpruned candidates."""

    values: np.ndarray
    busy_cycles: np.ndarray
    dram_bytes: np.ndarray
    area: np.ndarray
    total: int  # candidates before pruning


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


def price_core(
    nets: Sequence[Network],
    weights: Sequence[float],
    template: Hardware,
    k: int,
    values: np.ndarray,
    layer_groups: Sequence[np.ndarray],
    dram_bpc: float,
) -> tuple[np.ndarray, ...]:
    """Busy cycles, DRAM bytes and area of core ``k``'s candidates ``values`` for its group's work."""
    core: Core = template.cores[k]
    group = _group_of(template)[k]
    table = _rows([net.table for net in nets], [lg == group for lg in layer_groups])
    w = np.concatenate([np.full(int((lg == group).sum()), wt) for wt, lg in zip(weights, layer_groups)])
    if len(w) == 0:
        return (
            np.zeros(len(values)),
            np.zeros(len(values)),
            core_area(
                template.area_model,
                core.type,
                values[:, PE],
                values[:, ISZ],
                values[:, IB] + values[:, WB] + values[:, OB],
            ),
        )
    busy = np.empty(len(values))
    dram = np.empty(len(values))
    for lo in range(0, len(values), PRICE_CHUNK):  # chunks: temporaries stay small (no page-fault storm)
        v = values[lo : lo + PRICE_CHUNK]
        params = CoreParams.like(  # every other field (OPU mapping options, layout) from the template core
            core,
            pe_count=v[:, PE],
            input_size=v[:, ISZ],
            ic_parallel=v[:, ICP],
            input_buffer_kib=v[:, IB],
            weight_buffer_kib=v[:, WB],
            output_buffer_kib=v[:, OB],
        )
        costs = core_costs(table, params, dram_bpc, template.data_bytes, template.dram_model)
        busy[lo : lo + len(v)] = np.einsum("cl,l->c", costs.cycles, w)  # einsum: no BLAS threads
        dram[lo : lo + len(v)] = np.einsum("cl,l->c", costs.dram_bytes, w)
    area = core_area(
        template.area_model,
        core.type,
        values[:, PE],
        values[:, ISZ],
        values[:, IB] + values[:, WB] + values[:, OB],
    )
    return busy, dram, area


def dominance_mask(area: np.ndarray, busy: np.ndarray, dram: np.ndarray, block: int = 1024) -> np.ndarray:
    """True for points no other point beats on all of (area, busy, DRAM) (ties: the first kept)."""
    n = len(area)
    order = np.lexsort((dram, busy, area))
    a, b, d = area[order], busy[order], dram[order]
    keep = np.zeros(n, dtype=bool)
    sky_b = np.empty(0)
    sky_d = np.empty(0)
    for lo in range(0, n, block):
        bb, dd = b[lo : lo + block], d[lo : lo + block]
        dom = (
            ((sky_b[None, :] <= bb[:, None]) & (sky_d[None, :] <= dd[:, None])).any(axis=1)
            if len(sky_b)
            else np.zeros(len(bb), dtype=bool)
        )
        inner = (bb[None, :] <= bb[:, None]) & (dd[None, :] <= dd[:, None])
        inner &= np.tri(len(bb), k=-1, dtype=bool)  # j earlier in the order (no more area)
        dom |= inner.any(axis=1)
        keep[lo : lo + block] = ~dom & np.isfinite(bb)
        sky_b = np.concatenate([sky_b, bb[~dom]])
        sky_d = np.concatenate([sky_d, dd[~dom]])
    del a
    out = np.zeros(n, dtype=bool)
    out[order] = keep
    return out


def price_and_prune(
    nets: Sequence[Network],
    weights: Sequence[float],
    template: Hardware,
    space: DesignSpace,
    budget: float,
    dram_bpc: float,
    keep: Sequence[np.ndarray] = (),
) -> list[CorePricing]:
    """Every core's candidates priced and pruned (``keep``: per core, values always kept)."""
    layer_groups = _layer_groups(nets, template)
    raw = [candidates(c, space.ranges(core_kind(c))) for c in template.cores]
    if any(len(v) == 0 for v in raw):
        raise TuneError("empty design space: a core has no valid candidate")
    am = template.area_model
    areas = [
        core_area(am, c.type, v[:, PE], v[:, ISZ], v[:, IB] + v[:, WB] + v[:, OB])
        for c, v in zip(template.cores, raw)
    ]
    mins = [float(a.min()) for a in areas]
    if sum(mins) > budget * (1 + AREA_SLACK):
        raise TuneError(
            f"no configuration fits the area budget {budget:.1f}; the smallest feasible area is "
            f"{sum(mins):.1f}"
        )
    out = []
    for k, (v, a) in enumerate(zip(raw, areas)):
        room = budget * (1 + AREA_SLACK) - (
            sum(mins) - mins[k]
        )  # per-core bound: the others at their smallest
        forced = np.zeros(len(v), dtype=bool)
        if k < len(keep):
            forced = (v[:, None, :] == np.asarray(keep[k])[None, :, :]).all(axis=2).any(axis=1)
        fits = (a <= room) | forced
        vk = v[fits]
        busy, dram, area = price_core(nets, weights, template, k, vk, layer_groups, dram_bpc)
        ok = dominance_mask(area, busy, dram) | (forced[fits] & np.isfinite(busy))
        out.append(CorePricing(vk[ok], busy[ok], dram[ok], area[ok], len(v)))
    return out


@dataclass(frozen=True)
class Ranked:
    """The best combinations by the bound (best first) and the Pareto front of all evaluated."""

    idx: np.ndarray  # (m, K) indices into each CorePricing
    period_cycles: np.ndarray
    area: np.ndarray
    front_idx: np.ndarray
    front_period: np.ndarray
    front_area: np.ndarray
    evaluated: int
    method: str


def combine(
    pricing: Sequence[CorePricing], template: Hardware, idx: np.ndarray, dram_bpc: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bound period, area and per-core busy fraction of combinations ``idx`` ``(m, K)``."""
    groups = _group_of(template)
    K = len(pricing)
    busy = [pricing[k].busy_cycles[idx[:, k]] for k in range(K)]
    area = np.sum([pricing[k].area[idx[:, k]] for k in range(K)], axis=0)
    period = np.zeros(len(idx))
    dram = np.zeros(len(idx))
    share = [np.ones(len(idx)) for _ in range(K)]
    for g in sorted(set(groups)):
        members = [k for k in range(K) if groups[k] == g]
        gb = [busy[k] for k in members]
        period = np.maximum(period, spread_period_cycles(gb))
        for k, f in zip(members, spread_fractions(gb)):
            share[k] = f
            dram += f * pricing[k].dram_bytes[idx[:, k]]
    period = np.maximum(period, dram / dram_bpc)
    with np.errstate(divide="ignore", invalid="ignore"):
        busy_frac = np.nan_to_num(np.stack([share[k] * busy[k] for k in range(K)], axis=1) / period[:, None])
    return period, area, busy_frac


def pareto_indices(area: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of points not dominated in (smaller area, larger score): a sort and a running max."""
    order = np.lexsort((-score, area))
    s = score[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(s)[:-1]])
    return order[(s > best_before) & np.isfinite(s)]


Objective = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def rank(
    pricing: Sequence[CorePricing],
    template: Hardware,
    budget: float,
    dram_bpc: float,
    top: int,
    objective: Objective,
    method: str = "auto",
    trials: int = 300,
    seed: int = 0,
) -> Ranked:
    """Best ``top`` feasible combinations by ``objective(period, area, busy_frac)`` (lower is better)."""
    sizes = [len(p.values) for p in pricing]
    total = int(np.prod(sizes))
    if method == "auto":
        method = "exhaustive" if total <= EXHAUSTIVE_LIMIT else "optuna"
    best_idx, best_score = np.zeros((0, len(sizes)), dtype=np.int64), np.zeros(0)
    f_idx, f_p, f_a = np.zeros((0, len(sizes)), dtype=np.int64), np.zeros(0), np.zeros(0)
    lim = budget * (1 + AREA_SLACK)

    def take(idx: np.ndarray) -> None:
        nonlocal best_idx, best_score, f_idx, f_p, f_a
        period, area, frac = combine(pricing, template, idx, dram_bpc)
        ok = area <= lim
        fi = pareto_indices(area, np.where(np.isfinite(period), 1.0 / period, -np.inf))
        f_idx, f_p, f_a = (
            np.concatenate([f_idx, idx[fi]]),
            np.concatenate([f_p, period[fi]]),
            np.concatenate([f_a, area[fi]]),
        )
        # ties (equal bound): the design whose other cores are least loaded (slack for the scheduler)
        tie = 1 + TIE_BREAK * frac.sum(axis=1) / frac.shape[1]
        score = np.where(ok & np.isfinite(period), objective(period, area, frac) * tie, np.inf)
        m = min(top, len(score))
        part = np.argpartition(score, m - 1)[:m]
        best_idx = np.concatenate([best_idx, idx[part]])
        best_score = np.concatenate([best_score, score[part]])
        keep = np.argsort(best_score, kind="stable")[:top]
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
            period, area, frac = combine(pricing, template, i, dram_bpc)
            value = float(objective(period, area, frac)[0]) if area[0] <= lim else 1e300
            study.tell(trial, min(value, 1e300))
            seen.append(i[0])
        take(np.unique(np.array(seen), axis=0))
        evaluated = trials
    else:
        raise TuneError(f"unknown method {method!r} (exhaustive, optuna, auto)")
    fin = np.isfinite(best_score)
    if not fin.any():
        raise TuneError(f"no configuration fits the area budget {budget:.1f}")
    best_idx = best_idx[fin]
    period, area, _ = combine(pricing, template, best_idx, dram_bpc)
    fi = pareto_indices(f_a, 1.0 / f_p)
    return Ranked(best_idx, period, area, f_idx[fi], f_p[fi], f_a[fi], evaluated, method)


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
) -> tuple[float, float]:
    """Bound period and area of one design ``hw`` of ``template``'s family (e.g. the preset)."""
    layer_groups = _layer_groups(nets, template)
    pricing = []
    for k, c in enumerate(hw.cores):
        v = np.array([[float(getattr(c, col)) for col in COLUMNS]])
        busy, dram, area = price_core(nets, weights, template, k, v, layer_groups, hw.dram_bytes_per_cycle)
        pricing.append(CorePricing(v, busy, dram, area, 1))
    period, area, _ = combine(
        pricing, template, np.zeros((1, len(pricing)), dtype=np.int64), hw.dram_bytes_per_cycle
    )
    return float(period[0]), float(area[0])
