"""Benchmark ONNX import (issue 17): CPU time per shared torchvision export, before/after.

For each network and each source tree, a fresh Python process imports ``dualopu`` and
numpy, then measures CPU time (``time.process_time``) of the cold path a user pays once
per process: importing the ONNX importer and ``import_onnx(path)`` (parse, constant
folding, the walk). It also reports the warm in-process time of ``import_onnx`` (best of
5) and the whole child process CPU time. "before" is the importer at git revision
``--baseline`` (extracted with ``git archive``), "after" is this tree's ``src``.

Usage: ``python benchmarks/bench_import.py [--baseline 812ad7e] [--out benchmarks/results/import.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models"
WARM_REPEATS = 5

CHILD = r"""
import json, sys, time
import numpy, dualopu
t0 = time.process_time()
from dualopu.ir.onnx_import import import_onnx
t1 = time.process_time()
net = import_onnx(sys.argv[1])
t2 = time.process_time()
warm = []
for _ in range(int(sys.argv[2])):
    a = time.process_time(); import_onnx(sys.argv[1]); warm.append(time.process_time() - a)
print(json.dumps({"module_import_s": t1 - t0, "first_import_onnx_s": t2 - t1, "cold_s": t2 - t0,
                  "warm_s": min(warm), "macs": net.total_macs, "layers": len(net.layers)}))
"""


def _run(src: Path, model: Path) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(WARM_REPEATS)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res: dict[str, Any] = json.loads(out.stdout)
    res["process_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return res


def _baseline_src(rev: str, into: Path) -> Path:
    blob = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _machine() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        return "; ".join(x.split(":", 1)[1].strip() for x in lines if x.startswith(("Model name", "CPU(s)")))
    except (OSError, subprocess.CalledProcessError):
        return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="812ad7e", help="git revision of the 'before' importer")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "import.json")
    args = ap.parse_args()
    models = sorted(MODELS.glob("*.onnx"))
    if not models:
        print(f"no models in {MODELS}; skipped")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = _baseline_src(args.baseline, Path(tmp))
        for m in models:
            b, a = _run(base, m), _run(ROOT / "src", m)
            assert a["macs"] == b["macs"], f"{m.stem}: MACs changed {b['macs']} -> {a['macs']}"
            rows.append(
                {
                    "network": m.stem,
                    "before": b,
                    "after": a,
                    "cold_ratio": b["cold_s"] / a["cold_s"],
                    "process_ratio": b["process_cpu_s"] / a["process_cpu_s"],
                }
            )
            print(
                f"{m.stem:22s} cold {b['cold_s']:.3f} -> {a['cold_s']:.3f} s CPU ({rows[-1]['cold_ratio']:.1f}x)  "
                f"warm {b['warm_s'] * 1e3:.1f} -> {a['warm_s'] * 1e3:.1f} ms  "
                f"process {b['process_cpu_s']:.2f} -> {a['process_cpu_s']:.2f} s"
            )
    result = {
        "benchmark": "onnx import CPU time per network",
        "baseline": args.baseline,
        "machine": _machine(),
        "python": platform.python_version(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
