"""Steady state: a software-pipelined (modulo) schedule of a workload repeated forever.

One *round* is the workload's smallest mix (one image for a single network; image counts
over their gcd for a mix), unrolled ``unroll`` times. Every round follows the same
timetable (each task at a fixed offset and core), shifted by the period ``P``, so a
round's tasks may span several periods while the cores work on several rounds at once.
Modulo scheduling: the busiest core runs its tasks back to back around the period; every
other task takes the earliest start after its predecessors at which its interval, taken
modulo ``P``, is free on its core and (with ``contention``) the DRAM port has its natural
bandwidth free at every instant (no task is ever slowed). ``P`` starts at the lower bound
(busiest core, DRAM port) and grows until every task fits, then a bisection tightens it.
``P >= bound`` by construction; the price of a tight period is rounds in flight.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from dualopu.errors import ScheduleError
from dualopu.hw.config import Hardware, load_hardware
from dualopu.sched.bound import bound_and_split
from dualopu.sched.fluid import natural_rates
from dualopu.sched.graph import TaskGraph, build_task_graph
from dualopu.sched.workload import Workload

#: Factor by which the trial period grows until every task fits the timetable.
PERIOD_GROWTH = 1.02


@dataclass(frozen=True)
class SteadyState:
    """Per-round period of a software-pipelined schedule, its lower bound and throughput.

    ``period_cycles`` and ``bound_cycles`` are per round of ``images_per_round`` images;
    ``iteration_cycles`` is one round's latency through the pipeline (``in_flight`` rounds
    overlap)."""

    period_cycles: float
    bound_cycles: float
    throughput_ips: float
    images_per_round: int = 1
    bound_throughput_ips: float = 0.0
    iteration_cycles: float = 0.0
    unroll: int = 1

    @property
    def fraction_of_bound(self) -> float:
        return self.bound_cycles / self.period_cycles if self.period_cycles > 0 else 1.0

    @property
    def cycles_per_image(self) -> float:
        return self.period_cycles / self.images_per_round

    @property
    def in_flight(self) -> float:
        return self.iteration_cycles / self.period_cycles if self.period_cycles > 0 else 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "period_cycles": self.period_cycles,
            "bound_cycles": self.bound_cycles,
            "throughput_ips": self.throughput_ips,
            "bound_throughput_ips": self.bound_throughput_ips,
            "fraction_of_bound": self.fraction_of_bound,
            "images_per_round": self.images_per_round,
            "cycles_per_image": self.cycles_per_image,
            "iteration_cycles": self.iteration_cycles,
            "in_flight": self.in_flight,
            "unroll": self.unroll,
        }


class _Circle:
    """Reservations on a circle of length ``P``: disjoint intervals (a core) or a rate profile."""

    def __init__(self, period: float) -> None:
        self.P = period
        self.iv: list[tuple[float, float]] = []  # disjoint [a, b) inside [0, P)
        self.bp: list[float] = [0.0]  # profile breakpoints with the level from each on
        self.lv: list[float] = [0.0]

    def pieces(self, s: float, d: float) -> list[tuple[float, float, float]]:
        """[s, s + d) modulo P as intervals (a, b) of [0, P), each with its absolute offset (d <= P)."""
        a = s % self.P
        base, b = s - a, a + d
        return [(a, b, base)] if b <= self.P else [(a, self.P, base), (0.0, b - self.P, base + self.P)]

    def core_clash(self, s: float, d: float) -> float | None:
        """Absolute time the first reservation overlapping [s, s + d) ends, or None if free."""
        for a, b, off in self.pieces(s, d):
            i = bisect.bisect_right(self.iv, (a, np.inf)) - 1
            for j in (i, i + 1):
                if 0 <= j < len(self.iv):
                    x, y = self.iv[j]
                    if x < b - 1e-9 and y > a + 1e-9:
                        return y + off
        return None

    def reserve(self, s: float, d: float) -> None:
        for a, b, _ in self.pieces(s, d):
            bisect.insort(self.iv, (a, b))

    def _level_points(self, x: float) -> int:
        i = bisect.bisect_left(self.bp, x)
        if i == len(self.bp) or self.bp[i] != x:
            self.bp.insert(i, x)
            self.lv.insert(i, self.lv[i - 1])
        return i

    def rate_clash(self, s: float, d: float, r: float, cap: float) -> float | None:
        """Absolute time the first over-full stretch within [s, s + d) ends, or None."""
        for a, b, off in self.pieces(s, d):
            i = bisect.bisect_right(self.bp, a) - 1
            while i < len(self.bp) and self.bp[i] < b - 1e-9:
                if self.lv[i] + r > cap * (1 + 1e-12):
                    nxt = self.bp[i + 1] if i + 1 < len(self.bp) else self.P
                    return nxt + off
                i += 1
        return None

    def add_rate(self, s: float, d: float, r: float) -> None:
        for a, b, _ in self.pieces(s, d):
            i = self._level_points(a)
            j = self._level_points(b) if b < self.P else len(self.bp)
            for k in range(i, j):
                self.lv[k] += r


def modulo_schedule(
    g: TaskGraph, core: np.ndarray, period: float, contention: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """Offsets (start, end) of one round's tasks in a timetable of period ``period``, or None.

    The busiest core's tasks sit back to back on its circle in as-soon-as-possible order (a
    task starts at the first time after its predecessors that falls on its slot), so that
    core never idles while the period equals its load; the other tasks take the earliest
    free slot (and free DRAM bandwidth) after their predecessors."""
    n = len(g)
    dur = g.cost[np.arange(n), core]
    if (dur > period * (1 + 1e-12)).any():
        return None
    bw = g.hardware.dram_bytes_per_cycle
    rate = natural_rates(dur, g.dram_bytes[np.arange(n), core], bw) if contention else np.zeros(n)
    anchor = int(np.argmax(np.bincount(core, weights=dur, minlength=g.n_cores)))
    cores = [_Circle(period) for _ in range(g.n_cores)]
    dram = _Circle(period)
    start, end = np.zeros(n), np.zeros(n)
    pp, pi = g.pred_ptr.tolist(), g.pred_idx.tolist()
    slot = 0.0  # next free position on the anchor core's circle
    for t in np.lexsort((g.layer, g.net, g.image, g.head)).tolist():
        s0 = max((float(end[pi[j]]) for j in range(pp[t], pp[t + 1])), default=0.0)
        d, k, r = float(dur[t]), int(core[t]), float(rate[t])
        s = s0
        placed = False
        if d > 0 and k == anchor:  # its slot on the anchor's circle, unless the DRAM port is full there
            s = s0 + (slot - s0) % period
            placed = cores[k].core_clash(s, d) is None and (r == 0 or dram.rate_clash(s, d, r, bw) is None)
            if placed:
                cores[k].reserve(s, d)
                slot += d
            else:
                s = s0
        if d > 0 and not placed:
            while True:
                if s > s0 + period + 1e-9:
                    return None
                nxt = cores[k].core_clash(s, d)
                if nxt is None and r > 0:
                    nxt = dram.rate_clash(s, d, r, bw)
                if nxt is None:
                    break
                # strictly later: at large absolute times ``s + 1e-9`` rounds back to ``s`` (an
                # offset taken modulo P can sit a few ulps inside a reservation's end)
                s = max(nxt, s + 1e-9, float(np.nextafter(s, np.inf)))
            cores[k].reserve(s, d)
            if k == anchor:
                slot = s + d
        if d > 0 and r > 0:
            dram.add_rate(s, d, r)
        start[t], end[t] = s, s + d
    return start, end


def _one_after_another(g: TaskGraph, core: np.ndarray, dur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A round's tasks one after another in topological order: the timetable of period ``sum(dur)``."""
    order = np.lexsort((g.layer, g.net, g.image, g.head))
    c = np.cumsum(dur[order])
    start, end = np.zeros(len(g)), np.zeros(len(g))
    start[order] = c - dur[order]
    end[order] = c
    return start, end


