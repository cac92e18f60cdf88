"""One run at a time per results folder.

Snakemake locks its working directory, but two checkouts (or two working
directories) can share one ``results=`` folder; both then redo the same steps
and trip over each other's partial files. :func:`lock_results` takes a lock
file in the results folder for the life of the calling process: a second run
stops at once with a message naming the holder (pid, host, start time,
command).

The lock is an exclusive :func:`fcntl.flock` on ``<results>/.ace-neuro.lock``:
the kernel releases it when the holder exits, however it exits (``kill -9``,
a crash, a node reboot), so a dead holder never blocks the next run. On file
systems without ``flock`` the lock falls back to the file's content: a holder
on this host whose pid is no longer running is stale and replaced.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "LOCK_NAME",
    "ResultsLockedError",
    "ResultsLock",
    "lock_results",
    "unlock_results",
    "read_holder",
    "remove_stale_partials",
    "remove_dangling_links",
    "remove_stale_snakemake_locks",
    "dry_run_requested",
]

log = logging.getLogger(__name__)

#: Name of the lock file inside the results folder.
LOCK_NAME = ".ace-neuro.lock"

#: Names only a running step writes (``ace_neuro.io.atomic.partial_name``, CNMF-E scratch); any found while
#: the folder is locked were left by a killed run.
STALE_PATTERNS = (".*.partial*", ".cnmfe_scratch*", ".cnmfe_seeding_*")

_held: dict[Path, "ResultsLock"] = {}


class ResultsLockedError(RuntimeError):
    """Another live run holds the results folder."""


class ResultsLock:
    """A held results-folder lock; :meth:`release` (or process exit) frees it."""

    def __init__(self, path: Path, fd: int | None, holder: dict[str, Any]):
        self.path = path
        self.holder = holder
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and free the lock (idempotent)."""
        if _held.get(self.path) is self:
            del _held[self.path]
        if self._fd is None and not self.holder:
            return
        try:
            if read_holder(self.path.parent) == self.holder:
                self.path.unlink()
        except FileNotFoundError:
            pass
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor frees the flock
            self._fd = None
        self.holder = {}

    def __enter__(self) -> "ResultsLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder_record(command: str | None) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
    }


def read_holder(results_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The record of the run holding ``results_dir`` (pid, host, started_utc, command), or None."""
    try:
        text = (Path(results_dir) / LOCK_NAME).read_text()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return {}  # being written, or damaged
    return record if isinstance(record, dict) else {}


def _describe(results_dir: Path, holder: dict[str, Any] | None) -> str:
    lock = results_dir / LOCK_NAME
    if holder:
        who = (f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started_utc')} "
               f"({holder.get('command')})")
    else:
        who = "another process (its record is unreadable)"
    return (f"results folder {results_dir} is in use by another run: {who}. Wait for it to finish or stop it; "
            f"two runs on one results folder would overwrite each other's files (lock file: {lock})")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_results(results_dir: str | os.PathLike, *, command: str | None = None, clean: bool = False) -> ResultsLock:
    """Lock ``results_dir`` for this process, or stop at once naming the holder.

    Call it once at the start of a run (the workflow does, in the main
    Snakemake process). Calling it again in the same process returns the lock
    already held.

    Parameters
    ----------
    results_dir : path-like
        The results folder (created if missing).
    command : str, optional
        What to show to a second run (default: this process's command line).
    clean : bool
        Once locked, remove partial outputs and scratch left by killed runs
        (:func:`remove_stale_partials`).

    Returns
    -------
    ResultsLock
        Held until :meth:`ResultsLock.release` or the process ends.

    Raises
    ------
    ResultsLockedError
        ``"results folder R is in use by another run: pid P on HOST since T (COMMAND). ..."``.
    """
    results_dir = Path(results_dir).absolute()
    path = results_dir / LOCK_NAME
    if path in _held:
        return _held[path]
    results_dir.mkdir(parents=True, exist_ok=True)
    holder = _holder_record(command)
    for _ in range(10):  # retried only when the lock file was replaced while we opened it
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ResultsLockedError(_describe(results_dir, read_holder(results_dir))) from None
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            lock = _lock_by_content(results_dir, holder)
            break
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if not same:  # a releasing holder removed the file after we opened it: lock the new one
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(holder).encode())
        os.fsync(fd)
        lock = ResultsLock(path, fd, holder)
        _held[path] = lock
        break
    else:
        raise ResultsLockedError(_describe(results_dir, read_holder(results_dir)))
    if clean:
        remove_stale_partials(results_dir)
    return lock


def remove_stale_partials(results_dir: str | os.PathLike) -> list[Path]:
    """Remove what killed runs left under ``results_dir`` (partial outputs, scratch); return what was removed.

    Only safe while holding the folder's lock (no other run is writing there);
    :func:`lock_results` calls it with ``clean=True``. A ``kill -9`` runs no
    cleanup, and if the killed job is not run again (its downstream outputs
    are up to date) its partial files would otherwise stay for ever.
    """
    import shutil

    removed = []
    for pattern in STALE_PATTERNS:
        for path in sorted(Path(results_dir).rglob(pattern)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.warning("removed %d partial file(s) left by an interrupted run under %s: %s", len(removed), results_dir,
                    ", ".join(str(p) for p in removed[:10]))
    return removed


def remove_dangling_links(results_dir: str | os.PathLike) -> list[Path]:
    """Remove symbolic links under ``results_dir`` whose target is gone; return them.

    An output that is a link to another step's output (preprocess's movie when
    nothing is preprocessed) dangles once that output is deleted (Snakemake
    deletes the outputs of a killed job), and Snakemake then stops while
    building the DAG ("Unable to obtain modification time"). Without the link
    the step is simply re-run. Safe at any time: a dangling link is never a
    usable output.
    """
    removed = []
    root = Path(results_dir)
    if not root.is_dir():
        return removed
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink() and not path.exists():
                path.unlink()
                removed.append(path)
    if removed:
        log.warning("removed %d link(s) to outputs that no longer exist: %s", len(removed),
                    ", ".join(str(p) for p in removed[:10]))
    return removed


def unlock_results(results_dir: str | os.PathLike) -> None:
    """Release this process's lock on ``results_dir`` (nothing if it holds none)."""
    lock = _held.get(Path(results_dir).absolute() / LOCK_NAME)
    if lock is not None:
        lock.release()


def _lock_by_content(results_dir: Path, holder: dict[str, Any]) -> ResultsLock:
    """Fallback without flock: an exclusively created file; a dead holder on this host is stale."""
    path = results_dir / LOCK_NAME
    for _ in range(10):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            current = read_holder(results_dir)
            if (current and current.get("host") == holder["host"] and isinstance(current.get("pid"), int)
                    and not _pid_alive(current["pid"])):
                log.warning("removing the stale lock of pid %s (no longer running): %s", current["pid"], path)
                path.unlink(missing_ok=True)
                continue
            raise ResultsLockedError(_describe(results_dir, current)) from None
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(holder))
        lock = ResultsLock(path, None, holder)
        _held[path] = lock
        return lock
    raise ResultsLockedError(_describe(results_dir, read_holder(results_dir)))


