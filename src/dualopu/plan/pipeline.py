"""The double-buffered pipeline: the one formula for the cycles of a tiled layer."""

from __future__ import annotations

import numpy as np


def pipeline_cycles(
    stages: np.ndarray,
    compute: np.ndarray,
    load_bytes: np.ndarray,
    store_bytes: np.ndarray,
    bw: float,
    ovh: np.ndarray,
    load_instrs: np.ndarray | None = None,
    compute_ovh: np.ndarray | float = 0.0,
    store_instrs: np.ndarray | None = None,
) -> np.ndarray:
    """``stages`` uniform tiles: max(load + store, compute) per stage (loads and stores share
    the DRAM port of ``bw`` bytes/cycle). ``load_instrs`` LOAD instructions in all (default
    one per stage), each paying the ``ovh`` overhead; one compute per stage and ``store_instrs``
    stores in all (default one per stage; an FC under ``fc_store_once`` has one, its bytes
    spread over the stages like the others'); a compute also pays ``compute_ovh`` (the core's
    ``compute_overhead_cycles``).

    Memory-bound: the port is busy ``S*mem_s`` plus the part of the last compute not hidden
    behind the previous tile's store; compute-bound: ``S`` computes plus the first load and
    the last store."""
    s = np.maximum(stages, 1.0)
    n_loads = s if load_instrs is None else np.maximum(load_instrs, 1.0)
    comp_s = compute / s + ovh + compute_ovh
    load_s = load_bytes / s / bw + ovh * n_loads / s
    n_stores = s if store_instrs is None else np.maximum(store_instrs, 1.0)
    store_s = store_bytes / s / bw + ovh * n_stores / s
    mem_s = load_s + store_s
    return np.maximum(s * mem_s + np.maximum(comp_s - store_s, 0.0), s * comp_s + load_s + store_s)
