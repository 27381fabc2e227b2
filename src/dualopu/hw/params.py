"""Numeric core parameters as broadcastable arrays, generated from `hw.config.Core`'s fields.

Every numeric field of `Core` becomes one ``(n, 1)`` float64 array (a scalar core is
``(1, 1)``); fields in KiB become bytes (``input_buffer_kib`` -> ``input_buffer_bytes``).
A new numeric core field is therefore declared once, in `Core`: `CoreParams.of`,
`CoreParams.batch` and the planner see it without further edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from pydantic_core import PydanticUndefined

from dualopu.hw.config import Core, CoreType

KIB_BYTES = 1024.0
_KIB_SUFFIX = "_kib"
#: `Core` fields that are not numeric arrays (kept as scalars or dropped).
_NON_NUMERIC = (
    "name",
    "type",
    "dataflow",
    "runs_elementwise",
    # OPU-fidelity DRAM layout (issue 12): a switch, not a tunable array
    "layout",
    "spatial_tiling",
)


def _numeric_fields() -> dict[str, Any]:
    """Numeric `Core` fields and their defaults (``PydanticUndefined`` when required)."""
    return {k: f.default for k, f in Core.model_fields.items() if k not in _NON_NUMERIC}


NUMERIC_FIELDS: dict[str, Any] = _numeric_fields()


def array_name(field: str) -> str:
    """Name of the array a `Core` field becomes (KiB fields are stored in bytes)."""
    return field[: -len(_KIB_SUFFIX)] + "_bytes" if field.endswith(_KIB_SUFFIX) else field


@dataclass(frozen=True)
class CoreParams:
    """Numeric parameters of one core type for one or many configurations.

    ``arrays`` maps `array_name` of every numeric `Core` field to an ``(n, 1)`` array; they
    are also attributes (``p.pe_count``, ``p.input_buffer_bytes``, ...).
    """

    core_type: CoreType
    dataflow: str
    arrays: Mapping[str, np.ndarray]
    runs_elementwise: bool = True
    layout: str = "planar"  # DRAM layout of the core's tensors (`Core.layout`)
    spatial_tiling: str = "rows"  # `Core.spatial_tiling`

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays")
        if arrays is not None and name in arrays:
            return arrays[name]
        raise AttributeError(name)

    @property
    def n_configs(self) -> int:
        return int(next(iter(self.arrays.values())).shape[0])

    @staticmethod
    def of(core: Core) -> CoreParams:
        """Scalar parameters of one configured core (shape ``(1, 1)``)."""
        values = {k: getattr(core, k) for k in NUMERIC_FIELDS}
        return CoreParams.batch(
            core.type, core.dataflow, runs_elementwise=core.runs_elementwise,
            layout=core.layout,
            spatial_tiling=core.spatial_tiling,
            **values,
        )

    @staticmethod
    def batch(
        core_type: CoreType,
        dataflow: str,
        *,
        runs_elementwise: bool = True,
        layout: str = "planar",
        spatial_tiling: str = "rows",
        **fields: ArrayLike,
    ) -> CoreParams:
        """Parameters for many configurations: each numeric `Core` field a scalar or a 1-D
        array of length n; omitted fields take `Core`'s default."""
        unknown = set(fields) - set(NUMERIC_FIELDS)
        if unknown:
            raise TypeError(f"CoreParams.batch: unknown core field(s) {sorted(unknown)}")
        cols: dict[str, np.ndarray] = {}
        for k, default in NUMERIC_FIELDS.items():
            if k in fields:
                v = fields[k]
            elif default is PydanticUndefined:
                raise TypeError(f"CoreParams.batch: core field {k!r} is required")
            else:
                v = default
            col = np.asarray(v, dtype=np.float64).reshape(-1, 1)
            cols[array_name(k)] = col * KIB_BYTES if k.endswith(_KIB_SUFFIX) else col
        n = max(c.shape[0] for c in cols.values())
        cols = {k: np.broadcast_to(c, (n, 1)) if c.shape[0] != n else c for k, c in cols.items()}
        return CoreParams(
            core_type=core_type,
            dataflow=dataflow,
            arrays=cols,
            runs_elementwise=runs_elementwise,
            layout=layout,
            spatial_tiling=spatial_tiling,
        )

    @staticmethod
    def like(template: Core, **fields: ArrayLike) -> CoreParams:
        """Many configurations of ``template`` with some numeric fields replaced by arrays."""
        values: dict[str, ArrayLike] = {k: getattr(template, k) for k in NUMERIC_FIELDS}
        values.update(fields)
        return CoreParams.batch(
            template.type,
            template.dataflow,
            runs_elementwise=template.runs_elementwise,
            layout=template.layout,
            spatial_tiling=template.spatial_tiling,
            **values,
        )
