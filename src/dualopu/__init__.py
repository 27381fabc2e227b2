"""dualopu: heterogeneous multi-core overlay processors for light-weight CNNs.

The public API mirrors the CLI (one function per command)::

    import dualopu
    net = dualopu.load_network("mobilenet_v2")          # `dualopu inspect`: built-in name or ONNX path
    hw = dualopu.load_hardware("dual-opu")              # preset name or YAML path
    cost = dualopu.evaluate(net, hw)                    # `dualopu evaluate`: per-layer analytical cost
    prog = dualopu.compile_network(net, hw)             # `dualopu compile`
    sim = dualopu.simulate_cycles(prog, hw)             # `dualopu simulate`
    w = dualopu.Workload.single(net, 64)
    s = dualopu.schedule(w, hw)                         # `dualopu schedule`
    best = dualopu.tune([net], budget=2000.0)           # `dualopu tune`
    dualopu.reproduce("reproduce-out", quick=True)      # `dualopu reproduce`

Every layer is imported on first attribute access (module ``__getattr__``), so ``import dualopu``
and ``dualopu --help`` stay fast (issue 17).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from dualopu.errors import DualOpuError

if TYPE_CHECKING:
    from dualopu.compiler import compile_network, quantize
    from dualopu.cost import NetworkCost, evaluate
    from dualopu.hw import Hardware, load_hardware
    from dualopu.ir import Layer, LayerKind, Network
    from dualopu.ir.loader import load_network
    from dualopu.plan import MODEL_VERSION, TilePlan, plan_tiles
    from dualopu.report.reproduce import reproduce
    from dualopu.sched import Schedule, Workload, lower_bound, schedule, validate
    from dualopu.sim import run_functional, simulate_cycles
    from dualopu.tune import TuneResult, tune

_LAZY = {
    "NetworkCost": "dualopu.cost",
    "evaluate": "dualopu.cost",
    "Hardware": "dualopu.hw",
    "load_hardware": "dualopu.hw",
    "Layer": "dualopu.ir",
    "LayerKind": "dualopu.ir",
    "Network": "dualopu.ir",
    "load_network": "dualopu.ir.loader",
    "MODEL_VERSION": "dualopu.plan",
    "TilePlan": "dualopu.plan",
    "plan_tiles": "dualopu.plan",
    "compile_network": "dualopu.compiler",
    "quantize": "dualopu.compiler",
    "simulate_cycles": "dualopu.sim",
    "run_functional": "dualopu.sim",
    "Schedule": "dualopu.sched",
    "Workload": "dualopu.sched",
    "schedule": "dualopu.sched",
    "lower_bound": "dualopu.sched",
    "validate": "dualopu.sched",
    "TuneResult": "dualopu.tune",
    "tune": "dualopu.tune",
    "reproduce": "dualopu.report.reproduce",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dualopu' has no attribute {name!r}")


__all__ = [
    "MODEL_VERSION",
    "DualOpuError",
    "Hardware",
    "Layer",
    "LayerKind",
    "Network",
    "NetworkCost",
    "Schedule",
    "TilePlan",
    "TuneResult",
    "Workload",
    "__version__",
    "compile_network",
    "evaluate",
    "load_hardware",
    "load_network",
    "lower_bound",
    "plan_tiles",
    "quantize",
    "reproduce",
    "run_functional",
    "schedule",
    "simulate_cycles",
    "tune",
    "validate",
]
