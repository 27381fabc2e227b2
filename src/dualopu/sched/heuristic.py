"""Event-driven list scheduler over integer task ids (the ``heuristic`` method).

* Placement: every task on its layer's core in `dualopu.cost.placement` (``default``: what
  the compiled programs run), or the lower bound's LP split (``balanced``, which alternates
  a split class's images between cores; an option, not in the portfolio).
* Priority: a global order of task ids. ``rank``: the oldest image first (networks
  interleaved by arrival rank), then the longest remaining critical path, so every core
  takes whatever ready work of any image comes first and images interleave. ``tail``:
  critical path first, then age (better for a few images).
* Each core has a heap of ready task positions in that order; whenever a core is idle it
  takes the best ready task. Zero-cost tasks finish the moment they are ready.
* Shared DRAM (fluid, max-min fair, `sched.fluid`): each task runs in phases (prologue,
  body, epilogue) and running phases' speeds are recomputed at every event. Before starting a task whose bandwidth demand would not fit beside the
  running ones, a core looks a few tasks down its heap for one that fits (pairing a
  memory-bound layer with a compute-bound one); a core with slack (less loaded than the
  busiest) rather waits than slow down a busier core's task.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from dualopu.errors import ScheduleError
from dualopu.sched import native
from dualopu.sched.bound import Split
from dualopu.sched.fluid import N_PHASES, fair_speeds, natural_rates, phases
from dualopu.sched.graph import TaskGraph

_INF = float("inf")


@dataclass(frozen=True)
class Options:
    """Knobs of one heuristic run."""

    priority: str = "rank"  # "rank" | "tail"
    placement: str = "default"  # "default" (the one placement rule) | "balanced" (the bound's LP split)
    lookahead: int = 8  # ready tasks a core inspects for one that fits the free DRAM bandwidth
    hold: bool = True  # a core with slack waits rather than slow a busier core
    slack: float = 0.9  # a core is "with slack" below this fraction of the busiest core's load


def placement(g: TaskGraph, mode: str, split: Split | None) -> np.ndarray:
    """Core of every task: the LP split (``balanced``) or the cost model's default."""
    if mode == "default" or split is None:
        return g.default_core.copy()
    counts = split.counts
    single = (counts > 0).sum(axis=1) == 1
    core = np.argmax(counts, axis=1)[g.cls]
    sizes = np.array([len(p.network) for p in g.plans], dtype=np.int64)
    cls_net = np.repeat(np.arange(len(g.plans)), sizes)
    cls_layer = np.concatenate([np.arange(s) for s in sizes])
    for c in np.flatnonzero(~single).tolist():  # few classes: spread their images over cores evenly
        ni, li = int(cls_net[c]), int(cls_layer[c])
        m = int(g.workload.images[ni])
        share = counts[c] / max(counts[c].sum(), 1)
        given = np.zeros(len(share))
        ids = g.offset[ni] + np.arange(m) * sizes[ni] + li
        for j in range(m):
            k = int(np.argmax(share * (j + 1) - given))
            given[k] += 1
            core[ids[j]] = k
    return core.astype(np.int64)


def priority_order(g: TaskGraph, mode: str) -> np.ndarray:
    """Task ids, best first."""
    ids = np.arange(len(g))
    if mode == "tail":
        return np.lexsort((ids, g.rank, -np.round(g.tail, 6)))
    return np.lexsort((ids, -np.round(g.tail, 6), g.rank))


