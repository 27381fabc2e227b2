"""`dualopu reproduce`: the seed paper's experiments redone on our models.

Every number in the report is computed here, by the same tuner and scheduler for the
dual-core design and for every baseline (tuned vs tuned, same area). The seed's claims
appear only in the column that quotes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dualopu.hw import load_hardware, total_area
from dualopu.hw.area_fpga import fpga_totals
from dualopu.hw.rules import ALL_RULES, OPU_RULES, without_rules
from dualopu.ir.network import Network
from dualopu.ir.zoo import LIGHTWEIGHT, build
from dualopu.report import figures
from dualopu.report.experiments import Bench, Run, Simulate, prefetch
from dualopu.report.render import Figure, Link, Report, Section, Table, render_html, render_markdown
from dualopu.util import keep_freed_memory, write_atomic

#: The seed's published claims (arXiv 2110.01103, abstract), quoted beside our numbers.
SEED_CLAIMS = {
    "pe_efficiency_gain_single_net": 0.11,
    "throughput_gain_single_net": 0.31,
    "throughput_gain_multi_net": 0.11,
}

MIXES_FULL = [
    ("mbv2+shufflenet+squeezenet", ["mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_1"]),
    ("mbv3l+efficientnet+mnasnet", ["mobilenet_v3_large", "efficientnet_b0", "mnasnet1_0"]),
    ("mbv1+mbv3s+shufflenet", ["mobilenet_v1", "mobilenet_v3_small", "shufflenet_v2_x1_0"]),
    ("all eight light-weight", list(LIGHTWEIGHT)),
]
MIXES_QUICK = [("mbv2+shufflenet+squeezenet", ["mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_1"])]
#: Design families compared beyond the seed: 1, 2 and 3 cores, mixes of core types.
BEYOND_FAMILIES = ["unified", "regular,depthwise", "regular,regular,depthwise", "regular,depthwise,unified"]
QUICK_NETS = ["mobilenet_v2", "shufflenet_v2_x1_0", "mobilenet_v3_small"]
#: FPGA resources of the headline's second budget (the fitted ``fpga-xc7`` table's DSP, BRAM and
#: LUT; FFs left out: the fit follows them worst, docs/assumptions.md).
FPGA_BUDGET_RESOURCES = ("dsp", "bram", "lut")
MAC_EQ, FPGA_MODEL = "mac-equivalent", "fpga-xc7"


@dataclass(frozen=True)
class Plan:
    """What one reproduction run does (the quick plan is a strict subset of the full one)."""

    networks: list[str]
    mixes: list[tuple[str, list[str]]]
    images: int
    mix_images: int
    bandwidths: list[float]
    area_scales: list[float]
    sweep_networks: list[str]
    beyond: list[tuple[str, list[str]]] = field(default_factory=list)  # workloads of "beyond the seed"
    beyond_families: list[str] = field(default_factory=list)
    #: tune every design again with the OPU rules off (`before_after_rules`; the full run only:
    #: it doubles the per-network and mix tunes, and --quick keeps the work it always measured)
    before_after: bool = False

    @staticmethod
    def make(quick: bool) -> Plan:
        if quick:
            return Plan(QUICK_NETS, MIXES_QUICK, images=16, mix_images=6, bandwidths=[16, 64, 256],
                        area_scales=[0.5, 1.0, 2.0], sweep_networks=["mobilenet_v2"],
                        beyond=[("mobilenet_v3_small", ["mobilenet_v3_small"])],
                        beyond_families=["unified", "regular,depthwise", "regular,regular,depthwise"])
        return Plan(list(LIGHTWEIGHT), MIXES_FULL, images=64, mix_images=16, bandwidths=[16, 32, 64, 128, 256],
                    area_scales=[0.5, 0.75, 1.0, 1.5, 2.0], sweep_networks=["mobilenet_v2", "shufflenet_v2_x1_0",
                                                                             "efficientnet_b0"],
                    beyond=[(n, [n]) for n in LIGHTWEIGHT] + MIXES_FULL,
                    beyond_families=BEYOND_FAMILIES, before_after=True)


Progress = Callable[[str], None]


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def per_network(plan: Plan, budget: float, nets: dict[str, Network], out: Path, progress: Progress,
                bench: Bench | None = None
                ) -> tuple[pd.DataFrame, dict[str, tuple[Run, Run]]]:
    """Experiment 1: tuned dual-core vs tuned single-core of the same area, per network (with
    energy per image, and the simulated makespan when the bench has a simulator)."""
    bench = bench or Bench()
    tuned = bench.tuned
    rows, runs = [], {}
    for name in plan.networks:
        progress(f"per-network: {name}")
        net = nets[name]
        dual = bench.run([net], tuned([net], budget, "regular,depthwise", name=f"dual-{name}"),
                         plan.images, gantt=out / "gantt" / f"{name}-dual.html", simulate=True)
        single = bench.run([net], tuned([net], budget, "unified", name=f"single-{name}"), plan.images,
                           simulate=True)
        runs[name] = (dual, single)
        rows.append({
            "network": name,
            "dual_hw": dual.hardware_summary,
            "single_hw": single.hardware_summary,
            "dual_ips": dual.throughput_ips,
            "single_ips": single.throughput_ips,
            "throughput_gain": dual.throughput_ips / single.throughput_ips - 1,
            "dual_pe_eff": dual.pe_efficiency,
            "single_pe_eff": single.pe_efficiency,
            "pe_eff_gain": dual.pe_efficiency / single.pe_efficiency - 1,
            "dual_regular_core_eff": dual.core_efficiency.get("regular", np.nan),
            "dual_depthwise_core_eff": dual.core_efficiency.get("depthwise", np.nan),
            "dual_of_bound": dual.fraction_of_bound,
            "dual_energy_uj": dual.energy_uj_per_image,
            "single_energy_uj": single.energy_uj_per_image,
            "energy_vs_single": dual.energy_uj_per_image / single.energy_uj_per_image - 1,
        })
    return pd.DataFrame(rows), runs


def simulated_table(runs: dict[str, tuple[Run, Run]]) -> pd.DataFrame:
    """The headline designs' schedules re-timed on the cycle simulator beside the scheduler's makespan."""
    rows = []
    for name, pair in runs.items():
        for design, run in zip(("dual", "single"), pair):
            rows.append({"network": name, "design": design, "scheduled_cycles": run.makespan_cycles,
                         "simulated_cycles": run.simulated_makespan_cycles if run.simulated_makespan_cycles
                         is not None else np.nan, "simulated_vs_scheduled": run.simulated_vs_scheduled,
                         "note": run.simulation_error})
    return pd.DataFrame(rows)


def multi_network(plan: Plan, budget: float, nets: dict[str, Network], progress: Progress,
                  bench: Bench | None = None) -> pd.DataFrame:
    """Experiment 2: multi-network mixes, dual-core vs same-area baselines, all tuned."""
    bench = bench or Bench()
    tuned = bench.tuned
    rows = []
    for label, names in plan.mixes:
        progress(f"multi-network: {label}")
        mix = [nets[n] if n in nets else build(n) for n in names]
        res = {}
        for design, cores in (("dual", "regular,depthwise"), ("single-opu", "unified"),
                              ("tpu-like", "unified:systolic")):
            hw = tuned(mix, budget, cores, name=f"{design}-{label}")
            res[design] = bench.run(mix, hw, plan.mix_images)
        best_baseline = max(res["single-opu"].throughput_ips, res["tpu-like"].throughput_ips)
        rows.append({
            "mix": label,
            "dual_ips": res["dual"].throughput_ips,
            "single_opu_ips": res["single-opu"].throughput_ips,
            "tpu_like_ips": res["tpu-like"].throughput_ips,
            "gain_vs_single_opu": res["dual"].throughput_ips / res["single-opu"].throughput_ips - 1,
            "gain_vs_tpu_like": res["dual"].throughput_ips / res["tpu-like"].throughput_ips - 1,
            "gain_vs_best_baseline": res["dual"].throughput_ips / best_baseline - 1,
        })
    return pd.DataFrame(rows)


def ablations(plan: Plan, budget: float, nets: dict[str, Network], progress: Progress,
              bench: Bench | None = None) -> pd.DataFrame:
    """Experiment 3: which ingredient buys what, each normalised to the tuned single core."""
    bench = bench or Bench()
    tuned, scheduled = bench.tuned, bench.run
    preset = load_hardware("dual-opu")
    reg = next(c for c in preset.cores if c.type.value == "regular")
    dw = next(c for c in preset.cores if c.type.value == "depthwise")
    rows = []
    for name in plan.networks:
        progress(f"ablations: {name}")
        net = [nets[name]]
        base = scheduled(net, tuned(net, budget, "unified", name="single"), plan.images).throughput_ips
        steps = {
            "dual-opu preset, images one after another (specialization alone)":
                scheduled(net, preset, plan.images, method="sequential"),
            "dual-opu preset, images interleaved (+ scheduling)":
                scheduled(net, preset, plan.images),
            "PE counts tuned, input size fixed at 16 (+ PE-count tuning)":
                scheduled(net, tuned(net, budget, "regular,depthwise", name="pe-only",
                                                 input_sizes={"regular": [reg.input_size],
                                                              "depthwise": [dw.input_size]}), plan.images),
            "input size per PE tuned, PE counts fixed (+ input-size tuning)":
                scheduled(net, tuned(net, budget, "regular,depthwise", name="isz-only",
                                                 pe_counts={"regular": [reg.pe_count],
                                                            "depthwise": [dw.pe_count]}), plan.images),
            "both tuned, images interleaved (full dual-OPU)":
                scheduled(net, tuned(net, budget, "regular,depthwise", name="full"), plan.images),
        }
        for step, run in steps.items():
            rows.append({"network": name, "configuration": step, "throughput_ips": run.throughput_ips,
                         "vs_tuned_single_core": run.throughput_ips / base - 1})
    return pd.DataFrame(rows)


def sensitivity(plan: Plan, budget: float, nets: dict[str, Network], progress: Progress,
                bench: Bench | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Experiment 4: where the dual-core win grows or vanishes (DRAM bandwidth, area budget)."""
    bench = bench or Bench()
    tuned, scheduled = bench.tuned, bench.run
    bw_rows, area_rows = [], []
    for name in plan.sweep_networks:
        net = [nets[name] if name in nets else build(name)]
        for bw in plan.bandwidths:
            progress(f"sensitivity: {name} at {bw:g} B/cycle")
            d = scheduled(net, tuned(net, budget, "regular,depthwise", name="d", dram=bw), plan.images)
            s = scheduled(net, tuned(net, budget, "unified", name="s", dram=bw), plan.images)
            bw_rows.append({"network": name, "dram_bytes_per_cycle": bw, "dual_ips": d.throughput_ips,
                            "single_ips": s.throughput_ips, "gain": d.throughput_ips / s.throughput_ips - 1})
        for scale in plan.area_scales:
            progress(f"sensitivity: {name} at {scale:g}x area")
            d = scheduled(net, tuned(net, budget * scale, "regular,depthwise", name="d"), plan.images)
            s = scheduled(net, tuned(net, budget * scale, "unified", name="s"), plan.images)
            area_rows.append({"network": name, "area_scale": scale, "area": budget * scale,
                              "dual_ips": d.throughput_ips, "single_ips": s.throughput_ips,
                              "gain": d.throughput_ips / s.throughput_ips - 1})
    return pd.DataFrame(bw_rows), pd.DataFrame(area_rows)


