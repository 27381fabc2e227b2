"""Energy per layer and per image: access counts from the mapping that prices cycles, times
the per-access energies of `hw.energy.EnergyModel`, plus leakage over the elapsed time.

Access counts per layer on one core (arrays ``(n_configs, n_layers)``, like the cost model):

* MAC slots issued: every compute cycle clocks all ``pe_count * input_size`` MAC units, so
  ceil-division waste (and line-buffer fill, systolic fill and drain) is counted; each slot
  also feeds one adder-tree input. Accumulator updates: one per PE per compute cycle.
* Post-processing: one requantization per output element of a MAC layer; the element-wise
  ops of pool/add/mul layers.
* SRAM, per buffer (each buffer is two banks of half its size, ping-pong): every byte loaded
  from DRAM is written once into the input or weight buffer; every output byte is written
  once into the output buffer and read once by the store. The PE array reads, for regular
  layers on the ``opu`` dataflow (output-stationary accumulators), ``pic`` input bytes per
  cycle (one pixel, broadcast to all output lanes) and one weight byte per MAC slot; on the
  ``systolic`` dataflow (weight-stationary), ``input_size`` input bytes per cycle and each
  weight once; depthwise layers read their input once into the line buffer and each
  weight once; element-wise layers read their inputs once.
* DRAM: the bytes each layer loads and stores.

Static energy: leakage per MAC-equivalent of area (hw/area.py) times the elapsed time. A
layer is charged its core's leakage over its cycles; the rest of the chip's leakage over
the period per image (idle cores, DRAM-bound gaps) is reported separately as idle static.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dualopu.cost.model import PARAM_BYTES_BIAS, PARAM_BYTES_MULT, TABLE_BYTES, CoreCosts, CoreParams
from dualopu.hw.area import area_breakdown
from dualopu.hw.config import Hardware
from dualopu.hw.energy import EnergyModel
from dualopu.ir.network import KIND_CODES, LayerKind, LayerTable

if TYPE_CHECKING:
    from dualopu.cost.evaluate import NetworkCost

_K = KIND_CODES
_REGULAR = [_K[LayerKind.CONV], _K[LayerKind.POINTWISE], _K[LayerKind.GROUPED], _K[LayerKind.FC]]
_DW = _K[LayerKind.DEPTHWISE]
_ELTWISE = [_K[LayerKind.POOL], _K[LayerKind.ADD], _K[LayerKind.MUL], _K[LayerKind.ACTIVATION]]

PJ_PER_UJ = 1e6
#: Operations per MAC when quoting GOPS (a multiply and an add).
OPS_PER_MAC = 2
COMPONENTS = ("mac", "post", "sram", "dram")


@dataclass(frozen=True)
class AccessCounts:
    """Per-layer access counts on one core; every array ``(n_configs, n_layers)``."""

    mac_slots: np.ndarray
    adder_inputs: np.ndarray
    accumulator_updates: np.ndarray
    requant_ops: np.ndarray
    post_ops: np.ndarray
    input_buffer_read_bytes: np.ndarray
    input_buffer_write_bytes: np.ndarray
    weight_buffer_read_bytes: np.ndarray
    weight_buffer_write_bytes: np.ndarray
    output_buffer_read_bytes: np.ndarray
    output_buffer_write_bytes: np.ndarray
    dram_read_bytes: np.ndarray
    dram_write_bytes: np.ndarray


def _regular_input_channels_per_cycle(t: LayerTable, p: CoreParams) -> np.ndarray:
    """Input channels the ``opu`` regular mapping consumes per cycle (``pic`` after widening).

    Interim: restates cost/model.py's mapping until the shared tile plan (plan/) exposes it."""
    cin_g = t.cin.astype(np.float64) / t.groups.astype(np.float64)
    macs_pc = p.pe_count * p.input_size
    pic = np.minimum(p.ic_parallel, macs_pc)
    widen = np.where(cin_g <= pic / 4, 4.0, np.where(cin_g <= pic / 2, 2.0, 1.0))
    widen = np.minimum(widen, np.maximum(np.floor(pic / p.input_size), 1.0))
    return pic / widen


