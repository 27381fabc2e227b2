"""The OPU machine-model rules as data (`dualopu.hw.rules`): what each rule sets, that taking rules
off gives the original mapping's fields, and that every rule changes some cost (no dead rule)."""

from __future__ import annotations

import pytest

from dualopu.cost.evaluate import evaluate
from dualopu.errors import DualOpuError
from dualopu.hw import Core, Hardware, load_hardware
from dualopu.hw.rules import ALL_RULES, OPU_RULES, UnknownRuleError, check_rules, rules_on, without_rules
from dualopu.ir.zoo import build

OPU_PRESETS = ("opu", "dual-opu", "single-opu")


@pytest.mark.parametrize("preset", OPU_PRESETS)
def test_opu_presets_use_every_rule_and_lose_them_one_by_one(preset: str) -> None:
    hw = load_hardware(preset)
    assert rules_on(hw) == ALL_RULES
    assert rules_on(without_rules(hw, ALL_RULES)) == ()
    for rule in ALL_RULES:
        assert rules_on(without_rules(hw, [rule])) == tuple(r for r in ALL_RULES if r != rule)


def test_rules_off_are_the_schema_defaults_and_nothing_else_changes() -> None:
    hw = load_hardware("dual-opu")
    off = without_rules(hw, ALL_RULES)
    fields = {f for r in OPU_RULES for f in r.core_fields}
    for before, after in zip(hw.cores, off.cores):
        for name in Core.model_fields:
            expected = Core.model_fields[name].get_default() if name in fields else getattr(before, name)
            assert getattr(after, name) == expected, name
    assert off.dram_model == Hardware.model_fields["dram_model"].get_default()
    assert off.model_dump(exclude={"cores", "dram_model"}) == hw.model_dump(exclude={"cores", "dram_model"})
    assert rules_on(load_hardware("tpu-like")) == ()  # a preset without the rules is its own "before"
    assert without_rules(hw, []) is hw


def test_unknown_rule_is_refused_in_one_line() -> None:
    with pytest.raises(UnknownRuleError, match=r"unknown OPU rule.*no-such-rule.*known: dram-burst") as err:
        check_rules(["no-such-rule", "dram-burst"])
    assert isinstance(err.value, DualOpuError) and "\n" not in str(err.value)
    assert check_rules(["square-tiles", "dram-burst", "dram-burst"]) == ("dram-burst", "square-tiles")


def test_every_rule_moves_some_cost() -> None:
    """A rule whose fields change no cost of any of these networks on the OPU presets would be
    dead data: each must move the cycles or DRAM bytes of at least one layer."""
    nets = [build(n) for n in ("mobilenet_v2", "shufflenet_v2_x1_0", "mobilenet_v3_small")]
    for preset in ("dual-opu", "single-opu"):
        hw = load_hardware(preset)
        base = [evaluate(n, hw) for n in nets]
        for rule in ALL_RULES:
            off = without_rules(hw, [rule])
            moved = any(
                (evaluate(n, off).matrix.cycles != b.matrix.cycles).any()
                or (evaluate(n, off).matrix.dram_bytes != b.matrix.dram_bytes).any()
                for n, b in zip(nets, base)
            )
            assert moved, (preset, rule)


def test_tune_with_rules_off_tunes_the_original_mapping() -> None:
    from dualopu.tune import template_for, tune

    net = build("mobilenet_v3_small")
    assert rules_on(template_for("regular,depthwise", rules_off=ALL_RULES)) == ()
    assert rules_on(template_for("regular,depthwise")) == ALL_RULES
    budget = 2000.0
    best = tune(
        [net],
        budget,
        "regular,depthwise",
        rules_off=ALL_RULES,
        confirm_top=2,
        workers=1,
        fronts=False,
        price_energy=False,
    ).best
    assert rules_on(best) == ()
    with pytest.raises(DualOpuError, match="unknown OPU rule"):
        tune([net], budget, "unified", rules_off=["bogus"], confirm_top=1, workers=1)


def test_parse_rules_reads_all_and_lists() -> None:
    from dualopu.hw.rules import parse_rules

    assert parse_rules("all") == ALL_RULES and parse_rules(None) == () and parse_rules(" ") == ()
    assert parse_rules("overheads, dram-burst") == ("dram-burst", "overheads")


def test_tune_cli_rules_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from dualopu.hw import load_hardware as load

    def tune_cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "dualopu.cli", "tune", "mobilenet_v3_small", *args]
        return subprocess.run(cmd, capture_output=True, text=True)

    bad = tune_cli("--rules-off", "bogus", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "unknown OPU rule" in bad.stderr
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "t"
    ok = tune_cli(
        "--rules-off",
        "all",
        "--like",
        "dual-opu",
        "--no-simulate",
        "--quiet",
        "--confirm-top",
        "2",
        "--out",
        str(out),
    )
    assert ok.returncode == 0, ok.stderr
    assert rules_on(load(str(out / "best.yaml"))) == ()  # the --like preset candidate lost its rules too


def test_evaluate_and_schedule_cli_rules_off() -> None:
    """`--rules-off` means the same on evaluate and schedule as on tune: the hardware without the rules."""
    import json
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dualopu.cli", *args], capture_output=True, text=True)

    res = cli(
        "evaluate", "mobilenet_v3_small", "--hw", "dual-opu", "--rules-off", "dram-burst,overheads", "--json"
    )
    assert res.returncode == 0, res.stderr
    want = evaluate(
        build("mobilenet_v3_small"), without_rules(load_hardware("dual-opu"), ["dram-burst", "overheads"])
    )
    assert json.loads(res.stdout)["throughput_bound_ips"] == pytest.approx(want.throughput_ips(), rel=1e-12)
    bad = cli("schedule", "mobilenet_v3_small", "--rules-off", "nope")
    assert (
        bad.returncode == 2
        and bad.stderr.strip().startswith("error: unknown OPU rule")
        and "\n" not in bad.stderr.strip()
    )
