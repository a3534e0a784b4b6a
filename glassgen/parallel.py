"""Many independent jobs: serially, on a local Dask cluster of worker processes, or on an existing Dask scheduler.

Jobs are plain picklable callables with their arguments. Each job is expected to write its own result (see
`glassgen.labeling`), so a worker that dies loses only its job, and a rerun skips what is on disk. Results do not
depend on where a job ran: every job carries its own seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

from glassgen.errors import InvalidInputError

#: Seconds to wait for a Dask scheduler before reporting that it does not answer.
SCHEDULER_TIMEOUT = 10


def _single_threaded(function, *args):
    """Run a job with one torch thread, so that N workers share N cores instead of oversubscribing them."""
    import torch

    torch.set_num_threads(1)
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
    """
    arguments = list(arguments)
    if workers is not None and int(workers) < 0:
        raise InvalidInputError(f"workers must be >= 0; got {workers}.")
    if workers and scheduler:
        raise InvalidInputError("give either --workers (start a local cluster) or --scheduler (join one), not both.")
    if not workers and not scheduler:
        return [function(*args) for args in tqdm(arguments, desc=desc, disable=not progress)]
    return _run_dask(function, arguments, int(workers or 0), scheduler, progress, desc)


def _run_dask(function, arguments: list, workers: int, scheduler: str | None, progress: bool, desc: str) -> list:
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
        for future in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
            results[index[future.key]] = future.result()
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

