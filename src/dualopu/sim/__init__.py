"""Simulators of compiled programs: event-driven cycle simulation (one or several cores on
shared DRAM) and INT8 functional simulation."""

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
from dualopu.sim.verify import CycleComparison, FunctionalCheck, check_functional, compare_cycles

__all__ = [
    "CycleComparison",
    "FunctionalCheck",
    "Job",
    "SimResult",
    "Task",
    "TaskSimResult",
    "check_functional",
    "compare_cycles",
    "run_functional",
    "run_functional_all",
    "run_jobs",
    "simulate_cycles",
    "simulate_tasks",
    "time_program",
]
