"""Hardware description: a processor is a list of cores sharing one DRAM port.

Validated with pydantic; loadable from YAML (`load_hardware`). Every number has a unit in
its name. Defaults come from the public OPU / Light-OPU figures (docs/assumptions.md).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dualopu.errors import HardwareError
from dualopu.hw.energy import EnergyModel
from dualopu.ir.network import LayerKind
from dualopu.util import MAX_YAML_BYTES, read_text_limited


class CoreType(str, Enum):
    """What a core's PE array is built for."""

    REGULAR = "regular"  # dense / pointwise / grouped conv and FC
    DEPTHWISE = "depthwise"  # depthwise conv with a line buffer
    UNIFIED = "unified"  # one array that runs every layer type (single-core overlay processor)

    def __str__(self) -> str:
        return self.value


#: MAC layer kinds each core type can run. Element-wise work runs on any core whose
#: ``runs_elementwise`` is true (the post-processing unit every OPU core has).
CORE_RUNS: dict[CoreType, frozenset[LayerKind]] = {
    CoreType.REGULAR: frozenset({LayerKind.CONV, LayerKind.POINTWISE, LayerKind.GROUPED, LayerKind.FC}),
    CoreType.DEPTHWISE: frozenset({LayerKind.DEPTHWISE}),
    CoreType.UNIFIED: frozenset(
        {LayerKind.CONV, LayerKind.POINTWISE, LayerKind.GROUPED, LayerKind.FC, LayerKind.DEPTHWISE}
    ),
}


class _Strict(BaseModel):
    # allow_inf_nan=False: `clock_mhz: .inf` or an infinite buffer would give Infinity/NaN results.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: object, info: ValidationInfo) -> object:
        """Refuse `pe_count: true`: pydantic would read a YAML bool as the number 1."""
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and field.annotation in (int, float):
            raise ValueError("expected a number, got a boolean")
        return value


class Core(_Strict):
    """One core: a homogeneous array of PEs, each a dot product of ``input_size`` inputs per cycle."""

    name: str = Field(min_length=1)
    type: CoreType
    pe_count: int = Field(gt=0, description="number of PEs")
    input_size: int = Field(gt=0, description="dot-product length of one PE per cycle (inputs per PE)")
    dataflow: Literal["opu", "systolic"] = Field(
        default="opu",
        description="'opu': input-channel x output-channel unrolling with a line-buffered depthwise mode; "
        "'systolic': weight-stationary array (TPU-like), depthwise one channel per column",
    )
    ic_parallel: int = Field(
        default=64, gt=0, description="input channels consumed per cycle by the regular mapping (OPU: 64)"
    )
    input_buffer_kib: float = Field(gt=0, description="on-chip input feature buffer (double-buffered)")
    weight_buffer_kib: float = Field(gt=0, description="on-chip weight buffer (double-buffered)")
    output_buffer_kib: float = Field(gt=0, description="on-chip output buffer (double-buffered)")
    instr_overhead_cycles: int = Field(default=16, ge=0, description="fixed issue/DMA-setup cycles per instruction")
    post_ops_per_cycle: int = Field(
        default=64, gt=0, description="element-wise ops per cycle of the post-processing unit (pool, add, mul)"
    )
    runs_elementwise: bool = Field(default=True, description="whether element-wise layers may run on this core")
    # ---- OPU-fidelity mapping options (issue 12; sources in docs/assumptions.md) ----------------
    # Defaults keep the original mapping; the `opu` preset sets the authors' choices.
    layout: Literal["planar", "opu64"] = Field(
        default="planar",
        description="DRAM data layout of this core's tensors: 'planar' (concat/slice/shuffle are address "
        "remaps) or 'opu64' (one 64-byte word = 64 channels of one pixel; a channel permutation needs a copy)",
    )
    channel_enhance: bool = Field(
        default=False,
        description="rewrite a kxk conv with k*k*C_in < ic_parallel as a 1x1 conv over an im2col input "
        "(opu-compiler ChannelEnhance)",
    )
    widen_per_tile: bool = Field(
        default=False,
        description="also widen the outputs of the last (remainder) input-channel tile of a layer with more "
        "input channels than ic_parallel, by the same few-channel rule (opu-compiler Scheduler)",
    )
    dw_channel_group: int = Field(
        default=0,
        ge=0,
        description="depthwise engine works on groups of up to this many channels, one channel per PE "
        "(opu-sim: 64; a core with fewer PEs holds as many channels as PEs); 0 = off (PEs may share a channel)",
    )
    store_elems_per_cycle: float = Field(
        default=0.0,
        ge=0,
        description="a STORE drains through the post-processing unit at this many elements per cycle "
        "(opu-sim: one 64-channel word per cycle); 0 = only the DRAM port limits stores",
    )
    compute_overhead_cycles: int = Field(
        default=0,
        ge=0,
        description="extra fixed cycles of every COMPUTE instruction on top of instr_overhead_cycles "
        "(opu-sim: 30 per COMPUTE, with no other issue cost)",
    )

    fc_store_once: bool = Field(
        default=False,
        description="an FC layer's output-channel tiles stay in the output (partial-sum) buffer and one STORE "
        "writes them all, when they fit one output slot (opu-sim RunComputeFC: each COMPUTE writes the next "
        "partial-sum address, accelerator.cc:557, :650-654); off: one STORE per tile",
    )
    spatial_tiling: Literal["rows", "opu"] = Field(
        default="rows",
        description="spatial tiles of conv/depthwise layers: 'rows' (full-width row bands as tall as the "
        "buffers hold) or 'opu' (the opu-compiler's square tiles, LowerConv2d.cpp:20-69, for layers whose "
        "reduction fits one ic_parallel-channel word: depthwise and few-channel convs; others keep row bands)",
    )

    @property
    def macs_per_cycle(self) -> int:
        return self.pe_count * self.input_size

    @property
    def runs(self) -> frozenset[LayerKind]:
        return CORE_RUNS[self.type]

    @model_validator(mode="after")
    def _check_parallelism(self) -> Core:
        if self.type is not CoreType.DEPTHWISE and self.dataflow == "opu":
            if self.input_size > self.ic_parallel:  # the extra inputs would get no channel: area for nothing
                raise ValueError(
                    f"input_size={self.input_size} exceeds ic_parallel={self.ic_parallel}: the regular mapping "
                    "feeds a PE at most ic_parallel input channels per cycle"
                )
            pic = min(self.ic_parallel, self.macs_per_cycle)
            if pic % self.input_size and self.input_size % pic:
                raise ValueError(
                    f"ic_parallel={self.ic_parallel} must be a multiple of input_size={self.input_size} "
                    "(a PE's inputs are input channels)"
                )
        if self.spatial_tiling == "opu" and self.dataflow != "opu":
            raise ValueError("spatial_tiling 'opu' needs the opu dataflow (the opu-compiler's tile search)")
        if self.fc_store_once and self.type is CoreType.DEPTHWISE:
            raise ValueError("fc_store_once applies to cores that run FC layers (regular or unified)")
        if self.dw_channel_group and self.type is CoreType.REGULAR:
            raise ValueError("dw_channel_group applies to depthwise-capable cores only")
        return self


