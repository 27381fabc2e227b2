"""Hardware description (cores, shared DRAM) and the area model."""

from dualopu.hw.area import CoreArea, area_breakdown, core_area, total_area
from dualopu.hw.config import (
    CORE_RUNS,
    AreaModel,
    Core,
    CoreType,
    DramModel,
    Hardware,
    hardware_from_dict,
    list_presets,
    load_hardware,
)
from dualopu.hw.energy import EnergyModel

__all__ = [
    "CORE_RUNS",
    "AreaModel",
    "Core",
    "CoreArea",
    "CoreType",
    "DramModel",
    "EnergyModel",
    "Hardware",
    "area_breakdown",
    "core_area",
    "hardware_from_dict",
    "list_presets",
    "load_hardware",
    "total_area",
]
