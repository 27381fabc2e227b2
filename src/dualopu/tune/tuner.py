"""The auto-tuner: every core's PE count, input size, ic_parallel and buffers under an area budget.

One procedure for every design family (dual-core, single core, systolic, several cores of
one type), so every comparison is tuned vs tuned:

1. price, prune and shortlist the design space by a separable estimate, then place the
   shortlist with the one placement rule and rank it by the placed steady-state bound
   (`tune.search`); energy per image comes from the same access counts as `evaluate`;
2. schedule the best ``confirm_top`` (and the preset, always a candidate) with the real
   scheduler, in parallel (local processes or Dask), and keep the best scheduled one;
3. optionally replay the winner's schedule on the multi-core cycle simulator (``simulate``:
   a hook the caller supplies, e.g. `dualopu.flows.schedule_sim.tune_confirmation`, since
   flows/ sits above tune/);
4. store the ranked candidates, the fronts and the confirmations (resumable), then write
   best.yaml, candidates.csv, pareto.csv, pareto_energy.csv, summary.json and tune.png once.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dualopu.errors import TuneError
from dualopu.hw.area import total_area
from dualopu.hw.config import Core, Hardware, load_hardware
from dualopu.hw.rules import check_rules, without_rules
from dualopu.ir.network import Network
from dualopu.tune.budget import AREA, Budget, as_budget, describe, design_usage, fits
from dualopu.tune.executor import dask_address, run_jobs
from dualopu.tune.search import (
    CorePricing,
    PricingMemo,
    Scale,
    WorkloadRows,
    combine_values,
    hardware_of,
    pareto_indices,
    price_and_prune,
    rank,
)
from dualopu.tune.space import COLUMNS, CoreRanges, DesignSpace, core_kind, load_space, space_size
from dualopu.tune.store import ROW_COLUMNS, ResultStore, core_columns
from dualopu.util import write_atomic

#: Template of each core kind in a `--cores` list (buffers, dataflow from the presets).
_CORE_TEMPLATES = {
    "regular": ("dual-opu", 0),
    "depthwise": ("dual-opu", 1),
    "unified": ("single-opu", 0),
    "unified:systolic": ("tpu-like", 0),
    "systolic": ("tpu-like", 0),
}
#: Objectives: lower is better, from (period in seconds, area, per-core busy fraction (m, K),
#: energy per image in uJ).
Objective = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
OBJECTIVES: dict[str, Objective] = {
    "throughput": lambda period_s, area, frac, energy: period_s,
    "latency": lambda period_s, area, frac, energy: (
        period_s * frac.sum(axis=1)
    ),  # work of one round, cores in sequence
    "efficiency": lambda period_s, area, frac, energy: period_s * area,  # images per second per unit area
    "energy": lambda period_s, area, frac, energy: energy,  # uJ per image
    "edp": lambda period_s, area, frac, energy: energy * period_s,  # energy-delay product
}
#: Objectives that read energy (energy is then a dominance dimension of the pruning).
ENERGY_OBJECTIVES = ("energy", "edp")
#: Columns of a ranked row: ROW_COLUMNS, then DRAM and clock, then every core's values.
P_COL, AREA_COL, BOUND_COL, ENERGY_COL, DRAM_COL, CLOCK_COL = range(6)
#: Caller-supplied replay of the winner on the cycle simulator: (networks, hardware, images per
#: network) -> at least ``makespan_cycles`` and ``simulated_makespan_cycles``.
Simulate = Callable[[Sequence[Network], Hardware, int], Mapping[str, Any]]
Progress = Callable[[str], None]
#: Candidates confirmed by schedules by default (K).
CONFIRM_TOP = 32
#: Images per network when confirming by default (enough for the steady state of the list scheduler).
CONFIRM_IMAGES = 8


def template_for(cores: str, dram: float | None = None, rules_off: Sequence[str] = ()) -> Hardware:
    """A processor template from a `--cores` list such as ``regular,depthwise`` or ``unified``;
    ``rules_off``: OPU machine-model rules taken off (`dualopu.hw.rules`; every candidate inherits
    the template's rule fields)."""
    return _template(cores, None if dram is None else float(dram), check_rules(rules_off))


@functools.lru_cache(maxsize=64)
def _template(cores: str, dram: float | None, rules_off: tuple[str, ...] = ()) -> Hardware:
    """`template_for`, built once per process (presets are package files; `Hardware` is frozen):
    a report tunes dozens of designs, each parsing three preset YAMLs otherwise."""
    kinds = [c.strip() for c in cores.split(",") if c.strip()]
    if not kinds:
        raise TuneError("empty --cores list")
    built: list[Core] = []
    for kind in kinds:
        if kind not in _CORE_TEMPLATES:
            raise TuneError(f"unknown core kind {kind!r} in --cores (use {', '.join(_CORE_TEMPLATES)})")
        preset, k = _CORE_TEMPLATES[kind]
        core = load_hardware(preset).cores[k]
        name = core.name if sum(1 for x in kinds if x == kind) == 1 else f"{core.name}{len(built)}"
        built.append(core.model_copy(update={"name": name}))
    base = load_hardware("dual-opu")
    data = {
        **base.model_dump(),
        "name": f"tuned-{'-'.join(k.replace(':', '_') for k in kinds)}",
        "cores": [c.model_dump() for c in built],
    }
    if dram is not None:
        data["dram_bytes_per_cycle"] = dram
    return without_rules(Hardware.model_validate(data), rules_off)


def _same_family(a: Hardware, b: Hardware) -> bool:
    return [(c.type, c.dataflow) for c in a.cores] == [(c.type, c.dataflow) for c in b.cores]


def _values(hw: Hardware) -> list[np.ndarray]:
    return [np.array([float(getattr(c, col)) for col in COLUMNS]) for c in hw.cores]


@dataclass
class TuneResult:
    """Best configuration (scheduled), the confirmed candidates and the search's figures."""

    best: Hardware
    throughput_ips: float  # scheduled
    bound_ips: float  # steady-state bound of the best configuration
    area: float
    budget: float | dict[str, float]  # a MAC-equivalent area or limits per resource (`tune.budget`)
    evaluated: int
    table: np.ndarray  # ranked candidates (rows), numeric columns `columns`, scheduled_ips last
    method: str
    seconds: float
    core_busy_fraction: list[float] = field(default_factory=list)
    space_size: int = 0
    pruned_sizes: list[int] = field(default_factory=list)
    preset_ips: float | None = None
    front: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # Pareto front, `columns[1:-1]`
    columns: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    objective: str = "throughput"
    energy_uj_per_image: float = 0.0  # placed bound, as `evaluate` on best.yaml (one network)
    energy_front: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # throughput vs energy
    simulated: dict[str, Any] = field(default_factory=dict)  # the `simulate` hook's figures
    bound_busy_cycles: list[float] = field(default_factory=list)  # per core per round, as placed
    notes: list[str] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=dict)  # the best design's, `budget.design_usage`

    @property
    def points(self) -> Any:
        """The confirmed candidates as a pandas DataFrame (pandas imported only here)."""
        import pandas as pd

        frame = pd.DataFrame(self.table, columns=self.columns)
        frame["preset"] = frame["preset"].astype(bool)
        return frame

    @property
    def pareto(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.front, columns=self.columns[1:-1])

    @property
    def pareto_energy(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.energy_front, columns=self.columns[1:-1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "throughput_ips": self.throughput_ips,
            "bound_ips": self.bound_ips,
            "area": self.area,
            "budget": self.budget,
            "resources": self.resources,
            "evaluated": self.evaluated,
            "space_size": self.space_size,
            "pruned_sizes": self.pruned_sizes,
            "method": self.method,
            "seconds": self.seconds,
            "core_busy_fraction": self.core_busy_fraction,
            "preset_ips": self.preset_ips,
            "objective": self.objective,
            "energy_uj_per_image": self.energy_uj_per_image,
            "bound_busy_cycles": self.bound_busy_cycles,
            "makespan_cycles": self.simulated.get("makespan_cycles"),
            "simulated_makespan_cycles": self.simulated.get("simulated_makespan_cycles"),
            "simulation": self.simulated,
            "notes": self.notes,
            "timings": self.timings,
            "best_hw": self.files.get("best_hw", ""),
            "best": [
                {
                    "name": c.name,
                    "type": c.type.value,
                    "dataflow": c.dataflow,
                    **{col: getattr(c, col) for col in COLUMNS},
                }
                for c in self.best.cores
            ],
            "files": self.files,
        }


def confirm_one(nets: Sequence[Network], hw: Hardware, images: int) -> tuple[float, list[float]]:
    """Scheduled throughput of ``images`` images of each network on ``hw`` and each core's busy fraction."""
    from dualopu.sched import Workload, schedule

    s = schedule(Workload.mix([(n, images) for n in nets]), hw)
    span = float(s.makespan_cycles) or 1.0
    dur = np.asarray(s.end, dtype=float) - np.asarray(s.start, dtype=float)
    busy = np.bincount(np.asarray(s.core, dtype=np.int64), weights=dur, minlength=len(hw.cores)) / span
    return float(s.throughput_ips), [float(b) for b in busy]


@dataclass
class TuneCache:
    """What several `tune` calls of one caller may share (pure caches keyed on data, living as
    long as the caller keeps the object): per-candidate prices (`search.PricingMemo`) and
    confirmation schedules by (workload, design without its name, images)."""

    pricing: PricingMemo = field(default_factory=dict)
    confirmed: dict[str, tuple[float, list[float]]] = field(default_factory=dict)


def _confirm_key(nets: Sequence[Network], hw: Hardware, images: int) -> str:
    import json

    return json.dumps(
        [
            [(n.name, list(n.input_shape), len(n)) for n in nets],
            hw.model_dump(mode="json", exclude={"name"}),
            images,
        ],
        sort_keys=True,
    )


def _space_with(
    space: DesignSpace,
    pe_counts: Mapping[str, Sequence[int]] | None,
    input_sizes: Mapping[str, Sequence[int]] | None,
    kinds: Sequence[str],
) -> DesignSpace:
    """``space`` with per-kind PE counts / input sizes pinned (ablations, tests)."""
    cores = dict(space.cores)
    for kind in kinds:
        upd: dict[str, Any] = {}
        if pe_counts and kind in pe_counts:
            upd["pe_count"] = list(pe_counts[kind])
        if input_sizes and kind in input_sizes:
            upd["input_size"] = list(input_sizes[kind])
        if upd:
            cores[kind] = CoreRanges.model_validate({**space.ranges(kind).model_dump(), **upd})
    return space.model_copy(update={"cores": cores})


def tune(
    nets: Sequence[Network],
    budget: float | Budget,
    cores: str = "regular,depthwise",
    *,
    space: DesignSpace | str | Path | None = None,
    method: str = "auto",
    trials: int = 300,
    seed: int = 0,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    executor: str = "local",
    objective: str = "throughput",
    pe_counts: Mapping[str, Sequence[int]] | None = None,
    input_sizes: Mapping[str, Sequence[int]] | None = None,
    dram: float | None = None,
    preset: Hardware | str | None = None,
    confirm_top: int = CONFIRM_TOP,
    confirm_images: int = CONFIRM_IMAGES,
    workers: int | None = None,
    progress: Progress | None = None,
    name: str | None = None,
    plot: bool = False,
    simulate: Simulate | None = None,
    cache: TuneCache | None = None,
    price_energy: bool = True,
    fronts: bool = True,
    rules_off: Sequence[str] = (),
) -> TuneResult:
    """Tune ``cores`` for the workload ``nets`` (one image of each per round) under ``budget``.

    ``space``: a `DesignSpace` or its YAML (default: `space.DEFAULT_CORES`); ``preset``: a
    design of the same family always confirmed (default: the template when it fits);
    ``confirm_top``: candidates scheduled (K); ``executor``: ``local`` or ``dask://HOST:PORT``;
    ``plot``: also draw tune.png (matplotlib costs about a second, more than the search);
    ``simulate``: replays the winner's schedule on the cycle simulator (`Simulate`), its
    figures reported as ``makespan_cycles`` and ``simulated_makespan_cycles``; ``cache``: prices
    and confirmations shared with the caller's other tunes (`TuneCache`; results unchanged);
    ``price_energy`` False: the candidates' dynamic energy is not priced (a caller that reads
    only the design, e.g. the report; the result's energy figures are then leakage only; not
    allowed with an energy objective); ``fronts`` False: the throughput-area and
    throughput-energy fronts are not built (empty; same design and ranking), for a caller
    that reads only the design; ``rules_off``: OPU machine-model rules taken off the family's
    template (`dualopu.hw.rules`; the report's "before the rules" designs)."""
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    if objective not in OBJECTIVES:
        raise TuneError(f"unknown objective {objective!r} ({', '.join(OBJECTIVES)})")
    if not price_energy and objective in ENERGY_OBJECTIVES:
        raise TuneError(f"objective {objective!r} needs energy priced")
    if isinstance(budget, (int, float)) and budget <= 0:
        raise TuneError(f"area budget must be positive, got {budget}")
    limits = as_budget(budget)  # refuses unknown resources and non-positive limits
    if not isinstance(budget, (int, float)):
        budget = limits
    if confirm_top < 1 or confirm_images < 1:
        raise TuneError("--confirm-top and --images must be at least 1")
    dask_address(executor)  # refuse a bad --executor before any work
    template = template_for(cores, dram, rules_off)
    ds = space if isinstance(space, DesignSpace) else load_space(space)
    ds = _space_with(ds, pe_counts, input_sizes, [core_kind(c) for c in template.cores])
    drams = [dram] if dram is not None else (ds.dram_bytes_per_cycle or [template.dram_bytes_per_cycle])
    clocks = ds.clock_mhz or [template.clock_mhz]
    pre = load_hardware(preset) if isinstance(preset, str) else preset
    if pre is not None and rules_off:  # the preset candidate follows the template's rules
        pre = without_rules(pre, rules_off)
    if pre is None and fits(template, budget):
        pre = template
    if pre is not None and not _same_family(pre, template):
        pre = None
    dropped = []
    if pre is not None and isinstance(budget, dict) and not fits(pre, budget):
        dropped = [f"the preset {pre.name} does not fit the budget ({describe(budget)}); not a candidate"]
        pre = None
    size = space_size(
        template.cores, ds.model_copy(update={"dram_bytes_per_cycle": drams, "clock_mhz": clocks})
    )
    say(f"design space: {size:,} configurations ({len(template.cores)} cores)")
    K = len(template.cores)
    signature = {
        "nets": [[n.name, list(n.input_shape), len(n)] for n in nets],
        "cores": cores,
        "budget": budget,
        "template": template.model_dump(mode="json"),
        "space": ds.model_dump(mode="json"),
        "drams": drams,
        "clocks": clocks,
        "method": method,
        "seed": seed,
        "trials": trials,
        "objective": objective,
        "top": confirm_top,
        "images": confirm_images,
        "preset": pre.model_dump(mode="json") if pre is not None else None,
    }
    if not fronts:  # (only then: stores written before the option keep their signature)
        signature["fronts"] = False
    out_dir = Path(out) if out is not None else None
    store = ResultStore(out_dir / "tune.db", signature, K, resume, overwrite) if out_dir else None
    ncol = len(ROW_COLUMNS) + 2
    timings: dict[str, float] = {}
    try:
        if store is not None and store.ranked():
            cand, is_preset, joined, info = store.load_ranked()
            n_area = int(info.get("area_front_rows", len(joined)))  # type: ignore[call-overload]
            front = (joined[:n_area], joined[n_area:])
        else:
            t1, c1 = time.perf_counter(), _cpu_s()
            cand, is_preset, front, info = _search(
                nets,
                template,
                ds,
                budget,
                drams,
                clocks,
                objective,
                method,
                trials,
                seed,
                confirm_top,
                pre,
                None if cache is None else cache.pricing,
                price_energy,
                fronts,
            )
            timings["search_s"] = time.perf_counter() - t1
            timings["search_cpu_s"] = _cpu_s() - c1
            if store is not None:
                store.put_ranked(cand, is_preset, np.concatenate(front), info)
        say(f"confirming {len(cand)} candidates by schedules ({confirm_images} images each)")
        t2, c2 = time.perf_counter(), _cpu_s()
        done = store.confirmed() if store is not None else {}
        hws = [_hw_of_row(template, r, ncol, name or template.name) for r in cand]
        keys = [_confirm_key(nets, h, confirm_images) for h in hws] if cache is not None else []
        if cache is not None:
            for i in range(len(cand)):
                if i not in done and keys[i] in cache.confirmed:
                    done[i] = cache.confirmed[keys[i]]
                    if store is not None:
                        store.put_confirmed(i, *done[i])
        todo = [i for i in range(len(cand)) if i not in done]
        throttle = float(os.environ.get("DUALOPU_TUNE_THROTTLE_S", "0") or 0)  # tests: slow a run to kill it
        import dualopu.sched  # noqa: F401  (once here, not in every forked worker)

        for i, (ips, busy) in run_jobs(
            confirm_one, [(list(nets), hws[i], confirm_images) for i in todo], executor, workers
        ):
            done[todo[i]] = (ips, busy)
            if cache is not None:
                cache.confirmed[keys[todo[i]]] = (ips, busy)
            if store is not None:
                store.put_confirmed(todo[i], ips, busy)
            if throttle:
                time.sleep(throttle)
        timings["confirm_s"] = time.perf_counter() - t2
        timings["confirm_cpu_s"] = _cpu_s() - c2
    finally:
        if store is not None:
            store.close()
    scheduled = np.array([done[i][0] for i in range(len(cand))])
    pick = _pick(objective, scheduled, cand)
    columns = ["preset", *ROW_COLUMNS, "dram_bytes_per_cycle", "clock_mhz", *core_columns(K), "scheduled_ips"]
    table = np.concatenate([is_preset[:, None].astype(float), cand, scheduled[:, None]], axis=1)
    best = hws[pick].model_copy(update={"name": name or template.name})
    used = design_usage(best)
    if any(k != AREA for k in limits):  # "fits this FPGA": best.yaml states the budget and its resources
        best = best.model_copy(
            update={
                "area_model": best.area_model.model_copy(update={"kind": "fpga-xc7"}),
                "description": f"{best.description}; budget {describe(budget)}; uses "
                + ", ".join(f"{k} {used[k]:.0f}" for k in limits),
            }
        )
    preset_ips = float(scheduled[is_preset][0]) if is_preset.any() else None
    simulated: dict[str, Any] = {}
    if simulate is not None:
        say("replaying the winner's schedule on the cycle simulator")
        t4, c4 = time.perf_counter(), _cpu_s()
        simulated = dict(simulate(list(nets), best, confirm_images))
        timings["simulate_s"] = time.perf_counter() - t4
        timings["simulate_cpu_s"] = _cpu_s() - c4
    width = len(columns) - 2
    result = TuneResult(
        best,
        float(scheduled[pick]),
        float(cand[pick, BOUND_COL]),
        float(cand[pick, AREA_COL]),
        budget,
        int(info["evaluated"]),
        table,
        str(info["method"]),
        time.perf_counter() - t0,
        done[pick][1],
        size,
        [int(x) for x in info["pruned_sizes"]],
        preset_ips,
        front[0].reshape(-1, width),
        columns,
        timings,
        objective=objective,
        energy_uj_per_image=float(cand[pick, ENERGY_COL]),
        energy_front=front[1].reshape(-1, width),
        simulated=simulated,
        bound_busy_cycles=[
            float(x) for x in combine_values(nets, [1.0] * len(nets), template, best).busy_cycles[0]
        ],
        notes=dropped + _notes(objective, cand, scheduled, pick, front[1].reshape(-1, width)),
        resources=used,
    )
    if out_dir is not None:
        t3 = time.perf_counter()
        result.files = write_outputs(result, out_dir, plot)
        timings["outputs_s"] = time.perf_counter() - t3
    result.seconds = time.perf_counter() - t0
    return result


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the confirmation pool)."""
    import resource

    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def _hw_of_row(template: Hardware, row: np.ndarray, ncol: int, name: str) -> Hardware:
    vals = np.asarray(row[ncol:]).reshape(len(template.cores), len(COLUMNS))
    return hardware_of(
        template, list(vals), dram_bpc=float(row[DRAM_COL]), clock_mhz=float(row[CLOCK_COL]), name=name
    )


def _pick(objective: str, scheduled: np.ndarray, cand: np.ndarray) -> int:
    """The winner among the confirmed candidates (ties: the earlier rank): throughput by the
    schedules; energy by the placed energy; EDP by the placed energy times the scheduled
    period; other objectives keep the bound's rank."""
    if objective == "throughput":
        return int(np.argmax(scheduled))
    if objective == "energy":
        return int(np.argmin(cand[:, ENERGY_COL]))
    if objective == "edp":
        with np.errstate(divide="ignore"):
            return int(np.argmin(cand[:, ENERGY_COL] / scheduled))
    return 0


