"""Field reliability through Snakemake: a 10 s recording, two runs on one results folder, kill -9 then re-run,
a full disk, a truncated raw file.

Small simulated recordings; each test checks the message and what is left in the results folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import yaml

from ace_neuro.simulate import SimulationConfig, simulate_recording
from helpers.processes import session_processes
from helpers.workflow import run_snakemake, start_snakemake, write_config

pytestmark = pytest.mark.workflow  # and faults, from its folder

# what a step leaves only while it runs (or after kill -9, until the next run starts)
SCRATCH_MARKS = (".partial", ".cnmfe_scratch", ".cnmfe_seeding", ".scratch")


def write_workdir(workdir: Path, recording: Path, results: Path | str = "results") -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "experiments.csv").write_text(f"id,calcium imaging directory\nrec1,{recording}\n")
    write_config(workdir, results)  # the defaults, unchanged
    (workdir / "tmp").mkdir(exist_ok=True)
    return workdir


def environment(workdir: Path) -> dict:
    # scratch that follows the system's temporary folder lands where the test can look for leftovers
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "TMPDIR": str(workdir / "tmp")}


def run(workdir: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, "--cores", "2", *args, check=check, env=environment(workdir), timeout=timeout)


def start(workdir: Path, *args: str) -> subprocess.Popen:
    return start_snakemake(workdir, "--cores", "2", *args, env=environment(workdir))


def digests(folder: Path, names: list[str] | None = None) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (or of the given relative names)."""
    files = [folder / n for n in names] if names is not None else [p for p in folder.rglob("*") if p.is_file()]
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


def leftovers(*folders: Path) -> list[str]:
    return sorted(str(p) for folder in folders for p in folder.rglob("*") if any(m in p.name for m in SCRATCH_MARKS))


