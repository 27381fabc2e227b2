"""Body of ``dualopu rtl``: Verilog per core, optional synthesis to resources.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dualopu.hw.config import load_hardware
from dualopu.rtl.export import synth_core, write_rtl, yosys_version
from dualopu.rtl.params import core_rtl
from dualopu.util import write_atomic


def run_rtl(
    hw_name: str,
    out: str,
    synth: bool = False,
    line_width: int = 128,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
    yosys: str | None = None,
) -> dict[str, Any]:
    hw = load_hardware(hw_name)
    folder = Path(out)
    files = [str(p) for p in write_rtl(hw, folder, line_width=line_width, progress=progress, yosys=yosys)]
    files.append(str(folder / "rtl.json"))
    result: dict[str, Any] = {"hardware": hw.name, "files": files}
    if synth:
        cores = []
        for c in hw.cores:
            p = core_rtl(c, hw, line_width)
            if progress:
                progress(f"synth_xilinx core {p.name!r} ({p.macs} MACs) ...")
            r = synth_core(p, timeout_s=timeout_s, yosys=yosys)
            if progress:
                progress(
                    f"  {p.name}: {r.dsp} DSP, {r.bram:g} BRAM36, {r.lut} LUT, {r.ff} FF in {r.synth_seconds:.0f} s"
                )
            cores.append(asdict(r))
        res = {
            "hardware": hw.name,
            "family": "xc7",
            "tool": yosys_version(yosys),
            "line_width": line_width,
            "cores": cores,
        }
        path = write_atomic(folder / "resources.json", json.dumps(res, indent=2))
        files.append(str(path))
        result["resources"] = res
    return result