def access_counts(
    t: LayerTable,
    p: CoreParams,
    compute_cycles: np.ndarray,
    load_bytes: np.ndarray,
    store_bytes: np.ndarray,
    data_bytes: int = 1,
) -> AccessCounts:
    """Access counts of every layer of ``t`` on core(s) ``p`` from the priced mapping
    (``compute_cycles``, ``load_bytes``, ``store_bytes`` of `core_costs`, shape ``(n, L)``)."""
    f = np.float64
    db = float(data_bytes)
    comp = np.asarray(compute_cycles, dtype=f)
    load = np.asarray(load_bytes, dtype=f)
    store = np.asarray(store_bytes, dtype=f)
    shape = np.broadcast_shapes(comp.shape, load.shape, store.shape, p.pe_count.shape)
    comp, load, store = (np.broadcast_to(a, shape) for a in (comp, load, store))
    is_reg = np.isin(t.kind, _REGULAR)
    is_dw = t.kind == _DW
    is_mac = is_reg | is_dw
    is_elt = np.isin(t.kind, _ELTWISE)
    cout = t.cout.astype(f)
    has_bias = t.has_bias.astype(f)
    w_bytes = t.weight_elems.astype(f) * db
    w_full = w_bytes - has_bias * cout * db + cout * (PARAM_BYTES_MULT + PARAM_BYTES_BIAS * has_bias)
    table = t.table_act.astype(f) * TABLE_BYTES
    zero = np.zeros(shape)

    slots = comp * p.pe_count * p.input_size
    acc = comp * p.pe_count
    # weights (with their requantization parameters) and the table go to the weight buffer
    # once; interim: reloads of weights are counted with the input buffer's writes
    w_writes = np.where(
        is_mac, np.minimum(load, w_full + table), np.where(is_elt, np.minimum(load, table), zero)
    )
    in_writes = load - w_writes
    if p.dataflow == "systolic":
        reg_in_reads = comp * p.input_size * db
        reg_w_reads = np.broadcast_to(w_bytes, shape)
    else:
        reg_in_reads = comp * _regular_input_channels_per_cycle(t, p) * db
        reg_w_reads = slots * db
    in_reads = np.where(is_reg, reg_in_reads, np.where(is_dw | is_elt, in_writes, zero))
    w_reads = np.where(is_reg, reg_w_reads, np.where(is_dw, w_bytes, zero))
    return AccessCounts(
        mac_slots=np.where(is_mac, slots, zero),
        adder_inputs=np.where(is_mac, slots, zero),
        accumulator_updates=np.where(is_mac, acc, zero),
        requant_ops=np.where(is_mac, t.out_elems.astype(f), zero),
        post_ops=np.where(is_elt, t.elementwise_ops.astype(f), zero),
        input_buffer_read_bytes=in_reads,
        input_buffer_write_bytes=in_writes,
        weight_buffer_read_bytes=w_reads,
        weight_buffer_write_bytes=w_writes,
        output_buffer_read_bytes=store.copy(),
        output_buffer_write_bytes=store.copy(),
        dram_read_bytes=load.copy(),
        dram_write_bytes=store.copy(),
    )


@dataclass(frozen=True)
class DynamicEnergy:
    """Dynamic energy per component in picojoules; arrays ``(n_configs, n_layers)``."""

    mac_pj: np.ndarray  # MAC units, adder trees, accumulators
    post_pj: np.ndarray  # requantization and element-wise ops
    sram_pj: np.ndarray
    dram_pj: np.ndarray

    @property
    def total_pj(self) -> np.ndarray:
        return self.mac_pj + self.post_pj + self.sram_pj + self.dram_pj


def _half_bank_kib(buffer_bytes: np.ndarray) -> np.ndarray:
    return buffer_bytes / 2.0 / 1024.0