def _notes(
    objective: str, cand: np.ndarray, scheduled: np.ndarray, pick: int, efront: np.ndarray
) -> list[str]:
    """Why an energy objective may pick what throughput would: how much energy per image and
    the period vary along the throughput-energy front (estimate) and the confirmed candidates."""
    if objective not in ENERGY_OBJECTIVES or not len(efront):
        return []

    def spread(x: np.ndarray) -> float:
        x = x[np.isfinite(x) & (x > 0)]
        return float(x.max() / x.min() - 1.0) if len(x) else 0.0

    ncol = len(ROW_COLUMNS) + 2
    fast = efront[int(np.argmax(efront[:, BOUND_COL]))]
    row = cand[pick]
    same = bool(
        np.array_equal(row[ncol:], fast[ncol:]) and np.array_equal(row[DRAM_COL:ncol], fast[DRAM_COL:ncol])
    )
    return [
        f"energy per image varies {spread(efront[:, ENERGY_COL]):.1%} along the throughput-energy front "
        f"while the period varies {spread(efront[:, P_COL] / efront[:, CLOCK_COL]):.1%}; among the confirmed "
        f"candidates energy varies {spread(cand[:, ENERGY_COL]):.1%} and scheduled throughput "
        f"{spread(scheduled):.1%}",
        "the winner is also the fastest design of the throughput-energy front"
        if same
        else f"the winner gives up {1 - row[BOUND_COL] / fast[BOUND_COL]:.1%} of the front's fastest bound for "
        f"{1 - row[ENERGY_COL] / fast[ENERGY_COL]:.1%} less energy per image (front: the search's estimate)",
    ]