def list_schedule(
    g: TaskGraph,
    core: np.ndarray,
    order: np.ndarray,
    *,
    contention: bool,
    opts: Options = Options(),
    load: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every task with the given placement and priority order."""
    start, end, _ = run_list(g, core, order, contention=contention, opts=opts, load=load)
    assert start is not None and end is not None
    return start, end


def _phase_links(pd_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat phase indices (``task * N_PHASES + phase``): each task's first phase (the last one
    when all are empty) and, for every phase, the next non-empty phase of its task (-1: none)."""
    n = pd_a.shape[0]
    pos = pd_a > 0.0
    base = np.arange(n, dtype=np.int64) * N_PHASES
    first = np.full(n, N_PHASES - 1, dtype=np.int64)
    for j in range(N_PHASES - 2, -1, -1):
        first = np.where(pos[:, j], j, first)
    nxt = np.full((n, N_PHASES), -1, dtype=np.int64)
    after = np.full(n, -1, dtype=np.int64)
    for j in range(N_PHASES - 1, -1, -1):
        nxt[:, j] = after
        after = np.where(pos[:, j], base + j, after)
    return base + first, nxt.ravel()


def run_list(
    g: TaskGraph,
    core: np.ndarray,
    order: np.ndarray,
    *,
    contention: bool,
    opts: Options = Options(),
    load: np.ndarray | None = None,
    cutoff: float = _INF,
) -> tuple[np.ndarray | None, np.ndarray | None, bool]:
    """`list_schedule`, and whether any core held (waited rather than slow a busier core): a run
    that never held is the same schedule as the run with ``hold=False``. A run whose clock
    reaches ``cutoff`` stops there (``None`` arrays): its makespan cannot be below ``cutoff``.

    Per-task data are flat lists built once with numpy (phases as ``task * N_PHASES + phase``
    with precomputed links to the next phase); the DRAM demand of the running phases is summed
    in core order, as the fair-share model does, and speeds are only revisited when a phase was
    slowed or the port is oversubscribed."""
    n, K = len(g), g.n_cores
    bw = float(g.hardware.dram_bytes_per_cycle)
    rows = np.arange(n)
    dur_a = g.cost[rows, core]
    if not np.isfinite(dur_a).all():
        raise ScheduleError(
            f"{g.describe(int(np.flatnonzero(~np.isfinite(dur_a))[0]))} placed on a core that cannot run it"
        )
    rate_a = natural_rates(dur_a, g.dram_bytes[rows, core], bw) if contention else np.zeros(n)
    if contention:
        pd_a, pr_a = phases(
            dur_a,
            g.dram_bytes[rows, core],
            g.head_cycles[rows, core],
            g.head_bytes[rows, core],
            g.end_cycles[rows, core],
            g.end_bytes[rows, core],
            bw,
        )
        first_a, nextp_a = _phase_links(pd_a)
    else:
        pd_a = pr_a = np.zeros(0)
        first_a = nextp_a = np.zeros(0, dtype=np.int64)
    pos_a = np.empty(n, dtype=np.int64)
    pos_a[order] = rows
    lo = np.ones(K) if load is None else np.asarray(load, dtype=float) / max(float(np.max(load)), 1e-12)
    if native.usable(K, opts.lookahead):  # the same loop compiled (bitwise the same schedule)
        status, start_a, end_a, held_c = native.run_loop(
            n,
            K,
            bw,
            contention,
            {
                "dur": dur_a,
                "rate": rate_a,
                "core": core,
                "pos": pos_a,
                "order": order,
                "succ_ptr": g.succ_ptr,
                "succ_idx": g.succ_idx,
                "indeg": np.diff(g.pred_ptr),
                "pdf": pd_a.ravel(),
                "prf": pr_a.ravel(),
                "first": first_a,
                "nextp": nextp_a,
                "crit": lo,
                "slack": lo < opts.slack,
            },
            opts.lookahead,
            opts.hold,
            cutoff,
        )
        if status == 1:
            return None, None, held_c
        if status == 0:
            return start_a, end_a, held_c
        # stalled: the Python loop below stalls alike and says where
    pdf, prf = pd_a.ravel().tolist(), pr_a.ravel().tolist()
    first, nextp = first_a.tolist(), nextp_a.tolist()
    dur, rate, co = dur_a.tolist(), rate_a.tolist(), core.tolist()
    pos, order_l = pos_a.tolist(), order.tolist()
    sp, si = g.succ_ptr.tolist(), g.succ_idx.tolist()
    indeg = np.diff(g.pred_ptr).tolist()
    start, end = [0.0] * n, [0.0] * n
    crit = lo.tolist()
    slack = [c < opts.slack for c in crit]
    heaps: list[list[int]] = [[] for _ in range(K)]
    zero: list[int] = []
    for t in np.flatnonzero(np.diff(g.pred_ptr) == 0).tolist():
        if dur[t] > 0:
            heaps[co[t]].append(pos[t])
        else:
            zero.append(t)
    for h in heaps:
        heapq.heapify(h)
    run = [-1] * K
    since, left, spd, endp = [0.0] * K, [0.0] * K, [1.0] * K, [_INF] * K
    seg = [0] * K  # flat index of the current phase of the task on each core (contention only)
    cur = [0.0] * K  # its DRAM rate in that phase
    now, done = 0.0, 0
    slowed = False  # some running phase may be below full speed
    held = False
    push, pop = heapq.heappush, heapq.heappop
    rng = range(K)
    look = max(int(opts.lookahead), 1)
    hold = bool(opts.hold)
    both = [0, 1]

    def pick_slow(k: int, other: float) -> int:
        """Task to start on idle core k when its best ready task does not fit beside the others'
        DRAM demand ``other``, or -1 to wait."""
        nonlocal held
        h = heaps[k]
        kept: list[int] = []
        choice = -1
        while h and len(kept) < look:
            p = pop(h)
            u = order_l[p]
            if rate[u] + other <= bw:
                choice = u
                break
            kept.append(p)
        if choice < 0:
            # nothing fits: start the best one unless it slows a busier core and this one has slack
            p0 = kept[0]
            u = order_l[p0]
            harm = False
            if hold and slack[k]:
                act = [j for j in rng if run[j] >= 0]
                new = fair_speeds([rate[run[j]] for j in act] + [rate[u]], bw)
                harm = any(new[i] < spd[j] - 1e-12 and crit[j] > crit[k] for i, j in enumerate(act))
            if harm:
                held = True
                for p in kept:
                    push(h, p)
                return -1
            choice = u
            kept = kept[1:]
        for p in kept:
            push(h, p)
        return choice

    def release(t: int) -> None:
        """Successors of finished task ``t`` whose last predecessor it was become ready."""
        for j in range(sp[t], sp[t + 1]):
            s = si[j]
            indeg[s] -= 1
            if indeg[s] == 0:
                if dur[s] > 0:
                    push(heaps[co[s]], pos[s])
                else:
                    zero.append(s)

    while True:
        while zero:
            t = zero.pop()
            start[t] = end[t] = now
            done += 1
            release(t)
        for k in rng:
            if run[k] < 0:
                h = heaps[k]
                if not h:
                    continue
                if contention:
                    t = order_l[h[0]]
                    other = 0.0
                    for j in rng:
                        if run[j] >= 0:
                            other += rate[run[j]]
                    if other == 0.0 or rate[t] + other <= bw:
                        pop(h)
                    else:
                        t = pick_slow(k, other)
                        if t < 0:
                            continue
                    f = first[t]
                    run[k] = t
                    start[t] = since[k] = now
                    spd[k] = 1.0
                    seg[k], left[k], cur[k] = f, pdf[f], prf[f]
                    endp[k] = now + pdf[f]
                else:
                    t = order_l[pop(h)]
                    run[k] = t
                    start[t] = since[k] = now
                    spd[k] = 1.0
                    left[k] = dur[t]
                    endp[k] = now + dur[t]
        if contention:
            tot = 0.0  # the running phases' demand, summed in core order
            for k in rng:
                if run[k] >= 0:
                    tot += cur[k]
            if tot <= bw:  # the usual case: everyone at full speed
                if slowed:
                    for k in rng:
                        if run[k] >= 0 and spd[k] != 1.0:
                            left[k] -= (now - since[k]) * spd[k]
                            since[k], spd[k] = now, 1.0
                            endp[k] = now + max(left[k], 0.0)
                    slowed = False
            else:
                act = both if K == 2 else [k for k in rng if run[k] >= 0]  # two cores: both run (tot > bw)
                for k, s in zip(act, fair_speeds([cur[k] for k in act], bw)):
                    if s != spd[k]:
                        left[k] -= (now - since[k]) * spd[k]
                        since[k], spd[k] = now, s
                        endp[k] = now + max(left[k], 0.0) / s
                slowed = True
        nxt = min(endp)
        if nxt == _INF:
            break
        now = nxt
        if now >= cutoff:
            return None, None, held
        for k in rng:
            if endp[k] == now:
                t = run[k]
                if contention:  # next phase of the same task, if any
                    f = nextp[seg[k]]
                    if f >= 0:
                        seg[k], left[k], cur[k], since[k], spd[k] = f, pdf[f], prf[f], now, 1.0
                        endp[k] = now + pdf[f]
                        continue
                end[t] = now
                run[k], endp[k] = -1, _INF
                done += 1
                release(t)
    if done < n:
        raise ScheduleError(f"scheduler stalled after {done} of {n} tasks (a cycle in the task graph?)")
    return np.asarray(start), np.asarray(end), held
