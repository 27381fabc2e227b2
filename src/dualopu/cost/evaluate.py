"""Whole-network evaluation on a processor: layer placement, per-layer and per-core totals."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from dualopu.cost.energy import NetworkEnergy, network_energy
from dualopu.cost.model import CoreCosts, CoreParams, core_costs
from dualopu.cost.placement import BALANCED, FASTEST, place
from dualopu.errors import HardwareError
from dualopu.hw.config import CORE_RUNS, Core, Hardware
from dualopu.ir.network import MAC_KINDS, Layer, LayerKind, Network
from dualopu.plan import TilePlan
from dualopu.plan.refusal import refusal_message
from dualopu.util import memo_on

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CostMatrix:
    """Cost of every layer on every core: arrays of shape ``(n_layers, n_cores)``.

    ``cycles`` is in each core's own clock cycles and ``inf`` where a core cannot run a layer.
    """

    cycles: np.ndarray
    compute_cycles: np.ndarray
    memory_cycles: np.ndarray
    load_bytes: np.ndarray
    store_bytes: np.ndarray
    stages: np.ndarray
    feasible: np.ndarray
    plans: tuple[TilePlan, ...] = ()  # per core: the plan that was priced (one configuration)

    @property
    def dram_bytes(self) -> np.ndarray:
        return self.load_bytes + self.store_bytes


#: Priced cores kept per layer table (a tuner confirms candidates that share a core, and
#: evaluate, placement and the scheduler price the same design several times); read-only.
MEMO_COSTS_PER_TABLE = 64


def _priced_core(net: Network, hw: Hardware, core: Core) -> CoreCosts:
    """`core_costs` of one core of ``hw``, memoized on the network's table by everything the
    price reads: the core's every field but its name, and the processor's DRAM and data width."""
    key = (
        core.model_dump_json(exclude={"name"}),
        float(hw.dram_bytes_per_cycle),
        hw.data_bytes,
        hw.dram_model.model_dump_json(),
    )
    t = net.table
    return memo_on(
        t,
        "_cost_memo",
        key,
        lambda: core_costs(t, CoreParams.of(core), hw.dram_bytes_per_cycle, hw.data_bytes, hw.dram_model),
        MEMO_COSTS_PER_TABLE,
    )


def cost_matrix(net: Network, hw: Hardware) -> CostMatrix:
    """Price every layer on every core of ``hw`` (vectorized per core)."""
    per_core: list[CoreCosts] = [_priced_core(net, hw, c) for c in hw.cores]

    def stack(field: str) -> np.ndarray:
        return np.stack([getattr(c, field)[0] for c in per_core], axis=1)

    return CostMatrix(
        cycles=stack("cycles"),
        compute_cycles=stack("compute_cycles"),
        memory_cycles=stack("memory_cycles"),
        load_bytes=stack("load_bytes"),
        store_bytes=stack("store_bytes"),
        stages=stack("stages"),
        feasible=stack("feasible") | ~stack("runnable"),
        plans=tuple(c.plan for c in per_core if c.plan is not None),
    )


def check_runs(net: Network, hw: Hardware, cm: CostMatrix | None = None) -> CostMatrix:
    """Refuse a processor that cannot run some layer of ``net``, naming the field to change."""
    cm = cm if cm is not None else cost_matrix(net, hw)
    runs = np.isfinite(cm.cycles).any(axis=1)
    if runs.all():
        return cm
    i = int(np.flatnonzero(~runs)[0])
    layer = net.layers[i]
    if layer.kind in MAC_KINDS and not any(layer.kind in c.runs for c in hw.cores):
        types = sorted(t.value for t, kinds in CORE_RUNS.items() if layer.kind in kinds)
        raise HardwareError(
            f"{hw.name}: field 'cores[].type': no core can run {layer.kind.value} layer {layer.name!r} "
            f"(needs a core of type {' or '.join(types)})"
        )
    if layer.kind not in MAC_KINDS and not any(c.runs_elementwise for c in hw.cores):
        raise HardwareError(
            f"{hw.name}: field 'cores[].runs_elementwise': no core runs element-wise layer {layer.name!r}"
        )
    if not cm.plans:
        cm = cost_matrix(net, hw)
    j = int(np.flatnonzero(~cm.feasible[i])[0])  # a core that runs the layer but refuses its tiles
    raise HardwareError(f"{hw.name}: {_too_small(layer, hw, j, cm.plans[j], i)}")


def _too_small(layer: Layer, hw: Hardware, j: int, plan: TilePlan, i: int) -> str:
    """Which buffer of core ``j`` cannot hold the minimum tile of layer ``i``: the plan's refusal."""
    return refusal_message(layer, hw.cores[j], j, plan, i)


