"""The two operations every experiment of the report is made of: tune a design under an
area budget, and run a workload on it with the scheduler. Same functions for the dual-core
design and for every baseline, so every comparison is tuned vs tuned, scheduled alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dualopu.hw.config import CoreType, Hardware, load_hardware
from dualopu.ir.network import Network
from dualopu.tune.split_search import CoreSpace, search

#: Templates (buffers, dataflow) of each design family; the tuner sets PE counts and input sizes.
TEMPLATES = {"regular,depthwise": "dual-opu", "unified": "single-opu", "unified:systolic": "tpu-like"}


def tuned_hardware(
    nets: Sequence[Network], budget: float, cores: str, *, name: str = "tuned",
    pe_counts: dict[str, list[int]] | None = None, input_sizes: dict[str, list[int]] | None = None,
    dram: float | None = None, confirm_top: int = 16, confirm_images: int = 8,
) -> Hardware:
    """Best design of a family (`regular,depthwise`, `unified`, `unified:systolic`) under ``budget``.

    ``pe_counts`` / ``input_sizes`` pin a core type's candidates (ablations). The ``confirm_top``
    best candidates by the steady-state bound are scheduled (``confirm_images`` images of each
    network) and the best scheduled one is returned: the same procedure for every family."""
    template = load_hardware(TEMPLATES[cores])
    if dram is not None:
        template = Hardware.model_validate({**template.model_dump(), "dram_bytes_per_cycle": dram})
    spaces = []
    for core in template.cores:
        kw: dict[str, list[int]] = {}
        key = core.type.value
        if pe_counts and key in pe_counts:
            kw["pe_counts"] = pe_counts[key]
        if input_sizes and key in input_sizes:
            kw["input_sizes"] = input_sizes[key]
        if core.dataflow == "systolic":
            kw.setdefault("input_sizes", [8, 16, 32, 64])
        spaces.append(CoreSpace(core, **kw))  # type: ignore[arg-type]
    res = search(nets, template, spaces, budget, top_k=confirm_top)
    # Confirm the best candidates by the bound with a real (short) schedule; keep the best scheduled.
    best = max(res.top, key=lambda hw: run_workload(nets, hw, confirm_images).throughput_ips)
    return best.model_copy(update={"name": name})


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
