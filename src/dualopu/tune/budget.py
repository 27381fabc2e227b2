"""The tuner's budget: a limit per budgeted resource.

``area`` is MAC-equivalents of the template's area model (`dualopu.hw.area.core_area`; the
scalar ``--budget``/``--area`` of before); ``dsp``, ``bram``, ``lut`` and ``ff`` are FPGA
resources from the fitted ``fpga-xc7`` table (`dualopu.hw.area_fpga.core_resources`), so
"the same area" can mean "fits the same FPGA". A design fits when every budgeted resource,
summed over its cores, is within its limit times ``1 + AREA_SLACK``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from dualopu.errors import TuneError
from dualopu.hw.area import core_area, total_area
from dualopu.hw.area_fpga import RESOURCES, core_resources, fpga_totals
from dualopu.hw.config import Core, Hardware
from dualopu.tune.space import IB, ICP, ISZ, OB, PE, WB

#: The MAC-equivalent area (the template's area model).
AREA = "area"
#: Every resource a budget may name, in the order they are reported.
BUDGET_KEYS: tuple[str, ...] = (AREA, *RESOURCES)
#: Relative slack of every limit (floating-point sums of the area models).
AREA_SLACK = 1e-9

Budget = Mapping[str, float]


def as_budget(budget: float | Budget) -> dict[str, float]:
    """``budget`` as ``{resource: limit}`` (a number is a MAC-equivalent area); refuses unknown
    resources and limits that are not positive finite numbers."""
    items = {AREA: budget} if isinstance(budget, (int, float)) else dict(budget)
    if not items:
        raise TuneError("empty budget: name at least one of " + ", ".join(BUDGET_KEYS))
    out: dict[str, float] = {}
    for key, value in items.items():
        if key not in BUDGET_KEYS:
            raise TuneError(f"unknown budget resource {key!r} ({', '.join(BUDGET_KEYS)})")
        v = float(value)
        if not (math.isfinite(v) and v > 0):
            raise TuneError(f"budget {key} must be a positive number, got {value}")
        out[key] = v
    return out


def parse_budget(text: str) -> float | dict[str, float]:
    """``--budget``: a MAC-equivalent area (``3000``) or FPGA resources (``dsp=560,bram=300,lut=150000``,
    any subset of `BUDGET_KEYS`)."""
    text = text.strip()
    if "=" not in text:
        try:
            return as_budget(float(text))[AREA]
        except ValueError:
            raise TuneError(
                f"bad budget {text!r}: a number or key=value pairs like dsp=560,lut=150000"
            ) from None
    out: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key:
            raise TuneError(f"bad budget entry {part.strip()!r}: expected key=value")
        if key in out:
            raise TuneError(f"budget {key} given twice")
        try:
            out[key] = float(value)
        except ValueError:
            raise TuneError(f"budget {key} must be a positive number, got {value!r}") from None
    return as_budget(out)


def describe(budget: float | Budget) -> str:
    """``dsp 560, bram 300, lut 150000`` (a scalar: ``area 3000.0``)."""
    return ", ".join(f"{k} {v:g}" if k != AREA else f"{k} {v:.1f}" for k, v in as_budget(budget).items())


def core_usage(
    template: Hardware, core: Core, values: np.ndarray, dram_bpc: float, names: Sequence[str]
) -> np.ndarray:
    """``(n, len(names))``: each budgeted resource of core ``core``'s candidates ``values``
    (rows of `space.COLUMNS`) at DRAM width ``dram_bpc``."""
    kib = values[:, IB] + values[:, WB] + values[:, OB]
    fpga = (
        core_resources(core.type, values[:, PE], values[:, ISZ], values[:, ICP], kib, dram_bpc)
        if any(n != AREA for n in names)
        else {}
    )
    cols = [
        core_area(template.area_model, core.type, values[:, PE], values[:, ISZ], kib)
        if n == AREA
        else fpga[n]
        for n in names
    ]
    return np.stack([np.broadcast_to(np.asarray(c, dtype=float), (len(values),)) for c in cols], axis=1)


def design_usage(hw: Hardware) -> dict[str, float]:
    """Every resource of `BUDGET_KEYS` of a whole design (sum over its cores)."""
    return {AREA: total_area(hw), **fpga_totals(hw)}


def limits(budget: float | Budget) -> np.ndarray:
    """The limits with their slack, in `as_budget` order."""
    return np.array(list(as_budget(budget).values())) * (1 + AREA_SLACK)


def fits(hw: Hardware, budget: float | Budget) -> bool:
    """Whether the whole design ``hw`` is within every budgeted limit."""
    use = design_usage(hw)
    return bool(all(use[k] <= lim for k, lim in zip(as_budget(budget), limits(budget))))
