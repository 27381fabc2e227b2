"""Scheduling layers of different images and networks concurrently on heterogeneous cores."""

from dualopu.sched.engine import (
    Bound,
    Schedule,
    SteadyState,
    TaskGraph,
    Workload,
    build_task_graph,
    lower_bound,
    schedule,
    steady_state,
    validate,
)
from dualopu.sched.outputs import gantt_html, gantt_png, perfetto_trace

__all__ = [
    "Bound",
    "Schedule",
    "SteadyState",
    "TaskGraph",
    "Workload",
    "build_task_graph",
    "gantt_html",
    "gantt_png",
    "lower_bound",
    "perfetto_trace",
    "schedule",
    "steady_state",
    "validate",
]
