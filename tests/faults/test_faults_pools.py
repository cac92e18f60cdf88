"""A worker process that dies (SIGBUS on a full disk, the OOM killer) fails the step within seconds, never hangs.

The dying tasks are in ``faults_tasks``: the pools pickle functions by
reference, so the spawned workers import that (light) module and run them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from ace_neuro.cnmfe import patches
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.pipeline import fit_cnmfe
from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap, create_tiff
from ace_neuro.motion import step as motion_step
from ace_neuro.pools import WorkerDiedError, map_in_order, process_pool, stop_pool
from ace_neuro.simulate import SimulationConfig, simulate_frames
from helpers import faults_tasks


def _children() -> set[int]:
    """Live child processes of this process (from /proc), except multiprocessing's resource tracker."""
    found = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:  # the thread ended after it was listed
            continue
        found.update(int(pid) for pid in text)
    alive = set()
    for pid in found:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            continue
        if state != "Z" and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            alive.add(pid)  # multiprocessing's resource tracker lives as long as this interpreter
    return alive


@pytest.fixture
def no_leftover_children():
    before = _children()
    yield
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (_children() - before), "worker processes left behind"


def test_map_in_order_raises_naming_the_signal(tmp_path, no_leftover_children):
    pool = process_pool(2)
    start = time.monotonic()
    try:
        with pytest.raises(WorkerDiedError) as info:
            list(map_in_order(pool, faults_tasks.die_on_third, range(20), what="motion", folder=tmp_path))
    finally:
        stop_pool(pool)
    assert time.monotonic() - start < 30
    message = str(info.value)
    assert message.startswith("motion: a worker process died: pid ")
    assert "killed by SIGBUS (a memory-mapped read or write failed, usually because the disk is full)" in message
    assert f"free in {tmp_path}" in message


def test_worker_dying_mid_result_fails_and_lets_the_interpreter_exit(tmp_path, no_leftover_children):
    # half a message in the result pipe: the pool's manager thread would wait for the rest for ever
    pool = process_pool(2)
    manager = pool._executor_manager_thread
    start = time.monotonic()
    try:
        with pytest.raises(WorkerDiedError, match="killed by SIGKILL"):
            list(map_in_order(pool, faults_tasks.die_writing_result, range(6), what="motion"))
    finally:
        stop_pool(pool)
    assert time.monotonic() - start < 30
    manager.join(timeout=15)
    assert not manager.is_alive(), "the pool's manager thread still waits: the interpreter would hang at exit"


def test_map_in_order_submits_only_a_few_tasks_ahead(no_leftover_children):
    # a long recording has hundreds of chunks: their results must not pile up in memory
    consumed = []

    def tasks():
        for i in range(50):
            consumed.append(i)
            yield i

    pool = process_pool(2)
    try:
        results = map_in_order(pool, abs, tasks(), what="x")
        assert next(results) == 0
        assert len(consumed) <= 5  # 4 ahead (twice the workers), then one more for each result taken
        assert list(results) == list(range(1, 50))
    finally:
        pool.shutdown()


def test_process_pool_results_in_order(no_leftover_children):
    pool = process_pool(2)
    try:
        assert list(map_in_order(pool, abs, [-3, 1, -2], what="x")) == [3, 1, 2]
    finally:
        pool.shutdown()


def _movie(path: Path, n_frames: int = 120) -> Path:
    config = SimulationConfig(n_frames=n_frames, height=48, width=48, n_neurons=3, seed=2)
    frames = np.clip(simulate_frames(config), 0, 255).astype(np.uint8)
    movie = create_tiff(path, frames.shape, np.uint8, 20.0)
    movie[:] = frames
    movie.flush()
    del movie
    return path


def test_motion_worker_death_fails_the_step_with_a_message(tmp_path, monkeypatch, no_leftover_children):
    movie = _movie(tmp_path / "movie.tif")
    monkeypatch.setattr(motion_step, "_chunk_task", faults_tasks.motion_chunk_dying_after_first)
    monkeypatch.setattr(motion_step, "_BLOCK_MB", 0.05)  # blocks of a few frames: several chunks
    out = tmp_path / "motion"
    start = time.monotonic()
    with pytest.raises(WorkerDiedError, match=r"motion: a worker process died: pid \d+ killed by SIGBUS") as info:
        # a small chunk budget: several chunks, so a second one exists
        motion_step.run_motion_step(movie, out, pw_rigid=False, max_shifts=[4, 4], threads=2, motion_chunk_mb=0.05)
    assert time.monotonic() - start < 60
    assert f"free in {out}" in str(info.value)
    assert not out.exists() or sorted(p.name for p in out.rglob("*")) == []


def test_cnmfe_patch_worker_death_fails_with_a_message(tmp_path, monkeypatch, no_leftover_children):
    h = w = 48
    t = 100
    config = SimulationConfig(n_frames=t, height=h, width=w, n_neurons=3, seed=4, motion_amplitude_px=0.0,
                              nonrigid_amplitude_px=0.0, ephys=False)
    view = create_caiman_memmap(tmp_path / caiman_memmap_name("corrected", h, w, t), h, w, t)
    view[:] = simulate_frames(config)
    del view
    monkeypatch.setattr(patches, "_fit_one", faults_tasks.killed_patch)
    start = time.monotonic()
    with pytest.raises(WorkerDiedError, match=r"cnmfe \(patches\): a worker process died: pid \d+ killed by SIGKILL "
                                              r"\(killed from outside, usually by the kernel's out-of-memory killer"):
        fit_cnmfe(next(tmp_path.glob("*.mmap")), CnmfeOptions.from_params(rf=14, stride=6, gSig=3, gSiz=13), threads=2,
                  frame_rate=20.0, scratch_dir=tmp_path / "scratch")
    assert time.monotonic() - start < 60
    assert list((tmp_path / "scratch").iterdir()) == []


def test_initializer_runs_in_every_worker(no_leftover_children):
    pool = process_pool(2, initializer=faults_tasks.remember, initargs=("template",))
    try:
        assert set(map_in_order(pool, faults_tasks.remembered, range(4), what="x")) == {"template"}
    finally:
        pool.shutdown()
