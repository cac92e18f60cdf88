"""Killed steps: SIGTERM (a time limit) cleans up like an error; after kill -9 a plain re-run completes cleanly.

Each step runs in a child process that signals itself half-way through
(after its first chunk), so the signal lands mid-write every time.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ace_neuro.io.convert import convert_recording
from ace_neuro.io.movie import open_movie
from ace_neuro.motion.step import run_motion_step
from ace_neuro.simulate import SimulationConfig, simulate_recording
from helpers.processes import session_processes

_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from ace_neuro.io.disk import terminate_as_error
    from ace_neuro.progress import Progress

    step, signame, src, out = sys.argv[1:5]
    real_update = Progress.update

    def update(self, n):
        real_update(self, n)
        if self.label == step and self.done < self.total:  # half-way: the outputs exist only as partial files
            os.kill(os.getpid(), getattr(signal, signame))

    if __name__ == "__main__":
        Progress.update = update
        with terminate_as_error():
            if step == "convert":
                from ace_neuro.io.convert import convert_recording
                convert_recording(src, f"{out}/movie.tif", f"{out}/metadata.json", f"{out}/frames.csv",
                                  convert_chunk_frames=50)
            else:
                from ace_neuro.motion import step as motion_step
                motion_step._BLOCK_MB = 0.05  # blocks of a few frames: several chunks in this small movie
                motion_step.run_motion_step(src, out, pw_rigid=False, max_shifts=[4, 4], threads=2, motion_chunk_mb=0.05)
    """
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    recording = simulate_recording(root / "raw", SimulationConfig(n_frames=200, height=48, width=48, n_neurons=3, seed=7))
    out = root / "convert"
    convert_recording(recording, out / "movie.tif", out / "metadata.json", out / "frames.csv")
    return recording, out / "movie.tif"


def _run_child(tmp_path: Path, step: str, signame: str, src: Path, out: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    child = subprocess.Popen([sys.executable, str(script), step, signame, str(src), str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    deadline = time.monotonic() + 15  # orphaned pool workers notice their parent is gone and exit
    while session_processes(child.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(child.pid) == [], "processes of the killed step left behind"
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("step", ["convert", "motion"])
def test_sigterm_removes_partial_outputs(converted, tmp_path, step):
    recording, movie = converted
    out = tmp_path / step
    result = _run_child(tmp_path, step, "SIGTERM", recording if step == "convert" else movie, out)
    assert result.returncode == 1, result.stderr
    assert "Terminated: received SIGTERM" in result.stderr and "re-run to resume" in result.stderr
    assert _tree(out) == []


def test_convert_after_kill_9_reruns_cleanly(converted, tmp_path):
    recording, movie = converted
    out = tmp_path / "convert"
    result = _run_child(tmp_path, "convert", "SIGKILL", recording, out)
    assert result.returncode == -signal.SIGKILL
    assert _tree(out) == [".movie.partial.tif"]  # kill -9 runs no cleanup: only a partial file, under its own name
    convert_recording(recording, out / "movie.tif", out / "metadata.json", out / "frames.csv")
    assert _tree(out) == ["frames.csv", "metadata.json", "movie.tif"]
    np.testing.assert_array_equal(open_movie(out / "movie.tif"), open_movie(movie))


def test_motion_after_kill_9_reruns_cleanly(converted, tmp_path):
    recording, movie = converted
    out = tmp_path / "motion"
    result = _run_child(tmp_path, "motion", "SIGKILL", movie, out)
    assert result.returncode == -signal.SIGKILL
    assert [name for name in _tree(out) if "/" not in name] == [".memmap.partial"]
    run_motion_step(movie, out, pw_rigid=False, max_shifts=[4, 4], save_memmap=True, threads=1, motion_chunk_mb=0.05)
    assert not [name for name in _tree(out) if ".partial" in name]
    assert "corrected_d1_48_d2_48_d3_1_order_C_frames_200.mmap" in [p.name for p in (out / "memmap").iterdir()]
