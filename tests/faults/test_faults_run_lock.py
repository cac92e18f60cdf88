"""Two runs at once in one checkout, and a whole run killed (Snakemake and its job) then started again.

The second run gets the project's message naming the first, never Snakemake's LockException and its advice to
--unlock; after kill -9 of the whole run during cnmfe, the same command resumes (Snakemake's stale lock is removed
because the results lock, whose holder died, is free).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ace_neuro.simulate import SimulationConfig, simulate_recording
from helpers.processes import session_processes
from helpers.workflow import snakemake_command, write_config

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.faults, pytest.mark.workflow]


def _command(workdir: Path) -> list[str]:
    return snakemake_command(workdir, "--cores", "2")


def _env() -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def _wait_for(condition, running: subprocess.Popen, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert running.poll() is None, f"the run ended before {what}:\n{running.communicate()[0][-3000:]}"
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("run_lock")
    recording = simulate_recording(root / "raw" / "rec1", SimulationConfig(n_frames=200, height=48, width=48,
                                                                          n_neurons=4, seed=11, ephys=False))
    work = root / "work"
    work.mkdir()
    (work / "experiments.csv").write_text(f"id,calcium imaging directory\nrec1,{recording}\n")
    write_config(work)
    return work


def test_second_run_in_one_checkout_then_kill_9_of_the_whole_run_then_plain_rerun(workdir):
    snakemake_locks = workdir / ".snakemake" / "locks"
    first = subprocess.Popen(_command(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=workdir, env=_env(), start_new_session=True)
    try:
        # the first run holds both locks (ours, then Snakemake's) and works
        _wait_for(lambda: snakemake_locks.is_dir() and any(snakemake_locks.glob("*.output.lock")), first, 300,
                  "Snakemake took its lock")
        os.killpg(first.pid, signal.SIGSTOP)  # keep it from finishing while the second starts
        try:
            began = time.monotonic()
            second = subprocess.run(_command(workdir), capture_output=True, text=True, cwd=workdir, env=_env(),
                                    timeout=300)
            seconds = time.monotonic() - began
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        text = second.stdout + second.stderr
        assert second.returncode != 0
        assert f"is in use by another run: pid {first.pid} on " in text and "Wait for it to finish or stop it" in text
        assert "LockException" not in text and "--unlock" not in text and "unlock" not in text.lower()
        assert seconds < 120 and "rule convert" not in text
        # kill -9 of the whole run (Snakemake and its job: a closed terminal, a node failure) during cnmfe
        cnmfe_log = workdir / "results" / "rec1" / "logs" / "cnmfe.log"
        _wait_for(cnmfe_log.exists, first, 600, "cnmfe started")
        time.sleep(1.0)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    deadline = time.monotonic() + 20
    while session_processes(first.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(first.pid) == []
    assert list(snakemake_locks.glob("*.lock")), "the killed run left no Snakemake lock: nothing was tested"
    assert not (workdir / "results" / "rec1" / "provenance.json").exists()
    # the same command again resumes: the stale lock is recognised and removed, with a line saying so
    again = subprocess.run(_command(workdir), capture_output=True, text=True, cwd=workdir, env=_env(), timeout=900)
    text = again.stdout + again.stderr
    assert again.returncode == 0, text[-4000:]
    assert f"removed Snakemake's stale lock of pid {first.pid} on " in text
    assert "(that run is no longer running: the results lock was free)" in text
    assert "LockException" not in text
    assert (workdir / "results" / "rec1" / "provenance.json").exists()
    status = pd.read_csv(workdir / "results" / "status.tsv", sep="\t", keep_default_na=False)
    assert status[["id", "status"]].values.tolist() == [["rec1", "done"]]
    assert not list(snakemake_locks.glob("*.lock")) and not (workdir / "results" / ".ace-neuro.lock").exists()
    assert not [p for p in (workdir / "results").rglob("*") if ".partial" in p.name or ".cnmfe_scratch" in p.name]


@pytest.mark.parametrize("argv, dry", [(["--cores", "2"], False), (["-n"], True), (["-np"], True),
                                       (["--dry-run"], True), (["--dryrun"], True), (["-p", "-c2"], False),
                                       (["--config", "results=-n"], False)])
def test_dry_run_requested(argv, dry):
    from ace_neuro.lock import dry_run_requested

    assert dry_run_requested(argv) is dry


def test_only_snakemake_locks_on_our_results_folder_are_removed(tmp_path, caplog):
    from ace_neuro.lock import remove_stale_snakemake_locks

    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("raw/rec1/0.avi\n")
    (locks / "0.output.lock").write_text("results/rec1/convert/movie.tif\nresults/rec1/motion/memmap\n")
    (locks / "1.input.lock").write_text("other/in.txt\n")
    (locks / "1.output.lock").write_text(f"{tmp_path / 'other_results' / 'x.txt'}\n")
    with caplog.at_level("WARNING"):
        removed = remove_stale_snakemake_locks(tmp_path, tmp_path / "results",
                                               {"pid": 123, "host": "h", "started_utc": "t"})
    assert removed == [locks / "0.output.lock", locks / "0.input.lock"]
    assert sorted(p.name for p in locks.iterdir()) == ["1.input.lock", "1.output.lock"]
    assert "removed Snakemake's stale lock of pid 123 on h since t" in caplog.text
    assert remove_stale_snakemake_locks(tmp_path / "nowhere", tmp_path / "results") == []
