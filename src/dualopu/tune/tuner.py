"""The auto-tuner: PE count and input size per PE of every core under an area budget.

One procedure for every design family (dual-core, unified single core, systolic), so that
every comparison is tuned vs tuned:

1. price every candidate of every core with the vectorized cost model and evaluate the
   whole space (exhaustive, chunked, written to a resumable SQLite store; on the local
   process or a Dask cluster) or sample it with Optuna TPE;
2. rank feasible configurations (area <= budget) by the steady-state objective;
3. schedule the best few with the real scheduler and keep the best scheduled one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dualopu.errors import TuneError
from dualopu.hw.config import Core, Hardware, load_hardware
from dualopu.ir.network import Network
from dualopu.tune.split_search import CoreSpace, Grid, build_grid, hardware_from
from dualopu.tune.store import ResultStore
from dualopu.util import write_atomic

#: Template of each core kind in a `--cores` list (buffers, dataflow from the presets).
_CORE_TEMPLATES = {"regular": ("dual-opu", 0), "depthwise": ("dual-opu", 1), "unified": ("single-opu", 0),
                   "unified:systolic": ("tpu-like", 0), "systolic": ("tpu-like", 0)}
OBJECTIVES = ("throughput", "latency", "efficiency")
Progress = Callable[[int, int, float], None]  # done, total, best objective so far


def template_for(cores: str, dram: float | None = None) -> Hardware:
    """A processor template from a `--cores` list such as ``regular,depthwise`` or ``unified``."""
    kinds = [c.strip() for c in cores.split(",") if c.strip()]
    if not kinds:
        raise TuneError("empty --cores list")
    built: list[Core] = []
    base = load_hardware("dual-opu")
    for kind in kinds:
        if kind not in _CORE_TEMPLATES:
            raise TuneError(f"unknown core kind {kind!r} in --cores (use {', '.join(_CORE_TEMPLATES)})")
        preset, k = _CORE_TEMPLATES[kind]
        core = load_hardware(preset).cores[k]
        name = core.name if sum(1 for x in kinds if x == kind) == 1 else f"{core.name}{len(built)}"
        built.append(core.model_copy(update={"name": name}))
    data = {**base.model_dump(), "name": f"tuned-{'-'.join(k.replace(':', '_') for k in kinds)}",
            "cores": [c.model_dump() for c in built]}
    if dram is not None:
        data["dram_bytes_per_cycle"] = dram
    return Hardware.model_validate(data)


@dataclass
class TuneResult:
    """Best configuration, scheduled, and every evaluated point."""

    best: Hardware
    throughput_ips: float  # scheduled
    bound_ips: float  # steady-state bound of the best configuration
    area: float
    budget: float
    evaluated: int
    points: pd.DataFrame
    method: str
    seconds: float
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"throughput_ips": self.throughput_ips, "bound_ips": self.bound_ips, "area": self.area,
                "budget": self.budget, "evaluated": self.evaluated, "method": self.method, "seconds": self.seconds,
                "best_hw": self.files.get("best_hw", ""),
                "best": [{"name": c.name, "type": c.type.value, "dataflow": c.dataflow, "pe_count": c.pe_count,
                          "input_size": c.input_size} for c in self.best.cores],
                "files": self.files}


def _objective(objective: str, period: np.ndarray, macs_per_cycle: np.ndarray, grid: Grid, idx: np.ndarray,
               total_macs: float) -> np.ndarray:
    """Lower is better."""
    if objective == "throughput":
        return period
    if objective == "latency":
        return np.sum([grid.busy[k][idx[:, k]] for k in range(len(grid.busy))], axis=0)
    return -(total_macs / (macs_per_cycle * period))  # efficiency


def _chunk_rows(grid: Grid, lo: int, hi: int, template: Hardware) -> list[tuple[str, str, float, float, float]]:
    """Rows of the flat combinations [lo, hi): (config label, candidate indices, period, area, MACs/cycle)."""
    idx, period, area = grid.evaluate(lo, hi)
    units = np.sum([grid.candidates[k][idx[:, k], 0] * grid.candidates[k][idx[:, k], 1]
                    for k in range(len(grid.candidates))], axis=0)
    labels = _labels(grid, idx, template)
    keys = np.full(len(idx), "", dtype=object)
    for k in range(idx.shape[1]):
        keys = keys + (idx[:, k].astype(str).astype(object) if k == 0 else "," + idx[:, k].astype(str).astype(object))
    period = np.where(np.isfinite(period), period, 1e300)
    return list(zip(labels.tolist(), keys.tolist(), period.tolist(), area.tolist(), units.tolist()))


def _labels(grid: Grid, idx: np.ndarray, template: Hardware) -> np.ndarray:
    """Human-readable configuration labels, e.g. ``regular:56x16|depthwise:12x9`` (vectorized)."""
    out = np.full(len(idx), "", dtype=object)
    for k, core in enumerate(template.cores):
        names = np.array([f"{core.name}:{int(p)}x{int(i)}" for p, i in grid.candidates[k]], dtype=object)
        out = out + (names[idx[:, k]] if k == 0 else "|" + names[idx[:, k]])
    return out


def _eval_chunk_remote(nets: Sequence[Network], template: Hardware, spaces: Sequence[CoreSpace],
                       weights: Sequence[float], lo: int, hi: int) -> list[tuple[str, str, float, float, float]]:
    """Run on a Dask worker: rebuild the (cheap) grid and evaluate one chunk."""
    return _chunk_rows(build_grid(nets, template, spaces, weights), lo, hi, template)


def tune(
    nets: Sequence[Network],
    budget: float,
    cores: str = "regular,depthwise",
    *,
    method: str = "exhaustive",
    trials: int = 300,
    seed: int = 0,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    executor: str = "local",
    chunk_size: int = 2048,
    objective: str = "throughput",
    pe_counts: Mapping[str, Sequence[int]] | None = None,
    input_sizes: Mapping[str, Sequence[int]] | None = None,
    dram: float | None = None,
    confirm_top: int = 16,
    confirm_images: int = 8,
    progress: Progress | None = None,
    name: str | None = None,
) -> TuneResult:
    """Tune ``cores`` for the workload ``nets`` (one image of each per round) under ``budget``."""
    t0 = time.perf_counter()
    if objective not in OBJECTIVES:
        raise TuneError(f"unknown objective {objective!r} ({', '.join(OBJECTIVES)})")
    if method == "auto":
        method = "exhaustive"
    if method not in ("exhaustive", "optuna"):
        raise TuneError(f"unknown method {method!r} (exhaustive, optuna, auto)")
    if budget <= 0:
        raise TuneError(f"area budget must be positive, got {budget}")
    template = template_for(cores, dram)
    spaces = []
    for core in template.cores:
        key = core.type.value if core.dataflow == "opu" else "systolic"
        kw: dict[str, Any] = {}
        if pe_counts and key in pe_counts:
            kw["pe_counts"] = tuple(pe_counts[key])
        if input_sizes and key in input_sizes:
            kw["input_sizes"] = tuple(input_sizes[key])
        if core.dataflow == "systolic":
            kw.setdefault("input_sizes", (8, 16, 32, 64))
        spaces.append(CoreSpace(core, **kw))
    weights = [1.0] * len(nets)
    grid = build_grid(nets, template, spaces, weights)
    if grid.size == 0:
        raise TuneError("empty design space")
    total_macs = float(sum(n.total_macs for n in nets))
    signature = {"nets": [[n.name, list(n.input_shape), len(n)] for n in nets], "cores": cores,
                 "template": template.model_dump(mode="json"), "budget": budget, "method": method, "seed": seed,
                 "trials": trials if method == "optuna" else None, "chunk": chunk_size,
                 "spaces": [[list(map(int, s.pe_counts)), list(map(int, s.input_sizes))] for s in spaces]}
    out_dir = Path(out) if out is not None else None
    store = ResultStore(out_dir / "tune.db", signature, resume, overwrite) if out_dir else None
    rows_mem: list[tuple[str, str, float, float, float]] = []

    def record(chunk: int, rows: list[tuple[str, str, float, float, float]]) -> None:
        if store:
            store.add_chunk(chunk, rows)
        else:
            rows_mem.extend(rows)

    throttle = float(os.environ.get("DUALOPU_TUNE_THROTTLE_S", "0") or 0)  # tests: make a run slow to kill it
    best_so_far = np.inf
    if method == "exhaustive":
        n_chunks = (grid.size + chunk_size - 1) // chunk_size
        todo = [c for c in range(n_chunks) if store is None or c not in store.done_chunks()]
        done = n_chunks - len(todo)
        if executor.startswith("dask://") or executor.startswith("tcp://"):
            from distributed import Client, as_completed

            address = executor.removeprefix("dask://")
            address = address if address.startswith("tcp://") else f"tcp://{address}"
            with Client(address, timeout="20s") as client:
                futs = {client.submit(_eval_chunk_remote, list(nets), template, spaces, weights,
                                      c * chunk_size, (c + 1) * chunk_size, pure=False): c for c in todo}
                for fut in as_completed(futs):
                    rows = fut.result()
                    record(futs[fut], rows)
                    done += 1
                    best_so_far = min(best_so_far, min(r[2] for r in rows))
                    if progress:
                        progress(done, n_chunks, best_so_far)
        elif executor == "local":
            for c in todo:
                rows = _chunk_rows(grid, c * chunk_size, (c + 1) * chunk_size, template)
                record(c, rows)
                done += 1
                best_so_far = min(best_so_far, min(r[2] for r in rows))
                if progress:
                    progress(done, n_chunks, best_so_far)
                if throttle:
                    time.sleep(throttle)
        else:
            raise TuneError(f"unknown executor {executor!r}: 'local' or 'dask://HOST:PORT'")
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        sizes = [len(c) for c in grid.candidates]
        for t in range(trials):
            trial = study.ask()
            idx = [trial.suggest_int(f"c{k}", 0, n - 1) for k, n in enumerate(sizes)]
            flat = int(np.ravel_multi_index(idx, sizes))
            rows = _chunk_rows(grid, flat, flat + 1, template)
            _, period, area = rows[0][0], rows[0][2], rows[0][3]
            value = period if area <= budget else 1e300 * (1 + area / budget)
            study.tell(trial, min(value, 1e300))
            record(t, rows)
            best_so_far = min(best_so_far, value)
            if progress:
                progress(t + 1, trials, best_so_far)
    points = store.frame() if store else pd.DataFrame(
        rows_mem, columns=["config", "idx", "period_cycles", "area", "macs_per_cycle"])
    if store:
        store.close()
    points = points.drop_duplicates("config").reset_index(drop=True)
    points.loc[points["period_cycles"] >= 1e299, "period_cycles"] = np.inf
    idx_arr = np.array(points["idx"].str.split(",").tolist(), dtype=np.int64).reshape(len(points), -1)
    period = points["period_cycles"].to_numpy(float)
    area = points["area"].to_numpy(float)
    units = points["macs_per_cycle"].to_numpy(float)
    points["throughput_bound_ips"] = template.clock_mhz * 1e6 * len(nets) / period
    points["feasible"] = (area <= budget * (1 + 1e-9)) & np.isfinite(period)
    if not points["feasible"].any():
        raise TuneError(f"no configuration fits the area budget {budget:.1f}; the smallest feasible area is "
                        f"{float(np.min(area)):.1f}")
    score = _objective(objective, period, units, grid, idx_arr, total_macs)
    score = np.where(points["feasible"], score * (1 + 1e-9 * area / budget), np.inf)
    order = np.argsort(score, kind="stable")[: max(1, min(confirm_top, int(points["feasible"].sum())))]
    candidates = [hardware_from(template, spaces, grid, idx_arr[j]) for j in order]
    from dualopu.sched import Workload, schedule

    def scheduled(hw: Hardware) -> float:
        return float(schedule(Workload.mix([(n, confirm_images) for n in nets]), hw).throughput_ips)

    if objective == "throughput":
        scores = [scheduled(hw) for hw in candidates]
        pick = int(np.argmax(scores))
    else:
        pick = 0
        scores = [scheduled(candidates[0])]
    best = candidates[pick].model_copy(update={"name": name or template.name})
    j = int(order[pick])
    result = TuneResult(best, scores[pick] if objective == "throughput" else scores[0],
                        float(points["throughput_bound_ips"].iloc[j]), float(area[j]), budget, len(points), points,
                        method, time.perf_counter() - t0)
    if out_dir:
        result.files = write_outputs(result, out_dir, template)
    return result


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """Points not dominated in (higher throughput bound, smaller area)."""
    finite = pd.DataFrame(points[np.isfinite(points["throughput_bound_ips"])])
    p = finite.sort_values(by=["area", "throughput_bound_ips"], ascending=[True, False])
    keep, best = [], -np.inf
    for i, row in p.iterrows():
        if row["throughput_bound_ips"] > best:
            keep.append(i)
            best = row["throughput_bound_ips"]
    return p.loc[keep]


def write_outputs(result: TuneResult, out: Path, template: Hardware) -> dict[str, str]:
    """best.yaml (loadable by --hw), points.csv, pareto.csv and plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {"best_hw": str(write_atomic(out / "best.yaml", result.best.to_yaml())),
             "points_csv": str(write_atomic(out / "points.csv", result.points.to_csv(index=False)))}
    front = pareto_front(result.points)
    files["pareto_csv"] = str(write_atomic(out / "pareto.csv", front.to_csv(index=False)))
    feas = pd.DataFrame(result.points[result.points["feasible"]])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    if len(template.cores) >= 2:
        first = feas["config"].str.split("|").str[0].str.split(":").str[1].str.split("x")
        macs0 = first.str[0].astype(int) * first.str[1].astype(int)
        frac = macs0 / feas["macs_per_cycle"]
        axes[0].scatter(frac, feas["throughput_bound_ips"], s=4, alpha=0.4)
        axes[0].set_xlabel(f"share of MACs in core '{template.cores[0].name}'")
    else:
        axes[0].scatter(feas["macs_per_cycle"], feas["throughput_bound_ips"], s=4, alpha=0.4)
        axes[0].set_xlabel("MACs per cycle")
    axes[0].set_ylabel("throughput bound (images/s)")
    axes[0].set_title("throughput vs PE split (feasible points)")
    allp = result.points[np.isfinite(result.points["throughput_bound_ips"])]
    axes[1].scatter(allp["area"], allp["throughput_bound_ips"], s=3, alpha=0.2, color="gray", label="evaluated")
    axes[1].plot(front["area"], front["throughput_bound_ips"], "r.-", label="Pareto front")
    axes[1].axvline(result.budget, color="k", ls="--", lw=1, label="budget")
    axes[1].set_xlabel("area (MAC-equivalents)")
    axes[1].set_ylabel("throughput bound (images/s)")
    axes[1].legend(fontsize=8)
    axes[1].set_title("Pareto front: throughput vs area")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    files["plot"] = str(write_atomic(out / "tune.png", buf.getvalue()))
    return files


def compare_tuned(names: Sequence[str], budget: float | None = None, images: int = 16) -> pd.DataFrame:
    """Per network: tuned dual-core vs tuned unified single core of the same area."""
    from dualopu.hw import total_area
    from dualopu.ir.zoo import build

    budget = budget or total_area(load_hardware("dual-opu"))
    rows = []
    for n in names:
        net = build(n)
        d = tune([net], budget, "regular,depthwise", confirm_images=images)
        s = tune([net], budget, "unified", confirm_images=images)
        rows.append({"network": n, "dual_ips": d.throughput_ips, "single_ips": s.throughput_ips,
                     "throughput_ratio": d.throughput_ips / s.throughput_ips,
                     "pe_eff_gain": (d.throughput_ips / d.best.total_macs_per_cycle)
                     / (s.throughput_ips / s.best.total_macs_per_cycle) - 1})
    return pd.DataFrame(rows)