def dynamic_energy(c: AccessCounts, p: CoreParams, em: EnergyModel) -> DynamicEnergy:
    """Access counts times per-access energies (SRAM priced by the bank each buffer reads)."""
    banks = {
        "input": _half_bank_kib(p.input_buffer_bytes),
        "weight": _half_bank_kib(p.weight_buffer_bytes),
        "output": _half_bank_kib(p.output_buffer_bytes),
    }
    sram = (
        c.input_buffer_read_bytes * em.sram_read_pj_per_byte(banks["input"])
        + c.input_buffer_write_bytes * em.sram_write_pj_per_byte(banks["input"])
        + c.weight_buffer_read_bytes * em.sram_read_pj_per_byte(banks["weight"])
        + c.weight_buffer_write_bytes * em.sram_write_pj_per_byte(banks["weight"])
        + c.output_buffer_read_bytes * em.sram_read_pj_per_byte(banks["output"])
        + c.output_buffer_write_bytes * em.sram_write_pj_per_byte(banks["output"])
    )
    return DynamicEnergy(
        mac_pj=c.mac_slots * em.mac_pj
        + c.adder_inputs * em.adder_input_pj
        + c.accumulator_updates * em.accumulator_pj,
        post_pj=c.requant_ops * em.requant_pj + c.post_ops * em.post_op_pj,
        sram_pj=np.asarray(sram, dtype=np.float64),
        dram_pj=c.dram_read_bytes * em.dram_read_pj_per_byte + c.dram_write_bytes * em.dram_write_pj_per_byte,
    )


def core_dynamic_energy(
    t: LayerTable,
    p: CoreParams,
    compute_cycles: np.ndarray,
    load_bytes: np.ndarray,
    store_bytes: np.ndarray,
    em: EnergyModel,
    data_bytes: int = 1,
) -> DynamicEnergy:
    """Dynamic energy of every layer on core(s) ``p`` (vectorized over configurations)."""
    return dynamic_energy(access_counts(t, p, compute_cycles, load_bytes, store_bytes, data_bytes), p, em)


def static_power_uw(em: EnergyModel, area: np.ndarray | float) -> np.ndarray:
    """Leakage power in microwatts of ``area`` MAC-equivalents (broadcasts)."""
    return np.asarray(area, dtype=np.float64) * em.leakage_uw_per_area


def static_energy_pj(
    em: EnergyModel, area: np.ndarray | float, cycles: np.ndarray | float, clock_mhz: float
) -> np.ndarray:
    """Leakage energy in picojoules of ``area`` over ``cycles`` at ``clock_mhz`` (uW x us = pJ)."""
    return static_power_uw(em, area) * np.asarray(cycles, dtype=np.float64) / clock_mhz


def energy_matrix_pj(
    net_table: LayerTable, hw: Hardware, compute: np.ndarray, load: np.ndarray, store: np.ndarray
) -> DynamicEnergy:
    """Dynamic energy of every layer on every core: arrays ``(n_layers, n_cores)`` (inputs alike)."""
    parts: list[DynamicEnergy] = []
    for k, core in enumerate(hw.cores):
        p = CoreParams.of(core)
        parts.append(
            core_dynamic_energy(
                net_table,
                p,
                compute[None, :, k],
                load[None, :, k],
                store[None, :, k],
                hw.energy_model,
                hw.data_bytes,
            )
        )
    return DynamicEnergy(*(np.stack([getattr(e, f"{c}_pj")[0] for e in parts], axis=1) for c in COMPONENTS))


