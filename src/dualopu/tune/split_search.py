"""Exhaustive, vectorized search of PE count x input size per PE for every core of a design
under an area budget (the tuner's inner loop).

Each core type is priced once for all of its candidate configurations with the batched
cost model (``(n_configs, n_layers)`` arrays); per-image busy cycles of every combination
of cores then come from broadcasting, and the objective is the steady-state throughput
bound ``clock / max(busiest core, DRAM)`` with images interleaved. The scheduler reaches
that bound within a few percent (benchmarks/bench_sched.py), and the caller confirms the
winner with a real schedule.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dualopu.cost.evaluate import cost_matrix, place_layers
from dualopu.cost.model import CoreParams, core_costs
from dualopu.errors import TuneError
from dualopu.hw.area import core_area
from dualopu.hw.config import Core, CoreType, Hardware
from dualopu.ir.network import MAC_KINDS, Network

DEFAULT_PE_COUNTS = tuple(range(4, 257, 4))
DEFAULT_INPUT_SIZES = {
    CoreType.REGULAR: (4, 8, 16, 32, 64),
    CoreType.UNIFIED: (4, 8, 16, 32, 64),
    CoreType.DEPTHWISE: (4, 8, 9, 12, 16, 18, 25, 27, 32),
}


@dataclass(frozen=True)
class CoreSpace:
    """Candidates for one core: its template (type, buffers, dataflow) and the values to try."""

    template: Core
    pe_counts: Sequence[int] = DEFAULT_PE_COUNTS
    input_sizes: Sequence[int] = field(default_factory=tuple)

    def candidates(self) -> list[tuple[int, int]]:
        sizes = self.input_sizes or DEFAULT_INPUT_SIZES[self.template.type]
        out = []
        for p, i in itertools.product(self.pe_counts, sizes):
            if self.template.type is not CoreType.DEPTHWISE and self.template.dataflow == "opu":
                pic = min(self.template.ic_parallel, p * i)
                if pic % i and i % pic:
                    continue
            out.append((p, i))
        return out


@dataclass(frozen=True)
class SearchResult:
    """The best configuration and the runners-up, best first (by the steady-state bound)."""

    hardware: Hardware
    period_cycles: float
    throughput_ips: float
    area: float
    evaluated: int
    top: tuple[Hardware, ...] = ()


def _placement_mask(nets: Sequence[Network], template: Hardware) -> list[np.ndarray]:
    """Per network: the core index each element-wise layer follows (its producer's core on the template)."""
    return [place_layers(net, template, cost_matrix(net, template)) for net in nets]


@dataclass(frozen=True)
class Grid:
    """Per-core candidate arrays and their per-round busy cycles and areas."""

    candidates: tuple[np.ndarray, ...]  # per core: (n_k, 2) [pe_count, input_size]
    busy: tuple[np.ndarray, ...]  # per core: (n_k,) cycles per workload round
    areas: tuple[np.ndarray, ...]  # per core: (n_k,)
    dram_cycles: float

    @property
    def size(self) -> int:
        return int(np.prod([len(c) for c in self.candidates]))

    def evaluate(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat combination indices [lo, hi): (per-core candidate indices (m, K), period, area)."""
        flat = np.arange(lo, min(hi, self.size))
        idx = np.stack(np.unravel_index(flat, [len(c) for c in self.candidates]), axis=1)
        period = np.maximum.reduce([self.busy[k][idx[:, k]] for k in range(len(self.candidates))])
        period = np.maximum(period, self.dram_cycles)
        area = np.sum([self.areas[k][idx[:, k]] for k in range(len(self.candidates))], axis=0)
        return idx, period, area


def build_grid(nets: Sequence[Network], template: Hardware, spaces: Sequence[CoreSpace],
               weights: Sequence[float] | None = None) -> Grid:
    """Price every candidate of every core once (vectorized) for the workload round."""
    if len(spaces) != len(template.cores):
        raise TuneError(f"{len(spaces)} core spaces for {len(template.cores)} cores")
    weights = list(weights or [1.0] * len(nets))
    placements = _placement_mask(nets, template)
    am = template.area_model
    cand = [np.array(s.candidates(), dtype=float).reshape(-1, 2) for s in spaces]
    if any(len(c) == 0 for c in cand):
        raise TuneError("empty design space: a core has no candidate (PE count, input size)")
    busy, areas = [], []
    for k, (space, c) in enumerate(zip(spaces, cand)):
        t = space.template
        params = CoreParams.batch(
            t.type, t.dataflow, pe_count=c[:, 0], input_size=c[:, 1], ic_parallel=t.ic_parallel,
            input_buffer_kib=t.input_buffer_kib, weight_buffer_kib=t.weight_buffer_kib,
            output_buffer_kib=t.output_buffer_kib, instr_overhead_cycles=t.instr_overhead_cycles,
            post_ops_per_cycle=t.post_ops_per_cycle, runs_elementwise=t.runs_elementwise,
        )
        total = np.zeros(len(c))
        for net, w, place in zip(nets, weights, placements):
            costs = core_costs(net.table, params, template.dram_bytes_per_cycle, template.data_bytes)
            total += w * costs.cycles[:, place == k].sum(axis=1)
        busy.append(total)
        buffers = t.input_buffer_kib + t.weight_buffer_kib + t.output_buffer_kib
        areas.append(core_area(am, t.type, c[:, 0], c[:, 1], buffers))
    dram = 0.0
    for net, w in zip(nets, weights):
        cm = cost_matrix(net, template)
        place = place_layers(net, template, cm)
        dram += w * float(cm.dram_bytes[np.arange(len(net)), place].sum())
    return Grid(tuple(cand), tuple(busy), tuple(areas), dram / template.dram_bytes_per_cycle)


def hardware_from(template: Hardware, spaces: Sequence[CoreSpace], grid: Grid, idx: Sequence[int] | np.ndarray) -> Hardware:
    """The Hardware of one combination (per-core candidate indices)."""
    cores = []
    for k, space in enumerate(spaces):
        p, i = grid.candidates[k][int(idx[k])]
        cores.append(space.template.model_copy(update={"pe_count": int(p), "input_size": int(i)}))
    return Hardware.model_validate({**template.model_dump(), "cores": [c.model_dump() for c in cores]})


def search(
    nets: Sequence[Network],
    template: Hardware,
    spaces: Sequence[CoreSpace],
    budget: float,
    weights: Sequence[float] | None = None,
    top_k: int = 1,
) -> SearchResult:
    """Best configuration of ``template``'s cores (one CoreSpace per core, same order) under ``budget``.

    ``weights`` are images of each network per workload round (default one each).
    """
    weights = list(weights or [1.0] * len(nets))
    grid = build_grid(nets, template, spaces, weights)
    idx_all, period, area = grid.evaluate(0, grid.size)
    ok = (area <= budget * (1 + 1e-9)) & np.isfinite(period)
    if not ok.any():
        smallest = float(np.min(area))
        raise TuneError(f"no configuration fits the area budget {budget:.1f}; the smallest feasible area is "
                        f"{smallest:.1f}")
    score = np.where(ok, period * (1 + 1e-9 * area / max(budget, 1.0)), np.inf)  # ties: the smaller design
    order = np.argsort(score, kind="stable")[: max(1, min(top_k, int(ok.sum())))]

    def hardware_at(j: int) -> Hardware:
        return hardware_from(template, spaces, grid, idx_all[j])

    best = int(order[0])
    top = tuple(hardware_at(int(j)) for j in order)
    return SearchResult(top[0], float(period[best]), template.clock_mhz * 1e6 / float(period[best]) * sum(weights),
                        float(area[best]), len(period), top)


def has_mac_work(nets: Sequence[Network]) -> bool:
    return any(layer.kind in MAC_KINDS for net in nets for layer in net.layers)