#: Area models a hardware description may state (``area_model: fpga-xc7`` or ``area_model: {kind: ...}``).
AREA_MODEL_KINDS = ("mac-equivalent", "fpga-xc7")


class AreaModel(_Strict):
    """How area is counted. ``mac-equivalent``: MAC-equivalent units (1.0 = one INT8 MAC), the
    coefficients below (our choice; see docs/assumptions.md). ``fpga-xc7``: DSP / BRAM36 / LUT /
    FF from the table fitted to Yosys synthesis (hw/area_fpga.py); the coefficients still give
    the MAC-equivalent figure shown next to it."""

    kind: Literal["mac-equivalent", "fpga-xc7"] = Field(
        default="mac-equivalent", description="'mac-equivalent' or 'fpga-xc7' (fitted synthesis table)"
    )

    mac_area: float = Field(default=1.0, gt=0, description="one INT8 MAC (one DSP48E1 in our RTL; OPU packs two)")
    adder_area: float = Field(default=0.15, ge=0, description="one adder-tree input per PE input")
    pe_fixed_area: float = Field(default=2.0, ge=0, description="per PE: accumulator, output register, control")
    sram_area_per_kib: float = Field(default=1.0, ge=0, description="on-chip SRAM per KiB")
    core_fixed_area: float = Field(default=120.0, ge=0, description="per core: instruction fetch/decode, DMA, post-processing")
    line_buffer_area_per_pe: float = Field(
        default=0.5, ge=0, description="per PE of a depthwise-capable array: line-buffer ports and window muxing"
    )


class DramModel(_Strict):
    """How a DRAM transfer is timed; shared by all cores.

    ``bandwidth``: bytes / ``dram_bytes_per_cycle`` (the original model). ``burst``: every
    contiguous row of a transfer costs ``ceil(row_bytes / burst_bytes) * cycles_per_burst +
    row_latency_cycles`` (opu-sim: 512-byte bursts of 8 words, one cycle each, 20 cycles per row).
    """

    mode: Literal["bandwidth", "burst"] = "bandwidth"
    burst_bytes: int = Field(default=512, gt=0, description="bytes per DRAM burst (opu-sim: 8 x 64-byte words)")
    cycles_per_burst: float = Field(default=1.0, gt=0, description="cycles per burst (opu-sim: 1)")
    row_latency_cycles: int = Field(default=20, ge=0, description="fixed cycles per burst row (opu-sim: 20)")
    word_bytes: int = Field(
        default=64, gt=0, description="bytes of one DRAM word; a row of a tile holds one word per pixel (OPU: 64)"
    )


