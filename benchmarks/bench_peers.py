"""Whole-process `dualopu evaluate` vs ZigZag 3.9.1 and Stream 2.1.1 on the same ONNX files; JSON out.

Each tool runs as its own child process on the same torchvision export (zeroed weights, dynamic
batch, opset 17): ``dualopu evaluate NET.onnx --hw dual-opu --json``, and each peer's API-driven
evaluation in ``peer_eval.py`` under the peer's Python (a separate venv: the peers need Python
>= 3.12 and pin their own numpy/pandas/onnx). CPU seconds are user + system of the child
(``resource.getrusage(RUSAGE_CHILDREN)``), wall is the child's elapsed time; best of N each.
Without a peer Python (``--peer-python`` or ``$DUALOPU_PEER_PYTHON``; default /work/venv-peers)
or without the peers in it, the benchmark says so, writes ``{"skipped": ...}`` and exits 0.

Usage: ``python benchmarks/bench_peers.py [--peer-python PY] [--repeat 3] [--peer-repeat 1]
[--nets mobilenet_v2,squeezenet1_1] [--peers zigzag,stream] [--stream-fusion default|per-layer]
[--out results/peers.json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODELS = REPO.parent / "shared" / "models"
DEFAULT_PEER_PYTHON = Path("/work/venv-peers/bin/python")
PEER_ENV = "DUALOPU_PEER_PYTHON"
#: The peers' package names and the versions issue 17 compares against.
PEERS = {"zigzag": ("zigzag-dse", "3.9.1"), "stream": ("stream-dse", "2.1.1")}
#: Seconds one peer process may take before it is stopped (Stream's solve is bounded at 300 s a group).
PEER_TIMEOUT_S = 3600


def timed(cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run ``cmd`` to completion; its CPU seconds (user + sys), wall seconds, exit code and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=err, timeout=timeout, check=False)
        wall = time.perf_counter() - t0
        err.seek(0)
        tail = err.read()[-2000:].decode(errors="replace")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "wall_s": wall, "rc": res.returncode, "stdout": res.stdout.decode(), "stderr": tail}


def peer_versions(python: Path, wanted: list[str]) -> dict[str, str | None]:
    """Installed version of each wanted peer under ``python`` (None: not installed)."""
    code = (
        "import json, importlib.metadata as m\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except m.PackageNotFoundError: return None\n"
        f"print(json.dumps({{k: v(p) for k, p in { ({k: PEERS[k][0] for k in wanted})!r}.items()}}))"
    )
    res = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    if res.returncode:
        return dict.fromkeys(wanted)
    return json.loads(res.stdout)


def dualopu_run(onnx_path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = timed(
        [sys.executable, "-m", "dualopu.cli", "evaluate", str(onnx_path), "--hw", "dual-opu", "--json"], env
    )
    if run["rc"]:
        raise SystemExit(f"dualopu evaluate failed on {onnx_path}: {run['stderr']}")
    report = json.loads(run["stdout"])
    run["latency_cycles"] = report["latency_cycles"]
    run["total_macs"] = report["total_macs"]
    return run


def peer_run(python: Path, tool: str, onnx_path: Path, stream_fusion: str = "default") -> dict[str, Any]:
    extra = [f"--stream-fusion={stream_fusion}"] if tool == "stream" else []
    with tempfile.TemporaryDirectory(prefix=f"peer-{tool}-") as work:
        run = timed(
            [str(python), str(HERE / "peer_eval.py"), tool, str(onnx_path), work, *extra],
            timeout=PEER_TIMEOUT_S,
        )
    if run["rc"]:
        return {**run, "error": run["stderr"].strip().splitlines()[-1] if run["stderr"].strip() else "failed"}
    run.update(json.loads(run["stdout"].strip().splitlines()[-1]))
    return run


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if not r.get("rc")]
    if not ok:
        return {"error": runs[-1].get("error", "failed"), "runs": len(runs)}
    keep = {k: v for k, v in ok[0].items() if k not in ("stdout", "stderr", "cpu_s", "wall_s", "rc")}
    return {
        **keep,
        "cpu_s": min(r["cpu_s"] for r in ok),
        "wall_s": min(r["wall_s"] for r in ok),
        "cpu_s_all": [round(r["cpu_s"], 3) for r in ok],
        "wall_s_all": [round(r["wall_s"], 3) for r in ok],
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def skip(out: Path, reason: str) -> int:
    print(f"bench_peers: skipped: {reason}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"skipped": reason, "machine": machine()}, indent=2) + "\n")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--peer-python", default=os.environ.get(PEER_ENV), help=f"peer venv's python (${PEER_ENV})"
    )
    ap.add_argument("--repeat", type=int, default=3, help="dualopu runs per network (best of)")
    ap.add_argument(
        "--peer-repeat", type=int, default=1, help="peer runs per network (best of; minutes each)"
    )
    ap.add_argument("--nets", default="mobilenet_v2,squeezenet1_1")
    ap.add_argument("--peers", default="zigzag,stream")
    ap.add_argument("--models", default=str(MODELS), help="folder of the ONNX exports")
    ap.add_argument(
        "--stream-fusion",
        choices=("default", "per-layer"),
        default="default",
        help="Stream's layer fusion: its own generator (falls back to per-layer if infeasible) or per-layer",
    )
    ap.add_argument("--out", default=str(HERE / "results" / "peers.json"))
    args = ap.parse_args()
    out = Path(args.out)
    python = Path(args.peer_python) if args.peer_python else DEFAULT_PEER_PYTHON
    if not python.exists():
        return skip(out, f"no peer python at {python} (give --peer-python or ${PEER_ENV})")
    wanted = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peers {unknown}: choose from {sorted(PEERS)}")
    versions = peer_versions(python, wanted)
    present = [p for p in wanted if versions.get(p)]
    if not present:
        return skip(out, f"neither of {wanted} is installed under {python}")
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    missing = [n for n in nets if not (Path(args.models) / f"{n}.onnx").exists()]
    if missing:
        return skip(out, f"ONNX exports not found in {args.models}: {missing}")
    result: dict[str, Any] = {
        "machine": machine(),
        "peer_python": str(python),
        "versions": {p: versions.get(p) for p in wanted},
        "expected_versions": {p: PEERS[p][1] for p in wanted},
        "not_installed": [p for p in wanted if p not in present],
        "stream_fusion": args.stream_fusion,
        "nets": {},
    }
    for net in nets:
        path = Path(args.models) / f"{net}.onnx"
        row: dict[str, Any] = {"dualopu": best([dualopu_run(path) for _ in range(args.repeat)])}
        for tool in present:
            row[tool] = best(
                [peer_run(python, tool, path, args.stream_fusion) for _ in range(args.peer_repeat)]
            )
        base = row["dualopu"]
        for tool in present:
            if "cpu_s" in row[tool]:
                row[tool]["cpu_ratio_vs_dualopu"] = row[tool]["cpu_s"] / base["cpu_s"]
                row[tool]["wall_ratio_vs_dualopu"] = row[tool]["wall_s"] / base["wall_s"]
        result["nets"][net] = row
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")  # after each net: a long run keeps what it has
        line = f"{net}: dualopu {base['cpu_s']:.2f} s CPU ({base['wall_s']:.2f} s wall)"
        for tool in present:
            r = row[tool]
            if "cpu_s" in r:
                line += (
                    f"; {tool} {r['cpu_s']:.1f} s CPU ({r['wall_s']:.1f} s wall) = "
                    f"{r['cpu_ratio_vs_dualopu']:.0f}x CPU, {r['wall_ratio_vs_dualopu']:.0f}x wall"
                )
            else:
                line += f"; {tool} failed: {r['error']}"
        print(line, flush=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
