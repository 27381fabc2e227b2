"""Tuner: pruning and fronts against plain loops, the scheduler as judge of a dense space,
resume, store refusals, Dask = local, several cores of one type, the CLI outputs."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dualopu.errors import DualOpuError, HardwareError, TuneError
from dualopu.hw import load_hardware, total_area
from dualopu.hw.config import hardware_from_dict
from dualopu.ir.zoo import build
from dualopu.tune import DesignSpace, load_space, pareto_indices, template_for, tune
from dualopu.tune.search import dominance_mask
from dualopu.tune.tuner import confirm_one

NET = build("mobilenet_v2", (1, 3, 96, 96))
BUDGET = total_area(load_hardware("dual-opu"))
#: A small dense space: every PE count in a range, two buffer sizes per core.
DENSE = DesignSpace.model_validate(
    {
        "cores": {
            "regular": {
                "pe_count": {"min": 40, "max": 60},
                "input_size": [16],
                "ic_parallel": [64],
                "input_buffer_kib": [64],
                "weight_buffer_kib": [64, 128],
                "output_buffer_kib": [32],
            },
            "depthwise": {
                "pe_count": {"min": 6, "max": 16},
                "input_size": [9, 16],
                "input_buffer_kib": [32, 64],
                "weight_buffer_kib": [8],
                "output_buffer_kib": [32],
            },
        }
    }
)


def test_pareto_front_matches_pairwise_definition() -> None:
    """Sort + running max against the definition (no other point with <= area and >= score, one strictly)."""
    rng = np.random.default_rng(0)
    area, score = rng.integers(0, 30, 400).astype(float), rng.integers(0, 30, 400).astype(float)
    got = set(pareto_indices(area, score).tolist())
    want = set()
    for i in range(len(area)):
        dom = (area <= area[i]) & (score >= score[i]) & ((area < area[i]) | (score > score[i]))
        if not dom.any():
            want.add(i)
    got_pts = {(area[i], score[i]) for i in got}
    assert got_pts == {(area[i], score[i]) for i in want}  # same front (one index per duplicated point)
    assert len(got) == len(got_pts)


def test_dominance_mask_matches_pairwise_definition() -> None:
    """Blocked 3-D skyline against an O(n^2) loop, with many ties (small integer values)."""
    rng = np.random.default_rng(1)
    a, b, d = (rng.integers(0, 8, 3000).astype(float) for _ in range(3))
    keep = dominance_mask(a, b, d, block=256)
    pts = np.stack([a, b, d], axis=1)
    for i in rng.choice(len(a), 300, replace=False):
        le = (pts <= pts[i]).all(axis=1)
        lt = (pts < pts[i]).any(axis=1)
        strictly = (le & lt).any()
        first_equal = np.flatnonzero((pts == pts[i]).all(axis=1))
        if strictly:
            assert not keep[i], i
        else:  # undominated: exactly one copy of the point is kept
            assert keep[first_equal].sum() == 1, i
    # every non-kept point is dominated (weakly) by a kept one
    kept = pts[keep]
    for i in np.flatnonzero(~keep)[:200]:
        assert (kept <= pts[i]).all(axis=1).any()


@pytest.mark.slow
def test_dense_space_scheduler_as_judge_within_one_percent() -> None:
    """Every configuration of DENSE inside a budget is scheduled; the tuner's pick (bound-ranked,
    top 8 confirmed) is within 1% of the best scheduled. Independent of the bound and of the
    pruning (the judge is the scheduler on every point); cannot catch scheduler errors."""
    budget = 1600.0
    template = template_for("regular,depthwise")
    images = 4
    best = 0.0
    r = DENSE.ranges("regular")
    dw = DENSE.ranges("depthwise")
    for pr in r.pe_values():
        for wb in r.weight_buffer_kib:
            for pdw in dw.pe_values():
                for isz in dw.input_size:
                    for ib in dw.input_buffer_kib:
                        hw = template.replace_core(
                            0, pe_count=pr, input_buffer_kib=64, weight_buffer_kib=wb, output_buffer_kib=32
                        ).replace_core(
                            1,
                            pe_count=pdw,
                            input_size=isz,
                            input_buffer_kib=ib,
                            weight_buffer_kib=8,
                            output_buffer_kib=32,
                        )
                        if total_area(hw) > budget:
                            continue
                        best = max(best, confirm_one([NET], hw, images)[0])
    res = tune([NET], budget, space=DENSE, confirm_top=8, confirm_images=images, workers=1)
    assert total_area(res.best) <= budget * (1 + 1e-9)
    assert res.throughput_ips >= 0.99 * best
    assert res.throughput_ips <= best * (1 + 1e-9)  # the pick is one of the judged points


def test_preset_is_a_candidate_and_never_beaten() -> None:
    """The dual-opu preset is confirmed next to the top candidates; the winner is no worse."""
    res = tune([NET], BUDGET, confirm_top=4, workers=1, preset="dual-opu")
    assert res.preset_ips is not None and res.points["preset"].sum() == 1
    assert res.throughput_ips >= res.preset_ips
    assert res.best.description.startswith("tuned: regular")
    c = res.best.cores[0]
    assert f"regular {c.pe_count} PEs x {c.input_size}" in res.best.description


def test_optuna_close_to_exhaustive_and_never_above() -> None:
    kw = {"space": DENSE, "confirm_top": 1, "workers": 1}
    ex = tune([NET], 1600.0, method="exhaustive", **kw)  # type: ignore[arg-type]
    op = tune([NET], 1600.0, method="optuna", trials=200, seed=1, **kw)  # type: ignore[arg-type]
    assert op.bound_ips <= ex.bound_ips * (1 + 1e-9)
    assert op.bound_ips >= 0.9 * ex.bound_ips


def test_infeasible_budget_names_smallest_area() -> None:
    with pytest.raises(TuneError, match="smallest feasible area"):
        tune([NET], 50.0, space=DENSE)


def test_resume_confirms_only_missing_and_refuses_other_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store with some confirmations erased (as after a kill) resumes to the same result,
    scheduling only the erased ones; other runs, other model versions, corrupt files are refused."""
    ref = tune([NET], BUDGET, space=DENSE, out=tmp_path / "a", confirm_top=6, workers=1)
    db = sqlite3.connect(tmp_path / "a" / "tune.db")
    with db:
        db.execute("UPDATE candidates SET scheduled_ips=NULL, busy_json=NULL WHERE rank >= 3")
    db.close()
    calls: list[int] = []
    import dualopu.tune.tuner as T

    real = T.confirm_one

    def counting(*a: object) -> tuple[float, list[float]]:
        calls.append(1)
        return real(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(T, "confirm_one", counting)
    again = tune([NET], BUDGET, space=DENSE, out=tmp_path / "a", confirm_top=6, resume=True, workers=1)
    assert len(calls) == len(ref.points) - 3
    assert again.best == ref.best and again.throughput_ips == ref.throughput_ips
    with pytest.raises(TuneError, match="--resume"):
        tune([NET], BUDGET, space=DENSE, out=tmp_path / "a", confirm_top=6)
    with pytest.raises(TuneError, match="differs"):
        tune([NET], BUDGET - 10, space=DENSE, out=tmp_path / "a", confirm_top=6, resume=True)
    import dualopu.tune.store as S

    monkeypatch.setattr(S, "MODEL_VERSION", "some-other-version")
    with pytest.raises(TuneError, match="refusing to resume") as err:
        tune([NET], BUDGET, space=DENSE, out=tmp_path / "a", confirm_top=6, resume=True)
    assert "\n" not in str(err.value)
    monkeypatch.undo()
    monkeypatch.setattr(S, "STORE_FORMAT", S.STORE_FORMAT + 1)  # a store of another row layout
    with pytest.raises(TuneError, match="store format"):
        tune([NET], BUDGET, space=DENSE, out=tmp_path / "a", confirm_top=6, resume=True)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "tune.db").write_text("not sqlite at all")
    with pytest.raises(TuneError, match=r"corrupt|not a dualopu"):
        tune([NET], BUDGET, space=DENSE, out=tmp_path / "c", resume=True)
    assert (tmp_path / "c" / "tune.db").read_text() == "not sqlite at all"