def place_layers(net: Network, hw: Hardware, cm: CostMatrix) -> np.ndarray:
    """The ``fastest`` policy of `dualopu.cost.placement.place` (the rule used before it);
    kept for callers that want it by name."""
    return place(net, hw, cm, FASTEST).core


@dataclass(frozen=True)
class NetworkCost:
    """Analytical cost of one image of a network on a processor, layers in order."""

    network: Network
    hardware: Hardware
    matrix: CostMatrix
    core: np.ndarray  # placement: core index per layer

    @property
    def layer_cycles(self) -> np.ndarray:
        return self.matrix.cycles[np.arange(len(self.core)), self.core]

    def _pick(self, a: np.ndarray) -> np.ndarray:
        return a[np.arange(len(self.core)), self.core]

    @property
    def macs(self) -> np.ndarray:
        return self.network.table.macs

    @property
    def latency_cycles(self) -> float:
        """One image, layers one after another (no overlap between layers or cores)."""
        return float(self.layer_cycles.sum())

    @property
    def core_busy_cycles(self) -> np.ndarray:
        """Per core: cycles its layers take for one image."""
        return np.bincount(self.core, weights=self.layer_cycles, minlength=len(self.hardware.cores))

    @property
    def core_macs(self) -> np.ndarray:
        return np.bincount(self.core, weights=self.macs.astype(float), minlength=len(self.hardware.cores))

    @property
    def dram_bytes(self) -> float:
        return float(self._pick(self.matrix.dram_bytes).sum())

    @property
    def period_bound_cycles(self) -> float:
        """Steady-state lower bound on cycles per image with images interleaved across cores:
        the busiest core, or the shared DRAM port, whichever is slower."""
        return float(max(self.core_busy_cycles.max(), self.dram_bytes / self.hardware.dram_bytes_per_cycle))

    @cached_property
    def energy(self) -> NetworkEnergy:
        """Energy per layer and per image (static over the throughput-bound period); computed once."""
        return network_energy(self)

    def throughput_ips(self, cycles_per_image: float | None = None) -> float:
        period = self.period_bound_cycles if cycles_per_image is None else cycles_per_image
        return self.hardware.clock_mhz * 1e6 / period

    @property
    def core_pe_efficiency(self) -> np.ndarray:
        """Per core: MACs / (MAC units x busy cycles)."""
        units = np.array([c.macs_per_cycle for c in self.hardware.cores], dtype=float)
        return self.core_macs / np.maximum(units * self.core_busy_cycles, 1.0)

    def pe_efficiency(self, cycles_per_image: float) -> float:
        """Runtime PE efficiency of the whole processor: useful MACs / (all MAC units x elapsed cycles)."""
        return float(self.network.total_macs / (self.hardware.total_macs_per_cycle * cycles_per_image))

    def to_dataframe(self) -> pd.DataFrame:
        """One row per layer: placement, cycles, bound, efficiency, roofline position."""
        import pandas as pd

        return pd.DataFrame(self.layer_columns())

    def layer_columns(self) -> dict[str, Any]:
        """`to_dataframe`'s columns as arrays and lists (no pandas: `--json` does not import it)."""
        hw = self.hardware
        units = np.array([hw.cores[c].macs_per_cycle for c in self.core], dtype=float)
        cycles = self.layer_cycles
        comp = self._pick(self.matrix.compute_cycles)
        mem = self._pick(self.matrix.memory_cycles)
        dram = self._pick(self.matrix.dram_bytes)
        macs = self.macs.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            eff = np.where(cycles > 0, macs / (units * cycles), 0.0)
            intensity = np.where(dram > 0, macs / dram, np.inf)
        attainable = np.minimum(units, intensity * hw.dram_bytes_per_cycle)
        return {
            "layer": [layer.name for layer in self.network.layers],
            "kind": [layer.kind.value for layer in self.network.layers],
            "core": [hw.cores[c].name for c in self.core],
            "cycles": cycles,
            "compute_cycles": comp,
            "memory_cycles": mem,
            "bound": np.where(cycles == 0, "free", np.where(comp >= mem, "compute", "memory")),
            "macs": self.macs,
            "pe_efficiency": eff,
            "dram_bytes": dram,
            "macs_per_dram_byte": intensity,
            "attainable_macs_per_cycle": attainable,
            "achieved_macs_per_cycle": np.where(cycles > 0, macs / np.maximum(cycles, 1e-9), 0.0),
            "stages": self._pick(self.matrix.stages),
            "movement": self._movement(),
            **self.energy.layer_columns(),  # energy_*_uj per layer (cost/energy.py)
        }

    def _movement(self) -> list[str]:
        """Per layer: how a data-movement layer (concat, slice, shuffle, flatten) is done on its
        core, ``remap`` (addresses only) or ``copy`` (DRAM read + write through the
        post-processing unit, per the core's DRAM layout); ``""`` for other layers."""
        out: list[str] = []
        for layer, cyc in zip(self.network.layers, self.layer_cycles, strict=True):
            if layer.kind not in (LayerKind.CONCAT, LayerKind.SHUFFLE):
                out.append("")
            else:
                out.append("copy" if cyc > 0 else "remap")
        return out

    def shuffle_cost(self) -> dict[str, Any]:
        """What the network's channel shuffles cost per image: how many, how many are copies
        (on an ``opu64``-layout core), their cycles, DRAM bytes and share of the latency."""
        idx = [i for i, layer in enumerate(self.network.layers) if layer.op == "channel_shuffle"]
        cyc = float(np.sum(self.layer_cycles[idx])) if idx else 0.0
        dram = float(np.sum(self._pick(self.matrix.dram_bytes)[idx])) if idx else 0.0
        copies = int(np.sum(self.layer_cycles[idx] > 0)) if idx else 0
        lat = self.latency_cycles
        return {
            "count": len(idx),
            "copies": copies,
            "cycles": cyc,
            "dram_bytes": dram,
            "latency_share": cyc / lat if lat > 0 else 0.0,
        }

    def layer_records(self) -> list[dict[str, Any]]:
        """`to_dataframe` rows as JSON-safe dicts (non-finite numbers become ``None``)."""
        cols = self.layer_columns()
        out = []
        for i in range(len(self.network.layers)):
            rec: dict[str, Any] = {}
            for k, column in cols.items():
                v = column[i]
                if isinstance(v, np.generic):
                    v = v.item()
                rec[str(k)] = None if isinstance(v, float) and not np.isfinite(v) else v
            out.append(rec)
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready totals (per image)."""
        hw = self.hardware
        seq = self.latency_cycles
        period = self.period_bound_cycles
        return {
            "model": self.network.name,
            "hardware": hw.name,
            "total_macs": self.network.total_macs,
            "latency_cycles": seq,
            "latency_ms": seq / (hw.clock_mhz * 1e3),
            "sequential_throughput_ips": hw.clock_mhz * 1e6 / seq,
            "period_bound_cycles": period,
            "throughput_bound_ips": self.throughput_ips(),
            "pe_efficiency_sequential": self.pe_efficiency(seq),
            "pe_efficiency_at_bound": self.pe_efficiency(period),
            "dram_bytes": self.dram_bytes,
            "channel_shuffle": self.shuffle_cost(),
            **self.energy.summary(),  # energy_uj_per_image, breakdown, GOPS/W (cost/energy.py)
            "cores": [
                {
                    "name": c.name,
                    "type": c.type.value,
                    "macs_per_cycle": c.macs_per_cycle,
                    "busy_cycles": float(self.core_busy_cycles[k]),
                    "macs": float(self.core_macs[k]),
                    "pe_efficiency": float(self.core_pe_efficiency[k]),
                    "layers": int((self.core == k).sum()),
                }
                for k, c in enumerate(hw.cores)
            ],
        }


def evaluate(net: Network, hw: Hardware, policy: str = BALANCED) -> NetworkCost:
    """Analytical cost of one image of ``net`` on ``hw``, placed by `dualopu.cost.placement.place`."""
    cm = check_runs(net, hw)
    return NetworkCost(network=net, hardware=hw, matrix=cm, core=place(net, hw, cm, policy).core)
