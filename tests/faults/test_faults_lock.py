"""The results-folder lock: a second run stops at once naming the holder; a dead holder never blocks."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from ace_neuro import lock as lock_module
from ace_neuro.lock import (
    LOCK_NAME,
    ResultsLockedError,
    lock_results,
    read_holder,
    remove_dangling_links,
    unlock_results,
)

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from ace_neuro.lock import lock_results
    lock_results(sys.argv[1], command="snakemake --cores 2 (test holder)")
    print("locked", flush=True)
    time.sleep(120)
    """
)


def _start_holder(results):
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(results)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_second_run_stops_at_once_naming_the_holder_then_runs_after_kill_9(tmp_path):
    results = tmp_path / "results"
    child = _start_holder(results)
    try:
        start = time.monotonic()
        with pytest.raises(ResultsLockedError) as info:
            lock_results(results)
        assert time.monotonic() - start < 1
        message = str(info.value)
        assert f"results folder {results} is in use by another run: pid {child.pid} on {socket.gethostname()} since " in message
        assert "(snakemake --cores 2 (test holder))" in message and str(results / LOCK_NAME) in message
        child.send_signal(signal.SIGKILL)  # the holder dies without cleaning up
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert read_holder(results)["pid"] == child.pid  # its record is left behind ...
    held = lock_results(results, command="second run")  # ... but the lock went with the process
    assert read_holder(results)["pid"] == os.getpid() and read_holder(results)["command"] == "second run"
    assert lock_results(results) is held  # re-entrant within one process
    held.release()
    assert not (results / LOCK_NAME).exists()
    with lock_results(results):  # free again
        pass
    lock_results(results)
    unlock_results(results)
    unlock_results(results)  # not held: nothing to do
    assert not (results / LOCK_NAME).exists()


def test_release_frees_the_folder_for_another_process(tmp_path):
    results = tmp_path / "results"
    held = lock_results(results)
    probe = "import sys; from ace_neuro.lock import lock_results; lock_results(sys.argv[1]); print('ok')"
    blocked = subprocess.run([sys.executable, "-c", probe, str(results)], capture_output=True, text=True)
    assert blocked.returncode != 0 and "ResultsLockedError" in blocked.stderr and f"pid {os.getpid()}" in blocked.stderr
    held.release()
    free = subprocess.run([sys.executable, "-c", probe, str(results)], capture_output=True, text=True)
    assert free.returncode == 0 and free.stdout.strip() == "ok"


def test_without_flock_a_dead_holder_on_this_host_is_stale(tmp_path, monkeypatch, caplog):
    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lock_module.fcntl, "flock", no_flock)
    results = tmp_path / "results"
    results.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {"pid": int(dead.stdout), "host": socket.gethostname(), "started_utc": "2026-01-01T00:00:00+00:00",
              "command": "old run"}
    (results / LOCK_NAME).write_text(json.dumps(record))
    with caplog.at_level("WARNING"):
        held = lock_results(results)
    assert "removing the stale lock of pid" in caplog.text
    held.release()
    # a live holder (this test's parent shell, say) is not stale
    (results / LOCK_NAME).write_text(json.dumps({**record, "pid": os.getppid()}))
    with pytest.raises(ResultsLockedError, match=f"pid {os.getppid()} on "):
        lock_results(results)


def test_clean_removes_what_killed_runs_left(tmp_path, caplog):
    results = tmp_path / "results"
    (results / "rec1" / "convert").mkdir(parents=True)
    (results / "rec1" / "convert" / ".movie.partial.tif").write_bytes(b"x")
    (results / "rec1" / "convert" / "movie.tif").write_bytes(b"whole")
    (results / "rec1" / "motion" / ".memmap.partial").mkdir(parents=True)
    (results / "rec1" / "motion" / ".memmap.partial" / "corrected.mmap").write_bytes(b"x")
    (results / "rec1" / "cnmfe" / ".cnmfe_scratch_abc").mkdir(parents=True)
    with caplog.at_level("WARNING"):
        with lock_results(results, clean=True):
            pass
    assert sorted(str(p.relative_to(results)) for p in results.rglob("*")) == [
        "rec1", "rec1/cnmfe", "rec1/convert", "rec1/convert/movie.tif", "rec1/motion"]
    assert "removed 3 partial file(s) left by an interrupted run" in caplog.text


def test_dangling_links_are_removed_live_ones_kept(tmp_path):
    results = tmp_path / "results" / "rec1"
    (results / "convert").mkdir(parents=True)
    (results / "preprocess").mkdir()
    (results / "convert" / "movie.tif").write_bytes(b"movie")
    (results / "preprocess" / "movie.tif").symlink_to("../convert/movie.tif")
    assert remove_dangling_links(tmp_path / "results") == []
    (results / "convert" / "movie.tif").unlink()  # Snakemake removed a killed convert job's outputs
    assert remove_dangling_links(tmp_path / "results") == [results / "preprocess" / "movie.tif"]
    assert not (results / "preprocess" / "movie.tif").is_symlink()
    assert remove_dangling_links(tmp_path / "missing") == []
