"""A compiled program: per-layer instruction streams, DRAM tensor layout, JSON round trip.

File format (``format: dualopu-program``, ``version: 1``), all keys required::

    network, hardware, input_name, input_shape, outputs, data_bytes, dram_bytes
    cores:   [{name, type, dataflow, pe_count, input_size, ic_parallel, input_buffer_kib,
               weight_buffer_kib, output_buffer_kib, instr_overhead_cycles, post_ops_per_cycle}]
    tensors: {name: {shape: [1, C, H, W], physical: bool, runs: [[addr, count, step], ...]}}
    layers:  [{index, core, layer: <IR layer dict>, mapping: {...}, tiling: {...} | null,
               instructions: [{op: LOAD|COMPUTE|POST|STORE, ...}]}]

A tensor is stored channel-plane by channel-plane: channel ``c`` of tensor ``t`` starts at
DRAM byte address ``chan_addr(t)[c]`` and holds ``H*W`` bytes row-major. ``runs`` compress
that table (``count`` channels from ``addr`` in steps of ``step``). Physical tensors (the
network input and every layer that computes) own a contiguous region; concat, slice,
channel shuffle and flatten outputs are *views*: address tables over their inputs' planes
(flatten makes every element a 1x1 plane).

`Program.from_json` validates everything a simulator relies on and raises `ProgramError`
with a one-line message naming the offending place; `check_plan` checks that every layer's
mapping and tiles are the plan's (`dualopu.plan.plan_tiles`) and that every tile's weight,
input and output instructions move the bytes the plan says.

``model_version`` records the `dualopu.plan.MODEL_VERSION` that planned the program; a
program planned by another version is refused (its tiles would not be the plan's).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from dualopu.compiler.isa import Compute, Instr, Load, Post, Store, columns, instr_from_dict, instr_to_dict
from dualopu.compiler.tiling import MODES, ORDERS, Tiling, layer_tiles
from dualopu.compiler.tiling import Mapping as LayerMapping
from dualopu.errors import DualOpuError, ProgramError
from dualopu.hw.config import Core, Hardware
from dualopu.hw.params import CoreParams
from dualopu.ir.network import ACTIVATIONS, ELEMENTWISE_KINDS, MAC_KINDS, Layer, LayerKind, LayerTable, Shape
from dualopu.plan import MODEL_VERSION, TABLE_BYTES, TilePlan, plan_tiles, weight_tile_bytes
from dualopu.util import write_atomic

FORMAT = "dualopu-program"
#: Program file format version (2: records ``model_version``; tiles checked against the plan).
VERSION = 2

#: Every `Core` field: the plan reads all of them (mapping options included), so a program
#: records them all and is re-planned from exactly what it was compiled for.
CORE_FIELDS = tuple(Core.model_fields)


def core_snapshot(core: Core) -> dict[str, Any]:
    """The core parameters a program depends on (checked by the simulators)."""
    d = core.model_dump(mode="json")
    return {k: d[k] for k in CORE_FIELDS}


def runs_of(addr: np.ndarray) -> tuple[tuple[int, int, int], ...]:
    """Compress an address table into ``(start, count, step)`` arithmetic runs."""
    out: list[tuple[int, int, int]] = []
    a = [int(x) for x in addr]
    i = 0
    while i < len(a):
        if i + 1 == len(a):
            out.append((a[i], 1, 1))
            break
        step = a[i + 1] - a[i]
        j = i + 1
        while j + 1 < len(a) and a[j + 1] - a[j] == step:
            j += 1
        out.append((a[i], j - i + 1, step))
        i = j + 1
    return tuple(out)


@dataclass(frozen=True)
class TensorInfo:
    """Where a tensor's channel planes live in DRAM."""

    shape: Shape
    runs: tuple[tuple[int, int, int], ...]
    physical: bool

    @cached_property
    def chan_addr(self) -> np.ndarray:
        """Start address of every channel plane (int64, length C)."""
        if not self.runs:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(
            [a + s * np.arange(n, dtype=np.int64) for a, n, s in self.runs]
        ).astype(np.int64)

    @property
    def plane(self) -> int:
        return self.shape[2] * self.shape[3]

    def addresses(self, c0: int, c1: int, r0: int, r1: int, q0: int = 0, q1: int = 0) -> np.ndarray:
        """Byte addresses of channels ``[c0, c1)`` x rows ``[r0, r1)`` x columns ``[q0, q1)``
        (all columns when ``q1 = 0``), shape ``(c, r, q)``."""
        w = self.shape[3]
        rows = np.arange(r0, r1, dtype=np.int64) * w
        cols = np.arange(q0, q1 or w, dtype=np.int64)
        return self.chan_addr[c0:c1, None, None] + rows[None, :, None] + cols[None, None, :]

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "physical": self.physical, "runs": [list(r) for r in self.runs]}


