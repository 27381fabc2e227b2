"""The instruction set of one OPU-style core.

A core has three double-buffered on-chip buffers (``in``, ``w``, ``out``), each split in
two *slots* (halves), a DMA engine on the shared DRAM port, a PE array and a
post-processing unit. Four instructions:

=========  ===================================================================================
LOAD       DMA DRAM -> ``buf`` (``in`` or ``w``) slot ``slot``. ``in``: channels ``[c0, c1)``
           x rows ``[r0, r1)`` (whole rows) of tensor ``src``, input ``port`` of the layer
           (a layer with two inputs loads one tile per port into the same slot). ``w``: the
           layer's weights, bias, requantization multipliers (and activation table) for
           output channels ``[c0, c1)``; ``src`` is empty.
COMPUTE    PE array: output channels ``[c0, c1)`` x output rows ``[r0, r1)`` of a MAC layer
           from ``in`` slot ``in_slot`` and ``w`` slot ``w_slot`` into ``out`` slot
           ``out_slot``; the post-processing unit finishes the tile in line (``post``: bias,
           requantize, activation clip or table). ``append`` = 1: the tile goes into the slot
           after the channels it already holds (same rows and columns, the next channels; an
           FC layer under ``fc_store_once``), and one STORE later drains them all.
POST       Post-processing unit: an element-wise layer (pool, add, mul, activation) on the
           tile(s) in ``in`` slot ``in_slot`` into ``out`` slot ``out_slot`` (``w`` slot
           ``w_slot`` holds the activation table of a layer that has one).
STORE      DMA ``out`` slot ``slot`` -> channels ``[c0, c1)`` x rows ``[r0, r1)`` of tensor
           ``dst``. Concat, slice, channel shuffle and flatten have no instruction: tensors are
           read and written through per-channel address tables (`program.TensorInfo`).
=========  ===================================================================================

Every instruction costs ``instr_overhead_cycles`` on its unit before its work. ``bytes`` of
LOAD/STORE and ``work`` (MACs or element ops) of COMPUTE/POST are recorded for listings
and conservation checks; the simulators recompute what they need from the geometry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dualopu.errors import ProgramError

BUFS = ("in", "w")


@dataclass(frozen=True)
class Load:
    buf: str
    slot: int
    port: int
    src: str
    c0: int
    c1: int
    r0: int
    r1: int
    bytes: int
    q0: int = 0  # columns [q0, q1) of an input LOAD; q1 = 0: all columns (row bands)
    q1: int = 0

    op = "LOAD"

    def text(self) -> str:
        if self.buf == "w":
            return f"LOAD    w[{self.slot}]            <- weights oc[{self.c0}:{self.c1}]  {self.bytes} B"
        return (f"LOAD    in[{self.slot}].{self.port}         <- {self.src} c[{self.c0}:{self.c1}] "
                f"r[{self.r0}:{self.r1}]{_cols_text(self)}  {self.bytes} B")


@dataclass(frozen=True)
class Compute:
    in_slot: int
    w_slot: int
    out_slot: int
    c0: int
    c1: int
    r0: int
    r1: int
    work: int  # useful MACs
    post: tuple[str, ...] = ()
    q0: int = 0  # output columns [q0, q1); q1 = 0: all columns
    q1: int = 0
    append: int = 0  # 1: written after the channels the out slot already holds (no STORE in between)

    op = "COMPUTE"

    def text(self) -> str:
        return (f"COMPUTE out[{self.out_slot}]{'+' if self.append else ''} <- in[{self.in_slot}] * w[{self.w_slot}]  "
                f"oc[{self.c0}:{self.c1}] r[{self.r0}:{self.r1}]{_cols_text(self)}  {self.work} MAC  "
                f"post={'+'.join(self.post) or '-'}")


@dataclass(frozen=True)
class Post:
    in_slot: int
    w_slot: int  # holds the activation table, if the layer has one
    out_slot: int
    c0: int
    c1: int
    r0: int
    r1: int
    work: int  # element operations

    op = "POST"

    def text(self) -> str:
        return (f"POST    out[{self.out_slot}] <- in[{self.in_slot}]  c[{self.c0}:{self.c1}] "
                f"r[{self.r0}:{self.r1}]  {self.work} ops")


@dataclass(frozen=True)
class Store:
    slot: int
    dst: str
    c0: int
    c1: int
    r0: int
    r1: int
    bytes: int
    q0: int = 0  # output columns [q0, q1); q1 = 0: all columns
    q1: int = 0

    op = "STORE"

    def text(self) -> str:
        return (f"STORE   out[{self.slot}] -> {self.dst} c[{self.c0}:{self.c1}] r[{self.r0}:{self.r1}]"
                f"{_cols_text(self)}  {self.bytes} B")


Instr = Load | Compute | Post | Store


def _cols_text(ins: Load | Compute | Store) -> str:
    return f" q[{ins.q0}:{ins.q1}]" if ins.q1 else ""


def columns(ins: Instr, width: int) -> tuple[int, int]:
    """Columns ``[q0, q1)`` an instruction covers of a ``width``-column plane (all when ``q1 = 0``)."""
    q1 = getattr(ins, "q1", 0)
    return (getattr(ins, "q0", 0), q1) if q1 else (0, width)

_FIELDS: dict[str, tuple[type, tuple[str, ...]]] = {
    "LOAD": (Load, ("buf", "slot", "port", "src", "c0", "c1", "r0", "r1", "bytes", "q0", "q1")),
    "COMPUTE": (
        Compute,
        ("in_slot", "w_slot", "out_slot", "c0", "c1", "r0", "r1", "work", "post", "q0", "q1", "append"),
    ),
    "POST": (Post, ("in_slot", "w_slot", "out_slot", "c0", "c1", "r0", "r1", "work")),
    "STORE": (Store, ("slot", "dst", "c0", "c1", "r0", "r1", "bytes", "q0", "q1")),
}
#: Fields a serialized instruction may omit (column tiles, appending COMPUTEs; older programs have none).
_OPTIONAL = ("q0", "q1", "append")


def instr_to_dict(ins: Instr) -> dict[str, Any]:
    """JSON-ready dict with the opcode under ``op``."""
    _, names = _FIELDS[ins.op]
    d: dict[str, Any] = {"op": ins.op}
    for n in names:
        v = getattr(ins, n)
        if n in _OPTIONAL and not (getattr(ins, "q1", 0) if n in ("q0", "q1") else v):
            continue  # row bands: no column fields; a plain COMPUTE: no append
        d[n] = list(v) if isinstance(v, tuple) else v
    return d


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProgramError(f"{where}: field '{key}' must be an integer, got {v!r}")
    if v < 0:
        raise ProgramError(f"{where}: field '{key}' must be >= 0, got {v}")
    return v


def instr_from_dict(d: Any, where: str) -> Instr:
    """Parse and type-check one instruction (ranges are checked by the program validator)."""
    if not isinstance(d, Mapping):
        raise ProgramError(f"{where}: an instruction must be an object, got {type(d).__name__}")
    op = d.get("op")
    if not isinstance(op, str) or op not in _FIELDS:
        raise ProgramError(f"{where}: unknown opcode {op!r} (expected one of {', '.join(_FIELDS)})")
    cls, names = _FIELDS[op]
    extra = set(d) - set(names) - {"op"}
    if extra:
        raise ProgramError(f"{where}: unknown field(s) {sorted(extra)} in {op}")
    kw: dict[str, Any] = {}
    for n in names:
        if n not in d:
            if n in _OPTIONAL:
                continue
            raise ProgramError(f"{where}: {op} is missing field '{n}'")
        if n in ("buf", "src", "dst"):
            if not isinstance(d[n], str):
                raise ProgramError(f"{where}: field '{n}' must be a string, got {d[n]!r}")
            kw[n] = d[n]
        elif n == "post":
            if not isinstance(d[n], list) or not all(isinstance(x, str) for x in d[n]):
                raise ProgramError(f"{where}: field 'post' must be a list of strings")
            kw[n] = tuple(d[n])
        else:
            kw[n] = _int(d, n, where)
    if op == "LOAD" and kw["buf"] not in BUFS:
        raise ProgramError(f"{where}: field 'buf' must be 'in' or 'w', got {kw['buf']!r}")
    for n in ("slot", "in_slot", "w_slot", "out_slot"):
        if n in kw and kw[n] > 1:
            raise ProgramError(f"{where}: field '{n}' must be 0 or 1 (double buffer), got {kw[n]}")
    if kw.get("append", 0) > 1:
        raise ProgramError(f"{where}: field 'append' must be 0 or 1, got {kw['append']}")
    if "port" in kw and kw["port"] > 1:
        raise ProgramError(f"{where}: field 'port' must be 0 or 1, got {kw['port']}")
    if kw.get("q1", 0) and kw["q1"] <= kw.get("q0", 0):
        raise ProgramError(f"{where}: empty or reversed columns q[{kw.get('q0', 0)}:{kw['q1']}]")
    if kw["c1"] <= kw["c0"] or kw["r1"] < kw["r0"]:
        raise ProgramError(f"{where}: empty or reversed range c[{kw['c0']}:{kw['c1']}] r[{kw['r0']}:{kw['r1']}]")
    return cls(**kw)  # type: ignore[no-any-return]
