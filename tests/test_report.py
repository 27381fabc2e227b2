"""`dualopu reproduce --quick`: the report exists and every table is filled from computed numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dualopu.cost.evaluate import evaluate
from dualopu.hw.rules import ALL_RULES, rules_on
from dualopu.ir.zoo import build
from dualopu.report.reproduce import SEED_CLAIMS


def test_reproduce_quick(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    store = tmp_path / "designs"
    res = subprocess.run([sys.executable, "-m", "dualopu.cli", "reproduce", "--quick", "--out", str(out), "--json",
                          "--store", str(store)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    stored = [json.loads(p.read_text()) for p in store.glob("*.json")]
    assert len(stored) >= 20 and all("hardware" in d and "request" in d for d in stored)  # one per tuned design
    summary = json.loads(res.stdout)
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html  # self-contained
    assert "docs/assumptions.md" in md
    for name in ("per_network", "multi_network", "ablations", "sensitivity_bandwidth", "sensitivity_area", "claims"):
        frame = pd.read_csv(out / f"{name}.csv")
        assert len(frame) > 0
        numeric = frame.select_dtypes("number")
        assert numeric.notna().all().all(), name
    per = pd.read_csv(out / "per_network.csv")
    # computed, not copied: throughput gains follow from the measured throughputs
    assert (per["throughput_gain"] - (per["dual_ips"] / per["single_ips"] - 1)).abs().max() < 1e-9
    assert (per["dual_ips"] > 0).all() and (per["dual_pe_eff"] <= 1).all()
    ours = summary["ours"]
    assert abs(ours["throughput_gain_single_net"] - per["throughput_gain"].mean()) < 1e-12
    # the seed's numbers appear only in the column that quotes them
    claims = pd.read_csv(out / "claims.csv")
    for value in SEED_CLAIMS.values():
        assert f"{value:+.1%}" in set(claims["seed"])
    assert set(claims["ours"]) == {f"{v:+.1%}" for v in ours.values()}
    for fig in ("throughput", "pe_efficiency", "mixes", "ablations", "sens_bw", "sens_area", "energy"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    assert list((out / "gantt").glob("*-dual.html"))
    # energy per image of the tuned dual and single cores, computed from the same schedules
    assert (per["dual_energy_uj"] > 0).all() and (per["single_energy_uj"] > 0).all()
    assert (per["energy_vs_single"] - (per["dual_energy_uj"] / per["single_energy_uj"] - 1)).abs().max() < 1e-9
    energy = pd.read_csv(out / "energy.csv")
    assert {"regular,depthwise", "unified"} <= set(energy["family"]) and (energy["energy_uj"] > 0).all()
    assert not energy.duplicated(["workload", "family"]).any()
    assert "## Energy per image" in md and "does not re-time schedules" in md  # quick: says no simulation
    # the headline under both area models: the FPGA budget is the dual-opu preset's fpga-xc7 resources
    from dualopu.hw import Hardware, load_hardware
    from dualopu.hw.area_fpga import fpga_totals

    budget_fpga = summary["budget_fpga"]
    preset = fpga_totals(load_hardware("dual-opu"))
    assert set(budget_fpga) == {"dsp", "bram", "lut"} and all(budget_fpga[k] == preset[k] for k in budget_fpga)
    both = pd.read_csv(out / "headline_area_models.csv")
    gains = [f"{k}_{m}" for k in ("throughput_gain", "pe_eff_gain") for m in ("mac-equivalent", "fpga-xc7")]
    assert set(gains) <= set(both.columns) and both[gains].notna().all().all()
    assert list(both["network"]) == [*per["network"], "mean"]
    assert (both[gains[0]].iloc[:-1].to_numpy() == per["throughput_gain"].to_numpy()).all()
    assert abs(both[gains[1]].iloc[:-1].mean() - both[gains[1]].iloc[-1]) < 1e-12
    assert summary["headline_by_area_model"]["fpga-xc7"] == both[gains[1]].iloc[-1]
    assert "## Headline under the FPGA area model" in md and "extrapolated" in md
    # why the headline moved, rule by rule (quick: the preset table only; the tuned before/after is the full run's)
    rules = pd.read_csv(out / "rule_by_rule.csv")
    on = rules[rules["case"] == "all rules on (after)"].set_index("network")
    for name in per["network"]:
        net = build(name)
        dual, single = (evaluate(net, load_hardware(p)).throughput_ips() for p in ("dual-opu", "single-opu"))
        assert on.loc[name, "gain"] == pytest.approx(dual / single - 1, rel=1e-12)
    assert len(rules) == len(per) * (2 + len(ALL_RULES)) and set(rules["rule"].dropna()) == set(ALL_RULES)
    assert "## Headline before and after the OPU machine-model rules" in md and "full run" in md
    assert not (out / "headline_before_after.csv").exists()
    fpga_designs = []
    for d in stored:  # each fpga-xc7 winner, its resources recomputed from the stored design
        request_budget = json.loads(d["request"])[1]
        if isinstance(request_budget, list):
            assert dict(request_budget) == pytest.approx(budget_fpga)
            use = fpga_totals(Hardware.model_validate(d["hardware"]))
            assert all(use[k] <= budget_fpga[k] * (1 + 1e-9) for k in budget_fpga), use
            fpga_designs.append(json.loads(d["request"])[2])
    assert sorted(fpga_designs) == sorted(["regular,depthwise", "unified"] * len(per))


def test_headline_designs_simulated_beside_scheduled(tmp_path: Path) -> None:
    """With the orchestration layer's bridge, the headline designs' makespans are re-timed on the cycle
    simulator and reported beside the scheduler's (the full reproduce does this)."""
    from dualopu.flows.schedule_sim import simulate_schedule_or_reason
    from dualopu.hw import load_hardware, total_area
    from dualopu.ir.zoo import build
    from dualopu.report.experiments import Bench
    from dualopu.report.reproduce import Plan, per_network, simulated_table

    plan = Plan(["mobilenet_v3_small"], [], images=2, mix_images=1, bandwidths=[], area_scales=[],
                sweep_networks=[])
    budget = total_area(load_hardware("dual-opu"))
    bench = Bench(simulate=simulate_schedule_or_reason)
    _, runs = per_network(plan, budget, {"mobilenet_v3_small": build("mobilenet_v3_small")}, tmp_path,
                          lambda _m: None, bench)
    table = simulated_table(runs)
    assert list(table["design"]) == ["dual", "single"]
    assert (table["simulated_cycles"] > 0).all()
    assert (table["scheduled_cycles"] == [r.makespan_cycles for r in runs["mobilenet_v3_small"]]).all()
    gap = table["simulated_cycles"] / table["scheduled_cycles"] - 1
    assert (gap - table["simulated_vs_scheduled"]).abs().max() < 1e-12
    assert gap.abs().max() < 0.1  # the bridge benchmark finds a few percent on the built-ins
    # asked again without simulation, the same run comes from the bench (scheduled once)
    before = len(bench.runs)
    again = bench.run([build("mobilenet_v3_small")], runs["mobilenet_v3_small"][0].hardware, 2)
    assert len(bench.runs) == before and again.makespan_cycles == runs["mobilenet_v3_small"][0].makespan_cycles


