"""Disk space, scratch folders and termination: the failures a lab meets every week.

A full disk must end a step within seconds with a message that names the
folder, the space needed and the space free, never a hang or a silent
``SIGBUS`` inside a memory-mapped write. A job killed by a cluster's time limit
(``SIGTERM``) must clean up like any other error, and scratch must never
outlive its job.

* :func:`check_free_space` before a step writes large files;
* :func:`preallocate` a file before memory-mapping it, so a full disk fails at
  once with ``ENOSPC`` naming the file instead of a ``SIGBUS`` later;
* :func:`explain_disk_full` turns an ``ENOSPC`` raised inside a block into the
  same kind of message;
* :func:`scratch_directory` for a job's temporary folder (stale copies removed
  at start, removed on success and on error);
* :func:`terminate_as_error` turns ``SIGTERM`` into an exception so that
  :func:`ace_neuro.io.atomic.atomic_path` removes partial outputs.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = [
    "DiskSpaceError",
    "Terminated",
    "check_terminated",
    "array_bytes",
    "format_bytes",
    "free_bytes",
    "check_free_space",
    "preallocate",
    "explain_disk_full",
    "scratch_directory",
    "terminate_as_error",
]

log = logging.getLogger(__name__)

_ADVICE = "free space or point results/tmpdir elsewhere"
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskSpaceError(OSError):
    """Not enough free space for a step's outputs (``errno`` is ``ENOSPC``)."""

    def __init__(self, message: str, filename: str | None = None):
        super().__init__(errno.ENOSPC, message)
        self.message = message
        self.filename = filename

    def __str__(self) -> str:
        return self.message


class Terminated(BaseException):
    """The process received ``SIGTERM`` (a cluster's time limit, ``kill``, Snakemake stopping a job).

    Derived from :class:`BaseException` (like :class:`KeyboardInterrupt`) so that
    ``except Exception`` blocks do not swallow it, while ``try/finally`` and
    :func:`ace_neuro.io.atomic.atomic_path` still clean up.
    """


def array_bytes(shape, dtype) -> int:
    """Bytes of an array of ``shape`` and ``dtype`` (what a file holding it needs).

    Examples
    --------
    >>> array_bytes((6000, 608, 608), "float32")
    8871936000
    """
    return int(np.prod([int(s) for s in shape], dtype=np.int64)) * np.dtype(dtype).itemsize


def format_bytes(n: float) -> str:
    """Human-readable size with one decimal: ``'8.3 GB'``, ``'20.0 MB'``.

    Examples
    --------
    >>> format_bytes(20 * 2**20)
    '20.0 MB'
    """
    n = float(n)
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _existing_parent(path: str | os.PathLike) -> Path:
    path = Path(path).absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or "/")


def free_bytes(folder: str | os.PathLike) -> int:
    """Free bytes (for this user) on the file system that holds ``folder``.

    ``folder`` need not exist yet: its nearest existing parent is measured.
    """
    return int(shutil.disk_usage(_existing_parent(folder)).free)


def check_free_space(folder: str | os.PathLike, needed_bytes: int, *, what: str) -> int:
    """Stop at once if ``folder`` lacks ``needed_bytes`` of free space.

    Parameters
    ----------
    folder : path-like
        Where the files will be written (need not exist yet).
    needed_bytes : int
        Estimated size of everything the step writes there (outputs and scratch),
        e.g. from :func:`array_bytes`.
    what : str
        Who needs the space, for the message (``"motion correction"``, ``"convert"``).

    Returns
    -------
    int
        The free bytes measured.

    Raises
    ------
    DiskSpaceError
        ``"<what> needs ~X GB in DIR, Y GB free; free space or point results/tmpdir elsewhere"``.
    """
    free = free_bytes(folder)
    if needed_bytes > free:
        raise DiskSpaceError(
            f"{what} needs ~{format_bytes(needed_bytes)} in {Path(folder).absolute()}, "
            f"{format_bytes(free)} free; {_ADVICE}",
            os.fspath(folder),
        )
    return free


def _full_message(path: str | os.PathLike, what: str | None, needed: int | None = None) -> str:
    where = Path(path).absolute()
    free = format_bytes(free_bytes(where.parent))
    size = f" ~{format_bytes(needed)}" if needed else ""
    who = f"{what}: " if what else ""
    return f"{who}disk full writing{size} to {where} ({free} free in {where.parent}); {_ADVICE}"


def preallocate(path_or_fd: str | os.PathLike | int, nbytes: int, *, what: str | None = None) -> None:
    """Reserve the disk blocks of a file's first ``nbytes`` before it is memory-mapped.

    Writing to a memory map on a full disk kills the process with ``SIGBUS`` (no
    message, and a pool waiting on that process waits for ever). Reserving the
    blocks first turns that into an immediate :class:`DiskSpaceError` naming the
    file. Existing contents are kept; the file grows to ``nbytes`` if shorter.

    Parameters
    ----------
    path_or_fd : path-like or int
        An existing file (e.g. just created by ``tifffile.memmap`` or
        ``numpy.memmap``, which make sparse files) or an open file descriptor.
    nbytes : int
        Bytes to reserve from offset 0.
    what : str, optional
        Who writes the file, for the message.

    Raises
    ------
    DiskSpaceError
        If the file system cannot hold ``nbytes``.
    """
    nbytes = int(nbytes)
    if nbytes <= 0:
        return
    if isinstance(path_or_fd, int):
        fd, name, close = path_or_fd, _fd_name(path_or_fd), False
    else:
        name = os.fspath(path_or_fd)
        fd, close = os.open(name, os.O_RDWR | os.O_CREAT, 0o666), True
    try:
        _allocate(fd, nbytes)
    except OSError as err:
        if err.errno in _FULL_ERRNOS:
            raise DiskSpaceError(_full_message(name, what, nbytes), name) from err
        raise
    finally:
        if close:
            os.close(fd)


