"""Checks: cycle simulator vs the analytical model, functional simulator vs onnxruntime."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dualopu.compiler.program import Program
from dualopu.compiler.quant import QuantizedNetwork
from dualopu.cost.evaluate import evaluate
from dualopu.errors import ProgramError
from dualopu.hw.config import Hardware
from dualopu.ir.network import MAC_KINDS, Network
from dualopu.sim.cycles import SimResult, simulate_cycles
from dualopu.sim.functional import run_functional_all


def check_program_matches(program: Program, net: Network) -> None:
    """Refuse a program compiled for another network (or input size)."""
    names = [lp.name for lp in program.layers]
    if names != [layer.name for layer in net.layers] or tuple(program.input_shape) != tuple(net.input_shape):
        raise ProgramError(
            f"program was compiled for {program.network!r} with input {list(program.input_shape)}, "
            f"not for {net.name!r} with input {list(net.input_shape)}"
        )
    for lp, layer in zip(program.layers, net.layers, strict=True):
        if lp.layer.out_shape != layer.out_shape or lp.layer.kind is not layer.kind:
            raise ProgramError(f"program layer {lp.name!r} differs from the network's")


@dataclass(frozen=True)
class CycleComparison:
    """Per-layer cycles: simulator vs analytical model (one image, layers in order)."""

    network: Network
    sim: SimResult
    analytical: np.ndarray  # per layer

    @property
    def cycles_sim(self) -> float:
        return self.sim.total_cycles

    @property
    def cycles_analytical(self) -> float:
        return float(self.analytical.sum())

    @property
    def rel_error(self) -> float:
        """(analytical - sim) / sim for the whole network."""
        return (self.cycles_analytical - self.cycles_sim) / max(self.cycles_sim, 1e-9)

    @property
    def layer_rel_error(self) -> np.ndarray:
        """Per layer (analytical - sim) / sim; 0 for free layers (both 0)."""
        s = self.sim.layer_cycles
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(s > 0, (self.analytical - s) / np.where(s > 0, s, 1.0), 0.0)

    @property
    def costed(self) -> np.ndarray:
        """Mask of layers with instructions (free layers excluded)."""
        return self.sim.layer_cycles > 0

    def fraction_within(self, tol: float) -> float:
        m = self.costed
        return float((np.abs(self.layer_rel_error[m]) <= tol).mean()) if m.any() else 1.0

    def worst(self, n: int = 5) -> list[dict[str, Any]]:
        order = np.argsort(-np.abs(self.layer_rel_error))[:n]
        return [self._row(int(i)) for i in order if self.costed[i]]

    def _row(self, i: int) -> dict[str, Any]:
        layer = self.network.layers[i]
        return {
            "name": layer.name,
            "kind": layer.kind.value,
            "core": self.sim.core_names[int(self.sim.layer_core[i])],
            "cycles_sim": float(self.sim.layer_cycles[i]),
            "cycles_analytical": float(self.analytical[i]),
            "rel_error": float(self.layer_rel_error[i]),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.network.name,
            "hardware": self.sim.hardware,
            "input_shape": list(self.network.input_shape),
            "cycles_sim": self.cycles_sim,
            "cycles_analytical": self.cycles_analytical,
            "rel_error": self.rel_error,
            "layers_within_15pct": self.fraction_within(0.15),
            "cores": self.sim.to_dict()["cores"],
            "layers": [self._row(i) for i in range(len(self.network.layers))],
            "worst_layers": self.worst(5),
        }


def compare_cycles(net: Network, hw: Hardware, program: Program | None = None) -> CycleComparison:
    """Cycle-simulate ``program`` (compiled here when omitted) and price ``net`` analytically."""
    from dualopu.compiler.codegen import compile_network

    prog = compile_network(net, hw) if program is None else program
    check_program_matches(prog, net)
    sim = simulate_cycles(prog, hw)
    cost = evaluate(net, hw)
    return CycleComparison(network=net, sim=sim, analytical=np.asarray(cost.layer_cycles, dtype=float))


@dataclass(frozen=True)
class FunctionalCheck:
    """Functional simulator vs onnxruntime on the exported quantized model."""

    bit_exact: bool
    max_abs_diff_lsb: int
    mismatched_elements: int
    first_mismatch_layer: str | None
    sim_seconds: float
    ort_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "bit_exact": self.bit_exact,
            "max_abs_diff_lsb": self.max_abs_diff_lsb,
            "mismatched_elements": self.mismatched_elements,
            "first_mismatch_layer": self.first_mismatch_layer,
            "functional_seconds": self.sim_seconds,
            "onnxruntime_seconds": self.ort_seconds,
        }


def check_functional(program: Program, qnet: QuantizedNetwork, input_int8: np.ndarray) -> FunctionalCheck:
    """Run the functional simulator and onnxruntime (on the exported ONNX file) and compare
    every layer's int8 tensor."""
    from dualopu.compiler.qonnx import export_qonnx, run_qonnx  # imports onnx (~1 s): only here

    t0 = time.perf_counter()
    sim = run_functional_all(program, qnet, input_int8)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dualopu-qonnx-") as tmp:
        path = export_qonnx(qnet, Path(tmp) / "model_int8.onnx", intermediate=True)
        t2 = time.perf_counter()
        ref = run_qonnx(path, input_int8)
        t3 = time.perf_counter()
    worst = 0
    bad = 0
    first: str | None = None
    for layer in qnet.network.layers:
        d = np.abs(sim[layer.name].astype(np.int32) - ref[layer.name].astype(np.int32))
        m = int(d.max(initial=0))
        if m and first is None:
            first = layer.name
        worst = max(worst, m)
        bad += int(np.count_nonzero(d))
    return FunctionalCheck(bit_exact=bad == 0, max_abs_diff_lsb=worst, mismatched_elements=bad,
                           first_mismatch_layer=first, sim_seconds=t1 - t0, ort_seconds=t3 - t2)


