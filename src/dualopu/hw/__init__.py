"""Hardware description (cores, shared DRAM) and the area model."""

from dualopu.hw.area import CoreArea, area_breakdown, core_area, total_area
from dualopu.hw.config import (
    CORE_RUNS,
    AreaModel,
    Core,
    CoreType,
    Hardware,
    hardware_from_dict,
    list_presets,
    load_hardware,
)

__all__ = [
    "CORE_RUNS",
    "AreaModel",
    "Core",
    "CoreArea",
    "CoreType",
    "Hardware",
    "area_breakdown",
    "core_area",
    "hardware_from_dict",
    "list_presets",
    "load_hardware",
    "total_area",
]
