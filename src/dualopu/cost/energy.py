"""Energy per layer and per image: access counts from the mapping that prices cycles, times
the per-access energies of `hw.energy.EnergyModel`, plus leakage over the elapsed time.

Access counts per layer on one core (arrays ``(n_configs, n_layers)``, like the cost model),
read from the `TilePlan` that `core_costs` prices and its compute cycles:

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
  weight once per row tile; depthwise layers read their input once into the line buffer
  and each weight once per row tile; element-wise layers read their inputs once.
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

from dualopu.cost.model import CoreCosts, core_costs
from dualopu.hw.area import area_breakdown
from dualopu.hw.config import Hardware
from dualopu.hw.energy import EnergyModel
from dualopu.hw.params import NUMERIC_FIELDS, CoreParams
from dualopu.ir.network import LayerTable
from dualopu.plan import TilePlan, plan_tiles
from dualopu.plan.rules import MODE

if TYPE_CHECKING:
    from dualopu.cost.evaluate import NetworkCost


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


def access_counts(
    t: LayerTable, p: CoreParams, plan: TilePlan, compute_cycles: np.ndarray, data_bytes: int = 1
) -> AccessCounts:
    """Access counts of every layer of ``t`` on core(s) ``p`` under the tile ``plan`` that the
    cost model prices, with its ``compute_cycles``; shape ``(n_configs, n_layers)``."""
    f = np.float64
    db = float(data_bytes)
    comp = np.asarray(compute_cycles, dtype=f)
    shape = comp.shape
    mode = np.broadcast_to(plan.mode, shape)
    conv, sa = mode == MODE["conv"], mode == MODE["sa"]
    dw = (mode == MODE["dw"]) | (mode == MODE["sa_dw"])
    post = mode == MODE["post"]
    mac = conv | sa | dw
    zero = np.zeros(shape)
    w_bytes = np.broadcast_to(t.weight_elems.astype(f) * db, shape)  # INT8 weights in the weight buffer
    in_load, w_load, store = plan.in_load_bytes, plan.w_load_bytes, plan.store_bytes

    slots = comp * p.pe_count * p.input_size
    # array reads: conv (output-stationary) pic input bytes per cycle and a weight per MAC slot;
    # systolic (weight-stationary) input_size input bytes per cycle, each weight once per row
    # tile; depthwise: inputs once into the line buffer, each weight once per row tile
    in_reads = np.where(conv, comp * plan.pic * db, np.where(sa, comp * p.input_size * db, zero))
    in_reads = np.where(dw | post, in_load, in_reads)
    w_reads = np.where(conv, slots * db, np.where(sa | dw, w_bytes * plan.n_rows * plan.n_cols, zero))
    return AccessCounts(
        mac_slots=np.where(mac, slots, zero),
        adder_inputs=np.where(mac, slots, zero),
        accumulator_updates=np.where(mac, comp * p.pe_count, zero),
        requant_ops=np.where(mac, np.broadcast_to(t.out_elems.astype(f), shape), zero),
        post_ops=np.where(post, np.broadcast_to(t.elementwise_ops.astype(f), shape), zero),
        input_buffer_read_bytes=in_reads,
        input_buffer_write_bytes=np.where(mac | post, in_load, zero),
        weight_buffer_read_bytes=w_reads,
        weight_buffer_write_bytes=np.where(mac | post, w_load, zero),
        output_buffer_read_bytes=np.where(mac | post, store, zero),
        output_buffer_write_bytes=np.where(mac | post, store, zero),
        dram_read_bytes=np.where(mac | post, in_load + w_load, zero),
        dram_write_bytes=np.where(mac | post, store, zero),
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
    t: LayerTable, p: CoreParams, costs: CoreCosts, em: EnergyModel, data_bytes: int = 1
) -> DynamicEnergy:
    """Dynamic energy of every layer on core(s) ``p`` from the plan `core_costs` priced
    (vectorized over configurations)."""
    plan = costs.plan if costs.plan is not None else plan_tiles(t, p, data_bytes)
    return dynamic_energy(access_counts(t, p, plan, costs.compute_cycles, data_bytes), p, em)


def static_power_uw(em: EnergyModel, area: np.ndarray | float) -> np.ndarray:
    """Leakage power in microwatts of ``area`` MAC-equivalents (broadcasts)."""
    return np.asarray(area, dtype=np.float64) * em.leakage_uw_per_area


def static_energy_pj(
    em: EnergyModel, area: np.ndarray | float, cycles: np.ndarray | float, clock_mhz: float
) -> np.ndarray:
    """Leakage energy in picojoules of ``area`` over ``cycles`` at ``clock_mhz`` (uW x us = pJ)."""
    return static_power_uw(em, area) * np.asarray(cycles, dtype=np.float64) / clock_mhz


def energy_matrix_pj(t: LayerTable, hw: Hardware) -> DynamicEnergy:
    """Dynamic energy of every layer on every core of ``hw``: arrays ``(n_layers, n_cores)``,
    from the same `core_costs` (plan and compute cycles) that `cost_matrix` prices."""
    parts: list[DynamicEnergy] = []
    for core in hw.cores:
        p = CoreParams.of(core)
        costs = core_costs(t, p, hw.dram_bytes_per_cycle, hw.data_bytes)
        parts.append(core_dynamic_energy(t, p, costs, hw.energy_model, hw.data_bytes))
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
    rows = np.arange(len(cost.core))
    dyn = energy_matrix_pj(cost.network.table, hw)
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
    dynamic = 0.0
    for i, network in enumerate(networks):
        e = energy_matrix_pj(network.table, hw).total_pj
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
    e = core_dynamic_energy(t, p, costs, em, data_bytes)
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
    em = template.energy_model
    out = []
    for k, (core, cand) in enumerate(zip(template.cores, candidates)):
        c = np.asarray(cand, dtype=np.float64).reshape(-1, 2)
        fields: dict[str, Any] = {k: getattr(core, k) for k in NUMERIC_FIELDS}
        fields.update(pe_count=c[:, 0], input_size=c[:, 1])
        p = CoreParams.batch(
            core.type,
            core.dataflow,
            runs_elementwise=core.runs_elementwise,
            spatial_tiling=core.spatial_tiling,
            **fields,
        )
        total = np.zeros(len(c))
        for net, w, place in zip(nets, weights, placements):
            costs = core_costs(net.table, p, template.dram_bytes_per_cycle, template.data_bytes)
            total += w * placed_dynamic_pj(
                net.table, p, costs, np.asarray(place) == k, em, template.data_bytes
            )
        out.append(total)
    return out


def workload_dynamic_pj(
    t: LayerTable, p: CoreParams, costs: CoreCosts, images: np.ndarray, em: EnergyModel, data_bytes: int = 1
) -> np.ndarray:
    """Dynamic energy (pJ) per configuration of the rows of ``t`` (a workload's layers on one
    core, ``images[j]`` images of row ``j`` per round), from the ``costs`` that price them."""
    return core_dynamic_energy(t, p, costs, em, data_bytes).total_pj @ np.asarray(images, dtype=np.float64)


def round_energy_uj(
    dynamic_pj: np.ndarray, area: np.ndarray, period_s: np.ndarray, em: EnergyModel, images_per_round: float
) -> np.ndarray:
    """Energy per image (uJ) of designs whose dynamic energy per workload round is
    ``dynamic_pj``, leaking over their ``area`` for ``period_s`` seconds per round."""
    static_pj = static_power_uw(em, area) * np.asarray(period_s, dtype=np.float64) * 1e6  # uW x us
    return (np.asarray(dynamic_pj, dtype=np.float64) + static_pj) / PJ_PER_UJ / images_per_round
