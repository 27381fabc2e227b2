"""Area model: makes "the same area" precise for comparing processors.

Area is in MAC-equivalent units (1.0 = one INT8 MAC). A core costs its PEs (MACs, adder
tree, per-PE fixed logic), its SRAM buffers, a fixed controller, and for arrays that run
depthwise layers the line-buffer ports. Coefficients are in `AreaModel` (our choice,
documented in docs/assumptions.md). The functions broadcast over numpy arrays so the
tuner can size thousands of candidate cores at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from dualopu.hw.config import AreaModel, Core, CoreType, Hardware


def core_area(
    am: AreaModel,
    core_type: CoreType,
    pe_count: ArrayLike,
    input_size: ArrayLike,
    buffer_kib: ArrayLike,
) -> np.ndarray:
    """Area of one core (broadcasts over array arguments)."""
    pe = np.asarray(pe_count, dtype=float)
    isz = np.asarray(input_size, dtype=float)
    per_pe = isz * (am.mac_area + am.adder_area) + am.pe_fixed_area
    if core_type in (CoreType.DEPTHWISE, CoreType.UNIFIED):
        per_pe = per_pe + am.line_buffer_area_per_pe
    return pe * per_pe + np.asarray(buffer_kib, dtype=float) * am.sram_area_per_kib + am.core_fixed_area


@dataclass(frozen=True)
class CoreArea:
    """One core's area, broken down."""

    core: str
    pe_area: float
    sram_area: float
    fixed_area: float

    @property
    def total(self) -> float:
        return self.pe_area + self.sram_area + self.fixed_area


def area_breakdown(hw: Hardware) -> list[CoreArea]:
    """Per-core area breakdown of a processor."""
    out = []
    for c in hw.cores:
        buffers = _buffer_kib(c)
        total = float(core_area(hw.area_model, c.type, c.pe_count, c.input_size, buffers))
        sram = buffers * hw.area_model.sram_area_per_kib
        fixed = hw.area_model.core_fixed_area
        out.append(CoreArea(c.name, pe_area=total - sram - fixed, sram_area=sram, fixed_area=fixed))
    return out


def total_area(hw: Hardware) -> float:
    """Total area of a processor in MAC-equivalent units."""
    return sum(a.total for a in area_breakdown(hw))


def _buffer_kib(c: Core) -> float:
    return c.input_buffer_kib + c.weight_buffer_kib + c.output_buffer_kib