@dataclass(frozen=True)
class NetworkEnergy:
    """Energy of one image with a placement: per layer (pJ, placed core) and per image."""

    dynamic: DynamicEnergy  # arrays (n_layers,)
    static_pj: np.ndarray  # (n_layers,) the layer's core leakage over its cycles
    idle_static_pj: float  # the rest of the chip's leakage over the period per image
    total_macs: int
    period_cycles: float
    clock_mhz: float

    @property
    def layer_total_pj(self) -> np.ndarray:
        return self.dynamic.total_pj + self.static_pj

    @property
    def total_pj(self) -> float:
        return float(self.layer_total_pj.sum() + self.idle_static_pj)

    @property
    def gops_per_watt(self) -> float:
        """Operations (2 per MAC) per joule / 1e9, images at the period per image."""
        return OPS_PER_MAC * self.total_macs / (self.total_pj * 1e-12) / 1e9 if self.total_pj > 0 else 0.0

    def breakdown_uj(self) -> dict[str, float]:
        out = {c: float(getattr(self.dynamic, f"{c}_pj").sum()) / PJ_PER_UJ for c in COMPONENTS}
        out["static"] = (float(self.static_pj.sum()) + self.idle_static_pj) / PJ_PER_UJ
        return out

    def layer_columns(self) -> dict[str, np.ndarray]:
        """Per-layer ``energy_*_uj`` columns for `NetworkCost.to_dataframe`."""
        cols = {f"energy_{c}_uj": getattr(self.dynamic, f"{c}_pj") / PJ_PER_UJ for c in COMPONENTS}
        cols["energy_static_uj"] = self.static_pj / PJ_PER_UJ
        cols["energy_uj"] = self.layer_total_pj / PJ_PER_UJ
        return cols

    def summary(self) -> dict[str, Any]:
        """Per-image totals for `NetworkCost.summary` (static over the steady-state period)."""
        parts = self.breakdown_uj()
        total = self.total_pj / PJ_PER_UJ
        return {
            "energy_uj_per_image": total,
            "energy_breakdown_uj": parts,
            "energy_idle_static_uj": self.idle_static_pj / PJ_PER_UJ,
            "energy_dominant_component": max(parts, key=lambda k: parts[k]),
            "power_w": total / (self.period_cycles / self.clock_mhz)
            if self.period_cycles > 0
            else 0.0,  # uJ/us
            "gops_per_watt": self.gops_per_watt,
        }


def core_static_power_uw(hw: Hardware) -> np.ndarray:
    """Leakage of each core (its area in MAC-equivalents times leakage per area)."""
    return static_power_uw(hw.energy_model, np.array([a.total for a in area_breakdown(hw)], dtype=np.float64))


def network_energy(cost: NetworkCost) -> NetworkEnergy:
    """Energy of one image of ``cost``'s network with its placement, images at the throughput bound."""
    hw = cost.hardware
    m = cost.matrix
    rows = np.arange(len(cost.core))
    dyn = energy_matrix_pj(cost.network.table, hw, m.compute_cycles, m.load_bytes, m.store_bytes)
    picked = DynamicEnergy(*(getattr(dyn, f"{c}_pj")[rows, cost.core] for c in COMPONENTS))
    core_uw = core_static_power_uw(hw)
    cycles = np.where(np.isfinite(cost.layer_cycles), cost.layer_cycles, 0.0)
    static = core_uw[cost.core] * cycles / hw.clock_mhz
    period = cost.period_bound_cycles
    idle = max(float(core_uw.sum()) * period / hw.clock_mhz - float(static.sum()), 0.0)
    return NetworkEnergy(picked, static, idle, cost.network.total_macs, period, hw.clock_mhz)


def schedule_energy(
    networks: Sequence[Any],
    images: Sequence[int],
    hw: Hardware,
    net: np.ndarray,
    layer: np.ndarray,
    core: np.ndarray,
    makespan_cycles: float,
) -> dict[str, float]:
    """Energy of a scheduled workload: every task's dynamic energy on the core it ran on, plus
    the chip's leakage over the makespan; per image and in total (microjoules)."""
    from dualopu.cost.evaluate import cost_matrix

    dynamic = 0.0
    for i, network in enumerate(networks):
        m = cost_matrix(network, hw)
        e = energy_matrix_pj(network.table, hw, m.compute_cycles, m.load_bytes, m.store_bytes).total_pj
        mine = np.asarray(net) == i
        dynamic += float(e[np.asarray(layer)[mine], np.asarray(core)[mine]].sum())
    static = float(core_static_power_uw(hw).sum()) * makespan_cycles / hw.clock_mhz
    n_images = max(int(sum(images)), 1)
    total_uj = (dynamic + static) / PJ_PER_UJ
    macs = sum(n.total_macs * k for n, k in zip(networks, images))
    return {
        "energy_uj": total_uj,
        "energy_uj_per_image": total_uj / n_images,
        "energy_static_uj_per_image": static / PJ_PER_UJ / n_images,
        "gops_per_watt": OPS_PER_MAC * macs / (total_uj * 1e-6) / 1e9 if total_uj > 0 else 0.0,
    }