@dataclass(frozen=True)
class LayerProgram:
    """One layer: its placement, mapping, tiling and instructions."""

    index: int
    core: int
    layer: Layer
    mapping: LayerMapping
    tiling: Tiling | None
    instrs: tuple[Instr, ...]

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def macs(self) -> int:
        return sum(i.work for i in self.instrs if isinstance(i, Compute))

    def to_dict(self) -> dict[str, Any]:
        layer = self.layer.to_dict()
        return {
            "index": self.index,
            "core": self.core,
            "layer": layer,
            "mapping": self.mapping.to_dict(),
            "tiling": None if self.tiling is None else self.tiling.to_dict(),
            "instructions": [instr_to_dict(i) for i in self.instrs],
        }


@dataclass(frozen=True)
class Program:
    """A network compiled for a processor: layers in order, each on one core."""

    network: str
    hardware: str
    input_name: str
    input_shape: Shape
    outputs: tuple[str, ...]
    data_bytes: int
    dram_bytes: int
    cores: tuple[Mapping[str, Any], ...]
    tensors: Mapping[str, TensorInfo]
    layers: tuple[LayerProgram, ...]

    # ---- views ------------------------------------------------------------------------
    @property
    def n_instructions(self) -> int:
        return sum(len(lp.instrs) for lp in self.layers)

    @property
    def total_macs(self) -> int:
        """MACs issued by all COMPUTE instructions."""
        return sum(lp.macs for lp in self.layers)

    def core_stream(self, core: int) -> Iterator[tuple[int, Instr]]:
        """The per-core program: ``(layer index, instruction)`` of that core's layers, in order."""
        for lp in self.layers:
            if lp.core == core:
                for ins in lp.instrs:
                    yield lp.index, ins

    def check_hardware(self, hw: Hardware) -> None:
        """Refuse a processor other than the one the program was compiled for."""
        got = tuple(core_snapshot(c) for c in hw.cores)
        if len(got) != len(self.cores):
            raise ProgramError(
                f"program compiled for {len(self.cores)} core(s) of {self.hardware!r}, hardware {hw.name!r} has {len(got)}"
            )
        for k, (a, b) in enumerate(zip(self.cores, got, strict=True)):
            diff = [f for f in CORE_FIELDS if a[f] != b[f]]
            if diff:
                raise ProgramError(
                    f"program compiled for other hardware: core {k} field '{diff[0]}' is {a[diff[0]]!r} "
                    f"in the program, {b[diff[0]]!r} in {hw.name!r}"
                )
        if hw.data_bytes != self.data_bytes:
            raise ProgramError(f"program compiled for data_bytes={self.data_bytes}, hardware has {hw.data_bytes}")

    # ---- serialization ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "model_version": MODEL_VERSION,
            "network": self.network,
            "hardware": self.hardware,
            "input_name": self.input_name,
            "input_shape": list(self.input_shape),
            "outputs": list(self.outputs),
            "data_bytes": self.data_bytes,
            "dram_bytes": self.dram_bytes,
            "cores": [dict(c) for c in self.cores],
            "tensors": {k: t.to_dict() for k, t in self.tensors.items()},
            "layers": [lp.to_dict() for lp in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, self.to_json())

    @staticmethod
    def from_json(text: str | bytes) -> Program:
        """Parse and validate a program; `ProgramError` (one line) on anything malformed."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProgramError(f"program is not valid JSON: {str(exc).splitlines()[0]}") from None
        return Program.from_dict(data)

    @staticmethod
    def load(path: str | Path) -> Program:
        p = Path(path)
        try:
            raw = p.read_bytes()
        except IsADirectoryError:
            raise ProgramError(f"{p}: is a directory, not a program file") from None
        try:
            return Program.from_json(raw)
        except ProgramError as exc:
            raise ProgramError(f"{p}: {exc}") from None

    @staticmethod
    def from_dict(data: Any) -> Program:
        return _parse_program(data)

    # ---- listing ----------------------------------------------------------------------
    def listing(self) -> str:
        """Human-readable listing: one header per layer, one line per instruction."""
        lines = [
            f"; program {self.network} on {self.hardware}: {len(self.layers)} layers, "
            f"{self.n_instructions} instructions, {self.total_macs} MACs, DRAM {self.dram_bytes} B",
        ]
        for k, c in enumerate(self.cores):
            lines.append(f"; core {k} {c['name']}: {c['type']}/{c['dataflow']} {c['pe_count']}x{c['input_size']}")
        n = 0
        for lp in self.layers:
            ly = lp.layer
            t = lp.tiling
            tile = "" if t is None else (f" tiles {t.n_oc}x{t.n_rows} (oc {t.toc} x rows {t.tr}), {t.order}")
            m = lp.mapping
            mp = {"conv": f"pic={m.pic:g} poc={m.poc:g}", "dw": f"pw={m.pw}", "sa": f"{m.rows}x{m.cols}",
                  "sa_dw": f"{m.rows}x{m.cols}", "post": "unit", "free": "address remap"}[m.mode]
            lines.append(
                f"\n{ly.name}: {ly.kind.value}/{ly.op} {list(ly.in_shape)}->{list(ly.out_shape)} "
                f"on {self.cores[lp.core]['name']} [{m.mode} {mp}]{tile}"
            )
            for ins in lp.instrs:
                lines.append(f"  {n:6d}  {ins.text()}")
                n += 1
        return "\n".join(lines) + "\n"


# ---- validation ------------------------------------------------------------------------


def _get(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise ProgramError(f"{where}: missing key '{key}'")
    v = d[key]
    if isinstance(v, bool) and typ is not bool and (typ is int or (isinstance(typ, tuple) and bool not in typ)):
        raise ProgramError(f"{where}: key '{key}' has the wrong type (bool)")
    if not isinstance(v, typ):
        name = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise ProgramError(f"{where}: key '{key}' must be {name}, got {type(v).__name__}")
    return v


def _shape(v: Any, where: str) -> Shape:
    if (not isinstance(v, list) or len(v) != 4
            or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)):
        raise ProgramError(f"{where}: a shape must be four positive integers, got {v!r}")
    return (v[0], v[1], v[2], v[3])


def _parse_tensor(name: str, d: Any, dram: int) -> TensorInfo:
    where = f"tensors[{name!r}]"
    if not isinstance(d, Mapping):
        raise ProgramError(f"{where}: must be an object")
    shape = _shape(_get(d, "shape", list, where), where)
    runs_raw = _get(d, "runs", list, where)
    runs: list[tuple[int, int, int]] = []
    for r in runs_raw:
        if (not isinstance(r, list) or len(r) != 3
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in r) or r[1] <= 0):
            raise ProgramError(f"{where}: a run must be [addr, count>0, step], got {r!r}")
        runs.append((r[0], r[1], r[2]))
    t = TensorInfo(shape=shape, runs=tuple(runs), physical=bool(_get(d, "physical", bool, where)))
    addr = t.chan_addr
    if addr.size != shape[1]:
        raise ProgramError(f"{where}: runs cover {addr.size} channels, shape has {shape[1]}")
    if addr.size and (addr.min() < 0 or addr.max() + t.plane > dram):
        raise ProgramError(f"{where}: channel planes fall outside DRAM [0, {dram})")
    return t


def _parse_mapping(d: Any, where: str) -> LayerMapping:
    if not isinstance(d, Mapping):
        raise ProgramError(f"{where}: 'mapping' must be an object")
    mode = _get(d, "mode", str, where)
    if mode not in MODES:
        raise ProgramError(f"{where}: unknown mapping mode {mode!r}")
    try:
        m = LayerMapping(mode=mode, pic=float(d.get("pic", 0.0)), poc=float(d.get("poc", 0.0)),
                         pw=int(d.get("pw", 0)), rows=int(d.get("rows", 0)), cols=int(d.get("cols", 0)),
                         enhanced=bool(d.get("enhanced", False)))
    except (TypeError, ValueError):
        raise ProgramError(f"{where}: malformed mapping {dict(d)!r}") from None
    return m


def _parse_tiling(d: Any, where: str) -> Tiling | None:
    if d is None:
        return None
    if not isinstance(d, Mapping):
        raise ProgramError(f"{where}: 'tiling' must be an object or null")
    order = _get(d, "order", str, where)
    if order not in ORDERS:
        raise ProgramError(f"{where}: unknown loop order {order!r}")
    vals = [_get(d, k, int, where) for k in ("toc", "tr", "n_oc", "n_rows")]
    cols = [_get(d, k, int, where) if k in d else 1 for k in ("tw", "n_cols")]  # absent: row bands
    if min(vals + cols) < 1:
        raise ProgramError(f"{where}: tiling sizes must be positive")
    return Tiling(order, *vals, *cols)


def _pos_ints(v: Any, n: int, minimum: int = 1) -> bool:
    return (isinstance(v, tuple | list) and len(v) == n
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= minimum for x in v))


def _check_layer(ly: Layer, tensors: Mapping[str, TensorInfo], where: str) -> None:
    """Types and geometry of an IR layer record (what the simulators compute with)."""
    ok = (isinstance(ly.name, str) and isinstance(ly.op, str) and all(isinstance(i, str) for i in ly.inputs)
          and len(ly.inputs) == len(ly.in_shapes) >= 1 and all(_pos_ints(s, 4) for s in ly.in_shapes)
          and _pos_ints(ly.out_shape, 4) and _pos_ints(ly.kernel, 2) and _pos_ints(ly.stride, 2)
          and _pos_ints(ly.dilation, 2) and _pos_ints(ly.padding, 4, 0) and isinstance(ly.groups, int)
          and not isinstance(ly.groups, bool) and ly.groups >= 1 and isinstance(ly.has_bias, bool)
          and (ly.activation is None or ly.activation in ACTIVATIONS) and isinstance(ly.attrs, Mapping))
    if not ok:
        raise ProgramError(f"{where}: malformed layer record (types or geometry)")
    for name, shape in zip(ly.inputs, ly.in_shapes, strict=True):
        if name not in tensors or tensors[name].shape != tuple(shape):
            raise ProgramError(f"{where}: input {name!r} is not a tensor of shape {list(shape)}")
    if ly.kind in MAC_KINDS:
        cin, cout = ly.in_channels, ly.out_channels
        if cin % ly.groups or cout % ly.groups:
            raise ProgramError(f"{where}: groups={ly.groups} does not divide {cin} -> {cout} channels")
        for ax in (0, 1):
            n = ly.in_shape[2 + ax] + ly.padding[ax] + ly.padding[ax + 2] - ly.dilation[ax] * (ly.kernel[ax] - 1) - 1
            if n < 0 or n // ly.stride[ax] + 1 != ly.out_shape[2 + ax]:
                raise ProgramError(f"{where}: output size does not follow from input, kernel, stride and padding")


def _check_instr(ins: Instr, ly: Layer, tensors: Mapping[str, TensorInfo], db: int, where: str) -> None:
    _, cout, hout, _ = ly.out_shape
    if isinstance(ins, Load):
        if ins.buf == "w":
            if ins.c1 > cout:
                raise ProgramError(f"{where}: weights oc[{ins.c0}:{ins.c1}] beyond {cout} output channels")
            return
        if ins.port >= len(ly.inputs) or ins.src != ly.inputs[ins.port]:
            raise ProgramError(f"{where}: LOAD port {ins.port} reads {ins.src!r}, not an input of {ly.name!r}")
        t = tensors[ins.src]
        q0, q1 = columns(ins, t.shape[3])
        if ins.c1 > t.shape[1] or ins.r1 > t.shape[2] or q1 > t.shape[3]:
            raise ProgramError(f"{where}: LOAD region c[{ins.c0}:{ins.c1}] r[{ins.r0}:{ins.r1}] q[{q0}:{q1}] outside "
                               f"{ins.src!r} {list(t.shape)}")
        if ins.bytes != (ins.c1 - ins.c0) * (ins.r1 - ins.r0) * (q1 - q0) * db:
            raise ProgramError(f"{where}: LOAD bytes {ins.bytes} do not match its region")
    elif isinstance(ins, Store):
        if ins.dst != ly.name:
            raise ProgramError(f"{where}: STORE writes {ins.dst!r}, layer {ly.name!r} may only write its output")
        q0, q1 = columns(ins, ly.out_shape[3])
        if ins.c1 > cout or ins.r1 > hout or q1 > ly.out_shape[3]:
            raise ProgramError(f"{where}: STORE region outside output {list(ly.out_shape)}")
        if ins.bytes != (ins.c1 - ins.c0) * (ins.r1 - ins.r0) * (q1 - q0) * db:
            raise ProgramError(f"{where}: STORE bytes {ins.bytes} do not match its region")
    elif isinstance(ins, Compute):
        if ly.kind not in MAC_KINDS:
            raise ProgramError(f"{where}: COMPUTE in {ly.kind.value} layer {ly.name!r} (only MAC layers)")
        if ins.c1 > cout or ins.r1 > hout or columns(ins, ly.out_shape[3])[1] > ly.out_shape[3]:
            raise ProgramError(f"{where}: COMPUTE region outside output {list(ly.out_shape)}")
    elif isinstance(ins, Post):
        copy = ly.op == "channel_shuffle"  # a shuffle copied through the post-processing unit (opu64)
        if ly.kind not in ELEMENTWISE_KINDS or (
            ly.kind in (LayerKind.CONCAT, LayerKind.SHUFFLE) and not copy
        ):
            raise ProgramError(f"{where}: POST in {ly.kind.value} layer {ly.name!r}")
        if ins.c1 > cout or ins.r1 > hout:
            raise ProgramError(f"{where}: POST region outside output {list(ly.out_shape)}")


def _parse_program(data: Any) -> Program:
    where = "program"
    if not isinstance(data, Mapping):
        raise ProgramError("program: top level must be a JSON object")
    if data.get("format") != FORMAT:
        raise ProgramError(f"program: not a dualopu program (format {data.get('format')!r}, expected {FORMAT!r})")
    if data.get("version") != VERSION:
        raise ProgramError(f"program: unsupported version {data.get('version')!r} (expected {VERSION})")
    if data.get("model_version") != MODEL_VERSION:
        raise ProgramError(f"program: planned by model version {data.get('model_version')!r}, this dualopu plans "
                           f"with version {MODEL_VERSION}: recompile it")
    network = _get(data, "network", str, where)
    hardware = _get(data, "hardware", str, where)
    input_name = _get(data, "input_name", str, where)
    input_shape = _shape(_get(data, "input_shape", list, where), "program.input_shape")
    outputs = _get(data, "outputs", list, where)
    if not all(isinstance(o, str) for o in outputs):
        raise ProgramError("program: 'outputs' must be a list of tensor names")
    db = _get(data, "data_bytes", int, where)
    dram = _get(data, "dram_bytes", int, where)
    if db < 1 or dram < 0:
        raise ProgramError("program: 'data_bytes' must be >= 1 and 'dram_bytes' >= 0")
    cores_raw = _get(data, "cores", list, where)
    cores: list[dict[str, Any]] = []
    for k, c in enumerate(cores_raw):
        if not isinstance(c, Mapping) or set(CORE_FIELDS) - set(c):
            raise ProgramError(f"program.cores[{k}]: must be an object with keys {', '.join(CORE_FIELDS)}")
        cores.append({f: c[f] for f in CORE_FIELDS})
    if not cores:
        raise ProgramError("program: 'cores' is empty")
    tensors_raw = _get(data, "tensors", Mapping, where)
    tensors = {str(k): _parse_tensor(str(k), v, dram) for k, v in tensors_raw.items()}
    if input_name not in tensors or tensors[input_name].shape != input_shape:
        raise ProgramError(f"program: input tensor {input_name!r} missing or not of shape {list(input_shape)}")
    layers_raw = _get(data, "layers", list, where)
    layers: list[LayerProgram] = []
    seen = {input_name}
    for i, lr in enumerate(layers_raw):
        w = f"program.layers[{i}]"
        if not isinstance(lr, Mapping):
            raise ProgramError(f"{w}: must be an object")
        if _get(lr, "index", int, w) != i:
            raise ProgramError(f"{w}: 'index' is {lr['index']}, expected {i}")
        core = _get(lr, "core", int, w)
        if not 0 <= core < len(cores):
            raise ProgramError(f"{w}: core {core} out of range (program has {len(cores)} cores)")
        try:
            ly = Layer.from_dict(_get(lr, "layer", Mapping, w))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProgramError(f"{w}: malformed layer record ({type(exc).__name__}: {exc})") from None
        w = f"program.layers[{i}] ({str(ly.name)!r})"
        for inp in ly.inputs:
            if not isinstance(inp, str) or inp not in seen or inp not in tensors:
                raise ProgramError(f"{w}: reads {inp!r} before it is produced")
        _check_layer(ly, tensors, w)
        if ly.name not in tensors or tensors[ly.name].shape != ly.out_shape:
            raise ProgramError(f"{w}: output tensor missing or not of shape {list(ly.out_shape)}")
        seen.add(ly.name)
        mapping = _parse_mapping(lr.get("mapping"), w)
        tiling = _parse_tiling(lr.get("tiling"), w)
        raw_instrs = _get(lr, "instructions", list, w)
        instrs = tuple(instr_from_dict(x, f"{w}.instructions[{j}]") for j, x in enumerate(raw_instrs))
        if mapping.mode == "free" and instrs:
            raise ProgramError(f"{w}: a free (address-remapped) layer has instructions")
        if mapping.mode != "free" and not instrs:
            raise ProgramError(f"{w}: layer has no instructions")
        for j, ins in enumerate(instrs):
            _check_instr(ins, ly, tensors, db, f"{w}.instructions[{j}]")
        layers.append(LayerProgram(index=i, core=core, layer=ly, mapping=mapping, tiling=tiling, instrs=instrs))
    if not outputs:
        raise ProgramError("program: 'outputs' is empty")
    for o in outputs:
        if o not in tensors:
            raise ProgramError(f"program: output {o!r} is not a tensor")
    prog = Program(
        network=network, hardware=hardware, input_name=input_name, input_shape=input_shape,
        outputs=tuple(outputs), data_bytes=db, dram_bytes=dram, cores=tuple(cores), tensors=tensors,
        layers=tuple(layers),
    )
    check_plan(prog)
    return prog


# ---- the program against the plan -----------------------------------------------------------


def _snapshot_core(snap: Mapping[str, Any], k: int) -> Core:
    try:
        return Core.model_validate(dict(snap))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ProgramError(f"program.cores[{k}]: field '{'.'.join(str(x) for x in err['loc'])}': {err['msg']}") from None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def _check_layer_plan(lp: LayerProgram, core: Core, plan: TilePlan, j: int, db: int, where: str) -> None:
    """Mapping, tiling and per-tile bytes of one layer against column ``j`` of ``plan``."""
    ly = lp.layer
    try:
        mapping, tiling = layer_tiles(plan, j, ly, core, lp.core)
    except DualOpuError as exc:
        raise ProgramError(f"{where}: the plan refuses this layer on core {lp.core}: {exc}") from None
    if lp.mapping != mapping:
        raise ProgramError(f"{where}: mapping {lp.mapping.to_dict()} is not the plan's {mapping.to_dict()}")
    if lp.tiling != tiling:
        got = None if lp.tiling is None else lp.tiling.to_dict()
        raise ProgramError(f"{where}: tiling {got} is not the plan's {None if tiling is None else tiling.to_dict()}")
    if tiling is None:
        return
    col = plan.column(j)
    execs = [i for i in lp.instrs if isinstance(i, Compute | Post)]
    if len(execs) != tiling.stages:
        raise ProgramError(f"{where}: {len(execs)} COMPUTE/POST tiles, the plan has {tiling.stages} stages")
    wout = ly.out_shape[3]
    for ins in execs:
        q0, q1 = columns(ins, wout)
        if ins.c1 - ins.c0 > tiling.toc or ins.r1 - ins.r0 > tiling.tr or (tiling.n_cols > 1 and q1 - q0 > tiling.tw):
            raise ProgramError(f"{where}: tile c[{ins.c0}:{ins.c1}] r[{ins.r0}:{ins.r1}] q[{q0}:{q1}] larger than "
                               f"the plan's {tiling.toc} channels x {tiling.tr} rows x {tiling.tw} columns")
    loads = [i for i in lp.instrs if isinstance(i, Load)]
    w_loads = [i for i in loads if i.buf == "w"]
    mac = ly.kind in MAC_KINDS
    per_load = int(col["w_tiles_per_load"])
    for n, ins in enumerate(w_loads):
        want = weight_tile_bytes(ly, ins.c1 - ins.c0, n == 0, db) if mac else TABLE_BYTES
        if ins.bytes != want:
            raise ProgramError(f"{where}: weight LOAD oc[{ins.c0}:{ins.c1}] moves {ins.bytes} B, the plan's weight "
                               f"tile of these channels is {want} B")
        if mac and ins.c1 - ins.c0 > tiling.toc * per_load:
            raise ProgramError(f"{where}: weight LOAD of {ins.c1 - ins.c0} channels, the plan loads at most "
                               f"{tiling.toc * per_load}")
    w_total = sum(i.bytes for i in w_loads)
    if not _close(w_total, col["w_load_bytes"]):
        raise ProgramError(f"{where}: weight LOADs move {w_total} B in all, the plan says {col['w_load_bytes']:.0f} B")
    for ins in loads:
        wide = tiling.n_cols > 1 and ins.buf == "in" and columns(ins, ly.in_shape[3])[1] - ins.q0 > col["in_cols"]
        if ins.buf == "in" and (ins.r1 - ins.r0 > col["in_rows"] or ins.c1 - ins.c0 > col["in_ch"] or wide):
            raise ProgramError(f"{where}: input LOAD c[{ins.c0}:{ins.c1}] r[{ins.r0}:{ins.r1}] larger than the "
                               f"plan's input tile ({col['in_ch']:.0f} channels x {col['in_rows']:.0f} rows)")
    # the plan counts one input LOAD per stage; a depthwise tile (channel multiplier > 1) whose
    # input channels are already resident skips it, so fewer is allowed there, never more
    fewer_ok = ly.kind is LayerKind.DEPTHWISE and ly.out_channels > ly.in_channels
    if len(loads) > col["load_instrs"] + 1e-9 or (not fewer_ok and not _close(len(loads), col["load_instrs"])):
        raise ProgramError(f"{where}: {len(loads)} LOAD instructions, the plan has {col['load_instrs']:.0f}")
    stores = [i for i in lp.instrs if isinstance(i, Store)]
    if not _close(len(stores), col["store_instrs"]):
        raise ProgramError(f"{where}: {len(stores)} STORE instructions, the plan has {col['store_instrs']:.0f}")
    s_total = sum(i.bytes for i in stores)
    if not _close(s_total, col["store_bytes"]) or any(i.bytes > col["out_tile_bytes"] + 1e-9 for i in stores):
        raise ProgramError(f"{where}: STOREs move {s_total} B (largest {max((i.bytes for i in stores), default=0)}"
                           f" B), the plan says {col['store_bytes']:.0f} B in tiles of at most "
                           f"{col['out_tile_bytes']:.0f} B")


def check_plan(program: Program) -> None:
    """Refuse a program whose layers are not mapped and tiled as the plan says (one plan per
    core over all layers), or whose instructions move other bytes than the plan's tiles."""
    table = LayerTable.of([lp.layer for lp in program.layers])
    cores = [_snapshot_core(c, k) for k, c in enumerate(program.cores)]
    plans = [plan_tiles(table, CoreParams.of(c), program.data_bytes) for c in cores]
    for j, lp in enumerate(program.layers):
        where = f"program.layers[{j}] ({lp.name!r})"
        _check_layer_plan(lp, cores[lp.core], plans[lp.core], j, program.data_bytes, where)


def layer_names(program: Program) -> Sequence[str]:
    return [lp.name for lp in program.layers]
