"""Progress that shows outside a terminal too: one line per stage on stderr.

rich's live progress is disabled when stderr is not a terminal (CI, `2> log`, a pipe), which
left `dualopu reproduce` silent for minutes. `stage_progress` keeps the live bar in a
terminal and otherwise prints ``[  12.3 s] stage`` once per stage change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape


def stage_progress(bar: Any, task: Any, console: Console, quiet: bool = False) -> Callable[[str], None]:
    """A ``progress(message)`` callback: updates ``bar``'s task, or prints a line per new stage."""
    t0 = time.perf_counter()
    last: list[str] = [""]

    def report(message: str) -> None:
        bar.update(task, description=message)
        if quiet or console.is_terminal or message == last[0]:
            return
        last[0] = message
        console.print(
            f"[{time.perf_counter() - t0:7.1f} s] {escape(message)}", highlight=False, soft_wrap=True
        )

    return report