def scheduled_energy(result: Any, workload: Any, hw: Hardware) -> dict[str, float]:
    """`schedule_energy` of a `sched.Schedule` (tasks' net, layer, core; makespan) and its workload."""
    return schedule_energy(
        workload.networks, workload.images, hw, result.net, result.layer, result.core, result.makespan_cycles
    )


# ---- many candidate designs at once (the tuner) ----------------------------------------------


def placed_dynamic_pj(
    t: LayerTable, p: CoreParams, costs: CoreCosts, mask: np.ndarray, em: EnergyModel, data_bytes: int = 1
) -> np.ndarray:
    """Per candidate configuration of core(s) ``p``: dynamic energy (pJ) of the layers ``mask``
    places on this core, from the same `core_costs` that gives its cycles. Shape ``(n_configs,)``."""
    e = core_dynamic_energy(t, p, costs.compute_cycles, costs.load_bytes, costs.store_bytes, em, data_bytes)
    return e.total_pj[:, np.asarray(mask, dtype=bool)].sum(axis=1)


def energy_per_image_uj(
    dynamic_pj: Sequence[np.ndarray],
    idx: np.ndarray,
    area: np.ndarray,
    period_cycles: np.ndarray,
    em: EnergyModel,
    clock_mhz: float,
    images_per_round: float = 1.0,
) -> np.ndarray:
    """Energy per image (uJ) of design combinations: ``idx[:, k]`` picks core ``k``'s candidate,
    whose dynamic energy per workload round is ``dynamic_pj[k]``; leakage of the combination's
    ``area`` over its ``period_cycles`` per round. Vectorized over the rows of ``idx``."""
    dyn = np.sum([np.asarray(d)[idx[:, k]] for k, d in enumerate(dynamic_pj)], axis=0)
    static = static_energy_pj(em, area, period_cycles, clock_mhz)
    return (dyn + static) / PJ_PER_UJ / images_per_round


def candidate_dynamic_pj(
    nets: Sequence[Any],
    weights: Sequence[float],
    template: Hardware,
    candidates: Sequence[np.ndarray],
    placements: Sequence[np.ndarray],
) -> list[np.ndarray]:
    """Per core ``k`` of ``template``: dynamic energy (pJ) per workload round of each candidate
    ``candidates[k]`` (rows ``[pe_count, input_size]``), over the layers ``placements[i] == k``
    of each network ``i`` (``weights[i]`` images of it per round). Buffers, dataflow and the
    other fields come from the template's core; one batched `core_costs` call per core and net."""
    from dualopu.cost.model import core_costs

    em = template.energy_model
    out = []
    for k, (core, cand) in enumerate(zip(template.cores, candidates)):
        c = np.asarray(cand, dtype=np.float64).reshape(-1, 2)
        p = CoreParams.batch(
            core.type,
            core.dataflow,
            pe_count=c[:, 0],
            input_size=c[:, 1],
            ic_parallel=core.ic_parallel,
            input_buffer_kib=core.input_buffer_kib,
            weight_buffer_kib=core.weight_buffer_kib,
            output_buffer_kib=core.output_buffer_kib,
            instr_overhead_cycles=core.instr_overhead_cycles,
            post_ops_per_cycle=core.post_ops_per_cycle,
            runs_elementwise=core.runs_elementwise,
        )
        total = np.zeros(len(c))
        for net, w, place in zip(nets, weights, placements):
            costs = core_costs(net.table, p, template.dram_bytes_per_cycle, template.data_bytes)
            total += w * placed_dynamic_pj(
                net.table, p, costs, np.asarray(place) == k, em, template.data_bytes
            )
        out.append(total)
    return out
