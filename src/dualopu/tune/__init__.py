"""Auto-tuner: PE count and input size per PE of every core under an area budget."""

from dualopu.tune.split_search import CoreSpace, Grid, SearchResult, build_grid, search
from dualopu.tune.tuner import OBJECTIVES, TuneResult, compare_tuned, pareto_front, template_for, tune

__all__ = [
    "OBJECTIVES",
    "CoreSpace",
    "Grid",
    "SearchResult",
    "TuneResult",
    "build_grid",
    "compare_tuned",
    "pareto_front",
    "search",
    "template_for",
    "tune",
]
