"""Small helpers shared by every layer: atomic file writes and shape parsing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dualopu.errors import ShapeError


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


def parse_input_shape(text: str) -> tuple[int, int, int, int]:
    """Parse ``1x3x224x224`` (also ``3x224x224`` or ``224``) into an NCHW tuple."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise ShapeError(f"malformed input shape {text!r}: expected NxCxHxW, e.g. 1x3x224x224") from None
    if len(dims) == 1:
        dims = [1, 3, dims[0], dims[0]]
    elif len(dims) == 3:
        dims = [1, *dims]
    if len(dims) != 4 or any(d <= 0 for d in dims):
        raise ShapeError(f"malformed input shape {text!r}: expected four positive dims NxCxHxW, e.g. 1x3x224x224")
    if dims[0] != 1:
        raise ShapeError(f"input shape {text!r}: batch must be 1 (one image; the scheduler handles many)")
    return dims[0], dims[1], dims[2], dims[3]
