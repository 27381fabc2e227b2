"""Requantization in integer hardware, bit-exact with the functional simulator's float32.

The functional simulator computes ``clip(rint(float32(int32(acc + bias)) * M), lo, hi)``
in IEEE float32 with round-half-to-even (`dualopu.sim.functional._compute`). The
post-processing unit does the same with integers only, in three roundings that mirror
the three float32 operations:

1. ``int32 -> float32``: ``|s|`` rounded to 24 significant bits (half to even);
2. the product ``float32 * float32``: the 48-bit product of the two 24-bit significands
   rounded to 24 significant bits (half to even);
3. ``rint``: the scaled significand shifted to an integer (half to even), then clipped.

``M`` is stored as its significand ``m`` (24 bits, hidden bit included) and exponent
``e`` (``M = m * 2**e``), the fields of the float32 bit pattern. Products below float32's
normal range round to 0 in step 3 either way, so subnormals need no special case.
`requant_int` is the Python model of the hardware (`dualopu.rtl.core` builds the same
steps in Amaranth); tests check it against numpy float32 on random and edge values.
"""

from __future__ import annotations

import numpy as np

#: Exponent offset of a float32 significand read as a 24-bit integer (127 bias + 23 bits).
F32_EXP_OFFSET = 150
#: Significand bits of float32 including the hidden bit.
F32_SIG_BITS = 24
#: Bytes of one post-processing parameter entry: int32 bias, 24-bit significand, int8 exponent.
PARAM_ENTRY_BYTES = 8


def encode_mult(mult: float) -> tuple[int, int]:
    """``(significand, exponent)`` of a positive float32 multiplier, ``M = m * 2**e``."""
    bits = int(np.float32(mult).view(np.uint32))
    if bits >> 31:
        raise ValueError(f"requantization multiplier must be >= 0, got {mult}")
    exp = (bits >> 23) & 0xFF
    frac = bits & 0x7FFFFF
    if exp == 0:
        return frac, 1 - F32_EXP_OFFSET
    return frac | (1 << 23), exp - F32_EXP_OFFSET


def rne_shift(x: int, k: int) -> int:
    """``x >> k`` rounded half to even (``x >= 0``, ``k >= 0``)."""
    if k <= 0:
        return x << -k
    q = x >> k
    rem = x & ((1 << k) - 1)
    half = 1 << (k - 1)
    return q + (1 if rem > half or (rem == half and q & 1) else 0)


def to_f32_sig(v: int) -> tuple[int, int]:
    """``v >= 0`` as float32: ``(significand < 2**24, exponent)``."""
    n = v.bit_length()
    if n <= F32_SIG_BITS:
        return v, 0
    k = n - F32_SIG_BITS
    s = rne_shift(v, k)
    if s >> F32_SIG_BITS:
        s >>= 1
        k += 1
    return s, k


def requant_int(acc: int, bias: int, sig: int, exp: int, lo: int, hi: int) -> int:
    """One output element, integers only (the hardware's algorithm)."""
    s = (acc + bias) & 0xFFFFFFFF
    s = s - (1 << 32) if s >> 31 else s
    neg = s < 0
    fa, ea = to_f32_sig(-s if neg else s)
    pm, pe = to_f32_sig(fa * sig)
    e = ea + exp + pe
    if e >= 0:
        r = (pm << e) if e < 16 else 1 << 16
    elif -e > 2 * F32_SIG_BITS + 2:
        r = 0
    else:
        r = rne_shift(pm, -e)
    r = -r if neg else r
    return min(max(r, lo), hi)
