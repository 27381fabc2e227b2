"""Small helpers shared by every layer: atomic file writes, bounded input reads, shape parsing.

Everything here is plain Python (no typer, no numpy), so any layer may use it. The CLI-level
policy built on top (which flag takes which range, output targets checked up front, the one
error path) lives in :mod:`dualopu.clikit`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

from dualopu.errors import DualOpuError, ShapeError

_T = TypeVar("_T")

#: Largest hardware YAML we read (a preset is ~1 KiB); a bigger file is refused before parsing,
#: because PyYAML takes minutes on tens of megabytes.
MAX_YAML_BYTES = 1 << 20
#: Largest JSON input we read (compiled programs, schedules): a full-size MobileNetV2 program is
#: a few MiB, a 10,000-image schedule tens of MiB.
MAX_JSON_BYTES = 256 << 20
#: Largest spatial size and channel count accepted in an input shape: well beyond any CNN input,
#: small enough that a typo (an extra digit) is refused instead of running for hours.
MAX_INPUT_HW = 8192
MAX_INPUT_CHANNELS = 4096


class InputTooLargeError(DualOpuError):
    """An input file larger than the limit for its kind."""


class InputTooDeepError(DualOpuError):
    """A JSON input nested deeper than the parser can follow."""


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write a file so that a reader never sees it half-written (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_input_size(path: str | Path, max_bytes: int, what: str) -> None:
    """Refuse a regular file larger than ``max_bytes`` before anything reads it."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        return  # missing/unreadable: the reader reports it with its own message
    if p.is_file() and size > max_bytes:
        raise InputTooLargeError(
            f"{p}: {size / 2**20:.1f} MiB is larger than the {max_bytes / 2**20:g} MiB limit for a {what}"
        )


def read_text_limited(path: str | Path, max_bytes: int, what: str) -> str:
    """Read a text file, refusing it quickly if it is larger than ``max_bytes``."""
    check_input_size(path, max_bytes, what)
    with open(path, encoding="utf-8") as f:
        text = f.read(max_bytes + 1)
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:  # grew while reading, or a special file
        raise InputTooLargeError(f"{path}: larger than the {max_bytes / 2**20:g} MiB limit for a {what}")
    return text


def load_json(text: str | bytes, what: str = "JSON input") -> Any:
    """``json.loads`` that reports pathological nesting as one-line error instead of RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InputTooDeepError(f"{what}: nested too deeply to be a dualopu file") from None


def parse_input_shape(text: str) -> tuple[int, int, int, int]:
    """Parse ``1x3x224x224`` (or ``224`` for a square 3-channel image) into an NCHW tuple.

    Three dims are refused: ``1x3x224`` would otherwise be read as one channel 3 pixels high.
    """
    parts = text.strip().lower().replace(",", "x").split("x")
    hint = "expected NxCxHxW, e.g. 1x3x224x224 (or one number N for 1x3xNxN)"
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise ShapeError(f"malformed input shape {text!r}: {hint}") from None
    if len(dims) == 1:
        dims = [1, 3, dims[0], dims[0]]
    if len(dims) != 4:
        raise ShapeError(f"input shape {text!r} has {len(dims)} dims: {hint}")
    if any(d <= 0 for d in dims):
        raise ShapeError(f"input shape {text!r}: every dim must be positive ({hint})")
    if dims[0] != 1:
        raise ShapeError(f"input shape {text!r}: batch must be 1 (one image; the scheduler handles many)")
    if dims[1] > MAX_INPUT_CHANNELS or max(dims[2:]) > MAX_INPUT_HW:
        raise ShapeError(
            f"input shape {text!r}: at most {MAX_INPUT_CHANNELS} channels and "
            f"{MAX_INPUT_HW} x {MAX_INPUT_HW} pixels"
        )
    return dims[0], dims[1], dims[2], dims[3]


def json_default(o: Any) -> Any:
    """`json.dumps` fallback: numpy scalars and arrays as Python numbers and lists, else str."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


#: glibc ``mallopt`` parameters (malloc.h): mmap threshold, trim threshold, top pad.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
#: Freed memory below this size stays in the heap for the next array instead of going back to the OS.
KEEP_FREED_BYTES = 256 * 1024 * 1024


def keep_freed_memory(keep_bytes: int = KEEP_FREED_BYTES) -> bool:
    """Let glibc's malloc reuse freed blocks for the next numpy temporaries instead of mapping
    fresh pages each time (the tuner and scheduler allocate and free many arrays of a few MB:
    with the default thresholds each one costs page faults and zeroing, about 15% of a
    reproduce run's CPU). Process-wide, inherited by forked workers; False where not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, keep_bytes) and mallopt(_M_TRIM_THRESHOLD, 2 * keep_bytes)
    return bool(ok and mallopt(_M_TOP_PAD, 64 * 1024 * 1024))


def memo_on(owner: object, slot: str, key: Hashable, make: Callable[[], _T], limit: int) -> _T:
    """``make()`` memoized in a dict kept on ``owner`` (a frozen dataclass such as a layer table)
    under ``slot``, cleared once it holds ``limit`` entries; values must be read-only."""
    memo: dict[Hashable, Any] | None = owner.__dict__.get(slot)
    if memo is None:
        memo = {}
        object.__setattr__(owner, slot, memo)
    if key in memo:
        return memo[key]
    if len(memo) >= limit:
        memo.clear()
    value = memo[key] = make()
    return value
