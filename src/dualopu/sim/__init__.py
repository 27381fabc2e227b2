"""Simulators of compiled programs: event-driven cycle simulation (one or several cores on
shared DRAM) and INT8 functional simulation.

::

    prog = compile_network(net, hw)
    simulate_cycles(prog, hw).layer_cycles          # one image, layers in order
    # several images / networks sharing the cores and the DRAM port (a static schedule):
    simulate_tasks([Task(prog, release=0), Task(prog, release=0), Task(other, after=(0,))], hw)
    # any interleaving: one Task per layer (``layers=(i,)``) with ``after`` edges; ``strict=True``
    # runs each core's tasks exactly in list order
    run_functional(prog, quantize(net), input_int8)    # INT8 output, bit-exact with onnxruntime
"""

from dualopu.sim.cycles import (
    Job,
    SimResult,
    Task,
    TaskSimResult,
    run_jobs,
    simulate_cycles,
    simulate_tasks,
    time_program,
)
from dualopu.sim.functional import run_functional, run_functional_all
from dualopu.sim.verify import (
    GAP_FIXES,
    CycleComparison,
    FunctionalCheck,
    GapAnalysis,
    analyze_gaps,
    check_functional,
    compare_cycles,
)

__all__ = [
    "GAP_FIXES",
    "CycleComparison",
    "FunctionalCheck",
    "GapAnalysis",
    "Job",
    "SimResult",
    "Task",
    "TaskSimResult",
    "analyze_gaps",
    "check_functional",
    "compare_cycles",
    "run_functional",
    "run_functional_all",
    "run_jobs",
    "simulate_cycles",
    "simulate_tasks",
    "time_program",
]