class Hardware(_Strict):
    """A processor: cores plus shared DRAM, data width and area model."""

    name: str = Field(min_length=1)
    description: str = ""
    clock_mhz: float = Field(default=200.0, gt=0)
    dram_bytes_per_cycle: float = Field(default=64.0, gt=0, description="shared off-chip bandwidth")
    data_bytes: int = Field(default=1, gt=0, description="bytes per activation/weight element (INT8 = 1)")
    cores: tuple[Core, ...] = Field(min_length=1)
    dram_model: DramModel = DramModel()
    area_model: AreaModel = AreaModel()
    energy_model: EnergyModel = EnergyModel()  # per-access energies (hw/energy.py)

    @field_validator("area_model", mode="before")
    @classmethod
    def _area_model_by_name(cls, value: object) -> object:
        """``area_model: fpga-xc7`` is short for ``area_model: {kind: fpga-xc7}``."""
        if isinstance(value, str):
            if value not in AREA_MODEL_KINDS:
                raise ValueError(f"unknown area model {value!r} (one of: {', '.join(AREA_MODEL_KINDS)})")
            return {"kind": value}
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Hardware:
        names = [c.name for c in self.cores]
        if len(set(names)) != len(names):
            raise ValueError(f"core names must be unique, got {names}")
        return self

    @property
    def total_macs_per_cycle(self) -> int:
        return sum(c.macs_per_cycle for c in self.cores)

    def core_index(self, name: str) -> int:
        for i, c in enumerate(self.cores):
            if c.name == name:
                return i
        raise HardwareError(f"no core named {name!r} in {self.name!r}")

    def replace_core(self, index: int, **changes: object) -> Hardware:
        """A copy with one core's fields changed (re-validated)."""
        cores = list(self.cores)
        cores[index] = Core.model_validate({**cores[index].model_dump(), **changes})
        return Hardware.model_validate({**self.model_dump(), "cores": [c.model_dump() for c in cores]})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


PRESET_DIR = Path(__file__).with_name("presets")


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _format_validation_error(exc: ValidationError, source: str, data: object = None) -> str:
    """One line naming the first bad field, e.g. ``field 'cores[0].pe_count' (core 'regular')``."""
    err = exc.errors()[0]
    loc = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in err["loc"]).lstrip(".") or "(top level)"
    where = ""
    if len(err["loc"]) >= 2 and err["loc"][0] == "cores" and isinstance(err["loc"][1], int) and isinstance(data, dict):
        cores = data.get("cores")
        k = err["loc"][1]
        if isinstance(cores, list | tuple) and k < len(cores) and isinstance(cores[k], dict) and "name" in cores[k]:
            where = f" (core {cores[k]['name']!r})"
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "required field is missing"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    src = f" {source}" if source else ""
    return f"invalid hardware description{src}: field '{loc}'{where}: {msg}{more}"


def hardware_from_dict(data: object, source: str = "") -> Hardware:
    """Validate a plain dict into a Hardware, with a one-line error naming the field."""
    if not isinstance(data, dict):
        src = f" {source}" if source else ""
        raise HardwareError(f"invalid hardware description{src}: expected a YAML mapping (name, cores, ...) "
                            f"at top level, got {type(data).__name__}")
    try:
        return Hardware.model_validate(data)
    except ValidationError as exc:
        raise HardwareError(_format_validation_error(exc, source, data)) from None


def load_hardware(name_or_path: str | Path | Hardware) -> Hardware:
    """A preset name (`dual-opu`, `single-opu`, `tpu-like`, ...) or a YAML file path."""
    if isinstance(name_or_path, Hardware):
        return name_or_path
    text = str(name_or_path)
    preset = PRESET_DIR / f"{text.lower().replace('_', '-')}.yaml"
    path = Path(text)
    if path.is_dir():
        raise HardwareError(f"{path}: is a directory, not a hardware YAML file")
    if not path.is_file():
        if preset.is_file() and "/" not in text and not text.endswith((".yaml", ".yml")):
            path = preset
        elif text.endswith((".yaml", ".yml")) or "/" in text:
            raise HardwareError(f"{path}: hardware file not found")
        else:
            raise HardwareError(
                f"unknown hardware {text!r}: not a file and not a preset ({', '.join(list_presets())})"
            )
    try:
        data = yaml.safe_load(read_text_limited(path, MAX_YAML_BYTES, "hardware YAML"))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise HardwareError(f"{path}: not valid YAML: {first}") from None
    except UnicodeDecodeError:
        raise HardwareError(f"{path}: not a text YAML file") from None
    except OSError as exc:
        raise HardwareError(f"{path}: cannot read: {exc.strerror}") from None
    return hardware_from_dict(data, str(path))
