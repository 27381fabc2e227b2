"""Energy-aware tuning: the tuned energy is `evaluate`'s, the energy objective never picks a
design that costs more energy than the throughput one, the throughput-energy front is a
front, energy prunes correctly, and the CLI's EDP run works and says why when it agrees."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dualopu.cost.evaluate import evaluate
from dualopu.hw import load_hardware, total_area
from dualopu.ir.zoo import build
from dualopu.tune import tune
from dualopu.tune.search import dominance_mask

NET = build("mobilenet_v2", (1, 3, 96, 96))
BUDGET = total_area(load_hardware("dual-opu"))
#: `evaluate` and the tuner sum the same per-layer figures in another order.
REL = 1e-9


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = {}
    for obj in ("throughput", "energy", "edp"):
        d = tmp_path_factory.mktemp(obj)
        out[obj] = (tune([NET], BUDGET, objective=obj, confirm_top=4, workers=1, out=d), d)
    return out


@pytest.mark.parametrize("objective", ["throughput", "energy", "edp"])
def test_winner_energy_is_evaluates(runs: dict[str, Any], objective: str) -> None:
    """The tuned winner's energy per image and bound equal `evaluate` on its best.yaml."""
    res, d = runs[objective]
    hw = load_hardware(str(d / "best.yaml"))
    cost = evaluate(NET, hw)
    assert res.energy_uj_per_image == pytest.approx(cost.summary()["energy_uj_per_image"], rel=REL)
    assert res.bound_ips == pytest.approx(hw.clock_mhz * 1e6 / cost.period_bound_cycles, rel=REL)
    summary = json.loads((d / "summary.json").read_text())
    assert summary["energy_uj_per_image"] == res.energy_uj_per_image
    assert summary["objective"] == objective


def test_energy_objective_costs_no_more_energy(runs: dict[str, Any]) -> None:
    thr, en = runs["throughput"][0], runs["energy"][0]
    assert en.energy_uj_per_image <= thr.energy_uj_per_image * (1 + REL)
    assert en.throughput_ips <= thr.throughput_ips * (1 + REL)  # and throughput wins on throughput


def test_energy_front_is_a_front(runs: dict[str, Any]) -> None:
    """pareto_energy.csv: no row has another with <= energy and >= bound (one strictly)."""
    _, d = runs["edp"]
    with open(d / "pareto_energy.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 2
    e = np.array([float(r["energy_uj_per_image"]) for r in rows])
    b = np.array([float(r["bound_ips"]) for r in rows])
    for i in range(len(rows)):
        dom = (e <= e[i]) & (b >= b[i]) & ((e < e[i]) | (b > b[i]))
        assert not dom.any(), i
    assert np.all(np.diff(e[np.argsort(b)]) >= 0)  # faster costs more energy along it


def test_dominance_mask_with_energy_dimension() -> None:
    """(area, busy, DRAM, energy): kept iff no other point is <= on all four and < on one."""
    rng = np.random.default_rng(2)
    pts = rng.integers(0, 6, (1500, 4)).astype(float)
    keep = dominance_mask(*pts.T, block=128)
    for i in range(len(pts)):
        le = (pts <= pts[i]).all(axis=1)
        strictly = (le & (pts < pts[i]).any(axis=1)).any()
        if strictly:
            assert not keep[i]
        else:
            assert keep[np.flatnonzero((pts == pts[i]).all(axis=1))].sum() == 1


def test_simulate_hook_reported(tmp_path: Path) -> None:
    """The caller's `simulate` hook runs on the winner; its figures reach the summary."""
    seen = []

    def fake(nets: Any, hw: Any, images: int) -> dict[str, float]:
        seen.append((len(nets), hw.name, images))
        return {"makespan_cycles": 10.0, "simulated_makespan_cycles": 11.0}

    res = tune([NET], BUDGET, confirm_top=2, workers=1, out=tmp_path / "o", simulate=fake, name="w")
    assert seen == [(1, "w", 8)]
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["makespan_cycles"] == 10.0 and summary["simulated_makespan_cycles"] == 11.0
    assert res.to_dict()["simulated_makespan_cycles"] == 11.0


@pytest.mark.slow
def test_cli_edp_mobilenet_v2(tmp_path: Path) -> None:
    """`dualopu tune mobilenet_v2 --like dual-opu --objective edp --out D` works, reports energy
    and both makespans (the winner replayed on the cycle simulator), and picks another design
    than throughput or says that the winner is also the fastest."""
    from typer.testing import CliRunner

    from dualopu.cli import app

    got = {}
    for obj in ("throughput", "edp"):
        d = tmp_path / obj
        res = CliRunner().invoke(
            app, ["tune", "mobilenet_v2", "--like", "dual-opu", "--objective", obj, "--out", str(d), "--json"]
        )
        assert res.exit_code == 0, res.output
        got[obj] = json.loads(res.stdout)
        assert (d / "pareto_energy.csv").exists()
    thr, edp = got["throughput"], got["edp"]
    for data in (thr, edp):
        assert data["simulated_makespan_cycles"] > 0 and data["makespan_cycles"] > 0
        hw = load_hardware(data["best_hw"])
        images = 8
        assert data["throughput_ips"] == pytest.approx(images * hw.clock_mhz * 1e6 / data["makespan_cycles"])
    if edp["best"] == thr["best"]:  # the summary says why
        assert any("varies" in n for n in edp["notes"]), edp["notes"]
    else:  # another design: it saves energy and has the lower energy-delay product
        assert edp["energy_uj_per_image"] < thr["energy_uj_per_image"]
        # EDP ranks by the model's period and confirms its own shortlist plus the throughput
        # shortlist of its own pricing (energy is a pruning dimension there, so that shortlist
        # may differ marginally from the throughput run's): within 1%.
        assert edp["energy_uj_per_image"] / edp["throughput_ips"] <= 1.01 * (
            thr["energy_uj_per_image"] / thr["throughput_ips"]
        )
        assert edp["notes"]
