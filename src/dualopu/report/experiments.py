"""The two operations every experiment of the report is made of: tune a design under an
area budget, and run a workload on it with the scheduler. Same functions for the dual-core
design and for every baseline, so every comparison is tuned vs tuned, scheduled alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dualopu.hw.config import CoreType, Hardware
from dualopu.ir.network import Network
from dualopu.tune import tune


def tuned_hardware(
    nets: Sequence[Network], budget: float, cores: str, *, name: str = "tuned",
    pe_counts: dict[str, list[int]] | None = None, input_sizes: dict[str, list[int]] | None = None,
    dram: float | None = None,
) -> Hardware:
    """Best design of a family (``regular,depthwise``, ``unified``, ``unified:systolic``) under
    ``budget``, by the project's tuner (the same procedure for every family); ``pe_counts`` /
    ``input_sizes`` pin a core type's candidates (ablations)."""
    return tune(nets, budget, cores, pe_counts=pe_counts, input_sizes=input_sizes, dram=dram, name=name).best


@dataclass(frozen=True)
class Run:
    """A scheduled workload's headline numbers."""

    hardware: Hardware
    throughput_ips: float
    makespan_cycles: float
    bound_cycles: float
    pe_efficiency: float  # all MAC units over the makespan
    core_efficiency: dict[str, float]  # per core type name: its MACs / (its units x makespan)

    @property
    def fraction_of_bound(self) -> float:
        return self.bound_cycles / self.makespan_cycles if self.makespan_cycles else float("nan")

    @property
    def hardware_summary(self) -> str:
        return " + ".join(f"{c.type.value}{'/' + c.dataflow if c.dataflow != 'opu' else ''} "
                          f"{c.pe_count}x{c.input_size}" for c in self.hardware.cores)


def run_workload(
    nets: Sequence[Network], hw: Hardware, images: int, method: str = "heuristic", gantt: Path | None = None,
) -> Run:
    """Schedule ``images`` images of each network on ``hw`` and summarise."""
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
    return Run(hw, float(sched.throughput_ips), makespan, float(sched.lower_bound_cycles),
               total_macs / (hw.total_macs_per_cycle * makespan), eff)
