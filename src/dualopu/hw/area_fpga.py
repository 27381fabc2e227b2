"""FPGA area model ``fpga-xc7``: DSP, BRAM36, LUT and FF per core from a fitted table.

The table (``hw/data/fpga_xc7.json``) is fitted by ``scripts/fit_fpga_area.py`` to Yosys
``synth_xilinx -family xc7`` results of a grid of generated cores (``dualopu rtl``); it
carries its provenance (tool version, date, grid, residuals). Per core type and resource
the model is linear in `FEATURES`. A unified core (not in the grid) is priced as the
regular table plus the depthwise table's per-lane terms for its ``pe_count`` window PEs
(flagged as extrapolated in docs/assumptions.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources as ir_resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from dualopu.errors import HardwareError
from dualopu.hw.config import Core, CoreType, Hardware

#: Inputs of the linear model: a constant (per-core fixed logic: controller, two 1024-word
#: instruction memories, DMA), the MACs, the output lanes (post-processing units: one per
#: output channel of the regular array, one per PE of the depthwise array), the buffer
#: KiB (input + weight + output) and the DRAM beat width in bytes (every bank is one beat wide).
FEATURES: tuple[str, ...] = ("fixed", "macs", "lanes", "buffer_kib", "beat_bytes")
RESOURCES: tuple[str, ...] = ("dsp", "bram", "lut", "ff")
TABLE_FILE = "fpga_xc7.json"
#: INT8 MACs per DSP48E1 in the generated RTL: Yosys maps each 8x8 product to its own DSP
#: (no two-product packing as the OPU papers do; see docs/assumptions.md).
MACS_PER_DSP = 1
#: Window taps of a depthwise PE in the RTL (``rtl.params.DW_KERNEL_MAX`` squared; a test keeps them equal).
DW_WINDOW_TAPS = 9
#: Widest DRAM beat the RTL builds (``rtl.params.MAX_BEAT_BYTES``; a test keeps them equal).
RTL_MAX_BEAT_BYTES = 64
#: DSP48E1 per post-processing lane: the 24x24-bit requantization significand product.
DSP_PER_POST_LANE = 2


def output_lanes(
    core_type: CoreType, pe_count: ArrayLike, input_size: ArrayLike, ic_parallel: ArrayLike
) -> np.ndarray:
    """Post-processing lanes of the generated core (`dualopu.rtl.params.CoreRtl.out_banks`; a test keeps them equal)."""
    pe = np.asarray(pe_count, dtype=float)
    macs = pe * np.asarray(input_size, dtype=float)
    regular = macs / np.minimum(np.asarray(ic_parallel, dtype=float), macs)
    if core_type is CoreType.REGULAR:
        return regular
    if core_type is CoreType.DEPTHWISE:
        return pe
    return np.maximum(regular, pe)


def dsp_by_rule(macs: ArrayLike, lanes: ArrayLike) -> np.ndarray:
    """DSPs of a generated core: ``macs / MACS_PER_DSP + DSP_PER_POST_LANE * lanes`` (``macs`` as built)."""
    return np.asarray(macs, dtype=float) / MACS_PER_DSP + DSP_PER_POST_LANE * np.asarray(lanes, dtype=float)


def built_macs(core_type: CoreType, pe_count: ArrayLike, input_size: ArrayLike) -> np.ndarray:
    """Multipliers the RTL keeps: a depthwise-only core uses ``DW_WINDOW_TAPS`` of each PE's inputs
    (the 3x3 window); synthesis removes the rest (their operands are constant zero)."""
    pe = np.asarray(pe_count, dtype=float)
    isz = np.asarray(input_size, dtype=float)
    if core_type is CoreType.DEPTHWISE:
        return pe * np.minimum(isz, DW_WINDOW_TAPS)
    return pe * isz


def _beat_bytes(dram_bytes_per_cycle: ArrayLike) -> np.ndarray:
    """The RTL's DRAM beat: the largest power of two not above the port width, at most
    `RTL_MAX_BEAT_BYTES`."""
    d = np.maximum(np.asarray(dram_bytes_per_cycle, dtype=float), 1.0)
    return np.minimum(2.0 ** np.floor(np.log2(d)), RTL_MAX_BEAT_BYTES)


def core_features(core: Core, dram_bytes_per_cycle: float) -> list[float]:
    """The `FEATURES` of one core (the row the fit and the prediction use)."""
    return [
        float(v)
        for v in feature_matrix(
            core.type,
            core.pe_count,
            core.input_size,
            core.ic_parallel,
            core.input_buffer_kib + core.weight_buffer_kib + core.output_buffer_kib,
            dram_bytes_per_cycle,
        )[0]
    ]


def feature_matrix(
    core_type: CoreType,
    pe_count: ArrayLike,
    input_size: ArrayLike,
    ic_parallel: ArrayLike,
    buffer_kib: ArrayLike,
    dram_bytes_per_cycle: ArrayLike,
) -> np.ndarray:
    """``(n, len(FEATURES))`` feature rows (broadcasts, for the tuner's candidate arrays)."""
    pe, isz, pic, kib, dram = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(v, dtype=float))
            for v in (pe_count, input_size, ic_parallel, buffer_kib, dram_bytes_per_cycle)
        )
    )
    return np.stack(
        [np.ones_like(pe), pe * isz, output_lanes(core_type, pe, isz, pic), kib, _beat_bytes(dram)], axis=-1
    )


