"""Auto-tuner: every core's PE count, input size, ic_parallel and buffers under an area budget."""

from dualopu.tune.search import pareto_indices, spread_period_cycles
from dualopu.tune.space import DesignSpace, load_space
from dualopu.tune.store import MODEL_VERSION
from dualopu.tune.tuner import OBJECTIVES, TuneResult, template_for, tune

__all__ = [
    "MODEL_VERSION",
    "OBJECTIVES",
    "DesignSpace",
    "TuneResult",
    "load_space",
    "pareto_indices",
    "spread_period_cycles",
    "template_for",
    "tune",
]
