"""The mapping plan: how every layer is laid onto a core and tiled, decided once as data.

Layer between `hw` and `cost`: `plan_tiles` decides (`rules`), `bytes` counts what moves,
`pipeline` is the double-buffered stage formula. The cost model prices a `TilePlan`, the
compiler realizes it, the simulators time and execute what the compiler emits.
"""

from dualopu.plan.bytes import (
    PARAM_BYTES_BIAS,
    PARAM_BYTES_MULT,
    TABLE_BYTES,
    half_buffer_bytes,
    half_buffers,
    weight_tile_bytes,
)
from dualopu.plan.pipeline import pipeline_cycles
from dualopu.plan.rules import LIMITS, MODES, ORDERS, TilePlan, plan_tiles

#: Version of the mapping and cost rules: bump on any change that alters a number the model,
#: the compiler or the tuner produces (stores and programs written by another version are refused).
#: 2: one plan (dilated kernel extent, element-wise tiles as compiled).
#: 3: OPU rules read by the plan (per-tile widening, COMPUTE overhead, shuffle copies on opu64).
#: 4: the opu-compiler's square spatial tiles (``spatial_tiling: opu``), column ranges in the ISA.
#: 5: opu64 stores drain whole 64-channel words; grouped depthwise tiles on word boundaries;
#:    FC outputs stored once (`fc_store_once`); a one-pixel input is one DRAM burst row.
MODEL_VERSION = 5

__all__ = [
    "LIMITS",
    "MODEL_VERSION",
    "MODES",
    "ORDERS",
    "PARAM_BYTES_BIAS",
    "PARAM_BYTES_MULT",
    "TABLE_BYTES",
    "TilePlan",
    "half_buffer_bytes",
    "half_buffers",
    "pipeline_cycles",
    "plan_tiles",
    "weight_tile_bytes",
]
