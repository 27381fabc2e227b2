"""Compiler: tiling = the analytical model's, conservation of MACs and output elements,
program JSON round trip and validation (malformed programs refused)."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dualopu.cli import app
from dualopu.compiler import Compute, Load, Post, Program, Store, compile_network, quantize
from dualopu.compiler.codegen import split_rows
from dualopu.compiler.program import core_snapshot
from dualopu.cost.evaluate import evaluate
from dualopu.errors import DualOpuError, HardwareError, ProgramError
from dualopu.hw.config import Hardware, hardware_from_dict, load_hardware
from dualopu.ir.network import MAC_KINDS, LayerKind, Network
from dualopu.sim import run_functional, simulate_cycles
from dualopu.sim.testnets import all_kinds_net, inverted_residual_net

PRESETS = ("dual-opu", "single-opu", "tpu-like")
EXAMPLES = int(os.environ.get("DUALOPU_HYPOTHESIS_EXAMPLES", "50"))


def tiny_hw(dataflow: str = "opu", kib: float = 2.0) -> Hardware:
    """Small buffers: many tiles, halos, channel groups."""
    if dataflow == "systolic":
        cores = [dict(name="sa", type="unified", dataflow="systolic", pe_count=4, input_size=4, ic_parallel=4,
                      input_buffer_kib=kib, weight_buffer_kib=kib, output_buffer_kib=kib)]
    else:
        cores = [
            dict(name="reg", type="regular", pe_count=4, input_size=4, ic_parallel=8, input_buffer_kib=kib,
                 weight_buffer_kib=kib, output_buffer_kib=kib),
            dict(name="dw", type="depthwise", pe_count=8, input_size=4, input_buffer_kib=kib,
                 weight_buffer_kib=kib / 4, output_buffer_kib=kib),
        ]
    return hardware_from_dict(dict(name=f"tiny-{dataflow}", dram_bytes_per_cycle=8, cores=cores))


NETS = {"all_kinds": lambda: all_kinds_net(32), "mbv2_like": lambda: inverted_residual_net(64)}
TINY_KIB = {"all_kinds": 2.0, "mbv2_like": 8.0}
HWS = {p: (lambda n, p=p: load_hardware(p)) for p in PRESETS} | {
    "tiny-opu": lambda n: tiny_hw("opu", TINY_KIB[n]),
    "tiny-sa": lambda n: tiny_hw("systolic", TINY_KIB[n]),
}


@pytest.fixture(scope="module", params=[(n, h) for n in NETS for h in HWS], ids=lambda p: f"{p[0]}-{p[1]}")
def compiled(request: pytest.FixtureRequest) -> tuple[Network, Hardware, Program]:
    n, h = request.param
    net, hw = NETS[n](), HWS[h](n)
    return net, hw, compile_network(net, hw)


def test_tiling_is_the_models(compiled: tuple[Network, Hardware, Program]) -> None:
    """Stages of every MAC layer = the analytical model's; placement = the model's."""
    net, hw, prog = compiled
    cost = evaluate(net, hw)
    stages = cost.matrix.stages[np.arange(len(net)), cost.core]
    for i, lp in enumerate(prog.layers):
        assert lp.core == cost.core[i]
        if lp.layer.kind in MAC_KINDS:
            assert lp.tiling is not None and lp.tiling.stages == stages[i], lp.name
            assert sum(isinstance(x, Compute) for x in lp.instrs) == lp.tiling.stages
        if lp.layer.kind in (LayerKind.CONCAT, LayerKind.SHUFFLE):
            if lp.layer.op == "channel_shuffle" and hw.cores[lp.core].layout == "opu64":  # a copy (plan.copy_rows)
                assert lp.tiling is not None and lp.tiling.stages == stages[i] > 0
                assert sum(isinstance(x, Post) for x in lp.instrs) == lp.tiling.stages
            else:
                assert lp.instrs == () and stages[i] == 0


def test_macs_conserved(compiled: tuple[Network, Hardware, Program]) -> None:
    net, _, prog = compiled
    assert prog.total_macs == net.total_macs
    for lp, layer in zip(prog.layers, net.layers, strict=True):
        assert lp.macs == layer.macs, layer.name


def test_every_output_element_written_once(compiled: tuple[Network, Hardware, Program]) -> None:
    """Stores cover each physical output exactly once; nothing is written elsewhere."""
    net, _, prog = compiled
    writes = np.zeros(prog.dram_bytes, dtype=np.int64)
    for lp in prog.layers:
        for ins in lp.instrs:
            if isinstance(ins, Store):
                addr = prog.tensors[ins.dst].addresses(ins.c0, ins.c1, ins.r0, ins.r1, ins.q0, ins.q1)
                np.add.at(writes, addr.ravel(), 1)
    expect = np.zeros(prog.dram_bytes, dtype=np.int64)
    for layer in net.layers:
        t = prog.tensors[layer.name]
        if t.physical:
            _, c, h, _ = t.shape
            expect[t.addresses(0, c, 0, h).ravel()] = 1
    assert np.array_equal(writes, expect)


def test_loads_read_what_compute_needs(compiled: tuple[Network, Hardware, Program]) -> None:
    """Each COMPUTE/POST has loaded input and weights (slots filled earlier in its layer)."""
    _, _, prog = compiled
    for lp in prog.layers:
        filled: set[tuple[str, int]] = set()
        for ins in lp.instrs:
            if isinstance(ins, Load):
                filled.add((ins.buf, ins.slot))
            elif isinstance(ins, Compute):
                assert ("in", ins.in_slot) in filled and ("w", ins.w_slot) in filled
            elif isinstance(ins, Post):
                assert ("in", ins.in_slot) in filled


def test_json_round_trip(compiled: tuple[Network, Hardware, Program]) -> None:
    _, hw, prog = compiled
    text = prog.to_json()
    again = Program.from_json(text)
    assert again.to_json() == text
    assert simulate_cycles(again, hw).total_cycles == simulate_cycles(prog, hw).total_cycles


def test_split_rows_balanced() -> None:
    for n in range(1, 40):
        for parts in range(1, n + 1):
            r = split_rows(n, parts)
            sizes = [b - a for a, b in r]
            assert r[0][0] == 0 and r[-1][1] == n and max(sizes) - min(sizes) <= 1
            assert all(r[i][1] == r[i + 1][0] for i in range(len(r) - 1))


def test_listing_names_every_instruction() -> None:
    net = all_kinds_net(32)
    prog = compile_network(net, load_hardware("dual-opu"))
    text = prog.listing()
    for op in ("LOAD", "COMPUTE", "POST", "STORE"):
        assert op in text
    assert text.count("\n  ") == prog.n_instructions


def test_unrunnable_placement_refused() -> None:
    net = all_kinds_net(32)
    hw = load_hardware("dual-opu")
    bad = np.zeros(len(net), dtype=np.int64)
    assert any(layer.kind is LayerKind.DEPTHWISE for layer in net.layers)  # all on the regular core
    with pytest.raises(ProgramError, match="cannot run"):
        compile_network(net, hw, placement=bad)
    with pytest.raises(HardwareError):
        compile_network(net, tiny_hw(kib=0.25))


# ---- malformed programs ----------------------------------------------------------------


@pytest.fixture(scope="module")
def prog_dict() -> dict:
    return compile_network(all_kinds_net(32), load_hardware("dual-opu")).to_dict()


def _first(d: dict, op: str) -> dict:
    for lp in d["layers"]:
        for ins in lp["instructions"]:
            if ins["op"] == op:
                return ins
    raise AssertionError(op)


MUTATIONS = {
    "format": (lambda d: d.update(format="other"), "not a dualopu program"),
    "version": (lambda d: d.update(version=99), "unsupported version"),
    "missing_layers": (lambda d: d.pop("layers"), "missing key 'layers'"),
    "opcode": (lambda d: _first(d, "LOAD").update(op="JUMP"), "unknown opcode"),
    "slot": (lambda d: _first(d, "COMPUTE").update(out_slot=2), "must be 0 or 1"),
    "negative": (lambda d: _first(d, "STORE").update(r0=-1), "must be >= 0"),
    "type": (lambda d: _first(d, "LOAD").update(bytes="many"), "must be an integer"),
    "extra_field": (lambda d: _first(d, "STORE").update(foo=1), "unknown field"),
    "region": (lambda d: _first(d, "STORE").update(c1=10_000), "outside"),
    "bytes": (lambda d: _first(d, "STORE").update(bytes=1), "bytes"),
    "wrong_dst": (lambda d: _first(d, "STORE").update(dst="input"), "may only write its output"),
    "load_src": (lambda d: _load_in(d).update(src="fc23"), "not an input"),
    "core": (lambda d: d["layers"][0].update(core=7), "out of range"),
    "index": (lambda d: d["layers"][1].update(index=5), "expected 1"),
    "order": (lambda d: d["layers"].reverse(), "expected 0"),
    "tensor_runs": (lambda d: d["tensors"]["conv0"].update(runs=[[0, 1, 1]]), "runs cover"),
    "dram": (lambda d: d.update(dram_bytes=10), "outside DRAM"),
    "mapping": (lambda d: d["layers"][0]["mapping"].update(mode="magic"), "unknown mapping mode"),
    "free_with_instr": (lambda d: d["layers"][3]["instructions"].append(_first(d, "STORE")), "free"),
    "empty_range": (lambda d: _first(d, "COMPUTE").update(c1=0), "empty or reversed"),
    "layer_record": (lambda d: d["layers"][0]["layer"].update(kind="warp"), "malformed layer"),
    "top_level": (lambda d: d.clear(), "not a dualopu program"),
    "model_version": (lambda d: d.update(model_version=1), "model version"),
    "weight_bytes": (lambda d: _load_w(d).update(bytes=1), "weight LOAD"),
    "weight_load_removed": (lambda d: _drop_w(d), "LOAD"),
    "tiling": (lambda d: d["layers"][0]["tiling"].update(tr=1), "not the plan's"),
    "core_buffers": (lambda d: d["cores"][0].update(weight_buffer_kib=0.01), "plan"),
}


def _load_w(d: dict) -> dict:
    for lp in d["layers"]:
        for ins in lp["instructions"]:
            if ins["op"] == "LOAD" and ins["buf"] == "w":
                return ins
    raise AssertionError


def _drop_w(d: dict) -> None:
    for lp in d["layers"]:
        ins = lp["instructions"]
        k = next((n for n, i in enumerate(ins) if i["op"] == "LOAD" and i["buf"] == "w"), None)
        if k is not None:
            del ins[k]
            return
    raise AssertionError


def _load_in(d: dict) -> dict:
    for lp in d["layers"]:
        for ins in lp["instructions"]:
            if ins["op"] == "LOAD" and ins["buf"] == "in":
                return ins
    raise AssertionError


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_malformed_program_refused(prog_dict: dict, name: str) -> None:
    d = copy.deepcopy(prog_dict)
    mutate, msg = MUTATIONS[name]
    mutate(d)
    with pytest.raises(ProgramError, match=msg) as exc:
        Program.from_json(json.dumps(d))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", '"program"', "\xff\xfe"])
def test_not_a_program_refused(text: str) -> None:
    with pytest.raises(ProgramError):
        Program.from_json(text)


def test_program_for_other_hardware_refused() -> None:
    prog = compile_network(all_kinds_net(32), load_hardware("dual-opu"))
    with pytest.raises(ProgramError, match="compiled for"):
        simulate_cycles(prog, load_hardware("single-opu"))
    with pytest.raises(ProgramError, match="pe_count"):
        simulate_cycles(prog, load_hardware("dual-opu").replace_core(0, pe_count=32))


def test_oversized_tile_refused(prog_dict: dict) -> None:
    """A tile larger than half a buffer: the validator refuses it (it is not the plan's tile),
    and the cycle simulator, which does not trust the plan, refuses it in an in-memory program."""
    d = copy.deepcopy(prog_dict)
    lp = d["layers"][0]
    for ins in lp["instructions"]:
        if ins["op"] == "COMPUTE":
            ins["r0"], ins["r1"] = 0, lp["layer"]["out_shape"][2]
            ins["c0"], ins["c1"] = 0, lp["layer"]["out_shape"][1]
    d["cores"][0]["output_buffer_kib"] = 1
    with pytest.raises(ProgramError, match="the plan's"):  # its tiling, or (same tiling) its tile size
        Program.from_json(json.dumps(d))
    prog = compile_network(all_kinds_net(32), load_hardware("dual-opu"))
    first = prog.layers[0]
    _, cout, hout, _ = first.layer.out_shape
    big = tuple(dataclasses.replace(i, c0=0, c1=cout, r0=0, r1=hout) if isinstance(i, Compute) else i
                for i in first.instrs)
    small = load_hardware("dual-opu").replace_core(0, output_buffer_kib=1)
    bad = dataclasses.replace(prog, cores=(core_snapshot(small.cores[0]), *prog.cores[1:]),
                              layers=(dataclasses.replace(first, instrs=big), *prog.layers[1:]))
    with pytest.raises(ProgramError, match="half the output buffer"):
        simulate_cycles(bad, small)


# ---- CLI ----------------------------------------------------------------------------------


def test_cli_malformed_program_exit_2(tmp_path, prog_dict: dict) -> None:
    runner = CliRunner()
    bad = tmp_path / "prog.json"
    d = copy.deepcopy(prog_dict)
    _first(d, "COMPUTE")["in_slot"] = 5
    bad.write_text(json.dumps(d))
    r = runner.invoke(app, ["simulate", "mobilenet_v2", "--hw", "dual-opu", "--program", str(bad)])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    err = r.stderr
    assert "in_slot" in err and len(err.strip().splitlines()) == 1
    bad.write_text("garbage")
    r = runner.invoke(app, ["simulate", "mobilenet_v2", "--program", str(bad)])
    assert r.exit_code == 2 and "not valid JSON" in r.stderr


HAS_LOADER = importlib.util.find_spec("dualopu.ir.loader") is not None


@pytest.mark.skipif(not HAS_LOADER, reason="dualopu.ir.loader not available yet")
def test_cli_compile_then_simulate(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "prog.json"
    r = runner.invoke(app, ["compile", "mobilenet_v2", "--hw", "dual-opu", "-o", str(out), "--input-size", "64",
                            "--listing"])
    assert r.exit_code == 0, r.output
    assert "COMPUTE" in r.stdout and out.is_file()
    prog = Program.load(out)
    r = runner.invoke(app, ["simulate", "mobilenet_v2", "--hw", "dual-opu", "--input-size", "64",
                            "--program", str(out), "--functional", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["bit_exact"] is True and res["max_abs_diff_lsb"] == 0
    assert res["cycles_sim"] > 0 and res["cycles_analytical"] > 0
    assert len(res["layers"]) == len(prog.layers)
    # a program for another input size or hardware is refused
    r = runner.invoke(app, ["simulate", "mobilenet_v2", "--hw", "dual-opu", "--program", str(out)])
    assert r.exit_code == 2 and "compiled for" in r.stderr
    r = runner.invoke(app, ["simulate", "mobilenet_v2", "--hw", "single-opu", "--input-size", "64",
                            "--program", str(out)])
    assert r.exit_code == 2 and "compiled for" in r.stderr
    r = runner.invoke(app, ["simulate", "mobilenet_v2", "--hw", "tpu-like", "--input-size", "64"])
    assert r.exit_code == 0 and "analytical" in r.stdout


_VALUES = st.one_of(st.integers(-3, 70000), st.sampled_from(["", "in", "w", "conv0", "LOAD", "STORE"]),
                    st.none(), st.booleans(), st.lists(st.integers(0, 5), max_size=4), st.floats(-1, 1e9))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_program_refused_or_handled(prog_dict: dict, data: st.DataObject) -> None:
    """Corrupt one field anywhere: parsing raises ProgramError or yields a program that both
    simulators run or refuse with a user error (never an unexpected exception)."""
    d = copy.deepcopy(prog_dict)
    node: object = d
    path = []
    while isinstance(node, dict | list) and node and (not path or data.draw(st.booleans())):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        k = data.draw(st.sampled_from(keys))
        path.append(k)
        if not isinstance(node[k], dict | list) or not node[k]:
            break
        node = node[k]
    parent: object = d
    for k in path[:-1]:
        parent = parent[k]  # type: ignore[index]
    if path:
        parent[path[-1]] = data.draw(_VALUES)  # type: ignore[index]
    try:
        prog = Program.from_json(json.dumps(d))
    except ProgramError:
        return
    net = all_kinds_net(32)
    q = _QNET
    try:
        simulate_cycles(prog, load_hardware("dual-opu"))
        run_functional(prog, q, np.zeros(net.input_shape, dtype=np.int8))
    except DualOpuError:
        pass


_QNET = quantize(all_kinds_net(32), seed=0)


HAS_ZOO = importlib.util.find_spec("dualopu.ir.zoo") is not None
ZOO = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "shufflenet_v2_x1_0",
       "squeezenet1_1", "mnasnet1_0", "efficientnet_b0", "resnet18")


@pytest.mark.skipif(not HAS_ZOO, reason="dualopu.ir.zoo not available yet")
@pytest.mark.parametrize("name", ZOO)
def test_builtin_networks_conservation(name: str) -> None:
    """At 224x224 on every preset: tiles = the model's, MACs issued = network MACs, every output
    element stored exactly once."""
    from dualopu.ir.zoo import build  # type: ignore[import-not-found]

    net = build(name)
    for p in PRESETS:
        hw = load_hardware(p)
        prog = compile_network(net, hw)
        test_tiling_is_the_models((net, hw, prog))
        test_macs_conserved((net, hw, prog))
        test_every_output_element_written_once((net, hw, prog))
