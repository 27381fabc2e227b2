"""Event-driven cycle simulator: exact engine behaviour on hand-made jobs, closed forms of
single layers, DRAM sharing between cores, and agreement with the analytical model."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from dualopu.compiler import Compute, Load, Store, compile_network
from dualopu.cost.evaluate import evaluate
from dualopu.errors import ScheduleError
from dualopu.hw.config import Hardware, hardware_from_dict, load_hardware
from dualopu.ir.network import Network
from dualopu.sim import (
    GAP_FIXES,
    Job,
    Task,
    analyze_gaps,
    compare_cycles,
    run_jobs,
    simulate_cycles,
    simulate_tasks,
)
from dualopu.sim.testnets import NetBuilder, all_kinds_net, inverted_residual_net
from dualopu.sim.timing import DMA, EXEC, TimedLayer

PRESETS = ("dual-opu", "single-opu", "tpu-like", "opu")


def _job(core: int, units: list[int], work: list[float], deps: list[tuple[int, ...]] | None = None,
         fixed: float = 0.0, **kw: object) -> Job:
    deps = deps if deps is not None else [()] * len(units)
    t = TimedLayer(unit=tuple(units), fixed=(fixed,) * len(units), work=tuple(work), deps=tuple(deps))
    return Job(core=core, timed=t, **kw)  # type: ignore[arg-type]


# ---- the engine -------------------------------------------------------------------------------


def test_dram_bandwidth_is_shared() -> None:
    """Processor sharing: two 1000 B transfers at 10 B/cycle end together at 200; 1000 + 500 B
    end at 100 (half rate) and 150 (full rate once alone)."""
    r = run_jobs([_job(0, [DMA], [1000.0]), _job(1, [DMA], [1000.0])], 2, 10.0)
    assert r.end.tolist() == pytest.approx([200.0, 200.0])
    r = run_jobs([_job(0, [DMA], [1000.0]), _job(1, [DMA], [500.0])], 2, 10.0)
    assert r.end.tolist() == pytest.approx([150.0, 100.0])
    r = run_jobs([_job(0, [DMA], [1000.0]), _job(1, [DMA], [500.0], release=120.0)], 2, 10.0)
    assert r.end.tolist() == pytest.approx([100.0, 170.0])


def test_units_overlap_and_respect_dependencies() -> None:
    # L0 (100 B), L1 (100 B), C0 (50 cyc, needs L0), C1 (50, needs L1, C0 in order), S1 (needs C1)
    j = _job(0, [DMA, DMA, EXEC, EXEC, DMA], [100.0, 100.0, 50.0, 50.0, 100.0],
             [(), (), (0,), (1,), (3,)], fixed=5.0)
    r = run_jobs([j], 1, 10.0)
    # L0 0-15, L1 15-30, C0 15-70, C1 70-125, S1 125-140
    assert r.end[0] == pytest.approx(140.0)
    assert r.exec_busy[0] == pytest.approx(110.0) and r.dma_busy[0] == pytest.approx(45.0)


def test_jobs_in_order_per_core_and_after() -> None:
    a = _job(0, [EXEC], [10.0])
    b = _job(1, [EXEC], [10.0], after=(0,))
    c = _job(0, [EXEC], [5.0])
    r = run_jobs([a, b, c], 2, 1.0)
    assert r.start.tolist() == [0.0, 10.0, 10.0] and r.end.tolist() == [10.0, 20.0, 15.0]


def test_strict_order_and_deadlock() -> None:
    a = _job(0, [EXEC], [10.0], after=(1,))
    b = _job(0, [EXEC], [10.0])
    with pytest.raises(ScheduleError, match="deadlock"):
        run_jobs([a, b], 1, 1.0, strict=True)
    r = run_jobs([a, b], 1, 1.0)  # greedy: b first
    assert r.start.tolist() == [10.0, 0.0]


# ---- single layers: closed forms ------------------------------------------------------------


def _one_conv(cin: int, cout: int, size: int, k: int = 1) -> Network:
    b = NetBuilder("one", (1, cin, size, size))
    b.conv("input", cout, k, 1, bias=False)
    return b.build()


def _hw(**core: object) -> Hardware:
    base = dict(name="r", type="regular", pe_count=16, input_size=16, ic_parallel=64, input_buffer_kib=64,
                weight_buffer_kib=64, output_buffer_kib=64, instr_overhead_cycles=16)
    return hardware_from_dict(dict(name="one-core", dram_bytes_per_cycle=32, cores=[{**base, **core}]))


def test_single_stage_layer_is_load_compute_store() -> None:
    net = _one_conv(64, 32, 8)
    hw = _hw()
    prog = compile_network(net, hw)
    assert prog.layers[0].tiling is not None and prog.layers[0].tiling.stages == 1
    w_bytes = 32 * 64 + 32 * 4  # int8 weights + float32 multipliers
    comp = math.ceil(64 / 64) * math.ceil(32 / 4) * 8 * 8  # pic 64, poc 256/64 = 4
    expect = (16 + w_bytes / 32) + (16 + 64 * 64 / 32) + (16 + comp) + (16 + 32 * 64 / 32)
    assert simulate_cycles(prog, hw).total_cycles == pytest.approx(expect)


def test_compute_bound_pipeline_hides_memory() -> None:
    """Many row tiles, compute-bound: first loads + all computes + last store."""
    net = _one_conv(64, 64, 32, k=3)
    hw = _hw(input_buffer_kib=16, output_buffer_kib=8)
    prog = compile_network(net, hw)
    lp = prog.layers[0]
    assert lp.tiling is not None and lp.tiling.stages > 4
    comps = [16 + math.ceil(64 / 64) * math.ceil((i.c1 - i.c0) / 4) * 9 * (i.r1 - i.r0) * 32
             for i in lp.instrs if isinstance(i, Compute)]
    first = [i for i in lp.instrs[:2] if isinstance(i, Load)]
    last = [i for i in lp.instrs if isinstance(i, Store)][-1]
    expect = sum(16 + i.bytes / 32 for i in first) + sum(comps) + 16 + last.bytes / 32
    assert simulate_cycles(prog, hw).total_cycles == pytest.approx(expect)


def test_memory_bound_pipeline_keeps_dram_busy() -> None:
    """Depthwise-like memory-bound layer: the DMA is busy nearly all the time."""
    b = NetBuilder("dwm", (1, 64, 64, 64))
    b.dw("input", 3, 1)
    net = b.build()
    hw = hardware_from_dict(dict(name="m", dram_bytes_per_cycle=4, cores=[
        dict(name="d", type="depthwise", pe_count=64, input_size=16, input_buffer_kib=32, weight_buffer_kib=4,
             output_buffer_kib=32)]))
    r = simulate_cycles(compile_network(net, hw), hw)
    assert r.core_dma_busy[0] / r.total_cycles > 0.97
    assert r.total_cycles >= r.dram_bytes / 4


def test_line_buffer_fill_per_depthwise_tile() -> None:
    b = NetBuilder("dw", (1, 16, 20, 20))
    b.dw("input", 3, 1)
    net = b.build()
    hw = hardware_from_dict(dict(name="d", dram_bytes_per_cycle=1e6, cores=[
        dict(name="d", type="depthwise", pe_count=16, input_size=16, input_buffer_kib=2, weight_buffer_kib=4,
             output_buffer_kib=2, instr_overhead_cycles=0)]))
    prog = compile_network(net, hw)
    tiles = [i for i in prog.layers[0].instrs if isinstance(i, Compute)]
    assert len(tiles) > 1
    r = simulate_cycles(prog, hw)
    assert r.core_exec_busy[0] == pytest.approx(20 * 20 + len(tiles) * (2 * 20 + 2))


# ---- several cores on shared DRAM -----------------------------------------------------------


def test_two_images_on_two_cores_share_dram() -> None:
    """Two images on the dual core: overlap shortens the makespan; DRAM sharing keeps it above
    the single-port bound and above the busiest core."""
    net = inverted_residual_net(64)
    hw = load_hardware("dual-opu")
    prog = compile_network(net, hw)
    one = simulate_cycles(prog, hw)
    two = simulate_tasks([Task(prog), Task(prog, release=0.0)], hw)
    assert two.makespan < 2 * one.total_cycles
    assert two.makespan >= 2 * one.dram_bytes / hw.dram_bytes_per_cycle
    assert two.makespan >= 2 * one.core_busy.max() * 0.999
    # with the DRAM port much slower, the same schedule stretches towards bytes / bandwidth
    slow = Hardware.model_validate({**hw.model_dump(), "dram_bytes_per_cycle": 4})
    slow_two = simulate_tasks([Task(prog), Task(prog)], slow)
    assert slow_two.makespan >= 2 * one.dram_bytes / 4


def test_task_split_across_cores_with_dependencies() -> None:
    net = all_kinds_net(32)
    hw = load_hardware("dual-opu")
    prog = compile_network(net, hw)
    n = len(prog.layers)
    tasks = [Task(prog, tuple(range(0, 10)), label="a"), Task(prog, tuple(range(10, n)), after=(0,), label="b")]
    r = simulate_tasks(tasks, hw)
    assert r.task_start[1] >= r.task_end[0]
    assert r.makespan == pytest.approx(simulate_cycles(prog, hw).total_cycles)
    with pytest.raises(ScheduleError):
        simulate_tasks([Task(prog, after=(1,)), Task(prog)], hw)
    strict = simulate_tasks([Task(prog), Task(prog)], hw, strict=True)  # whole image 0 first on each core
    greedy = simulate_tasks([Task(prog), Task(prog)], hw)
    assert greedy.makespan <= strict.makespan


# ---- agreement with the analytical model ------------------------------------------------------

HAS_ZOO = importlib.util.find_spec("dualopu.ir.zoo") is not None
ZOO = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "shufflenet_v2_x1_0",
       "squeezenet1_1", "mnasnet1_0", "efficientnet_b0", "resnet18")
def _network(name: str) -> Network:
    if name == "inverted_residual":
        return inverted_residual_net(224, classes=1000)
    from dualopu.ir.zoo import build  # type: ignore[import-not-found]

    return build(name)


NETWORKS = ["inverted_residual", *(ZOO if HAS_ZOO else ())]


@pytest.mark.parametrize("hw_name", PRESETS)
@pytest.mark.parametrize("name", NETWORKS)
def test_analytical_model_agrees_with_simulator(name: str, hw_name: str) -> None:
    """Whole network within 5 %; per layer within 15 % for 95 % of the layers.

    Where cost/model.py misses, the test checks that the miss is *explained*: the model's
    own pipeline formula fed with the program's real quantities (`analyze_gaps`: memory-bound
    tail, loaded bytes, LOAD count, PE cycles) must meet the same bounds; the case is then an
    expected failure naming the formulas that close the gap (reported to the model's owner).
    """
    hw = load_hardware(hw_name)
    net = _network(name)
    cmp = compare_cycles(net, hw)
    whole, frac = cmp.rel_error, cmp.fraction_within(0.15)
    if abs(whole) <= 0.05 and frac >= 0.95:
        return
    gaps = analyze_gaps(net, hw)
    assert gaps.agrees("all"), (
        f"unexplained disagreement: whole {whole:+.2%}, {frac:.0%} of layers within 15%; "
        f"with every correction {gaps.whole_error('all'):+.2%}, {gaps.fraction_within('all'):.0%}; "
        f"worst {cmp.worst(5)}")
    helps = [k for k in GAP_FIXES if gaps.fraction_within(k) > frac or abs(gaps.whole_error(k)) < abs(whole) - 0.01]
    pytest.xfail(f"cost/model.py: whole {whole:+.2%}, {frac:.0%} of layers within 15% "
                 f"(corrected: {gaps.whole_error('all'):+.2%}, {gaps.fraction_within('all'):.0%}); "
                 f"formulas to fix: {', '.join(helps)}")


def test_simulated_cycles_bound_by_work() -> None:
    """Every layer takes at least its compute and its DRAM time, and the sum of layers is the total."""
    net = inverted_residual_net(96)
    for hw_name in PRESETS:
        hw = load_hardware(hw_name)
        prog = compile_network(net, hw)
        r = simulate_cycles(prog, hw)
        cost = evaluate(net, hw)
        comp = cost.matrix.compute_cycles[np.arange(len(net)), cost.core]
        assert np.all(r.layer_cycles >= comp - 1e-6)
        dram = np.array([sum(getattr(i, "bytes", 0) for i in lp.instrs) for lp in prog.layers])
        assert np.all(r.layer_cycles >= dram / hw.dram_bytes_per_cycle - 1e-6)
        assert r.total_cycles == pytest.approx(r.layer_cycles.sum())
        assert r.core_busy.sum() == pytest.approx(r.total_cycles)
