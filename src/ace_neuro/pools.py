"""Worker-process pools that fail, never wait, when a worker dies.

A :class:`multiprocessing.pool.Pool` whose worker is killed (``SIGBUS`` on a
memory-mapped write to a full disk, the kernel's out-of-memory killer) replaces
the worker and waits for ever for the lost task's result: the job hangs at 0 %
CPU. :class:`concurrent.futures.ProcessPoolExecutor` instead breaks: every
pending result raises :class:`~concurrent.futures.process.BrokenProcessPool`.
These helpers use it, and turn that error into one that says which signal
killed the worker and what usually causes it.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator

from ace_neuro.io.disk import format_bytes, free_bytes
from ace_neuro.process_exit import skip_collection_at_exit

__all__ = [
    "WorkerDiedError", "process_pool", "map_in_order", "imap_threads", "map_threads", "stop_pool", "worker_died_message",
]

_CAUSES = {
    signal.SIGBUS: "a memory-mapped read or write failed, usually because the disk is full",
    signal.SIGKILL: "killed from outside, usually by the kernel's out-of-memory killer (lower threads or chunk sizes)",
    signal.SIGSEGV: "a crash in compiled code",
    signal.SIGTERM: "terminated (a time limit or kill)",
}


class WorkerDiedError(RuntimeError):
    """A worker process of a pool died without returning its result."""


def process_pool(workers: int, *, initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` fresh interpreters (``spawn``: no locks inherited from OpenCV or BLAS threads).

    The workers are started before this returns, so they inherit the
    environment as it is now (e.g. ``OMP_NUM_THREADS`` set by the caller for them).
    Each runs ``initializer(*initargs)`` first, and exits by itself if this
    process dies without stopping the pool (``kill -9``).
    """
    pool = ProcessPoolExecutor(max_workers=int(workers), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(os.getpid(), initializer, initargs))
    try:
        # a spawn-context pool starts a worker per submitted task while none is idle: start them all now
        for started in [pool.submit(int) for _ in range(int(workers))]:
            started.result()
    except BaseException:
        stop_pool(pool)
        raise
    return pool


def _start_worker(parent_pid: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """In each worker: exit when the parent is gone, then the caller's ``initializer(*initargs)``."""
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True, name="exit-with-parent").start()
    skip_collection_at_exit()  # the pool's shutdown waits for this process's end
    if initializer is not None:
        initializer(*initargs)


def _exit_with_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    # A parent killed with SIGKILL runs no cleanup, and a worker waiting for its next task would wait for
    # ever (every worker holds the task pipe's write end, so it never reads end-of-file).
    while os.getppid() == parent_pid:
        time.sleep(interval_s)
    os._exit(70)


def _dead_workers(pool: ProcessPoolExecutor) -> list[str]:
    """How the pool's workers ended; workers the broken pool itself terminated are left out."""
    died, terminated = [], []
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        deadline = time.monotonic() + 5
        process.join(timeout=5)  # the broken pool is terminating the others; their exit codes follow at once
        # the pool's own thread may reap the process first: its exit code then appears a moment later
        while process.exitcode is None and time.monotonic() < deadline:
            time.sleep(0.02)
        code = process.exitcode
        if code is None or code == 0:
            continue
        if code < 0:
            try:
                sig = signal.Signals(-code)
            except ValueError:
                died.append(f"pid {process.pid} killed by signal {-code}")
                continue
            cause = _CAUSES.get(sig)
            (terminated if sig == signal.SIGTERM else died).append(
                f"pid {process.pid} killed by {sig.name}" + (f" ({cause})" if cause else ""))
        else:
            died.append(f"pid {process.pid} exited with status {code}")
    return died or terminated


def worker_died_message(pool: ProcessPoolExecutor, *, what: str, folder: str | os.PathLike | None = None) -> str:
    """What to tell the user when ``pool`` broke: which worker died of what, and the free space of ``folder``."""
    died = _dead_workers(pool)
    message = f"{what}: a worker process died: " + ("; ".join(died) if died else "killed or crashed")
    if folder is not None:
        message += f"; {format_bytes(free_bytes(folder))} free in {os.fspath(folder)}"
    return message + "; the job was stopped and its partial outputs removed"


