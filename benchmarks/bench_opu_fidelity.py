"""Our analytical model against the OPU authors' semantics, per layer kind (issue 12).

For the distinct MAC-layer shapes of MobileNetV2 and ShuffleNetV2 (224x224), prices each on
a preset with our model and with the test-side oracle ``tests/oracles/opu_semantics.py``
(opu-sim cycle formulas + opu-compiler tiling), and prints per layer kind the geometric-mean
ratio ours/theirs and the Spearman rank correlation, as a Markdown table for BENCHMARKS.md.

Usage: ``python benchmarks/bench_opu_fidelity.py [--hw opu] [--out results/opu_fidelity.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dualopu.hw.config import load_hardware  # noqa: E402
from dualopu.ir.zoo import build  # noqa: E402
from dualopu.util import write_atomic  # noqa: E402
from oracles.opu_compare import compare, summary, table  # noqa: E402
from oracles.opu_semantics import OpuArch, layer_cycles  # noqa: E402

NETWORKS = ("mobilenet_v2", "shufflenet_v2_x1_0")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default="opu")
    ap.add_argument("--out", default=str(Path(__file__).with_name("results") / "opu_fidelity.json"))
    args = ap.parse_args()
    hw = load_hardware(args.hw)
    result: dict[str, object] = {"hw": hw.name}
    for name in NETWORKS:
        rows = compare(build(name), hw)
        print(f"\n### {name} on `{hw.name}`\n")
        print(table(rows))
        first = next(r for r in rows if r.kind == "first conv")
        theirs = layer_cycles(first.shape)
        print(f"\nfirst conv: oracle channel-enhanced={theirs.channel_enhanced}, oracle compute "
              f"{theirs.compute_cycles} cycles, ours total {first.ours_cycles:.0f} vs oracle {first.theirs_cycles:.0f}")
        bands = compare(build(name), hw, OpuArch(tiling="rows"))
        print(f"\ndiagnostic, their cycle formulas over our tile shape (full-width row bands), {name}:\n")
        print(table(bands))
        result[name] = {
            "summary": {k: {"shapes": n, "geomean_ratio": g, "spearman": rho} for k, (n, g, rho) in summary(rows).items()},
            "summary_row_band_tiles": {
                k: {"shapes": n, "geomean_ratio": g, "spearman": rho} for k, (n, g, rho) in summary(bands).items()
            },
            "rows": [
                {"kind": r.kind, "shape": r.shape.__dict__, "ours_cycles": r.ours_cycles, "theirs_cycles": r.theirs_cycles}
                for r in rows
            ],
        }
    write_atomic(Path(args.out), json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
