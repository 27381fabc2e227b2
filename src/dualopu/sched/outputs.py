"""Schedule outputs: Gantt chart (plotly HTML, matplotlib PNG) and a Perfetto/Chrome trace."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from dualopu.hw.config import Hardware
from dualopu.sched.engine import Schedule, Workload
from dualopu.util import write_atomic

_MAX_BARS = 20000


def _rows(sched: Schedule, workload: Workload) -> list[dict[str, object]]:
    keep = np.flatnonzero(sched.end - sched.start > 0)[:_MAX_BARS]
    rows = []
    for t in keep:
        net = workload.networks[int(sched.net[t])]
        layer = net.layers[int(sched.layer[t])]
        rows.append({"core": sched.core_names[int(sched.core[t])], "start": float(sched.start[t]),
                     "end": float(sched.end[t]), "network": net.name, "image": int(sched.image[t]),
                     "layer": layer.name, "kind": layer.kind.value})
    return rows


def gantt_html(sched: Schedule, workload: Workload, hw: Hardware, path: str | Path) -> Path:
    """Interactive Gantt chart: one row per core, bars coloured by image, hover shows the layer."""
    import plotly.graph_objects as go

    rows = _rows(sched, workload)
    fig = go.Figure()
    images = sorted({(r["network"], r["image"]) for r in rows})
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"]
    for i, (netname, img) in enumerate(images):
        sel = [r for r in rows if r["network"] == netname and r["image"] == img]
        fig.add_trace(go.Bar(
            y=[r["core"] for r in sel], x=[float(r["end"]) - float(r["start"]) for r in sel],  # type: ignore[arg-type]
            base=[r["start"] for r in sel], orientation="h", marker_color=palette[i % len(palette)],
            name=f"{netname} #{img}", showlegend=i < 16,
            hovertext=[f"{r['network']} image {r['image']}<br>{r['layer']} ({r['kind']})<br>"
                       f"{r['start']:.0f}-{r['end']:.0f} cycles" for r in sel], hoverinfo="text"))
    fig.update_layout(barmode="overlay", title=f"{', '.join(n.name for n in workload.networks)} on {hw.name}: "
                      f"{sched.method}, makespan {sched.makespan_cycles:,.0f} cycles, "
                      f"{sched.throughput_ips:.1f} images/s", xaxis_title="cycles", height=220 + 60 * len(hw.cores))
    return write_atomic(path, fig.to_html(include_plotlyjs=True, full_html=True))


def gantt_png(sched: Schedule, workload: Workload, hw: Hardware, path: str | Path) -> Path:
    """Static Gantt chart (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(sched, workload)
    names = list(sched.core_names)
    fig, ax = plt.subplots(figsize=(11, 1.0 + 0.7 * len(names)))
    cmap = plt.get_cmap("tab10")
    for r in rows:
        y = names.index(str(r["core"]))
        ax.broken_barh([(float(r["start"]), float(r["end"]) - float(r["start"]))], (y - 0.4, 0.8),  # type: ignore[arg-type]
                       facecolors=cmap(int(r["image"]) % 10))  # type: ignore[call-overload]
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("cycles")
    ax.set_title(f"{sched.method} on {hw.name}: {sched.throughput_ips:.1f} images/s "
                 f"({sched.fraction_of_bound:.1%} of bound)", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_atomic(path, buf.getvalue())


def perfetto_trace(sched: Schedule, workload: Workload, hw: Hardware, path: str | Path) -> Path:
    """Chrome trace-event JSON (opens in ui.perfetto.dev): one track per core, a DRAM counter."""
    us_per_cycle = 1.0 / hw.clock_mhz
    events: list[dict[str, object]] = [{"ph": "M", "pid": 1, "name": "process_name", "args": {"name": hw.name}}]
    for k, name in enumerate(sched.core_names):
        events.append({"ph": "M", "pid": 1, "tid": k, "name": "thread_name", "args": {"name": name}})
    for r in _rows(sched, workload):
        k = sched.core_names.index(str(r["core"]))
        events.append({"ph": "X", "pid": 1, "tid": k, "name": f"{r['layer']}", "cat": str(r["kind"]),
                       "ts": float(r["start"]) * us_per_cycle,  # type: ignore[arg-type]
                       "dur": (float(r["end"]) - float(r["start"])) * us_per_cycle,  # type: ignore[arg-type]
                       "args": {"network": r["network"], "image": r["image"]}})
    return write_atomic(path, json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
