"""The one plan: the compiler's tiles are the plan's, dilation is planned as compiled, core
parameters come from `Core`'s fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from onnx import TensorProto, helper, numpy_helper

from dualopu.compiler import Compute, Load, Post, Program, compile_network, quantize
from dualopu.cost.evaluate import evaluate
from dualopu.errors import HardwareError
from dualopu.hw.config import Core, CoreType, Hardware, load_hardware
from dualopu.hw.params import NUMERIC_FIELDS, CoreParams, array_name
from dualopu.ir.network import MAC_KINDS, Layer, LayerKind, Network
from dualopu.ir.onnx_import import import_onnx
from dualopu.plan import MODES, ORDERS, plan_tiles
from dualopu.sim import check_functional
from dualopu.sim.verify import compare_cycles
from test_cost_model import cores, layers


def test_core_params_follow_core_fields() -> None:
    """Every numeric `Core` field is a CoreParams array (KiB fields in bytes): a new core
    field needs no second declaration. Can catch a field dropped by `CoreParams`; cannot
    catch a field the planner should read but does not."""
    core = load_hardware("dual-opu").cores[0]
    p = CoreParams.of(core)
    assert set(p.arrays) == {array_name(k) for k in NUMERIC_FIELDS}
    for k in NUMERIC_FIELDS:
        scale = 1024.0 if k.endswith("_kib") else 1.0
        assert float(getattr(p, array_name(k))[0, 0]) == float(getattr(core, k)) * scale
    switches = {"layout", "spatial_tiling"}
    fields = set(Core.model_fields) - {"name", "type", "dataflow", "runs_elementwise"} - switches
    assert set(NUMERIC_FIELDS) == fields
    many = CoreParams.like(core, pe_count=[4, 8, 16])
    assert many.n_configs == 3 and many.input_buffer_bytes.shape == (3, 1)
    with pytest.raises(TypeError, match="unknown core field"):
        CoreParams.batch(core.type, core.dataflow, pe_count=4, warp_drive=1)


def _one_layer_net(layer: Layer) -> Network:
    return Network(name="one", input_shape=layer.in_shape, layers=(Layer(**{**layer.__dict__, "name": "l0"}),))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers(kinds=("conv", "pw", "dw", "grouped", "fc", "pool", "add")), cores())
def test_compiled_tiles_are_the_plans(layer: Layer, core: Core) -> None:
    """Field by field, the compiled program's mapping and tiles are the plan's, and its
    instructions realize them (stages, channel and row tiles, weight LOADs per channel group);
    the compiler refuses exactly the layers the plan (and so `evaluate`) refuses. Fails if a
    second copy of the tiling rules drifts from `plan_tiles`. Cannot catch a rule that is
    wrong in the plan itself (the cycle and functional simulators check those)."""
    _check_compiled_is_plan(layer, core, Hardware(name="h", cores=(core,)))


def _opu_rules(core: Core) -> Core:
    """``core`` with every OPU-fidelity rule on (issue 12), as the presets set them."""
    extra: dict[str, object] = {"layout": "opu64", "compute_overhead_cycles": 30, "instr_overhead_cycles": 0,
                                "store_elems_per_cycle": 64.0, "spatial_tiling": "opu"}
    if core.type is not CoreType.DEPTHWISE:
        extra |= {"channel_enhance": True, "widen_per_tile": True}
    if core.type is not CoreType.REGULAR:
        extra["dw_channel_group"] = 64
    return Core.model_validate({**core.model_dump(), **extra})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers(kinds=("conv", "pw", "dw", "grouped", "fc", "pool", "add")), cores(dataflow="opu"))
def test_compiled_tiles_are_the_plans_under_opu_rules(layer: Layer, core: Core) -> None:
    """The same with the OPU rules on and the burst DRAM model: channel enhancement, per-tile
    widening, 64-channel depthwise groups, COMPUTE overhead; and the cycle simulator times every
    instruction (no slot overfilled, every mapping accepted). Fails if the compiler or the timer
    does not follow a rule the plan applies."""
    from dualopu.hw.config import DramModel
    from dualopu.sim.timing import time_layer

    core = _opu_rules(core)
    hw = Hardware(name="h", cores=(core,), dram_model=DramModel(mode="burst"))
    prog = _check_compiled_is_plan(layer, core, hw)
    if prog is not None:
        t = time_layer(prog.layers[0], core, hw.data_bytes, hw.dram_bytes_per_cycle, hw.dram_model)
        assert len(t) == len(prog.layers[0].instrs)


def _check_compiled_is_plan(layer: Layer, core: Core, hw: Hardware) -> Program | None:
    assume(layer.kind not in MAC_KINDS or layer.kind in core.runs)
    net = _one_layer_net(layer)
    plan = plan_tiles(net.table, CoreParams.of(core), hw.data_bytes)
    try:
        prog = compile_network(net, hw, placement=[0])
    except HardwareError:
        assert not plan.feasible[0, 0]
        with pytest.raises(HardwareError):
            evaluate(net, hw)
        return None
    assert plan.feasible[0, 0]
    lp = prog.layers[0]
    assert lp.tiling is not None
    assert lp.mapping.mode == MODES[int(plan.mode[0, 0])]
    assert lp.tiling.order == ORDERS[int(plan.order[0, 0])]
    for f in ("toc", "tr", "n_oc", "n_rows"):
        assert getattr(lp.tiling, f) == plan.column(0)[f], f
    if lp.mapping.mode == "conv":
        assert (lp.mapping.pic, lp.mapping.poc) == (plan.pic[0, 0], plan.poc[0, 0])
    if lp.mapping.mode == "dw":
        assert lp.mapping.pw == plan.pw[0, 0]
    execs = [i for i in lp.instrs if isinstance(i, Compute | Post)]
    assert len(execs) == plan.stages[0, 0] == evaluate(net, hw).matrix.stages[0, 0]
    assert len({(i.c0, i.c1) for i in execs}) == lp.tiling.n_oc
    assert len({(i.r0, i.r1) for i in execs}) == lp.tiling.n_rows
    assert len({(i.q0, i.q1) for i in execs if isinstance(i, Compute)} or {0}) == lp.tiling.n_cols
    assert (lp.tiling.tw, lp.tiling.n_cols) == (plan.column(0)["tw"], plan.column(0)["n_cols"])
    assert max(i.c1 - i.c0 for i in execs) <= lp.tiling.toc and max(i.r1 - i.r0 for i in execs) <= lp.tiling.tr
    w_loads = [i for i in lp.instrs if isinstance(i, Load) and i.buf == "w"]
    if layer.kind is LayerKind.DEPTHWISE:
        assert len(w_loads) == np.ceil(plan.n_oc[0, 0] / plan.w_tiles_per_load[0, 0])
    n_loads = sum(isinstance(i, Load) for i in lp.instrs)
    if layer.kind is LayerKind.DEPTHWISE and layer.out_channels > layer.in_channels:
        assert n_loads <= plan.load_instrs[0, 0]  # resident input channels are not reloaded
    else:
        assert n_loads == plan.load_instrs[0, 0]
    return prog


# ---- dilation ------------------------------------------------------------------------------


def _dilated_onnx(path: Path, d: int, c: int = 64, hw: int = 56, depthwise: bool = False) -> Path:
    """A 3x3 convolution with ONNX ``dilations`` d (padding d keeps the size), then ReLU."""
    rng = np.random.default_rng(d)
    groups = c if depthwise else 1
    w = (rng.standard_normal((c, c // groups, 3, 3)) * 0.1).astype(np.float32)
    b = (rng.standard_normal(c) * 0.01).astype(np.float32)
    conv = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], dilations=[d, d],
                            pads=[d, d, d, d], strides=[1, 1], group=groups)
    relu = helper.make_node("Relu", ["y"], ["z"])
    graph = helper.make_graph(
        [conv, relu], "dilated",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, hw, hw])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, c, hw, hw])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    out = path / f"dilated{d}{'_dw' if depthwise else ''}.onnx"
    onnx.save(model, str(out))
    return out


def _small(kib: float) -> Hardware:
    return load_hardware("dual-opu").replace_core(0, input_buffer_kib=kib).replace_core(1, input_buffer_kib=kib / 2)


@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("d", [2, 4])
def test_dilated_conv_planned_as_compiled(tmp_path: Path, d: int, depthwise: bool) -> None:
    """ONNX dilations 2 and 4: the model plans the dilated kernel extent, so `evaluate` and
    the compiled program have the same stages, the model agrees with the cycle simulator
    (whole layer within 5 %), and INT8 execution is bit-exact against onnxruntime. Before the
    plan the model planned 14 stages where the program ran 28 (d=2, 48 KiB input buffer)."""
    net = import_onnx(_dilated_onnx(tmp_path, d, depthwise=depthwise))
    conv = next(i for i, layer in enumerate(net.layers) if layer.kind in MAC_KINDS)
    assert net.layers[conv].dilation == (d, d)
    assert net.table.kh_ext[conv] == 2 * d + 1
    hw = _small(96.0)
    cost = evaluate(net, hw)
    prog = compile_network(net, hw)
    core = int(cost.core[conv])
    assert prog.layers[conv].core == core
    tiling = prog.layers[conv].tiling
    assert tiling is not None
    assert tiling.stages == cost.matrix.stages[conv, core] > 1
    cmp = compare_cycles(net, hw, prog)
    assert abs(cmp.rel_error) <= 0.05, cmp.worst(3)
    q = quantize(net, seed=d)
    x = q.quantize_input(np.random.default_rng(0).standard_normal(net.input_shape))
    assert check_functional(prog, q, x).bit_exact


@pytest.mark.parametrize("kib", [24.0, 40.0, 48.0, 64.0, 128.0])
def test_dilation_4_evaluate_and_compile_agree_on_refusal(tmp_path: Path, kib: float) -> None:
    """At dilation 4 (9 input rows per output row) `evaluate` and `compile_network` accept
    and refuse the same buffers, with the same one-line message naming the input buffer.
    Before the plan `evaluate` accepted 48 KiB (it planned 3 rows) and the compiler refused."""
    net = import_onnx(_dilated_onnx(tmp_path, 4))
    # row bands: the minimum tile below (square tiles, spatial_tiling: opu, need fewer columns)
    hw = load_hardware("dual-opu").replace_core(0, input_buffer_kib=kib, spatial_tiling="rows")
    try:
        evaluate(net, hw)
        accepted = True
    except HardwareError as exc:
        accepted, msg = False, str(exc)
        assert "cores[0].input_buffer_kib" in msg and "\n" not in msg
    if accepted:
        compile_network(net, hw)
    else:
        with pytest.raises(HardwareError, match=r"cores\[0\]\.input_buffer_kib"):
            compile_network(net, hw)
    need = 9 * 56 * 64  # 9 input rows x 56 x 64 channels in one half buffer
    assert accepted == (kib * 1024 / 2 >= need)
