"""The tuner ranks by the one placement rule (`dualopu.cost.placement`): the ranked candidates'
busy cycles and periods are what `place_workload` / `evaluate` give on their hardware; the
separable estimate only shortlists, and the shortlist is wide enough on the default run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dualopu.cost.evaluate import evaluate
from dualopu.cost.placement import place_workload
from dualopu.hw import load_hardware, total_area
from dualopu.hw.config import Hardware
from dualopu.ir.zoo import build
from dualopu.tune import load_space, template_for
from dualopu.tune import search as S

NET = build("mobilenet_v2", (1, 3, 96, 96))
BUDGET = total_area(load_hardware("dual-opu"))
SMALL3 = load_space(None).model_copy(
    update={
        "cores": {
            **load_space(None).cores,
            "regular": load_space(None)
            .ranges("regular")
            .model_copy(update={"pe_count": [16, 24, 32, 40], "input_size": [16], "ic_parallel": [32]}),
        }
    }
)


def _ranked(
    template: Hardware, space: object, top: int, placed: bool
) -> tuple[list[S.CorePricing], S.Ranked]:
    pricing = S.price_and_prune([NET], [1.0], template, space, BUDGET, template.dram_bytes_per_cycle)  # type: ignore[arg-type]
    rows = S.WorkloadRows.of([NET], [1.0]) if placed else None
    r = S.rank(
        pricing,
        template,
        BUDGET,
        template.dram_bytes_per_cycle,
        top,
        lambda p, a, f, e: p,
        S.Scale(template.clock_mhz, 1.0, template),
        rows,
    )
    return pricing, r


def _hw(template: Hardware, pricing: list[S.CorePricing], idx: np.ndarray) -> Hardware:
    vals = [pricing[k].values[idx[k]] for k in range(len(pricing))]
    return S.hardware_of(
        template, vals, dram_bpc=template.dram_bytes_per_cycle, clock_mhz=template.clock_mhz, name="t"
    )


def test_ranked_busy_cycles_are_the_placement_three_cores() -> None:
    """regular,regular,depthwise: every ranked candidate's busy cycles per core and period are
    `place_workload`'s and `evaluate`'s on its hardware."""
    template = template_for("regular,regular,depthwise")
    pricing, r = _ranked(template, SMALL3, 6, placed=True)
    assert len(r.idx) == 6
    for i in range(len(r.idx)):
        hw = _hw(template, pricing, r.idx[i])
        np.testing.assert_allclose(r.busy_cycles[i], place_workload([NET], hw).busy_cycles, rtol=1e-9)
        assert r.period_cycles[i] == pytest.approx(evaluate(NET, hw).period_bound_cycles, rel=1e-9)
    assert (np.diff(r.period_cycles) >= 0).all()  # ranked by the placed period


def test_cli_three_cores_reported_busy_is_the_placement(tmp_path: Path) -> None:
    """`dualopu tune --cores regular,regular,depthwise`: the reported busy cycles per core equal
    `cost.placement.place` on best.yaml, and the bound is `evaluate`'s."""
    from typer.testing import CliRunner

    from dualopu.cli import app

    space = tmp_path / "space.yaml"
    space.write_text(
        "cores:\n  regular: {pe_count: [24, 32, 40], input_size: [16], ic_parallel: [32], "
        "input_buffer_kib: [32], weight_buffer_kib: [32, 64], output_buffer_kib: [16]}\n"
        "  depthwise: {pe_count: [8, 12], input_size: [9], input_buffer_kib: [32], weight_buffer_kib: [8], "
        "output_buffer_kib: [16]}\n"
    )
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app,
        ["tune", "mobilenet_v2", "--like", "dual-opu", "--cores", "regular,regular,depthwise", "--space",
         str(space), "--out", str(out), "--json", "--confirm-top", "2", "--no-simulate", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    hw = load_hardware(str(out / "best.yaml"))
    net = build("mobilenet_v2")
    cost = evaluate(net, hw)
    np.testing.assert_allclose(data["bound_busy_cycles"], place_workload([net], hw).busy_cycles, rtol=1e-9)
    assert data["bound_ips"] == pytest.approx(hw.clock_mhz * 1e6 / cost.period_bound_cycles, rel=1e-9)


def test_one_core_per_type_fixed_placement_identical_to_estimate() -> None:
    """One core per type and every layer with one allowed core (the depthwise core runs no
    element-wise layer): placing changes nothing, the ranking and periods are the estimate's."""
    base = template_for("regular,depthwise")
    template = base.replace_core(1, runs_elementwise=False)
    space = load_space(None)
    _, est = _ranked(template, space, 16, placed=False)
    _, placed = _ranked(template, space, 16, placed=True)
    np.testing.assert_array_equal(est.idx, placed.idx)
    np.testing.assert_allclose(est.period_cycles, placed.period_cycles, rtol=1e-12)


def test_shortlist_holds_the_placed_best_of_every_survivor() -> None:
    """Default space, MobileNetV2, one core per type: the tuner's ranked top equals the top by
    placing every surviving combination (the shortlist by the estimate loses nothing here)."""
    template = template_for("regular,depthwise")
    pricing, r = _ranked(template, load_space(None), 16, placed=True)
    sizes = [len(p.values) for p in pricing]
    idx = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    _, area, _, _ = S.combine(pricing, template, idx, template.dram_bytes_per_cycle)
    idx = idx[area <= BUDGET * (1 + S.AREA_SLACK)]
    rows = S.WorkloadRows.of([NET], [1.0])
    vals = [p.values for p in pricing]
    period = np.concatenate(
        [
            S.place_combinations(
                rows, template, vals, idx[lo : lo + 4096], template.dram_bytes_per_cycle
            ).period_cycles
            for lo in range(0, len(idx), 4096)
        ]
    )
    best = np.sort(period)[: len(r.period_cycles)]
    np.testing.assert_allclose(r.period_cycles, best, rtol=1e-12)
