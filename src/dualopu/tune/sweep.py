"""`dualopu sweep`: a declared grid of studies, each point one tune + confirmation.

The grid (YAML or flags) crosses area scales (of a reference design's area), DRAM
bandwidths, clocks, workloads (a network, or a mix ``a+b+c``) and design families (`--cores`
lists). Points run as independent jobs on local processes (all cores) or on Dask (one task
per point, a lost worker's point retried). Each finished point is written at once as one
JSON file (atomically) under ``OUT/points/``; a killed sweep resumes with the points already
there and computes only the missing ones. The table (sweep.csv, sweep.json) and the figure
(sweep.png) are written once at the end.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dualopu.errors import TuneError
from dualopu.tune.executor import dask_address, run_jobs
from dualopu.tune.store import MODEL_VERSION
from dualopu.util import keep_freed_memory, write_atomic

Progress = Callable[[str], None]


class SweepGrid(BaseModel):
    """The grid of a sweep; every list is crossed with every other."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area_scales: list[float] = Field(default=[1.0], min_length=1)
    dram_bytes_per_cycle: list[float] = Field(default=[64.0], min_length=1)
    clock_mhz: list[float] = Field(default=[200.0], min_length=1)
    workloads: list[str] = Field(min_length=1, description="a network, or a mix of networks joined by '+'")
    families: list[str] = Field(default=["regular,depthwise"], min_length=1, description="--cores lists")
    like: str = "dual-opu"
    input_shape: str | None = None
    images: int = Field(default=8, gt=0)
    confirm_top: int = Field(default=16, gt=0)
    space: str | None = None

    @field_validator("area_scales", "dram_bytes_per_cycle", "clock_mhz")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(x <= 0 for x in v):
            raise ValueError(f"values must be positive, got {v}")
        return v

    def points(self) -> list[dict[str, Any]]:
        """Every point of the grid, in a fixed order."""
        return [
            {"area_scale": a, "dram_bytes_per_cycle": d, "clock_mhz": c, "workload": w, "family": f}
            for a, d, c, w, f in itertools.product(
                self.area_scales, self.dram_bytes_per_cycle, self.clock_mhz, self.workloads, self.families
            )
        ]


def load_grid(path: str | Path | None, **flags: Any) -> SweepGrid:
    """A grid from YAML (if given) with flags on top; errors name the field."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise TuneError(f"{path}: cannot read the sweep grid ({type(exc).__name__})") from None
        if not isinstance(data, dict):
            raise TuneError(f"{path}: a sweep grid is a mapping of fields")
    data.update({k: v for k, v in flags.items() if v is not None})
    try:
        return SweepGrid.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "grid"
        raise TuneError(f"{path or 'sweep'}: field '{where}': {err['msg']}") from None


def point_id(point: dict[str, Any]) -> str:
    """Stable file name of a point."""
    return hashlib.sha1(json.dumps(point, sort_keys=True).encode()).hexdigest()[:16]


def run_point(grid: SweepGrid, point: dict[str, Any]) -> dict[str, Any]:
    """One point: tune the family for the workload at the point's area/DRAM/clock, confirmed by schedules."""
    from dualopu.hw import load_hardware, total_area
    from dualopu.ir.loader import load_network
    from dualopu.tune.space import load_space
    from dualopu.tune.tuner import tune

    t0 = time.perf_counter()
    nets = [load_network(n.strip(), grid.input_shape) for n in point["workload"].split("+") if n.strip()]
    budget = point["area_scale"] * total_area(load_hardware(grid.like))
    space = load_space(grid.space).model_copy(update={"clock_mhz": [point["clock_mhz"]]})
    res = tune(
        nets,
        budget,
        point["family"],
        space=space,
        dram=point["dram_bytes_per_cycle"],
        confirm_top=grid.confirm_top,
        confirm_images=grid.images,
        workers=1,
    )
    return {
        **point,
        "budget": budget,
        "throughput_ips": res.throughput_ips,
        "bound_ips": res.bound_ips,
        "area": res.area,
        "design": res.best.description,
        "core_busy_fraction": json.dumps([round(x, 6) for x in res.core_busy_fraction]),
        "evaluated": res.evaluated,
        "seconds": time.perf_counter() - t0,
    }


