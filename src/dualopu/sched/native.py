"""The list scheduler's event loop compiled from C (`_list_loop.c`), when a C compiler is there.

The C loop is the Python loop of `dualopu.sched.heuristic.run_list` for one or two cores,
operation for operation (same schedules bitwise: `tests/test_sched_native.py`); it removes
the interpreter's per-event cost, most of a tune's confirmation time. The shared library is
built once per machine and source version with the system's ``cc`` into a cache folder
(``$DUALOPU_CACHE_DIR``, else ``$XDG_CACHE_HOME/dualopu``, else ``~/.cache/dualopu``), named by
a hash of the source and flags, written atomically; without a compiler, or with
``DUALOPU_NATIVE=0``, the scheduler runs its Python loop (same results, slower).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

SOURCE = Path(__file__).with_name("_list_loop.c")
#: Strict IEEE double arithmetic: no fused multiply-add, no fast-math (the Python loop's results).
CFLAGS = ("-O2", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math", "-std=c99")
#: Cores the C loop handles (its fair-share rule is written for one or two demands).
MAX_CORES = 2
#: Ready tasks the C loop may inspect for one that fits the free DRAM bandwidth.
MAX_LOOKAHEAD = 64

_lib: Any = None
_tried = False


def _cache_dir() -> Path:
    env = os.environ.get("DUALOPU_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "dualopu"


def _build(target: Path, cc: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run(
            [cc, *CFLAGS, "-o", tmp, str(SOURCE), "-lm"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        os.replace(tmp, target)  # atomic: a concurrent build or load sees a whole file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def library() -> Any:
    """The loaded C loop, or None (no compiler, build failed, or ``DUALOPU_NATIVE=0``)."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if os.environ.get("DUALOPU_NATIVE", "1") == "0" or not SOURCE.exists():
        return None
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    digest = hashlib.sha1(SOURCE.read_bytes() + " ".join((cc, *CFLAGS, sys.platform)).encode()).hexdigest()
    target = _cache_dir() / f"list_loop-{digest[:16]}.so"
    try:
        if not target.exists():
            _build(target, cc)
        lib = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError):
        return None
    fn = lib.dualopu_run_list
    i64p = np.ctypeslib.ndpointer(dtype=np.int64, flags="C_CONTIGUOUS")
    f64p = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
    u8p = np.ctypeslib.ndpointer(dtype=np.uint8, flags="C_CONTIGUOUS")
    i64, f64, cint = ctypes.c_int64, ctypes.c_double, ctypes.c_int
    fn.restype = cint
    fn.argtypes = [
        i64, i64, f64, cint,
        f64p, f64p, i64p, i64p, i64p,
        i64p, i64p, i64p,
        f64p, f64p, i64p, i64p,
        f64p, u8p, i64, cint, f64,
        f64p, f64p, i64p, i64p, ctypes.POINTER(cint),
    ]  # fmt: skip
    _lib = lib
    return _lib


def usable(n_cores: int, lookahead: int) -> bool:
    """Whether the C loop can run this case (else the caller runs the Python loop)."""
    return n_cores <= MAX_CORES and max(int(lookahead), 1) <= MAX_LOOKAHEAD and library() is not None


def run_loop(
    n: int,
    n_cores: int,
    bw: float,
    contention: bool,
    arrays: dict[str, np.ndarray],
    look: int,
    hold: bool,
    cutoff: float,
) -> tuple[int, np.ndarray, np.ndarray, bool]:
    """Run the C loop: (status 0 done / 1 cut / 2 stalled, start, end, held)."""
    lib = library()
    ints = ("core", "pos", "order", "succ_ptr", "succ_idx", "indeg", "first", "nextp")
    a = {
        k: np.ascontiguousarray(
            v, dtype=np.int64 if k in ints else (np.uint8 if k == "slack" else np.float64)
        )
        for k, v in arrays.items()
    }
    start, end = np.empty(n), np.empty(n)
    heap = np.empty(max(n, 1) * n_cores, dtype=np.int64)
    zero = np.empty(max(n, 1), dtype=np.int64)
    held = ctypes.c_int(0)
    indeg = a["indeg"].copy()  # the loop counts it down
    status = lib.dualopu_run_list(
        n, n_cores, float(bw), int(bool(contention)),
        a["dur"], a["rate"], a["core"], a["pos"], a["order"],
        a["succ_ptr"], a["succ_idx"], indeg,
        a["pdf"], a["prf"], a["first"], a["nextp"],
        a["crit"], a["slack"], max(int(look), 1), int(bool(hold)), float(cutoff),
        start, end, heap, zero, ctypes.byref(held),
    )  # fmt: skip
    return int(status), start, end, bool(held.value)