def dry_run_requested(argv: list[str] | None = None) -> bool:
    """Whether Snakemake's command line asks for a dry run (``-n``, ``-np``, ``--dry-run``, ``--dryrun``).

    The Snakefile is read before Snakemake says whether it will run jobs; a dry run takes no lock (Snakemake's
    own dry run does not either), so it can show the plan while another run works.
    """
    for arg in sys.argv[1:] if argv is None else argv:
        if arg in ("--dry-run", "--dryrun", "--just-print"):
            return True
        if arg.startswith("-") and not arg.startswith("--") and arg[1:].isalpha() and "n" in arg[1:]:
            return True
    return False


def remove_stale_snakemake_locks(workdir: str | os.PathLike, results_dir: str | os.PathLike,
                                 previous: dict[str, Any] | None = None) -> list[Path]:
    """Remove Snakemake's locks (``.snakemake/locks``) of a dead run on ``results_dir``; return the files removed.

    Call it only while holding ``results_dir``'s lock (:func:`lock_results`): every run of this workflow takes
    that lock before Snakemake takes its own, so a Snakemake lock naming outputs in ``results_dir`` while we hold
    it belongs to a run that died without cleaning up (``kill -9``, a closed terminal, a node failure). Locks of
    runs on other folders are left alone.

    Parameters
    ----------
    workdir : path-like
        The folder Snakemake runs in (holding ``.snakemake``).
    results_dir : path-like
        The results folder this run holds.
    previous : dict, optional
        The dead run's lock record (:func:`read_holder` before locking), named in the log line.
    """
    locks = Path(workdir) / ".snakemake" / "locks"
    if not locks.is_dir():
        return []
    results = Path(results_dir).absolute()
    removed = []
    for output_lock in sorted(locks.glob("*.output.lock")):
        try:
            paths = [line.strip() for line in output_lock.read_text().splitlines() if line.strip()]
        except OSError:
            continue
        ours = any(results == p or results in p.parents for p in (Path(workdir, q).absolute() for q in paths))
        if not ours:
            continue
        number = output_lock.name.split(".")[0]
        for lock in (output_lock, locks / f"{number}.input.lock"):
            if lock.exists():
                lock.unlink()
                removed.append(lock)
    if removed:
        who = (f"pid {previous.get('pid')} on {previous.get('host')} since {previous.get('started_utc')}"
               if previous else "a run")
        log.warning("removed Snakemake's stale lock of %s on %s (that run is no longer running: the results lock "
                    "was free): %s", who, results, ", ".join(str(p) for p in removed))
    return removed