def fit_nonnegative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient >= 0 (more of anything never frees a resource).

    Active-set by elimination: solve with numpy's ``lstsq``, drop the most negative feature,
    repeat. The fit of scripts/fit_fpga_area.py and the table test both use this function.
    """
    active = list(range(x.shape[1]))
    coef = np.zeros(x.shape[1])
    while active:
        c = np.linalg.lstsq(x[:, active], y, rcond=None)[0]
        if (c >= -1e-9).all():
            coef[active] = np.maximum(c, 0.0)
            return coef
        del active[int(np.argmin(c))]
    return coef


@cache
def load_table() -> dict[str, Any]:
    """The fitted table shipped with the package."""
    text = ir_resources.files("dualopu.hw").joinpath("data").joinpath(TABLE_FILE).read_text()
    doc = json.loads(text)
    if doc.get("format") != "dualopu-fpga-area/1" or list(doc.get("features", [])) != list(FEATURES):
        raise HardwareError(f"{TABLE_FILE}: unknown format or features; refit with scripts/fit_fpga_area.py")
    return doc


def _coef(core_type: str, resource: str) -> np.ndarray:
    fit = load_table()["types"][core_type]["fit"][resource]["coefficients"]
    return np.array([fit[f] for f in FEATURES], dtype=float)


def core_resources(
    core_type: CoreType,
    pe_count: ArrayLike,
    input_size: ArrayLike,
    ic_parallel: ArrayLike,
    buffer_kib: ArrayLike,
    dram_bytes_per_cycle: ArrayLike,
) -> dict[str, np.ndarray]:
    """Predicted resources per resource name (arrays; clipped at 0)."""
    x = feature_matrix(core_type, pe_count, input_size, ic_parallel, buffer_kib, dram_bytes_per_cycle)
    out: dict[str, np.ndarray] = {}
    for res in RESOURCES:
        if res == "dsp":  # exact on every grid point (tests/test_area_fpga.py)
            lanes = x[:, FEATURES.index("lanes")]
            out[res] = dsp_by_rule(built_macs(core_type, pe_count, input_size) * np.ones(x.shape[0]), lanes)
            continue
        if core_type is CoreType.UNIFIED:
            dw = _coef("depthwise", res)
            lanes_dw = np.asarray(pe_count, dtype=float) * np.ones(x.shape[0])
            v = x @ _coef("regular", res) + dw[FEATURES.index("lanes")] * lanes_dw
        else:
            v = x @ _coef(str(core_type), res)
        out[res] = np.maximum(v, 0.0)
    return out


@dataclass(frozen=True)
class CoreFpga:
    """One core's predicted FPGA resources."""

    core: str
    dsp: float
    bram: float
    lut: float
    ff: float


def fpga_breakdown(hw: Hardware) -> list[CoreFpga]:
    """Per-core predicted resources of a processor from the fitted table."""
    out = []
    for c in hw.cores:
        r = core_resources(
            c.type,
            c.pe_count,
            c.input_size,
            c.ic_parallel,
            c.input_buffer_kib + c.weight_buffer_kib + c.output_buffer_kib,
            hw.dram_bytes_per_cycle,
        )
        out.append(CoreFpga(c.name, *(float(r[k][0]) for k in RESOURCES)))
    return out


def fpga_totals(hw: Hardware) -> dict[str, float]:
    """Whole-processor resources (sum over cores)."""
    parts = fpga_breakdown(hw)
    return {k: sum(getattr(p, k) for p in parts) for k in RESOURCES}
