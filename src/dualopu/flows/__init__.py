"""Orchestration above the simulators, the scheduler and the tuner.

`simulate_schedule` replays a `Schedule` on the event-driven multi-core cycle simulator
(same placement, same per-core order, timed from the compiled programs, shared DRAM).
"""

from dualopu.flows.schedule_sim import (
    BridgeResult,
    compile_for_schedule,
    schedule_and_simulate,
    simulate_schedule,
    simulate_schedule_or_reason,
)

__all__ = [
    "BridgeResult",
    "compile_for_schedule",
    "schedule_and_simulate",
    "simulate_schedule",
    "simulate_schedule_or_reason",
]
