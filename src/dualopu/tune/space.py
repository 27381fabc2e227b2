"""The design space a designer chooses at a fixed area, declared in YAML and validated.

Per core kind (``regular``, ``depthwise``, ``unified``, ``systolic``): the PE count (every
integer of a range, or a list), the input size per PE, ``ic_parallel`` and the three buffer
sizes; for the whole processor the DRAM bandwidth and clock (fixed or a list to sweep).
Candidates of one core are a numeric ``(n, 6)`` array in the column order `COLUMNS`; the
tuner never turns them into strings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dualopu.errors import TuneError
from dualopu.hw.config import Core, CoreType

#: Numeric columns of one core's candidates, in order.
COLUMNS = (
    "pe_count",
    "input_size",
    "ic_parallel",
    "input_buffer_kib",
    "weight_buffer_kib",
    "output_buffer_kib",
)
PE, ISZ, ICP, IB, WB, OB = range(len(COLUMNS))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntRange(_Strict):
    """Every integer from ``min`` to ``max`` (inclusive) in steps of ``step``."""

    min: int = Field(gt=0)
    max: int = Field(gt=0)
    step: int = Field(default=1, gt=0)

    def values(self) -> list[int]:
        if self.max < self.min:
            raise ValueError(f"max={self.max} < min={self.min}")
        return list(range(self.min, self.max + 1, self.step))


def _positive_list(values: list[float]) -> list[float]:
    if not values:
        raise ValueError("empty list")
    if any(v <= 0 for v in values):
        raise ValueError(f"values must be positive, got {values}")
    return values


class CoreRanges(_Strict):
    """Candidates of one core kind; every value list is tried in full (a product)."""

    pe_count: IntRange | list[int]
    input_size: list[int]
    ic_parallel: list[int] = [64]
    input_buffer_kib: list[float]
    weight_buffer_kib: list[float]
    output_buffer_kib: list[float]

    @field_validator(
        "input_size", "ic_parallel", "input_buffer_kib", "weight_buffer_kib", "output_buffer_kib"
    )
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        return _positive_list(v)

    @field_validator("pe_count")
    @classmethod
    def _pe(cls, v: IntRange | list[int]) -> IntRange | list[int]:
        if isinstance(v, IntRange):
            v.values()
        else:
            _positive_list([float(x) for x in v])
        return v

    def pe_values(self) -> list[int]:
        return self.pe_count.values() if isinstance(self.pe_count, IntRange) else list(self.pe_count)

    @property
    def size(self) -> int:
        return (
            len(self.pe_values())
            * len(self.input_size)
            * len(self.ic_parallel)
            * len(self.input_buffer_kib)
            * len(self.weight_buffer_kib)
            * len(self.output_buffer_kib)
        )


def _default(
    pe: tuple[int, int], isz: list[int], icp: list[int], ib: list[float], wb: list[float], ob: list[float]
) -> CoreRanges:
    return CoreRanges(
        pe_count=IntRange(min=pe[0], max=pe[1]),
        input_size=isz,
        ic_parallel=icp,
        input_buffer_kib=ib,
        weight_buffer_kib=wb,
        output_buffer_kib=ob,
    )


#: Default candidates per core kind (our choice: around the presets, buffers down to a quarter of theirs).
DEFAULT_CORES: dict[str, CoreRanges] = {
    "regular": _default((16, 160), [8, 16, 32], [32, 64], [32, 64, 128], [32, 64, 128], [16, 32, 64]),
    "depthwise": _default((4, 48), [9, 16, 25], [64], [16, 32, 64], [4, 8], [16, 32]),
    "unified": _default(
        (16, 200), [8, 16, 32], [32, 64], [32, 64, 128, 192], [32, 64, 128, 192], [32, 64, 136]
    ),
    "systolic": _default((8, 96), [8, 16, 32, 64], [32, 64], [64, 128, 240], [64, 128, 240], [32, 64, 120]),
}


class DesignSpace(_Strict):
    """Per core kind candidates plus processor-wide DRAM bandwidth and clock (each a list)."""

    cores: dict[str, CoreRanges] = Field(default_factory=dict)
    dram_bytes_per_cycle: list[float] | None = None
    clock_mhz: list[float] | None = None

    @field_validator("cores")
    @classmethod
    def _kinds(cls, v: dict[str, CoreRanges]) -> dict[str, CoreRanges]:
        bad = sorted(set(v) - set(DEFAULT_CORES))
        if bad:
            raise ValueError(f"unknown core kind(s) {bad} (use {', '.join(DEFAULT_CORES)})")
        return v

    @field_validator("dram_bytes_per_cycle", "clock_mhz")
    @classmethod
    def _pos(cls, v: list[float] | None) -> list[float] | None:
        return None if v is None else _positive_list(v)

    def ranges(self, kind: str) -> CoreRanges:
        return self.cores.get(kind, DEFAULT_CORES[kind])


def core_kind(core: Core) -> str:
    """Key of a core in a `DesignSpace` (``systolic`` for a systolic array, else its type)."""
    return "systolic" if core.dataflow == "systolic" else core.type.value


def load_space(path: str | Path | None) -> DesignSpace:
    """A `DesignSpace` from YAML (None: the defaults); errors name the field."""
    if path is None:
        return DesignSpace()
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TuneError(f"{path}: cannot read the design space ({type(exc).__name__})") from None
    try:
        return DesignSpace.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise TuneError(f"{path}: field '{where}': {err['msg']}") from None


def candidates(core: Core, r: CoreRanges) -> np.ndarray:
    """Valid candidates of ``core`` (its type and dataflow) under ``r`` as ``(n, 6)`` floats."""
    lists = [
        sorted(set(r.pe_values())),
        sorted(set(r.input_size)),
        sorted(set(r.ic_parallel)),
        sorted(set(r.input_buffer_kib)),
        sorted(set(r.weight_buffer_kib)),
        sorted(set(r.output_buffer_kib)),
    ]
    # the product in itertools.product's order (last column fastest), built by numpy
    mesh = np.meshgrid(*[np.asarray(v, dtype=float) for v in lists], indexing="ij")
    grid = np.stack([m.ravel() for m in mesh], axis=1).reshape(-1, len(COLUMNS))
    if core.type is CoreType.DEPTHWISE or core.dataflow == "systolic":  # ic_parallel unused: keep the core's
        grid = grid[grid[:, ICP] == core.ic_parallel]
    elif core.dataflow == "opu":
        isz, icp = grid[:, ISZ], grid[:, ICP]
        pic = np.minimum(icp, grid[:, PE] * isz)
        ok = (isz <= icp) & ((pic % isz == 0) | (isz % pic == 0))  # the rule of hw.config.Core
        grid = grid[ok]
    return grid


def space_size(template_cores: tuple[Core, ...], space: DesignSpace) -> int:
    """Configurations of the whole processor (product over cores, before pruning)."""
    n = 1
    for c in template_cores:
        n *= len(candidates(c, space.ranges(core_kind(c))))
    return n * len(space.dram_bytes_per_cycle or [0]) * len(space.clock_mhz or [0])
