"""Roofline plot of every layer of an evaluated network, one panel per core."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dualopu.cost.evaluate import NetworkCost
from dualopu.hw.config import Core, CoreType
from dualopu.ir.network import LayerKind
from dualopu.util import write_atomic


def _window_sizes(result: NetworkCost, sub: pd.DataFrame, core: Core) -> list[int]:
    """Distinct kernel window sizes (kh*kw) of the depthwise layers placed on ``core``."""
    if core.type != CoreType.DEPTHWISE:
        return []
    names = set(sub["layer"])
    return sorted({layer.kernel[0] * layer.kernel[1] for layer in result.network.layers
                   if layer.name in names and layer.kind == LayerKind.DEPTHWISE})


def roofline_png(result: NetworkCost, path: str | Path) -> Path:
    """Achieved MACs/cycle vs MACs per DRAM byte, with each core's compute roof and the DRAM slope."""
    frame = result.to_dataframe()
    frame = pd.DataFrame(frame[frame["macs"] > 0])
    hw = result.hardware
    cores = [c for c in hw.cores if (frame["core"] == c.name).any()]
    fig, axes = plt.subplots(1, max(len(cores), 1), figsize=(5.5 * max(len(cores), 1), 4.2), squeeze=False)
    for ax, core in zip(axes[0], cores):
        sub = pd.DataFrame(frame[frame["core"] == core.name])
        x = np.logspace(-1, 4, 200)
        ax.plot(x, np.minimum(core.macs_per_cycle, x * hw.dram_bytes_per_cycle), "k-", lw=1.2, label="roof")
        ridge = core.macs_per_cycle / hw.dram_bytes_per_cycle
        for kk in _window_sizes(result, sub, core):
            # a window of kk values takes ceil(kk / input_size) cycles on an input_size-input PE
            peak = core.pe_count * kk / math.ceil(kk / core.input_size)
            if peak < core.macs_per_cycle:
                ax.plot(x, np.minimum(peak, x * hw.dram_bytes_per_cycle), "k--", lw=0.8,
                        label=f"roof for {kk}-value windows ({peak:.0f} MAC/cycle)")
        ax.axvline(ridge, color="gray", ls=":", lw=1)
        for kind, grp in sub.groupby("kind"):
            ax.scatter(grp["macs_per_dram_byte"], grp["achieved_macs_per_cycle"], s=14, label=str(kind))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("MACs per DRAM byte")
        ax.set_ylabel("achieved MACs / cycle")
        ax.set_title(f"{result.network.name} on {core.name} (ridge {ridge:.0f} MAC/B)", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_atomic(path, buf.getvalue())
