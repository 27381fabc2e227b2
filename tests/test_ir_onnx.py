"""ONNX import of torchvision exports nobody here wrote, and the export round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from conftest import shared_models
from dualopu.ir.onnx_export import export_onnx
from dualopu.ir.onnx_import import import_onnx
from dualopu.ir.zoo import ZOO, build

CONV_KINDS = ("conv", "pointwise", "depthwise", "grouped", "fc")
MODELS = shared_models()


def conv_counts(net) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts = net.kind_counts()
    return {k: counts.get(k, 0) for k in CONV_KINDS}


@pytest.mark.skipif(not MODELS, reason="../shared/models not present beside the repository")
@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_torchvision_export_matches_builtin(path: Path, reference_counts: dict) -> None:
    net = import_onnx(path)
    twin = build(path.stem)
    assert conv_counts(net) == conv_counts(twin)
    assert net.total_macs == pytest.approx(twin.total_macs, rel=0.005)
    assert net.total_macs == pytest.approx(reference_counts[path.name]["macs"], rel=0.005)
    assert net.input_shape == (1, 3, 224, 224)  # dynamic batch fixed to 1


@pytest.mark.skipif(not MODELS, reason="../shared/models not present beside the repository")
@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_static_export_at_another_input_shape(path: Path) -> None:
    """A static-224 export re-derived at 160x160 counts what our own builder counts at 160.

    Independent of the importer: the twin is built layer by layer from the torchvision
    definition. Cannot catch an error both share (the builder's MAC formula)."""
    net = import_onnx(path, input_shape=(1, 3, 160, 160))
    twin = build(path.stem, (1, 3, 160, 160))
    assert net.input_shape == (1, 3, 160, 160)
    assert conv_counts(net) == conv_counts(twin)
    assert net.total_macs == pytest.approx(twin.total_macs, rel=0.005)
    assert net.total_macs < import_onnx(path).total_macs


@pytest.mark.parametrize("name", list(ZOO))
def test_export_reimport_identical_and_runs(name: str, tmp_path: Path) -> None:
    net = build(name, (1, 3, 64, 64))
    path = tmp_path / f"{name}.onnx"
    export_onnx(net, path)
    back = import_onnx(path, name=name)
    assert [layer.to_dict() for layer in back.layers] == [layer.to_dict() for layer in net.layers]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"input": np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)})
    assert y.shape == (1, 1000)
