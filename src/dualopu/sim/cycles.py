"""Event-driven instruction-level cycle simulator: one or several cores sharing DRAM.

Each core has two in-order units, DMA (LOAD / STORE) and EXEC (COMPUTE / POST); an
instruction starts when its unit is free and its slot dependencies are done
(`dualopu.sim.timing`). The compiled software pipeline lets the DMA run one tile ahead
of the PE array (double buffering). All DMA transfers in flight share the DRAM port
(``dram_bytes_per_cycle``) equally (processor sharing); the engine advances from event to
event (instruction completions, transfer completions, releases), never cycle by cycle.

Work is organized in *jobs*: one layer of one image on its core. A core runs one job at
a time; a job starts when the core is free, its release time has come and the jobs it
waits for are done (the first such job in list order, or strictly the next one).
Between two jobs a core drains completely (no prefetch across layers).
`simulate_cycles` runs one image's layers in order (each after the previous, as the
analytical latency assumes); `simulate_tasks` takes a multi-image / multi-network
schedule and lets the cores overlap, contending for DRAM.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dualopu.compiler.program import Program
from dualopu.errors import ScheduleError
from dualopu.hw.config import Hardware
from dualopu.sim.timing import DMA, EXEC, TimedLayer, time_layer

_EPS = 1e-6


@dataclass(frozen=True)
class Job:
    """One layer's instructions on one core; runs after ``after`` jobs, not before ``release``."""

    core: int
    timed: TimedLayer
    release: float = 0.0
    after: tuple[int, ...] = ()


@dataclass(frozen=True)
class JobTimes:
    """Start/end of every job and busy time of every unit."""

    start: np.ndarray
    end: np.ndarray
    exec_busy: np.ndarray  # per core: PE array / post-processing busy cycles
    dma_busy: np.ndarray  # per core: DMA unit busy cycles (overheads + transfers)
    makespan: float


@dataclass
class _JobState:
    started: bool = False
    done: bool = False
    n_done: int = 0
    finished: list[bool] = field(default_factory=list)
    queues: tuple[list[int], list[int]] = field(default_factory=lambda: ([], []))
    ptr: list[int] = field(default_factory=lambda: [0, 0])
    busy: list[bool] = field(default_factory=lambda: [False, False])