def _fd_name(fd: int) -> str:
    link = f"/proc/self/fd/{fd}"
    try:
        return os.readlink(link)
    except OSError:
        return f"file descriptor {fd}"


def _allocate(fd: int, nbytes: int) -> None:
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        try:
            fallocate(fd, 0, nbytes)
            return
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
    _allocate_by_writing(fd, nbytes)


def _allocate_by_writing(fd: int, nbytes: int, chunk: int = 16 * 2**20) -> None:
    """Force every block of ``[0, nbytes)`` to exist by rewriting it (holes read as zeros)."""
    position = 0
    while position < nbytes:
        size = min(chunk, nbytes - position)
        data = os.pread(fd, size, position)
        if len(data) < size:
            data = data + bytes(size - len(data))
        written = os.pwrite(fd, data, position)
        position += written
    os.fsync(fd)


@contextlib.contextmanager
def explain_disk_full(path: str | os.PathLike, *, what: str | None = None) -> Iterator[None]:
    """Re-raise an ``ENOSPC``/``EDQUOT`` from the block as :class:`DiskSpaceError` with the free space.

    The message names the file the error names, else the folder of ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with explain_disk_full(out, what="events"):
    ...     _ = out.write_text("frame,amplitude\\n")
    """
    try:
        yield
    except DiskSpaceError:
        raise
    except OSError as err:
        if err.errno not in _FULL_ERRNOS:
            raise
        if err.filename:
            raise DiskSpaceError(_full_message(err.filename, what), os.fspath(err.filename)) from err
        # no file named (os.write, h5py, a library's scratch): name the folder of the outputs
        folder = Path(path).absolute().parent
        who = f"{what}: " if what else ""
        raise DiskSpaceError(
            f"{who}disk full writing to {folder} or its scratch ({format_bytes(free_bytes(folder))} free in {folder}); "
            f"{_ADVICE}",
            os.fspath(folder),
        ) from err


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, ignore_errors=False)


@contextlib.contextmanager
def scratch_directory(parent: str | os.PathLike, name: str) -> Iterator[Path]:
    """A job's scratch folder ``parent/name``: fresh at start, gone at the end.

    A folder of the same name left by a killed earlier attempt (``kill -9``
    runs no cleanup) is removed first, so at most one copy ever exists and
    the next attempt always cleans up after the last. The folder is removed
    when the block ends, on success and on error (including
    :class:`Terminated` and :class:`KeyboardInterrupt`).

    Parameters
    ----------
    parent : path-like
        Where scratch lives (e.g. Snakemake's ``resources.tmpdir``, or the
        step's output folder). Created if missing.
    name : str
        A fixed name per job (e.g. ``".cnmfe_scratch"``), never a random one:
        a random name cannot be found and removed by the next attempt.

    Yields
    ------
    pathlib.Path
    """
    if not name or os.sep in name or name in (".", ".."):
        raise ValueError(f"scratch name must be a plain folder name, got {name!r}")
    path = Path(parent) / name
    if path.exists() or path.is_symlink():
        log.info("removing stale scratch %s (left by an interrupted run)", path)
        _remove_tree(path)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _terminated_message(signum: int) -> str:
    return (f"received {signal.Signals(signum).name} (a time limit, kill or Snakemake stopping the job); "
            "partial outputs were removed, re-run to resume")


_received: list[int] = []


def _raise_terminated(signum, frame) -> None:
    _received.append(signum)
    raise Terminated(_terminated_message(signum))


def check_terminated() -> None:
    """Raise :class:`Terminated` if ``SIGTERM`` came within :func:`terminate_as_error` and was swallowed.

    The signal's exception is raised wherever the main thread is, which can be
    inside a finaliser (``__del__``, a weakref callback) or an import guarded by
    a bare ``except:`` in a library; Python then prints "Exception ignored" and
    carries on, and the step would run to its end and publish its outputs.
    Long loops (:class:`ace_neuro.progress.Progress`) and the final rename of
    every output (:func:`ace_neuro.io.atomic.atomic_path`) call this, so a
    terminated step stops at its next chunk and publishes nothing.
    """
    if _received:
        raise Terminated(_terminated_message(_received[0]))


@contextlib.contextmanager
def terminate_as_error() -> Iterator[None]:
    """Within the block, ``SIGTERM`` raises :class:`Terminated` in the main thread.

    SLURM sends ``SIGTERM`` at a job's time limit, and Snakemake sends it to its
    jobs when it stops. Python's default is to die at once, leaving
    ``.partial`` files and scratch behind; raised as an exception instead, every
    ``finally`` and :func:`ace_neuro.io.atomic.atomic_path` runs. Also enables
    :mod:`faulthandler`, so a ``SIGBUS``/``SIGSEGV`` prints a traceback to the
    log instead of dying silently.

    If library code swallows the exception (raised inside a callback or a
    finaliser), :class:`Terminated` is raised when the block ends instead, so
    a terminated step never reports success.

    Outside the main thread (where Python cannot install signal handlers) the
    block runs unchanged.

    Examples
    --------
    >>> with terminate_as_error():
    ...     pass
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    had_faulthandler = faulthandler.is_enabled()
    if not had_faulthandler:
        with contextlib.suppress(Exception):  # stderr may be closed or not a real file
            faulthandler.enable(file=sys.stderr, all_threads=True)
    _received.clear()
    try:
        yield
        check_terminated()  # raised where a library swallowed it (a callback, a finaliser): the job still stops
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        _received.clear()
        if not had_faulthandler:
            faulthandler.disable()
