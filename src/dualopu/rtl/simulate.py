"""RTL simulation of a compiled program with Amaranth's built-in Python simulator (`amaranth.sim`).

Each layer runs on a fresh simulation of its core (`OpuCore` with the layer's
micro-instructions preloaded, `dualopu.rtl.assemble`); a Python testbench serves the
core's ready/valid DRAM port from a byte array: it accepts one read request per cycle
and answers it the next cycle with one beat of ``beat_bytes`` (the hardware's
``dram_bytes_per_cycle``, rounded down to a power of two, at most 64), and accepts one write beat per
cycle (byte strobes). Layers run one after the other, the DRAM contents carried over, as
the cycle simulator runs one image (`dualopu.sim.cycles.simulate_cycles`); outputs are
read back from the DRAM array at the program's addresses.

`dualopu.rtl.verilator` runs the same testbench protocol on the exported Verilog
compiled by Verilator, when it is installed. The testbench records the cycle at which every instruction completes (the units'
completion counters), so per-instruction latencies can be set beside the cycle
simulator's (`compare_instructions`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dualopu.compiler.isa import Load
from dualopu.compiler.program import Program
from dualopu.compiler.quant import QuantizedNetwork
from dualopu.hw.config import Hardware
from dualopu.rtl.assemble import RtlImage, assemble
from dualopu.rtl.export import RtlError
from dualopu.sim.timing import DMA, EXEC, TimedLayer, time_layer

#: Cycles a layer may take before the simulation is declared hung (per instruction).
MAX_CYCLES_PER_INSTR = 200_000
#: Cycles from a read request's acceptance to its response beat (the testbench's DRAM).
READ_LATENCY_CYCLES = 1
#: RTL simulators `run_program` can use.
BACKENDS = ("amaranth", "verilator")


@dataclass(frozen=True)
class CoreRun:
    """One run of a core: total cycles and per unit the completion cycle of each instruction."""

    cycles: int
    ends: tuple[tuple[int, ...], tuple[int, ...]]  # DMA, EXEC
    wall_s: float  # simulating (sim.run)
    build_s: float = 0.0  # elaborating the core and compiling the simulation


@dataclass(frozen=True)
class RtlRun:
    """A program run layer by layer on the RTL."""

    layer_cycles: np.ndarray
    runs: tuple[CoreRun, ...]
    images: tuple[RtlImage, ...]
    dram: np.ndarray  # final activation region (uint8)
    wall_s: float = 0.0
    outputs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def total_cycles(self) -> int:
        return int(self.layer_cycles.sum())


def run_core(image: RtlImage, dram: np.ndarray, max_cycles: int | None = None) -> CoreRun:
    """Simulate ``image`` on its core until both units halt; ``dram`` (uint8) is read and written."""
    from amaranth.sim import Simulator

    from dualopu.rtl.core import OpuCore

    p = image.params
    b = p.beat_bytes
    dma, ex = image.streams()
    n_instr = len(dma) + len(ex)
    limit = max_cycles or MAX_CYCLES_PER_INSTR * n_instr
    t_build = time.perf_counter()
    dut = OpuCore(p, (dma, ex))
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    size = dram.size
    state: dict[str, object] = {}

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.set(dut.rd_ready, 1)
        ctx.set(dut.wr_ready, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycle = 1
        pending: list[int | None] = [None] * (READ_LATENCY_CYCLES + 1)
        prev = [0, 0]
        ends: tuple[list[int], list[int]] = ([], [])
        while True:
            a = pending.pop(0)
            if a is not None:
                chunk = dram[a : min(a + b, size)].tobytes() if a < size else b""
                ctx.set(dut.rsp_valid, 1)
                ctx.set(dut.rsp_data, int.from_bytes(chunk, "little"))
            else:
                ctx.set(dut.rsp_valid, 0)
            pending.append(ctx.get(dut.rd_addr) if ctx.get(dut.rd_valid) else None)
            if ctx.get(dut.wr_valid):
                addr, data, strb = ctx.get(dut.wr_addr), ctx.get(dut.wr_data), ctx.get(dut.wr_strb)
                for k in range(b):
                    if strb >> k & 1:
                        if addr + k >= size:
                            raise RtlError(f"RTL wrote DRAM address {addr + k} beyond the image ({size} B)")
                        dram[addr + k] = (data >> (8 * k)) & 0xFF
            for u in (DMA, EXEC):
                d = ctx.get(dut.unit_done[u])
                if d != prev[u]:
                    ends[u].extend([cycle] * (d - prev[u]))
                    prev[u] = d
            if ctx.get(dut.done):
                break
            if cycle >= limit:
                raise RtlError(
                    f"RTL simulation hung: {cycle} cycles, units completed {prev[0]}/{len(dma) - 1} "
                    f"DMA and {prev[1]}/{len(ex) - 1} EXEC instructions"
                )
            await ctx.tick()
            cycle += 1
        state["cycles"] = cycle
        state["ends"] = (tuple(ends[0]), tuple(ends[1]))

    sim.add_testbench(bench)
    t0 = time.perf_counter()
    sim.run()
    t1 = time.perf_counter()
    return CoreRun(cycles=int(state["cycles"]), ends=state["ends"], wall_s=t1 - t0, build_s=t0 - t_build)  # type: ignore[arg-type]


def run_program(
    program: Program,
    qnet: QuantizedNetwork,
    hw: Hardware,
    input_int8: np.ndarray,
    layers: Sequence[int] | None = None,
    line_width: int | None = None,
    together: bool = False,
    backend: str = "amaranth",
) -> RtlRun:
    """Run ``layers`` (default all) of ``program`` on the RTL, one simulation per layer
    (``together``: one per run of consecutive layers on the same core, one instruction
    stream whose layers drain in between, `dualopu.rtl.assemble`).

    The input is written at the program's input address; every tensor a run layer writes
    is read back (``RtlRun.outputs``), as the functional simulator's `run_functional_all`.
    A layer's cycles run from the end of the previous layer of its simulation (or its start)
    to its last instruction's completion. ``backend``: ``amaranth`` (its Python simulator) or
    ``verilator`` (the exported Verilog, `dualopu.rtl.verilator`; same testbench protocol)."""
    if backend not in BACKENDS:
        raise RtlError(f"unknown RTL simulation backend {backend!r} (expected one of {', '.join(BACKENDS)})")
    x = np.asarray(input_int8)
    idx = list(range(len(program.layers))) if layers is None else list(layers)
    act = np.zeros(program.dram_bytes, dtype=np.int8)
    t_in = program.tensors[program.input_name]
    _, c, h, _ = program.input_shape
    act[t_in.addresses(0, c, 0, h)] = x[0]
    groups: list[list[int]] = []
    for i in idx:
        if together and groups and program.layers[groups[-1][-1]].core == program.layers[i].core:
            groups[-1].append(i)
        else:
            groups.append([i])
    cycles: list[int] = []
    runs, images = [], []
    t0 = time.perf_counter()
    for g in groups:
        img = assemble(program, qnet, hw, g, line_width)
        dram = img.dram.copy()
        dram[: program.dram_bytes] = act.view(np.uint8)
        if backend == "verilator":
            from dualopu.rtl.verilator import run_core_verilator

            r = run_core_verilator(img, dram, READ_LATENCY_CYCLES)
        else:
            r = run_core(img, dram)
        act = dram[: program.dram_bytes].view(np.int8).copy()
        prev = 0
        for a in img.layers:
            end = max(r.ends[u][k] for u, k in a.index)
            cycles.append(end - prev)
            prev = end
        runs.append(r)
        images.append(img)
    outputs = {}
    for i in idx:
        name = program.layers[i].name
        t = program.tensors[name]
        _, c, h, _ = t.shape
        outputs[name] = act[t.addresses(0, c, 0, h)][None]
    return RtlRun(
        layer_cycles=np.asarray(cycles, dtype=np.int64),
        runs=tuple(runs),
        images=tuple(images),
        dram=act.view(np.uint8),
        wall_s=time.perf_counter() - t0,
        outputs=outputs,
    )


@dataclass(frozen=True)
class InstrRow:
    """One instruction: its latency on the cycle simulator and on the RTL.

    Latency = completion minus the cycle it could start (its unit free and its
    dependencies done), the quantity the cycle simulator prices as overhead + work."""

    layer: str
    index: int
    op: str
    sim_cycles: float
    rtl_cycles: int
    sim_bytes: int
    rtl_bytes: int


def _latencies(tl: TimedLayer, ends: Sequence[float], start: float = 0.0) -> list[float]:
    out = []
    last = [start, start]
    for i in range(len(tl)):
        u = tl.unit[i]
        ready = max([last[u]] + [ends[d] for d in tl.deps[i]])
        out.append(ends[i] - ready)
        last[u] = ends[i]
    return out


def sim_instr_cycles(tl: TimedLayer, dram_bytes_per_cycle: float) -> list[float]:
    """The cycle simulator's latency of each instruction of a layer running alone on its core
    (one DMA transfer at a time, so the port is never shared)."""
    return [
        tl.fixed[i] + (tl.work[i] / dram_bytes_per_cycle if tl.unit[i] == DMA else tl.work[i])
        for i in range(len(tl))
    ]


def compare_instructions(program: Program, hw: Hardware, run: RtlRun) -> list[InstrRow]:
    """Per instruction: cycle-simulator latency beside the RTL's (from its completion cycles)."""
    rows: list[InstrRow] = []
    for img, r in zip(run.images, run.runs, strict=True):
        start = 0.0
        for a in img.layers:
            lp = program.layers[a.layer]
            tl = time_layer(lp, hw.cores[lp.core], program.data_bytes, hw.dram_bytes_per_cycle, hw.dram_model)
            rtl_end = [float(r.ends[u][k]) for u, k in a.index]
            rtl = _latencies(tl, rtl_end, start)
            start = max(rtl_end, default=start)
            sim = sim_instr_cycles(tl, hw.dram_bytes_per_cycle)
            for i, ins in enumerate(lp.instrs):
                rows.append(
                    InstrRow(
                        lp.name,
                        i,
                        ins.op + (f" {ins.buf}" if isinstance(ins, Load) else ""),
                        sim[i],
                        round(rtl[i]),
                        int(getattr(ins, "bytes", 0)),
                        a.load_bytes[i],
                    )
                )
    return rows


def rows_markdown(rows: Sequence[InstrRow]) -> str:
    """The per-instruction comparison as a Markdown table."""
    out = [
        "| layer | # | instruction | cycle sim | RTL | RTL - sim | bytes (program / RTL) |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for x in rows:
        by = f"{x.sim_bytes} / {x.rtl_bytes}" if x.op.startswith(("LOAD", "STORE")) else ""
        out.append(
            f"| {x.layer} | {x.index} | {x.op} | {x.sim_cycles:.0f} | {x.rtl_cycles} | "
            f"{x.rtl_cycles - x.sim_cycles:+.0f} | {by} |"
        )
    return "\n".join(out)