def run_jobs(jobs: Sequence[Job], n_cores: int, dram_bytes_per_cycle: float, strict: bool = False) -> JobTimes:
    """Simulate ``jobs``. A free core starts the first of its jobs, in list order, whose
    release time has come and whose ``after`` jobs are done (greedy list scheduling);
    ``strict``: only its next job in list order (a fixed per-core order)."""
    bw = float(dram_bytes_per_cycle)
    n = len(jobs)
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    exec_busy = np.zeros(n_cores)
    dma_busy = np.zeros(n_cores)
    per_core: list[list[int]] = [[] for _ in range(n_cores)]
    for j, job in enumerate(jobs):
        if not 0 <= job.core < n_cores:
            raise ScheduleError(f"job {j}: core {job.core} out of range")
        if any(not 0 <= a < n for a in job.after):
            raise ScheduleError(f"job {j}: waits for a job that does not exist")
        per_core[job.core].append(j)
    pending: list[list[int]] = [list(q) for q in per_core]
    running: list[int | None] = [None] * n_cores
    states = [_JobState() for _ in jobs]
    heap: list[tuple[float, int, str, int, int]] = []  # (time, seq, kind, a, b)
    seq = 0
    now = 0.0
    # DRAM processor sharing
    active: dict[tuple[int, int], float] = {}
    last = 0.0
    version = 0
    waiting_release: set[int] = set()

    def push(t: float, kind: str, a: int, b: int = 0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, kind, a, b))

    def advance(t: float) -> None:
        nonlocal last
        if active and t > last:
            d = (t - last) * bw / len(active)
            for k in active:
                active[k] -= d
        last = t

    def reschedule() -> None:
        nonlocal version
        version += 1
        if active:
            t = now + min(active.values()) * len(active) / bw
            push(t, "dram", version)

    def issue(j: int) -> None:
        st = states[j]
        tl = jobs[j].timed
        for u in (DMA, EXEC):
            if st.busy[u] or st.ptr[u] >= len(st.queues[u]):
                continue
            i = st.queues[u][st.ptr[u]]
            if not all(st.finished[d] for d in tl.deps[i]):
                continue
            st.busy[u] = True
            if u == EXEC:
                exec_busy[jobs[j].core] += tl.fixed[i] + tl.work[i]
                push(now + tl.fixed[i] + tl.work[i], "done", j, i)
            else:
                push(now + tl.fixed[i], "xfer", j, i)

    def finish(j: int, i: int) -> None:
        st = states[j]
        u = jobs[j].timed.unit[i]
        st.finished[i] = True
        st.n_done += 1
        st.busy[u] = False
        st.ptr[u] += 1
        if st.n_done == len(jobs[j].timed):
            complete(j)
        else:
            issue(j)

    def complete(j: int) -> None:
        st = states[j]
        st.done = True
        end[j] = now
        c = jobs[j].core
        running[c] = None
        for k in range(n_cores):
            try_start(k)

    def ready(j: int) -> bool:
        job = jobs[j]
        if not all(states[a].done for a in job.after):
            return False
        if job.release > now + 1e-12:
            if j not in waiting_release:
                waiting_release.add(j)
                push(job.release, "release", job.core)
            return False
        return True

    def try_start(c: int) -> None:
        if running[c] is not None or not pending[c]:
            return
        cand = pending[c][:1] if strict else pending[c]
        j = next((k for k in cand if ready(k)), None)
        if j is None:
            return
        pending[c].remove(j)
        job = jobs[j]
        running[c] = j
        st = states[j]
        st.started = True
        start[j] = now
        tl = job.timed
        st.finished = [False] * len(tl)
        for i, u in enumerate(tl.unit):
            st.queues[u].append(i)
        if len(tl) == 0:
            complete(j)
        else:
            issue(j)

    xfer_start: dict[tuple[int, int], float] = {}
    for c in range(n_cores):
        try_start(c)
    while heap:
        t, _, kind, a, b = heapq.heappop(heap)
        if kind == "dram" and a != version:
            continue  # superseded by a later change of the active set
        now = t
        if kind == "done":
            finish(a, b)
        elif kind == "release":
            try_start(a)
        elif kind == "xfer":  # overhead over: the transfer joins the DRAM port
            j, i = a, b
            size = jobs[j].timed.work[i]
            dma_busy[jobs[j].core] += jobs[j].timed.fixed[i]
            if size <= 0:
                finish(j, i)
                continue
            advance(now)
            active[(j, i)] = size
            xfer_start[(j, i)] = now
            reschedule()
        else:  # dram: the smallest transfer(s) completed
            advance(now)
            done = [k for k, rem in active.items() if rem <= _EPS * max(1.0, jobs[k[0]].timed.work[k[1]])]
            if not done:  # numerical slack: complete the smallest
                done = [min(active, key=lambda k: active[k])]
            for k in done:
                del active[k]
            reschedule()
            for j, i in done:
                dma_busy[jobs[j].core] += now - xfer_start.pop((j, i))
                finish(j, i)
    if np.isnan(end).any():
        stuck = int(np.flatnonzero(np.isnan(end))[0])
        raise ScheduleError(f"simulation deadlocked: job {stuck} on core {jobs[stuck].core} never ran "
                            "(its dependencies never finish, or a strict per-core order contradicts them)")
    return JobTimes(start=start, end=end, exec_busy=exec_busy, dma_busy=dma_busy,
                    makespan=float(end.max(initial=0.0)))


# ---- public API -------------------------------------------------------------------------


def time_program(program: Program, hw: Hardware) -> list[TimedLayer]:
    """Timing of every layer of ``program`` on ``hw`` (checks that it was compiled for ``hw``)."""
    program.check_hardware(hw)
    return [time_layer(lp, hw.cores[lp.core], program.data_bytes, hw.dram_bytes_per_cycle, hw.dram_model) for lp in program.layers]


@dataclass(frozen=True)
class SimResult:
    """Cycle simulation of one image, layers in order."""

    network: str
    hardware: str
    layer_names: tuple[str, ...]
    layer_core: np.ndarray
    layer_start: np.ndarray
    layer_end: np.ndarray
    core_names: tuple[str, ...]
    core_exec_busy: np.ndarray  # PE array + post-processing unit busy cycles per core
    core_dma_busy: np.ndarray
    dram_bytes: float

    @property
    def layer_cycles(self) -> np.ndarray:
        return self.layer_end - self.layer_start

    @property
    def total_cycles(self) -> float:
        return float(self.layer_end.max(initial=0.0))

    @property
    def core_busy(self) -> np.ndarray:
        """Per core: cycles during which one of its layers ran."""
        return np.bincount(self.layer_core, weights=self.layer_cycles, minlength=len(self.core_names))

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "hardware": self.hardware,
            "cycles": self.total_cycles,
            "dram_bytes": self.dram_bytes,
            "cores": [
                {"name": n, "busy_cycles": float(b), "exec_busy_cycles": float(e), "dma_busy_cycles": float(d)}
                for n, b, e, d in zip(self.core_names, self.core_busy, self.core_exec_busy, self.core_dma_busy,
                                      strict=True)
            ],
            "layers": [
                {"name": n, "core": self.core_names[int(c)], "start": float(s), "cycles": float(e - s)}
                for n, c, s, e in zip(self.layer_names, self.layer_core, self.layer_start, self.layer_end, strict=True)
            ],
        }


