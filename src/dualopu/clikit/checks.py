"""One place where CLI inputs are validated, by parameter name, before any command runs.

Every command's parsed parameters pass through :func:`check_params` (installed on every
command by :class:`dualopu.clikit.app.DualOpuGroup`), so a command added later gets the same
checks as long as it uses the shared parameter names (``images``, ``trials``, ``chunk_size``,
``dram``, ``area``, ``time_limit``, ``seed``, ``input_shape``, ``out``, ``output``, ...):

- numbers: finite, in range, with the limit named in the message (:data:`NUMERIC`);
- shapes: four positive dims (:func:`dualopu.util.parse_input_shape`);
- input files: JSON inputs larger than :data:`dualopu.util.MAX_JSON_BYTES` refused unread;
- outputs: every output path checked as a file or folder target (:data:`OUTPUT_PARAMS`).

Booleans never reach an int parameter: click parses ``--images true`` as an error, and the
hardware YAML refuses ``pe_count: true`` (hw/config.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dualopu.clikit.outputs import check_dir_target, check_file_target
from dualopu.errors import DualOpuError
from dualopu.util import MAX_INPUT_HW, MAX_JSON_BYTES, check_input_size, parse_input_shape

#: Most images per network in one schedule/validate/tune confirmation. The list scheduler costs
#: about 20 us per task (one layer of one image), so 10,000 images of a 60-layer network take
#: tens of seconds; a billion would run for days.
MAX_IMAGES = 10_000
#: Most Optuna trials (each one evaluation; 100,000 is far beyond where TPE stops improving).
MAX_TRIALS = 100_000
#: Largest chunk of configurations per stored chunk (memory grows with it).
MAX_CHUNK_SIZE = 1_000_000
#: Most candidates confirmed by schedules in one tune (each one a schedule of --images images).
MAX_CONFIRM_TOP = 10_000
#: Seeds are numpy seeds: non-negative 32-bit.
MAX_SEED = 2**32 - 1
#: Upper limits for physical quantities: far beyond any real design, finite.
MAX_DRAM_BYTES_PER_CYCLE = 1e6
MAX_AREA = 1e9
MAX_TIME_LIMIT_S = 86_400.0
MAX_WORKERS = 1024


class InvalidOptionError(DualOpuError):
    """A command-line value out of range or malformed."""


@dataclass(frozen=True)
class Range:
    """A numeric parameter's accepted range; ``None`` (flag not given) is always accepted."""

    low: float
    high: float
    integer: bool
    low_inclusive: bool = True
    unit: str = ""
    why: str = ""

    def check(self, flag: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidOptionError(f"{flag} {value!r}: expected a number")
        if self.integer and not float(value).is_integer():
            raise InvalidOptionError(f"{flag} {value}: expected a whole number")
        if not math.isfinite(value):
            raise InvalidOptionError(f"{flag} {value}: expected a finite number")
        low_ok = value >= self.low if self.low_inclusive else value > self.low
        if not low_ok:
            bound = f"at least {self.low:g}" if self.low_inclusive else f"greater than {self.low:g}"
            raise InvalidOptionError(f"{flag} {value:g}: must be {bound}")
        if value > self.high:
            unit = f" {self.unit}" if self.unit else ""
            why = f" ({self.why})" if self.why else ""
            raise InvalidOptionError(f"{flag} {value:g}: at most {self.high:,.0f}{unit}{why}")


#: Parameter name -> accepted range, shared by every command.
NUMERIC: dict[str, Range] = {
    "images": Range(
        1, MAX_IMAGES, True, unit="images per network", why="the scheduler's time grows with images x layers"
    ),
    "trials": Range(1, MAX_TRIALS, True, unit="trials"),
    "chunk_size": Range(1, MAX_CHUNK_SIZE, True, unit="configurations per chunk"),
    "confirm_top": Range(1, MAX_CONFIRM_TOP, True, unit="candidates", why="each one is a schedule"),
    "seed": Range(0, MAX_SEED, True),
    "dram": Range(0, MAX_DRAM_BYTES_PER_CYCLE, False, low_inclusive=False, unit="bytes/cycle"),
    "area": Range(0, MAX_AREA, False, low_inclusive=False, unit="MAC-equivalents"),
    "time_limit": Range(0, MAX_TIME_LIMIT_S, False, low_inclusive=False, unit="seconds"),
    "input_size": Range(0, MAX_INPUT_HW, True, unit="pixels"),
    "workers": Range(1, MAX_WORKERS, True, unit="workers"),
    "jobs": Range(1, MAX_WORKERS, True, unit="processes"),
}

#: Parameter name -> what it writes. ``out`` is always a folder, the others files.
OUTPUT_PARAMS: dict[str, Literal["file", "dir"]] = {
    "out": "dir",
    "store": "dir",
    "output": "file",
    "csv": "file",
    "plot": "file",
    "gantt": "file",
    "gantt_png": "file",
    "trace": "file",
}
#: Exceptions by (command, parameter), for a command whose parameter means something else.
OUTPUT_OVERRIDES: dict[tuple[str, str], Literal["file", "dir"]] = {}

#: JSON input files, refused unread above `MAX_JSON_BYTES`.
JSON_INPUT_PARAMS = ("program", "schedule_file")


def check_params(command: str, params: Mapping[str, Any], flags: Mapping[str, str] | None = None) -> None:
    """Validate a command's parsed parameters; raise `DualOpuError` (one line) on the first bad one.

    ``flags`` maps parameter names to the flag the user typed (``chunk_size`` -> ``--chunk-size``).
    """
    flags = flags or {}

    def flag(name: str) -> str:
        return flags.get(name, "--" + name.replace("_", "-"))

    for name, rng in NUMERIC.items():
        if name in params:
            rng.check(flag(name), params[name])
    shape = params.get("input_shape")
    if isinstance(shape, str) and shape:
        parse_input_shape(shape)
    for name in JSON_INPUT_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and value:
            check_input_size(value, MAX_JSON_BYTES, "JSON input")
    for name, kind in OUTPUT_PARAMS.items():
        value = params.get(name)
        if not value or not isinstance(value, str):
            continue
        kind = OUTPUT_OVERRIDES.get((command, name), kind)
        if kind == "dir":
            check_dir_target(value, flag(name))
        else:
            check_file_target(value, flag(name))
