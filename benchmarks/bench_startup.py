"""CLI start-up: whole-process CPU time of light commands and `-X importtime` of `--help`; JSON out.

Compares two source trees (default: this tree and /work/main/src, or any ``--before`` tree), so
the lazy-import work (issue 17) is measured as a ratio on the same machine in one run. CPU time
is user+system of the child process (``resource.getrusage``), median of ``--repeat`` runs.

Usage: ``python benchmarks/bench_startup.py [--before SRC] [--out results/startup.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMANDS = [["--help"], ["presets", "--json"], ["zoo", "--json"], ["evaluate", "mobilenet_v2", "--json"]]


def cpu_seconds(src: Path, args: list[str]) -> float:
    """CPU seconds (user + system) of one `python -m dualopu.cli ARGS` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "dualopu.cli", *args],
        env={**os.environ, "PYTHONPATH": str(src)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def import_seconds(src: Path) -> float:
    """Total import time of `dualopu.cli --help` from ``-X importtime`` (sum of top-level imports)."""
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dualopu.cli", "--help"],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=True,
    )
    total_us = 0
    for line in res.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|", 2)
        if not name.startswith("  "):  # one leading space: a top-level import
            total_us += int(cumulative)
    return total_us / 1e6


def measure(src: Path, repeat: int) -> dict[str, float]:
    out = {"import_help_s": statistics.median(import_seconds(src) for _ in range(repeat))}
    for cmd in COMMANDS:
        out[" ".join(cmd) + " cpu_s"] = statistics.median(cpu_seconds(src, cmd) for _ in range(repeat))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="/work/main/src", help="source tree to compare against")
    ap.add_argument("--after", default=str(HERE.parent / "src"), help="source tree measured as 'after'")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results" / "startup.json"))
    args = ap.parse_args()
    before, after = measure(Path(args.before), args.repeat), measure(Path(args.after), args.repeat)
    result = {
        "before_src": args.before,
        "after_src": args.after,
        "repeat": args.repeat,
        "before": before,
        "after": after,
        "ratio_before_over_after": {k: before[k] / after[k] for k in before},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
