"""Optional second RTL simulator: the core's exported Verilog compiled by Verilator.

Used when the ``verilator`` program is installed (Debian's package ``verilator``; not a
Python dependency): `run_core_verilator` runs the same protocol as the Python testbench of
`dualopu.rtl.simulate.run_core` (one read beat accepted per cycle, answered
``READ_LATENCY_CYCLES`` later; one write beat per cycle; instruction memories loaded
through the ``im_*`` port instead of preloaded), in C++ (``verilator_tb.cpp``). It
simulates the Verilog that synthesis reads, not Amaranth's netlist, so agreement of the two
(same cycles, same DRAM bytes: tests/test_rtl_sim.py) also checks the export.

One build per distinct Verilog text, cached under ``$XDG_CACHE_HOME/dualopu/verilator``
(default ``~/.cache``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from dualopu.rtl.assemble import RtlImage
from dualopu.rtl.export import RtlError, core_verilog, module_name
from dualopu.rtl.params import WORD_BITS, CoreRtl

#: Cycles per instruction before the C++ testbench declares the core hung (as the Python one).
MAX_CYCLES_PER_INSTR = 200_000
#: Seconds a Verilator build may take.
BUILD_TIMEOUT_S = 1800
_TB = Path(__file__).with_name("verilator_tb.cpp")


def verilator_available() -> bool:
    return shutil.which("verilator") is not None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dualopu" / "verilator"


def build(p: CoreRtl) -> tuple[Path, float]:
    """The compiled simulator of core ``p`` (built once per Verilog text) and the build seconds."""
    if not verilator_available():
        raise RtlError("verilator is not installed (Debian package 'verilator')")
    text = core_verilog(p)
    tb = _TB.read_text()
    key = hashlib.sha256((text + tb).encode()).hexdigest()[:16]
    out = _cache_dir() / key
    exe = out / "sim"
    if exe.is_file():
        return exe, 0.0
    t0 = time.perf_counter()
    top = module_name(p.name)
    with tempfile.TemporaryDirectory() as d:
        src = Path(d)
        (src / "core.v").write_text(text)
        (src / "tb.cpp").write_text(tb)
        cmd = [
            "verilator",
            "--cc",
            "--exe",
            "--build",
            "-O2",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
            "--top-module",
            top,
            "--Mdir",
            str(src / "obj"),
            "-o",
            "sim",
            "-CFLAGS",
            f'-O1 -DTOP_HEADER=\\"V{top}.h\\" -DTOP_CLASS=V{top}',
            "core.v",
            "tb.cpp",
        ]
        res = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        if res.returncode != 0:
            last = (res.stderr.strip() or res.stdout.strip()).splitlines()[-3:]
            raise RtlError(f"verilator build failed: {' | '.join(last)}")
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / "sim.tmp"
        shutil.copy2(src / "obj" / "sim", tmp)
        tmp.replace(exe)
    return exe, time.perf_counter() - t0


def run_core_verilator(image: RtlImage, dram: np.ndarray, read_latency: int = 1):  # type: ignore[no-untyped-def]
    """Simulate ``image`` with Verilator; ``dram`` (uint8) is updated in place. A `CoreRun`."""
    from dualopu.rtl.simulate import CoreRun

    exe, build_s = build(image.params)
    dma, ex = image.streams()
    wbytes = (WORD_BITS + 7) // 8
    limit = MAX_CYCLES_PER_INSTR * (len(dma) + len(ex))
    with tempfile.TemporaryDirectory() as d:
        fin, fout = Path(d, "in.bin"), Path(d, "out.bin")
        hdr = struct.pack(
            "<7I", len(dma), len(ex), wbytes, image.params.beat_bytes, dram.size, limit, read_latency
        )
        body = b"".join(w.to_bytes(wbytes, "little") for w in [*dma, *ex])
        fin.write_bytes(hdr + body + dram.tobytes())
        t0 = time.perf_counter()
        res = subprocess.run([str(exe), str(fin), str(fout)], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            raise RtlError(f"verilator simulation failed: {res.stderr.strip()[-200:]}")
        raw = fout.read_bytes()
    cycles, n0, n1 = struct.unpack_from("<3I", raw, 0)
    ends = np.frombuffer(raw, dtype="<u4", count=n0 + n1, offset=12)
    dram[:] = np.frombuffer(raw, dtype=np.uint8, offset=12 + 4 * (n0 + n1))
    return CoreRun(
        cycles=int(cycles),
        ends=(tuple(int(x) for x in ends[:n0]), tuple(int(x) for x in ends[n0:])),
        wall_s=wall,
        build_s=build_s,
    )