def run_points(
    fn: Callable[..., dict[str, Any]],
    jobs: Sequence[tuple[Any, ...]],
    ids: Sequence[str],
    store: Path | None,
    executor: str = "local",
    workers: int | None = None,
    on_row: Callable[[int, dict[str, Any]], None] | None = None,
    groups: Sequence[str] | None = None,
) -> tuple[dict[str, dict[str, Any]], int]:
    """The one job runner of sweeps and of `dualopu reproduce`'s tunes: ``fn(*jobs[k])`` (a JSON row)
    for every id, on local processes or Dask (`run_jobs`). With a ``store`` folder each row is kept
    as ``store/ID.json``, written atomically as it finishes, and rows already there are read back,
    so a killed run resumes without repeating or losing a point. Returns the rows by id and how
    many were computed (``on_row(rows so far, row)`` after each). ``groups``: per job a key;
    the missing jobs of one key run as one task, in order, as ``fn(*job, shared=S)`` with one
    dict ``S`` per task (caches the jobs of a group share; each row still stored by its id)."""
    rows: dict[str, dict[str, Any]] = {}
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)
        for i in ids:
            f = store / f"{i}.json"
            if i not in rows and f.exists():
                rows[i] = json.loads(f.read_text())
    todo: list[int] = []
    seen: set[str] = set()
    for k, i in enumerate(ids):  # one job per id not stored yet
        if i not in rows and i not in seen:
            seen.add(i)
            todo.append(k)
    if groups is None:
        tasks, members = [(fn, jobs[k]) for k in todo], [[k] for k in todo]
        results = ((j, [row]) for j, row in run_jobs(fn, [jobs[k] for k in todo], executor, workers))
    else:
        by: dict[str, list[int]] = {}
        for k in todo:
            by.setdefault(groups[k], []).append(k)
        members = list(by.values())
        tasks = [(fn, [jobs[k] for k in m]) for m in members]
        results = run_jobs(_run_group, tasks, executor, workers)
    if todo and dask_address(executor) is None:
        import dualopu.sched  # noqa: F401  (every point confirms by schedules: import once, before the fork)
    computed = 0
    for j, got in results:
        for k, row in zip(members[j], got):
            i = ids[k]
            if store is not None:
                write_atomic(store / f"{i}.json", json.dumps(row, sort_keys=True))
            rows[i] = row
            computed += 1
            if on_row is not None:
                on_row(len(rows), row)
    return rows, computed


def _run_group(fn: Callable[..., dict[str, Any]], jobs: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The jobs of one group, in order, sharing one dict (their caches) that ends with the task."""
    shared: dict[str, Any] = {}
    return [fn(*job, shared=shared) for job in jobs]


def sweep(
    grid: SweepGrid,
    out: str | Path,
    *,
    executor: str = "local",
    resume: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Run every point of ``grid`` (missing ones only when resuming) and write the table and figure."""
    say = progress or (lambda msg: None)
    dask_address(executor)
    keep_freed_memory()  # the points' tunes allocate many short-lived arrays (forked workers inherit it)
    out = Path(out)
    spec = {"grid": grid.model_dump(mode="json"), "model_version": MODEL_VERSION}
    spec_file = out / "sweep.spec.json"
    if spec_file.exists():
        if not resume:
            raise TuneError(f"{out} already holds a sweep: pass --resume to continue it")
        try:
            stored = json.loads(spec_file.read_text())
        except (OSError, json.JSONDecodeError):
            raise TuneError(f"{spec_file}: unreadable; refusing to resume") from None
        if stored != spec:
            raise TuneError(
                f"{out}: the stored sweep differs from this one (grid or model version "
                f"{stored.get('model_version')!r}); refusing to resume"
            )
    else:
        write_atomic(spec_file, json.dumps(spec, indent=1, sort_keys=True))
    pdir = out / "points"
    points = grid.points()
    ids = [point_id(p) for p in points]
    done = sum(1 for i in ids if (pdir / f"{i}.json").exists())
    say(f"sweep: {len(points)} points, {done} already done, {len(points) - done} to run on {executor}")

    def report(n: int, row: dict[str, Any]) -> None:
        say(
            f"point {n}/{len(points)}: {row['workload']} {row['family']} "
            f"x{row['area_scale']:g} {row['dram_bytes_per_cycle']:g} B/cycle -> {row['throughput_ips']:.1f} img/s"
        )

    found, computed = run_points(run_point, [(grid, p) for p in points], ids, pdir, executor, workers, report)
    rows = [found[i] for i in ids]
    table = pd.DataFrame(rows)
    table.attrs["computed"] = computed
    write_atomic(out / "sweep.csv", table.drop(columns=["seconds"]).to_csv(index=False))
    write_atomic(out / "sweep.json", str(table.drop(columns=["seconds"]).to_json(orient="records", indent=1)))
    write_atomic(out / "sweep.png", _figure(table))
    write_atomic(out / "run.json", json.dumps({"points": len(points), "computed": computed, "reused": done}))
    return table


def _figure(table: pd.DataFrame) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(table.groupby(["workload", "family", "dram_bytes_per_cycle", "clock_mhz"]))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, g in groups[:24]:
        g = g.sort_values("area_scale")
        ax.plot(g["area_scale"], g["throughput_ips"], "o-", label=" | ".join(str(k) for k in tuple(key)))  # type: ignore[arg-type]
    ax.set_xlabel("area (x reference design)")
    ax.set_ylabel("scheduled throughput (images/s)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def parse_list(text: str | None, cast: Callable[[str], Any] = float, sep: str = ";") -> list[Any] | None:
    """A flag's list: ``0.75;1`` (families and workloads contain commas, so lists use ';')."""
    if text is None:
        return None
    return [cast(x.strip()) for x in text.split(sep) if x.strip()]
