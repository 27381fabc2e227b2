"""How a tile count becomes integer ranges (the compiler emits exactly these), and the DRAM
words such ranges touch in the ``opu64`` layout.

`split_rows` and `split_channels` are the compiler's tile boundaries (`dualopu.compiler.codegen`
re-exports them); `channel_tile_words` counts, in closed form over plan arrays, the 64-channel
words the channel tiles of `split_channels` touch, so the cost model and the cycle simulator
(`word_groups`, per instruction) drain stores in the same whole words.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def split_rows(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` balanced row ranges covering ``[0, n)`` (sizes differ by at most one).

    The model's ``n_rows = ceil(Hout / tr)`` tiles, each at most ``tr`` rows; balancing
    avoids a short last tile that could not hide the next tile's load.
    """
    base, extra = divmod(n, parts)
    out: list[tuple[int, int]] = []
    r = 0
    for k in range(parts):
        size = base + (1 if k < extra else 0)
        out.append((r, r + size))
        r += size
    return out


def split_channels(cout: int, toc: int, n_oc: int, unit: int) -> list[tuple[int, int]]:
    """``n_oc`` output-channel tiles of at most ``toc`` channels, balanced in whole multiples
    of ``unit`` (the array's output channels per pass) when ``toc`` is such a multiple, so
    that no tile wastes more of the array than the model's ``ceil(cout / unit)`` passes."""
    if unit > 1 and toc % unit == 0:
        units = math.ceil(cout / unit)
        return [(a * unit, min(cout, b * unit)) for a, b in split_rows(units, n_oc)]
    return [(j * toc, min(cout, (j + 1) * toc)) for j in range(n_oc)]


def word_groups(c0: int, c1: int, word_elems: int) -> int:
    """DRAM words of one pixel that channels ``[c0, c1)`` touch (``word_elems`` channels a word)."""
    return (c1 - 1) // word_elems - c0 // word_elems + 1


def _inverse_mod_pow2(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x^-1 mod m`` for odd ``x`` and ``m`` a power of two up to ``2**24`` (Newton's iteration
    doubles the correct low bits: 3, 6, 12, 24); 0 where ``m = 1``."""
    y = x.copy()
    for _ in range(3):
        y = np.mod(y * (2 - x * y), np.maximum(m, 1))
    return np.where(m > 1, y, 0)


def _count_residue(lo: np.ndarray, hi: np.ndarray, r: np.ndarray | float, m: np.ndarray) -> np.ndarray:
    """Integers ``k`` in ``[lo, hi]`` with ``k = r (mod m)`` (0 when the range is empty)."""
    n = np.floor((hi - r) / m) - np.floor((lo - 1.0 - r) / m)
    return np.where(hi >= lo, np.maximum(n, 0.0), 0.0)


#: The ``opu64`` layout's DRAM word: 64 bytes, 64 channels of one pixel at 8 bits (opu-compiler
#: Allocator.cpp:42; opu-sim accelerator.cc:179-183).
OPU64_WORD_BYTES = 64


def channel_tile_words(
    cout: ArrayLike, toc: ArrayLike, n_oc: ArrayLike, unit: ArrayLike, word_elems: int, balanced: bool = False
) -> np.ndarray:
    """Words per pixel summed over the channel tiles of ``cout`` channels: ``ceil(cout / word)``
    plus one for every inner tile boundary that is not on a word boundary (a word split between
    two tiles is written by both). The tiles are `split_channels` ``(cout, toc, n_oc, unit)``, or
    with ``balanced`` `split_rows` ``(cout, n_oc)`` (the element-wise layers' channel tiles).
    Closed form, vectorized over broadcast plan arrays; a layer in one channel tile (most of a
    tuner's candidates) has no inner boundary, so only the others pay for `_split_words`."""
    cout, toc, n_oc, unit = (np.asarray(x, dtype=np.float64) for x in (cout, toc, n_oc, unit))
    cout, toc, n_oc, unit = np.broadcast_arrays(cout, toc, n_oc, unit)
    if word_elems < 1 or word_elems & (word_elems - 1):
        raise ValueError(f"channels per word must be a power of two, got {word_elems}")
    e = float(word_elems)
    words = np.ceil(cout / e)
    split = n_oc > 1.0
    if split.all():
        return words + _split_words(cout, toc, n_oc, unit, e, balanced)
    if split.any():
        words[split] += _split_words(cout[split], toc[split], n_oc[split], unit[split], e, balanced)
    return words


def _split_words(
    cout: np.ndarray, toc: np.ndarray, n_oc: np.ndarray, unit: np.ndarray, e: float, balanced: bool
) -> np.ndarray:
    """The extra words of `channel_tile_words` from inner tile boundaries off word boundaries
    (``e`` channels per word; every element has ``n_oc`` > 1)."""
    n = np.maximum(n_oc, 1.0)
    inner = n - 1.0
    # split_channels balances in `unit`s when toc is a whole multiple of an integer unit > 1
    unit_i = np.where(unit == np.floor(unit), unit, 1.0)
    in_units = (unit_i > 1) & (np.mod(toc, np.maximum(unit_i, 1.0)) == 0) & (not balanced)
    bal = in_units | balanced
    step = np.where(in_units, unit_i, 1.0)  # balanced boundaries fall on multiples of `step`
    # a boundary at step * u is on a word boundary iff u = 0 (mod m)
    m = e / np.gcd(step.astype(np.int64), int(e)).astype(np.float64)
    units = np.ceil(cout / step)
    base = np.floor(units / n)
    extra = units - base * n
    # plain tiles: boundaries k * toc, on a word boundary iff k = 0 (mod e / gcd(toc, e))
    m_plain = e / np.gcd(toc.astype(np.int64), int(e)).astype(np.float64)
    aligned = np.where(bal, 0.0, np.floor(inner / m_plain))
    # balanced (split_rows of `units`): u_k = k (base + 1) for k <= extra, k base + extra beyond
    mi = m.astype(np.int64)
    # k <= extra: k (base + 1) = 0 (mod m) iff k = 0 (mod m / gcd(base + 1, m))
    m_a = m / np.gcd((base + 1.0).astype(np.int64), mi)
    count_a = np.floor(np.minimum(extra, inner) / m_a)
    # k > extra: k base = -extra (mod m); with d = gcd(base, m) solvable iff d | extra, then
    # k = k0 (mod m / d), k0 = (-extra / d) (base / d)^-1; m is a power of two (a divisor of the word)
    d = np.gcd(base.astype(np.int64), mi)
    m_b = mi // d
    inv = _inverse_mod_pow2(base.astype(np.int64) // d, m_b)
    k0 = np.mod(-(extra.astype(np.int64) // d) * inv, m_b)
    solvable = np.mod(extra.astype(np.int64), d) == 0
    count_b = np.where(
        solvable, _count_residue(extra + 1.0, inner, k0.astype(np.float64), m_b.astype(np.float64)), 0.0
    )
    aligned = np.where(bal, count_a + count_b, aligned)
    return inner - aligned
