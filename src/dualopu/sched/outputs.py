"""Schedule outputs: utilization / PE efficiency / DRAM over time, Gantt charts, Perfetto trace."""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dualopu.hw.config import Hardware
from dualopu.sched.fluid import constant_rate_profile, replay, task_phases
from dualopu.sched.graph import TaskGraph, build_task_graph
from dualopu.sched.schedule import Schedule
from dualopu.sched.workload import Workload
from dualopu.util import write_atomic

_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


def dram_profile(
    sched: Schedule, workload: Workload, hw: Hardware, graph: TaskGraph | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """DRAM bytes/cycle in use over time, ``(t, rate)`` piecewise constant from ``t[i]``: the fluid
    model's replay for a contention schedule, else each task's bytes spread over its run."""
    g = graph if graph is not None else build_task_graph(workload, hw)
    ids = sched.task if sched.task is not None else g.task_id(sched.net, sched.image, sched.layer)
    dram = g.dram_bytes[ids, sched.core]
    if not sched.contention:
        return constant_rate_profile(sched.start, sched.end, dram)
    n = len(g)
    core = np.empty(n, dtype=np.int64)
    start = np.empty(n)
    core[ids], start[ids] = sched.core, sched.start
    busy = np.zeros(n, dtype=bool)
    busy[ids] = sched.end > sched.start
    dur = np.where(busy, g.cost[np.arange(n), core], 0.0)
    pdur, prate = task_phases(g, core, dur)
    _, t, r = replay(core, start, pdur, prate, hw.dram_bytes_per_cycle, len(hw.cores))
    return t, r


@dataclass(frozen=True)
class Timeline:
    """Per-bin metrics over the makespan: ``edges`` (bins + 1) in cycles; per core (K, bins)
    busy fraction and PE efficiency (MACs done / MAC units x bin); DRAM fraction of bandwidth."""

    edges: np.ndarray
    core_names: tuple[str, ...]
    utilization: np.ndarray
    pe_efficiency: np.ndarray
    dram: np.ndarray

    def to_dict(self) -> dict[str, object]:
        return {
            "edges_cycles": self.edges.tolist(),
            "cores": list(self.core_names),
            "utilization": self.utilization.tolist(),
            "pe_efficiency": self.pe_efficiency.tolist(),
            "dram_fraction": self.dram.tolist(),
        }


def _cumulative(start: np.ndarray, end: np.ndarray, weight: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Sum over non-overlapping tasks of ``weight`` spread evenly over [start, end), done by each ``t``."""
    o = np.argsort(start, kind="stable")
    s, e, w = start[o], end[o], weight[o]
    prefix = np.concatenate([[0.0], np.cumsum(w)])
    i = np.searchsorted(e, t, side="right")  # tasks fully done by t
    part = np.zeros(len(t))
    live = i < len(s)
    j = i[live]
    span = np.maximum(e[j] - s[j], 1e-12)
    part[live] = w[j] * np.clip((t[live] - s[j]) / span, 0.0, 1.0)
    return prefix[i] + part


def timeline(
    sched: Schedule, workload: Workload, hw: Hardware, bins: int = 200, graph: TaskGraph | None = None
) -> Timeline:
    """Utilization, PE efficiency and DRAM use of every core over time."""
    g = graph if graph is not None else build_task_graph(workload, hw)
    mk = max(sched.makespan_cycles, 1e-9)
    edges = np.linspace(0.0, mk, bins + 1)
    width = np.diff(edges)
    ids = sched.task if sched.task is not None else g.task_id(sched.net, sched.image, sched.layer)
    macs = np.concatenate([p.network.table.macs for p in g.plans]).astype(float)[g.cls[ids]]
    K = len(hw.cores)
    util, eff = np.zeros((K, bins)), np.zeros((K, bins))
    for k, c in enumerate(hw.cores):
        sel = (sched.core == k) & (sched.end > sched.start)
        s, e = sched.start[sel], sched.end[sel]
        util[k] = np.diff(_cumulative(s, e, e - s, edges)) / width
        eff[k] = np.diff(_cumulative(s, e, macs[sel], edges)) / (width * c.macs_per_cycle)
    t, r = dram_profile(sched, workload, hw, g)
    if len(t):
        cum = np.concatenate([[0.0], np.cumsum(r[:-1] * np.diff(t))])
        at = np.interp(edges, t, cum) + np.where(edges > t[-1], (edges - t[-1]) * r[-1], 0.0)
        dram = np.diff(at) / (width * hw.dram_bytes_per_cycle)
    else:
        dram = np.zeros(bins)
    return Timeline(edges, tuple(c.name for c in hw.cores), util, eff, dram)


def _bars(sched: Schedule, workload: Workload, max_bars: int) -> tuple[np.ndarray, bool]:
    busy = np.flatnonzero(sched.end > sched.start)
    busy = busy[np.argsort(sched.start[busy], kind="stable")]
    return busy[:max_bars], len(busy) > max_bars


def _label(sched: Schedule, workload: Workload, t: int) -> tuple[str, str, str]:
    net = workload.networks[int(sched.net[t])]
    layer = net.layers[int(sched.layer[t])]
    return net.name, layer.name, layer.kind.value


def _title(sched: Schedule, workload: Workload, hw: Hardware) -> str:
    return (
        f"{', '.join(n.name for n in workload.networks)} on {hw.name}: {sched.method}, "
        f"{sched.total_images} images, makespan {sched.makespan_cycles:,.0f} cycles, "
        f"{sched.throughput_ips:.1f} images/s ({sched.fraction_of_bound:.1%} of the bound)"
    )


_SUBPLOT_TITLES = ("tasks per core (colour: image)", "utilization, PE efficiency, DRAM")


@functools.cache
def _gantt_layout() -> str:
    """The two-row layout plotly's `make_subplots` builds for the Gantt chart (with plotly's
    default template), as JSON: built and validated once per process, not per chart."""
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.6, 0.4],
        vertical_spacing=0.08,
        subplot_titles=_SUBPLOT_TITLES,
    )
    return json.dumps(fig.to_plotly_json()["layout"])


def _line(x: np.ndarray, y: np.ndarray, name: str, line: dict[str, str] | None = None) -> dict[str, object]:
    """A row-2 line trace as plotly's validated `go.Scatter` serializes it (same keys, same order)."""
    from _plotly_utils.utils import to_typed_array_spec  # numeric arrays as plotly encodes them

    head: dict[str, object] = {"line": line} if line is not None else {}
    return {
        **head,
        "mode": "lines",
        "name": name,
        "x": to_typed_array_spec(x),
        "y": to_typed_array_spec(y),
        "type": "scatter",
        "xaxis": "x2",
        "yaxis": "y2",
    }


def gantt_html(
    sched: Schedule, workload: Workload, hw: Hardware, path: str | Path, max_bars: int = 20000
) -> Path:
    """Interactive Gantt chart (plotly, self-contained HTML): one row per core, bars coloured by
    image, hover shows the layer; below, per-core utilization, PE efficiency and DRAM use.

    The figure is written as the plain JSON a validated plotly figure of these traces gives
    (`tests/test_sched_outputs_gantt.py` compares them), without plotly's per-trace
    validation, which cost more than the schedule."""
    import plotly.io as pio

    rows, cut = _bars(sched, workload, max_bars)
    data: list[dict[str, object]] = []
    for ni, net in enumerate(workload.networks):
        sel = rows[sched.net[rows] == ni]
        if not len(sel):
            continue
        text = []
        for t in sel.tolist():
            _, lname, kind = _label(sched, workload, t)
            text.append(
                f"{net.name} image {int(sched.image[t])}<br>{lname} ({kind})<br>"
                f"{sched.start[t]:,.0f} - {sched.end[t]:,.0f} cycles"
            )
        data.append(
            {
                "base": sched.start[sel].tolist(),
                "hoverinfo": "text",
                "hovertext": text,
                "marker": {
                    "color": [_PALETTE[(int(i) + 3 * ni) % len(_PALETTE)] for i in sched.image[sel]],
                    "line": {"width": 0},
                },
                "name": net.name,
                "orientation": "h",
                "x": (sched.end[sel] - sched.start[sel]).tolist(),
                "y": [sched.core_names[int(c)] for c in sched.core[sel]],
                "type": "bar",
                "xaxis": "x",
                "yaxis": "y",
            }
        )
    tl = timeline(sched, workload, hw)
    mid = (tl.edges[:-1] + tl.edges[1:]) / 2
    for k, name in enumerate(tl.core_names):
        data.append(_line(mid, tl.utilization[k], f"{name} utilization"))
        data.append(_line(mid, tl.pe_efficiency[k], f"{name} PE efficiency", {"dash": "dot"}))
    data.append(_line(mid, tl.dram, "DRAM / bandwidth", {"color": "black"}))
    title = _title(sched, workload, hw) + (f" (first {max_bars:,} tasks shown)" if cut else "")
    layout = json.loads(_gantt_layout())
    layout["xaxis2"]["title"] = {"text": "cycles"}
    layout["yaxis2"]["range"] = [0, 1.05]
    layout.update(
        {
            "title": {"font": {"size": 13}, "text": title},
            "barmode": "overlay",
            "height": 420 + 50 * len(hw.cores),
            "bargap": 0.15,
        }
    )
    # plotly.js (~4.7 MB) is written once beside the HTML files and referenced, not embedded in each
    # (offline: no CDN); a folder of Gantt charts shares one copy.
    js = Path(path).with_name(PLOTLY_JS)
    if not js.is_file():
        from plotly.offline import get_plotlyjs

        write_atomic(js, get_plotlyjs())
    figure = {"data": data, "layout": layout}
    return write_atomic(path, pio.to_html(figure, include_plotlyjs=PLOTLY_JS, full_html=True, validate=False))


#: File name of the shared plotly.js beside Gantt HTML files.
PLOTLY_JS = "plotly.min.js"


def gantt_png(
    sched: Schedule, workload: Workload, hw: Hardware, path: str | Path, max_bars: int = 20000
) -> Path:
    """Static Gantt chart (matplotlib PNG) with utilization and DRAM use below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cut = _bars(sched, workload, max_bars)
    names = list(sched.core_names)
    fig, (ax, ax2) = plt.subplots(
        2,
        1,
        figsize=(12, 2.4 + 0.6 * len(names)),
        sharex=True,
        gridspec_kw={"height_ratios": [max(len(names), 1), 2]},
    )
    for k in range(len(names)):
        sel = rows[sched.core[rows] == k]
        colors = [
            _PALETTE[(int(i) + 3 * int(n)) % len(_PALETTE)] for i, n in zip(sched.image[sel], sched.net[sel])
        ]
        ax.broken_barh(
            list(zip(sched.start[sel].tolist(), (sched.end[sel] - sched.start[sel]).tolist())),
            (k - 0.4, 0.8),
            facecolors=colors,
        )
    ax.set_yticks(range(len(names)), names)
    ax.set_title(_title(sched, workload, hw) + (" (truncated)" if cut else ""), fontsize=9)
    tl = timeline(sched, workload, hw)
    mid = (tl.edges[:-1] + tl.edges[1:]) / 2
    for k, name in enumerate(tl.core_names):
        ax2.plot(mid, tl.utilization[k], label=f"{name} util.")
        ax2.plot(mid, tl.pe_efficiency[k], linestyle=":", label=f"{name} PE eff.")
    ax2.plot(mid, tl.dram, color="black", label="DRAM")
    ax2.set_ylim(0, 1.05)
    ax2.set_xlabel("cycles")
    ax2.legend(fontsize=7, ncol=3, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_atomic(path, buf.getvalue())


def perfetto_trace(sched: Schedule, workload: Workload, hw: Hardware, path: str | Path) -> Path:
    """Chrome trace-event JSON (opens in ui.perfetto.dev): one track per core, a DRAM
    bandwidth counter track (GB/s). Times in microseconds at ``hw.clock_mhz``."""
    us = 1.0 / hw.clock_mhz
    events: list[dict[str, object]] = [
        {
            "ph": "M",
            "pid": 1,
            "tid": 0,
            "name": "process_name",
            "args": {"name": f"{hw.name} ({sched.method})"},
        }
    ]
    for k, name in enumerate(sched.core_names):
        events.append({"ph": "M", "pid": 1, "tid": k + 1, "name": "thread_name", "args": {"name": name}})
        events.append(
            {"ph": "M", "pid": 1, "tid": k + 1, "name": "thread_sort_index", "args": {"sort_index": k}}
        )
    busy = np.flatnonzero(sched.end > sched.start)
    busy = busy[np.argsort(sched.start[busy], kind="stable")]
    for t in busy.tolist():
        net, lname, kind = _label(sched, workload, t)
        events.append(
            {
                "ph": "X",
                "pid": 1,
                "tid": int(sched.core[t]) + 1,
                "name": lname,
                "cat": kind,
                "ts": float(sched.start[t]) * us,
                "dur": float(sched.end[t] - sched.start[t]) * us,
                "args": {
                    "network": net,
                    "image": int(sched.image[t]),
                    "cycles": float(sched.end[t] - sched.start[t]),
                },
            }
        )
    tt, rate = dram_profile(sched, workload, hw)
    gbps = rate * hw.clock_mhz * 1e6 / 1e9
    keep = np.append(True, np.diff(gbps) != 0) if len(gbps) else np.zeros(0, dtype=bool)
    for ti, v in zip(tt[keep].tolist(), gbps[keep].tolist()):
        events.append(
            {"ph": "C", "pid": 1, "name": "DRAM bandwidth", "ts": ti * us, "args": {"GB/s": round(v, 4)}}
        )
    meta = {
        "makespan_cycles": sched.makespan_cycles,
        "throughput_ips": sched.throughput_ips,
        "lower_bound_cycles": sched.lower_bound_cycles,
        "clock_mhz": hw.clock_mhz,
        "dram_peak_GBps": hw.dram_bytes_per_cycle * hw.clock_mhz * 1e6 / 1e9,
    }
    return write_atomic(path, json.dumps({"traceEvents": events, "displayTimeUnit": "ns", "metadata": meta}))
