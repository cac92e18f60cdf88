"""A process's exit without the interpreter's last garbage collection.

When a Python process exits, the interpreter runs one last full garbage collection over every object it still
tracks before tearing its modules down. In a step's process (NumPy, SciPy, h5py, pandas, matplotlib loaded), in
a worker of its pools and in Snakemake's own process (its DAG, plugin registries, settings models) that pass
walks a large heap only for the operating system to free the whole process a moment later. Snakemake starts the
next job of the chain when the previous job's process has ended, so the pass is on the chain: 1.1-2.0 s of wall
per process at a load of 23-31 on two cores (benchmarks/compare.md, "Session 15: the small recording's chain").

:func:`skip_collection_at_exit` has the process freeze its heap (:func:`gc.freeze`) when it exits; the last
collection then has nothing to walk. The other ``atexit`` handlers still run (logging's flush and close,
multiprocessing's pool finalisers, :func:`weakref.finalize` callbacks such as temporary folders' removal), and
objects freed by reference counting are freed as before. What it skips: ``__del__`` methods of objects left in
reference cycles at exit. Call it only in processes that close their files explicitly (every step
writes its outputs under temporary names and renames them when complete) and whose results do not depend on
finalisers run at exit.
"""

from __future__ import annotations

import atexit
import gc

__all__ = ["skip_collection_at_exit"]


def skip_collection_at_exit() -> None:
    """Freeze this process's heap when it exits, so that the interpreter's last garbage collection walks nothing.

    Registers :func:`gc.freeze` with :mod:`atexit` (it runs before the ``atexit`` handlers registered earlier, and
    after those registered later). Calling it more than once registers it again, which costs nothing at exit.
    Nothing changes while the process runs: collections happen as before until it exits.
    """
    atexit.register(gc.freeze)
