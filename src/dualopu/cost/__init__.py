"""Analytical cost model: per-layer cycles, DRAM traffic and PE efficiency on each core."""

from dualopu.cost.evaluate import CostMatrix, NetworkCost, check_runs, cost_matrix, evaluate, place_layers
from dualopu.cost.model import CoreCosts, CoreParams, core_costs
from dualopu.cost.placement import POLICIES, Placement, place, place_batch, place_workload
from dualopu.plan import MODEL_VERSION

__all__ = [
    "MODEL_VERSION",
    "POLICIES",
    "CoreCosts",
    "CoreParams",
    "CostMatrix",
    "NetworkCost",
    "Placement",
    "check_runs",
    "core_costs",
    "cost_matrix",
    "evaluate",
    "place",
    "place_batch",
    "place_layers",
    "place_workload",
]
