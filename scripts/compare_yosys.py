"""Synthesize fpga-xc7 grid cores with another Yosys and compare with the grid's yowasp numbers.

    python scripts/compare_yosys.py --yosys /usr/bin/yosys --points r4x4 dw4x9 [--out FILE]

Reads the grid points (hardware and resources) from ``benchmarks/results/fpga_xc7_grid.jsonl``,
runs the same ``synth_xilinx -family xc7 -flatten`` flow (`dualopu.rtl.export.synth_core`) with
the given Yosys, and writes both counts per point: how far a native Yosys's numbers are from
the yowasp ones that the table and the other full-size syntheses come from.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dualopu.hw.config import hardware_from_dict  # noqa: E402
from dualopu.rtl.export import synth_core, yosys_version  # noqa: E402
from dualopu.rtl.params import core_rtl  # noqa: E402

GRID = ROOT / "benchmarks" / "results" / "fpga_xc7_grid.jsonl"
COMPARED = ("dsp", "bram", "lut", "ff", "lutram")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--yosys", required=True, help="the Yosys binary to compare")
    ap.add_argument("--points", nargs="+", required=True, help="grid point names (e.g. r4x4 dw4x9)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "synth_yosys_versions.json"))
    args = ap.parse_args()
    grid = {d["point"]: d for d in map(json.loads, GRID.read_text().splitlines())}
    rows = []
    for name in args.points:
        g = grid[name]
        hw = hardware_from_dict(g["hardware"])
        r = asdict(synth_core(core_rtl(hw.cores[0], hw), yosys=args.yosys))
        ratio = {k: round(r[k] / g["resources"][k], 3) if g["resources"][k] else None for k in COMPARED}
        rows.append({"point": name, "other": r, "yowasp": g["resources"], "other_over_yowasp": ratio})
        print(f"{name}: {ratio}", flush=True)
    res = {"other_tool": yosys_version(args.yosys), "grid": str(GRID.relative_to(ROOT)), "points": rows}
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
