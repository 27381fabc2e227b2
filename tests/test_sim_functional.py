"""INT8 functional simulator vs onnxruntime on the exported quantized model: bit-exact."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dualopu.compiler import Load, Program, compile_network, quantize
from dualopu.compiler.quant import QLayer, QuantizedNetwork
from dualopu.errors import HardwareError, ProgramError, ShapeError
from dualopu.hw.config import Hardware, hardware_from_dict, load_hardware
from dualopu.ir.network import Network
from dualopu.sim import check_functional, run_functional, run_functional_all
from dualopu.sim.testnets import NetBuilder, all_kinds_net

PRESETS = ("dual-opu", "single-opu", "tpu-like", "opu")
#: Random layers per property test (raise it to hunt bugs: DUALOPU_HYPOTHESIS_EXAMPLES=2000).
EXAMPLES = int(os.environ.get("DUALOPU_HYPOTHESIS_EXAMPLES", "50"))


def small_hw(dataflow: str, kib: float) -> Hardware:
    if dataflow == "systolic":
        cores = [dict(name="sa", type="unified", dataflow="systolic", pe_count=4, input_size=8, ic_parallel=8,
                      input_buffer_kib=kib, weight_buffer_kib=kib, output_buffer_kib=kib)]
    else:
        cores = [
            dict(name="reg", type="regular", pe_count=8, input_size=4, ic_parallel=16, input_buffer_kib=kib,
                 weight_buffer_kib=kib, output_buffer_kib=kib),
            dict(name="dw", type="depthwise", pe_count=8, input_size=4, input_buffer_kib=kib,
                 weight_buffer_kib=kib, output_buffer_kib=kib),
        ]
    return hardware_from_dict(dict(name=f"small-{dataflow}-{kib}", dram_bytes_per_cycle=16, cores=cores))


def _input(q: QuantizedNetwork, seed: int, gain: float = 1.0) -> np.ndarray:
    return q.quantize_input(np.random.default_rng(seed).standard_normal(q.network.input_shape) * gain)


def _assert_exact(net: Network, hw: Hardware, seed: int = 0, gain: float = 1.0, per_channel: bool = True) -> None:
    q = quantize(net, seed=seed, per_channel=per_channel, calibration=1)
    prog = Program.from_json(compile_network(net, hw).to_json())
    res = check_functional(prog, q, _input(q, seed, gain))
    assert res.bit_exact, (res.first_mismatch_layer, res.max_abs_diff_lsb, res.mismatched_elements)


@pytest.mark.parametrize("hw_name", PRESETS)
@pytest.mark.parametrize("gain", [1.0, 8.0])
def test_all_layer_kinds_bit_exact(hw_name: str, gain: float) -> None:
    """Every kind and activation; ``gain`` 8 saturates most tensors (clip paths)."""
    _assert_exact(all_kinds_net(32), load_hardware(hw_name), seed=1, gain=gain)


@pytest.mark.parametrize("df,kib", [("opu", 2.0), ("systolic", 2.0), ("opu", 3.0)])
@pytest.mark.parametrize("size", [32, 36])
def test_all_layer_kinds_bit_exact_many_tiles(df: str, kib: float, size: int) -> None:
    """Small buffers: row tiles with halos, channel tiles, resident and reloaded operands."""
    try:
        hw = small_hw(df, kib)
        net = all_kinds_net(size)
        compile_network(net, hw)
    except HardwareError:
        pytest.skip("does not fit")
    _assert_exact(net, hw, seed=2, per_channel=False)


@st.composite
def conv_case(draw: st.DrawFn) -> tuple[Network, str, float]:
    cin = draw(st.integers(1, 24))
    kind = draw(st.sampled_from(["dense", "grouped", "depthwise"]))
    if kind == "depthwise":
        groups, cout = cin, cin * draw(st.sampled_from([1, 2]))
    elif kind == "grouped":
        divs = [d for d in range(2, cin + 1) if cin % d == 0 and d < cin] or [1]
        groups = draw(st.sampled_from(divs))
        cout = groups * draw(st.integers(1, 4))
    else:
        groups, cout = 1, draw(st.integers(1, 40))
    k = draw(st.sampled_from([1, 2, 3, 5]))
    s = draw(st.sampled_from([1, 2, 3]))
    d = draw(st.sampled_from([1, 1, 2]))
    p = draw(st.integers(0, (k - 1) * d))
    h = draw(st.integers(1, 24))
    w = draw(st.integers(1, 24))
    assume(h + 2 * p >= (k - 1) * d + 1 and w + 2 * p >= (k - 1) * d + 1)
    act = draw(st.sampled_from([None, "relu", "relu6", "hardswish", "sigmoid", "silu", "hardsigmoid"]))
    b = NetBuilder("conv_case", (1, cin, h, w))
    b.conv("input", cout, k, s, p, groups=groups, act=act, bias=draw(st.booleans()), d=d)
    return b.build(), draw(st.sampled_from(["opu", "systolic"])), draw(st.sampled_from([0.5, 1.0, 4.0]))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_case(), st.integers(0, 2**16))
def test_random_conv_layers_bit_exact(case: tuple[Network, str, float], seed: int) -> None:
    net, df, kib = case
    try:
        hw = small_hw(df, kib)
        compile_network(net, hw)
    except HardwareError:
        assume(False)
        return
    _assert_exact(net, hw, seed=seed, gain=float(seed % 4 + 1))


@st.composite
def pool_case(draw: st.DrawFn) -> Network:
    c = draw(st.integers(1, 12))
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    h = draw(st.integers(k, 20))
    w = draw(st.integers(k, 20))
    op = draw(st.sampled_from(["maxpool", "avgpool"]))
    b = NetBuilder("pool_case", (1, c, h, w))
    x = b.conv("input", c, 1)
    x = b.pool(x, op, k, s, p, ceil=draw(st.booleans()), include_pad=draw(st.booleans()),
               act=draw(st.sampled_from([None, "relu", "hardswish"])))
    y = b.conv(x, c, 1, act="sigmoid")
    b.mul(x, b.gap(y))
    b.add(x, y, act=draw(st.sampled_from([None, "relu", "silu"])))
    return b.build(outputs=(b.layers[-1].name, b.layers[-2].name))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_case(), st.integers(0, 2**16))
def test_random_pool_add_mul_bit_exact(net: Network, seed: int) -> None:
    _assert_exact(net, small_hw("opu", float(seed % 3 + 1)), seed=seed)


def test_multiple_outputs_and_views_read_back() -> None:
    net = all_kinds_net(32)
    q = quantize(net)
    prog = compile_network(net, load_hardware("dual-opu"))
    x = _input(q, 0)
    all_t = run_functional_all(prog, q, x)
    assert np.array_equal(run_functional(prog, q, x), all_t[net.outputs[0]])
    assert np.array_equal(all_t["input"], x)
    g = all_t["mul10"][0]
    assert np.array_equal(all_t["shuffle15"][0], np.concatenate(
        [g[:16], all_t["conv13"][0]]).reshape(2, 16, 4, 4).transpose(1, 0, 2, 3).reshape(32, 4, 4))


def test_comparison_can_fail() -> None:
    """A simulator fed different parameters than the exported model is caught (not vacuous)."""
    net = all_kinds_net(32)
    q = quantize(net, seed=0)
    prog = compile_network(net, load_hardware("dual-opu"))
    i = net.index["conv16"]
    ql = q.layers[i]
    assert ql.weight is not None
    w = ql.weight.copy()
    w[0, 0, 0, 0] = -w[0, 0, 0, 0] if w[0, 0, 0, 0] else 100
    tampered = QuantizedNetwork(q.network, q.scales, (*q.layers[:i], QLayer(**{**ql.__dict__, "weight": w}),
                                                      *q.layers[i + 1:]))
    x = _input(q, 0)
    sim = run_functional_all(prog, tampered, x)
    ref = run_functional_all(prog, q, x)
    assert not np.array_equal(sim["conv16"], ref["conv16"])
    # the check against onnxruntime uses the exported model of the given qnet, so compare by hand
    from dualopu.compiler import build_qonnx, run_qonnx

    ort = run_qonnx(build_qonnx(q, intermediate=True), x)
    assert not np.array_equal(sim["conv16"], ort["conv16"])


def test_tampered_program_refused() -> None:
    net = all_kinds_net(32)
    q = quantize(net)
    d = compile_network(net, load_hardware("dual-opu")).to_dict()
    d2 = copy.deepcopy(d)
    for ins in d2["layers"][0]["instructions"]:  # loads a row too few
        if ins["op"] == "LOAD" and ins["buf"] == "in":
            ins["r1"] -= 1
            width = ins.get("q1", 32) - ins.get("q0", 0)  # a column tile (spatial_tiling: opu) or the row
            ins["bytes"] -= (ins["c1"] - ins["c0"]) * width
            break
    with pytest.raises(ProgramError, match="slot holds"):
        run_functional(Program.from_json(json.dumps(d2)), q, _input(q, 0))
    d3 = copy.deepcopy(d)
    d3["layers"][0]["instructions"] = [i for i in d3["layers"][0]["instructions"]
                                       if not (i["op"] == "LOAD" and i["buf"] == "w")]
    with pytest.raises(ProgramError, match="weight LOADs move 0 B"):  # the validator: not the plan's bytes
        Program.from_json(json.dumps(d3))


def _weight_loads(prog: Program, how: str) -> Program:
    """``prog`` with every weight LOAD of its MAC layers removed or shortened to one byte
    (built in memory, past the validator, which refuses both)."""
    layers = []
    for lp in prog.layers:
        if lp.layer.kind.value in ("pool", "add", "mul", "activation", "concat", "shuffle"):
            layers.append(lp)
            continue
        instrs = []
        for ins in lp.instrs:
            if isinstance(ins, Load) and ins.buf == "w":
                if how == "removed":
                    continue
                ins = dataclasses.replace(ins, bytes=1)
            instrs.append(ins)
        layers.append(dataclasses.replace(lp, instrs=tuple(instrs)))
    return dataclasses.replace(prog, layers=tuple(layers))


@pytest.mark.parametrize("how", ["removed", "shortened"])
def test_weight_loads_really_travel(how: str) -> None:
    """The functional simulator computes with the bytes its weight LOADs bring into the buffer:
    with every weight LOAD removed or shortened to 1 byte the program fails functional
    verification (a ProgramError naming the missing weights, or a mismatch against
    onnxruntime), and the program validator refuses it. Can catch a simulator that reads
    weights from the quantized network instead of the buffer; cannot catch a weight image
    whose layout is wrong in the same way for the compiler's byte counts and the simulator."""
    net = all_kinds_net(32)
    q = quantize(net)
    prog = compile_network(net, load_hardware("dual-opu"))
    x = _input(q, 0)
    assert check_functional(prog, q, x).bit_exact  # the intact program is exact
    bad = _weight_loads(prog, how)
    with pytest.raises(ProgramError, match="weight"):
        Program.from_json(bad.to_json())
    try:
        res = check_functional(bad, q, x)
    except ProgramError as exc:
        assert "weights" in str(exc)
    else:
        assert not res.bit_exact


