"""The OPU machine-model rules (issue 12) as data: each rule names the hardware fields it sets,
so a design can be taken back to the mapping before the rules, all at once or one rule at a time.

A rule is *off* when its fields hold the schema defaults (`Core`, `Hardware`): the defaults are
the original mapping, the presets ``opu``, ``dual-opu`` and ``single-opu`` set the authors'
values (sources in docs/assumptions.md "OPU fidelity"). The report reads this table to show the
headline before and after the rules and what each rule moves; nothing else decides what a rule is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dualopu.errors import HardwareError
from dualopu.hw.config import Core, Hardware


@dataclass(frozen=True)
class Rule:
    """One rule of the authors' machine model: the fields it sets and what it changes."""

    name: str
    title: str
    core_fields: tuple[str, ...]
    hardware_fields: tuple[str, ...]
    mechanism: str  # what the rule changes in the cost of a layer (the report quotes it)


OPU_RULES: tuple[Rule, ...] = (
    Rule(
        "dram-burst",
        "DRAM burst latency",
        (),
        ("dram_model",),
        "every contiguous DRAM row and every store pays 20 fixed cycles of the core's own DMA engine "
        "(opu-sim), so layers of many short rows (depthwise tiles) slow down most; on two cores the "
        "two engines' latencies overlap",
    ),
    Rule(
        "channel-enhance",
        "channel enhancement",
        ("channel_enhance",),
        (),
        "a few-channel conv (the first conv) runs as a 1x1 conv over an im2col'd input, filling the "
        "PE inputs (opu-compiler ChannelEnhance): about 8x less compute on the regular core's worst layer",
    ),
    Rule(
        "opu64-layout",
        "opu64 DRAM layout",
        ("layout",),
        (),
        "one 64-byte DRAM word holds 64 channels of a pixel, so a channel shuffle is a copy through "
        "a core instead of an address remap, and a store drains whole words (a tile of fewer channels "
        "still drains 64 lanes per pixel)",
    ),
    Rule(
        "widen-per-tile",
        "per-tile widening",
        ("widen_per_tile",),
        (),
        "the remainder input-channel tile is widened by the few-channel rule (opu-compiler Scheduler), "
        "instead of deciding it on the layer's whole input-channel count",
    ),
    Rule(
        "dw-groups",
        "64-channel depthwise groups",
        ("dw_channel_group",),
        (),
        "the depthwise engine works on 64-channel groups, one channel per PE (opu-sim): below 64 "
        "channels PEs no longer share a channel",
    ),
    Rule(
        "store-drain",
        "word-drained stores",
        ("store_elems_per_cycle",),
        (),
        "a STORE drains through post-processing at one 64-channel word per cycle (opu-sim RunPostProcess)",
    ),
    Rule(
        "overheads",
        "OPU instruction overheads",
        ("instr_overhead_cycles", "compute_overhead_cycles"),
        (),
        "no per-instruction issue cost but 30 cycles per COMPUTE (opu-sim), instead of our 16 per instruction",
    ),
    Rule(
        "fc-store-once",
        "FC stored once",
        ("fc_store_once",),
        (),
        "an FC layer's output tiles accumulate in the partial-sum buffer and are stored once (opu-sim RunComputeFC)",
    ),
    Rule(
        "square-tiles",
        "square spatial tiles",
        ("spatial_tiling",),
        (),
        "depthwise and few-channel convs use the opu-compiler's square tiles (LowerConv2d) instead of row bands",
    ),
)
RULES_BY_NAME: dict[str, Rule] = {r.name: r for r in OPU_RULES}
#: Every rule, the argument that takes a design back to the mapping before issue 12.
ALL_RULES: tuple[str, ...] = tuple(RULES_BY_NAME)


class UnknownRuleError(HardwareError):
    """A rule name that is not in `OPU_RULES`."""


def check_rules(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` in the table's order, each once; unknown names refused in one line."""
    wanted = set(names)
    unknown = sorted(wanted - set(RULES_BY_NAME))
    if unknown:
        raise UnknownRuleError(f"unknown OPU rule(s) {', '.join(unknown)} (known: {', '.join(ALL_RULES)})")
    return tuple(n for n in ALL_RULES if n in wanted)


def parse_rules(text: str | None) -> tuple[str, ...]:
    """A ``--rules-off`` value: rule names comma-separated, or ``all``; empty or None: none."""
    names = [t.strip() for t in (text or "").split(",") if t.strip()]
    return ALL_RULES if names == ["all"] else check_rules(names)


def _default(model: type[Core] | type[Hardware], field: str) -> object:
    return model.model_fields[field].get_default(call_default_factory=True)


def rules_on(hw: Hardware) -> tuple[str, ...]:
    """The rules ``hw`` uses: a rule is on when any of its fields differs from the schema default on
    the processor or on any core."""
    on = []
    for rule in OPU_RULES:
        hw_on = any(getattr(hw, f) != _default(Hardware, f) for f in rule.hardware_fields)
        core_on = any(getattr(c, f) != _default(Core, f) for c in hw.cores for f in rule.core_fields)
        if hw_on or core_on:
            on.append(rule.name)
    return tuple(on)


def without_rules(hw: Hardware, names: Iterable[str]) -> Hardware:
    """``hw`` with the named rules off: their fields reset to the schema defaults (validated)."""
    off = [RULES_BY_NAME[n] for n in check_rules(names)]
    if not off:
        return hw
    core_fields = {f for r in off for f in r.core_fields}
    hw_fields = {f for r in off for f in r.hardware_fields}
    data = hw.model_dump()
    for f in hw_fields:
        data[f] = _default(Hardware, f)
    for core in data["cores"]:
        for f in core_fields:
            core[f] = _default(Core, f)
    return Hardware.model_validate(data)
