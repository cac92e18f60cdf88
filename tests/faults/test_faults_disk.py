"""ace_neuro.io.disk: free-space checks, preallocation, ENOSPC messages, scratch, SIGTERM."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import namedtuple

import pytest

from ace_neuro.io import disk
from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.disk import (
    DiskSpaceError,
    Terminated,
    check_free_space,
    explain_disk_full,
    preallocate,
    scratch_directory,
    terminate_as_error,
)

Usage = namedtuple("Usage", "total used free")


def _fake_free(monkeypatch, free: int) -> None:
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(10 * free, 9 * free, free))


def test_check_free_space_message_names_folder_needed_and_free(tmp_path, monkeypatch):
    _fake_free(monkeypatch, 20 * 2**20)
    target = tmp_path / "results" / "rec1" / "motion"  # does not exist yet
    with pytest.raises(DiskSpaceError) as info:
        check_free_space(target, 3 * 2**30, what="motion correction")
    message = str(info.value)
    assert message.startswith("motion correction needs ~3.0 GB in ")
    assert str(target) in message
    assert "20.0 MB free" in message
    assert "free space or point results/tmpdir elsewhere" in message
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC


def test_check_free_space_passes_and_measures_nearest_existing_parent(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: seen.append(path) or Usage(10, 5, 2**30))
    assert check_free_space(tmp_path / "a" / "b", 2**20, what="x") == 2**30
    assert seen == [tmp_path]


def test_preallocate_reserves_blocks_and_keeps_contents(tmp_path):
    path = tmp_path / "movie.bin"
    with open(path, "wb") as f:
        f.write(b"HEADER")
        f.truncate(4 * 2**20)  # sparse, like tifffile.memmap / numpy.memmap create
    preallocate(path, 4 * 2**20)
    assert path.stat().st_size == 4 * 2**20
    assert path.stat().st_blocks * 512 >= 4 * 2**20
    assert path.read_bytes()[:6] == b"HEADER"


def test_preallocate_fallback_by_writing_keeps_contents(tmp_path, monkeypatch):
    def unsupported(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, "not supported")

    monkeypatch.setattr(disk.os, "posix_fallocate", unsupported, raising=False)
    path = tmp_path / "movie.bin"
    path.write_bytes(b"abc")
    preallocate(path, 3 * 2**20 + 5)
    data = path.read_bytes()
    assert len(data) == 3 * 2**20 + 5 and data[:3] == b"abc" and not any(data[3:])
    assert path.stat().st_blocks * 512 >= 3 * 2**20


def test_preallocate_enospc_names_the_file(tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(disk.os, "posix_fallocate", full, raising=False)
    path = tmp_path / "movie.tif"
    path.touch()
    with pytest.raises(DiskSpaceError) as info:
        preallocate(path, 2**30, what="convert")
    message = str(info.value)
    assert message.startswith("convert: disk full writing ~1.0 GB to ")
    assert str(path) in message and "free space or point results/tmpdir elsewhere" in message


def test_preallocate_file_descriptor(tmp_path):
    path = tmp_path / "x.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        preallocate(fd, 12345)
    finally:
        os.close(fd)
    assert path.stat().st_size == 12345


def test_explain_disk_full_translates_only_enospc(tmp_path):
    path = tmp_path / "events.csv"
    with pytest.raises(DiskSpaceError, match=r"events: disk full writing to .*partial\.csv \(.* free in "):
        with explain_disk_full(path, what="events"):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".events.partial.csv"))
    with pytest.raises(DiskSpaceError, match=f"events: disk full writing to {tmp_path} or its scratch \\(.* free in "):
        with explain_disk_full(path, what="events"):
            raise OSError(errno.ENOSPC, "No space left on device")  # os.write names no file
    with pytest.raises(PermissionError):
        with explain_disk_full(path, what="events"):
            raise PermissionError(errno.EACCES, "denied")


def test_scratch_directory_removes_stale_and_cleans_on_success_and_error(tmp_path):
    stale = tmp_path / ".scratch"
    stale.mkdir()
    (stale / "movie_blocks.f32").write_bytes(b"0" * 100)
    with scratch_directory(tmp_path, ".scratch") as scratch:
        assert scratch == stale and list(scratch.iterdir()) == []
        (scratch / "a.bin").write_bytes(b"1")
    assert not stale.exists()
    with pytest.raises(RuntimeError):
        with scratch_directory(tmp_path, ".scratch") as scratch:
            (scratch / "a.bin").write_bytes(b"1")
            raise RuntimeError("boom")
    assert not stale.exists()
    with pytest.raises(ValueError):
        with scratch_directory(tmp_path, "../elsewhere"):
            pass


def test_terminate_as_error_restores_handler():
    before = signal.getsignal(signal.SIGTERM)
    with terminate_as_error():
        assert signal.getsignal(signal.SIGTERM) is disk._raise_terminated
    assert signal.getsignal(signal.SIGTERM) == before
    assert issubclass(Terminated, BaseException) and not issubclass(Terminated, Exception)


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ace_neuro.io.atomic import atomic_path
    from ace_neuro.io.disk import scratch_directory, terminate_as_error

    out = Path(sys.argv[1])
    with terminate_as_error():
        with scratch_directory(out.parent, ".job_scratch") as scratch, atomic_path(out) as tmp:
            (scratch / "blocks.f32").write_bytes(b"0" * 1000)
            tmp.write_bytes(b"partial")
            print("ready", flush=True)
            time.sleep(60)
    """
)


def test_sigterm_removes_partial_output_and_scratch(tmp_path):
    out = tmp_path / "movie.tif"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        assert (tmp_path / ".movie.partial.tif").exists() and (tmp_path / ".job_scratch").exists()
        start = time.monotonic()
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert time.monotonic() - start < 10
    assert child.returncode != 0
    assert "Terminated: received SIGTERM" in stderr and "re-run to resume" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_atomic_path_plus_explain_disk_full_leaves_nothing(tmp_path):
    out = tmp_path / "table.csv"
    with pytest.raises(DiskSpaceError):
        with explain_disk_full(out, what="sync"), atomic_path(out) as tmp:
            tmp.write_text("a")
            raise OSError(errno.ENOSPC, "No space left on device", os.fspath(tmp))
    assert list(tmp_path.iterdir()) == []


def test_sigterm_swallowed_by_library_code_still_ends_the_block():
    with pytest.raises(Terminated, match="received SIGTERM"):
        with terminate_as_error():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)
            except Terminated:  # as a callback that ignores exceptions would
                pass
