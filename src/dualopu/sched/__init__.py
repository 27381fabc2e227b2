"""Scheduling layers of different images and networks concurrently on heterogeneous cores.

``schedule(workload, hw, method)`` places every (image, layer) task of a `Workload` on a
core at a start time (``heuristic``, ``cpsat`` or ``sequential``), with shared-DRAM
contention modelled (fluid, max-min fair, tasks in phases), on the cores of the one
placement rule (`dualopu.cost.placement`). Every `Schedule` reports the `lower_bound` of its
model beside it; `validate` checks any schedule; `steady_state` gives the pipelined period.
`dualopu.flows.simulate_schedule` re-times a schedule on the cycle simulator.
"""

from dualopu.sched.api import METHODS, schedule
from dualopu.sched.bound import Bound, lower_bound
from dualopu.sched.graph import TaskGraph, build_task_graph
from dualopu.sched.heuristic import Options
from dualopu.sched.outputs import Timeline, dram_profile, gantt_html, gantt_png, perfetto_trace, timeline
from dualopu.sched.schedule import Schedule
from dualopu.sched.steady import SteadyState, steady_state
from dualopu.sched.validate import validate
from dualopu.sched.workload import Workload

__all__ = [
    "METHODS",
    "Bound",
    "Options",
    "Schedule",
    "SteadyState",
    "TaskGraph",
    "Timeline",
    "Workload",
    "build_task_graph",
    "dram_profile",
    "gantt_html",
    "gantt_png",
    "lower_bound",
    "perfetto_trace",
    "schedule",
    "steady_state",
    "timeline",
    "validate",
]
