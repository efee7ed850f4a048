"""Where a chapter's independent runs go: worker processes on this machine, or an existing Dask cluster.

Every run seeds itself and sets one torch thread, so the results are the same, bit for bit, whichever
engine runs them and in whatever order they finish:

* without a scheduler, joblib's loky backend on this machine, with ``PCSM_JOBS`` worker processes
  (default 2), never more than there are runs or CPU cores;
* with a scheduler address (the ``scheduler`` argument, else ``PCSM_SCHEDULER``, e.g.
  ``tcp://10.0.0.5:8786``), joblib's ``dask`` backend on that cluster, which decides how many run at
  once. An address where no scheduler answers within ``CONNECT_TIMEOUT`` seconds (nothing listening,
  or a server that accepts and never replies) stops the run before any work starts, with the address
  named.

Progress is a tqdm bar on stderr that disappears when done (the runner keeps stderr out of the page).
"""

from __future__ import annotations

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from joblib import Parallel, delayed, parallel_config
from tqdm import tqdm

from pcsm.core._checks import check_positive_int

JOBS_ENV = "PCSM_JOBS"
SCHEDULER_ENV = "PCSM_SCHEDULER"
FROM_ENV = 0  # n_jobs = FROM_ENV: read PCSM_JOBS
DEFAULT_JOBS = 2
CONNECT_TIMEOUT = 5.0


def jobs_from_env(n_jobs: int = FROM_ENV, n_tasks: int | None = None) -> int:
    """Worker processes for ``n_tasks`` independent runs on this machine: ``n_jobs`` >= 1, or
    ``FROM_ENV`` (0) for ``$PCSM_JOBS`` (default 2); at most ``n_tasks`` and the CPU cores, at least 1."""
    check_positive_int(n_jobs, "n_jobs", minimum=0)
    if n_jobs == FROM_ENV:
        raw = os.environ.get(JOBS_ENV, "").strip() or str(DEFAULT_JOBS)
        try:
            n_jobs = check_positive_int(int(raw), JOBS_ENV)
        except ValueError as error:
            raise ValueError(f"{JOBS_ENV}: expected a positive integer, got {raw!r}") from error
    limit = os.cpu_count() or 1
    if n_tasks is not None:
        limit = min(limit, check_positive_int(n_tasks, "n_tasks", minimum=0))
    return max(1, min(n_jobs, limit))


def scheduler_from_env(scheduler: str | None = None) -> str | None:
    """The Dask scheduler address to use: ``scheduler`` when given, else ``$PCSM_SCHEDULER``; None (run
    on this machine) when neither is set or both are blank."""
    address = scheduler if scheduler is not None else os.environ.get(SCHEDULER_ENV, "")
    if not isinstance(address, str):
        raise ValueError(f"scheduler: expected an address such as 'tcp://host:8786', got {address!r}")
    return address.strip() or None


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; a ``ConnectionError`` naming the address
    (and ``PCSM_SCHEDULER``) when no scheduler answers there within ``timeout`` seconds: nothing
    listening, or a server that accepts the connection but never replies (:func:`handshake`)."""
    try:
        from distributed import Client
    except ImportError as error:
        raise ImportError(f"{SCHEDULER_ENV}: running on a Dask cluster needs the package 'distributed' "
                          "(pip install 'pcsm[book]')") from error
    try:
        handshake(address, timeout)
        return Client(address, timeout=timeout)
    except Exception as error:  # OSError, TimeoutError, ValueError for a malformed address, ...
        raise ConnectionError(
            f"{SCHEDULER_ENV}/scheduler: no Dask scheduler answers at {address!r} within {timeout:g} s "
            f"({type(error).__name__}: {error or 'no reply'})") from error


def handshake(address: str, timeout: float) -> None:
    """Open one connection to ``address`` and exchange distributed's handshake, all within ``timeout``
    seconds, then close it; ``TimeoutError`` otherwise. ``distributed`` bounds the connection but not
    the wait for the handshake's reply, so its ``Client`` would wait forever on a server that accepts
    and never answers. Runs on a thread of its own (a notebook's kernel already runs an event loop)."""
    from distributed.comm import connect as open_comm

    async def exchange() -> None:
        comm = await asyncio.wait_for(open_comm(address, timeout=timeout), timeout)
        await comm.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, exchange()).result()


@contextmanager
def engine(scheduler: str | None = None, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """Inside, joblib sends work to the Dask cluster of :func:`scheduler_from_env` (yielding its client)
    or, with no address, to this machine (yielding None)."""
    address = scheduler_from_env(scheduler)
    if address is None:
        yield None
        return
    client = connect(address, timeout)
    try:
        with parallel_config(backend="dask"):
            yield client
    finally:
        client.close()


def _indexed(index: int, function: Callable[..., Any], arguments: tuple) -> tuple[int, Any]:
    return index, function(*arguments)


def map_runs(
    function: Callable[..., Any],
    arguments: Sequence[tuple],
    *,
    n_jobs: int = FROM_ENV,
    scheduler: str | None = None,
    desc: str = "runs",
    progress: bool = True,
) -> list[Any]:
    """``[function(*a) for a in arguments]``, computed in parallel by :func:`engine` (``n_jobs`` as in
    :func:`jobs_from_env` on this machine; the cluster decides on Dask), in the order of ``arguments``."""
    if not arguments:
        raise ValueError(f"{desc}: expected at least one run")
    results: dict[int, Any] = {}
    with engine(scheduler) as client:
        jobs = -1 if client is not None else jobs_from_env(n_jobs, len(arguments))
        calls = (delayed(_indexed)(i, function, tuple(a)) for i, a in enumerate(arguments))
        bar = tqdm(total=len(arguments), desc=desc, leave=False, file=sys.stderr, disable=not progress)
        with bar:
            for index, result in Parallel(n_jobs=jobs, return_as="generator_unordered")(calls):
                results[index] = result
                bar.update()
            bar.refresh()  # the final count, whatever tqdm's refresh interval skipped
    return [results[i] for i in range(len(arguments))]