def _with_fastest(cand: np.ndarray, fast: np.ndarray, top: int, ncol: int) -> np.ndarray:
    """``cand`` plus the ``top`` fastest rows of ``fast`` not already in it (EDP confirms the
    throughput shortlist too: along the front energy varies a few percent while the period
    estimate's error differs between designs by more, so the best scheduled EDP can lie just
    outside the shortlist by estimated EDP, and the throughput objective's winner would
    otherwise beat the EDP objective's at EDP)."""
    fast = fast[np.argsort(fast[:, P_COL] / fast[:, CLOCK_COL], kind="stable")[:top]]
    key = np.concatenate([cand[:, DRAM_COL:CLOCK_COL + 1], cand[:, ncol:]], axis=1)
    fkey = np.concatenate([fast[:, DRAM_COL:CLOCK_COL + 1], fast[:, ncol:]], axis=1)
    new = ~(fkey[:, None, :] == key[None, :, :]).all(axis=2).any(axis=1)
    return np.concatenate([cand, fast[new]])


def _table(
    pricing: Sequence[CorePricing],
    idx: np.ndarray,
    period: np.ndarray,
    area: np.ndarray,
    energy: np.ndarray,
    dram_bpc: float,
    clock_mhz: float,
    n_img: float,
) -> np.ndarray:
    """Rows: period, area, bound (images/s), energy (uJ/image), DRAM, clock, then every core's values."""
    vals = np.concatenate([pricing[k].values[idx[:, k]] for k in range(len(pricing))], axis=1)
    head = np.stack(
        [
            period,
            area,
            n_img * clock_mhz * 1e6 / period,
            energy,
            np.full(len(idx), dram_bpc),
            np.full(len(idx), clock_mhz),
        ],
        axis=1,
    )
    return np.concatenate([head, vals], axis=1)