def steady_state(
    workload: Workload,
    hw: Hardware | str,
    *,
    contention: bool = True,
    unroll: int = 1,
    rounds: int | None = None,
    tolerance: float = 0.002,
) -> SteadyState:
    """The software-pipelined period of ``workload``'s mix (see the module docstring).

    ``rounds`` is accepted for backward compatibility and ignored."""
    hw = hw if isinstance(hw, Hardware) else load_hardware(hw)
    if unroll < 1:
        raise ScheduleError("unroll must be at least 1")
    one = workload.round()
    w = one.scaled(unroll)
    g = build_task_graph(w, hw)
    b, _ = bound_and_split(w, hw, g, contention)
    core = g.default_core
    dur = g.cost[np.arange(len(g)), core]
    dram = float(g.dram_bytes[np.arange(len(g)), core].sum()) / hw.dram_bytes_per_cycle
    lo = max(
        float(np.bincount(core, weights=dur, minlength=g.n_cores).max()),
        dram if contention else 0.0,
        float(dur.max()),
        1.0,
    )
    # one round after another (each task alone on the machine) is always a valid timetable
    seq = max(float(dur.sum()), lo)
    hi, sol = lo, modulo_schedule(g, core, lo, contention)
    while sol is None and hi < seq:
        lo, hi = hi, min(hi * PERIOD_GROWTH, seq)
        sol = modulo_schedule(g, core, hi, contention)
    if sol is None:
        hi, sol = seq, _one_after_another(g, core, dur)
    if hi > lo:
        while hi - lo > tolerance * lo:
            mid = (lo + hi) / 2
            cand = modulo_schedule(g, core, mid, contention)
            if cand is None:
                lo = mid
            else:
                hi, sol = mid, cand
    start, end = sol
    per_round = hi / unroll
    bound = max(b.joint, b.core_work, b.dram) / unroll
    ipr = one.total_images
    clock = hw.clock_mhz * 1e6
    return SteadyState(
        per_round,
        bound,
        ipr * clock / per_round,
        ipr,
        ipr * clock / bound,
        float(end.max() - start.min()),
        unroll,
    )