def map_in_order(pool: Executor, fn: Callable, tasks: Iterable, *, what: str,
                 folder: str | os.PathLike | None = None, ahead: int | None = None) -> Iterator:
    """``fn(task)`` for each task in the pool's workers (processes, or threads), results yielded in task order.

    At most ``ahead`` tasks (default twice the pool's workers) are submitted
    and not yet yielded, and a result is let go once yielded: memory holds a
    few results, however many tasks there are (a long recording has hundreds
    of chunks, each returning images).

    Raises
    ------
    WorkerDiedError
        Within moments of a worker's death, naming the signal that killed it
        and, when ``folder`` is given, the free space where the job writes.
    """
    # not pool.map: closing its iterator cancels the pending futures, and a pool whose worker is then killed
    # fails to mark cancelled futures broken (Python 3.11), leaving its feeder thread blocked at exit
    ahead = max(1, int(ahead if ahead is not None else 2 * getattr(pool, "_max_workers", 1)))
    remaining = iter(tasks)
    pending: collections.deque = collections.deque()
    try:
        for task in itertools.islice(remaining, ahead):
            pending.append(pool.submit(fn, task))
        while pending:
            result = _result_or_dead_worker(pool, pending.popleft())
            for task in itertools.islice(remaining, 1):
                pending.append(pool.submit(fn, task))
            yield result
    except BrokenProcessPool as err:
        raise WorkerDiedError(worker_died_message(pool, what=what, folder=folder)) from err


def imap_threads(fn: Callable, tasks: Iterable, threads: int, *, ahead: int | None = None,
                 name: str = "chunk-part") -> Iterator:
    """``fn(task)`` for each task on ``threads`` threads (inline for one), results yielded in task order.

    For independent pieces of one computation (blocks of pixels, bands of
    columns) whose arithmetic releases the interpreter (NumPy, SciPy,
    OpenCV): each task's result is computed alone, whichever thread runs it,
    so the results, and any reduction the caller makes over them in task
    order, are the same whatever ``threads`` is. Tasks are taken from
    ``tasks`` as they are needed: at most ``ahead`` (default twice
    ``threads``) are submitted and not yet yielded, so memory holds a few
    results however many tasks there are. An error is raised at its task,
    once the tasks in flight have ended; the later tasks are not started.

    Parameters
    ----------
    fn : callable
        Called with one task; must only read shared state.
    tasks : iterable
        Consumed lazily.
    threads : int
        Threads; one runs ``fn`` in the caller's thread.
    ahead : int, optional
        Tasks in flight at most (at least 1).
    name : str
        Prefix of the threads' names (seen in profilers and ``py-spy dump``).
    """
    threads = max(1, int(threads))
    if threads == 1:
        yield from map(fn, tasks)
        return
    ahead = 2 * threads if ahead is None else ahead
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name) as pool:
        yield from map_in_order(pool, fn, tasks, what=name, ahead=ahead)


def map_threads(fn: Callable, tasks: Iterable, threads: int) -> list:
    """``[fn(task) for task in tasks]`` on ``threads`` threads (inline for one), results in task order.

    :func:`imap_threads` with every task in flight at once. Each task's
    result is computed alone, whichever thread runs it, so the results, and
    any reduction the caller makes over them in task order, are the same
    whatever ``threads`` is. The first error is raised once every task has
    ended.
    """
    tasks = list(tasks)
    threads = min(max(1, int(threads)), len(tasks))
    return list(imap_threads(fn, tasks, threads, ahead=len(tasks)))


def _result_or_dead_worker(pool: ProcessPoolExecutor, future, *, poll_s: float = 1.0, grace_s: float = 5.0):
    """``future.result()``, or :class:`BrokenProcessPool` once a worker has been dead for ``grace_s`` seconds.

    A pool notices a dead worker by itself, except when the worker died while
    writing its result: the pool's manager thread then waits for the rest of
    that message for ever, and so would ``future.result()``.
    """
    dead_since = None
    while not wait([future], timeout=poll_s).done:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        if not any(process.exitcode is not None for process in processes):
            dead_since = None
            continue
        dead_since = time.monotonic() if dead_since is None else dead_since
        if time.monotonic() - dead_since > grace_s:
            raise BrokenProcessPool("a worker process died and the pool did not notice")
    return future.result()


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop at once: terminate the workers, cancel pending tasks (on an error or a SIGTERM).

    The workers go first: the pool then sees them die and takes its "broken"
    path (pending tasks fail, the task pipe is closed) before it is shut down.
    Cancelling or shutting down while the workers are being killed can leave
    the pool's feeder thread blocked on a pipe nobody reads, and the
    interpreter waiting for it at exit.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()
    # A worker killed while writing its result leaves half a message in the result pipe, and the pool's
    # manager thread waits for the rest for ever: this process holds the pipe's other write end, so no end of
    # file ever comes, and the interpreter then waits for that thread at exit (seen under load). With every
    # worker gone, closing this process's write end turns that wait into end of file: the manager takes its
    # "broken" path, fails the pending tasks and ends.
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if writer is not None and not any(process.is_alive() for process in processes):
        writer.close()
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(timeout=10)  # it marks the pending tasks broken and closes the task pipe
    pool.shutdown(wait=False, cancel_futures=True)
