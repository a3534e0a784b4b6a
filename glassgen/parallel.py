"""Many independent jobs: serially, on a local Dask cluster of worker processes, or on an existing Dask scheduler.

Jobs are plain picklable callables with their arguments. Each job is expected to write its own result (see
`glassgen.labeling`), so a worker that dies loses only its job, and a rerun skips what is on disk. Results do not
depend on where a job ran: every job carries its own seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from glassgen.errors import InvalidInputError
from glassgen.progress import Stage

#: Seconds to wait for a Dask scheduler before reporting that it does not answer.
SCHEDULER_TIMEOUT = 10


def _single_threaded(function, *args):
    """Run a job with one thread, so that N workers share N cores instead of oversubscribing them."""
    from glassgen.threads import set_threads

    set_threads(1)
    return function(*args)


def run_jobs(function: Callable, arguments: Sequence[tuple], *, workers: int | None = None,
             scheduler: str | None = None, progress: bool = True, desc: str = "jobs") -> list:
    """Call ``function(*args)`` for every tuple in ``arguments`` and return the results in order.

    Parameters
    ----------
    workers : int or None
        Start a local Dask cluster of this many single-threaded worker processes (None or 0: run serially here).
    scheduler : str or None
        Address of a running Dask scheduler (``tcp://host:8786``) to send the jobs to; excludes ``workers``.
    progress, desc : bool, str
        Show the jobs done on stderr as the stage ``desc``.
    """
    arguments = list(arguments)
    if workers is not None and int(workers) < 0:
        raise InvalidInputError(f"workers must be >= 0; got {workers}.")
    if workers and scheduler:
        raise InvalidInputError("give either --workers (start a local cluster) or --scheduler (join one), not both.")
    with Stage(desc, len(arguments), unit="job", enabled=progress) as bar:
        if workers or scheduler:
            return _run_dask(function, arguments, int(workers or 0), scheduler, bar)
        results = []
        for args in arguments:
            results.append(function(*args))
            bar.advance()
        return results


def _run_dask(function, arguments: list, workers: int, scheduler: str | None, bar: Stage) -> list:
    from distributed import Client, LocalCluster, as_completed

    if scheduler:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError) as error:
            raise InvalidInputError(
                f"the Dask scheduler at {scheduler} did not answer within {SCHEDULER_TIMEOUT} s ({error}); check the "
                "address, or start one with `dask scheduler` and workers with `dask worker ADDRESS`."
            ) from None
        cluster = None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(_single_threaded, function, *args, pure=False) for args in arguments]
        index = {future.key: k for k, future in enumerate(futures)}
        results: list = [None] * len(futures)
        for future in as_completed(futures):
            results[index[future.key]] = future.result()
            bar.advance()
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

