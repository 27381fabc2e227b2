"""Run independent jobs (a candidate's schedule, a sweep point) on local processes or Dask.

``local``: a process pool over the machine's cores (one job: in this process);
``dask://HOST:PORT``: one Dask task per job. Failures a user can act on (unreachable
scheduler, workers without the package, a job failing) become one `TuneError` line; a job
whose worker is lost is retried (Dask ``retries``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dualopu.errors import TuneError

#: Retries of a job whose Dask worker died.
DASK_RETRIES = 2
#: Seconds to wait for a Dask scheduler.
DASK_CONNECT_TIMEOUT_S = 5


def local_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def dask_address(executor: str) -> str | None:
    """The scheduler address of ``dask://HOST:PORT`` (None for ``local``); other values are refused."""
    if executor == "local":
        return None
    if executor.startswith("inproc://"):  # an in-process cluster (tests, notebooks)
        return executor
    if executor.startswith("dask://") or executor.startswith("tcp://"):
        rest = executor.removeprefix("dask://").removeprefix("tcp://")
        if ":" not in rest:
            raise TuneError(f"--executor {executor!r}: give dask://HOST:PORT")
        return f"tcp://{rest}"
    raise TuneError(f"unknown executor {executor!r}: 'local' or 'dask://HOST:PORT'")


def _is_import_failure(exc: BaseException) -> bool:
    """Whether a worker failed to import something: Dask re-raises a failure to unpickle a
    function on the worker as a bare ``Exception('ModuleNotFoundError(...)')``, not as ImportError."""
    if isinstance(exc, ImportError):
        return True
    text = f"{exc!r} {exc}"
    return any(k in text for k in ("ModuleNotFoundError", "ImportError", "No module named"))


def _check_worker() -> str:
    import dualopu

    return getattr(dualopu, "__version__", "unknown")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_jobs(
    fn: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    executor: str = "local",
    workers: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(job index, fn(*job))`` as jobs finish (any order)."""
    if not jobs:
        return
    address = dask_address(executor)
    if address is None:
        n = min(workers or local_workers(), len(jobs))
        if n <= 1:
            for i, job in enumerate(jobs):
                yield i, fn(*job)
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(n, mp_context=ctx) as pool:
            futs = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
            for fut in as_completed(futs):
                yield futs[fut], fut.result()
        return
    yield from _run_dask(fn, jobs, address)


def _run_dask(
    fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], address: str
) -> Iterator[tuple[int, Any]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise TuneError(
            "--executor dask:// needs the 'distributed' package (pip install 'dask[distributed]')"
        ) from None
    try:
        client = Client(address, timeout=f"{DASK_CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise TuneError(f"cannot reach the Dask scheduler at {address} ({type(exc).__name__})") from None
    try:
        if not client.scheduler_info().get("workers"):
            raise TuneError(f"the Dask scheduler at {address} has no workers")
        try:
            client.run(_check_worker)
        except Exception as exc:
            if not _is_import_failure(exc):
                raise
            raise TuneError(
                f"a Dask worker at {address} cannot import dualopu ({_first_line(exc)}); "
                "install it on every worker"
            ) from None
        futs = {client.submit(fn, *job, pure=False, retries=DASK_RETRIES): i for i, job in enumerate(jobs)}
        for fut in as_completed(futs):
            try:
                yield futs[fut], fut.result()
            except Exception as exc:  # a job that failed remotely, or a worker lost too often
                if _is_import_failure(exc):
                    raise TuneError(
                        f"a Dask worker cannot import what a job needs ({_first_line(exc)})"
                    ) from None
                if "KilledWorker" in type(exc).__name__:
                    raise TuneError(
                        f"Dask workers kept dying on a job ({exc}); check worker memory/logs"
                    ) from None
                raise
    finally:
        client.close()
