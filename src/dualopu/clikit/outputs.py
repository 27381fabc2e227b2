"""Where outputs are written: targets checked before any work, results published atomically.

Two rules for every command that writes (see docs/cli.md):

1. **Check first.** Before any work starts, every output path is checked with
   :func:`check_file_target` or :func:`check_dir_target`: an existing directory where a file is
   needed, an existing file where a folder is needed, or a location that cannot be written
   (read-only, under a file, permission) is refused in one line (`OutputError`, exit 2).
   The CLI does this automatically for the parameters named in
   :data:`dualopu.clikit.checks.OUTPUT_PARAMS`.
2. **Publish atomically.** A file is written with :func:`dualopu.util.write_atomic`
   (temporary sibling + rename). A result folder is written inside :func:`output_dir`::

       from dualopu.clikit.outputs import output_dir

       with output_dir(out) as tmp:        # tmp = <parent>/.<name>.partial, created empty
           write_atomic(tmp / "report.md", text)
           ...                              # any exception, Ctrl-C or kill: `out` is untouched
       # here `out` holds exactly what was written to tmp; the previous result was kept until now

   For a resumable run (a store of finished chunks), pass ``resume=True`` and keep the store
   inside ``tmp``: a run that is interrupted keeps ``tmp`` so that ``--resume`` continues it;
   ``carry=True`` copies the existing folder's files into ``tmp`` first (so a store that
   "already holds results" is still noticed, or a finished run can be extended).

Only ordinary folders are replaced: ``out`` must be empty, absent, or a folder written by
dualopu (it holds :data:`MARKER`, or a known result file), so ``--out .`` or ``--out ~`` can
never wipe a user's files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dualopu.errors import DualOpuError

#: File written in every folder made by `output_dir`, so that a later run may replace it.
MARKER = ".dualopu-output"
#: Files that identify a folder written by an older dualopu (before the marker existed).
KNOWN_RESULTS = frozenset(
    {
        "tune.db",
        "best.yaml",
        "points.csv",
        "report.md",
        "results.json",
        "sweep.db",
        "sweep.csv",
        "sweep.json",
        "sweep.spec.json",
        "points",
        "run.json",
        "rtl.json",
    }
)


class OutputError(DualOpuError):
    """An output path that cannot be written as asked (refused before any work)."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and not p.is_symlink():
        if p.parent == p:
            break
        p = p.parent
    return p


def _check_writable_dir(directory: Path, flag: str, target: Path) -> None:
    """Refuse unless a file can be created in ``directory`` (probed: works for root and read-only mounts)."""
    base = _nearest_existing(directory)
    if not base.is_dir():
        raise OutputError(f"{flag} {target}: {base} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=base, prefix=".dualopu-probe-")
    except OSError as exc:
        raise OutputError(
            f"{flag} {target}: cannot write in {base} ({exc.strerror or type(exc).__name__})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def check_file_target(path: str | Path, flag: str = "output") -> Path:
    """Refuse a file output that would fail: a directory, under a file, or not writable."""
    p = Path(path)
    if str(path).endswith(os.sep) or p.is_dir():
        raise OutputError(f"{flag} {p}: is a folder; give a file name")
    if p.exists() and not os.access(p, os.W_OK):
        raise OutputError(f"{flag} {p}: the file is read-only")
    _check_writable_dir(p.parent, flag, p)
    return p


def _is_replaceable(p: Path) -> bool:
    try:
        names = {c.name for c in p.iterdir()}
    except OSError:
        return False
    return not names or MARKER in names or bool(names & KNOWN_RESULTS)


def check_dir_target(path: str | Path, flag: str = "--out") -> Path:
    """Refuse a folder output that would fail or would destroy files it did not write."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{flag} {p}: is a file; give a folder")
    resolved = p.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents or resolved == Path.home().resolve():
        raise OutputError(f"{flag} {p}: is the current folder or above it; give a new folder for the results")
    if p.is_dir() and not _is_replaceable(p):
        raise OutputError(f"{flag} {p}: exists and was not written by dualopu; give a new or empty folder")
    _check_writable_dir(resolved.parent, flag, p)
    return p


def staging_path(path: str | Path) -> Path:
    """The temporary sibling folder `output_dir` writes into (stable, so `--resume` finds it)."""
    p = Path(path).resolve()
    return p.with_name(f".{p.name}.partial")


@contextmanager
def output_dir(
    path: str | Path,
    *,
    resume: bool = False,
    keep_partial: bool = False,
    carry: bool = False,
    flag: str = "--out",
) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path`` in one rename.

    - success: the old ``path`` (if any) is moved aside, the staging folder renamed to ``path``,
      the old one deleted; in between a reader may briefly see no folder, never a mixed one;
    - a refusal or any other exception: the staging folder is deleted and ``path`` is left exactly
      as it was (a reused staging folder is kept as found);
    - Ctrl-C with ``keep_partial`` (a resumable run), or SIGKILL: the staging folder stays behind as
      ``.<name>.partial``; the next run reuses it with ``resume=True`` and discards it otherwise.

    ``carry`` (or ``resume`` without a staging folder) starts from a copy of ``path``'s files.
    A `DualOpuError` raised inside names ``path``, not the staging folder.
    """
    final = check_dir_target(path, flag).resolve()
    stage = staging_path(final)
    reused = resume and stage.is_dir()
    if not reused:
        if stage.is_dir():
            shutil.rmtree(stage)
        elif stage.exists():
            stage.unlink()
        if (carry or resume) and final.is_dir():
            shutil.copytree(final, stage, symlinks=True)
        else:
            stage.mkdir(parents=True)
    (stage / MARKER).write_text("written by dualopu; this folder may be replaced by a later run\n")
    try:
        yield stage
    except KeyboardInterrupt:
        if not (keep_partial or reused):
            shutil.rmtree(stage, ignore_errors=True)
        raise
    except DualOpuError as exc:
        if not reused:
            shutil.rmtree(stage, ignore_errors=True)
        msg = str(exc).replace(str(stage), str(path))
        if msg == str(exc):
            raise
        raise type(exc)(msg) from None
    except BaseException:
        if not reused:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    publish(stage, final)


def published(value: str, stage: Path, final: str | Path) -> str:
    """A path string inside ``stage`` as it reads after publication (for messages and summaries)."""
    return value.replace(str(stage), str(final))


def publish(stage: Path, final: Path) -> None:
    """Replace ``final`` by ``stage`` (two renames; the old result is kept until the new is in place)."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
        os.replace(final, old / final.name)
    try:
        os.replace(stage, final)
    except BaseException:
        if old is not None:
            os.replace(old / final.name, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
