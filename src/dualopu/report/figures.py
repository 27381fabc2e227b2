"""Matplotlib figures for the reproduction report (PNG, headless backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dualopu.report.render import column_label


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grouped_bars(
    frame: pd.DataFrame, label_col: str, value_cols: list[str], ylabel: str, title: str, path: Path,
    reference: float | None = None, reference_label: str = "",
) -> Path:
    """One group of bars per row (e.g. per network), one bar per value column."""
    labels = frame[label_col].astype(str).tolist()
    x = np.arange(len(labels))
    width = 0.8 / max(len(value_cols), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) + 2), 4.0))
    for k, col in enumerate(value_cols):
        ax.bar(x + (k - (len(value_cols) - 1) / 2) * width, frame[col].to_numpy(dtype=float), width,
               label=column_label(col))
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label=reference_label)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[1]:  # no "No artists with labels" warning
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def lines(
    frame: pd.DataFrame, x_col: str, y_cols: list[str], xlabel: str, ylabel: str, title: str, path: Path,
    logx: bool = False, reference: float | None = None,
) -> Path:
    """Line plot of several series against one x column."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for col in y_cols:
        ax.plot(frame[x_col].to_numpy(dtype=float), frame[col].to_numpy(dtype=float), marker="o", label=column_label(col))
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def scatter(
    frame: pd.DataFrame, x_col: str, y_col: str, group_col: str, label_col: str, xlabel: str, ylabel: str,
    title: str, path: Path,
) -> Path:
    """One marker series per group (e.g. design family), each point annotated with its label."""
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    markers = "osD^v<>px"
    for k, (group, part) in enumerate(frame.groupby(group_col, sort=False)):
        ax.scatter(part[x_col].to_numpy(dtype=float), part[y_col].to_numpy(dtype=float),
                   marker=markers[k % len(markers)], s=36, label=str(group))
        for xv, yv, text in zip(part[x_col], part[y_col], part[label_col]):
            ax.annotate(str(text), (float(xv), float(yv)), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)