def test_space_yaml_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text(
        "cores:\n  regular:\n    pe_count: {min: 8, max: 4}\n    input_size: [16]\n"
        "    input_buffer_kib: [64]\n    weight_buffer_kib: [64]\n    output_buffer_kib: [32]\n"
    )
    with pytest.raises(TuneError, match=r"cores\.regular\.pe_count"):
        load_space(bad)
    bad.write_text("cores:\n  regulr: {}\n")
    with pytest.raises(TuneError, match="cores"):
        load_space(bad)


def test_hw_refuses_input_size_above_ic_parallel() -> None:
    data = load_hardware("dual-opu").model_dump(mode="json")
    data["cores"][0]["input_size"] = 128
    with pytest.raises(HardwareError, match=r"input_size=128 exceeds ic_parallel=64"):
        hardware_from_dict(data, "x.yaml")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualopu.cli", "tune", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


def test_cli_three_cores_spread_and_small_outputs(tmp_path: Path) -> None:
    """`--cores regular,regular,depthwise`: every core busy >= 10% of the schedule; outputs small."""
    res = _cli(
        "mobilenet_v2",
        "--like",
        "dual-opu",
        "--cores",
        "regular,regular,depthwise",
        "--out",
        str(tmp_path / "o"),
        "--json",
        "--confirm-top",
        "4",
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert len(data["core_busy_fraction"]) == 3
    assert min(data["core_busy_fraction"]) >= 0.10
    assert data["area"] <= data["budget"] * (1 + 1e-9)
    assert "design space:" in res.stderr
    hw = load_hardware(data["best_hw"])
    assert [c.type.value for c in hw.cores] == ["regular", "regular", "depthwise"]
    size = sum(p.stat().st_size for p in (tmp_path / "o").iterdir())
    assert size < 5 * 2**20


def test_cli_bad_executor_one_line(tmp_path: Path) -> None:
    res = _cli("squeezenet1_1", "--out", str(tmp_path / "o"), "--executor", "dask://127.0.0.1:1", "--quiet")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "Dask scheduler" in res.stderr


@pytest.mark.slow
def test_dask_confirmation_matches_local() -> None:
    """K = 256 candidates scheduled locally and on a 2-worker in-process Dask cluster: same winner."""
    from distributed import LocalCluster

    net = build("mobilenet_v3_small", (1, 3, 64, 64))
    local = tune([net], BUDGET, confirm_top=256, confirm_images=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = tune([net], BUDGET, confirm_top=256, confirm_images=2, executor=cluster.scheduler_address)
    assert remote.best == local.best
    assert remote.throughput_ips == local.throughput_ips
    assert len(local.points) >= 256


def test_errors_are_dualopu_errors() -> None:
    assert issubclass(TuneError, DualOpuError)
