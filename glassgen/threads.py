"""How many CPU threads torch and the BLAS libraries use, for commands and for library users.

Why: glassgen's CPU work is mostly many small operations (MD and FIRE steps of a few thousand particles in numba
kernels, Monte Carlo moves, descriptors, small MLPs). Extra OpenMP threads barely help there, and on a machine with
other work their spin-waiting makes a command 10-20x slower (`python benchmarks/threads.py` measures it). So every
`glassgen` command runs with one thread unless told otherwise (`--threads N`), and library users can do the same
with :func:`set_threads` or, for one block of code, :func:`limited_threads`.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits

from glassgen.errors import InvalidInputError


def _check(n_threads: int) -> int:
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise InvalidInputError(f"the number of threads must be an integer >= 1; got {n_threads!r}.")
    return n_threads


def set_threads(n_threads: int) -> None:
    """Use ``n_threads`` threads in torch (intra-op) and in the BLAS/OpenMP libraries, for the rest of the process."""
    torch.set_num_threads(_check(n_threads))
    threadpool_limits(n_threads)


@contextmanager
def limited_threads(n_threads: int):
    """Run the block with ``n_threads`` threads in torch and the BLAS/OpenMP libraries, then restore the counts."""
    before = torch.get_num_threads()
    torch.set_num_threads(_check(n_threads))
    try:
        with threadpool_limits(n_threads):
            yield
    finally:
        torch.set_num_threads(before)
