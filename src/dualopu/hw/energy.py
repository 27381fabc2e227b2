"""Energy model: per-access energies of the parts the cost model counts, and leakage per area.

Defaults are the 45 nm figures of M. Horowitz, "Computing's energy problem (and what we can
do about it)", ISSCC 2014 (docs/assumptions.md, "Energy model", gives the source of every
field). SRAM energy per byte grows with the square root of the bank size, the law the
Horowitz cache figures follow (8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ per 64-bit access).
Every field is overridable under ``energy_model:`` in the hardware YAML.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field

#: Bytes in one 64-bit access, the unit of the Horowitz memory figures.
_BYTES_PER_64BIT = 8.0


class EnergyModel(BaseModel):
    """Energies in picojoules per access (per byte for memories); leakage in microwatts per
    MAC-equivalent of area (the unit of `hw.area`). All values positive and finite."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mac_pj: float = Field(
        default=0.2, gt=0, allow_inf_nan=False, description="one INT8 multiply (Horowitz 8b mult)"
    )
    adder_input_pj: float = Field(
        default=0.05,
        gt=0,
        allow_inf_nan=False,
        description="one product entering a PE's adder tree (one 16-bit add per input, Horowitz 16b add)",
    )
    accumulator_pj: float = Field(
        default=0.1, gt=0, allow_inf_nan=False, description="one 32-bit accumulator update (Horowitz 32b add)"
    )
    requant_pj: float = Field(
        default=3.1,
        gt=0,
        allow_inf_nan=False,
        description="requantizing one output of a MAC layer (one 32-bit multiply, Horowitz 32b mult)",
    )
    post_op_pj: float = Field(
        default=0.1,
        gt=0,
        allow_inf_nan=False,
        description="one element-wise op of the post-processing unit (pool, add, mul; Horowitz 32b add)",
    )
    sram_ref_pj_per_byte: float = Field(
        default=10.0 / _BYTES_PER_64BIT,
        gt=0,
        allow_inf_nan=False,
        description="SRAM read per byte of a bank of sram_ref_kib (Horowitz: 8 KB, 10 pJ per 64 bits)",
    )
    sram_ref_kib: float = Field(
        default=8.0, gt=0, allow_inf_nan=False, description="bank size of the reference"
    )
    sram_size_exponent: float = Field(
        default=0.5,
        gt=0,
        allow_inf_nan=False,
        description="energy per byte grows as (bank size / reference) ** exponent (Horowitz figures: 0.5)",
    )
    sram_write_factor: float = Field(
        default=1.0, gt=0, allow_inf_nan=False, description="write energy / read energy (our choice: equal)"
    )
    dram_read_pj_per_byte: float = Field(
        default=1300.0 / _BYTES_PER_64BIT,
        gt=0,
        allow_inf_nan=False,
        description="DRAM read per byte (Horowitz: 1.3-2.6 nJ per 64 bits; the low end)",
    )
    dram_write_pj_per_byte: float = Field(
        default=1300.0 / _BYTES_PER_64BIT, gt=0, allow_inf_nan=False, description="DRAM write per byte"
    )
    leakage_uw_per_area: float = Field(
        default=8.6,
        gt=0,
        allow_inf_nan=False,
        description="static power per MAC-equivalent of area (NanGate 45 nm leakage density x Horowitz MAC area)",
    )

    def sram_read_pj_per_byte(self, bank_kib: ArrayLike) -> np.ndarray:
        """Read energy per byte of an SRAM bank of ``bank_kib`` KiB (broadcasts)."""
        kib = np.asarray(bank_kib, dtype=np.float64)
        return self.sram_ref_pj_per_byte * (kib / self.sram_ref_kib) ** self.sram_size_exponent

    def sram_write_pj_per_byte(self, bank_kib: ArrayLike) -> np.ndarray:
        """Write energy per byte of an SRAM bank of ``bank_kib`` KiB (broadcasts)."""
        return self.sram_read_pj_per_byte(bank_kib) * self.sram_write_factor