def test_roofline_draws_the_depthwise_roof_per_window(tmp_path) -> None:
    """The depthwise core's effective roof is drawn for the window sizes it runs (3x3 -> 9 values);
    the regular core gets none. Catches a roof drawn from the wrong core or kernel; cannot judge the plot."""
    import dualopu
    from dualopu.report.roofline import _window_sizes, roofline_png

    cost = dualopu.evaluate(dualopu.load_network("mobilenet_v2"), dualopu.load_hardware("dual-opu"))
    frame = cost.to_dataframe()
    reg, dw = cost.hardware.cores
    assert _window_sizes(cost, frame[frame["core"] == dw.name], dw) == [9]
    assert _window_sizes(cost, frame[frame["core"] == reg.name], reg) == []
    assert roofline_png(cost, tmp_path / "r.png").stat().st_size > 0


def test_column_labels_read_as_words() -> None:
    """Raw column names become readable headers without mangling longer words ("pe_efficiency")."""
    from dualopu.report.render import column_label

    assert column_label("pe_efficiency") == "PE efficiency"
    assert column_label("dual_pe_eff") == "dual-core PE efficiency"
    assert column_label("single_opu_ips") == "single-OPU images/s"


def test_reproduce_tunes_are_resumable_sweep_points(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`prefetch` runs each distinct tuned design as a sweep point (`tune.sweep.run_points`) and, with a
    store, keeps one JSON per design: a second run reads them back and tunes nothing."""
    from dualopu.hw import load_hardware, total_area
    from dualopu.ir.zoo import build
    from dualopu.report import experiments

    net = [build("mobilenet_v3_small")]
    budget = total_area(load_hardware("dual-opu"))
    requests = [(net, budget, "unified", None, None, None), (net, budget, "regular,depthwise", None, None, None),
                (net, budget, "unified", None, None, 64.0)]  # the tuner's default DRAM: the first request again
    store = tmp_path / "designs"
    first = experiments.prefetch(requests, store=store)
    assert len(first) == 2 and len(list(store.glob("*.json"))) == 2

    def no_tune(*_args: object) -> None:
        raise AssertionError("a stored design was tuned again")

    monkeypatch.setattr(experiments, "_tune_job", no_tune)
    again = experiments.prefetch(requests, store=store)
    assert again == first
    direct = experiments.tuned_hardware(net, budget, "unified", cache=again)
    assert direct.cores == first[experiments.request_key(*requests[0])].cores


def test_reproduce_store_refuses_a_foreign_folder(tmp_path: Path) -> None:
    """--store is an output folder like --out: a non-empty folder dualopu did not write is refused
    in one line before any work."""
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not dualopu's")
    res = subprocess.run([sys.executable, "-m", "dualopu.cli", "reproduce", "--quick", "--out",
                          str(tmp_path / "rep"), "--store", str(foreign)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--store" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"] and not (tmp_path / "rep").exists()


def test_simulated_gain_states_both_clocks() -> None:
    """The headline gain by the scheduler's and by the simulator's makespans, from the table."""
    import pandas as pd

    from dualopu.report.reproduce import _simulated_gain

    table = pd.DataFrame(
        {
            "network": ["a", "a", "b", "b"],
            "design": ["dual", "single", "dual", "single"],
            "scheduled_cycles": [100.0, 120.0, 200.0, 220.0],
            "simulated_cycles": [110.0, 121.0, 200.0, 260.0],
        }
    )
    (line,) = _simulated_gain(table)
    assert "+15.0% by the scheduler" in line  # (20% + 10%) / 2
    assert "+20.0% on the cycle simulator" in line  # (10% + 30%) / 2
    assert _simulated_gain(table[table["design"] == "dual"]) == []


def test_headline_before_and_after_the_opu_rules(tmp_path: Path) -> None:
    """The full run's before/after: every design tuned again with the OPU rules off, the claims
    computed from those designs' schedules beside this run's (rules on)."""
    from dualopu.hw import load_hardware, total_area
    from dualopu.report.experiments import Bench
    from dualopu.report.reproduce import Plan, _rules_section, before_after_rules, multi_network, per_network

    names = ["mobilenet_v3_small", "squeezenet1_1"]
    plan = Plan(names[:1], [("pair", names)], images=2, mix_images=1, bandwidths=[], area_scales=[],
                sweep_networks=[], before_after=True)
    nets = {n: build(n) for n in names}
    budget = total_area(load_hardware("dual-opu"))
    bench = Bench()
    single, _ = per_network(plan, budget, nets, tmp_path, lambda _m: None, bench)
    mixes = multi_network(plan, budget, nets, lambda _m: None, bench)
    claims, per_net, per_mix = before_after_rules(plan, budget, nets, single, mixes, lambda _m: None, bench)
    row = per_net.iloc[0]
    assert row["throughput_gain_before"] == pytest.approx(row["dual_ips_before"] / row["single_ips_before"] - 1)
    assert row["throughput_gain_after"] == single["throughput_gain"].iloc[0]
    assert per_mix["gain_vs_best_baseline_after"].iloc[0] == mixes["gain_vs_best_baseline"].iloc[0]
    before_designs = [r for r in bench.runs.values() if r.hardware.name.endswith("-before")]
    assert len(before_designs) == 5 and all(rules_on(r.hardware) == () for r in before_designs)
    assert all(rules_on(r.hardware) == ALL_RULES for r in bench.runs.values() if not r.hardware.name.endswith("-before")
               and r.hardware.cores[0].dataflow == "opu")
    assert list(claims["before_opu_rules"]) == [f"{row['pe_eff_gain_before']:+.1%}",
                                               f"{row['throughput_gain_before']:+.1%}",
                                               f"{per_mix['gain_vs_best_baseline_before'].iloc[0]:+.1%}"]
    section = _rules_section(claims, per_net, per_mix, pd.DataFrame({
        "network": ["n"] * 2 + ["n"] * len(ALL_RULES), "case": ["all rules on (after)", "all rules off (before)",
                                                              *ALL_RULES],
        "rule": [None, None, *ALL_RULES], "gain": [0.2, 0.1, *[0.1] * len(ALL_RULES)]}))
    assert len(section.blocks) == 4 and all("+10.0 points" in p for p in section.paragraphs[2:])
