"""The `Schedule` record: where and when every task runs, plus summary metrics and JSON I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dualopu.errors import ScheduleError
from dualopu.hw.config import Hardware
from dualopu.sched.workload import Workload
from dualopu.util import json_default

#: Format (and model) version of saved schedules; bumped when the file layout or the timing
#: model changes (2: phased fluid contention model, the one placement rule).
FORMAT = "dualopu-schedule/2"
_ARRAYS = ("task", "net", "image", "layer", "core", "start", "end")


@dataclass(frozen=True)
class Schedule:
    """A placement and timing of every task, in cycles of ``clock_mhz``.

    Per-task arrays (same length): ``task`` (dense id in the task graph), ``net`` (index into
    the workload's networks), ``image``, ``layer``, ``core`` (index into ``core_names``),
    ``start``, ``end``. ``contention`` says whether durations follow the shared-DRAM model
    (the validator then replays it). ``workload_spec`` / ``hardware_spec`` let
    `dualopu validate` rebuild the workload and processor from the file alone."""

    method: str
    hardware_name: str
    clock_mhz: float
    net: np.ndarray
    image: np.ndarray
    layer: np.ndarray
    core: np.ndarray
    start: np.ndarray
    end: np.ndarray
    lower_bound_cycles: float
    total_images: int
    core_names: tuple[str, ...]
    status: str = "heuristic"
    extra: dict[str, Any] = field(default_factory=dict)
    task: np.ndarray | None = None
    contention: bool = True
    workload_spec: tuple[dict[str, Any], ...] = ()
    hardware_spec: dict[str, Any] | None = None

    # ---- metrics -------------------------------------------------------------------
    @property
    def makespan_cycles(self) -> float:
        return float(self.end.max()) if len(self.end) else 0.0

    @property
    def throughput_ips(self) -> float:
        """Images per second at ``clock_mhz``."""
        mk = self.makespan_cycles
        return self.total_images * self.clock_mhz * 1e6 / mk if mk > 0 else float("inf")

    @property
    def bound_throughput_ips(self) -> float:
        """Images per second at the lower bound (an upper bound on throughput)."""
        lb = self.lower_bound_cycles
        return self.total_images * self.clock_mhz * 1e6 / lb if lb > 0 else float("inf")

    @property
    def fraction_of_bound(self) -> float:
        """Throughput as a fraction of the bound's (lower bound / makespan; 1.0 = provably optimal)."""
        mk = self.makespan_cycles
        return self.lower_bound_cycles / mk if mk > 0 else 1.0

    @property
    def core_busy_cycles(self) -> np.ndarray:
        return np.bincount(self.core, weights=self.end - self.start, minlength=len(self.core_names))

    @property
    def core_utilization(self) -> dict[str, float]:
        """Per core: busy cycles / makespan."""
        mk = self.makespan_cycles
        busy = self.core_busy_cycles
        return {n: float(b / mk) if mk > 0 else 0.0 for n, b in zip(self.core_names, busy)}

    def core_macs(self, workload: Workload) -> np.ndarray:
        """MACs each core performs."""
        macs = np.concatenate([net.table.macs for net in workload.networks]).astype(float)
        offsets = np.cumsum([0] + [len(n) for n in workload.networks])[:-1]
        return np.bincount(
            self.core, weights=macs[offsets[self.net] + self.layer], minlength=len(self.core_names)
        )

    def summary(self, workload: Workload, hw: Hardware) -> dict[str, Any]:
        """JSON-ready metrics: makespan, throughput, bound, per-core utilization and PE efficiency."""
        mk = self.makespan_cycles
        core_macs = self.core_macs(workload)
        eff = {
            c.name: float(core_macs[k] / (c.macs_per_cycle * mk)) if mk > 0 else 0.0
            for k, c in enumerate(hw.cores)
        }
        return {
            "method": self.method,
            "status": self.status,
            "contention": self.contention,
            "hardware": self.hardware_name,
            "networks": [n.name for n in workload.networks],
            "images": list(workload.images),
            "tasks": len(self.start),
            "makespan_cycles": mk,
            "makespan_ms": mk / (self.clock_mhz * 1e3),
            "throughput_ips": self.throughput_ips,
            "lower_bound_cycles": self.lower_bound_cycles,
            "bound_throughput_ips": self.bound_throughput_ips,
            "fraction_of_bound": self.fraction_of_bound,
            "core_utilization": self.core_utilization,
            "core_pe_efficiency": eff,
            "pe_efficiency": workload.total_macs / (hw.total_macs_per_cycle * mk) if mk > 0 else 0.0,
            **self.extra,
        }

    # ---- JSON ----------------------------------------------------------------------
    def to_json(self) -> str:
        task = self.task if self.task is not None else np.arange(len(self.start))
        arrays = {
            "task": task,
            "net": self.net,
            "image": self.image,
            "layer": self.layer,
            "core": self.core,
            "start": self.start,
            "end": self.end,
        }
        return json.dumps(
            {
                "format": FORMAT,
                "method": self.method,
                "status": self.status,
                "contention": self.contention,
                "hardware": self.hardware_name,
                "clock_mhz": self.clock_mhz,
                "core_names": list(self.core_names),
                "lower_bound_cycles": self.lower_bound_cycles,
                "total_images": self.total_images,
                "makespan_cycles": self.makespan_cycles,
                "throughput_ips": self.throughput_ips,
                "workload": list(self.workload_spec),
                "hardware_spec": self.hardware_spec,
                "extra": self.extra,
                "tasks": {k: np.asarray(v).tolist() for k, v in arrays.items()},
            },
            default=json_default,
        )

    @staticmethod
    def from_json(text: str) -> Schedule:
        """Parse `to_json` output; ScheduleError (one line) on anything malformed."""
        try:
            d = json.loads(text)
            if not isinstance(d, dict) or not isinstance(d.get("tasks"), dict):
                raise ScheduleError("not a dualopu schedule file (no 'tasks' table)")
            if d.get("format") != FORMAT:
                raise ScheduleError(
                    f"schedule file format {d.get('format')!r} is not {FORMAT!r} (written by another "
                    "dualopu version: schedule again)"
                )
            t = d["tasks"]
            arrays = {}
            for k in _ARRAYS:
                if k == "task" and k not in t:
                    continue
                a = np.asarray(t[k], dtype=float)
                if a.ndim != 1 or not np.isfinite(a).all():
                    raise ScheduleError(f"schedule file: tasks.{k} must be a list of finite numbers")
                if k not in ("start", "end"):
                    if (a != np.round(a)).any():
                        raise ScheduleError(f"schedule file: tasks.{k} must hold integers")
                    a = a.astype(np.int64)
                arrays[k] = a
            if len({len(v) for v in arrays.values()}) != 1:
                raise ScheduleError("schedule file: task arrays have different lengths")
            return Schedule(
                str(d["method"]),
                str(d["hardware"]),
                float(d["clock_mhz"]),
                arrays["net"],
                arrays["image"],
                arrays["layer"],
                arrays["core"],
                arrays["start"],
                arrays["end"],
                float(d["lower_bound_cycles"]),
                int(d["total_images"]),
                tuple(str(c) for c in d["core_names"]),
                str(d.get("status", "")),
                dict(d.get("extra") or {}),
                arrays.get("task"),
                bool(d.get("contention", True)),
                tuple(dict(w) for w in d.get("workload") or ()),
                d.get("hardware_spec"),
            )
        except ScheduleError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else ""
            raise ScheduleError(f"not a dualopu schedule file ({type(exc).__name__}: {msg})") from None
