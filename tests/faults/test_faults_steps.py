"""Steps on a full disk, with dying pool workers: they fail within seconds, with a message, leaving nothing.

The disk-full cases mount a small tmpfs over the output folder, which needs
root (and a kernel that lets this container mount); otherwise they are skipped
with the reason. The rest simulate the failure (``ENOSPC``, a worker killed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ace_neuro.io import disk
from ace_neuro.io.convert import convert_recording
from ace_neuro.io.disk import DiskSpaceError
from ace_neuro.io.movie import create_tiff
from ace_neuro.simulate import SimulationConfig, simulate_recording


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("raw") / "rec"
    return simulate_recording(folder, SimulationConfig(n_frames=200, height=96, width=96, n_neurons=4, seed=3))


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str):
    """Mount a tmpfs of ``size`` on ``folder``; skip the test when that is not possible."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs over the results folder needs root")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (running as root, but: {mounted.stderr.strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*"))


def test_convert_on_a_full_disk_fails_at_once_naming_folder(recording, tmp_path):
    # the movie needs 200 x 96 x 96 = 1.8 MB; the tmpfs holds 1 MB
    with small_tmpfs(tmp_path / "results", "1m") as out:
        start = time.monotonic()
        with pytest.raises(DiskSpaceError) as info:
            convert_recording(recording, out / "movie.tif", out / "metadata.json", out / "frames.csv")
        assert time.monotonic() - start < 60
        message = str(info.value)
        assert message.startswith(f"convert needs ~") and f"in {out}, " in message and " free; " in message
        assert _names(out) == []


def test_create_tiff_on_a_full_disk_raises_not_sigbus(tmp_path):
    # past the free-space check (another writer filled the disk since): the reservation fails, naming the file
    code = (
        "import numpy as np, sys\n"
        "from ace_neuro.io.movie import create_tiff\n"
        "m = create_tiff(sys.argv[1], (400, 64, 64), np.uint8, 20.0)\n"
        "m[:] = 1\n"
    )
    with small_tmpfs(tmp_path / "results", "1m") as out:
        result = subprocess.run([sys.executable, "-c", code, str(out / "movie.tif")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr  # an exception, not a signal (SIGBUS is -7)
    assert "DiskSpaceError: disk full writing ~1.6 MB to" in result.stderr and "movie.tif" in result.stderr


def test_create_tiff_enospc_simulated(tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(disk.os, "posix_fallocate", full, raising=False)
    with pytest.raises(DiskSpaceError, match=r"disk full writing ~.* to .*movie\.tif"):
        create_tiff(tmp_path / "movie.tif", (10, 8, 8), np.uint8)


def test_convert_free_space_check_simulated(recording, tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "free_bytes", lambda folder: 10 * 2**20 if "results" in str(folder) else 2**40)
    # 10 MB is enough for this recording: the check passes and the outputs are written
    out = tmp_path / "results"
    convert_recording(recording, out / "movie.tif", out / "metadata.json", out / "frames.csv")
    assert _names(out) == ["frames.csv", "metadata.json", "movie.tif"]
    monkeypatch.setattr(disk, "free_bytes", lambda folder: 2**20)
    other = tmp_path / "other"
    with pytest.raises(DiskSpaceError, match=r"convert needs ~5\.\d MB in .*other, 1\.0 MB free"):
        convert_recording(recording, other / "movie.tif", other / "metadata.json", other / "frames.csv")
    assert _names(other) == []
