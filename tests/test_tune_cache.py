"""Tunes sharing a `TuneCache` (reproduce's tunes of one workload and family) give what each
tune gives alone; skipping energy pricing changes no design; `run_points` groups keep one row per id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dualopu.errors import TuneError
from dualopu.hw import load_hardware, total_area
from dualopu.ir.zoo import build
from dualopu.tune import DesignSpace, tune
from dualopu.tune.sweep import run_points
from dualopu.tune.tuner import TuneCache

NET = build("mobilenet_v2", (1, 3, 96, 96))
BUDGET = total_area(load_hardware("dual-opu"))
SPACE = DesignSpace.model_validate(
    {
        "cores": {
            "regular": {"pe_count": {"min": 40, "max": 60}, "input_size": [16], "ic_parallel": [64],
                        "input_buffer_kib": [64], "weight_buffer_kib": [64, 128], "output_buffer_kib": [32]},
            "depthwise": {"pe_count": {"min": 6, "max": 16}, "input_size": [9, 16], "input_buffer_kib": [32, 64],
                          "weight_buffer_kib": [8], "output_buffer_kib": [32]},
        }
    }
)  # fmt: skip
#: Tunes whose candidates overlap: a pinned subset, a smaller budget, another DRAM, a repeat.
REQUESTS: list[dict[str, Any]] = [
    {},
    {"pe_counts": {"regular": [48, 52]}},
    {"budget_scale": 0.8},
    {"dram": 32.0},
    {},
]


def _tune(cache: TuneCache | None, req: dict[str, Any], price_energy: bool = True) -> Any:
    return tune([NET], BUDGET * req.get("budget_scale", 1.0), space=SPACE, pe_counts=req.get("pe_counts"),
                dram=req.get("dram"), confirm_top=4, workers=1, cache=cache, price_energy=price_energy)  # fmt: skip


def test_shared_cache_gives_each_tunes_own_result() -> None:
    cache = TuneCache()
    for req in REQUESTS:
        alone, shared = _tune(None, req), _tune(cache, req)
        assert shared.best == alone.best
        np.testing.assert_array_equal(shared.table, alone.table)
        np.testing.assert_array_equal(shared.front, alone.front)
        np.testing.assert_array_equal(shared.energy_front, alone.energy_front)
        assert shared.core_busy_fraction == alone.core_busy_fraction
    assert cache.pricing and cache.confirmed  # the cache was used, not bypassed


def test_without_energy_pricing_same_design_and_ranking() -> None:
    for req in REQUESTS[:3]:
        full, lean = _tune(None, req), _tune(None, req, price_energy=False)
        assert lean.best == full.best
        np.testing.assert_array_equal(lean.table[:, -1], full.table[:, -1])  # scheduled throughputs
        np.testing.assert_array_equal(lean.table[:, 1:3], full.table[:, 1:3])  # placed periods, areas
    with pytest.raises(TuneError):
        tune([NET], BUDGET, space=SPACE, objective="energy", price_energy=False)


def _job(x: int, shared: dict[str, Any] | None = None) -> dict[str, Any]:
    seen = shared.setdefault("seen", []) if shared is not None else []
    seen.append(x)
    return {"x": x, "before": len(seen) - 1}


def test_run_points_groups_share_a_dict_and_store_each_row(tmp_path: Path) -> None:
    ids = [f"p{i}" for i in range(5)]
    groups = ["a", "b", "a", "a", "b"]
    rows, computed = run_points(_job, [(i,) for i in range(5)], ids, tmp_path, "local", 1, groups=groups)
    assert computed == 5
    assert [rows[i]["before"] for i in ids] == [0, 0, 1, 2, 1]  # in order within a group, one dict each
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{i}.json" for i in ids]
    assert json.loads((tmp_path / "p3.json").read_text())["x"] == 3
    (tmp_path / "p3.json").unlink()
    again, computed = run_points(_job, [(i,) for i in range(5)], ids, tmp_path, "local", 1, groups=groups)
    assert computed == 1 and again["p3"]["x"] == 3