#: The three claims as (summary key, per-network or mix column, label); a ``*_multi_net`` key
#: reads the mix table, the others the per-network table.
CLAIM_COLUMNS = (
    ("pe_efficiency_gain_single_net", "pe_eff_gain", "runtime PE efficiency, dual vs single core (mean over networks)"),
    ("throughput_gain_single_net", "throughput_gain", "throughput, dual vs single core (mean over networks)"),
    ("throughput_gain_multi_net", "gain_vs_best_baseline",
     "throughput on multi-network mixes vs best same-area baseline"),
)


def before_after_rules(plan: Plan, budget: float, nets: dict[str, Network], single: pd.DataFrame,
                       mixes: pd.DataFrame, progress: Progress, bench: Bench | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The headline before the OPU machine-model rules (issue 12; every rule of `dualopu.hw.rules`
    off, every design tuned again by the same tuner and scheduled alike) beside the headline of
    this run (rules on): per network, per mix and the three claims."""
    bench = bench or Bench()
    tuned, scheduled = bench.tuned, bench.run
    rows = []
    for name in plan.networks:
        progress(f"before the OPU rules: {name}")
        net = [nets[name]]
        d = scheduled(net, tuned(net, budget, "regular,depthwise", name=f"dual-{name}-before", rules_off=ALL_RULES),
                      plan.images)
        s = scheduled(net, tuned(net, budget, "unified", name=f"single-{name}-before", rules_off=ALL_RULES),
                      plan.images)
        after = single.loc[single["network"] == name].iloc[0]
        rows.append({
            "network": name, "dual_hw_before": d.hardware_summary, "single_hw_before": s.hardware_summary,
            "dual_ips_before": d.throughput_ips, "single_ips_before": s.throughput_ips,
            "throughput_gain_before": d.throughput_ips / s.throughput_ips - 1,
            "pe_eff_gain_before": d.pe_efficiency / s.pe_efficiency - 1,
            "dual_ips_after": after["dual_ips"], "single_ips_after": after["single_ips"],
            "throughput_gain_after": after["throughput_gain"], "pe_eff_gain_after": after["pe_eff_gain"],
        })
    mix_rows = []
    for label, names in plan.mixes:
        progress(f"before the OPU rules: {label}")
        mix = [nets[n] for n in names]
        ips = {c: scheduled(mix, tuned(mix, budget, c, name=f"{c}-{label}-before", rules_off=ALL_RULES),
                            plan.mix_images).throughput_ips
               for c in ("regular,depthwise", "unified", "unified:systolic")}
        after = mixes.loc[mixes["mix"] == label].iloc[0]
        mix_rows.append({
            "mix": label, "dual_ips_before": ips["regular,depthwise"], "single_opu_ips_before": ips["unified"],
            "tpu_like_ips_before": ips["unified:systolic"],
            "gain_vs_best_baseline_before": ips["regular,depthwise"] / max(ips["unified"], ips["unified:systolic"]) - 1,
            "gain_vs_best_baseline_after": after["gain_vs_best_baseline"],
        })
    per_net, per_mix = pd.DataFrame(rows), pd.DataFrame(mix_rows)
    claims = []
    for key, column, label in CLAIM_COLUMNS:
        frame = per_mix if key.endswith("multi_net") else per_net
        before, after_ = float(frame[f"{column}_before"].mean()), float(frame[f"{column}_after"].mean())
        claims.append({"claim": label, "key": key, "seed": _pct(SEED_CLAIMS[key]), "before_opu_rules": _pct(before),
                       "after_opu_rules": _pct(after_), "move_points": round(100 * (after_ - before), 1),
                       "before": before, "after": after_})
    return pd.DataFrame(claims), per_net, per_mix


#: Designs of the rule-by-rule table: the seed's comparison on the untuned presets.
RULE_DESIGNS = ("dual-opu", "single-opu")


def rule_by_rule(networks: list[str], nets: dict[str, Network]) -> pd.DataFrame:
    """Why the headline moved, rule by rule: the untuned `dual-opu` vs `single-opu` presets'
    throughput bounds (`evaluate`, images interleaved; no tuning, no schedule, so each rule's
    effect is not mixed with a retuned design) with every rule on, every rule off, and each rule
    of `dualopu.hw.rules` off alone. ``gain`` = dual / single - 1."""
    from dualopu.cost.evaluate import evaluate

    presets = {p: load_hardware(p) for p in RULE_DESIGNS}
    cases: list[tuple[str, str, tuple[str, ...]]] = [("all rules on (after)", "", ()),
                                                     ("all rules off (before)", "", ALL_RULES)]
    cases += [(f"{r.title} off", r.name, (r.name,)) for r in OPU_RULES]
    rows = []
    for name in networks:
        net = nets[name]
        for label, rule, off in cases:
            dual, single = (evaluate(net, without_rules(presets[p], off)).throughput_ips() for p in RULE_DESIGNS)
            rows.append({"network": name, "case": label, "rule": rule, "dual_bound_ips": dual,
                         "single_bound_ips": single, "gain": dual / single - 1})
    return pd.DataFrame(rows)


def _rules_section(claims: pd.DataFrame | None, per_net: pd.DataFrame | None, per_mix: pd.DataFrame | None,
                   rules: pd.DataFrame) -> Section:
    """The report's before/after section: the claims, the tuned designs (full runs) and each rule's move."""
    pivot = rules.pivot_table(index="case", columns="network", values="gain", sort=False).reset_index()
    on = rules[rules["case"] == "all rules on (after)"].set_index("network")["gain"]
    reasons = []
    for rule in OPU_RULES:
        one = rules[rules["rule"] == rule.name].set_index("network")["gain"]
        move = (on - one.reindex(on.index)) * 100  # points the rule adds to the gain
        top = move.abs().idxmax()
        reasons.append(f"**{rule.title}** ({rule.name}): {rule.mechanism}. With it the preset gain moves "
                       f"{move.mean():+.1f} points on average ({top}: {move[top]:+.1f}).")
    tuned = [] if claims is None or per_net is None or per_mix is None else [
        Table("The claims before and after the rules",
              pd.DataFrame(claims[["claim", "seed", "before_opu_rules", "after_opu_rules", "move_points"]]),
              "headline_before_after.csv"),
        Table("Per network, tuned designs", per_net, "before_after_per_network.csv"),
        Table("Mixes vs best baseline, tuned designs", per_mix, "before_after_mixes.csv")]
    return Section("Headline before and after the OPU machine-model rules", [
        "Before: every design tuned again by the same tuner, space and scheduler, with every rule of the authors' "
        "machine model (issue 12, `dualopu.hw.rules`; sources in docs/assumptions.md \"OPU fidelity\") off, i.e. "
        "the original mapping: DRAM as bandwidth only, planar layout, no channel enhancement, 16 cycles per "
        "instruction. After: this run's designs. No rule value was chosen for its effect on the headline."
        + ("" if tuned else " The tuned before/after designs are made by the full run (`dualopu reproduce`); "
           "--quick shows the rule-by-rule table only."),
        "Why, rule by rule: the untuned `dual-opu` vs `single-opu` presets' throughput bounds (images interleaved) "
        "with every rule on, every rule off and each rule off alone; 'moves' is the gain with the rule on minus "
        "the gain with only that rule off, in percentage points (rules interact, so the moves need not add up).",
        *reasons,
    ], [*tuned, Table("Rule by rule: preset gain dual / single - 1", pivot, "rule_by_rule.csv")])


def fpga_budget() -> dict[str, float]:
    """The FPGA budget of the headline: the `dual-opu` preset's resources under ``fpga-xc7``
    (`dualopu area dual-opu --area-model fpga-xc7`), so "same area" reads "fits the same FPGA"."""
    used = fpga_totals(load_hardware("dual-opu"))
    return {k: used[k] for k in FPGA_BUDGET_RESOURCES}


def _requests(plan: Plan, budget: float, nets: dict[str, Network], fpga: dict[str, float] | None = None
              ) -> list[Any]:
    """Every design the experiments below tune (so they can be tuned at once, in parallel); a
    design missing here is simply tuned where it is asked for."""
    preset = load_hardware("dual-opu")
    reg, dw = preset.cores[0], preset.cores[1]
    req: list[Any] = []
    for name in plan.networks:
        net = [nets[name]]
        if fpga is not None:
            req += [(net, fpga, c, None, None, None) for c in ("regular,depthwise", "unified")]
        req += [(net, budget, "regular,depthwise", None, None, None), (net, budget, "unified", None, None, None),
                (net, budget, "regular,depthwise", None, {"regular": [reg.input_size], "depthwise": [dw.input_size]},
                 None),
                (net, budget, "regular,depthwise", {"regular": [reg.pe_count], "depthwise": [dw.pe_count]}, None,
                 None)]
    for _, names in plan.mixes:
        mix = [nets[n] for n in names]
        req += [(mix, budget, c, None, None, None) for c in ("regular,depthwise", "unified", "unified:systolic")]
    if plan.before_after:  # the same designs with the OPU rules off (`before_after_rules`)
        for name in plan.networks:
            req += [([nets[name]], budget, c, None, None, None, ALL_RULES) for c in ("regular,depthwise", "unified")]
        for _, names in plan.mixes:
            req += [([nets[n] for n in names], budget, c, None, None, None, ALL_RULES)
                    for c in ("regular,depthwise", "unified", "unified:systolic")]
    for name in plan.sweep_networks:
        net = [nets[name]]
        req += [(net, budget, c, None, None, bw) for bw in plan.bandwidths for c in ("regular,depthwise", "unified")]
        req += [(net, budget * s, c, None, None, None) for s in plan.area_scales
                for c in ("regular,depthwise", "unified")]
    for _, names in plan.beyond:
        req += [([nets[n] for n in names], budget, c, None, None, None) for c in plan.beyond_families]
    return req


def fpga_headline(plan: Plan, fpga: dict[str, float], nets: dict[str, Network], single: pd.DataFrame,
                  progress: Progress, bench: Bench | None = None) -> pd.DataFrame:
    """The headline under both area models: per network, the dual/single throughput and PE-efficiency
    gains of the MAC-equivalent comparison (``single``, experiment 1) beside the same comparison tuned
    under the FPGA budget ``fpga`` (same tuner, space, confirmation and scheduler), plus their mean."""
    bench = bench or Bench()
    mac = single.set_index("network")
    rows = []
    for name in plan.networks:
        progress(f"FPGA area model: {name}")
        net = [nets[name]]
        dual = bench.run(net, bench.tuned(net, fpga, "regular,depthwise", name=f"dual-{name}-fpga"), plan.images)
        one = bench.run(net, bench.tuned(net, fpga, "unified", name=f"single-{name}-fpga"), plan.images)
        rows.append({
            "network": name,
            f"throughput_gain_{MAC_EQ}": float(mac.loc[name, "throughput_gain"]),
            f"throughput_gain_{FPGA_MODEL}": dual.throughput_ips / one.throughput_ips - 1,
            f"pe_eff_gain_{MAC_EQ}": float(mac.loc[name, "pe_eff_gain"]),
            f"pe_eff_gain_{FPGA_MODEL}": dual.pe_efficiency / one.pe_efficiency - 1,
            f"dual_ips_{FPGA_MODEL}": dual.throughput_ips,
            f"single_ips_{FPGA_MODEL}": one.throughput_ips,
            f"dual_hw_{FPGA_MODEL}": dual.hardware_summary,
            f"single_hw_{FPGA_MODEL}": one.hardware_summary,
        })
    frame = pd.DataFrame(rows)
    if len(frame):
        mean = {c: float(frame[c].mean()) for c in frame.columns if c.startswith(("throughput_gain", "pe_eff_gain"))}
        frame = pd.concat([frame, pd.DataFrame([{"network": "mean", **mean}])], ignore_index=True)
    return frame


def headline_by_model(table: pd.DataFrame) -> dict[str, float]:
    """The mean throughput gain, dual vs single core, under each area model (the table's mean row)."""
    mean = table.set_index("network").loc["mean"]
    return {m: float(mean[f"throughput_gain_{m}"]) for m in (MAC_EQ, FPGA_MODEL)}


def _fpga_section(fpga: dict[str, float], table: pd.DataFrame) -> Section:
    shown = pd.DataFrame(table[["network", *(f"{k}_{m}" for k in ("throughput_gain", "pe_eff_gain")
                                             for m in (MAC_EQ, FPGA_MODEL)), f"dual_hw_{FPGA_MODEL}",
                                f"single_hw_{FPGA_MODEL}"]])
    gains = headline_by_model(table)
    limits = ", ".join(f"{k} {v:.0f}" for k, v in fpga.items())
    return Section("Headline under the FPGA area model", [
        f"The per-network comparison tuned again with \"same area\" read as \"fits the same FPGA\": dual core "
        f"(regular + depthwise) and single core (unified) each tuned under one budget of {limits}, the `dual-opu` "
        "preset's resources under the fitted `fpga-xc7` table (`dualopu area dual-opu --area-model fpga-xc7`), by "
        "the same tuner, design space, confirmation and scheduler as the MAC-equivalent headline.",
        f"Mean throughput gain, dual vs single core: {_pct(gains[MAC_EQ])} under MAC-equivalents, "
        f"{_pct(gains[FPGA_MODEL])} under fpga-xc7.",
        "**The FPGA figures come from a fit extrapolated beyond its grid**: the table was fitted on a grid of "
        "small synthesized cores; the designs here lie beyond it (larger arrays, 64-byte beats) and a unified core "
        "is not in the grid at all (priced from the regular and depthwise tables); see "
        "[docs/assumptions.md](../docs/assumptions.md).",
    ], [Table("Dual vs single core under both area models", shown, "headline_area_models.csv")])


def beyond_seed(plan: Plan, budget: float, nets: dict[str, Network], progress: Progress,
                bench: Bench | None = None) -> pd.DataFrame:
    """Beyond the seed: the best design at the same area with 1, 2 and 3 cores (and mixes of core
    types), each tuned by the same tuner (buffers included), per network and on the mixes."""
    bench = bench or Bench()
    tuned = bench.tuned
    rows = []
    for label, names in plan.beyond:
        progress(f"beyond the seed: {label}")
        work = [nets[n] for n in names]
        images = plan.images if len(names) == 1 else plan.mix_images
        for family in plan.beyond_families:
            run = bench.run(work, tuned(work, budget, family, name=family.replace(",", "+")), images)
            rows.append({"workload": label, "family": family, "cores": len(family.split(",")),
                         "throughput_ips": run.throughput_ips, "pe_efficiency": run.pe_efficiency,
                         "energy_uj": run.energy_uj_per_image, "design": run.hardware_summary})
    frame = pd.DataFrame(rows)
    if len(frame):
        best = frame.groupby("workload")["throughput_ips"].transform("max")
        frame["vs_best"] = frame["throughput_ips"] / best - 1
    return frame


def reproduce(out: str | Path, quick: bool = False, progress: Progress | None = None,
              simulate: Simulate | None = None, store: str | Path | None = None) -> dict[str, object]:
    """Run the study, write ``out/report.md``, ``out/report.html``, CSV/JSON and figures.

    ``simulate`` (given by the orchestration layer, e.g. the CLI): re-times the headline
    designs' schedules on the cycle simulator; used in full runs only (quick runs say so).
    ``store``: folder of the tuned designs, one sweep point each (reused by a later run)."""
    t0 = time.perf_counter()
    keep_freed_memory()  # many short-lived numpy temporaries: reuse freed heap (inherited by the workers)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say: Progress = progress or (lambda _msg: None)
    plan = Plan.make(quick)
    budget = total_area(load_hardware("dual-opu"))
    names = sorted(set(plan.networks) | {n for _, m in plan.mixes for n in m} | set(plan.sweep_networks)
                   | {n for _, m in plan.beyond for n in m})
    nets = {n: build(n) for n in names}

    say("tuning every design (all cores)")
    fpga = fpga_budget()
    designs = prefetch(_requests(plan, budget, nets, fpga), store=None if store is None else Path(store))
    bench = Bench(designs, simulate=None if quick else simulate)
    single, runs = per_network(plan, budget, nets, out, say, bench)
    mixes = multi_network(plan, budget, nets, say, bench)
    abl = ablations(plan, budget, nets, say, bench)
    bw, area = sensitivity(plan, budget, nets, say, bench)
    beyond = beyond_seed(plan, budget, nets, say, bench)
    by_model = fpga_headline(plan, fpga, nets, single, say, bench)
    gains = headline_by_model(by_model)
    rule_claims, rule_nets, rule_mixes = (before_after_rules(plan, budget, nets, single, mixes, say, bench)
                                          if plan.before_after else (None, None, None))
    rules = rule_by_rule(plan.networks, nets)
    simulated = simulated_table(runs) if bench.simulate is not None else None
    say("writing report")

    fig = out / "figures"
    figs = [
        figures.grouped_bars(single, "network", ["dual_ips", "single_ips"], "images/s",
                             "Tuned dual-core vs tuned single-core, same area", fig / "throughput.png"),
        figures.grouped_bars(single, "network", ["dual_pe_eff", "single_pe_eff"], "runtime PE efficiency",
                             "Runtime PE efficiency (useful MACs / MAC units x cycles)", fig / "pe_efficiency.png"),
        figures.grouped_bars(mixes, "mix", ["dual_ips", "single_opu_ips", "tpu_like_ips"], "images/s",
                             "Multi-network workloads, all designs tuned to the same area", fig / "mixes.png"),
    ]
    abl_mean = pd.DataFrame(abl.groupby("configuration", sort=False)["vs_tuned_single_core"].mean()).reset_index()
    abl_mean["label"] = [f"A{i + 1}" for i in range(len(abl_mean))]
    figs.append(figures.grouped_bars(abl_mean, "label", ["vs_tuned_single_core"], "throughput vs tuned single core",
                                     "Ablations (mean over networks)", fig / "ablations.png", reference=0.0))
    bw_mean = pd.DataFrame(bw.groupby("dram_bytes_per_cycle")["gain"].mean()).reset_index()
    area_mean = pd.DataFrame(area.groupby("area_scale")["gain"].mean()).reset_index()
    figs.append(figures.lines(bw_mean, "dram_bytes_per_cycle", ["gain"], "DRAM bytes/cycle",
                              "dual-core throughput gain", "Sensitivity to DRAM bandwidth", fig / "sens_bw.png",
                              logx=True, reference=0.0))
    figs.append(figures.lines(area_mean, "area_scale", ["gain"], "area budget (x dual-opu)",
                              "dual-core throughput gain", "Sensitivity to area budget", fig / "sens_area.png",
                              reference=0.0))

    energy = energy_table(single, runs, beyond)
    figs.append(figures.scatter(energy, "energy_uj", "throughput_ips", "family", "workload",
                                "energy per image (uJ)", "images/s",
                                "Throughput vs energy per image of the tuned designs", fig / "energy.png"))

    ours = {key: float((mixes if key.endswith("multi_net") else single)[column].mean())
            for key, column, _ in CLAIM_COLUMNS}
    claims = pd.DataFrame([{"claim": label, "seed": _pct(SEED_CLAIMS[key]), "ours": _pct(ours[key])}
                           for key, _, label in CLAIM_COLUMNS])
    tables = {
        "claims.csv": claims, "per_network.csv": single, "multi_network.csv": mixes, "ablations.csv": abl,
        "sensitivity_bandwidth.csv": bw, "sensitivity_area.csv": area, "beyond_seed.csv": beyond,
        "energy.csv": energy, "headline_area_models.csv": by_model, "rule_by_rule.csv": rules,
    }
    if rule_claims is not None and rule_nets is not None and rule_mixes is not None:
        tables.update({"headline_before_after.csv": rule_claims, "before_after_per_network.csv": rule_nets,
                       "before_after_mixes.csv": rule_mixes})
    if simulated is not None:
        tables["simulated.csv"] = simulated
    for fname, frame in tables.items():
        write_atomic(out / fname, frame.to_csv(index=False))

    report = _build_report(plan, budget, claims, single, mixes, abl, abl_mean, bw, area, figs, runs, ours)
    report.sections[0].paragraphs.append(
        f"Headline throughput gain, dual vs single core (mean over networks): {_pct(gains[MAC_EQ])} with the same "
        f"area in MAC-equivalents, {_pct(gains[FPGA_MODEL])} with the same FPGA resources under fpga-xc7 "
        "(an extrapolated fit; section \"Headline under the FPGA area model\").")
    if rule_claims is not None:
        before = rule_claims.set_index("claim")["before_opu_rules"]
        report.sections[0].paragraphs.append(
            "Before the OPU machine-model rules (issue 12; every design tuned again with them off): "
            + "; ".join(f"{c} {before[c]}" for c in before.index) + " (section \"Headline before and after the "
            "OPU machine-model rules\").")
    report.sections.insert(2, _rules_section(rule_claims, rule_nets, rule_mixes, rules))
    report.sections.insert(3, _fpga_section(fpga, by_model))
    report.sections.insert(len(report.sections) - 1, Section("Beyond the seed: 1, 2 and 3 cores at the same area", [
        "Each family tuned by the same tuner under the same area (PE counts, input sizes, ic_parallel and buffers "
        "of every core; several cores of one type share their work), then scheduled. `vs_best`: against the best "
        "family of the same workload. Every design of this report, the seed comparison's baselines included, has "
        "its buffers tuned (before this version buffers were fixed at the presets' sizes).",
    ], [Table("Best design per number and kind of cores", beyond, "beyond_seed.csv")]))
    report.sections.insert(len(report.sections) - 1, _energy_section(single, energy, figs))
    report.sections.insert(len(report.sections) - 1, _simulated_section(simulated, quick))
    write_atomic(out / "report.md", render_markdown(report, out))
    write_atomic(out / "report.html", render_html(report))
    before_after = ({} if rule_claims is None else
                    {r["key"]: {"before": r["before"], "after": r["after"]} for r in rule_claims.to_dict("records")})
    summary = {"quick": quick, "budget_area": budget, "budget_fpga": fpga, "headline_by_area_model": gains,
               "headline_before_after_opu_rules": before_after,
               "seconds": time.perf_counter() - t0, "ours": ours,
               "seed": SEED_CLAIMS, "report": str(out / "report.md"), "html": str(out / "report.html"),
               "tables": {k: v.to_dict(orient="records") for k, v in tables.items()}}
    write_atomic(out / "results.json", json.dumps(summary, indent=2, default=float))
    return summary


def energy_table(single: pd.DataFrame, runs: dict[str, tuple[Run, Run]], beyond: pd.DataFrame) -> pd.DataFrame:
    """Throughput and energy per image of every tuned design of the per-network comparison and
    of "beyond the seed" (one row per workload and family; a design asked twice appears once)."""
    rows = []
    for name, (dual, single_run) in runs.items():
        for family, run in (("regular,depthwise", dual), ("unified", single_run)):
            rows.append({"workload": name, "family": family, "cores": len(family.split(",")),
                         "throughput_ips": run.throughput_ips, "energy_uj": run.energy_uj_per_image,
                         "design": run.hardware_summary})
    for r in beyond.to_dict(orient="records"):
        rows.append({k: r[k] for k in ("workload", "family", "cores", "throughput_ips", "energy_uj", "design")})
    frame = pd.DataFrame(rows).drop_duplicates(subset=["workload", "family"], keep="first")
    return frame.reset_index(drop=True)


def _energy_section(single: pd.DataFrame, energy: pd.DataFrame, figs: list[Path]) -> Section:
    fig_by = {p.stem: p for p in figs}
    per = pd.DataFrame(single[["network", "dual_hw", "single_hw", "dual_energy_uj", "single_energy_uj",
                               "energy_vs_single", "throughput_gain"]])
    mean = float(per["energy_vs_single"].mean()) if len(per) else float("nan")
    return Section("Energy per image", [
        "Energy of each scheduled workload per image: every task's dynamic energy (MACs, buffers, DRAM) on the "
        "core it ran on, plus the whole chip's leakage over the makespan (`dualopu.cost.energy`, per-access "
        "energies and their sources in docs/assumptions.md). Same schedules as the throughput columns above.",
        f"Tuned dual-core vs tuned single-core energy per image: {mean:+.1%} on average over the networks "
        "(negative: the dual-core spends less).",
        "The figure puts every design this report tunes for one workload (dual and single core per network; "
        "1, 2 and 3-core families of the beyond-the-seed section) on throughput vs energy per image.",
    ], [Table("Energy per image, tuned dual-core vs tuned single-core", per, "per_network.csv"),
        Table("Throughput and energy per image of the tuned designs", energy, "energy.csv"),
        Figure("Throughput vs energy per image", fig_by["energy"])])


def _simulated_section(simulated: pd.DataFrame | None, quick: bool) -> Section:
    title = "Scheduled vs simulated makespan of the headline designs"
    if simulated is None:
        why = ("This quick run does not re-time schedules on the cycle simulator; the full run "
               "(`dualopu reproduce`) does.") if quick else "No cycle simulator was given to this run."
        return Section(title, [why])
    gaps = simulated["simulated_vs_scheduled"].dropna()
    text = (f"from {gaps.min():+.1%} to {gaps.max():+.1%}" if len(gaps) else "not available")
    return Section(title, [
        "Each headline schedule (tuned dual-core and tuned single-core per network) replayed on the event-driven "
        "multi-core cycle simulator with shared DRAM, same placement and order, timed from the compiled programs "
        f"(the `dualopu schedule --json` bridge). Simulated vs scheduled makespan: {text}. Throughputs above are "
        "the scheduler's.",
        *_simulated_gain(simulated),
    ], [Table("Scheduler's vs simulated makespan", simulated, "simulated.csv")])


def _simulated_gain(simulated: pd.DataFrame) -> list[str]:
    """The headline throughput gain (dual vs single, mean over networks) by either clock, both
    schedules of a network having the same images (so throughput ratio = makespan ratio)."""
    by = simulated.pivot_table(index="network", columns="design", values=["scheduled_cycles", "simulated_cycles"])
    if ("simulated_cycles", "dual") not in by.columns or ("simulated_cycles", "single") not in by.columns:
        return []
    sched = (by[("scheduled_cycles", "single")] / by[("scheduled_cycles", "dual")] - 1).dropna()
    sim = (by[("simulated_cycles", "single")] / by[("simulated_cycles", "dual")] - 1).dropna()
    if not len(sim):
        return []
    return [f"Throughput gain, dual vs single core, mean over these networks: {sched.mean():+.1%} by the "
            f"scheduler, {sim.mean():+.1%} on the cycle simulator."]


def _no_depthwise_note(single: pd.DataFrame, runs: dict[str, tuple[Run, Run]]) -> list[str]:
    """Say what happens to networks that have no depthwise layer (computed, not assumed)."""
    from dualopu.ir.network import LayerKind

    plain = [n for n in runs if not any(layer.kind is LayerKind.DEPTHWISE for layer in build(n).layers)]
    if not plain:
        return []
    rows = single.set_index("network").loc[plain]
    others = single[~single["network"].isin(plain)]
    text = ", ".join(f"{n} ({rows.loc[n, 'throughput_gain']:+.1%})" for n in plain)
    mean_others = float(others["throughput_gain"].mean()) if len(others) else float("nan")
    return [f"Networks without depthwise layers leave the depthwise core's PE array idle (it can still run "
            f"element-wise layers beside the regular core): {text}. Without them the mean throughput gain is "
            f"{mean_others:+.1%}."]


def _build_report(plan: Plan, budget: float, claims: pd.DataFrame, single: pd.DataFrame, mixes: pd.DataFrame,
                  abl: pd.DataFrame, abl_mean: pd.DataFrame, bw: pd.DataFrame, area: pd.DataFrame,
                  figs: list[Path], runs: dict[str, tuple[Run, Run]], ours: dict[str, float]) -> Report:
    fig_by = {p.stem: p for p in figs}
    diff_notes = []
    for key, label in (("throughput_gain_single_net", "single-network throughput"),
                       ("pe_efficiency_gain_single_net", "runtime PE efficiency"),
                       ("throughput_gain_multi_net", "multi-network throughput")):
        delta = ours[key] - SEED_CLAIMS[key]
        if abs(delta) > 0.05:
            diff_notes.append(f"{label}: ours {_pct(ours[key])} vs the seed's {_pct(SEED_CLAIMS[key])}")
    why = (
        "Where our numbers differ from the seed's we have not tuned the model to close the gap. The reasons we "
        "believe: (1) our single-core baseline is a strong Light-OPU-style unified core that runs depthwise layers "
        "with a line-buffered window mapping and is tuned by the same tuner (PE count and input size per PE) under "
        "the same area, so it also gets the 9-input fix for 3x3 kernels; the seed's baseline may be weaker. "
        "(2) Our area model (docs/assumptions.md) charges each core a fixed controller and its own buffers, which "
        "the dual-core pays twice. (3) Element-wise layers, activations and DRAM contention follow our stated "
        "assumptions, not the seed's RTL. (4) The seed measured on FPGA implementations; we model cycles analytically "
        "and schedule with a heuristic checked against a lower bound."
    )
    intro = [
        f"Reproduction of *Heterogeneous Dual-Core Overlay Processor for Light-Weight CNNs* (Zhao, Yu, Wang, He; "
        f"arXiv 2110.01103) with `dualopu`. Every design, the dual-core and each baseline, is tuned by the same "
        f"tuner under the same area budget ({budget:.0f} MAC-equivalents, the area of the `dual-opu` preset) and "
        f"scheduled by the same scheduler over {plan.images} images per network (mixes: {plan.mix_images} images "
        "of each network). Modelling assumptions and their sources: [docs/assumptions.md](../docs/assumptions.md).",
        "Runtime PE efficiency = useful MACs / (all MAC units x elapsed cycles); throughput in images/s at 200 MHz.",
    ]
    s_claims = Section("Headline: the seed's claims beside ours", [
        "The 'seed' column quotes the paper's abstract; every number in the 'ours' column is computed in this run.",
        *( [f"**Our numbers differ from the seed's.** {'; '.join(diff_notes)}. {why}"] if diff_notes else [why] ),
    ], [Table("Claims", claims, "claims.csv")])
    s_single = Section("1. Per network: tuned dual-core vs tuned single-core, same area", [
        "Throughput of the scheduled workload and runtime PE efficiency, per core and overall. `dual_of_bound` is "
        "the scheduler's lower bound on makespan divided by the achieved makespan (1.0 = provably optimal).",
        *_no_depthwise_note(single, runs),
    ], [Table("Per-network results", single, "per_network.csv"), Figure("Throughput per network", fig_by["throughput"]),
        Figure("Runtime PE efficiency per network", fig_by["pe_efficiency"])]
        + [Link(f"Gantt chart of the dual-core schedule: {n}", f"gantt/{n}-dual.html")
           for n in runs if (Path("gantt") / f"{n}-dual.html").as_posix()])
    s_multi = Section("2. Multi-network workloads vs state-of-the-art baselines scaled to the same area", [
        "Baselines: `single-opu` (Light-OPU-style unified core) and `tpu-like` (weight-stationary systolic array), "
        "each tuned for the mix like the dual-core.",
    ], [Table("Multi-network mixes", mixes, "multi_network.csv"), Figure("Multi-network throughput", fig_by["mixes"])])
    s_abl = Section("3. Ablations: what each ingredient buys", [
        "Each row's throughput relative to the tuned single core (0 = equal). A1 adds specialization only (the "
        "untuned `dual-opu` preset, images one after another); A2 adds concurrent images; A3 tunes PE counts only; "
        "A4 tunes input size per PE only; A5 is the full design.",
    ], [Table("Ablations, mean over networks", pd.DataFrame(abl_mean[["label", "configuration", "vs_tuned_single_core"]]),
              "ablations.csv"), Table("Ablations per network", abl, "ablations.csv"),
        Figure("Ablations", fig_by["ablations"])])
    s_sens = Section("4. Sensitivity: DRAM bandwidth and area budget", [
        "Tuned dual-core vs tuned single-core as the shared DRAM bandwidth and the area budget change.",
    ], [Table("DRAM bandwidth sweep", bw, "sensitivity_bandwidth.csv"), Figure("DRAM bandwidth", fig_by["sens_bw"]),
        Table("Area budget sweep", area, "sensitivity_area.csv"), Figure("Area budget", fig_by["sens_area"])])
    s_files = Section("5. Files", ["All tables are also in the CSV files beside this report and in `results.json`."])
    return Report("dualopu: reproduction of the heterogeneous dual-core overlay processor", intro,
                  [s_claims, s_single, s_multi, s_abl, s_sens, s_files])
