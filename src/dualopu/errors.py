"""User-facing errors.

Every error a user can cause (bad file, bad shape, bad config) is a `DualOpuError`.
The CLI turns it into one line on stderr and exit status 2; anything else is a bug.
"""

from __future__ import annotations


class DualOpuError(Exception):
    """An error caused by the user's input, reported in one line without a traceback."""


class ModelError(DualOpuError):
    """A network file or name that cannot be loaded or understood."""


class UnsupportedOperatorError(ModelError):
    """An ONNX operator we cannot cost faithfully; the model is refused, not guessed."""


class ShapeError(DualOpuError):
    """A malformed or missing input shape."""


class HardwareError(DualOpuError):
    """An invalid hardware description."""


class ProgramError(DualOpuError):
    """A malformed compiled program file."""


class ScheduleError(DualOpuError):
    """A schedule that violates a dependency, a core exclusivity or a task count."""


class TuneError(DualOpuError):
    """An infeasible design space, a corrupt result store or a bad search request."""
