"""The one placement rule (`dualopu.cost.placement`) and its users.

What these tests can catch: a layer placed on a core that cannot run it or outside the
policy's allowed set, the batched rule disagreeing with a plain-Python greedy written here
(independent of numpy indexing), users (`evaluate`, `compile_network`, the scheduler)
drifting to another placement, two equal cores left unbalanced. What they cannot catch:
whether the greedy is a good balancing rule (that is judged by the schedules and bounds).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualopu.compiler import compile_network
from dualopu.cost import cost_matrix, evaluate, place, place_batch, place_workload
from dualopu.errors import HardwareError
from dualopu.hw import load_hardware
from dualopu.hw.config import Hardware
from dualopu.ir.network import MAC_KINDS
from dualopu.ir.zoo import build, list_zoo
from dualopu.sched import Workload, build_task_graph

DUAL = load_hardware("dual-opu")


def three_core() -> Hardware:
    """dual-opu with a second regular core (two cores of one type)."""
    d = DUAL.model_dump(mode="json")
    reg = dict(d["cores"][0], name="regular1")
    return Hardware.model_validate({**d, "name": "tri", "cores": [d["cores"][0], reg, d["cores"][1]]})


def _greedy(cycles: np.ndarray, types: list[str], mac: np.ndarray) -> np.ndarray:
    """Plain-Python statement of the balanced rule, for one configuration."""
    L, K = cycles.shape
    core = [-1] * L
    allowed = []
    for i in range(L):
        cap = [k for k in range(K) if np.isfinite(cycles[i, k])]
        fast = min(cap, key=lambda k: (cycles[i, k], k))
        allowed.append([k for k in cap if not mac[i] or types[k] == types[fast]])
    load = [0.0] * K
    free = [max(cycles[i, k] for k in allowed[i]) <= 0 for i in range(L)]
    for i in range(L):
        if len(allowed[i]) == 1 and not free[i]:
            core[i] = allowed[i][0]
            load[core[i]] += cycles[i, core[i]]
    flex = sorted(
        (i for i in range(L) if len(allowed[i]) > 1 and not free[i]),
        key=lambda i: (-min(cycles[i, k] for k in allowed[i]), i),
    )
    for i in flex:
        k = min(allowed[i], key=lambda k: (load[k] + cycles[i, k], k))
        core[i] = k
        load[k] += cycles[i, k]
    return np.array(core)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), L=st.integers(1, 30), C=st.integers(1, 5))
def test_batch_matches_plain_greedy(data: st.DataObject, L: int, C: int) -> None:
    """Random cost tables (no zero-cost layers): every candidate of the batch is placed as
    the plain greedy places it alone, and busy cycles are the per-core sums."""
    types = ["regular", "regular", "depthwise"]
    mac = np.array(data.draw(st.lists(st.booleans(), min_size=L, max_size=L)))
    cyc = np.array(data.draw(st.lists(st.floats(1.0, 1e4), min_size=C * L * 3, max_size=C * L * 3))).reshape(
        C, L, 3
    )
    dw = np.array(data.draw(st.lists(st.booleans(), min_size=L, max_size=L)))
    cyc[:, mac & dw, :2] = np.inf  # depthwise MAC layers: only the depthwise core
    cyc[:, mac & ~dw, 2] = np.inf  # other MAC layers: only regular cores
    preds = [() if i == 0 else (i - 1,) for i in range(L)]
    core, busy = place_batch(cyc, types, mac, preds)
    for c in range(C):
        np.testing.assert_array_equal(core[c], _greedy(cyc[c], types, mac))
        want = np.bincount(core[c], weights=cyc[c][np.arange(L), core[c]], minlength=3)
        np.testing.assert_allclose(busy[c], want)


@pytest.mark.parametrize("name", list_zoo())
def test_balanced_never_worse_and_capable(name: str) -> None:
    net = build(name)
    cm = cost_matrix(net, DUAL)
    p = place(net, DUAL, cm)
    rows = np.arange(len(net))
    assert np.isfinite(cm.cycles[rows, p.core]).all()
    assert p.allowed[rows, p.core].all()
    fast = place(net, DUAL, cm, "fastest")
    assert p.busy_cycles.max() <= fast.busy_cycles.max() * (1 + 1e-12)
    for i, layer in enumerate(net.layers):
        if layer.kind in MAC_KINDS:
            assert p.core[i] == int(np.argmin(cm.cycles[i]))  # one core of each type: the fastest


def test_two_equal_cores_share_the_convolutions() -> None:
    """Greedy on identical cores: their loads differ by at most the largest layer moved."""
    hw = three_core()
    net = build("mobilenet_v2")
    cm = cost_matrix(net, hw)
    p = place(net, hw, cm)
    assert p.busy_cycles[0] > 0 and p.busy_cycles[1] > 0
    biggest = float(np.where(np.isfinite(cm.cycles[:, 0]), cm.cycles[:, 0], 0).max())
    assert abs(p.busy_cycles[0] - p.busy_cycles[1]) <= biggest + 1e-6
    core, busy = place_batch(
        np.stack([cm.cycles, cm.cycles]),
        [c.type.value for c in hw.cores],
        np.array([lay.kind in MAC_KINDS for lay in net.layers]),
        net.predecessors,
    )
    np.testing.assert_array_equal(core[1], p.core)
    np.testing.assert_allclose(busy[0], p.busy_cycles)


def test_users_share_the_placement() -> None:
    """evaluate, compile_network and the scheduler's task graph all run place()'s cores."""
    net = build("mobilenet_v2", (1, 3, 64, 64))
    p = place(net, DUAL)
    np.testing.assert_array_equal(evaluate(net, DUAL).core, p.core)
    np.testing.assert_array_equal([lp.core for lp in compile_network(net, DUAL).layers], p.core)
    g = build_task_graph(Workload.single(net, 3), DUAL)
    np.testing.assert_array_equal(g.default_core, np.tile(p.core, 3))


def test_mix_placement_splits_per_network() -> None:
    nets = [build("mobilenet_v2", (1, 3, 64, 64)), build("squeezenet1_1", (1, 3, 64, 64))]
    p = place_workload(nets, DUAL, images=[2, 1])
    parts = p.split([len(n) for n in nets])
    assert [len(q) for q in parts] == [len(n) for n in nets]
    assert sum(len(q) for q in parts) == len(p)


def test_unknown_policy_refused() -> None:
    with pytest.raises(HardwareError, match="policy"):
        place(build("squeezenet1_1"), DUAL, policy="random")


@settings(max_examples=40, deadline=None)
@given(data=st.data(), F=st.integers(1, 12), C=st.integers(2, 6))
def test_balance_shared_table_matches_per_candidate(data: st.DataObject, F: int, C: int) -> None:
    """The tuner's fast path (one flexible-layer table for every candidate) places as the
    per-candidate path and as the plain greedy on each candidate."""
    from dualopu.cost.placement import balance

    load = np.array(data.draw(st.lists(st.floats(0.0, 1e5), min_size=C * 2, max_size=C * 2))).reshape(C, 2)
    cyc = np.array(data.draw(st.lists(st.floats(1.0, 1e4), min_size=F * 2, max_size=F * 2))).reshape(F, 2)
    shared, shared_load = balance(load, cyc)
    each, each_load = balance(load, np.broadcast_to(cyc, (C, F, 2)).copy())
    np.testing.assert_array_equal(shared, each)
    np.testing.assert_allclose(shared_load, each_load)
    for c in range(C):
        ld = load[c].copy()
        for i in sorted(range(F), key=lambda i: (-cyc[i].min(), i)):
            k = int(np.argmin(ld + cyc[i]))
            assert shared[c, i] == k
            ld[k] += cyc[i, k]
        np.testing.assert_allclose(shared_load[c], ld)
