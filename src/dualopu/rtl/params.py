"""Static parameters of one generated core, and the micro-instruction word layout.

A `Core` of the hardware description becomes a `CoreRtl`: the PE array geometry, the DRAM
beat width, the bank counts and depths of the double-buffered memories. Every memory is
a set of *banks* that are one DRAM beat (``beat_bytes``) wide, so that a DMA beat (one
channel, ``beat_bytes`` consecutive pixels of a row) is one write and the PE array reads
one word per bank per cycle:

* input buffer: ``in_banks`` banks, channel ``c`` of a tile in bank ``c % in_banks``;
* weight buffer: one PE-array word (``pe_count * input_size`` bytes) per address, split
  into ``w_banks`` banks of one beat;
* output buffer: ``out_banks`` banks (one per output lane) with byte write enables;
* parameter memory (bias, requantization multiplier): ``out_banks`` banks of 64-bit entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dualopu.errors import HardwareError
from dualopu.hw.config import Core, CoreType, Hardware

#: Smallest DRAM beat the generator accepts (one parameter entry per beat).
MIN_BEAT_BYTES = 8
#: Widest DRAM beat the generator builds (one opu64 word, 64 channels or pixels). A faster DRAM
#: (the ``opu`` preset's 512 B/cycle burst rate) gets a 64 B port at one beat per cycle: the
#: buffers are beat-wide banks and the window and lane selects grow with the beat, so a 512 B
#: beat made 8.5 MB of Verilog that Yosys did not finish elaborating. Such a core's RTL moves
#: 64 B/cycle where the cycle model charges ``dram_bytes_per_cycle`` (`rtl_dram_note`).
MAX_BEAT_BYTES = 64
#: Largest depthwise kernel side the window PEs take (3x3, MobileNet's depthwise kernel).
DW_KERNEL_MAX = 3
#: Default line-buffer width in pixels (padded input row of a depthwise layer).
DEFAULT_LINE_WIDTH = 128
#: Output channels per weight tile the parameter memory holds (both slots together).
PARAM_CHANNELS = 2048
#: Entries of each instruction memory (one per unit).
IMEM_DEPTH = 1024

OP_END = 0
OP_LOAD_IN = 1
OP_LOAD_W = 2
OP_CONV = 3
OP_DW = 4
OP_STORE = 5

#: Micro-instruction fields: (name, bits, signed). One word layout for every opcode.
FIELDS: tuple[tuple[str, int, bool], ...] = (
    ("op", 3, False),
    ("wait", 20, False),
    # DMA
    ("dram", 32, False),
    ("cstride", 32, False),
    ("rowlen", 16, False),
    ("nch", 12, False),
    ("nrows", 12, False),
    ("nwb", 8, False),
    ("buf", 16, False),
    ("bcs", 16, False),
    ("nb", 8, False),
    ("nbeats", 20, False),
    ("nparam", 12, False),
    ("pbase", 12, False),
    # EXEC
    ("nob", 8, False),
    ("noy", 12, False),
    ("nox", 12, False),
    ("kh", 4, False),
    ("kw", 4, False),
    ("ncb", 8, False),
    ("sh", 3, False),
    ("sw", 3, False),
    ("iy0", 14, True),
    ("padl", 4, False),
    ("ra0", 20, True),
    ("ra_step", 12, False),
    ("nrin", 12, False),
    ("win", 12, False),
    ("wrs", 8, False),
    ("ibase", 16, False),
    ("ibcs", 16, False),
    ("wbase", 16, False),
    ("wob", 16, False),
    ("obase", 16, False),
    ("orow", 8, False),
    ("obcs", 16, False),
    ("lo", 8, True),
    ("hi", 8, True),
)


def field_offsets() -> dict[str, tuple[int, int, bool]]:
    """``name -> (lsb, bits, signed)``."""
    out: dict[str, tuple[int, int, bool]] = {}
    pos = 0
    for name, bits, sgn in FIELDS:
        out[name] = (pos, bits, sgn)
        pos += bits
    return out


WORD_BITS = sum(b for _, b, _ in FIELDS)


def pack(**values: int) -> int:
    """One micro-instruction word (unset fields are 0; range-checked)."""
    offs = field_offsets()
    word = 0
    for name, v in values.items():
        lsb, bits, sgn = offs[name]
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if sgn else (0, (1 << bits) - 1)
        if not lo <= v <= hi:
            raise HardwareError(
                f"RTL micro-instruction field '{name}' = {v} outside [{lo}, {hi}] ({bits} bits)"
            )
        word |= (v & ((1 << bits) - 1)) << lsb
    return word


@dataclass(frozen=True)
class CoreRtl:
    """What the generator builds for one core."""

    name: str
    regular: bool  # has the regular-conv front end
    depthwise: bool  # has the line-buffer depthwise front end
    pe_count: int
    input_size: int
    pic: int  # input channels per cycle (regular mode)
    beat_bytes: int
    in_depth: int
    w_depth: int
    out_depth: int
    param_depth: int
    line_width: int
    overhead_cycles: int
    imem_depth: int = IMEM_DEPTH

    @property
    def group(self) -> int:
        """PEs that share one output channel in regular mode (``pic / input_size``)."""
        return self.pic // self.input_size

    @property
    def poc(self) -> int:
        return self.pe_count // self.group if self.regular else 0

    @property
    def in_banks(self) -> int:
        return max(self.pic if self.regular else 0, self.pe_count if self.depthwise else 0)

    @property
    def out_banks(self) -> int:
        return max(self.poc, self.pe_count if self.depthwise else 0)

    @property
    def word_bytes(self) -> int:
        """Bytes of one PE-array weight word."""
        return self.pe_count * self.input_size

    @property
    def w_banks(self) -> int:
        return math.ceil(self.word_bytes / self.beat_bytes)

    @property
    def macs(self) -> int:
        return self.pe_count * self.input_size


def _pow2_floor(x: float) -> int:
    return 1 << max(math.floor(math.log2(max(x, 1.0))), 0)


def rtl_beat_bytes(hw: Hardware) -> int:
    """Bytes per DRAM beat (and per cycle) of the generated port: ``dram_bytes_per_cycle``
    rounded down to a power of two, at most `MAX_BEAT_BYTES`."""
    return min(_pow2_floor(hw.dram_bytes_per_cycle), MAX_BEAT_BYTES)


def rtl_dram_note(hw: Hardware) -> str | None:
    """One line when the RTL's DRAM port is narrower than the hardware's bytes per cycle."""
    beat = rtl_beat_bytes(hw)
    if beat >= hw.dram_bytes_per_cycle:
        return None
    return (
        f"DRAM port: {beat} B per beat, one beat per cycle ({beat} B/cycle; the hardware says "
        f"{hw.dram_bytes_per_cycle:g} B/cycle, the RTL caps its beat at {MAX_BEAT_BYTES} B): "
        "its LOAD/STORE take longer than the cycle model's"
    )


def core_rtl(core: Core, hw: Hardware, line_width: int = DEFAULT_LINE_WIDTH) -> CoreRtl:
    """The generated structure of ``core`` (HardwareError when the RTL cannot build it)."""
    if core.dataflow != "opu":
        raise HardwareError(
            f"core {core.name!r}: the RTL generator builds OPU-dataflow cores only; "
            f"a {core.dataflow} array has no RTL"
        )
    beat = rtl_beat_bytes(hw)
    if beat < MIN_BEAT_BYTES:
        raise HardwareError(
            f"field 'dram_bytes_per_cycle': the RTL needs at least {MIN_BEAT_BYTES} B/cycle, "
            f"got {hw.dram_bytes_per_cycle:g}"
        )
    if hw.data_bytes != 1:
        raise HardwareError("field 'data_bytes': the RTL is INT8 only (data_bytes: 1)")
    regular = core.type in (CoreType.REGULAR, CoreType.UNIFIED)
    depthwise = core.type in (CoreType.DEPTHWISE, CoreType.UNIFIED)
    pic = min(core.ic_parallel, core.pe_count * core.input_size) if regular else core.input_size
    if regular and (pic % core.input_size or core.pe_count % (pic // core.input_size)):
        raise HardwareError(
            f"core {core.name!r}: the RTL needs ic_parallel ({pic}) a multiple of input_size "
            f"({core.input_size}) that divides pe_count x input_size"
        )
    if depthwise and core.input_size < DW_KERNEL_MAX * DW_KERNEL_MAX:
        raise HardwareError(
            f"core {core.name!r}: depthwise window PEs need input_size >= "
            f"{DW_KERNEL_MAX * DW_KERNEL_MAX} ({DW_KERNEL_MAX}x{DW_KERNEL_MAX} kernel)"
        )
    probe = CoreRtl(
        core.name,
        regular,
        depthwise,
        core.pe_count,
        core.input_size,
        pic,
        beat,
        1,
        1,
        1,
        1,
        line_width,
        core.instr_overhead_cycles,
    )
    kib = 1024
    in_depth = max(2, math.ceil(core.input_buffer_kib * kib / (probe.in_banks * beat)))
    w_depth = max(2, math.ceil(core.weight_buffer_kib * kib / probe.word_bytes))
    out_depth = max(2, math.ceil(core.output_buffer_kib * kib / (probe.out_banks * beat)))
    param_depth = max(2, math.ceil(PARAM_CHANNELS / probe.out_banks))
    return CoreRtl(
        core.name,
        regular,
        depthwise,
        core.pe_count,
        core.input_size,
        pic,
        beat,
        in_depth,
        w_depth,
        out_depth,
        param_depth,
        line_width,
        core.instr_overhead_cycles,
    )