def _dram_bytes(program: Program) -> float:
    return float(sum(getattr(i, "bytes", 0) for lp in program.layers for i in lp.instrs))


def simulate_cycles(program: Program, hw: Hardware) -> SimResult:
    """One image: every layer after the previous one, on the core it was compiled for."""
    timed = time_program(program, hw)
    jobs = [Job(core=lp.core, timed=t, after=(i - 1,) if i else ()) for i, (lp, t) in
            enumerate(zip(program.layers, timed, strict=True))]
    r = run_jobs(jobs, len(hw.cores), hw.dram_bytes_per_cycle)
    return SimResult(
        network=program.network,
        hardware=hw.name,
        layer_names=tuple(lp.name for lp in program.layers),
        layer_core=np.array([lp.core for lp in program.layers], dtype=np.int64),
        layer_start=r.start,
        layer_end=r.end,
        core_names=tuple(c.name for c in hw.cores),
        core_exec_busy=r.exec_busy,
        core_dma_busy=r.dma_busy,
        dram_bytes=_dram_bytes(program),
    )


@dataclass(frozen=True)
class Task:
    """A run of consecutive layers of one image of ``program`` (a schedule entry).

    ``layers``: layer indices in order (all when ``None``); each runs on the core it was
    compiled for, after the previous one. ``after``: indices of tasks that must finish
    before this one starts; ``release``: earliest start cycle.
    """

    program: Program
    layers: tuple[int, ...] | None = None
    release: float = 0.0
    after: tuple[int, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class TaskSimResult:
    """Cycle simulation of a static schedule of tasks on shared DRAM."""

    task_start: np.ndarray
    task_end: np.ndarray
    job_task: np.ndarray  # per layer job: task index
    job_layer: np.ndarray  # layer index within its program
    job_core: np.ndarray
    job_start: np.ndarray
    job_end: np.ndarray
    core_exec_busy: np.ndarray
    core_dma_busy: np.ndarray
    makespan: float


def simulate_tasks(tasks: Sequence[Task], hw: Hardware, strict: bool = False) -> TaskSimResult:
    """Simulate a schedule of tasks sharing the cores and the DRAM port.

    Each task's layers run in order, each on the core it was compiled for. A free core
    starts the first waiting layer, in the order the tasks are listed, that may start
    (greedy list scheduling); ``strict``: exactly in that order (a fixed per-core order,
    `ScheduleError` if it deadlocks)."""
    timed_cache: dict[int, list[TimedLayer]] = {}
    jobs: list[Job] = []
    j_task: list[int] = []
    j_layer: list[int] = []
    last_job: list[int] = []
    first_job: list[int] = []
    for t, task in enumerate(tasks):
        key = id(task.program)
        if key not in timed_cache:
            timed_cache[key] = time_program(task.program, hw)
        timed = timed_cache[key]
        idx = tuple(range(len(task.program.layers))) if task.layers is None else task.layers
        if not idx:
            raise ScheduleError(f"task {t} ({task.label or task.program.network}) has no layers")
        if any(not 0 <= i < len(timed) for i in idx):
            raise ScheduleError(f"task {t}: layer index out of range")
        if any(not 0 <= a < t for a in task.after):
            raise ScheduleError(f"task {t}: may only wait for tasks listed before it, got {task.after}")
        first_job.append(len(jobs))
        for k, i in enumerate(idx):
            after = tuple(last_job[a] for a in task.after) if k == 0 else (len(jobs) - 1,)
            jobs.append(Job(core=task.program.layers[i].core, timed=timed[i],
                            release=task.release if k == 0 else 0.0, after=after))
            j_task.append(t)
            j_layer.append(i)
        last_job.append(len(jobs) - 1)
    r = run_jobs(jobs, len(hw.cores), hw.dram_bytes_per_cycle, strict=strict)
    return TaskSimResult(
        task_start=r.start[first_job] if jobs else np.zeros(0),
        task_end=r.end[last_job] if jobs else np.zeros(0),
        job_task=np.asarray(j_task, dtype=np.int64),
        job_layer=np.asarray(j_layer, dtype=np.int64),
        job_core=np.asarray([j.core for j in jobs], dtype=np.int64),
        job_start=r.start,
        job_end=r.end,
        core_exec_busy=r.exec_busy,
        core_dma_busy=r.dma_busy,
        makespan=r.makespan,
    )
