"""The one placement rule: which core runs each layer, decided once, as data.

`place(net, hw)` returns a `Placement`; `evaluate`, `compile_network`, the scheduler and
the tuner all use it, so a schedule's cores are the ones its compiled programs run on.

Which cores a layer may use (``allowed``):

* a MAC layer: the capable cores of the *type* of its fastest capable core (so a design
  with two regular cores may spread its convolutions over both; a depthwise layer that a
  regular core could also run stays on the depthwise core when that one is faster);
* an element-wise layer (add, pool, ...): every capable core (every core with
  ``runs_elementwise``);
* a zero-cost layer (concat, slice, shuffle: address remapping): its first producer's core
  when allowed (cosmetic: it takes no time anywhere).

Policies (`POLICIES`):

* ``balanced`` (the default): layers with one allowed core load that core first; then the
  others, longest first, each go to the allowed core that ends least loaded
  (``load + cost``, ties to the lower index): a longest-processing-time greedy that keeps
  the busiest core of one image (of a weighted mix: `place_workload`) low;
* ``fastest``: MAC layers on their fastest capable core (ties to the lower index),
  element-wise layers on their first producer's core when it can run them, else the
  fastest (the rule `evaluate` used before this module).

For the tuner: `place_batch` is the same rule vectorized over candidate configurations,
cycles ``(C, L, K)`` in, cores ``(C, L)`` and per-core busy cycles ``(C, K)`` out; `balance`
is its balancing step alone, for when the fixed layers' per-candidate loads ``(C, K)`` are
known and the flexible layers' costs are one ``(F, K)`` table shared by every candidate
(element-wise layers do not depend on the PE array): 184,320 candidates x 20 layers take
about 0.2 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dualopu.errors import HardwareError
from dualopu.hw.config import Hardware
from dualopu.ir.network import KIND_CODES, MAC_KINDS, Network

if TYPE_CHECKING:
    from dualopu.cost.evaluate import CostMatrix

BALANCED = "balanced"
FASTEST = "fastest"
POLICIES = (BALANCED, FASTEST)
_MAC_CODES = [KIND_CODES[k] for k in MAC_KINDS]


@dataclass(frozen=True)
class Placement:
    """Core of every layer of one network (or of a workload's networks, concatenated).

    ``capable[l, k]``: core ``k`` can run layer ``l``; ``allowed[l, k]``: the policy may put it
    there; ``core[l]``: where it runs (every image the same); ``busy_cycles[k]``: core ``k``'s
    cycles per image (per weighted round for `place_workload`)."""

    capable: np.ndarray  # (L, K) bool
    allowed: np.ndarray  # (L, K) bool
    core: np.ndarray  # (L,) int64
    busy_cycles: np.ndarray  # (K,)
    policy: str

    def __len__(self) -> int:
        return int(self.core.shape[0])

    def split(self, sizes: Sequence[int]) -> list[Placement]:
        """Per network of a concatenated placement (`place_workload`), busy cycles left as a whole."""
        bounds = np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))])
        return [
            Placement(self.capable[a:b], self.allowed[a:b], self.core[a:b], self.busy_cycles, self.policy)
            for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())
        ]

    def to_list(self) -> list[int]:
        return [int(c) for c in self.core]


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise HardwareError(f"unknown placement policy {policy!r}: {' or '.join(POLICIES)}")


def _first_producer(predecessors: Sequence[Sequence[int]]) -> np.ndarray:
    """Index of each layer's first producer, -1 for none."""
    return np.array([p[0] if p else -1 for p in predecessors], dtype=np.int64)


def place_batch(
    cycles: np.ndarray,
    core_types: Sequence[str],
    is_mac: np.ndarray,
    predecessors: Sequence[Sequence[int]],
    policy: str = BALANCED,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The placement rule over ``C`` candidate configurations at once.

    ``cycles``: ``(C, L, K)`` (or ``(L, K)``) cycles of every layer on every core, ``inf``
    where a core cannot run it; ``core_types``: each core's type (``hw.cores[k].type.value``);
    ``is_mac``: ``(L,)`` MAC layers; ``predecessors``: each layer's producers (layer indices,
    topological order); ``weight``: ``(L,)`` images per layer (a mix's image counts, default 1).
    Returns ``core`` ``(C, L)`` and ``busy`` ``(C, K)`` (weighted cycles per core; ``inf`` for
    a candidate that cannot run some layer)."""
    _check_policy(policy)
    c3 = np.asarray(cycles, dtype=float)
    squeeze = c3.ndim == 2
    if squeeze:
        c3 = c3[None]
    C, L, K = c3.shape
    w = np.ones(L) if weight is None else np.asarray(weight, dtype=float)
    capable = np.isfinite(c3)
    cost = np.where(capable, c3, np.inf)
    fastest = np.argmin(cost, axis=2)  # (C, L), ties to the lower index
    types = np.asarray([str(t) for t in core_types])
    mac = np.asarray(is_mac, dtype=bool)
    rows_c = np.arange(C)[:, None]
    rows_l = np.arange(L)[None, :]
    same_type = types[None, None, :] == types[fastest][:, :, None]
    allowed = capable & np.where(mac[None, :, None], same_type, True)
    producer = _first_producer(predecessors)
    core = fastest.copy()
    if policy == FASTEST:
        for i in np.flatnonzero(~mac).tolist():  # element-wise: follow the producer's core
            p = int(producer[i])
            if p >= 0:
                ok = capable[np.arange(C), i, core[:, p]]
                core[:, i] = np.where(ok, core[:, p], core[:, i])
    else:
        free = capable.any(axis=2) & (np.where(capable, cost, 0.0).max(axis=2) <= 0.0)  # (C, L)
        wc = np.where(allowed, cost * w[None, :, None], np.inf)
        n_allowed = allowed.sum(axis=2)
        fixed = (n_allowed == 1) & ~free
        flex = (n_allowed > 1) & ~free
        core = np.where(fixed, np.argmax(allowed, axis=2), fastest)
        load = np.zeros((C, K))
        for k in range(K):  # layers with one allowed core load it first
            load[:, k] = np.where(
                fixed & (core == k), np.where(np.isfinite(wc[:, :, k]), wc[:, :, k], 0.0), 0.0
            ).sum(axis=1)
        # then the flexible ones, longest first, each where it ends least loaded
        cs = np.arange(C)
        nf = int(flex.sum(axis=1).max(initial=0))
        if nf:
            min_cost = np.where(flex, wc.min(axis=2), -np.inf)
            idx = np.argsort(-min_cost, axis=1, kind="stable")[:, :nf]  # (C, nf) flexible layers first
            sub = np.where(np.take_along_axis(flex, idx, axis=1)[:, :, None], wc[cs[:, None], idx], np.nan)
            choice, load = balance(load, sub)
            live = ~np.isnan(sub).all(axis=2)
            core[cs[:, None], idx] = np.where(live, choice, core[cs[:, None], idx])
        for i in np.flatnonzero(free.any(axis=0)).tolist():  # zero-cost: with the first producer, if allowed
            p = int(producer[i])
            if p >= 0:
                ok = free[:, i] & allowed[cs, i, core[:, p]]
                core[:, i] = np.where(ok, core[:, p], core[:, i])
    picked = cost[rows_c, rows_l, core] * w[None, :]
    busy = np.zeros((C, K))
    for k in range(K):
        busy[:, k] = np.where(core == k, picked, 0.0).sum(axis=1)
    busy = np.where(np.all(np.isfinite(picked), axis=1, keepdims=True), busy, np.inf)
    if squeeze:
        return core[0], busy[0]
    return core, busy


def balance(load: np.ndarray, cycles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The balancing step alone: flexible layers onto cores already carrying ``load``.

    ``load``: ``(C, K)`` cycles per core from the layers with one allowed core;
    ``cycles``: ``(C, F, K)`` or ``(F, K)`` (shared by every candidate) cycles of each flexible
    layer on each core, ``inf`` where not allowed, ``nan`` for padding rows (skipped).
    Layers are taken longest first (smallest cost over cores, ties in row order), each to
    the core where ``load + cycles`` is least (ties to the lower index). Returns the chosen
    core ``(C, F)`` (in the rows' order) and the final load ``(C, K)``. This is what the
    tuner calls with the fixed layers' per-candidate busy cycles when the flexible layers'
    costs do not depend on the candidate (element-wise layers), or per candidate."""
    load = np.array(load, dtype=float)
    C = load.shape[0]
    cyc = np.asarray(cycles, dtype=float)
    if cyc.ndim == 2 and C > 1:  # one cost table for every candidate: one order, no gathers
        return _balance_shared(load, cyc)
    cyc = np.broadcast_to(cyc, (C, *cyc.shape)) if cyc.ndim == 2 else cyc
    F = cyc.shape[1]
    pad: np.ndarray = np.all(np.isnan(cyc), axis=2)
    key = np.where(pad, -np.inf, np.nanmin(np.where(np.isnan(cyc), np.inf, cyc), axis=2))
    order = np.argsort(-key, axis=1, kind="stable")  # longest first, padding last
    choice = np.zeros((C, F), dtype=np.int64)
    if C == 1:  # one configuration (evaluate, compile, schedule): the same steps on Python floats
        row, ld, live1 = cyc[0].tolist(), load[0].tolist(), (~pad[0]).tolist()
        for i in order[0].tolist():
            tot = [x + c if c < np.inf else np.inf for x, c in zip(ld, row[i])]
            k = tot.index(min(tot))
            choice[0, i] = k
            if live1[i] and row[i][k] < np.inf:
                ld[k] += row[i][k]
        return choice, np.array([ld])
    cs = np.arange(C)
    for j in range(F):
        i = order[:, j]
        ci = cyc[cs, i]  # (C, K)
        live = ~pad[cs, i]
        ok = np.isfinite(ci)
        total = np.where(ok, load + np.where(ok, ci, 0.0), np.inf)
        k = np.argmin(total, axis=1)
        choice[cs, i] = k
        add = ci[cs, k]
        load[cs, k] += np.where(live & np.isfinite(add), add, 0.0)
    return choice, load


def _balance_shared(load: np.ndarray, cyc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`balance` when every candidate shares the ``(F, K)`` table (same steps, vectorized over C)."""
    C, F = load.shape[0], cyc.shape[0]
    pad: np.ndarray = np.all(np.isnan(cyc), axis=1)
    key = np.where(pad, -np.inf, np.where(np.isnan(cyc), np.inf, cyc).min(axis=1))
    choice = np.zeros((C, F), dtype=np.int64)
    cs = np.arange(C)
    for i in np.argsort(-key, kind="stable").tolist():
        ci = cyc[i]
        ok = np.isfinite(ci)
        total = np.where(ok[None, :], load + np.where(ok, ci, 0.0)[None, :], np.inf)
        k = np.argmin(total, axis=1)
        choice[:, i] = k
        if not pad[i]:
            load[cs, k] += np.where(ok, ci, 0.0)[k]
    return choice, load


def _allowed(cycles: np.ndarray, core_types: Sequence[str], is_mac: np.ndarray) -> np.ndarray:
    capable = np.isfinite(cycles)
    fastest = np.argmin(np.where(capable, cycles, np.inf), axis=1)
    types = np.asarray([str(t) for t in core_types])
    same = types[None, :] == types[fastest][:, None]
    return capable & np.where(np.asarray(is_mac, dtype=bool)[:, None], same, True)


def place_workload(
    nets: Sequence[Network],
    hw: Hardware,
    matrices: Sequence[CostMatrix | None] | None = None,
    images: Sequence[int] | None = None,
    policy: str = BALANCED,
) -> Placement:
    """One placement for a mix: the layers of every network concatenated (in order), each
    weighted by its network's image count, balanced together. ``Placement.split`` gives
    each network's part."""
    from dualopu.cost.evaluate import check_runs

    _check_policy(policy)
    imgs = [1] * len(nets) if images is None else [int(m) for m in images]
    cms = [check_runs(n, hw, None if matrices is None else matrices[i]) for i, n in enumerate(nets)]
    cycles = np.concatenate([np.where(np.isfinite(cm.cycles), cm.cycles, np.inf) for cm in cms])
    is_mac = np.concatenate([np.isin(n.table.kind, _MAC_CODES) for n in nets])
    preds: Sequence[Sequence[int]] = nets[0].predecessors if len(nets) == 1 else []
    if len(nets) > 1:
        joined: list[tuple[int, ...]] = []
        for net in nets:
            base = len(joined)
            joined.extend(tuple(p + base for p in ps) for ps in net.predecessors)
        preds = joined
    weight = np.concatenate([np.full(len(n), m, dtype=float) for n, m in zip(nets, imgs)])
    types = [c.type.value for c in hw.cores]
    core, busy = place_batch(cycles, types, is_mac, preds, policy, weight)
    return Placement(
        np.isfinite(cycles), _allowed(cycles, types, is_mac), core.astype(np.int64), busy, policy
    )


def place(net: Network, hw: Hardware, cm: CostMatrix | None = None, policy: str = BALANCED) -> Placement:
    """The core of every layer of ``net`` on ``hw`` (see the module docstring for the rule).

    ``cm``: the network's cost matrix if already computed. Raises `HardwareError` if no core
    can run some layer. Example::

        p = place(net, hw)            # p.core[l]: core index of layer l
        p.busy_cycles                 # per core, cycles per image
    """
    return place_workload([net], hw, None if cm is None else [cm], None, policy)