def _search(
    nets: Sequence[Network],
    template: Hardware,
    ds: DesignSpace,
    budget: float | Budget,
    drams: Sequence[float],
    clocks: Sequence[float],
    objective: str,
    method: str,
    trials: int,
    seed: int,
    top: int,
    pre: Hardware | None,
    memo: PricingMemo | None = None,
    price_energy: bool = True,
    build_fronts: bool = True,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """Ranked candidates (rows: `_table`), preset flags, the fronts (throughput vs area, vs
    energy) and info."""
    obj = OBJECTIVES[objective]
    n_img = float(len(nets))
    weights = [1.0] * len(nets)
    rows_of = WorkloadRows.of(nets, weights)
    keep = [v[None, :] for v in _values(pre)] if pre is not None else []
    rows, fronts, efronts, fast_rows = [], [], [], []
    evaluated, pruned, used = 0, [0] * len(template.cores), method
    for d in drams:
        pricing = price_and_prune(
            nets,
            weights,
            template,
            ds,
            budget,
            d,
            keep,
            energy=objective in ENERGY_OBJECTIVES,
            memo=memo,
            price_energy=price_energy,
        )
        pruned = [max(a, len(p.values)) for a, p in zip(pruned, pricing)]
        for clk in clocks:
            scale = Scale(clk, n_img, template)
            r = rank(
                pricing, template, budget, d, top, obj, scale, rows_of, method, trials, seed, price_energy, build_fronts
            )
            evaluated += r.evaluated
            used = r.method
            rows.append(_table(pricing, r.idx, r.period_cycles, r.area, r.energy_uj, d, clk, n_img))
            if objective == "edp":  # and the throughput shortlist (see `_with_fastest`)
                rt = rank(
                    pricing, template, budget, d, top, OBJECTIVES["throughput"], scale, rows_of, method, trials,
                    seed, price_energy,
                )  # fmt: skip
                fast_rows.append(_table(pricing, rt.idx, rt.period_cycles, rt.area, rt.energy_uj, d, clk, n_img))
            fronts.append(
                _table(pricing, r.front_idx, r.front_period, r.front_area, r.front_energy, d, clk, n_img)
            )
            efronts.append(
                _table(pricing, r.efront_idx, r.efront_period, r.efront_area, r.efront_energy, d, clk, n_img)
            )
    cand = np.concatenate(rows)
    period_s = cand[:, P_COL] / (cand[:, CLOCK_COL] * 1e6)  # the ranks merge across clocks
    score = {
        "throughput": period_s,
        "energy": cand[:, ENERGY_COL],
        "edp": cand[:, ENERGY_COL] * period_s,
    }.get(objective, np.arange(len(cand), dtype=float))
    cand = cand[np.argsort(score, kind="stable")[:top]]
    ncol = len(ROW_COLUMNS) + 2
    if fast_rows:
        cand = _with_fastest(cand, np.concatenate(fast_rows), top, ncol)
    is_preset = np.zeros(len(cand), dtype=bool)
    if pre is not None:
        pv = np.concatenate(_values(pre))
        hit = (
            (cand[:, ncol:] == pv[None, :]).all(axis=1)
            & (cand[:, DRAM_COL] == pre.dram_bytes_per_cycle)
            & (cand[:, CLOCK_COL] == pre.clock_mhz)
        )
        if hit.any():
            is_preset[int(np.argmax(hit))] = True
        else:  # the preset is always a candidate
            placed = combine_values(nets, weights, template, pre)
            period, area = float(placed.period_cycles[0]), total_area(pre)
            energy = Scale(pre.clock_mhz, n_img, template).energy_uj(
                placed.energy_pj, np.array([area]), placed.period_cycles
            )
            row = np.concatenate(
                [
                    [
                        period,
                        area,
                        n_img * pre.clock_mhz * 1e6 / period,
                        float(energy[0]),
                        pre.dram_bytes_per_cycle,
                        pre.clock_mhz,
                    ],
                    pv,
                ]
            )
            cand = np.concatenate([cand, row[None, :]])
            is_preset = np.concatenate([is_preset, [True]])
    front = np.concatenate(fronts)
    front = front[pareto_indices(front[:, AREA_COL], front[:, BOUND_COL])]
    efront = np.concatenate(efronts)
    efront = efront[pareto_indices(efront[:, ENERGY_COL], efront[:, BOUND_COL])]
    info = {"evaluated": evaluated, "method": used, "pruned_sizes": pruned, "area_front_rows": len(front)}
    return cand, is_preset, (front, efront), info


def write_outputs(result: TuneResult, out: Path, plot: bool = False) -> dict[str, str]:
    """best.yaml (loadable by --hw), candidates.csv, pareto.csv, summary.json (and tune.png), once each."""
    import json

    files = {
        "best_hw": str(write_atomic(out / "best.yaml", result.best.to_yaml())),
        "candidates_csv": str(write_atomic(out / "candidates.csv", _csv(result.columns, result.table))),
        "pareto_csv": str(write_atomic(out / "pareto.csv", _csv(result.columns[1:-1], result.front))),
        "pareto_energy_csv": str(
            write_atomic(out / "pareto_energy.csv", _csv(result.columns[1:-1], result.energy_front))
        ),
    }
    summary = {k: v for k, v in result.to_dict().items() if k != "files"}
    files["summary_json"] = str(write_atomic(out / "summary.json", json.dumps(summary, indent=2)))
    if plot:
        files["plot"] = str(write_atomic(out / "tune.png", _plot(result)))
    return files


def _csv(columns: Sequence[str], rows: np.ndarray) -> str:
    """Numeric CSV (repr-exact floats, integers without a fraction)."""
    lines = [",".join(columns)]
    for r in np.asarray(rows, dtype=float).reshape(-1, len(columns)).tolist():
        lines.append(",".join(str(int(x)) if x.is_integer() else repr(x) for x in r))
    return "\n".join(lines) + "\n"


def _plot(result: TuneResult) -> bytes:
    """Fronts (bound vs area, bound vs energy) and the confirmed candidates (bound vs scheduled)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    if len(result.pareto):
        axes[0].plot(result.pareto["area"], result.pareto["bound_ips"], "r.-", label="Pareto front (bound)")
    if isinstance(result.budget, (int, float)):
        axes[0].axvline(result.budget, color="k", ls="--", lw=1, label="budget")
    axes[0].set_xlabel("area (MAC-equivalents)")
    axes[0].set_ylabel("throughput bound (images/s)")
    axes[0].legend(fontsize=8)
    p = result.points
    axes[1].scatter(p["bound_ips"], p["scheduled_ips"], s=10, label="confirmed candidates")
    if p["preset"].any():
        q = p[p["preset"]]
        axes[1].scatter(q["bound_ips"], q["scheduled_ips"], s=30, marker="x", color="k", label="preset")
    axes[1].set_xlabel("bound (images/s)")
    axes[1].set_ylabel("scheduled (images/s)")
    axes[1].legend(fontsize=8)
    e = result.pareto_energy
    if len(e):
        axes[2].plot(e["energy_uj_per_image"], e["bound_ips"], "g.-", label="throughput-energy front")
    axes[2].scatter(p["energy_uj_per_image"], p["bound_ips"], s=10, label="confirmed candidates")
    axes[2].scatter(
        [result.energy_uj_per_image], [result.bound_ips], s=40, marker="*", color="k", label="winner"
    )
    axes[2].set_xlabel("energy (uJ/image)")
    axes[2].set_ylabel("throughput bound (images/s)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
