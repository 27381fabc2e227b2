"""Analytical cost model: per-layer cycles, DRAM traffic and PE efficiency on each core."""

from dualopu.cost.evaluate import CostMatrix, NetworkCost, check_runs, cost_matrix, evaluate, place_layers
from dualopu.cost.model import CoreCosts, CoreParams, core_costs

__all__ = [
    "CoreCosts",
    "CoreParams",
    "CostMatrix",
    "NetworkCost",
    "check_runs",
    "core_costs",
    "cost_matrix",
    "evaluate",
    "place_layers",
]