#: Corrections of the analytical model's quantities, each taken from the compiled program /
#: simulator: see `analyze_gaps`.
GAP_FIXES = ("memory_tail", "load_bytes", "load_instructions", "compute")


@dataclass(frozen=True)
class GapAnalysis:
    """Where the analytical model and the simulator disagree, per layer.

    ``variants[fix]`` is the model's own pipeline formula (``cost/model.py``
    ``_pipeline_cycles``) with one quantity replaced by what the program really does:

    * ``memory_tail``: memory-bound tail ``S*mem_s + max(0, comp_s - store_s)`` instead of
      ``S*mem_s + comp_s`` (the last compute overlaps the previous tile's store);
    * ``load_bytes``: the program's loaded bytes (halo rows re-read by every row tile, int32
      bias + float32 requantization multiplier per output channel, activation tables);
    * ``load_instructions``: one overhead per LOAD (weights and inputs are separate
      transfers) instead of one per stage;
    * ``compute``: the simulator's PE cycles (systolic fill and drain per tile rather than
      per layer, output-channel tiles narrower than the array);

    and ``all`` applies the four together.
    """

    network: Network
    sim: np.ndarray
    model: np.ndarray
    variants: dict[str, np.ndarray]

    @property
    def costed(self) -> np.ndarray:
        return self.sim > 0

    def whole_error(self, key: str = "model") -> float:
        v = self.model if key == "model" else self.variants[key]
        return float((v.sum() - self.sim.sum()) / max(self.sim.sum(), 1e-9))

    def layer_error(self, key: str = "model") -> np.ndarray:
        v = self.model if key == "model" else self.variants[key]
        m = self.costed
        return np.where(m, (v - self.sim) / np.where(m, self.sim, 1.0), 0.0)

    def fraction_within(self, key: str = "model", tol: float = 0.15) -> float:
        m = self.costed
        return float((np.abs(self.layer_error(key)[m]) <= tol).mean()) if m.any() else 1.0

    def agrees(self, key: str = "model", whole: float = 0.05, tol: float = 0.15, frac: float = 0.95) -> bool:
        return abs(self.whole_error(key)) <= whole and self.fraction_within(key, tol) >= frac

    def to_dict(self) -> dict[str, Any]:
        keys = ("model", *GAP_FIXES, "all")
        return {
            k: {"whole_error": self.whole_error(k), "layers_within_15pct": self.fraction_within(k),
                "max_layer_error": float(np.abs(self.layer_error(k)).max(initial=0.0))}
            for k in keys
        }


def analyze_gaps(net: Network, hw: Hardware, program: Program | None = None) -> GapAnalysis:
    """Attribute model-vs-simulator differences to the model's formulas (see `GapAnalysis`)."""
    from dualopu.compiler.codegen import compile_network
    from dualopu.compiler.isa import Load
    from dualopu.sim.cycles import time_program
    from dualopu.sim.timing import EXEC

    prog = compile_network(net, hw) if program is None else program
    check_program_matches(prog, net)
    sim = simulate_cycles(prog, hw).layer_cycles
    cost = evaluate(net, hw)
    timed = time_program(prog, hw)
    rows = np.arange(len(net)), cost.core
    m = cost.matrix
    stages, comp_m = m.stages[rows], m.compute_cycles[rows]
    load_m, store_m = m.load_bytes[rows], m.store_bytes[rows]
    bw = hw.dram_bytes_per_cycle
    variants = {k: np.array(cost.layer_cycles, dtype=float) for k in (*GAP_FIXES, "all")}
    for i, (lp, t) in enumerate(zip(prog.layers, timed, strict=True)):
        if not lp.instrs:
            continue
        ovh = float(hw.cores[lp.core].instr_overhead_cycles)
        c_ovh = float(hw.cores[lp.core].compute_overhead_cycles) if lp.layer.kind in MAC_KINDS else 0.0
        s = max(float(stages[i]), 1.0)
        actual = {
            "compute": sum(w for u, w in zip(t.unit, t.work, strict=True) if u == EXEC),
            "load_bytes": float(sum(x.bytes for x in lp.instrs if isinstance(x, Load))),
            "load_instructions": ovh * sum(isinstance(x, Load) for x in lp.instrs) / s,
        }

        def pipe(fixes: tuple[str, ...], i: int = i, s: float = s, ovh: float = ovh, c_ovh: float = c_ovh,
                 actual: dict[str, float] = actual) -> float:
            comp = actual["compute"] if "compute" in fixes else comp_m[i]
            load = actual["load_bytes"] if "load_bytes" in fixes else load_m[i]
            lovh = actual["load_instructions"] if "load_instructions" in fixes else ovh
            comp_s, load_s, store_s = comp / s + ovh + c_ovh, load / s / bw + lovh, store_m[i] / s / bw + ovh
            tail = max(0.0, comp_s - store_s) if "memory_tail" in fixes else comp_s
            return float(max(s * (load_s + store_s) + tail, s * comp_s + load_s + store_s))

        for k in GAP_FIXES:
            variants[k][i] = pipe((k,))
        variants["all"][i] = pipe(GAP_FIXES)
    return GapAnalysis(network=net, sim=np.asarray(sim, dtype=float),
                       model=np.asarray(cost.layer_cycles, dtype=float), variants=variants)
