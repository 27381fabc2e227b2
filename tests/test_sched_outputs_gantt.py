"""The Gantt HTML written without plotly's per-trace validation is the validated figure's HTML
(same traces, layout and encoded arrays; only plotly's random div id differs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dualopu.hw import load_hardware
from dualopu.ir.zoo import build
from dualopu.sched import Workload, gantt_html, schedule
from dualopu.sched import outputs as O

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _validated_html(sched, workload, hw, max_bars: int = 20000) -> str:  # type: ignore[no-untyped-def]
    """The chart built trace by trace with plotly's validated objects (the oracle)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows, cut = O._bars(sched, workload, max_bars)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.08,
                        subplot_titles=O._SUBPLOT_TITLES)  # fmt: skip
    for ni, net in enumerate(workload.networks):
        sel = rows[sched.net[rows] == ni]
        if not len(sel):
            continue
        text = []
        for t in sel.tolist():
            _, lname, kind = O._label(sched, workload, t)
            text.append(f"{net.name} image {int(sched.image[t])}<br>{lname} ({kind})<br>"
                        f"{sched.start[t]:,.0f} - {sched.end[t]:,.0f} cycles")  # fmt: skip
        colors = [O._PALETTE[(int(i) + 3 * ni) % len(O._PALETTE)] for i in sched.image[sel]]
        fig.add_trace(go.Bar(y=[sched.core_names[int(c)] for c in sched.core[sel]],
                             x=(sched.end[sel] - sched.start[sel]).tolist(), base=sched.start[sel].tolist(),
                             orientation="h", name=net.name, hovertext=text, hoverinfo="text",
                             marker={"color": colors, "line": {"width": 0}}), row=1, col=1)  # fmt: skip
    tl = O.timeline(sched, workload, hw)
    mid = (tl.edges[:-1] + tl.edges[1:]) / 2
    for k, name in enumerate(tl.core_names):
        fig.add_trace(
            go.Scatter(x=mid, y=tl.utilization[k], name=f"{name} utilization", mode="lines"), row=2, col=1
        )
        fig.add_trace(go.Scatter(x=mid, y=tl.pe_efficiency[k], name=f"{name} PE efficiency", mode="lines",
                                 line={"dash": "dot"}), row=2, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=mid, y=tl.dram, name="DRAM / bandwidth", mode="lines", line={"color": "black"}),
                  row=2, col=1)  # fmt: skip
    title = O._title(sched, workload, hw) + (f" (first {max_bars:,} tasks shown)" if cut else "")
    fig.update_layout(barmode="overlay", title={"text": title, "font": {"size": 13}},
                      height=420 + 50 * len(hw.cores), bargap=0.15)  # fmt: skip
    fig.update_xaxes(title_text="cycles", row=2, col=1)
    fig.update_yaxes(range=[0, 1.05], row=2, col=1)
    return fig.to_html(include_plotlyjs=O.PLOTLY_JS, full_html=True)


@pytest.mark.parametrize(
    "hw_name,names,max_bars",
    [("dual-opu", ["mobilenet_v2"], 20000), ("single-opu", ["shufflenet_v2_x1_0", "squeezenet1_1"], 300)],
)
def test_gantt_html_is_the_validated_figure(
    tmp_path: Path, hw_name: str, names: list[str], max_bars: int
) -> None:
    hw = load_hardware(hw_name)
    w = Workload.mix([(build(n), 3) for n in names])
    s = schedule(w, hw)
    ours = gantt_html(s, w, hw, tmp_path / "g.html", max_bars=max_bars).read_text()
    assert (tmp_path / O.PLOTLY_JS).is_file()
    assert _ID.sub("ID", ours) == _ID.sub("ID", _validated_html(s, w, hw, max_bars))
