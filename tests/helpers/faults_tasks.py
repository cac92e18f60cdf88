"""Tasks that kill the worker process running them, for the pool tests.

Pools pickle functions by reference, so spawned workers import this module:
it imports nothing heavy, so workers start quickly.
"""

from __future__ import annotations

import os
import signal
import time


def die_on_third(i: int) -> int:
    """Return ``i``; the worker handling ``i == 2`` dies of SIGBUS (as a mapped write to a full disk does)."""
    if i == 2:
        os.kill(os.getpid(), signal.SIGBUS)
    time.sleep(0.05)
    return i


def motion_chunk_dying_after_first(task):
    """The motion step's chunk task, except that every chunk but the first kills its worker with SIGBUS."""
    from ace_neuro.motion.step import _chunk_task

    if task[0] > 0:
        os.kill(os.getpid(), signal.SIGBUS)
    return _chunk_task(task)


def killed_patch(args):
    """A CNMF-E patch fit whose worker is killed (as the out-of-memory killer does)."""
    os.kill(os.getpid(), signal.SIGKILL)


_REMEMBERED = None


def remember(value) -> None:
    """A pool initializer: keep ``value`` for the tasks of this worker."""
    global _REMEMBERED
    _REMEMBERED = value


def remembered(_) -> object:
    return _REMEMBERED


def die_writing_result(i: int) -> int:
    """Return ``i``; the worker handling ``i == 1`` dies of SIGKILL half-way through writing a result.

    It writes the header of a 1 MB message and a few bytes of it to the pool's
    result pipe, then kills itself: what the out-of-memory killer or a SIGTERM
    does to a worker that is sending a large result.
    """
    if i == 1:
        import gc
        import struct
        from multiprocessing.queues import SimpleQueue

        results = next(obj for obj in gc.get_objects() if isinstance(obj, SimpleQueue))
        os.write(results._writer.fileno(), struct.pack("!i", 1 << 20) + b"partial")
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return i