def test_bad_input_refused() -> None:
    net = all_kinds_net(32)
    q = quantize(net)
    prog = compile_network(net, load_hardware("dual-opu"))
    with pytest.raises(ShapeError, match="int8"):
        run_functional(prog, q, np.zeros(net.input_shape, dtype=np.float32))
    with pytest.raises(ShapeError, match="shape"):
        run_functional(prog, q, np.zeros((1, 3, 8, 8), dtype=np.int8))
    other = quantize(all_kinds_net(64))
    with pytest.raises(ProgramError):
        run_functional(prog, other, np.zeros(net.input_shape, dtype=np.int8))


def test_broadcast_operand_first() -> None:
    b = NetBuilder("bcast_first", (1, 8, 6, 6))
    x = b.conv("input", 8, 1)
    s = b.conv(b.gap(x), 8, 1, act="hardsigmoid")
    b.mul(s, x)
    b.add(s, x, act="relu")
    net = b.build(outputs=(b.layers[-1].name, b.layers[-2].name))
    for hw in (load_hardware("dual-opu"), small_hw("opu", 0.5)):
        _assert_exact(net, hw, seed=4)


def test_huge_accumulators_round_identically() -> None:
    """|acc| up to 127*127*4608 > 2**24: float32(acc) rounds, identically in both."""
    b = NetBuilder("big", (1, 512, 5, 5))
    b.conv("input", 16, 3, 1, bias=True)
    net = b.build()
    rng = np.random.default_rng(0)
    w = np.sign(rng.standard_normal((16, 512, 3, 3)))
    w[:8] = 1.0  # half the channels: all-positive weights, maximal accumulators
    weights = {"conv0": {"weight": w, "bias": rng.standard_normal(16)}}
    q = quantize(net, weights=weights, calibration=np.full(net.input_shape, 1.0))
    x = np.full(net.input_shape, 127, dtype=np.int8)
    x[0, :, 0, 0] = -128
    prog = compile_network(net, load_hardware("dual-opu"))
    acc_max = 127 * 127 * 512 * 9
    assert acc_max > 2**24
    res = check_functional(prog, q, x)
    assert res.bit_exact, res


HAS_ZOO = importlib.util.find_spec("dualopu.ir.zoo") is not None
ZOO = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "shufflenet_v2_x1_0",
       "squeezenet1_1", "mnasnet1_0", "efficientnet_b0", "resnet18")
#: Smallest square input each built-in network is tested at (64 survives every stride).
SMALL = dict.fromkeys(ZOO, 64)


@pytest.mark.skipif(not HAS_ZOO, reason="dualopu.ir.zoo not available yet")
@pytest.mark.parametrize("hw_name", PRESETS)
@pytest.mark.parametrize("name", ZOO)
def test_builtin_networks_bit_exact(name: str, hw_name: str) -> None:
    """Each built-in network at a small input, random weights: simulator == onnxruntime, bit for bit."""
    from dualopu.ir.zoo import build  # type: ignore[import-not-found]

    size = SMALL[name]
    net = build(name, input_shape=(1, 3, size, size))
    _assert_exact(net, load_hardware(hw_name), seed=ZOO.index(name))
