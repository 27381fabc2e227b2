"""Read an ONNX file without importing the ``onnx`` package.

Why: ``import onnx`` costs about 1.1 s of CPU on the reference machine, ~1.0 s of it in
``ml_dtypes`` (which ``onnx.helper`` imports), while parsing and walking a torchvision
export takes 5-40 ms. The importer needs only the protobuf messages, so it loads onnx's
generated message module (``onnx/onnx_ml_pb2.py``, which imports only ``google.protobuf``)
under its canonical module name: a later ``import onnx`` reuses the very same classes.
Tensors and attributes are decoded here with numpy (the few dtypes shape arithmetic uses).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from dualopu.errors import ModelError

_PB2 = "onnx.onnx_ml_pb2"

#: ONNX TensorProto.DataType -> numpy dtype (little-endian as ONNX stores raw data).
NP_DTYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype("<f4"),
    2: np.dtype("u1"),
    3: np.dtype("i1"),
    4: np.dtype("<u2"),
    5: np.dtype("<i2"),
    6: np.dtype("<i4"),
    7: np.dtype("<i8"),
    9: np.dtype("bool"),
    10: np.dtype("<f2"),
    11: np.dtype("<f8"),
    12: np.dtype("<u4"),
    13: np.dtype("<u8"),
}
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


def proto_module() -> ModuleType:
    """onnx's generated protobuf module, imported without running ``onnx/__init__``."""
    mod = sys.modules.get(_PB2)
    if mod is not None:
        return mod
    if "onnx" not in sys.modules:
        spec = importlib.util.find_spec("onnx")
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        path = Path(locations[0]) / "onnx_ml_pb2.py" if locations else None
        if path is not None and path.is_file():
            sub = importlib.util.spec_from_file_location(_PB2, path)
            if sub is not None and sub.loader is not None:
                mod = importlib.util.module_from_spec(sub)
                sys.modules[_PB2] = mod
                try:
                    sub.loader.exec_module(mod)
                    return mod
                except Exception:  # an onnx layout we do not know: fall back to the package
                    del sys.modules[_PB2]
    import onnx.onnx_ml_pb2 as pb2

    return pb2


def load_model(path: Path) -> Any:
    """Parse ``path`` as an ONNX ModelProto (weights are not copied out of the message)."""
    if not path.exists():
        raise ModelError(f"{path}: file not found")
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not an ONNX file")
    model = proto_module().ModelProto()
    try:
        model.ParseFromString(path.read_bytes())
    except Exception as exc:  # protobuf DecodeError and friends: not ONNX or truncated
        raise ModelError(
            f"{path}: not a readable ONNX model ({type(exc).__name__}: truncated or not ONNX)"
        ) from None
    if model.ir_version <= 0 or not model.graph.node or not model.graph.input:
        raise ModelError(f"{path}: not an ONNX model (no graph nodes or inputs)")
    return model


def to_array(t: Any, where: str = "") -> np.ndarray:
    """A TensorProto as a numpy array (raw or typed storage); refuses external or string data."""
    dtype = NP_DTYPES.get(int(t.data_type))
    at = f" ({where})" if where else ""
    if dtype is None:
        raise ModelError(f"tensor {t.name!r}{at}: data type {t.data_type} is not a numeric type we evaluate")
    if t.data_location == _EXTERNAL:
        raise ModelError(
            f"tensor {t.name!r}{at}: stored as external data, which constant folding cannot read"
        )
    dims = tuple(t.dims)
    raw = t.raw_data
    if raw:
        arr = np.frombuffer(raw, dtype=dtype).copy()
    elif dtype.kind == "f" and dtype.itemsize == 4:
        arr = np.asarray(t.float_data, dtype=dtype)
    elif dtype.kind == "f" and dtype.itemsize == 8:
        arr = np.asarray(t.double_data, dtype=dtype)
    elif dtype.itemsize == 2 and dtype.kind == "f":
        arr = np.asarray(t.int32_data, dtype=np.uint16).view(dtype)
    elif dtype == np.dtype("<i8"):
        arr = np.asarray(t.int64_data, dtype=dtype)
    elif dtype.kind == "u" and dtype.itemsize >= 4:
        arr = np.asarray(t.uint64_data, dtype=dtype)
    else:
        arr = np.asarray(t.int32_data).astype(dtype)
    if arr.size != math.prod(dims):
        raise ModelError(f"tensor {t.name!r}{at}: holds {arr.size} values for dims {list(dims)}")
    return arr.reshape(dims)


def attr_value(a: Any) -> Any:
    """An AttributeProto's value: int, float, str, list or numpy array (for tensors)."""
    kind = int(a.type)
    if kind == 1:
        return float(a.f)
    if kind == 2:
        return int(a.i)
    if kind == 3:
        return a.s.decode("utf-8", "replace")
    if kind == 4:
        return to_array(a.t, f"attribute {a.name}")
    if kind == 6:
        return [float(v) for v in a.floats]
    if kind == 7:
        return [int(v) for v in a.ints]
    if kind == 8:
        return [s.decode("utf-8", "replace") for s in a.strings]
    return None  # graphs and sparse tensors: no operator we accept reads them


def attrs(node: Any) -> dict[str, Any]:
    """A node's attributes by name."""
    return {a.name: attr_value(a) for a in node.attribute}
