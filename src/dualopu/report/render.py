"""A report as plain data (sections of text, tables and figures), rendered to Markdown and
to one self-contained HTML file (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import math
import re
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


#: Words of raw column names as a reader says them (the CSVs keep the raw names).
_WORDS = {"ips": "images/s", "pe": "PE", "eff": "efficiency", "dual": "dual-core", "single": "single-core",
          "opu": "OPU", "tpu": "TPU", "dram": "DRAM", "bw": "bandwidth", "macs": "MACs", "vs": "vs",
          "uj": "µJ/image"}
_PHRASES = {"pe_efficiency": "PE efficiency", "single_core": "single core", "tpu_like": "TPU-like", "single_opu": "single-OPU", "pe_eff": "PE efficiency",
            "of_bound": "of bound", "bytes_per_cycle": "bytes/cycle"}


def is_fraction_column(name: str) -> bool:
    """Columns holding fractions (shown as percent): efficiencies, gains, shares, ratios to a bound."""
    n = name.lower()
    return (n.endswith(("_eff", "_gain", "_of_bound", "utilization", "_share", "fraction")) or n == "gain"
            or n.startswith(("vs_", "gain_")) or "_vs_" in n or n.endswith("efficiency"))


def column_label(name: str) -> str:
    """``dual_pe_eff`` -> ``dual-core PE efficiency``; ``single_opu_ips`` -> ``single-OPU images/s``."""
    text = name
    for raw, nice in _PHRASES.items():
        text = text.replace(raw, nice.replace(" ", "\x00"))
    words = [_WORDS.get(w, w) for w in text.split("_") if w]
    return " ".join(words).replace("\x00", " ")


def _cell(name: str, value: object, float_format: str) -> str:
    if isinstance(value, float) and is_fraction_column(name) and math.isfinite(value):
        signed = "gain" in name.lower() or name.lower().startswith("vs_") or "_vs_" in name.lower()
        return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"
    return _fmt(value, float_format)


def display_rows(frame: pd.DataFrame, float_format: str = "{:.3g}") -> tuple[list[str], list[list[str]]]:
    """Human-readable headers and formatted cells of a table (percent for fractions)."""
    names = [str(c) for c in frame.columns]
    rows = [[_cell(n, v, float_format) for n, v in zip(names, row)] for row in frame.itertuples(index=False)]
    return [column_label(n) for n in names], rows


def markdown_table(frame: pd.DataFrame, float_format: str = "{:.3g}") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cols, rows = display_rows(frame, float_format)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(v.replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def html_table(frame: pd.DataFrame, float_format: str = "{:.3g}") -> str:
    """The same table as HTML (escaped cells, human-readable headers)."""
    cols, rows = display_rows(frame, float_format)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")


def _inline_plain(esc: str) -> str:
    esc = _LINK.sub(lambda m: f"<a href='{m.group(2)}'>{m.group(1)}</a>", esc)
    esc = _BOLD.sub(r"<b>\1</b>", esc)
    return _ITALIC.sub(r"<i>\1</i>", esc)


def _inline(text: str) -> str:
    """Escape text and render the inline Markdown the report uses: `code`, **bold**, *italic*, [links](href).

    A tiny converter on purpose (no Markdown dependency): code spans are taken first and left verbatim.
    """
    parts = html.escape(text, quote=True).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else _inline_plain(p) for i, p in enumerate(parts))


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
                out.append(f"<p><b>{html.escape(b.caption)}</b></p>{html_table(b.frame, b.float_format)}")
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
