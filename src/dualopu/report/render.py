"""A report as plain data (sections of text, tables and figures), rendered to Markdown and
to one self-contained HTML file (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Table:
    """A captioned table; ``frame`` holds computed numbers only."""

    caption: str
    frame: pd.DataFrame
    csv_name: str  # file name the table is also written to, under the report folder
    float_format: str = "{:.3g}"


@dataclass(frozen=True)
class Figure:
    """A captioned PNG figure, stored beside the report."""

    caption: str
    path: Path  # absolute path of the PNG


@dataclass(frozen=True)
class Link:
    caption: str
    href: str  # relative to the report folder


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    blocks: Sequence[Table | Figure | Link] = field(default_factory=list)


@dataclass
class Report:
    title: str
    intro: list[str]
    sections: list[Section]


def _fmt(value: object, float_format: str) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return float_format.format(value)
    return str(value)


def markdown_table(frame: pd.DataFrame, float_format: str = "{:.3g}") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v, float_format).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def render_markdown(report: Report, folder: Path) -> str:
    """Markdown text; figure links are relative to ``folder``."""
    out = [f"# {report.title}", "", *[p + "\n" for p in report.intro]]
    for sec in report.sections:
        out += [f"## {sec.title}", ""]
        out += [p + "\n" for p in sec.paragraphs]
        for b in sec.blocks:
            if isinstance(b, Table):
                out += [f"**{b.caption}** ([CSV]({b.csv_name}))", "", markdown_table(b.frame, b.float_format), ""]
            elif isinstance(b, Figure):
                out += [f"![{b.caption}]({b.path.relative_to(folder).as_posix()})", "", f"*{b.caption}*", ""]
            else:
                out += [f"- [{b.caption}]({b.href})", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee} figcaption{font-style:italic;color:#555;margin-bottom:1.5em}
code{background:#f5f5f5;padding:0 .2em}
"""


def _inline(text: str) -> str:
    """Escape text and keep `code` spans and **bold**."""
    esc = html.escape(text)
    parts = esc.split("`")
    esc = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = esc.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def render_html(report: Report) -> str:
    """One self-contained HTML page (figures inlined)."""
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
    ]
    out += [f"<p>{_inline(p)}</p>" for p in report.intro]
    for sec in report.sections:
        out.append(f"<h2>{html.escape(sec.title)}</h2>")
        out += [f"<p>{_inline(p)}</p>" for p in sec.paragraphs]
        for b in sec.blocks:
            if isinstance(b, Table):
                body = b.frame.to_html(
                    index=False, border=0, float_format=lambda v, f=b.float_format: f.format(v), na_rep=""
                )
                out.append(f"<p><b>{html.escape(b.caption)}</b></p>{body}")
            elif isinstance(b, Figure):
                data = base64.b64encode(b.path.read_bytes()).decode()
                out.append(
                    f"<figure><img alt='{html.escape(b.caption)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(b.caption)}</figcaption></figure>"
                )
            else:
                out.append(f"<p><a href='{html.escape(b.href)}'>{html.escape(b.caption)}</a></p>")
    out.append("</body></html>")
    return "\n".join(out)
