"""The tuner under a budget in FPGA resources (`dualopu.tune.budget`): the CLI's winner fits
(recomputed by `dualopu area`), pruning stays exact with several resource dimensions, a tighter
DSP limit never raises the best throughput, bad budget strings are refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualopu.errors import TuneError
from dualopu.ir.zoo import build
from dualopu.tune import DesignSpace, load_space, template_for
from dualopu.tune import search as S
from dualopu.tune.budget import AREA_SLACK, as_budget, design_usage, parse_budget

NET = build("mobilenet_v2", (1, 3, 96, 96))
TEMPLATE = template_for("regular,depthwise", None)
#: A small space whose candidates spread over DSP, BRAM and LUT.
SPACE = DesignSpace.model_validate(
    {
        "cores": {
            "regular": {
                "pe_count": [8, 16, 24, 32, 40],
                "input_size": [8, 16],
                "ic_parallel": [32, 64],
                "input_buffer_kib": [32, 64],
                "weight_buffer_kib": [64, 128],
                "output_buffer_kib": [32],
            },
            "depthwise": {
                "pe_count": [4, 8, 16],
                "input_size": [9, 16],
                "input_buffer_kib": [32, 64],
                "weight_buffer_kib": [8],
                "output_buffer_kib": [32],
            },
        }
    }
)
FPGA = {"dsp": 560.0, "bram": 300.0, "lut": 150000.0}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualopu.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


def _best(
    budget: float | dict[str, float], *, prune: bool = True, space: DesignSpace = SPACE
) -> tuple[float, np.ndarray, list[S.CorePricing]]:
    """Best estimated period (exhaustive, throughput) and its combination under ``budget``."""
    bpc = TEMPLATE.dram_bytes_per_cycle
    if prune:
        pricing = S.price_and_prune([NET], [1.0], TEMPLATE, space, budget, bpc)
    else:
        orig = S.dominance_mask
        S.dominance_mask = lambda area, *dims, block=1024: np.isfinite(dims[-2])  # type: ignore[assignment]
        try:
            pricing = S.price_and_prune([NET], [1.0], TEMPLATE, space, budget, bpc)
        finally:
            S.dominance_mask = orig  # type: ignore[assignment]
    r = S.rank(
        pricing, TEMPLATE, budget, bpc, 1, lambda p, a, f, e: p, S.Scale(TEMPLATE.clock_mhz, 1.0, TEMPLATE),
        method="exhaustive",
    )  # fmt: skip
    return float(r.period_cycles[0]), r.idx[0], pricing


def _usage(pricing: list[S.CorePricing], idx: np.ndarray) -> dict[str, float]:
    hw = S.hardware_of(
        TEMPLATE,
        [pricing[k].values[idx[k]] for k in range(len(pricing))],
        dram_bpc=TEMPLATE.dram_bytes_per_cycle,
        clock_mhz=TEMPLATE.clock_mhz,
        name="t",
    )
    return design_usage(hw)


def test_cli_fpga_budget_winner_fits(tmp_path: Path) -> None:
    out = tmp_path / "D"
    res = _cli(
        "tune", "mobilenet_v2", "--like", "dual-opu", "--budget", "dsp=560,bram=300,lut=150000",
        "--out", str(out), "--json", "--confirm-top", "4", "--images", "2",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["budget"] == FPGA
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budget"] == FPGA and set(summary["resources"]) >= set(FPGA)
    area = _cli("area", str(out / "best.yaml"), "--area-model", "fpga-xc7", "--json")
    assert area.returncode == 0, area.stderr
    total = json.loads(area.stdout)["total"]
    for k, lim in FPGA.items():
        assert total[k] <= lim
        assert total[k] == pytest.approx(data["resources"][k], abs=0.1)
    text = (out / "best.yaml").read_text()
    assert "fpga-xc7" in text and "budget dsp 560" in text


@pytest.mark.parametrize(
    "bad", ["dsp=0", "dsp=-5", "lut=abc", "foo=3", "dsp=5,dsp=6", "dsp=nan", "dsp", "=4", "dsp=1,,lut=2"]
)
def test_cli_bad_budget_one_line(tmp_path: Path, bad: str) -> None:
    res = _cli("tune", "mobilenet_v2", "--budget", bad, "--out", str(tmp_path / "o"), "--quiet")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "budget" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "o").exists()


def test_parse_budget_forms() -> None:
    assert parse_budget("3000") == 3000.0
    assert parse_budget(" dsp = 560 , lut=1e5 ") == {"dsp": 560.0, "lut": 100000.0}
    with pytest.raises(TuneError, match="unknown budget resource"):
        as_budget({"uram": 4})


@pytest.mark.parametrize("budget", [FPGA, {"lut": 30000.0}, {"dsp": 400.0, "ff": 20000.0}])
def test_pruning_is_exact_with_several_resources(budget: dict[str, float]) -> None:
    """The best estimate over the pruned candidates is the best over all candidates, and it fits
    (default space; these limits bind where the MAC-equivalent area alone would prune wrongly)."""
    space = load_space(None)
    pruned, idx, pricing = _best(budget, space=space)
    full, _, _ = _best(budget, prune=False, space=space)
    assert pruned == full
    use = _usage(pricing, idx)
    assert all(use[k] <= v * (1 + AREA_SLACK) for k, v in budget.items())


@settings(max_examples=15, deadline=None)
@given(
    dsp=st.integers(150, 900),
    cut=st.integers(1, 300),
    lut=st.sampled_from([30000.0, 60000.0, 150000.0]),
)
def test_tighter_dsp_never_raises_throughput(dsp: int, cut: int, lut: float) -> None:
    """Lowering the DSP limit (other limits fixed) never shortens the best period; both winners fit."""
    loose = {"dsp": float(dsp), "lut": lut}
    tight = {"dsp": float(max(dsp - cut, 1)), "lut": lut}
    try:
        p_tight, idx, pricing = _best(tight)
    except TuneError:
        return  # nothing fits the tighter budget: vacuous
    p_loose, _, _ = _best(loose)
    assert p_tight >= p_loose
    use = _usage(pricing, idx)
    assert use["dsp"] <= tight["dsp"] * (1 + AREA_SLACK) and use["lut"] <= lut * (1 + AREA_SLACK)
