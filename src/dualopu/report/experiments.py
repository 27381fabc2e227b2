"""The two operations every experiment of the report is made of: tune a design under an
area budget, and run a workload on it with the scheduler. Same functions for the dual-core
design and for every baseline, so every comparison is tuned vs tuned, scheduled alike."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dualopu.hw.config import CoreType, Hardware
from dualopu.hw.rules import check_rules
from dualopu.ir.network import Network
from dualopu.tune import tune
from dualopu.tune.budget import Budget
from dualopu.tune.tuner import TuneCache

#: Candidates confirmed by schedules per tuned design of the report (in this process: the
#: report's studies are many small tunes, where a process pool per tune costs more than it saves).
REPORT_CONFIRM_TOP = 8


@functools.cache
def _default_dram(cores: str) -> float | None:
    """The DRAM bandwidth a tune of ``cores`` uses when given none (None if the default space
    tunes the bandwidth itself)."""
    from dualopu.tune.space import load_space
    from dualopu.tune.tuner import template_for

    listed = load_space(None).dram_bytes_per_cycle
    default = float(template_for(cores).dram_bytes_per_cycle)
    return default if not listed or list(listed) == [default] else None


def _budget_key(budget: float | Budget) -> float | list[tuple[str, float]]:
    """A budget as it enters a request key: a MAC-equivalent area as a number (the key of
    before), limits per FPGA resource as sorted pairs."""
    if isinstance(budget, (int, float)):
        return round(budget, 9)
    return sorted((k, round(float(v), 9)) for k, v in budget.items())


def request_key(nets: Sequence[Network], budget: float | Budget, cores: str, pe_counts: dict[str, list[int]] | None,
                input_sizes: dict[str, list[int]] | None, dram: float | None, rules_off: Sequence[str] = ()) -> str:
    """What a tuned design depends on (its name aside). A DRAM bandwidth equal to the one the
    tuner uses by default is the same request as none (the sweep's 64 B/cycle point is the
    headline design); OPU rules taken off (`dualopu.hw.rules`) enter the key only when there are
    any (the keys of every other request are those of before)."""
    if dram is not None and float(dram) == _default_dram(cores):
        dram = None
    key: list[Any] = [[(n.name, list(n.input_shape)) for n in nets], _budget_key(budget), cores, pe_counts,
                      input_sizes, dram]
    if rules_off:
        key.append({"rules_off": list(check_rules(rules_off))})
    return json.dumps(key, sort_keys=True)


def tuned_hardware(
    nets: Sequence[Network], budget: float | Budget, cores: str, *, name: str = "tuned",
    pe_counts: dict[str, list[int]] | None = None, input_sizes: dict[str, list[int]] | None = None,
    dram: float | None = None, cache: Mapping[str, Hardware] | None = None, shared: TuneCache | None = None,
    rules_off: Sequence[str] = (),
) -> Hardware:
    """Best design of a family (``regular,depthwise``, ``unified``, ``unified:systolic``) under
    ``budget``, by the project's tuner (the same procedure for every family, buffers tuned on
    every side, the family's preset always a candidate; ``budget``: MAC-equivalents or limits per
    FPGA resource, `dualopu.tune.budget`); ``pe_counts`` / ``input_sizes`` pin a
    core type's candidates (ablations). The report reads only the design (its energy comes
    from the schedules), so the tuner skips energy pricing and the fronts (same design: the
    objective is throughput; the fronts are not read). ``cache``: designs tuned ahead
    (`prefetch`); ``shared``: prices and confirmations shared with other tunes of the same workload (results
    unchanged); ``rules_off``: OPU machine-model rules taken off the family (`dualopu.hw.rules`)."""
    key = request_key(nets, budget, cores, pe_counts, input_sizes, dram, rules_off)
    if cache is not None and key in cache:
        return cache[key].model_copy(update={"name": name})
    return tune(nets, budget, cores, pe_counts=pe_counts, input_sizes=input_sizes, dram=dram, name=name,
                confirm_top=REPORT_CONFIRM_TOP, workers=1, cache=shared, price_energy=False,
                fronts=False, rules_off=rules_off).best


def _tune_job(nets: Sequence[Network], budget: float | Budget, cores: str, pe_counts: dict[str, list[int]] | None,
              input_sizes: dict[str, list[int]] | None, dram: float | None, rules_off: Sequence[str] = (),
              shared: dict[str, Any] | None = None) -> dict[str, Any]:
    """One tuned design as a sweep point's JSON row (``shared``: the group's dict, `run_points`)."""
    tc = None if shared is None else shared.setdefault("tune", TuneCache())
    hw = tuned_hardware(nets, budget, cores, pe_counts=pe_counts, input_sizes=input_sizes, dram=dram, shared=tc,
                        rules_off=rules_off)
    return {"request": request_key(nets, budget, cores, pe_counts, input_sizes, dram, rules_off),
            "hardware": hw.model_dump(mode="json")}


def prefetch(requests: Sequence[tuple[Any, ...]],
             executor: str = "local", store: Path | None = None) -> dict[str, Hardware]:
    """Tune every distinct request at once (each ``(nets, budget, cores, pe_counts, input_sizes,
    dram[, rules_off])``, as `request_key` reads them), as sweep points through the sweep's runner
    (`dualopu.tune.sweep.run_points`: local processes on all cores, or Dask); ``store``: a folder
    keeping one JSON per tuned design (a killed run resumes without re-tuning; designs of another
    model version are never read: the version is part of each point's id)."""
    from dualopu.tune.store import MODEL_VERSION
    from dualopu.tune.sweep import point_id, run_points

    unique: dict[str, tuple[Any, ...]] = {}
    for r in requests:
        unique.setdefault(request_key(*r), tuple(r))
    keys = list(unique)
    ids = [point_id({"request": k, "model_version": MODEL_VERSION}) for k in keys]
    # one task per workload and family: its tunes share prices and confirmations (`TuneCache`)
    groups = [json.dumps([[(n.name, list(n.input_shape)) for n in unique[k][0]], unique[k][2]]) for k in keys]
    rows, _ = run_points(_tune_job, [unique[k] for k in keys], ids, store, executor, groups=groups)
    return {k: Hardware.model_validate(rows[i]["hardware"]) for k, i in zip(keys, ids)}


#: Re-times a schedule on the cycle simulator: ``(schedule, workload, hardware) -> figures`` with
#: ``simulated_makespan_cycles`` (None and ``simulation_error`` when it cannot). Passed in by the
#: orchestration layer (`dualopu.flows.schedule_sim.simulate_schedule_or_reason`): the report is below flows.
Simulate = Callable[[Any, Any, Hardware], Mapping[str, Any]]


@dataclass(frozen=True)
class Run:
    """A scheduled workload's headline numbers."""

    hardware: Hardware
    throughput_ips: float
    makespan_cycles: float
    bound_cycles: float
    pe_efficiency: float  # all MAC units over the makespan
    core_efficiency: dict[str, float]  # per core type name: its MACs / (its units x makespan)
    energy_uj_per_image: float = float("nan")  # tasks' dynamic energy + chip leakage over the makespan
    simulated_makespan_cycles: float | None = None  # the same schedule re-timed on the cycle simulator
    simulation_error: str = ""

    @property
    def fraction_of_bound(self) -> float:
        return self.bound_cycles / self.makespan_cycles if self.makespan_cycles else float("nan")

    @property
    def simulated_vs_scheduled(self) -> float:
        """(simulated - scheduled) / scheduled makespan (NaN when not simulated)."""
        if self.simulated_makespan_cycles is None or not self.makespan_cycles:
            return float("nan")
        return self.simulated_makespan_cycles / self.makespan_cycles - 1

    @property
    def hardware_summary(self) -> str:
        return " + ".join(f"{c.type.value}{'/' + c.dataflow if c.dataflow != 'opu' else ''} "
                          f"{c.pe_count}x{c.input_size}" for c in self.hardware.cores)


def run_workload(
    nets: Sequence[Network], hw: Hardware, images: int, method: str = "heuristic", gantt: Path | None = None,
    simulate: Simulate | None = None,
) -> Run:
    """Schedule ``images`` images of each network on ``hw`` and summarise (``simulate``: also
    re-time the schedule on the cycle simulator)."""
    from dualopu.cost.energy import scheduled_energy
    from dualopu.sched import Workload, schedule

    workload = Workload.mix([(net, images) for net in nets])
    sched = schedule(workload, hw, method=method)
    if gantt is not None:
        from dualopu.sched import gantt_html

        gantt_html(sched, workload, hw, gantt)
    total_macs = sum(net.total_macs for net in nets) * images
    makespan = float(sched.makespan_cycles)
    core_macs = sched.core_macs(workload)
    eff = {}
    for k, core in enumerate(hw.cores):
        key = core.type.value if core.type is not CoreType.UNIFIED else "unified"
        eff[key] = float(core_macs[k] / (core.macs_per_cycle * makespan))
    sim: Mapping[str, Any] = simulate(sched, workload, hw) if simulate is not None else {}
    simulated = sim.get("simulated_makespan_cycles")
    return Run(hw, float(sched.throughput_ips), makespan, float(sched.lower_bound_cycles),
               total_macs / (hw.total_macs_per_cycle * makespan), eff,
               float(scheduled_energy(sched, workload, hw)["energy_uj_per_image"]),
               None if simulated is None else float(simulated), str(sim.get("simulation_error", "")))


@dataclass
class Bench:
    """What the experiments share: designs tuned ahead (`prefetch`), every scheduled run (the
    same design and workload asked by two experiments is scheduled once) and the simulator hook."""

    designs: Mapping[str, Hardware] = field(default_factory=dict)
    simulate: Simulate | None = None
    runs: dict[str, Run] = field(default_factory=dict)

    def tuned(self, nets: Sequence[Network], budget: float | Budget, cores: str, *, name: str = "tuned",
              pe_counts: dict[str, list[int]] | None = None, input_sizes: dict[str, list[int]] | None = None,
              dram: float | None = None, rules_off: Sequence[str] = ()) -> Hardware:
        return tuned_hardware(nets, budget, cores, name=name, pe_counts=pe_counts, input_sizes=input_sizes,
                              dram=dram, cache=self.designs, rules_off=rules_off)

    def run(self, nets: Sequence[Network], hw: Hardware, images: int, method: str = "heuristic",
            gantt: Path | None = None, simulate: bool = False) -> Run:
        """`run_workload`, once per (workload, design, images, method); ``simulate``: with the hook."""
        key = json.dumps([[(n.name, list(n.input_shape)) for n in nets], images, method,
                          hw.model_dump(mode="json", exclude={"name"})], sort_keys=True)
        hook = self.simulate if simulate else None
        hit = self.runs.get(key)
        if hit is not None and gantt is None and (hook is None or hit.simulated_makespan_cycles is not None
                                                  or hit.simulation_error):
            return replace(hit, hardware=hw)
        run = self.runs[key] = run_workload(nets, hw, images, method, gantt, hook)
        return run
