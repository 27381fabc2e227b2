"""Shared fixtures: where the torchvision ONNX exports live, the reference counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MODELS_DIR = SHARED / "models"
REFERENCE = SHARED / "reference" / "macs.json"


def shared_models() -> list[Path]:
    """The ONNX files in ../shared/models (empty if the folder is absent)."""
    return sorted(MODELS_DIR.glob("*.onnx")) if MODELS_DIR.is_dir() else []


@pytest.fixture(scope="session")
def reference_counts() -> dict[str, dict]:
    if not REFERENCE.is_file():
        pytest.skip(f"reference counts not found at {REFERENCE}")
    return json.loads(REFERENCE.read_text())