def wait_until_gone(session: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while session_processes(session) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(session) == [], "processes of the run left behind"


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A 10 s recording (200 frames at 20 Hz) run with the default settings, and a second run started meanwhile."""
    root = tmp_path_factory.mktemp("short")
    recording = simulate_recording(root / "raw" / "rec1", SimulationConfig(n_frames=200, height=64, width=64,
                                                                          n_neurons=6, seed=5, ephys=False))
    results = root / "results"
    first = write_workdir(root / "first", recording, results)
    second = write_workdir(root / "second", recording, results)  # another checkout, same results folder
    running = start(first)
    lock = results / ".ace-neuro.lock"
    deadline = time.monotonic() + 300
    while not lock.exists() and running.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # pause the first run while the second starts: on a busy machine it could otherwise finish before the
    # second has built its DAG, which then has nothing to do and never reaches the lock
    assert lock.exists(), "the first run never took the results lock"
    os.killpg(running.pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        blocked = run(second, check=False, timeout=300)
        blocked_seconds = time.monotonic() - began
    finally:
        os.killpg(running.pid, signal.SIGCONT)
    output, _ = running.communicate(timeout=900)
    return {"root": root, "recording": recording, "results": results, "workdir": first, "first": running,
            "first_output": output, "blocked": blocked, "blocked_seconds": blocked_seconds}


def test_ten_second_recording_completes_with_default_settings(short_run):
    assert short_run["first"].returncode == 0, short_run["first_output"][-6000:]
    results = short_run["results"] / "rec1"
    assert json.loads((results / "provenance.json").read_text())["id"] == "rec1"
    with h5py.File(results / "spectral" / "spectrogram.h5") as h5:
        assert list(h5.attrs["window_params_used"]) == [5.0, 0.5]  # half the recording, stepped by a tenth
        assert json.loads(h5.attrs["parameters"])["window_params"] is None
    log = (results / "logs" / "spectral.log").read_text()
    assert "less than the default 30 s spectrogram window: using a 5 s window stepped by 0.5 s" in log
    assert leftovers(short_run["results"], short_run["workdir"] / "tmp") == []
    assert not (short_run["results"] / ".ace-neuro.lock").exists()  # released at the end


def test_second_run_on_the_same_results_folder_stops_naming_the_first(short_run):
    blocked = short_run["blocked"]
    text = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0
    assert f"results folder {short_run['results']} is in use by another run: pid {short_run['first'].pid} on " in text
    assert short_run["blocked_seconds"] < 120  # DAG built, then stopped before any job
    assert "Finished jobid" not in text and "rule convert" not in text


def _job_process(session: int, log_file: Path) -> int | None:
    """The job (a Snakemake script process) that has ``log_file`` open."""
    for pid in session_processes(session):
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except (FileNotFoundError, PermissionError):
            continue
        if str(log_file) in links:
            return pid
    return None


def _kill_job_mid_write(workdir: Path, results: Path, rule: str, *args: str, signum: int = signal.SIGKILL) -> str:
    """Run Snakemake and kill the job of ``rule`` once it writes partial outputs; return Snakemake's output."""
    folder = results / "rec1" / rule
    log_file = results / "rec1" / "logs" / f"{rule}.log"
    running = start(workdir, *args)
    killed = False
    try:
        while running.poll() is None and not killed:
            partial = folder.exists() and any(".partial" in p.name for p in folder.iterdir())
            pid = _job_process(running.pid, log_file) if partial else None
            if pid is not None:
                os.kill(pid, signum)
                killed = True
            time.sleep(0.01)
        output, _ = running.communicate(timeout=600)
    finally:
        if running.poll() is None:
            os.killpg(running.pid, signal.SIGKILL)
            running.wait()
    assert killed, f"the {rule} job finished before it could be killed:\n{output[-3000:]}"
    assert running.returncode != 0
    wait_until_gone(running.pid)  # the killed job's pool workers exit with it
    return output


UPSTREAM = {"convert": [], "motion": ["convert", "projections", "preprocess"], "cnmfe": ["motion"],
            "evaluate": ["cnmfe"]}


def test_kill_9_in_each_long_rule_then_a_plain_rerun_completes(short_run):
    """Kill convert, then motion, cnmfe and evaluate, each in the next plain re-run; SIGTERM evaluate; re-run.

    The partial files a kill -9 leaves are removed by the next run at start (it holds the results lock).
    """
    if short_run["first"].returncode != 0:
        pytest.skip("the first run failed (see test_ten_second_recording_completes_with_default_settings)")
    workdir, results, recording = short_run["workdir"], short_run["results"], short_run["recording"]
    raw = digests(recording)
    before_kill = digests(results / "rec1" / "convert")
    upstream: dict[str, str] = {}
    # a convert parameter that changes no byte of its outputs: convert and everything after it re-run
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["convert"]["convert_chunk_frames"] = 64
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    for rule in UPSTREAM:
        _kill_job_mid_write(workdir, results, rule)
        # what the killed job read is untouched
        for done in UPSTREAM[rule]:
            upstream.update({f"{done}/{k}": v for k, v in digests(results / "rec1" / done).items()})
        now = {k: v for k, v in digests(results / "rec1").items() if k in upstream}
        assert now == upstream, f"kill -9 of {rule} changed upstream files"
        assert digests(recording) == raw
        # no partial file under a final name: every final output of the rule is absent or complete
        assert not (results / "rec1" / rule / "movie.tif").exists() or rule != "convert"
    # SIGTERM (a cluster's time limit): the job removes its partial outputs itself
    _kill_job_mid_write(workdir, results, "evaluate", signum=signal.SIGTERM)
    assert leftovers(results) == []
    assert "Terminated: received SIGTERM" in (results / "rec1" / "logs" / "evaluate.log").read_text()
    run(workdir)
    assert digests(results / "rec1" / "convert") == before_kill  # re-made from the same raw files
    assert {k: v for k, v in digests(results / "rec1").items() if k in upstream} == upstream
    assert leftovers(results, workdir / "tmp") == []
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(run(workdir, "-n"))


def test_truncated_raw_avi_plans_convert_and_verify_names_it(short_run, tmp_path):
    if short_run["first"].returncode != 0:
        pytest.skip("the first run failed")
    import shutil

    recording = tmp_path / "rec1"
    shutil.copytree(short_run["recording"], recording)
    results = tmp_path / "results"
    shutil.copytree(short_run["results"], results, symlinks=True)
    # provenance.json names the original recording folder: point it at the copy
    record_path = results / "rec1" / "provenance.json"
    record = json.loads(record_path.read_text())
    record["recording_directory"] = str(recording)
    record_path.write_text(json.dumps(record))
    avi = recording / "Miniscope" / "0.avi"
    with open(avi, "r+b") as f:
        f.truncate(avi.stat().st_size // 2)
    verify = subprocess.run([sys.executable, "-m", "ace_neuro.cli", "verify", str(results / "rec1")],
                            capture_output=True, text=True)
    assert verify.returncode == 1 and "changed  Miniscope/0.avi" in verify.stdout
    workdir = write_workdir(tmp_path / "work", recording, results)
    plan = run(workdir, "-n")
    assert "convert" in plan.stdout + plan.stderr


def test_full_disk_fails_within_a_minute_with_the_free_space_message(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs over the results folder needs root")
    recording = simulate_recording(tmp_path / "raw" / "rec1", SimulationConfig(n_frames=200, height=64, width=64,
                                                                              n_neurons=4, seed=2, ephys=False))
    results = tmp_path / "results"
    results.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(results)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (running as root, but: {mounted.stderr.strip()})")
    try:
        workdir = write_workdir(tmp_path / "work", recording, results)
        began = time.monotonic()
        running = start(workdir)
        output, _ = running.communicate(timeout=300)
        assert time.monotonic() - began < 60 + 30  # + Snakemake's start-up on a loaded machine
        assert running.returncode != 0
        # the start-up check knows the first steps' needs (each step checks its own again before it writes)
        assert "convert, preprocess, motion of 1 recording(s) need ~" in output and f"in {results}, " in output
        assert " free; free space, point 'results' elsewhere, or run fewer recordings at once" in output
        assert "rule convert" not in output
        wait_until_gone(running.pid)
        assert not (results / "rec1" / "convert" / "movie.tif").exists()
        assert leftovers(results) == []
    finally:
        subprocess.run(["umount", "-l", str(results)], check=False)
