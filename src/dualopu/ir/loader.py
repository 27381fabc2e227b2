"""One entry point for networks: a built-in name or an ONNX file."""

from __future__ import annotations

from pathlib import Path

from dualopu.errors import ModelError
from dualopu.ir import zoo
from dualopu.ir.network import Network, Shape
from dualopu.util import parse_input_shape


def load_network(name_or_path: str | Path | Network, input_shape: Shape | str | None = None) -> Network:
    """A built-in name (case-insensitive, '-' or '_') or a path to an .onnx file.

    ``input_shape`` (e.g. ``"1x3x96x96"``) rebuilds a built-in at that size and fixes the
    dynamic dims of an ONNX graph.
    """
    if isinstance(name_or_path, Network):
        return name_or_path
    shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else input_shape
    text = str(name_or_path)
    key = zoo.canonical_name(text)
    path = Path(text)
    if key is not None and not path.is_file():
        return zoo.build(key, shape)
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not an ONNX file")
    if not path.exists():
        if path.suffix.lower() == ".onnx" or "/" in text:
            raise ModelError(f"{path}: file not found")
        raise ModelError(f"unknown network {text!r}: not a file and not a built-in ({', '.join(zoo.ZOO)})")
    from dualopu.ir.onnx_import import import_onnx

    return import_onnx(path, input_shape=shape)
